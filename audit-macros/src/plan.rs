//! What to generate, decided before any token is written.
//!
//! [`plan`] reads the parsed attribute and the function and decides everything the expansion
//! depends on: the body's shape, which parameters are captured (and how, and why), the declared
//! versions, the output mode, the kind's rules. It writes no code, so each decision is unit-tested
//! here on token inputs; [`crate::emit`] turns a [`Plan`] into tokens and makes no decision of its
//! own beyond spelling.

use proc_macro2::Span;
use quote::ToTokens;
use syn::spanned::Spanned;
use syn::{
    Block, Expr, FnArg, GenericArgument, Ident, ItemFn, LitBool, LitStr, Pat, Path, PathArguments,
    ReturnType, Stmt, Type, TypeParamBound,
};

use crate::attr::{self, Args, OutputMode, RedactRule, SideEffect, VersionDecl};
use crate::{Errors, Kind};

/// How the body is shaped, which decides how it runs under the guard.
#[derive(Debug, PartialEq)]
pub(crate) enum Shape {
    /// A plain function: the body runs in a closure under `CallGuard::run`.
    Sync,
    /// An `async fn`: the body becomes an instrumented `async move` block.
    Async,
    /// A non-async fn whose tail is an async block, possibly in `Box::pin` (`boxed`): that block
    /// is instrumented.
    TailAsync { boxed: bool },
    /// A non-async `fn -> impl Future` whose body ends otherwise: the body runs as a sync call
    /// and the future it returns is wrapped.
    ImplFuture,
}

impl Shape {
    /// Whether the caller receives a future.
    pub(crate) fn is_async(&self) -> bool {
        !matches!(self, Shape::Sync)
    }
}

/// How a parameter's value is recorded.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Mode {
    Skip,
    Capture,
    HashOnly,
}

/// What was decided for one parameter of the function.
pub(crate) struct ParamPlan {
    /// `None` for a destructuring pattern (never recorded, not listed in the point's `args`).
    pub(crate) name: Option<Ident>,
    /// Whether its type is a reference (`&T`, `&mut T`, `&self`, `&mut self`).
    pub(crate) is_ref: bool,
    pub(crate) mode: Mode,
    /// The token in the attribute that chose the mode (`capture(x)`'s `x`, or `capture_all`):
    /// generated calls are spanned there so a missing `Serialize` points at it.
    pub(crate) chosen_by: Option<Ident>,
    /// Whether it is captured by `capture_all` (rather than listed by name).
    pub(crate) by_capture_all: bool,
    /// Its index among the named parameters (the point's `args`).
    pub(crate) index: u16,
}

/// Everything the expansion generates, decided.
pub(crate) struct Plan {
    pub(crate) kind: Kind,
    /// `crate = path`, else `::audit_runtime`.
    pub(crate) krate: Option<Path>,
    pub(crate) fn_name: String,
    /// `name = ".."`, else the function's name.
    pub(crate) audit_name: String,
    pub(crate) shape: Shape,
    /// `-> !`.
    pub(crate) diverges: bool,
    /// `#[track_caller]`: the body runs inline instead of in a closure.
    pub(crate) track_caller: bool,
    /// The declared return type (`None` for `()`).
    pub(crate) output_ty: Option<Type>,
    pub(crate) params: Vec<ParamPlan>,
    pub(crate) versions: Vec<VersionDecl>,
    pub(crate) unversioned: Option<LitStr>,
    pub(crate) output_mode: OutputMode,
    /// The span of the `output = ..` value, for the generated `ok_value` call.
    pub(crate) output_span: Span,
    /// `result = true | false`: overrides what the value's type says.
    pub(crate) result_override: Option<LitBool>,
    /// Whether the signature spells a `Result` (or the override says so): a hint in the point.
    pub(crate) returns_result: bool,
    pub(crate) rationale: Option<Expr>,
    pub(crate) session: Option<Expr>,
    pub(crate) side_effect: Option<SideEffect>,
    pub(crate) started: bool,
    pub(crate) redact: Vec<RedactRule>,
}

