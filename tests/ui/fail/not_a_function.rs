use audit_runtime::audited_tool;

#[audited_tool]
struct Lookup {
    id: u32,
}

fn main() {}
