use std::future::Future;

use audit_runtime::audited_tool;

async fn fetch() -> u32 {
    1
}

#[audited_tool]
fn lookup() -> impl Future<Output = u32> {
    fetch()
}

fn main() {}
