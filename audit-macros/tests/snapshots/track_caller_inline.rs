// Expansion snapshot, written by audit-macros/src/snapshots.rs; do not edit.
// Regenerate: UPDATE_SNAPSHOTS=1 cargo test -p audit-macros snapshots
// Spans are not shown: `audit_*` and `__AUDIT_POINT` are mixed-site hygienic locals,
// invisible to (and never colliding with) the function's own names.
//
// Case: `#[track_caller]`: the body runs inline in a labelled block; `return` and `?` leave the block, not the function, so the outcome is still recorded
//
// Input:
//     #[audited_tool(name = "config.read")]
//     #[track_caller]
//     fn read(path: &str) -> Result<u32, ConfigError> {
//         if path.is_empty() {
//             return Err(ConfigError::Empty);
//         }
//         let text = load(path)?;
//         Ok(text.len() as u32)
//     }
//
// Expansion:

#[track_caller]
fn read(path: &str) -> Result<u32, ConfigError> {
    #[allow(unused_mut)]
    let mut audit_guard = ::audit_runtime::__private::CallGuard::start(
        {
            static __AUDIT_POINT: ::audit_runtime::__private::AuditPoint = ::audit_runtime::__private::AuditPoint {
                name: "config.read",
                kind: ::audit_runtime::__private::PointKind::Tool,
                function: "read",
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
                        name: "path",
                        mode: ::audit_runtime::__private::ArgMode::Skip,
                    },
                ],
                output: ::audit_runtime::__private::OutputMode::Status,
                returns_result: true,
                redact: &[],
                versions: &[],
                unversioned: ::audit_runtime::__private::core::option::Option::None,
                side_effect: ::audit_runtime::__private::core::option::Option::None,
                started: false,
                is_async: false,
            };
            ::audit_runtime::__private::inventory::submit! {
                ::audit_runtime::__private::RegisteredPoint(& __AUDIT_POINT)
            }
            &__AUDIT_POINT
        },
        ::audit_runtime::__private::tracing::span!(
            target : "audit", ::audit_runtime::__private::tracing::Level::INFO,
            "audit.tool", audit.point = "config.read", audit.record_id =
            ::audit_runtime::__private::tracing::field::Empty,
        ),
    );
    if audit_guard.is_active() {}
    audit_guard.started();
    let audit_ret: Result<u32, ConfigError> = {
        let audit_entered = audit_guard.enter_inline();
        let audit_ret: Result<u32, ConfigError> = 'audit_body: {
            if path.is_empty() {
                break 'audit_body Err(ConfigError::Empty);
            }
            let text = match ::audit_runtime::__private::AuditTry::audit_branch(
                load(path),
            ) {
                ::audit_runtime::__private::core::ops::ControlFlow::Continue(audit_v) => {
                    audit_v
                }
                ::audit_runtime::__private::core::ops::ControlFlow::Break(audit_r) => {
                    break 'audit_body ::audit_runtime::__private::AuditFromResidual::audit_from_residual(
                        audit_r,
                    );
                }
            };
            Ok(text.len() as u32)
        };
        audit_entered.leave();
        audit_ret
    };
    {
        #[allow(unused_imports)]
        use ::audit_runtime::__private::{
            FinishBoxedLocal as _, FinishBoxedSend as _, FinishNow as _,
            FinishUnobserved as _,
        };
        (&&&&::audit_runtime::__private::Finish::new(audit_ret))
            .audit_finish(
                &mut audit_guard,
                |audit_guard, audit_ret| {
                    {
                        #[allow(unused_imports)]
                        use ::audit_runtime::__private::{
                            DescribeDebug as _, DescribeDisplay as _, DescribeDyn as _,
                            DescribeDynSendSync as _, DescribeError as _,
                            DescribeOther as _, ViewPlain as _, ViewResult as _,
                        };
                        match (&&::audit_runtime::__private::Returned(audit_ret))
                            .audit_view()
                        {
                            ::audit_runtime::__private::View::Ok(audit_value) => {
                                audit_guard.ok();
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
                },
            )
    }
}
