//! A framework that re-exports the runtime under its own name.
mod framework {
    pub use ::audit_runtime as audit;
}

use framework::audit;

#[audit::audited_tool(crate = crate::framework::audit, capture(x))]
fn lookup(x: u32) -> u32 {
    x
}

fn main() {
    let _ = lookup(1);
}
