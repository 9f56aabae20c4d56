use audit_runtime::audited_tool;

#[audited_tool(capture(applicant, amount))]
fn lookup(applicant_id: &str, amount: u64) -> u64 {
    amount + applicant_id.len() as u64
}

fn main() {}
