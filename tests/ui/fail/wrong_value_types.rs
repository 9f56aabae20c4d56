use audit_runtime::{audited_decision, audited_tool};

#[audited_tool(name = 5, output = everything, result = "yes", side_effect = sometimes)]
fn lookup(id: u32) -> u32 {
    id
}

#[audited_decision(model = credit_scorer, model_version = "1", capture = id)]
fn decide(id: u32) -> bool {
    id > 3
}

fn main() {}
