use audit_runtime::audited_tool;

struct Applicant {
    ssn: String,
}

#[audited_tool(capture(applicant))]
fn lookup(applicant: &Applicant) -> usize {
    applicant.ssn.len()
}

struct Report;

#[audited_tool(output = capture)]
fn report() -> Report {
    Report
}

fn main() {}
