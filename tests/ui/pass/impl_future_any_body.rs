//! `fn -> impl Future` whose body does not end in an `async` block: the future it returns is
//! wrapped, so the record covers the asynchronous work (this used to be a compile error).
use std::future::Future;

use audit_runtime::audited_tool;

async fn fetch() -> u32 {
    1
}

#[audited_tool]
fn lookup() -> impl Future<Output = u32> + Send {
    fetch()
}

fn assert_send<T: Send>(_: T) {}

fn main() {
    assert_send(lookup());
}