/// Decide what to generate for `f` under `#[kind(args)]`, or every error that stops it.
pub(crate) fn plan(kind: Kind, args: Args, f: &ItemFn) -> Result<Plan, Errors> {
    let mut errors = Errors::default();
    let attr_name = kind.attr_name();

    // ---- misplaced attribute checks --------------------------------------------------------
    if let Some(c) = &f.sig.constness {
        errors.push(syn::Error::new(
            c.span,
            format!("`#[{attr_name}]` cannot be applied to a `const fn`: audited calls record at run time"),
        ));
    }
    if let Some(v) = &f.sig.variadic {
        errors.push(syn::Error::new(
            v.span(),
            format!("`#[{attr_name}]` does not support variadic functions"),
        ));
    }

    // ---- shape -------------------------------------------------------------------------------
    let output_ty: Option<&Type> = match &f.sig.output {
        ReturnType::Type(_, t) => Some(t),
        ReturnType::Default => None,
    };
    let (shape, future_out) = shape_of(f, output_ty);
    let diverges = matches!(output_ty, Some(Type::Never(_)));
    // The type the caller eventually receives (the future's output for async shapes).
    let value_ty = future_out.or(output_ty);
    let track_caller = f.attrs.iter().any(|a| a.path().is_ident("track_caller"));

    // ---- parameters and capture ------------------------------------------------------------
    let params = capture_modes(&args, f, &mut errors);

    // ---- versions and the kind's rules ---------------------------------------------------------
    let versions = args.versions(&mut errors);
    let info = kind.info();
    if let Some(u) = &args.unversioned {
        if !versions.is_empty() {
            errors.push(syn::Error::new(
                u.span(),
                "`unversioned` contradicts the versioned artifacts declared here; keep one or the other",
            ));
        }
    } else if info.requires_versions && versions.is_empty() {
        errors.push(syn::Error::new(
            attr::call_site(),
            format!(
                "`#[{attr_name}]` must declare the versions in force or that none apply: add e.g. \
                 `model = \"credit-scorer\", model_version = \"2.3.1\"` (also prompt, policy, \
                 feature_set, reference_data; a name without a version is looked up in the \
                 runtime artifact registry), or `unversioned = \"<why no versioned artifact applies>\"`"
            ),
        ));
    }
    if info.requires_model
        && args.unversioned.is_none()
        && !versions.iter().any(|v| v.role_variant == "Model")
        && !versions.is_empty()
    {
        errors.push(syn::Error::new(
            attr::call_site(),
            format!("`#[{attr_name}]` must name the model: add `model = \"...\"`"),
        ));
    }
    if let Some((id, _)) = &args.side_effect
        && !info.side_effect_allowed
    {
        errors.push(syn::Error::new(
            id.span(),
            "`side_effect` applies to `#[audited_tool]` only",
        ));
    }

    // ---- output and redaction ------------------------------------------------------------------
    let output_mode = args.output.as_ref().map_or(OutputMode::Status, |(_, m)| *m);
    check_redaction(&args.redact, &params, output_mode, &mut errors);

    if !errors.is_empty() {
        return Err(errors);
    }
    // A hint for tools reading the registry (what the signature spells); the recorded
    // outcome is decided by the value's type, in the generated code.
    let returns_result = match &args.result {
        Some(b) => b.value,
        None => value_ty.is_some_and(is_result),
    };
    let fn_name = f.sig.ident.to_string();
    Ok(Plan {
        kind,
        audit_name: args
            .name
            .as_ref()
            .map_or_else(|| fn_name.clone(), LitStr::value),
        fn_name,
        krate: args.krate,
        shape,
        diverges,
        track_caller,
        output_ty: output_ty.cloned(),
        params,
        versions,
        unversioned: args.unversioned,
        output_mode,
        output_span: args
            .output
            .as_ref()
            .map_or(Span::call_site(), |(id, _)| id.span()),
        result_override: args.result,
        returns_result,
        rationale: args.rationale,
        session: args.session,
        side_effect: args.side_effect.map(|(_, s)| s),
        started: args.started.unwrap_or(info.started_by_default),
        redact: args.redact,
    })
}

/// The body's shape, and the future's `Output` type for the shapes that wrap a future.
fn shape_of<'a>(f: &ItemFn, output_ty: Option<&'a Type>) -> (Shape, Option<&'a Type>) {
    if f.sig.asyncness.is_some() {
        return (Shape::Async, None);
    }
    let Some(out) = output_ty.and_then(future_output) else {
        return (Shape::Sync, None);
    };
    match tail_async(&f.block) {
        Some((boxed, _)) => (Shape::TailAsync { boxed }, Some(out)),
        // `-> impl Future` is opaque to the caller, so whatever future the body returns can be
        // wrapped. A boxed `dyn Future` (written out or behind an alias) is re-boxed by the
        // `Finish` probe of the sync shape.
        None if output_ty.is_some_and(|t| matches!(t, Type::ImplTrait(_))) => {
            (Shape::ImplFuture, Some(out))
        }
        None => (Shape::Sync, None),
    }
}

