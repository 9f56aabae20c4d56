use audit_runtime::audited_tool;

#[audited_tool(capture(a), skip(b), capture_all)]
fn lookup(a: u32, b: u32) -> u32 {
    a + b
}

fn main() {}
