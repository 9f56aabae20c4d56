use audit_runtime::audited_tool;

#[audited_tool]
const fn double(x: u32) -> u32 {
    x * 2
}

fn main() {}