/// The parameter names for an error message (`none` if there are none).
fn names_list(params: &[ParamPlan]) -> String {
    let v: Vec<String> = params
        .iter()
        .filter_map(|p| p.name.as_ref().map(ToString::to_string))
        .collect();
    if v.is_empty() {
        "none".to_owned()
    } else {
        v.join(", ")
    }
}

fn find(params: &[ParamPlan], id: &Ident) -> Option<usize> {
    params
        .iter()
        .position(|p| p.name.as_ref().is_some_and(|n| n == id))
}

/// Each parameter's mode, from `capture(..)`, `hash_only(..)`, `skip(..)` and `capture_all`.
fn capture_modes(args: &Args, f: &ItemFn, errors: &mut Errors) -> Vec<ParamPlan> {
    let mut params = params(f);
    let mut assigned: Vec<Option<&'static str>> = vec![None; params.len()];
    let lists: [(&Vec<Ident>, Mode, &'static str); 3] = [
        (&args.capture, Mode::Capture, "capture"),
        (&args.hash_only, Mode::HashOnly, "hash_only"),
        (&args.skip, Mode::Skip, "skip"),
    ];
    for (list, mode, key) in lists {
        for id in list {
            match find(&params, id) {
                Some(i) => {
                    if let Some(prev) = assigned[i] {
                        errors.push(syn::Error::new(
                            id.span(),
                            format!("parameter `{id}` is already listed in `{prev}(..)`"),
                        ));
                    } else {
                        assigned[i] = Some(key);
                        params[i].mode = mode;
                        params[i].chosen_by = Some(id.clone());
                    }
                }
                None => errors.push(syn::Error::new(
                    id.span(),
                    match destructured_binding(f, id) {
                        Some(pattern) => format!(
                            "`{id}` is bound inside the destructuring pattern `{pattern}`, and \
                             `{key}(..)` takes parameters, not the bindings of a pattern: give the \
                             parameter a name (e.g. `arg: Type`, destructured with `let {pattern} \
                             = arg;` in the body) and list that name, or record the value from the \
                             body with `audit_runtime::signal(\"{id}\", {id})`"
                        ),
                        None => format!(
                            "`{id}` is not a parameter of `{}` (parameters: {})",
                            f.sig.ident,
                            names_list(&params)
                        ),
                    },
                )),
            }
        }
    }
    if let Some(all) = &args.capture_all {
        if !args.capture.is_empty() {
            errors.push(syn::Error::new(
                all.span(),
                "use either `capture_all` or `capture(..)`, not both",
            ));
        }
        for (p, a) in params.iter_mut().zip(&assigned) {
            if a.is_none() && p.name.is_some() {
                p.mode = Mode::Capture;
                p.chosen_by = Some(all.clone());
                p.by_capture_all = true;
            }
        }
    } else if !args.skip.is_empty() {
        errors.push(syn::Error::new(
            args.skip[0].span(),
            "`skip(..)` only makes sense with `capture_all`: nothing is captured unless listed",
        ));
    }
    params
}

/// Every redaction rule must start at a captured parameter, or at `output` when it is captured.
fn check_redaction(
    rules: &[RedactRule],
    params: &[ParamPlan],
    output_mode: OutputMode,
    errors: &mut Errors,
) {
    for rule in rules {
        if rule.root == "output" && find(params, &rule.root).is_none() {
            if output_mode != OutputMode::Capture {
                errors.push(syn::Error::new(
                    rule.root.span(),
                    "redaction rule on `output`, but the output is not captured: add `output = capture`",
                ));
            }
            continue;
        }
        match find(params, &rule.root) {
            Some(i) => match params[i].mode {
                Mode::Capture => {}
                Mode::HashOnly => errors.push(syn::Error::new(
                    rule.root.span(),
                    format!("`{}` is `hash_only`: its value is never recorded, so there is nothing to redact", rule.root),
                )),
                Mode::Skip => errors.push(syn::Error::new(
                    rule.root.span(),
                    format!("redaction rule on `{}`, which is not captured: add it to `capture(..)`", rule.root),
                )),
            },
            None => errors.push(syn::Error::new(
                rule.root.span(),
                format!(
                    "a redaction path must start with a captured parameter or `output`; `{}` is neither (parameters: {})",
                    rule.root,
                    names_list(params)
                ),
            )),
        }
    }
}

/// The function's parameters, all skipped until a list or `capture_all` says otherwise.
fn params(f: &ItemFn) -> Vec<ParamPlan> {
    let mut next = 0u16;
    f.sig
        .inputs
        .iter()
        .map(|arg| {
            let (name, is_ref) = match arg {
                FnArg::Receiver(r) => (
                    Some(Ident::new("self", r.self_token.span)),
                    matches!(r.kind, syn::ReceiverKind::Reference(..)),
                ),
                FnArg::Typed(t) => (
                    match &*t.pat {
                        Pat::Ident(p) if p.subpat.is_none() => Some(p.ident.clone()),
                        _ => None,
                    },
                    matches!(&*t.ty, Type::Reference(_)),
                ),
            };
            let index = next;
            if name.is_some() {
                next += 1;
            }
            ParamPlan {
                name,
                is_ref,
                mode: Mode::Skip,
                chosen_by: None,
                by_capture_all: false,
                index,
            }
        })
        .collect()
}

/// The pattern of the destructured parameter that binds `id`, if one does (for an error that
/// says what to do instead).
fn destructured_binding(f: &ItemFn, id: &Ident) -> Option<String> {
    fn binds(pat: &Pat, id: &Ident) -> bool {
        match pat {
            Pat::Ident(p) => p.ident == *id || p.subpat.as_ref().is_some_and(|(_, s)| binds(s, id)),
            Pat::Tuple(t) => t.elems.iter().any(|p| binds(p, id)),
            Pat::TupleStruct(t) => t.elems.iter().any(|p| binds(p, id)),
            Pat::Struct(s) => s.fields.iter().any(|fp| binds(&fp.pat, id)),
            Pat::Slice(s) => s.elems.iter().any(|p| binds(p, id)),
            Pat::Reference(r) => binds(&r.pat, id),
            Pat::Paren(p) => binds(&p.pat, id),
            Pat::Type(t) => binds(&t.pat, id),
            Pat::Or(o) => o.cases.iter().any(|p| binds(p, id)),
            _ => false,
        }
    }
    f.sig.inputs.iter().find_map(|arg| match arg {
        FnArg::Typed(t) if !matches!(&*t.pat, Pat::Ident(p) if p.subpat.is_none()) => {
            binds(&t.pat, id).then(|| t.pat.to_token_stream().to_string())
        }
        _ => None,
    })
}

/// The `Output` type of `impl Future<Output = T>` or `Pin<Box<dyn Future<Output = T> + ..>>`.
fn future_output(ty: &Type) -> Option<&Type> {
    fn from_bounds<'a>(bounds: impl IntoIterator<Item = &'a TypeParamBound>) -> Option<&'a Type> {
        for b in bounds {
            if let TypeParamBound::Trait(t) = b {
                let last = t.path.segments.last()?;
                if last.ident == "Future"
                    && let PathArguments::AngleBracketed(a) = &last.arguments
                {
                    for arg in &a.args {
                        if let GenericArgument::AssocType(at) = arg
                            && at.ident == "Output"
                        {
                            return Some(&at.ty);
                        }
                    }
                }
            }
        }
        None
    }
    match ty {
        Type::ImplTrait(it) => from_bounds(&it.bounds),
        Type::TraitObject(to) => from_bounds(&to.bounds),
        Type::Paren(p) => future_output(&p.elem),
        Type::Group(g) => future_output(&g.elem),
        Type::Path(p) => {
            // Pin<Box<dyn Future<..>>>
            let last = p.path.segments.last()?;
            if last.ident != "Pin" && last.ident != "Box" {
                return None;
            }
            if let PathArguments::AngleBracketed(a) = &last.arguments
                && let Some(GenericArgument::Type(inner)) = a.args.first()
            {
                return future_output(inner);
            }
            None
        }
        _ => None,
    }
}

