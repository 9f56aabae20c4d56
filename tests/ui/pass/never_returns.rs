//! `-> !` on stable: the body diverges, the panic is recorded and continues.
use audit_runtime::audited_tool;

#[audited_tool]
fn halt(code: u8) -> ! {
    panic!("halted with {code}")
}

fn main() {
    let caught = std::panic::catch_unwind(|| halt(3));
    assert!(caught.is_err());
}
