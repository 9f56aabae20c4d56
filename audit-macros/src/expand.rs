//! Code generation.
//!
//! Expansion shapes (modelled on `tracing-attributes`):
//!
//! * sync fn: the body runs in a `move` closure under `CallGuard::run`, so `return` and `?` keep
//!   working and the guard sees the value before the caller does;
//! * `async fn`: the body becomes an `async move` block with a "fake return" that pins its
//!   output type (so `?` conversions infer as before), awaited through `CallGuard::instrument`;
//! * `fn -> impl Future` whose body ends in an `async` block, and async-trait's
//!   `Box::pin(async move { .. })`: that block is instrumented and the guard starts when the
//!   function is called.
//!
//! Every generated path goes through `<crate>::__private`; generated locals use mixed-site
//! hygiene so they never collide with, or are visible to, the user's code.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{
    AttrStyle, Block, Expr, FnArg, GenericArgument, Ident, ItemFn, Pat, PathArguments, ReturnType,
    Stmt, Type, TypeParamBound,
};

use crate::attr::{self, Args, OutputMode, SideEffect, VersionValue};
use crate::{Errors, Kind};

/// One parameter of the function.
struct Param {
    /// `None` for a destructuring pattern.
    name: Option<Ident>,
    /// Whether its type is a reference (`&T`, `&mut T`, `&self`, `&mut self`).
    is_ref: bool,
}

