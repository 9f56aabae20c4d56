use audit_runtime::audited_tool;

fn parse(s: &str) -> Result<u32, std::num::ParseIntError> {
    s.parse()
}

// A `?` the audit macro cannot see would leave the function without recording its outcome.
#[track_caller]
#[audited_tool]
fn report(s: &str) -> Result<(), std::num::ParseIntError> {
    println!("value: {}", parse(s)?);
    Ok(())
}

// `?` on a type the inline body cannot forward.
#[track_caller]
#[audited_tool]
fn poll_it(p: std::task::Poll<Result<u8, ()>>) -> Result<u8, ()> {
    let v = p?;
    v
}

fn main() {}
