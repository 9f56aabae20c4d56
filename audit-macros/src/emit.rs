//! Code generation: a [`Plan`] into tokens.
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
//! hygiene so they never collide with, or are visible to, the user's code. What to generate was
//! decided by [`crate::plan`]; this module only spells it.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{AttrStyle, Attribute, Block, GenericArgument, Ident, ItemFn, PathArguments, Type};

use crate::Errors;
use crate::attr::{self, OutputMode, SideEffect, VersionValue};
use crate::plan::{Mode, Plan, Shape, tail_async};

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

/// The names and paths every generated piece shares.
struct Ctx<'a> {
    plan: &'a Plan,
    /// `<crate>::__private`.
    private: TokenStream,
    /// The `CallGuard` local.
    guard: Ident,
    /// The local holding the body's value.
    ret: Ident,
}

/// The function `f` with its body replaced by the audited one that `plan` describes.
pub(crate) fn emit(plan: &Plan, mut f: ItemFn, errors: &mut Errors) -> TokenStream {
    let krate: TokenStream = match &plan.krate {
        Some(p) => p.to_token_stream(),
        None => quote!(::audit_runtime),
    };
    let cx = Ctx {
        plan,
        private: quote!(#krate::__private),
        guard: Ident::new("audit_guard", Span::mixed_site()),
        ret: Ident::new("audit_ret", Span::mixed_site()),
    };
    let (inner_attrs, outer_attrs): (Vec<_>, Vec<_>) = f
        .attrs
        .iter()
        .cloned()
        .partition(|a| matches!(a.style, AttrStyle::Inner(_)));
    f.attrs = outer_attrs;
    let Some(body) = cx.body(&f, &inner_attrs) else {
        return f.into_token_stream();
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

impl Ctx<'_> {
    /// A reference to the call's static `AuditPoint`, registered with `inventory`.
    fn point_ref(&self) -> TokenStream {
        let Ctx { plan, private, .. } = self;
        let fn_name = &plan.fn_name;
        let audit_name = &plan.audit_name;
        let kind_variant = format_ident!("{}", plan.kind.info().variant);
        let arg_specs = plan.params.iter().filter_map(|p| {
            let name = p.name.as_ref()?.to_string();
            let mode = match p.mode {
                Mode::Skip => quote!(Skip),
                Mode::Capture => quote!(Capture),
                Mode::HashOnly => quote!(HashOnly),
            };
            Some(quote!(#private::ArgSpec { name: #name, mode: #private::ArgMode::#mode }))
        });
        let version_specs = plan.versions.iter().map(|v| {
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
        let redact_specs = plan.redact.iter().map(|r| {
            let path = &r.path;
            let action = match r.action {
                attr::RedactAction::Erase => quote!(#private::RedactAction::Erase),
                attr::RedactAction::Mask(keep) => {
                    quote!(#private::RedactAction::Mask { keep: #keep })
                }
                attr::RedactAction::Hash => quote!(#private::RedactAction::Hash),
                attr::RedactAction::Digest => quote!(#private::RedactAction::Digest),
            };
            quote!(#private::RedactSpec { path: #path, action: #action })
        });
        let unversioned = match &plan.unversioned {
            Some(u) => quote!(#private::core::option::Option::Some(#u)),
            None => quote!(#private::core::option::Option::None),
        };
        let side_effect = match &plan.side_effect {
            Some(s) => {
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
            match plan.output_mode {
                OutputMode::Status => "Status",
                OutputMode::Capture => "Capture",
                OutputMode::HashOnly => "HashOnly",
            }
        );
        let returns_result = plan.returns_result;
        let started = plan.started;
        let is_async = plan.shape.is_async();
        let point = Ident::new("__AUDIT_POINT", Span::mixed_site());
        // In a block of its own, so neither the static nor what `inventory::submit!` generates
        // can clash with, or be seen by, the user's items and bindings (items ignore hygiene).
        // An expression, not a `let`: a binding named like a user's `static` would be an error.
        quote! {
            {
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
                &#point
            }
        }
    }

    /// The guard's start, then (if it is active) the captures, versions and session.
    fn setup(&self) -> TokenStream {
        let Ctx {
            plan,
            private,
            guard,
            ..
        } = self;
        let point_ref = self.point_ref();
        let audit_name = &plan.audit_name;
        let span_name = format!("audit.{}", plan.kind.info().record_kind);
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
        for p in &plan.params {
            let Some(name) = &p.name else { continue };
            let idx = p.index;
            let Some(tok) = &p.chosen_by else { continue };
            let value = if p.is_ref {
                quote!(&*#name)
            } else {
                quote!(&#name)
            };
            // Span the call at the token in the attribute so a missing `Serialize` points there.
            let sp = tok.span();
            match p.mode {
                Mode::Capture if p.by_capture_all => {
                    captures.push(self.capture_all(name, &value, idx));
                }
                Mode::Capture => captures.push(quote_spanned!(sp=> #guard.capture(#idx, #value);)),
                Mode::HashOnly => {
                    captures.push(quote_spanned!(sp=> #guard.hash_only(#idx, #value);));
                }
                Mode::Skip => {}
            }
        }
        for (i, v) in plan.versions.iter().enumerate() {
            if let Some(VersionValue::Expr(e)) = &v.version {
                let idx = u16::try_from(i).unwrap_or(u16::MAX);
                captures.push(quote_spanned!(e.span()=> #guard.version(#idx, &(#e));));
            }
        }
        if let Some(s) = &plan.session {
            captures.push(quote_spanned!(s.span()=> #guard.session(&(#s));));
        }
        quote! {
            #start
            if #guard.is_active() {
                #(#captures)*
            }
            #guard.started();
        }
    }

    /// The capture of a parameter that `capture_all` chose: a trait of its own, so that a value
    /// that is not `Serialize` gets an error that names the parameter and how to leave it out.
    fn capture_all(&self, name: &Ident, value: &TokenStream, idx: u16) -> TokenStream {
        let Ctx { private, guard, .. } = self;
        let message = format!(
            "parameter `{name}` cannot be captured by `capture_all`: `{{Self}}` does not \
             implement `serde::Serialize`"
        );
        let note = format!(
            "leave it out with `skip({name})` beside `capture_all`, or derive \
             `serde::Serialize` for `{{Self}}` (or implement it by hand, leaving secrets out)"
        );
        let sp = name.span();
        quote_spanned! {sp=>
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
        }
    }

    /// The outcome of the call whose value `v` (a reference) is.
    ///
    /// What the record says of the value is decided by its type, at the expansion site, through
    /// the probes of `audit_runtime::probe` (autoref specialisation): a `Result` behind any
    /// alias is seen as one, and a generic `T` is not.
    fn outcome(&self, v: TokenStream) -> TokenStream {
        let Ctx {
            plan,
            private,
            guard,
            ..
        } = self;
        let value_var = Ident::new("audit_value", Span::mixed_site());
        let err_var = Ident::new("audit_err", Span::mixed_site());
        let output_span = plan.output_span;
        let ok = match plan.output_mode {
            OutputMode::Status => quote!(#guard.ok();),
            OutputMode::Capture => {
                quote_spanned!(output_span=> #guard.ok_value(#value_var, false);)
            }
            OutputMode::HashOnly => {
                quote_spanned!(output_span=> #guard.ok_value(#value_var, true);)
            }
        };
        let view = match &plan.result_override {
            Some(b) if b.value => quote_spanned!(b.span()=> #private::view_result(#v)),
            Some(_) => quote!(#private::view_plain(#v)),
            None => quote!((&&#private::Returned(#v)).audit_view()),
        };
        let rationale = plan
            .rationale
            .as_ref()
            .map(|r| quote_spanned!(r.span()=> #guard.rationale(#v, #r);));
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
    }

    /// A never-taken `return` of the declared type, so the body's `?` and `return` infer as
    /// they did before the body moved into a closure or async block.
    fn fake_return(ty: Option<&Type>) -> TokenStream {
        let ty = ty.map_or_else(|| quote!(()), |t| erase_impl_trait(t).into_token_stream());
        let fake = Ident::new("audit_fake_return", Span::mixed_site());
        quote! {
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
                let #fake: #ty = loop {};
                return #fake;
            }
        }
    }

    /// An async body, awaited under the guard, then finished with its value.
    fn instrumented(&self, future: TokenStream) -> TokenStream {
        let Ctx { guard, ret, .. } = self;
        let outcome = self.outcome(quote!(&#ret));
        quote! {
            #[allow(unused_mut)]
            let (#ret, mut #guard) = #guard.instrument(#future).await;
            #outcome
            #guard.finish();
            #ret
        }
    }

    /// `#[track_caller]`: the caller's location does not reach into a closure, so the body
    /// runs inline, its exits rewritten to leave a labelled block (`crate::inline`).
    fn inline_body(&self, f: &ItemFn, ty: TokenStream) -> TokenStream {
        let Ctx {
            private,
            guard,
            ret,
            ..
        } = self;
        let mut block = (*f.block).clone();
        let mut exits = crate::inline::Exits {
            label: crate::inline::Exits::label(),
            private,
            errors: Vec::new(),
        };
        syn::visit_mut::VisitMut::visit_block_mut(&mut exits, &mut block);
        let errors = exits.errors.iter().map(syn::Error::to_compile_error);
        let label = exits.label;
        let stmts = &block.stmts;
        let entered = Ident::new("audit_entered", Span::mixed_site());
        let labelled = quote_spanned!(body_span(f)=> #label: { #(#stmts)* });
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
    }

    /// The outcome of a sync call, through the `Finish` probe (which wraps a returned boxed
    /// future instead of finishing now).
    fn sync_finish(&self, outcome: TokenStream) -> TokenStream {
        let Ctx {
            private,
            guard,
            ret,
            ..
        } = self;
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
    }

    /// The new body, by shape; `None` if the planned tail `async` block is not there.
    fn body(&self, f: &ItemFn, inner_attrs: &[Attribute]) -> Option<TokenStream> {
        let Ctx {
            plan,
            private,
            guard,
            ret,
        } = self;
        let setup = self.setup();
        let stmts = &f.block.stmts;
        let output_ty = plan.output_ty.as_ref();
        let body_span = body_span(f);
        Some(match plan.shape {
            Shape::Sync if plan.diverges && plan.track_caller => {
                // `-> !`: nothing returns from the body (a `return` needs a value of type `!`),
                // so it runs as written; the frame is left, and the panic recorded, as it
                // unwinds.
                let entered = Ident::new("audit_entered", Span::mixed_site());
                let block = quote_spanned!(body_span=> { #(#stmts)* });
                quote! {
                    #(#inner_attrs)*
                    #setup
                    let #entered = #guard.enter_inline();
                    #block
                }
            }
            Shape::Sync if plan.track_caller => {
                let ty = output_ty
                    .map_or_else(|| quote!(()), |t| erase_impl_trait(t).into_token_stream());
                let inline = self.inline_body(f, ty);
                let finish = self.sync_finish(self.outcome(ret.to_token_stream()));
                quote! {
                    #(#inner_attrs)*
                    #setup
                    #inline
                    #finish
                }
            }
            Shape::Sync if plan.diverges => {
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
                let fake = Self::fake_return(output_ty);
                let closure = quote_spanned!(body_span=> move || { #fake #(#stmts)* });
                let finish = self.sync_finish(self.outcome(ret.to_token_stream()));
                quote! {
                    #(#inner_attrs)*
                    #setup
                    let #ret = #guard.run(#closure);
                    #finish
                }
            }
            Shape::Async => {
                let fake = Self::fake_return(output_ty);
                let finish =
                    self.instrumented(quote_spanned!(body_span=> async move { #fake #(#stmts)* }));
                quote! {
                    #(#inner_attrs)*
                    #setup
                    #finish
                }
            }
            Shape::ImplFuture => {
                let inner = Ident::new("audit_inner", Span::mixed_site());
                let finish = self.instrumented(inner.to_token_stream());
                let make = if plan.track_caller {
                    let inline = self.inline_body(f, quote!(_));
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
            Shape::TailAsync { boxed } => {
                let n = stmts.len();
                let before = &stmts[..n - 1];
                let (_, tail) = tail_async(&f.block)?;
                let inner = Ident::new("audit_inner", Span::mixed_site());
                let unpolled = Ident::new("audit_unpolled", Span::mixed_site());
                let finish = self.instrumented(inner.to_token_stream());
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
        })
    }
}

/// The span of the body's braces. The closure or async block that holds the user's body carries
/// it, so the compiler and clippy treat it as the user's code: lints such as
/// `clippy::needless_return` are still reported in the body (code spanned at the attribute
/// counts as macro-generated, and most lints skip it).
fn body_span(f: &ItemFn) -> Span {
    f.block.brace_token.span.join()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erases_impl_trait() {
        let t: Type = syn::parse_str("Result<impl Display, Box<impl Error>>").unwrap();
        let t = erase_impl_trait(&t);
        assert_eq!(t.to_token_stream().to_string(), "Result < _ , Box < _ > >");
    }
}
