//! Attribute macros that turn agent functions into audited calls.
//!
//! Use them through `audit_runtime` (which re-exports them); generated code refers to
//! `::audit_runtime::__private`, or to the path given with `crate = path`.
//!
//! | attribute | records | versions required |
//! |---|---|---|
//! | `#[audited_agent]` | one agent run (writes a `started` record by default) | no |
//! | `#[audited_decision]` | a decision | yes, or `unversioned = "reason"` |
//! | `#[audited_tool]` | a tool call (`side_effect = ..`) | no |
//! | `#[audited_model_call]` | a model call | yes (`model = ..`) |
//! | `#[audited_policy_check]` | a policy check | yes, or `unversioned` |
//!
//! Each attribute's documentation lists every option (`OPTIONS.md` in this crate).
//!
//! Design: this crate only parses and generates (it is small, its logic unit-tested as plain
//! functions); everything that can run at run time lives in `audit-runtime`.

use proc_macro::TokenStream;
use proc_macro2::TokenStream as TokenStream2;
use quote::ToTokens;

mod attr;
mod emit;
mod grammar;
mod inline;
mod plan;
#[cfg(test)]
mod snapshots;

/// The kinds of audited function, one per attribute.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Kind {
    AgentRun,
    Decision,
    Tool,
    ModelCall,
    PolicyCheck,
}

/// What each kind of audited function is: the one table every other part reads (the attribute's
/// name in messages, the `PointKind` variant and the span name in generated code, the rules the
/// plan checks).
pub(crate) struct KindInfo {
    /// The attribute, as written by users (`audited_decision`).
    pub(crate) attr_name: &'static str,
    /// The `audit_runtime::PointKind` variant of the generated audit point.
    pub(crate) variant: &'static str,
    /// The record kind; the tracing span is named `audit.<record_kind>`.
    pub(crate) record_kind: &'static str,
    /// Must declare versioned artifacts or `unversioned = "reason"`.
    pub(crate) requires_versions: bool,
    /// Declared versions must include the `model` role (unless `unversioned`).
    pub(crate) requires_model: bool,
    /// Writes a `started` record unless `started = false`.
    pub(crate) started_by_default: bool,
    /// Accepts `side_effect = ..`.
    pub(crate) side_effect_allowed: bool,
}

const AGENT_RUN: KindInfo = KindInfo {
    attr_name: "audited_agent",
    variant: "AgentRun",
    record_kind: "agent_run",
    requires_versions: false,
    requires_model: false,
    started_by_default: true,
    side_effect_allowed: false,
};
const DECISION: KindInfo = KindInfo {
    attr_name: "audited_decision",
    variant: "Decision",
    record_kind: "decision",
    requires_versions: true,
    requires_model: false,
    started_by_default: false,
    side_effect_allowed: false,
};
const TOOL: KindInfo = KindInfo {
    attr_name: "audited_tool",
    variant: "Tool",
    record_kind: "tool",
    requires_versions: false,
    requires_model: false,
    started_by_default: false,
    side_effect_allowed: true,
};
const MODEL_CALL: KindInfo = KindInfo {
    attr_name: "audited_model_call",
    variant: "ModelCall",
    record_kind: "model_call",
    requires_versions: true,
    requires_model: true,
    started_by_default: false,
    side_effect_allowed: false,
};
const POLICY_CHECK: KindInfo = KindInfo {
    attr_name: "audited_policy_check",
    variant: "PolicyCheck",
    record_kind: "policy_check",
    requires_versions: true,
    requires_model: false,
    started_by_default: false,
    side_effect_allowed: false,
};

impl Kind {
    /// This kind's row of the kind table.
    pub(crate) const fn info(self) -> &'static KindInfo {
        match self {
            Kind::AgentRun => &AGENT_RUN,
            Kind::Decision => &DECISION,
            Kind::Tool => &TOOL,
            Kind::ModelCall => &MODEL_CALL,
            Kind::PolicyCheck => &POLICY_CHECK,
        }
    }
    pub(crate) fn attr_name(self) -> &'static str {
        self.info().attr_name
    }
}

/// Collects errors so that all of them are reported in one compiler run (the pattern of
/// serde_derive's `Ctxt`).
#[derive(Default)]
pub(crate) struct Errors(Vec<syn::Error>);

impl Errors {
    pub(crate) fn push(&mut self, e: syn::Error) {
        self.0.push(e);
    }
    /// Add `other`'s errors after these.
    pub(crate) fn append(&mut self, other: Errors) {
        self.0.extend(other.0);
    }
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    #[cfg(test)]
    pub(crate) fn messages(&self) -> Vec<String> {
        self.0.iter().map(ToString::to_string).collect()
    }
    fn into_compile_errors(self) -> TokenStream2 {
        self.0
            .into_iter()
            .map(syn::Error::into_compile_error)
            .collect()
    }
}

fn entry(kind: Kind, args: TokenStream, item: TokenStream) -> TokenStream {
    expand_item(kind, args.into(), item.into()).into()
}

