//! Generated items and bindings never clash with, or shadow, the user's names.
#![deny(warnings)]
use audit_runtime::audited_tool;

static __AUDIT_POINT: u8 = 7;

#[audited_tool(capture(audit_guard))]
fn tool(audit_guard: u8) -> Result<u8, String> {
    static __AUDIT_POINT: u8 = 1;
    let audit_ret = audit_guard + __AUDIT_POINT;
    let audit_value = audit_ret;
    fn audit_inner() -> u8 {
        2
    }
    Ok(audit_value + audit_inner())
}

#[audited_tool]
async fn async_tool(audit_guard: u8) -> u8 {
    let audit_ret = audit_guard;
    audit_ret + __AUDIT_POINT
}

fn main() {
    assert_eq!(tool(1), Ok(4));
    let _ = async_tool(1);
}
