// Expansion snapshot, written by audit-macros/src/snapshots.rs; do not edit.
// Regenerate: UPDATE_SNAPSHOTS=1 cargo test -p audit-macros snapshots
// Spans are not shown: `audit_*` and `__AUDIT_POINT` are mixed-site hygienic locals,
// invisible to (and never colliding with) the function's own names.
//
// Case: an async tool returning `Result`, its output captured
//
// Input:
//     #[audited_tool(
//         name = "bureau.lookup",
//         side_effect = read,
//         output = capture,
//         capture(applicant_id)
//     )]
//     async fn credit_report(applicant_id: &str) -> Result<Report, ToolError> {
//         let raw = fetch(applicant_id).await?;
//         Ok(Report::parse(&raw)?)
//     }
//
// Expansion:

async fn credit_report(applicant_id: &str) -> Result<Report, ToolError> {
    #[allow(unused_mut)]
    let mut audit_guard = ::audit_runtime::__private::CallGuard::start(
        {
            static __AUDIT_POINT: ::audit_runtime::__private::AuditPoint = ::audit_runtime::__private::AuditPoint {
                name: "bureau.lookup",
                kind: ::audit_runtime::__private::PointKind::Tool,
                function: "credit_report",
                module_path: ::audit_runtime::__private::core::module_path!(),
                file: ::audit_runtime::__private::core::file!(),
                line: ::audit_runtime::__private::core::line!(),
                crate_name: match ::audit_runtime::__private::core::option_env!(
                    "CARGO_PKG_NAME"
                ) {
                    ::audit_runtime::__private::core::option::Option::Some(n) => n,
                    ::audit_runtime::__private::core::option::Option::None => "unknown",
                },
                crate_version: match ::audit_runtime::__private::core::option_env!(
                    "CARGO_PKG_VERSION"
                ) {
                    ::audit_runtime::__private::core::option::Option::Some(v) => v,
                    ::audit_runtime::__private::core::option::Option::None => "0.0.0",
                },
                args: &[
                    ::audit_runtime::__private::ArgSpec {
                        name: "applicant_id",
                        mode: ::audit_runtime::__private::ArgMode::Capture,
                    },
                ],
                output: ::audit_runtime::__private::OutputMode::Capture,
                returns_result: true,
                redact: &[],
                versions: &[],
                unversioned: ::audit_runtime::__private::core::option::Option::None,
                side_effect: ::audit_runtime::__private::core::option::Option::Some(
                    ::audit_runtime::__private::SideEffect::Read,
                ),
                started: false,
                is_async: true,
            };
            ::audit_runtime::__private::inventory::submit! {
                ::audit_runtime::__private::RegisteredPoint(& __AUDIT_POINT)
            }
            &__AUDIT_POINT
        },
        ::audit_runtime::__private::tracing::span!(
            target : "audit", ::audit_runtime::__private::tracing::Level::INFO,
            "audit.tool", audit.point = "bureau.lookup", audit.record_id =
            ::audit_runtime::__private::tracing::field::Empty,
        ),
    );
    if audit_guard.is_active() {
        audit_guard.capture(0u16, &*applicant_id);
    }
    audit_guard.started();
    #[allow(unused_mut)]
    let (audit_ret, mut audit_guard) = audit_guard
        .instrument(async move {
            #[allow(
                unknown_lints,
                unreachable_code,
                clippy::diverging_sub_expression,
                clippy::empty_loop,
                clippy::let_unit_value,
                clippy::let_with_type_underscore,
                clippy::needless_return,
                clippy::unreachable,
                clippy::redundant_closure_call
            )]
            if false {
                let audit_fake_return: Result<Report, ToolError> = loop {};
                return audit_fake_return;
            }
            let raw = fetch(applicant_id).await?;
            Ok(Report::parse(&raw)?)
        })
        .await;
    {
        #[allow(unused_imports)]
        use ::audit_runtime::__private::{
            DescribeDebug as _, DescribeDisplay as _, DescribeDyn as _,
            DescribeDynSendSync as _, DescribeError as _, DescribeOther as _,
            ViewPlain as _, ViewResult as _,
        };
        match (&&::audit_runtime::__private::Returned(&audit_ret)).audit_view() {
            ::audit_runtime::__private::View::Ok(audit_value) => {
                audit_guard.ok_value(audit_value, false);
            }
            ::audit_runtime::__private::View::Err(audit_err) => {
                audit_guard
                    .err(
                        (&&&&&&::audit_runtime::__private::Describe(audit_err))
                            .audit_describe(),
                        ::audit_runtime::__private::type_name_of(audit_err),
                    );
            }
        }
    }
    audit_guard.finish();
    audit_ret
}