pub(crate) fn expand_item(kind: Kind, args: TokenStream2, item: TokenStream2) -> TokenStream2 {
    let mut errors = Errors::default();
    let parsed_args = attr::parse(args, &mut errors);
    let f: syn::ItemFn = match syn::parse2(item.clone()) {
        Ok(f) => f,
        Err(_) => {
            let msg = if syn::parse2::<syn::TraitItemFn>(item.clone()).is_ok() {
                format!(
                    "`#[{}]` needs a function body: put it on the trait method's implementations \
                     (or on a default method)",
                    kind.attr_name()
                )
            } else {
                format!(
                    "`#[{}]` can only be applied to functions and methods",
                    kind.attr_name()
                )
            };
            let first = item.clone().into_iter().next();
            let err = match first {
                Some(t) => syn::Error::new_spanned(t, msg),
                None => syn::Error::new(proc_macro2::Span::call_site(), msg),
            };
            errors.push(err);
            let mut out = item;
            out.extend(errors.into_compile_errors());
            return out;
        }
    };
    let original = f.to_token_stream();
    let mut out = match plan::plan(kind, parsed_args, &f) {
        Ok(plan) if errors.is_empty() => emit::emit(&plan, f, &mut errors),
        Ok(_) => TokenStream2::new(),
        Err(e) => {
            errors.append(e);
            TokenStream2::new()
        }
    };
    if !errors.is_empty() {
        // Emit the function unchanged so one mistake does not cascade into type errors at
        // every call site.
        out = original;
        out.extend(errors.into_compile_errors());
    }
    out
}

/// Audit one run of an agent: the root record that decisions, tools and model calls nest under.
/// Writes a `started` record when the run begins (turn off with `started = false`).
///
#[doc = include_str!("../OPTIONS.md")]
#[proc_macro_attribute]
pub fn audited_agent(args: TokenStream, item: TokenStream) -> TokenStream {
    entry(Kind::AgentRun, args, item)
}

/// Audit a decision point. Must declare the versions in force (`model`, `model_version`,
/// `prompt`, `policy`, `feature_set`, `reference_data`, ...) or `unversioned = "reason"`.
///
#[doc = include_str!("../OPTIONS.md")]
#[proc_macro_attribute]
pub fn audited_decision(args: TokenStream, item: TokenStream) -> TokenStream {
    entry(Kind::Decision, args, item)
}

/// Audit a tool the agent calls. Declare its `side_effect = none | read | write | irreversible`.
///
#[doc = include_str!("../OPTIONS.md")]
#[proc_macro_attribute]
pub fn audited_tool(args: TokenStream, item: TokenStream) -> TokenStream {
    entry(Kind::Tool, args, item)
}

/// Audit a call to a model. Must name the `model` (and its version, or rely on the registry).
///
#[doc = include_str!("../OPTIONS.md")]
#[proc_macro_attribute]
pub fn audited_model_call(args: TokenStream, item: TokenStream) -> TokenStream {
    entry(Kind::ModelCall, args, item)
}

/// Audit a policy or guardrail check. Must declare the `policy` version (or `unversioned`).
///
#[doc = include_str!("../OPTIONS.md")]
#[proc_macro_attribute]
pub fn audited_policy_check(args: TokenStream, item: TokenStream) -> TokenStream {
    entry(Kind::PolicyCheck, args, item)
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    #[test]
    fn errors_keep_the_original_function() {
        let out = expand_item(
            Kind::Decision,
            quote!(capture(nope)),
            quote!(
                fn f(a: u8) -> u8 {
                    a
                }
            ),
        )
        .to_string();
        assert!(out.contains("fn f (a : u8) -> u8 { a }"), "{out}");
        assert!(out.contains("is not a parameter of `f`"), "{out}");
        assert!(out.contains("must declare the versions"), "{out}");
    }

    #[test]
    fn non_functions_are_rejected() {
        let out = expand_item(
            Kind::Tool,
            quote!(),
            quote!(
                struct S;
            ),
        )
        .to_string();
        assert!(out.contains("can only be applied to functions"), "{out}");
        assert!(out.contains("struct S ;"), "{out}");
    }

    #[test]
    fn const_fn_is_rejected() {
        let out = expand_item(
            Kind::Tool,
            quote!(),
            quote!(
                const fn f() -> u8 {
                    1
                }
            ),
        )
        .to_string();
        assert!(out.contains("cannot be applied to a `const fn`"), "{out}");
    }

    #[test]
    fn impl_future_of_any_body_is_wrapped() {
        let out = expand_item(
            Kind::Tool,
            quote!(),
            quote!(
                fn f() -> impl Future<Output = u8> {
                    make()
                }
            ),
        )
        .to_string();
        assert!(!out.contains("compile_error"), "{out}");
        assert!(out.contains("instrument"), "{out}");
    }

    #[test]
    fn expands_sync_and_async() {
        let sync = expand_item(
            Kind::Decision,
            quote!(unversioned = "rules", capture(a)),
            quote!(
                fn f(a: &str) -> Result<u8, E> {
                    Ok(1)
                }
            ),
        )
        .to_string();
        assert!(sync.contains("CallGuard :: start"), "{sync}");
        assert!(sync.contains(". run (move | |"), "{sync}");
        assert!(sync.contains("capture (0u16 , & * a)"), "{sync}");
        let asy = expand_item(
            Kind::Tool,
            quote!(),
            quote!(
                async fn f() -> u8 {
                    1
                }
            ),
        )
        .to_string();
        assert!(asy.contains(". instrument (async move"), "{asy}");
    }
}
