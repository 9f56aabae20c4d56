use audit_runtime::audited_tool;

#[audited_tool(nmae = "lookup")]
fn lookup(id: u32) -> u32 {
    id
}

fn main() {}
