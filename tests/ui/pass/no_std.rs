//! A `#![no_std]` crate with `alloc`: generated code names no `::std` path (std is linked for the
//! binary but cannot be named here).
#![no_std]
extern crate alloc;
extern crate std as _;

use alloc::boxed::Box;
use core::future::Future;
use core::pin::Pin;

use audit_runtime::audited_tool;

#[audited_tool]
fn sync_tool(x: u8) -> Result<u8, &'static str> {
    if x > 0 { Ok(x) } else { Err("zero") }
}

#[audited_tool]
fn boxed(x: u8) -> Pin<Box<dyn Future<Output = u8> + Send>> {
    Box::pin(async move { x })
}

#[audited_tool]
fn tail(x: u8) -> impl Future<Output = u8> {
    async move { x }
}

#[audited_tool]
async fn async_tool(x: u8) -> u8 {
    x
}

fn main() {
    let _ = sync_tool(1);
    let _ = (boxed(1), tail(1), async_tool(1));
}
