// Expansion snapshot, written by audit-macros/src/snapshots.rs; do not edit.
// Regenerate: UPDATE_SNAPSHOTS=1 cargo test -p audit-macros snapshots
// Spans are not shown: `audit_*` and `__AUDIT_POINT` are mixed-site hygienic locals,
// invisible to (and never colliding with) the function's own names.
//
// Case: an `#[async_trait]`-style method: `Box::pin(async move { .. })` in a `Pin<Box<dyn Future>>` return
//
// Input:
//     #[audited_policy_check(policy = "kyc", policy_version = "7", capture(customer))]
//     fn check<'a>(
//         &'a self,
//         customer: &'a Customer,
//     ) -> Pin<Box<dyn Future<Output = Result<Verdict, PolicyError>> + Send + 'a>> {
//         Box::pin(async move {
//             let list = self.sanctions.load().await?;
//             Ok(list.verdict(customer))
//         })
//     }
//
// Expansion:

fn check<'a>(
    &'a self,
    customer: &'a Customer,
) -> Pin<Box<dyn Future<Output = Result<Verdict, PolicyError>> + Send + 'a>> {
    #[allow(unused_mut)]
    let mut audit_guard = ::audit_runtime::__private::CallGuard::start(
        {
            static __AUDIT_POINT: ::audit_runtime::__private::AuditPoint = ::audit_runtime::__private::AuditPoint {
                name: "check",
                kind: ::audit_runtime::__private::PointKind::PolicyCheck,
                function: "check",
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
                        name: "customer",
                        mode: ::audit_runtime::__private::ArgMode::Capture,
                    },
                ],
                output: ::audit_runtime::__private::OutputMode::Status,
                returns_result: true,
                redact: &[],
                versions: &[
                    ::audit_runtime::__private::VersionSpec {
                        role: ::audit_runtime::__private::ArtifactRole::Policy,
                        name: "kyc",
                        version: ::audit_runtime::__private::VersionSource::Literal("7"),
                    },
                ],
                unversioned: ::audit_runtime::__private::core::option::Option::None,
                side_effect: ::audit_runtime::__private::core::option::Option::None,
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
            "audit.policy_check", audit.point = "check", audit.record_id =
            ::audit_runtime::__private::tracing::field::Empty,
        ),
    );
    if audit_guard.is_active() {
        audit_guard.capture(1u16, &*customer);
    }
    audit_guard.started();
    let audit_inner = async move {
        let list = self.sanctions.load().await?;
        Ok(list.verdict(customer))
    };
    let audit_unpolled = audit_guard.until_polled();
    ::audit_runtime::__private::Box::pin(async move {
        #[allow(unused_mut)]
        let mut audit_guard = audit_unpolled.polled();
        #[allow(unused_mut)]
        let (audit_ret, mut audit_guard) = audit_guard.instrument(audit_inner).await;
        {
            #[allow(unused_imports)]
            use ::audit_runtime::__private::{
                DescribeDebug as _, DescribeDisplay as _, DescribeDyn as _,
                DescribeDynSendSync as _, DescribeError as _, DescribeOther as _,
                ViewPlain as _, ViewResult as _,
            };
            match (&&::audit_runtime::__private::Returned(&audit_ret)).audit_view() {
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
        audit_guard.finish();
        audit_ret
    })
}