fn params(f: &ItemFn) -> Vec<Param> {
    f.sig
        .inputs
        .iter()
        .map(|arg| match arg {
            FnArg::Receiver(r) => Param {
                name: Some(Ident::new("self", r.self_token.span)),
                is_ref: matches!(r.kind, syn::ReceiverKind::Reference(..)),
            },
            FnArg::Typed(t) => {
                let name = match &*t.pat {
                    Pat::Ident(p) if p.subpat.is_none() => Some(p.ident.clone()),
                    _ => None,
                };
                Param {
                    name,
                    is_ref: matches!(&*t.ty, Type::Reference(_)),
                }
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

/// Replace `impl Trait` with `_` so the type can annotate a `let` (the fake return).
fn erase_impl_trait(ty: &Type) -> Type {
    let mut ty = ty.clone();
    fn walk(ty: &mut Type) {
        match ty {
            Type::ImplTrait(_) => *ty = syn::parse_quote!(_),
            Type::Reference(r) => walk(&mut r.elem),
            Type::Paren(p) => walk(&mut p.elem),
            Type::Group(g) => walk(&mut g.elem),
            Type::Array(a) => walk(&mut a.elem),
            Type::Slice(s) => walk(&mut s.elem),
            Type::Ptr(p) => walk(&mut p.elem),
            Type::Tuple(t) => t.elems.iter_mut().for_each(walk),
            Type::Path(p) => {
                if let Some(q) = &mut p.qself {
                    walk(&mut q.ty);
                }
                for seg in &mut p.path.segments {
                    if let PathArguments::AngleBracketed(a) = &mut seg.arguments {
                        for arg in &mut a.args {
                            if let GenericArgument::Type(t) = arg {
                                walk(t);
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }
    walk(&mut ty);
    ty
}

/// How the body is shaped.
enum Shape<'a> {
    Sync,
    Async,
    /// A non-async fn whose tail is an async block (possibly in `Box::pin`): the index of the
    /// tail statement, and whether it is boxed.
    TailAsync {
        boxed: bool,
        output: Option<&'a Type>,
    },
    /// A non-async `fn -> impl Future` whose body ends otherwise: the body runs as a sync call
    /// and the future it returns is wrapped.
    ImplFuture {
        output: Option<&'a Type>,
    },
}

fn tail_async(block: &Block) -> Option<(bool, &syn::ExprAsync)> {
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

pub(crate) fn expand(kind: Kind, args: Args, mut f: ItemFn, errors: &mut Errors) -> TokenStream {
    let krate: TokenStream = match &args.krate {
        Some(p) => p.to_token_stream(),
        None => quote!(::audit_runtime),
    };
    let private = quote!(#krate::__private);
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

    let output_ty: Option<&Type> = match &f.sig.output {
        ReturnType::Type(_, t) => Some(t),
        ReturnType::Default => None,
    };
    let shape = if f.sig.asyncness.is_some() {
        Shape::Async
    } else if let Some(out) = output_ty.and_then(future_output) {
        match tail_async(&f.block) {
            Some((boxed, _)) => Shape::TailAsync {
                boxed,
                output: Some(out),
            },
            // `-> impl Future` is opaque to the caller, so whatever future the body returns can
            // be wrapped. A boxed `dyn Future` (written out or behind an alias) is re-boxed by
            // the `Finish` probe of the sync shape.
            None if output_ty.is_some_and(|t| matches!(t, Type::ImplTrait(_))) => {
                Shape::ImplFuture { output: Some(out) }
            }
            None => Shape::Sync,
        }
    } else {
        Shape::Sync
    };
    let diverges = matches!(output_ty, Some(Type::Never(_)));
    // The type the caller eventually receives (the future's output for async shapes).
    let value_ty: Option<&Type> = match &shape {
        Shape::TailAsync { output, .. } | Shape::ImplFuture { output } => *output,
        _ => output_ty,
    };

    // ---- parameters and capture ------------------------------------------------------------
    let params = params(&f);
    let find = |id: &Ident| -> Option<usize> {
        params
            .iter()
            .position(|p| p.name.as_ref().is_some_and(|n| n == id))
    };
    let names_list = || {
        let v: Vec<String> = params
            .iter()
            .filter_map(|p| p.name.as_ref().map(ToString::to_string))
            .collect();
        if v.is_empty() {
            "none".to_owned()
        } else {
            v.join(", ")
        }
    };
    #[derive(Clone, Copy, PartialEq)]
    enum Mode {
        Skip,
        Capture,
        HashOnly,
    }
    let mut modes = vec![Mode::Skip; params.len()];
    let mut assigned: Vec<Option<&'static str>> = vec![None; params.len()];
    let mut mode_tokens: Vec<Option<Ident>> = vec![None; params.len()];
    let lists: [(&Vec<Ident>, Mode, &'static str); 3] = [
        (&args.capture, Mode::Capture, "capture"),
        (&args.hash_only, Mode::HashOnly, "hash_only"),
        (&args.skip, Mode::Skip, "skip"),
    ];
    for (list, mode, key) in lists {
        for id in list {
            match find(id) {
                Some(i) => {
                    if let Some(prev) = assigned[i] {
                        errors.push(syn::Error::new(
                            id.span(),
                            format!("parameter `{id}` is already listed in `{prev}(..)`"),
                        ));
                    } else {
                        assigned[i] = Some(key);
                        modes[i] = mode;
                        mode_tokens[i] = Some(id.clone());
                    }
                }
                None => errors.push(syn::Error::new(
                    id.span(),
                    match destructured_binding(&f, id) {
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
                            names_list()
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
        for (i, p) in params.iter().enumerate() {
            if assigned[i].is_none() && p.name.is_some() {
                modes[i] = Mode::Capture;
                mode_tokens[i] = Some(all.clone());
            }
        }
    } else if !args.skip.is_empty() {
        errors.push(syn::Error::new(
            args.skip[0].span(),
            "`skip(..)` only makes sense with `capture_all`: nothing is captured unless listed",
        ));
    }

    // ---- versions ----------------------------------------------------------------------------
    let versions = args.versions(errors);
    let requires_versions = kind.info().requires_versions;
    if let Some(u) = &args.unversioned {
        if !versions.is_empty() {
            errors.push(syn::Error::new(
                u.span(),
                "`unversioned` contradicts the versioned artifacts declared here; keep one or the other",
            ));
        }
    } else if requires_versions && versions.is_empty() {
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
    if kind.info().requires_model
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
        && !kind.info().side_effect_allowed
    {
        errors.push(syn::Error::new(
            id.span(),
            "`side_effect` applies to `#[audited_tool]` only",
        ));
    }

    // ---- output / result ---------------------------------------------------------------------
    let output_mode = args.output.as_ref().map_or(OutputMode::Status, |(_, m)| *m);

    // ---- redaction rules -------------------------------------------------------------------
    for rule in &args.redact {
        if rule.root == "output" && find(&rule.root).is_none() {
            if output_mode != OutputMode::Capture {
                errors.push(syn::Error::new(
                    rule.root.span(),
                    "redaction rule on `output`, but the output is not captured: add `output = capture`",
                ));
            }
            continue;
        }
        match find(&rule.root) {
            Some(i) => match modes[i] {
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
                    names_list()
                ),
            )),
        }
    }
    // A hint for tools reading the registry (what the signature spells); the recorded
    // outcome is decided by the value's type (see the outcome section below).
    let returns_result = match &args.result {
        Some(b) => b.value,
        None => value_ty.is_some_and(is_result),
    };

    if !errors.is_empty() {
        // Emit the function unchanged so one mistake does not cascade into type errors at every
        // call site; the errors are appended by the caller.
        return f.into_token_stream();
    }

    // ---- the static audit point ----------------------------------------------------------------
    let fn_name = f.sig.ident.to_string();
    let audit_name = args
        .name
        .as_ref()
        .map_or_else(|| fn_name.clone(), syn::LitStr::value);
    let kind_variant = format_ident!("{}", kind.info().variant);
    let arg_specs = params.iter().zip(&modes).filter_map(|(p, m)| {
        let name = p.name.as_ref()?.to_string();
        let mode = match m {
            Mode::Skip => quote!(Skip),
            Mode::Capture => quote!(Capture),
            Mode::HashOnly => quote!(HashOnly),
        };
        Some(quote!(#private::ArgSpec { name: #name, mode: #private::ArgMode::#mode }))
    });
    // Index of each parameter within `args` (only named parameters are listed).
    let mut arg_index = Vec::with_capacity(params.len());
    let mut next = 0u16;
    for p in &params {
        arg_index.push(next);
        if p.name.is_some() {
            next += 1;
        }
    }
    let version_specs = versions.iter().map(|v| {
        let role = format_ident!("{}", v.role_variant);
        let name = &v.name;
        let source = match &v.version {
            Some(VersionValue::Literal(l)) => quote!(#private::VersionSource::Literal(#l)),
            Some(VersionValue::Expr(e)) => {
                let text = e.to_token_stream().to_string();
                quote!(#private::VersionSource::Expr(#text))
            }
            None => quote!(#private::VersionSource::Registry),
        };
        quote!(#private::VersionSpec { role: #private::ArtifactRole::#role, name: #name, version: #source })
    });
    let redact_specs = args.redact.iter().map(|r| {
        let path = &r.path;
        let action = match r.action {
            attr::RedactAction::Erase => quote!(#private::RedactAction::Erase),
            attr::RedactAction::Mask(keep) => quote!(#private::RedactAction::Mask { keep: #keep }),
            attr::RedactAction::Hash => quote!(#private::RedactAction::Hash),
            attr::RedactAction::Digest => quote!(#private::RedactAction::Digest),
        };
        quote!(#private::RedactSpec { path: #path, action: #action })
    });
    let unversioned = match &args.unversioned {
        Some(u) => quote!(#private::core::option::Option::Some(#u)),
        None => quote!(#private::core::option::Option::None),
    };
    let side_effect = match &args.side_effect {
        Some((_, s)) => {
            let v = format_ident!(
                "{}",
                match s {
                    SideEffect::None => "None",
                    SideEffect::Read => "Read",
                    SideEffect::Write => "Write",
                    SideEffect::Irreversible => "Irreversible",
                }
            );
            quote!(#private::core::option::Option::Some(#private::SideEffect::#v))
        }
        None => quote!(#private::core::option::Option::None),
    };
    let output_variant = format_ident!(
        "{}",
        match output_mode {
            OutputMode::Status => "Status",
            OutputMode::Capture => "Capture",
            OutputMode::HashOnly => "HashOnly",
        }
    );
    let started = args.started.unwrap_or(kind.info().started_by_default);
    let is_async = !matches!(shape, Shape::Sync);

    let point = Ident::new("__AUDIT_POINT", Span::mixed_site());
    // In a block of its own, so neither the static nor what `inventory::submit!` generates can
    // clash with, or be seen by, the user's items and bindings (items ignore hygiene).
    let point_static = quote! {
        static #point: #private::AuditPoint = #private::AuditPoint {
            name: #audit_name,
            kind: #private::PointKind::#kind_variant,
            function: #fn_name,
            module_path: #private::core::module_path!(),
            file: #private::core::file!(),
            line: #private::core::line!(),
            crate_name: match #private::core::option_env!("CARGO_PKG_NAME") {
                #private::core::option::Option::Some(n) => n,
                #private::core::option::Option::None => "unknown",
            },
            crate_version: match #private::core::option_env!("CARGO_PKG_VERSION") {
                #private::core::option::Option::Some(v) => v,
                #private::core::option::Option::None => "0.0.0",
            },
            args: &[#(#arg_specs),*],
            output: #private::OutputMode::#output_variant,
            returns_result: #returns_result,
            redact: &[#(#redact_specs),*],
            versions: &[#(#version_specs),*],
            unversioned: #unversioned,
            side_effect: #side_effect,
            started: #started,
            is_async: #is_async,
        };
        #private::inventory::submit! { #private::RegisteredPoint(&#point) }
    };
    // An expression, not a `let`: a binding named like a user's `static` would be an error.
    let point_ref = quote! {
        {
            #point_static
            &#point
        }
    };

    // ---- guard start, captures ---------------------------------------------------------------
    let guard = Ident::new("audit_guard", Span::mixed_site());
    let ret = Ident::new("audit_ret", Span::mixed_site());
    let span_name = format!("audit.{}", kind.info().record_kind);
    // One `let`, so the guard is built where it lives (it holds the call's state inline).
    let start = quote! {
        #[allow(unused_mut)]
        let mut #guard = #private::CallGuard::start(
            #point_ref,
            #private::tracing::span!(
                target: "audit",
                #private::tracing::Level::INFO,
                #span_name,
                audit.point = #audit_name,
                audit.record_id = #private::tracing::field::Empty,
            ),
        );
    };
    let mut captures = Vec::new();
    for (i, p) in params.iter().enumerate() {
        let Some(name) = &p.name else { continue };
        let idx = arg_index[i];
        let Some(tok) = &mode_tokens[i] else { continue };
        let value = if p.is_ref {
            quote!(&*#name)
        } else {
            quote!(&#name)
        };
        // Span the call at the token in the attribute so a missing `Serialize` points there.
        let sp = tok.span();
        match modes[i] {
            Mode::Capture if assigned[i].is_none() => {
                // Captured by `capture_all`: a trait of its own, so that a value that is not
                // `Serialize` gets an error that names the parameter and how to leave it out.
                let message = format!(
                    "parameter `{name}` cannot be captured by `capture_all`: `{{Self}}` does not \
                     implement `serde::Serialize`"
                );
                let note = format!(
                    "leave it out with `skip({name})` beside `capture_all`, or derive \
                     `serde::Serialize` for `{{Self}}` (or implement it by hand, leaving secrets out)"
                );
                let sp = name.span();
                captures.push(quote_spanned! {sp=>
                    {
                        #[diagnostic::on_unimplemented(
                            message = #message,
                            label = "`capture_all` captures this parameter",
                            note = #note
                        )]
                        trait AuditCaptureAll {
                            fn audit_capture(&self, guard: &mut #private::CallGuard, arg: u16);
                        }
                        impl<T: ?Sized + #private::AuditCapture> AuditCaptureAll for T {
                            fn audit_capture(&self, guard: &mut #private::CallGuard, arg: u16) {
                                guard.capture(arg, self);
                            }
                        }
                        AuditCaptureAll::audit_capture(#value, &mut #guard, #idx);
                    }
                });
            }
            Mode::Capture => captures.push(quote_spanned!(sp=> #guard.capture(#idx, #value);)),
            Mode::HashOnly => captures.push(quote_spanned!(sp=> #guard.hash_only(#idx, #value);)),
            Mode::Skip => {}
        }
    }
    for (i, v) in versions.iter().enumerate() {
        if let Some(VersionValue::Expr(e)) = &v.version {
            let idx = u16::try_from(i).unwrap_or(u16::MAX);
            captures.push(quote_spanned!(e.span()=> #guard.version(#idx, &(#e));));
        }
    }
    if let Some(s) = &args.session {
        captures.push(quote_spanned!(s.span()=> #guard.session(&(#s));));
    }
    let setup = quote! {
        #start
        if #guard.is_active() {
            #(#captures)*
        }
        #guard.started();
    };

    // ---- outcome -----------------------------------------------------------------------------
    // What the record says of the value is decided by its type, at the expansion site, through
    // the probes of `audit_runtime::probe` (autoref specialisation): a `Result` behind any alias
    // is seen as one, and a generic `T` is not.
    let value_var = Ident::new("audit_value", Span::mixed_site());
    let err_var = Ident::new("audit_err", Span::mixed_site());
    let output_span = args
        .output
        .as_ref()
        .map_or(Span::call_site(), |(id, _)| id.span());
    let ok = match output_mode {
        OutputMode::Status => quote!(#guard.ok();),
        OutputMode::Capture => quote_spanned!(output_span=> #guard.ok_value(#value_var, false);),
        OutputMode::HashOnly => quote_spanned!(output_span=> #guard.ok_value(#value_var, true);),
    };
    let view = |v: &TokenStream| match &args.result {
        Some(b) if b.value => quote_spanned!(b.span()=> #private::view_result(#v)),
        Some(_) => quote!(#private::view_plain(#v)),
        None => quote!((&&#private::Returned(#v)).audit_view()),
    };
    let rationale = |v: &TokenStream| {
        args.rationale
            .as_ref()
            .map(|r| quote_spanned!(r.span()=> #guard.rationale(#v, #r);))
    };
    // The outcome of the call whose value `v` (a reference) is.
    let outcome = |v: TokenStream| {
        let view = view(&v);
        let rationale = rationale(&v);
        quote! {
            {
                #[allow(unused_imports)]
                use #private::{
                    DescribeDebug as _, DescribeDisplay as _, DescribeDyn as _,
                    DescribeDynSendSync as _, DescribeError as _, DescribeOther as _,
                    ViewPlain as _, ViewResult as _,
                };
                match #view {
                    #private::View::Ok(#value_var) => { #ok }
                    #private::View::Err(#err_var) => {
                        #guard.err(
                            (&&&&&&#private::Describe(#err_var)).audit_describe(),
                            #private::type_name_of(#err_var),
                        );
                    }
                }
            }
            #rationale
        }
    };

    // ---- assemble ----------------------------------------------------------------------------
    let (inner_attrs, outer_attrs): (Vec<_>, Vec<_>) = f
        .attrs
        .iter()
        .cloned()
        .partition(|a| matches!(a.style, AttrStyle::Inner(_)));
    f.attrs = outer_attrs;
    let allow = quote! {
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
    };
    let fake_return = |ty: Option<&Type>| -> TokenStream {
        let ty = ty.map_or_else(|| quote!(()), |t| erase_impl_trait(t).into_token_stream());
        let fake = Ident::new("audit_fake_return", Span::mixed_site());
        quote! {
            #allow
            if false {
                let #fake: #ty = loop {};
                return #fake;
            }
        }
    };
    let stmts = &f.block.stmts;
    // The closure or async block that holds the user's body carries the body's span, so the
    // compiler and clippy treat it as the user's code: lints such as `clippy::needless_return`
    // are still reported in the body (code spanned at the attribute counts as macro-generated,
    // and most lints skip it).
    let body_span = f.block.brace_token.span.join();
    // An async body, awaited under the guard, then finished with its value.
    let instrumented = |future: TokenStream| {
        let outcome = outcome(quote!(&#ret));
        quote! {
            #[allow(unused_mut)]
            let (#ret, mut #guard) = #guard.instrument(#future).await;
            #outcome
            #guard.finish();
            #ret
        }
    };
    // `#[track_caller]`: the caller's location does not reach into a closure, so the body
    // runs inline, its exits rewritten to leave a labelled block (`crate::inline`).
    let track_caller = f.attrs.iter().any(|a| a.path().is_ident("track_caller"));
    let inline_body = |ty: TokenStream| -> TokenStream {
        let mut block = (*f.block).clone();
        let mut exits = crate::inline::Exits {
            label: crate::inline::Exits::label(),
            private: &private,
            errors: Vec::new(),
        };
        syn::visit_mut::VisitMut::visit_block_mut(&mut exits, &mut block);
        let errors = exits.errors.iter().map(syn::Error::to_compile_error);
        let label = exits.label;
        let stmts = &block.stmts;
        let entered = Ident::new("audit_entered", Span::mixed_site());
        let labelled = quote_spanned!(body_span=> #label: { #(#stmts)* });
        // Only what the generated `let`s themselves trigger is allowed: an attribute here
        // covers the user's body too.
        let unit = (ty.to_string() == "()").then(|| quote!(#[allow(clippy::let_unit_value)]));
        quote! {
            #(#errors)*
            #unit
            let #ret: #ty = {
                let #entered = #guard.enter_inline();
                #unit
                let #ret: #ty = #labelled;
                #entered.leave();
                #ret
            };
        }
    };
    let sync_finish = |outcome: TokenStream| {
        quote! {
            {
                #[allow(unused_imports)]
                use #private::{
                    FinishBoxedLocal as _, FinishBoxedSend as _, FinishNow as _,
                    FinishUnobserved as _,
                };
                (&&&&#private::Finish::new(#ret))
                    .audit_finish(&mut #guard, |#guard, #ret| { #outcome })
            }
        }
    };
    let body = match shape {
        Shape::Sync if diverges && track_caller => {
            // `-> !`: nothing returns from the body (a `return` needs a value of type `!`), so
            // it runs as written; the frame is left, and the panic recorded, as it unwinds.
            let entered = Ident::new("audit_entered", Span::mixed_site());
            let block = quote_spanned!(body_span=> { #(#stmts)* });
            quote! {
                #(#inner_attrs)*
                #setup
                let #entered = #guard.enter_inline();
                #block
            }
        }
        Shape::Sync if track_caller => {
            let ty =
                output_ty.map_or_else(|| quote!(()), |t| erase_impl_trait(t).into_token_stream());
            let inline = inline_body(ty);
            let finish = sync_finish(outcome(ret.to_token_stream()));
            quote! {
                #(#inner_attrs)*
                #setup
                #inline
                #finish
            }
        }
        Shape::Sync if diverges => {
            // `-> !`: the body cannot return, so there is no value to record (a panic is
            // recorded by `run`); `!` cannot be named as a type on stable, so the closure
            // returns `()`, to which the diverging body coerces.
            quote! {
                #(#inner_attrs)*
                #setup
                #guard.run(move || -> () { #(#stmts)* });
                #private::core::unreachable!("an audited `-> !` function returned")
            }
        }
        Shape::Sync => {
            let fake = fake_return(output_ty);
            let closure = quote_spanned!(body_span=> move || { #fake #(#stmts)* });
            let finish = sync_finish(outcome(ret.to_token_stream()));
            quote! {
                #(#inner_attrs)*
                #setup
                let #ret = #guard.run(#closure);
                #finish
            }
        }
        Shape::Async => {
            let fake = fake_return(output_ty);
            let finish = instrumented(quote_spanned!(body_span=> async move { #fake #(#stmts)* }));
            quote! {
                #(#inner_attrs)*
                #setup
                #finish
            }
        }
        Shape::ImplFuture { .. } => {
            let inner = Ident::new("audit_inner", Span::mixed_site());
            let finish = instrumented(inner.to_token_stream());
            let make = if track_caller {
                let inline = inline_body(quote!(_));
                quote! { #inline let #inner = #ret; }
            } else {
                quote! { let #inner = #guard.run(move || { #(#stmts)* }); }
            };
            quote! {
                #(#inner_attrs)*
                #setup
                #make
                async move { #finish }
            }
        }
        Shape::TailAsync { boxed, .. } => {
            let n = stmts.len();
            let before = &stmts[..n - 1];
            let Some((_, tail)) = tail_async(&f.block) else {
                return f.into_token_stream();
            };
            let inner = Ident::new("audit_inner", Span::mixed_site());
            let unpolled = Ident::new("audit_unpolled", Span::mixed_site());
            let finish = instrumented(inner.to_token_stream());
            // The call waits for the first poll, so a future dropped unpolled behaves as an
            // `async fn` dropped unpolled: no record (nothing of the body ran).
            let wrapped = quote! {
                async move {
                    #[allow(unused_mut)]
                    let mut #guard = #unpolled.polled();
                    #finish
                }
            };
            let wrapped = if boxed {
                quote!(#private::Box::pin(#wrapped))
            } else {
                wrapped
            };
            quote! {
                #(#inner_attrs)*
                #setup
                #(#before)*
                let #inner = #tail;
                let #unpolled = #guard.until_polled();
                #wrapped
            }
        }
    };
    let block: Block = match syn::parse2(quote!({ #body })) {
        Ok(b) => b,
        Err(e) => {
            errors.push(e);
            return f.into_token_stream();
        }
    };
    f.block = Box::new(block);
    f.into_token_stream()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ty(s: &str) -> Type {
        syn::parse_str(s).unwrap()
    }

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

    #[test]
    fn erases_impl_trait() {
        let t = erase_impl_trait(&ty("Result<impl Display, Box<impl Error>>"));
        assert_eq!(t.to_token_stream().to_string(), "Result < _ , Box < _ > >");
    }
}