/// Whether a type is, syntactically, a `Result` (`Result<..>`, `io::Result<..>`, ...).
fn is_result(ty: &Type) -> bool {
    match ty {
        Type::Path(p) => p.path.segments.last().is_some_and(|s| s.ident == "Result"),
        Type::Paren(p) => is_result(&p.elem),
        Type::Group(g) => is_result(&g.elem),
        _ => false,
    }
}

/// The body's tail `async` block (`async move { .. }` or `Box::pin(async move { .. })`), and
/// whether it is boxed.
pub(crate) fn tail_async(block: &Block) -> Option<(bool, &syn::ExprAsync)> {
    let last = block.stmts.last()?;
    let Stmt::Expr(expr, None) = last else {
        return None;
    };
    match expr {
        Expr::Async(a) => Some((false, a)),
        Expr::Call(call) => {
            let Expr::Path(p) = &*call.func else {
                return None;
            };
            let segs: Vec<String> = p
                .path
                .segments
                .iter()
                .map(|s| s.ident.to_string())
                .collect();
            let is_box_pin = segs.ends_with(&["Box".to_owned(), "pin".to_owned()]);
            if !is_box_pin || call.args.len() != 1 {
                return None;
            }
            match call.args.first() {
                Some(Expr::Async(a)) => Some((true, a)),
                _ => None,
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proc_macro2::TokenStream;
    use quote::quote;

    /// The plan for `f` under `#[kind(args)]`, or its error messages. The arguments must parse.
    fn try_plan(kind: Kind, args: TokenStream, f: TokenStream) -> Result<Plan, Vec<String>> {
        let mut e = Errors::default();
        let args = attr::parse(args, &mut e);
        assert!(e.is_empty(), "arguments do not parse: {:?}", e.messages());
        let f: ItemFn = syn::parse2(f).expect("a function");
        plan(kind, args, &f).map_err(|e| e.messages())
    }

    fn ok(kind: Kind, args: TokenStream, f: TokenStream) -> Plan {
        match try_plan(kind, args, f) {
            Ok(p) => p,
            Err(m) => panic!("unexpected errors: {m:?}"),
        }
    }

    fn errs(kind: Kind, args: TokenStream, f: TokenStream) -> Vec<String> {
        match try_plan(kind, args, f) {
            Ok(_) => panic!("planned, but errors were expected"),
            Err(m) => m,
        }
    }

    fn tool(f: TokenStream) -> Plan {
        ok(Kind::Tool, quote!(), f)
    }

    /// (name, mode, index, by `capture_all`) of every named parameter.
    fn modes(p: &Plan) -> Vec<(String, Mode, u16, bool)> {
        p.params
            .iter()
            .filter_map(|q| {
                Some((
                    q.name.as_ref()?.to_string(),
                    q.mode,
                    q.index,
                    q.by_capture_all,
                ))
            })
            .collect()
    }

    fn ty(s: &str) -> Type {
        syn::parse_str(s).unwrap()
    }

    // ---- shape ---------------------------------------------------------------------------------

    #[test]
    fn shapes() {
        assert_eq!(
            tool(quote!(
                fn f() -> u8 {
                    1
                }
            ))
            .shape,
            Shape::Sync
        );
        assert_eq!(
            tool(quote!(
                async fn f() -> u8 {
                    1
                }
            ))
            .shape,
            Shape::Async
        );
        assert_eq!(
            tool(quote!(
                fn f() -> impl Future<Output = u8> {
                    async move { 1 }
                }
            ))
            .shape,
            Shape::TailAsync { boxed: false }
        );
        assert_eq!(
            tool(quote!(
                fn f<'a>(&'a self) -> Pin<Box<dyn Future<Output = u8> + Send + 'a>> {
                    Box::pin(async move { 1 })
                }
            ))
            .shape,
            Shape::TailAsync { boxed: true }
        );
        // An opaque future made otherwise is wrapped...
        assert_eq!(
            tool(quote!(
                fn f() -> impl Future<Output = u8> {
                    make()
                }
            ))
            .shape,
            Shape::ImplFuture
        );
        // ... but a nameable boxed one is returned by a sync call (the `Finish` probe re-boxes it).
        assert_eq!(
            tool(quote!(
                fn f() -> Pin<Box<dyn Future<Output = u8>>> {
                    make()
                }
            ))
            .shape,
            Shape::Sync
        );
        assert!(
            !tool(quote!(
                fn f() -> u8 {
                    1
                }
            ))
            .shape
            .is_async()
        );
        assert!(
            tool(quote!(
                fn f() -> impl Future<Output = u8> {
                    make()
                }
            ))
            .shape
            .is_async()
        );
    }

    #[test]
    fn diverging_and_track_caller() {
        let p = tool(quote!(
            fn f() -> ! {
                loop {}
            }
        ));
        assert!(p.diverges && !p.track_caller);
        let p = tool(quote!(
            #[track_caller]
            fn f() -> u8 {
                1
            }
        ));
        assert!(p.track_caller && !p.diverges);
        let p = tool(quote!(
            #[inline]
            fn f() {}
        ));
        assert!(!p.track_caller && !p.diverges && p.output_ty.is_none());
    }

    #[test]
    fn const_and_variadic_functions_are_refused() {
        let m = errs(
            Kind::Tool,
            quote!(),
            quote!(
                const fn f() -> u8 {
                    1
                }
            ),
        );
        assert_eq!(m.len(), 1, "{m:?}");
        assert!(
            m[0].contains("`#[audited_tool]` cannot be applied to a `const fn`"),
            "{m:?}"
        );
        let m = errs(
            Kind::Tool,
            quote!(),
            quote!(
                unsafe extern "C" fn f(a: u8, ...) {}
            ),
        );
        assert!(
            m[0].contains("does not support variadic functions"),
            "{m:?}"
        );
    }

    // ---- parameters ----------------------------------------------------------------------------

    #[test]
    fn only_listed_parameters_are_recorded() {
        let p = ok(
            Kind::Tool,
            quote!(capture(b), hash_only(c)),
            quote!(
                fn f(a: u8, b: &str, c: Vec<u8>) {}
            ),
        );
        assert_eq!(
            modes(&p),
            vec![
                ("a".into(), Mode::Skip, 0, false),
                ("b".into(), Mode::Capture, 1, false),
                ("c".into(), Mode::HashOnly, 2, false),
            ]
        );
        assert!(p.params[1].is_ref && !p.params[2].is_ref);
        assert_eq!(p.params[1].chosen_by.as_ref().unwrap(), "b");
        assert!(p.params[0].chosen_by.is_none());
    }

    #[test]
    fn capture_all_takes_every_named_parameter_not_listed() {
        let p = ok(
            Kind::Tool,
            quote!(capture_all, skip(secret), hash_only(doc)),
            quote!(
                fn f(&self, secret: &str, (x, y): (u8, u8), doc: Vec<u8>, n: u32) {}
            ),
        );
        assert_eq!(
            modes(&p),
            vec![
                ("self".into(), Mode::Capture, 0, true),
                ("secret".into(), Mode::Skip, 1, false),
                ("doc".into(), Mode::HashOnly, 2, false),
                ("n".into(), Mode::Capture, 3, true),
            ]
        );
        // The destructured parameter has no name, is skipped and takes no index of its own.
        assert!(p.params[2].name.is_none());
        assert_eq!(p.params[2].mode, Mode::Skip);
        assert!(p.params[0].is_ref, "&self is a reference");
        assert_eq!(p.params[4].chosen_by.as_ref().unwrap(), "capture_all");
    }

    #[test]
    fn a_binding_of_a_pattern_is_not_a_parameter() {
        let m = errs(
            Kind::Tool,
            quote!(capture(x)),
            quote!(
                fn f((x, y): (u8, u8), z: u8) {}
            ),
        );
        assert_eq!(m.len(), 1, "{m:?}");
        assert!(
            m[0].contains("`x` is bound inside the destructuring pattern `(x , y)`"),
            "{m:?}"
        );
        assert!(m[0].contains("`capture(..)` takes parameters"), "{m:?}");
        let m = errs(
            Kind::Tool,
            quote!(hash_only(name)),
            quote!(
                fn f(Person { name, .. }: Person) {}
            ),
        );
        assert!(m[0].contains("`hash_only(..)` takes parameters"), "{m:?}");
    }

    #[test]
    fn unknown_and_twice_listed_parameters() {
        let m = errs(
            Kind::Tool,
            quote!(capture(q)),
            quote!(
                fn g(a: u8, b: u8) {}
            ),
        );
        assert_eq!(
            m,
            vec!["`q` is not a parameter of `g` (parameters: a, b)".to_owned()]
        );
        let m = errs(
            Kind::Tool,
            quote!(capture(q)),
            quote!(
                fn g() {}
            ),
        );
        assert!(m[0].ends_with("(parameters: none)"), "{m:?}");
        let m = errs(
            Kind::Tool,
            quote!(capture(a), hash_only(a)),
            quote!(
                fn g(a: u8) {}
            ),
        );
        assert_eq!(
            m,
            vec!["parameter `a` is already listed in `capture(..)`".to_owned()]
        );
    }

    #[test]
    fn capture_all_excludes_capture_and_skip_needs_it() {
        let m = errs(
            Kind::Tool,
            quote!(capture_all, capture(a)),
            quote!(
                fn g(a: u8) {}
            ),
        );
        assert!(
            m[0].contains("either `capture_all` or `capture(..)`"),
            "{m:?}"
        );
        let m = errs(
            Kind::Tool,
            quote!(skip(a)),
            quote!(
                fn g(a: u8) {}
            ),
        );
        assert!(
            m[0].contains("`skip(..)` only makes sense with `capture_all`"),
            "{m:?}"
        );
    }

    // ---- the kind's rules ----------------------------------------------------------------------

    #[test]
    fn versions_are_required_of_decisions_model_calls_and_policy_checks() {
        let f = || {
            quote!(
                fn f() {}
            )
        };
        for kind in [Kind::Decision, Kind::ModelCall, Kind::PolicyCheck] {
            let m = errs(kind, quote!(), f());
            assert_eq!(m.len(), 1, "{kind:?}: {m:?}");
            assert!(
                m[0].contains(&format!(
                    "`#[{}]` must declare the versions in force",
                    kind.attr_name()
                )),
                "{m:?}"
            );
            assert!(
                ok(kind, quote!(unversioned = "rules only"), f())
                    .versions
                    .is_empty()
            );
        }
        for kind in [Kind::AgentRun, Kind::Tool] {
            assert!(ok(kind, quote!(), f()).versions.is_empty());
        }
        let p = ok(
            Kind::Decision,
            quote!(policy = "lending", policy_version = V, model = "m"),
            f(),
        );
        let roles: Vec<_> = p.versions.iter().map(|v| v.role_variant).collect();
        assert_eq!(roles, vec!["Model", "Policy"]);
        assert!(
            p.versions[0].version.is_none(),
            "a name alone: the registry"
        );
        assert!(matches!(
            p.versions[1].version,
            Some(attr::VersionValue::Expr(_))
        ));
    }

    #[test]
    fn a_model_call_names_its_model() {
        let m = errs(
            Kind::ModelCall,
            quote!(prompt = "p", prompt_version = "1"),
            quote!(
                fn f() {}
            ),
        );
        assert_eq!(
            m,
            vec!["`#[audited_model_call]` must name the model: add `model = \"...\"`".to_owned()]
        );
        // A decision needs no model.
        ok(
            Kind::Decision,
            quote!(prompt = "p"),
            quote!(
                fn f() {}
            ),
        );
        ok(
            Kind::ModelCall,
            quote!(model = "m"),
            quote!(
                fn f() {}
            ),
        );
    }

    #[test]
    fn unversioned_contradicts_versions() {
        let m = errs(
            Kind::Decision,
            quote!(model = "m", unversioned = "none"),
            quote!(
                fn f() {}
            ),
        );
        assert!(m[0].contains("`unversioned` contradicts"), "{m:?}");
    }

    #[test]
    fn side_effect_only_on_tools() {
        let p = ok(
            Kind::Tool,
            quote!(side_effect = write),
            quote!(
                fn f() {}
            ),
        );
        assert_eq!(p.side_effect, Some(SideEffect::Write));
        for kind in [Kind::AgentRun, Kind::Decision, Kind::PolicyCheck] {
            let m = errs(
                kind,
                quote!(side_effect = read, unversioned = "x"),
                quote!(
                    fn f() {}
                ),
            );
            assert_eq!(
                m,
                vec!["`side_effect` applies to `#[audited_tool]` only".to_owned()],
                "{kind:?}"
            );
        }
    }

    #[test]
    fn started_defaults_on_for_agent_runs_only() {
        let f = || {
            quote!(
                fn f() {}
            )
        };
        assert!(ok(Kind::AgentRun, quote!(), f()).started);
        assert!(!ok(Kind::AgentRun, quote!(started = false), f()).started);
        assert!(!ok(Kind::Tool, quote!(), f()).started);
        assert!(ok(Kind::Tool, quote!(started), f()).started);
        assert!(!ok(Kind::Decision, quote!(unversioned = "x"), f()).started);
    }

    #[test]
    fn every_error_is_reported_at_once() {
        let m = errs(
            Kind::Decision,
            quote!(capture(nope), side_effect = read, redact(output.x = erase)),
            quote!(
                const fn f(a: u8) {}
            ),
        );
        assert_eq!(m.len(), 5, "{m:?}");
        assert!(m[0].contains("`const fn`"), "{m:?}");
        assert!(m[1].contains("`nope` is not a parameter"), "{m:?}");
        assert!(m[2].contains("must declare the versions"), "{m:?}");
        assert!(m[3].contains("`side_effect` applies"), "{m:?}");
        assert!(m[4].contains("the output is not captured"), "{m:?}");
    }

    // ---- output, result, names -----------------------------------------------------------------

    #[test]
    fn output_mode_result_and_names() {
        let p = tool(quote!(
            fn lookup() -> std::io::Result<u8> {
                Ok(1)
            }
        ));
        assert_eq!(p.output_mode, OutputMode::Status);
        assert!(p.returns_result && p.result_override.is_none());
        assert_eq!(
            (p.fn_name.as_str(), p.audit_name.as_str()),
            ("lookup", "lookup")
        );
        // An async shape's hint comes from the future's output.
        assert!(
            tool(quote!(
                fn f() -> impl Future<Output = Result<u8, E>> {
                    make()
                }
            ))
            .returns_result
        );
        assert!(
            !tool(quote!(
                fn f() -> SearchResult {
                    make()
                }
            ))
            .returns_result
        );
        let p = ok(
            Kind::Tool,
            quote!(name = "bureau.lookup", output = hash_only, result = false),
            quote!(
                fn lookup() -> Result<u8, E> {
                    Ok(1)
                }
            ),
        );
        assert_eq!(p.output_mode, OutputMode::HashOnly);
        assert!(
            !p.returns_result,
            "`result = false` overrides the signature"
        );
        assert_eq!(p.audit_name, "bureau.lookup");
        assert!(
            ok(
                Kind::Tool,
                quote!(result = true),
                quote!(
                    fn f() -> T {
                        t()
                    }
                )
            )
            .returns_result
        );
    }

    // ---- redaction -----------------------------------------------------------------------------

    #[test]
    fn redaction_rules_start_at_what_is_recorded() {
        let f = || {
            quote!(
                fn f(a: A, b: B, c: C) -> R {
                    r()
                }
            )
        };
        let p = ok(
            Kind::Tool,
            quote!(
                capture(a),
                output = capture,
                redact(a.email = mask(4), output.card = erase)
            ),
            f(),
        );
        let paths: Vec<_> = p.redact.iter().map(|r| r.path.as_str()).collect();
        assert_eq!(paths, vec!["a.email", "output.card"]);
        let m = errs(Kind::Tool, quote!(capture(a), redact(b.x = erase)), f());
        assert!(
            m[0].contains("redaction rule on `b`, which is not captured"),
            "{m:?}"
        );
        let m = errs(Kind::Tool, quote!(hash_only(c), redact(c.x = erase)), f());
        assert!(m[0].contains("`c` is `hash_only`"), "{m:?}");
        let m = errs(Kind::Tool, quote!(redact(zz.x = erase)), f());
        assert!(
            m[0].contains("`zz` is neither (parameters: a, b, c)"),
            "{m:?}"
        );
        let m = errs(
            Kind::Tool,
            quote!(output = status, redact(output.x = erase)),
            f(),
        );
        assert!(m[0].contains("add `output = capture`"), "{m:?}");
        // A parameter named `output` is a parameter.
        let m = errs(
            Kind::Tool,
            quote!(redact(output.x = erase)),
            quote!(
                fn f(output: O) {}
            ),
        );
        assert!(
            m[0].contains("redaction rule on `output`, which is not captured"),
            "{m:?}"
        );
    }

    // ---- type helpers --------------------------------------------------------------------------

    #[test]
    fn detects_results() {
        assert!(is_result(&ty("Result<u8, E>")));
        assert!(is_result(&ty("std::io::Result<()>")));
        assert!(is_result(&ty("anyhow::Result<T>")));
        assert!(!is_result(&ty("SearchResult")));
        assert!(!is_result(&ty("Option<Result<u8, E>>")));
        assert!(!is_result(&ty("impl Future<Output = Result<u8, E>>")));
    }

    #[test]
    fn finds_future_outputs() {
        let t = ty("impl Future<Output = Result<u8, E>> + Send");
        assert!(is_result(future_output(&t).unwrap()));
        let t = ty("Pin<Box<dyn Future<Output = u8> + Send + 'a>>");
        assert_eq!(
            future_output(&t).unwrap().to_token_stream().to_string(),
            "u8"
        );
        assert!(future_output(&ty("Vec<u8>")).is_none());
    }
}
