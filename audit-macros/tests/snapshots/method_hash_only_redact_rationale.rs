// Expansion snapshot, written by audit-macros/src/snapshots.rs; do not edit.
// Regenerate: UPDATE_SNAPSHOTS=1 cargo test -p audit-macros snapshots
// Spans are not shown: `audit_*` and `__AUDIT_POINT` are mixed-site hygienic locals,
// invisible to (and never colliding with) the function's own names.
//
// Case: a `&self` method (as the macro sees it inside its `impl`) with `hash_only`, a redaction rule and a rationale closure
//
// Input:
//     #[audited_decision(
//         name = "claims.triage",
//         model = "triage-llm",
//         model_version = MODEL_VERSION,
//         prompt = "triage",
//         prompt_version = self.prompt_version(),
//         capture(claim),
//         hash_only(customer),
//         redact(claim.contact.email = mask(4), claim.notes = erase),
//         rationale = |r|r.reason.clone()
//     )]
//     pub fn triage(&self, claim: &Claim, customer: CustomerId) -> Triage {
//         self.rules.apply(claim)
//     }
//
// Expansion:

pub fn triage(&self, claim: &Claim, customer: CustomerId) -> Triage {
    #[allow(unused_mut)]
    let mut audit_guard = ::audit_runtime::__private::CallGuard::start(
        {
            static __AUDIT_POINT: ::audit_runtime::__private::AuditPoint = ::audit_runtime::__private::AuditPoint {
                name: "claims.triage",
                kind: ::audit_runtime::__private::PointKind::Decision,
                function: "triage",
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
                        name: "self",
                        mode: ::audit_runtime::__private::ArgMode::Skip,
                    },
                    ::audit_runtime::__private::ArgSpec {
                        name: "claim",
                        mode: ::audit_runtime::__private::ArgMode::Capture,
                    },
                    ::audit_runtime::__private::ArgSpec {
                        name: "customer",
                        mode: ::audit_runtime::__private::ArgMode::HashOnly,
                    },
                ],
                output: ::audit_runtime::__private::OutputMode::Status,
                returns_result: false,
                redact: &[
                    ::audit_runtime::__private::RedactSpec {
                        path: "claim.contact.email",
                        action: ::audit_runtime::__private::RedactAction::Mask {
                            keep: 4u8,
                        },
                    },
                    ::audit_runtime::__private::RedactSpec {
                        path: "claim.notes",
                        action: ::audit_runtime::__private::RedactAction::Erase,
                    },
                ],
                versions: &[
                    ::audit_runtime::__private::VersionSpec {
                        role: ::audit_runtime::__private::ArtifactRole::Model,
                        name: "triage-llm",
                        version: ::audit_runtime::__private::VersionSource::Expr(
                            "MODEL_VERSION",
                        ),
                    },
                    ::audit_runtime::__private::VersionSpec {
                        role: ::audit_runtime::__private::ArtifactRole::Prompt,
                        name: "triage",
                        version: ::audit_runtime::__private::VersionSource::Expr(
                            "self . prompt_version ()",
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
            "audit.decision", audit.point = "claims.triage", audit.record_id =
            ::audit_runtime::__private::tracing::field::Empty,
        ),
    );
    if audit_guard.is_active() {
        audit_guard.capture(1u16, &*claim);
        audit_guard.hash_only(2u16, &customer);
        audit_guard.version(0u16, &(MODEL_VERSION));
        audit_guard.version(1u16, &(self.prompt_version()));
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
                let audit_fake_return: Triage = loop {};
                return audit_fake_return;
            }
            self.rules.apply(claim)
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
                    audit_guard.rationale(audit_ret, |r| r.reason.clone());
                },
            )
    }
}
