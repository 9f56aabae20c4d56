//! Bodies that run inline: `#[track_caller]` functions.
//!
//! An audited body normally runs in a closure that the runtime calls inside the call's frame.
//! The location that `#[track_caller]` passes along does not reach into a closure (closures
//! cannot be `#[track_caller]` on stable), so `Location::caller()`, `unwrap()` and `panic!` in
//! the body would report the macro's closure instead of the function's caller. For such
//! functions the body runs inline, in a labelled block, and every way out of the function
//! that it contains is rewritten to leave the block instead, so the outcome is still recorded:
//!
//! - `return e` becomes `break 'label e`;
//! - `e?` becomes a `match` on `AuditTry::audit_branch(e)` that breaks with
//!   `AuditFromResidual::audit_from_residual(residual)`, which is what `?` does on stable
//!   types (`Result` with `From` on the error, and `Option`).
//!
//! Closures, `async` blocks and nested items have their own `return` and `?` and are left
//! alone. A macro call's tokens are not expressions the macro can rewrite, so a `?` or
//! `return` inside one is a compile error pointing at it.

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::quote_spanned;
use syn::visit_mut::{self, VisitMut};
use syn::{Expr, Item, Lifetime, Macro};

/// Rewrites the exits of a body that runs in the block labelled `label`.
pub(crate) struct Exits<'a> {
    pub(crate) label: Lifetime,
    pub(crate) private: &'a TokenStream,
    pub(crate) errors: Vec<syn::Error>,
}

impl Exits<'_> {
    /// The body's label: hygienic, so it never meets a label of the user's.
    pub(crate) fn label() -> Lifetime {
        Lifetime::new("'audit_body", Span::mixed_site())
    }
}

impl VisitMut for Exits<'_> {
    fn visit_expr_mut(&mut self, e: &mut Expr) {
        if matches!(e, Expr::Closure(_) | Expr::Async(_)) {
            return;
        }
        visit_mut::visit_expr_mut(self, e);
        let label = &self.label;
        let private = self.private;
        match e {
            Expr::Return(r) => {
                let span = r.return_token.span;
                let value = match r.expr.take() {
                    Some(v) => quote_spanned!(span=> #v),
                    None => quote_spanned!(span=> ()),
                };
                *e = Expr::Verbatim(quote_spanned!(span=> break #label #value));
            }
            Expr::Try(t) => {
                let span = t.question_token.span;
                let inner = &t.expr;
                // Errors about the `?` (a type without `AuditTry`) point at it.
                let private = respan(private.clone(), span);
                let v = syn::Ident::new("audit_v", Span::mixed_site());
                let r = syn::Ident::new("audit_r", Span::mixed_site());
                *e = Expr::Verbatim(quote_spanned! {span=>
                    match #private::AuditTry::audit_branch(#inner) {
                        #private::core::ops::ControlFlow::Continue(#v) => #v,
                        #private::core::ops::ControlFlow::Break(#r) => {
                            break #label #private::AuditFromResidual::audit_from_residual(#r)
                        }
                    }
                });
            }
            _ => {}
        }
    }

    fn visit_item_mut(&mut self, _: &mut Item) {}

    fn visit_macro_mut(&mut self, m: &mut Macro) {
        if let Some(span) = first_exit(m.tokens.clone()) {
            self.errors.push(syn::Error::new(
                span,
                "`?` or `return` inside a macro call in a `#[track_caller]` audited function: \
                 the audit macro cannot rewrite it, and it would leave the function without \
                 recording the outcome; move it out of the macro call (for example \
                 `let value = expr?;` before it), or remove `#[track_caller]`",
            ));
        }
    }
}

/// `tokens` with every span set to `span`.
fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut t| {
            if let TokenTree::Group(g) = &t {
                let mut group = proc_macro2::Group::new(g.delimiter(), respan(g.stream(), span));
                group.set_span(span);
                t = TokenTree::Group(group);
            } else {
                t.set_span(span);
            }
            t
        })
        .collect()
}

/// The span of the first `?` or `return` in a macro call's tokens.
fn first_exit(tokens: TokenStream) -> Option<Span> {
    tokens.into_iter().find_map(|t| match t {
        TokenTree::Punct(p) if p.as_char() == '?' => Some(p.span()),
        TokenTree::Ident(i) if i == "return" => Some(i.span()),
        TokenTree::Group(g) => first_exit(g.stream()),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::{ToTokens, quote};

    fn rewrite(body: TokenStream) -> (String, usize) {
        let mut block: syn::Block = syn::parse2(body).unwrap();
        let private = quote!(P);
        let mut exits = Exits {
            label: Exits::label(),
            private: &private,
            errors: Vec::new(),
        };
        exits.visit_block_mut(&mut block);
        (block.to_token_stream().to_string(), exits.errors.len())
    }

    #[test]
    fn rewrites_returns_and_tries_but_not_in_closures_or_items() {
        let (out, errors) = rewrite(quote!({
            if a {
                return 1;
            }
            let x = f()?;
            let c = || {
                return g()?;
            };
            let fut = async {
                h()?;
                return 2;
            };
            fn inner() -> u8 {
                return 3;
            }
            loop {
                return;
            }
        }));
        assert_eq!(errors, 0);
        assert_eq!(out.matches("break 'audit_body").count(), 3, "{out}");
        assert_eq!(out.matches("audit_branch").count(), 1, "{out}");
        assert_eq!(out.matches("return").count(), 3, "{out}");
    }

    #[test]
    fn exits_inside_macro_calls_are_errors() {
        assert_eq!(
            rewrite(quote!({
                println!("{}", f()?);
            }))
            .1,
            1
        );
        assert_eq!(
            rewrite(quote!({
                vec![if a { return } else { 1 }];
            }))
            .1,
            1
        );
        assert_eq!(
            rewrite(quote!({
                println!("{:?}", x);
            }))
            .1,
            0
        );
        assert_eq!(
            rewrite(quote!({
                macro_rules! m {
                    ($e:expr) => {
                        $e?
                    };
                }
            }))
            .1,
            0
        );
    }
}
