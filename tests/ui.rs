//! trybuild UI tests: every macro error has a compile-fail case with its expected message, and
//! every supported shape a pass case. The `.stderr` files are pinned to the CI toolchain
//! (rustc 1.95); regenerate with `TRYBUILD=overwrite cargo test -p audit-tests --test ui`.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("ui/pass/*.rs");
    t.compile_fail("ui/fail/*.rs");
}
