// Expansion snapshot, written by audit-macros/src/snapshots.rs; do not edit.
// Regenerate: UPDATE_SNAPSHOTS=1 cargo test -p audit-macros snapshots
// Spans are not shown: `audit_*` and `__AUDIT_POINT` are mixed-site hygienic locals,
// invisible to (and never colliding with) the function's own names.
//
// Case: a sync decision with literal versions and one captured argument
//
// Input:
//     #[audited_decision(
//         name = "loan.approve",
//         model = "credit-scorer",
//         model_version = "2.3.1",
//         policy = "lending",
//         policy_version = "2026-10",
//         capture(applicant)
//     )]
//     pub fn approve(applicant: &Applicant, threshold: u32) -> Decision {
//         if applicant.score < threshold {
//             return Decision::Deny;
//         }
//         Decision::Approve
//     }
//
// Expansion:

pub fn approve(applicant: &Applicant, threshold: u32) -> Decision {
    #[allow(unused_mut)]
    let mut audit_guard = ::audit_runtime::__private::CallGuard::start(
        {
            static __AUDIT_POINT: ::audit_runtime::__private::AuditPoint = ::audit_runtime::__private::AuditPoint {
                name: "loan.approve",
                kind: ::audit_runtime::__private::PointKind::Decision,
                function: "approve",
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
                        name: "applicant",
                        mode: ::audit_runtime::__private::ArgMode::Capture,
                    },
                    ::audit_runtime::__private::ArgSpec {
                        name: "threshold",
                        mode: ::audit_runtime::__private::ArgMode::Skip,
                    },
                ],
                output: ::audit_runtime::__private::OutputMode::Status,
                returns_result: false,
                redact: &[],
                versions: &[
                    ::audit_runtime::__private::VersionSpec {
                        role: ::audit_runtime::__private::ArtifactRole::Model,
                        name: "credit-scorer",
                        version: ::audit_runtime::__private::VersionSource::Literal(
                            "2.3.1",
                        ),
                    },
                    ::audit_runtime::__private::VersionSpec {
                        role: ::audit_runtime::__private::ArtifactRole::Policy,
                        name: "lending",
                        version: ::audit_runtime::__private::VersionSource::Literal(
                            "2026-10",
                        ),
                    },
                ],
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
            "audit.decision", audit.point = "loan.approve", audit.record_id =
            ::audit_runtime::__private::tracing::field::Empty,
        ),
    );
    if audit_guard.is_active() {
        audit_guard.capture(0u16, &*applicant);
    }
    audit_guard.started();
    let audit_ret = audit_guard
        .run(move || {
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
                let audit_fake_return: Decision = loop {};
                return audit_fake_return;
            }
            if applicant.score < threshold {
                return Decision::Deny;
            }
            Decision::Approve
        });
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
