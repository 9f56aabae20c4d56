#![no_implicit_prelude]

mod agent {
    #[::audit_runtime::audited_decision(
        name = "hygiene.decide",
        model = "m",
        model_version = "1",
        capture(amount),
        output = capture,
        rationale = |ok: &bool| if *ok { "ok" } else { "no" }
    )]
    pub fn decide(amount: u64) -> bool {
        amount < 10
    }

    #[::audit_runtime::audited_tool(capture(q), side_effect = read)]
    pub async fn lookup(q: &str) -> ::core::result::Result<u64, ::std::string::String> {
        if q.is_empty() {
            return ::core::result::Result::Err(::std::borrow::ToOwned::to_owned("empty"));
        }
        ::core::result::Result::Ok(7)
    }
}

fn main() {
    let _ = agent::decide(3);
    let _ = agent::lookup("x");
}
