//! Each function has one lint in its body that clippy must report at the user's line, as it
//! would without the attribute.

#[audit_runtime::audited_tool]
pub fn sync_tool(x: u8) -> u8 {
    let y = x + 1;
    return y; // LINT: needless_return
}

#[audit_runtime::audited_tool]
pub async fn async_tool(x: u8) -> u8 {
    let y = x + 1;
    return y; // LINT: needless_return
}

#[audit_runtime::audited_tool]
pub fn result_tool(x: u8) -> Result<u8, String> {
    let v = vec![x]; // LINT: useless_vec
    Ok(v.len() as u8 + x)
}

/// `#[track_caller]` bodies run inline (their `return`s become `break`s, so `needless_return`
/// cannot fire there); other lints still do.
#[track_caller]
#[audit_runtime::audited_tool]
pub fn inline_tool(x: u8) -> Result<u8, String> {
    let v = vec![x]; // LINT: useless_vec
    Ok(v.len() as u8 + x)
}
