use audit_runtime::audited_tool;

struct Session;

#[audited_tool(capture_all)]
fn lookup(id: u32, session: &Session) -> u32 {
    let _ = session;
    id
}

fn main() {}
