use audit_runtime::audited_tool;
use serde::Serialize;

#[derive(Serialize)]
struct Applicant {
    email: String,
}

#[audited_tool(capture(applicant), hash_only(token), redact(applicant.email = shred))]
fn a(applicant: &Applicant, token: &str) -> usize {
    applicant.email.len() + token.len()
}

#[audited_tool(capture(applicant), hash_only(token), redact(token = erase, other.x = erase, output.card = mask(4), note = erase))]
fn b(applicant: &Applicant, token: &str, note: &str) -> usize {
    applicant.email.len() + token.len() + note.len()
}

fn main() {}
