//! Parsing the attribute's arguments.
//!
//! Grammar (comma separated, any order, each key at most once):
//!
//! ```text
//! name = "loan.approve"
//! model = "credit-scorer"            model_version = "2.3.1" | CONST | expr
//! prompt = "..."   prompt_version = ...      policy = "..."   policy_version = ...
//! feature_set = "..."  feature_set_version = ...   reference_data = "..."  reference_data_version = ...
//! unversioned = "why no versioned artifact applies"
//! capture(a, b)   capture_all   hash_only(c)   skip(d)
//! output = status | capture | hash_only
//! result = true | false              (override `Result` detection)
//! rationale = |ret| ...              (closure over `&ReturnType`)
//! session = expr                     (a session / conversation id, `Display`)
//! side_effect = none | read | write | irreversible     (tools)
//! started | started = true | false
//! redact(applicant.email = mask(4), applicant.ssn = erase, notes[] = hash, output.card = digest)
//! crate = ::path::to::audit_runtime
//! ```
//!
//! Every error is collected (see [`crate::Errors`]) so one run of the compiler reports them all.

use proc_macro2::{Span, TokenStream};
use syn::ext::IdentExt;
use syn::parse::{ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::{Expr, Ident, LitBool, LitStr, Path, Token};

use crate::Errors;

pub(crate) use crate::grammar::{KEYS, ROLES};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum OutputMode {
    Status,
    Capture,
    HashOnly,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum SideEffect {
    None,
    Read,
    Write,
    Irreversible,
}

/// A version value: a literal known at compile time, or an expression evaluated per call.
pub(crate) enum VersionValue {
    Literal(LitStr),
    Expr(Box<Expr>),
}

/// A redaction action.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum RedactAction {
    Erase,
    Mask(u8),
    Hash,
    Digest,
}

/// One `path = action` inside `redact(..)`.
///
/// The path is parsed from tokens here, once; the macros read its `root`, and the generated
/// `RedactSpec` carries its text, which the runtime's `FieldPath::parse`
/// (`audit-runtime/src/redact/paths.rs`) reads back at install time. So that the two readings
/// agree, only segments the text form can spell are accepted (see `quoted_key`).
pub(crate) struct RedactRule {
    /// The first segment: a parameter name or `output`.
    pub(crate) root: Ident,
    /// The whole path as text (`applicant.phones[]`), in the runtime's path grammar.
    pub(crate) path: String,
    pub(crate) action: RedactAction,
}

/// A quoted path segment (`."e-mail"`), checked to read back as the one key it names: the
/// runtime splits the text at `.` and `[`, and reads a segment `*` as "every member".
fn quoted_key(lit: &LitStr) -> syn::Result<String> {
    let key = lit.value();
    if key.is_empty() || key == "*" || key.contains(['.', '[', ']']) {
        return Err(syn::Error::new(
            lit.span(),
            format!(
                "the key {:?} cannot be a redaction path segment: a quoted key must not be \
                 empty or `*`, nor contain `.`, `[` or `]`",
                key
            ),
        ));
    }
    Ok(key)
}

pub(crate) struct VersionDecl {
    pub(crate) role_variant: &'static str,
    pub(crate) name: LitStr,
    pub(crate) version: Option<VersionValue>,
}

#[derive(Default)]
pub(crate) struct Args {
    pub(crate) name: Option<LitStr>,
    pub(crate) artifact_names: Vec<(usize, LitStr)>,
    pub(crate) artifact_versions: Vec<(usize, Ident, VersionValue)>,
    pub(crate) unversioned: Option<LitStr>,
    pub(crate) capture: Vec<Ident>,
    pub(crate) capture_all: Option<Ident>,
    pub(crate) hash_only: Vec<Ident>,
    pub(crate) skip: Vec<Ident>,
    pub(crate) output: Option<(Ident, OutputMode)>,
    pub(crate) result: Option<LitBool>,
    pub(crate) rationale: Option<Expr>,
    pub(crate) session: Option<Expr>,
    pub(crate) side_effect: Option<(Ident, SideEffect)>,
    pub(crate) started: Option<bool>,
    pub(crate) redact: Vec<RedactRule>,
    pub(crate) krate: Option<Path>,
    /// Keys seen, for duplicate detection.
    seen: Vec<String>,
}

impl Args {
    /// The declared versioned artifacts, pairing names and versions; errors for a version
    /// without a name.
    pub(crate) fn versions(&self, errors: &mut Errors) -> Vec<VersionDecl> {
        let mut out = Vec::new();
        for (role, (_, _, variant)) in ROLES.iter().enumerate() {
            let name = self
                .artifact_names
                .iter()
                .find(|(r, _)| *r == role)
                .map(|(_, n)| n);
            let version = self.artifact_versions.iter().find(|(r, _, _)| *r == role);
            match (name, version) {
                (Some(name), v) => out.push(VersionDecl {
                    role_variant: variant,
                    name: name.clone(),
                    version: v.map(|(_, _, v)| match v {
                        VersionValue::Literal(l) => VersionValue::Literal(l.clone()),
                        VersionValue::Expr(e) => VersionValue::Expr(e.clone()),
                    }),
                }),
                (None, Some((_, key, _))) => errors.push(syn::Error::new(
                    key.span(),
                    format!(
                        "`{key}` needs the artifact's name too: add `{} = \"...\"`",
                        ROLES[role].0
                    ),
                )),
                (None, None) => {}
            }
        }
        out
    }
}

fn parse_list(input: ParseStream<'_>) -> syn::Result<Vec<Ident>> {
    let content;
    syn::parenthesized!(content in input);
    let list = Punctuated::<Ident, Token![,]>::parse_terminated_with(&content, Ident::parse_any)?;
    if list.is_empty() {
        return Err(content.error("expected at least one parameter name"));
    }
    Ok(list.into_iter().collect())
}

/// `root(.seg | .* | [] | .0)* = erase | mask | mask(N) | hash | digest`
fn parse_redact_rule(input: ParseStream<'_>) -> syn::Result<RedactRule> {
    let root = Ident::parse_any(input)?;
    let mut path = root.to_string();
    let mut bad_key = None;
    loop {
        if input.peek(Token![.]) {
            input.parse::<Token![.]>()?;
            if input.peek(Token![*]) {
                input.parse::<Token![*]>()?;
                path.push_str(".*");
            } else if input.peek(syn::LitInt) {
                let i: syn::LitInt = input.parse()?;
                path.push('.');
                path.push_str(&i.to_string());
            } else if input.peek(LitStr) {
                // A map key or serialized name that is not an identifier: `.\"e-mail\"`.
                let l: LitStr = input.parse()?;
                path.push('.');
                // An unusable key is reported after the rest of the rule is read, so the
                // error is not followed by one about the tokens left unread.
                match quoted_key(&l) {
                    Ok(key) => path.push_str(&key),
                    Err(e) => {
                        bad_key.get_or_insert(e);
                    }
                }
            } else {
                let seg = Ident::parse_any(input).map_err(|e| {
                    syn::Error::new(
                        e.span(),
                        "expected a field name, `*` or a quoted key after `.`",
                    )
                })?;
                path.push('.');
                path.push_str(seg.to_string().trim_start_matches("r#"));
            }
        } else if input.peek(syn::token::Bracket) {
            let content;
            syn::bracketed!(content in input);
            if !content.is_empty() {
                return Err(content.error("write `[]` for every element of a sequence"));
            }
            path.push_str("[]");
        } else {
            break;
        }
    }
    if !input.peek(Token![=]) {
        return Err(input.error(format!(
            "expected `= erase | mask(N) | hash | digest` after the path `{path}`"
        )));
    }
    input.parse::<Token![=]>()?;
    let action_id = Ident::parse_any(input)?;
    let action = match action_id.to_string().as_str() {
        "erase" => RedactAction::Erase,
        "hash" => RedactAction::Hash,
        "digest" => RedactAction::Digest,
        "mask" => {
            if input.peek(syn::token::Paren) {
                let content;
                syn::parenthesized!(content in input);
                let n: syn::LitInt = content.parse()?;
                let keep = n.base10_parse::<u8>().map_err(|_| {
                    syn::Error::new(
                        n.span(),
                        "mask(N) keeps N trailing characters visible; N must be 0..=255",
                    )
                })?;
                RedactAction::Mask(keep)
            } else {
                RedactAction::Mask(0)
            }
        }
        _ => {
            return Err(syn::Error::new(
                action_id.span(),
                "unknown redaction action; expected `erase`, `mask`, `mask(N)`, `hash` or `digest`",
            ));
        }
    };
    if let Some(e) = bad_key {
        return Err(e);
    }
    Ok(RedactRule { root, path, action })
}

fn parse_lit_str(input: ParseStream<'_>, key: &Ident, example: &str) -> syn::Result<LitStr> {
    input.parse::<LitStr>().map_err(|e| {
        syn::Error::new(
            e.span(),
            format!("`{key}` takes a string literal, e.g. `{key} = {example}`"),
        )
    })
}

fn parse_ident_choice<T: Copy>(
    input: ParseStream<'_>,
    key: &Ident,
    choices: &[(&str, T)],
) -> syn::Result<(Ident, T)> {
    let names: Vec<&str> = choices.iter().map(|(n, _)| *n).collect();
    let expected = || format!("`{key}` must be one of: {}", names.join(", "));
    let ident = Ident::parse_any(input).map_err(|e| syn::Error::new(e.span(), expected()))?;
    match choices.iter().find(|(n, _)| ident == *n) {
        Some((_, v)) => Ok((ident, *v)),
        None => Err(syn::Error::new(ident.span(), expected())),
    }
}

/// Skip to just past the next top-level comma (error recovery).
fn skip_to_comma(input: ParseStream<'_>) {
    while !input.is_empty() && !input.peek(Token![,]) {
        let _ = input.parse::<proc_macro2::TokenTree>();
    }
    let _ = input.parse::<Option<Token![,]>>();
}

fn parse_one(args: &mut Args, input: ParseStream<'_>, errors: &mut Errors) -> syn::Result<()> {
    let key = Ident::parse_any(input)?;
    let key_str = key.to_string();
    if !KEYS.contains(&key_str.as_str()) {
        let hint = suggest(&key_str)
            .map(|s| format!("; did you mean `{s}`?"))
            .unwrap_or_default();
        return Err(syn::Error::new(
            key.span(),
            format!(
                "unknown audit option `{key_str}`{hint} (known options: {})",
                KEYS.join(", ")
            ),
        ));
    }
    if args.seen.contains(&key_str) {
        errors.push(syn::Error::new(
            key.span(),
            format!("`{key_str}` is given more than once"),
        ));
    }
    args.seen.push(key_str.clone());

    if key_str == "redact" {
        if !input.peek(syn::token::Paren) {
            return Err(syn::Error::new(
                key.span(),
                "`redact` takes a list of rules, e.g. `redact(applicant.email = mask(4), applicant.ssn = erase)`",
            ));
        }
        let content;
        syn::parenthesized!(content in input);
        let rules = Punctuated::<RedactRule, Token![,]>::parse_terminated_with(
            &content,
            parse_redact_rule,
        )?;
        if rules.is_empty() {
            return Err(syn::Error::new(
                key.span(),
                "`redact(..)` needs at least one rule",
            ));
        }
        args.redact = rules.into_iter().collect();
        return Ok(());
    }
    let takes_list = matches!(key_str.as_str(), "capture" | "hash_only" | "skip");
    let is_flag = matches!(key_str.as_str(), "capture_all" | "started");
    if takes_list {
        if !input.peek(syn::token::Paren) {
            return Err(syn::Error::new(
                key.span(),
                format!(
                    "`{key_str}` takes a list of parameter names, e.g. `{key_str}(applicant, amount)`"
                ),
            ));
        }
        let list = parse_list(input)?;
        match key_str.as_str() {
            "capture" => args.capture = list,
            "hash_only" => args.hash_only = list,
            _ => args.skip = list,
        }
        return Ok(());
    }
    if is_flag && !input.peek(Token![=]) {
        match key_str.as_str() {
            "capture_all" => args.capture_all = Some(key),
            _ => args.started = Some(true),
        }
        return Ok(());
    }
    if !input.peek(Token![=]) {
        return Err(syn::Error::new(
            key.span(),
            format!("expected `{key_str} = ...`"),
        ));
    }
    input.parse::<Token![=]>()?;
    match key_str.as_str() {
        "name" => args.name = Some(parse_lit_str(input, &key, "\"loan.approve\"")?),
        "unversioned" => {
            let lit = parse_lit_str(input, &key, "\"rule-based, no model or policy artifact\"")?;
            if lit.value().trim().is_empty() {
                return Err(syn::Error::new(
                    lit.span(),
                    "`unversioned` needs a reason, not an empty string",
                ));
            }
            args.unversioned = Some(lit);
        }
        "capture_all" => {
            return Err(syn::Error::new(
                key.span(),
                "`capture_all` is a flag: write `capture_all`, not `capture_all = ...`",
            ));
        }
        "started" => {
            let b: LitBool = input.parse().map_err(|e| {
                syn::Error::new(
                    e.span(),
                    "`started` takes `true` or `false` (or write just `started`)",
                )
            })?;
            args.started = Some(b.value);
        }
        "output" => {
            args.output = Some(parse_ident_choice(
                input,
                &key,
                &[
                    ("status", OutputMode::Status),
                    ("capture", OutputMode::Capture),
                    ("hash_only", OutputMode::HashOnly),
                ],
            )?);
        }
        "side_effect" => {
            args.side_effect = Some(parse_ident_choice(
                input,
                &key,
                &[
                    ("none", SideEffect::None),
                    ("read", SideEffect::Read),
                    ("write", SideEffect::Write),
                    ("irreversible", SideEffect::Irreversible),
                ],
            )?);
        }
        "result" => {
            args.result = Some(
                input
                    .parse::<LitBool>()
                    .map_err(|e| syn::Error::new(e.span(), "`result` takes `true` or `false`"))?,
            );
        }
        "rationale" => args.rationale = Some(input.parse()?),
        "session" => args.session = Some(input.parse()?),
        "crate" => args.krate = Some(input.call(Path::parse_mod_style)?),
        other => {
            if let Some(role) = ROLES.iter().position(|(n, _, _)| *n == other) {
                let example = format!("\"{}-name\"", ROLES[role].0.replace('_', "-"));
                args.artifact_names
                    .push((role, parse_lit_str(input, &key, &example)?));
            } else if let Some(role) = ROLES.iter().position(|(_, v, _)| *v == other) {
                let value = if input.peek(LitStr) {
                    VersionValue::Literal(input.parse()?)
                } else {
                    VersionValue::Expr(Box::new(input.parse()?))
                };
                args.artifact_versions.push((role, key, value));
            }
        }
    }
    Ok(())
}

fn suggest(key: &str) -> Option<&'static str> {
    let aliases: &[(&str, &str)] = &[
        ("version", "model_version"),
        ("model_name", "model"),
        ("policy_name", "policy"),
        ("prompt_name", "prompt"),
        ("captures", "capture"),
        ("capture_args", "capture"),
        ("hash", "hash_only"),
        ("digest", "hash_only"),
        ("ignore", "skip"),
        ("ret", "output"),
        ("returns", "output"),
        ("reason", "rationale"),
        ("explanation", "rationale"),
        ("side_effects", "side_effect"),
        ("effect", "side_effect"),
        ("no_versions", "unversioned"),
        ("session_id", "session"),
    ];
    if let Some((_, s)) = aliases.iter().find(|(a, _)| *a == key) {
        return Some(s);
    }
    KEYS.iter().copied().find(|k| edit_distance(k, key) <= 2)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Parse the arguments, collecting every error; always returns what could be understood.
pub(crate) fn parse(tokens: TokenStream, errors: &mut Errors) -> Args {
    let mut args = Args::default();
    let parser = |input: ParseStream<'_>| -> syn::Result<()> {
        while !input.is_empty() {
            if let Err(e) = parse_one(&mut args, input, errors) {
                errors.push(e);
                skip_to_comma(input);
                continue;
            }
            if input.is_empty() {
                break;
            }
            if let Err(e) = input.parse::<Token![,]>() {
                errors.push(syn::Error::new(
                    e.span(),
                    "expected `,` between audit options",
                ));
                skip_to_comma(input);
            }
        }
        Ok(())
    };
    if let Err(e) = parser.parse2(tokens) {
        errors.push(e);
    }
    args
}

/// A span for errors about the attribute as a whole.
pub(crate) fn call_site() -> Span {
    Span::call_site()
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn parse_ok(t: TokenStream) -> Args {
        let mut e = Errors::default();
        let a = parse(t, &mut e);
        assert!(e.is_empty(), "unexpected errors: {:?}", e.messages());
        a
    }

    fn parse_err(t: TokenStream) -> Vec<String> {
        let mut e = Errors::default();
        let _ = parse(t, &mut e);
        e.messages()
    }

    #[test]
    fn full_grammar() {
        let a = parse_ok(quote!(
            name = "loan.approve",
            model = "credit-scorer",
            model_version = "2.3.1",
            policy = "lending",
            policy_version = POLICY_VERSION,
            capture(applicant, amount),
            hash_only(document),
            output = capture,
            result = true,
            rationale = |r| "x",
            session = ctx.session(),
            side_effect = read,
            started,
            crate = ::my::audit
        ));
        assert_eq!(a.name.as_ref().unwrap().value(), "loan.approve");
        assert_eq!(a.capture.len(), 2);
        assert_eq!(a.hash_only.len(), 1);
        assert!(matches!(a.output, Some((_, OutputMode::Capture))));
        assert!(a.krate.is_some());
        assert_eq!(a.started, Some(true));
        let mut e = Errors::default();
        let v = a_versions(&a, &mut e);
        assert_eq!(v, vec!["Model", "Policy"]);
    }

    fn a_versions(a: &Args, e: &mut Errors) -> Vec<&'static str> {
        a.versions(e).into_iter().map(|d| d.role_variant).collect()
    }

    #[test]
    fn all_errors_reported_together() {
        let msgs = parse_err(quote!(
            nmae = "x",
            output = everything,
            capture = a,
            result = 3
        ));
        assert_eq!(msgs.len(), 4, "{msgs:?}");
        assert!(msgs[0].contains("did you mean `name`"), "{msgs:?}");
        assert!(
            msgs[1].contains("must be one of: status, capture, hash_only"),
            "{msgs:?}"
        );
        assert!(
            msgs[2].contains("takes a list of parameter names"),
            "{msgs:?}"
        );
        assert!(
            msgs[3].contains("`result` takes `true` or `false`"),
            "{msgs:?}"
        );
    }

    #[test]
    fn version_without_name_is_an_error() {
        let a = parse_ok(quote!(model_version = "1"));
        let mut e = Errors::default();
        assert!(a.versions(&mut e).is_empty());
        assert!(e.messages()[0].contains("add `model = \"...\"`"));
    }

    #[test]
    fn duplicates_and_empty_reason() {
        let msgs = parse_err(quote!(name = "a", name = "b", unversioned = ""));
        assert!(
            msgs.iter().any(|m| m.contains("more than once")),
            "{msgs:?}"
        );
        assert!(
            msgs.iter().any(|m| m.contains("needs a reason")),
            "{msgs:?}"
        );
    }

    #[test]
    fn redact_paths() {
        let a = parse_ok(
            quote!(redact(applicant.email = mask(4), applicant.phones[] = hash, m.* = erase, output.card = digest, x."e-mail" = erase)),
        );
        let paths: Vec<_> = a
            .redact
            .iter()
            .map(|r| (r.path.clone(), r.action))
            .collect();
        assert_eq!(
            paths,
            vec![
                ("applicant.email".to_owned(), RedactAction::Mask(4)),
                ("applicant.phones[]".to_owned(), RedactAction::Hash),
                ("m.*".to_owned(), RedactAction::Erase),
                ("output.card".to_owned(), RedactAction::Digest),
                ("x.e-mail".to_owned(), RedactAction::Erase),
            ]
        );
        let msgs = parse_err(quote!(redact(a.b = shred)));
        assert!(msgs[0].contains("unknown redaction action"), "{msgs:?}");
        let msgs = parse_err(quote!(redact(a.b)));
        assert!(msgs[0].contains("expected `= erase"), "{msgs:?}");
    }

    #[test]
    fn quoted_keys_read_back_as_one_key() {
        // The runtime splits the path text at `.` and `[` and reads `*` as a wildcard: a quoted
        // key that would read back differently is refused here, not mis-applied at run time.
        for key in [
            quote!("a.b"),
            quote!("a[]"),
            quote!("x]"),
            quote!("*"),
            quote!(""),
        ] {
            let msgs = parse_err(quote!(redact(p.#key = erase)));
            assert_eq!(msgs.len(), 1, "{key}: {msgs:?}");
            assert!(
                msgs[0].contains("cannot be a redaction path segment"),
                "{key}: {msgs:?}"
            );
        }
        let a = parse_ok(quote!(redact(p."a*b" = erase, p."e-mail".x = hash)));
        let paths: Vec<_> = a.redact.iter().map(|r| r.path.as_str()).collect();
        assert_eq!(paths, vec!["p.a*b", "p.e-mail.x"]);
    }

    #[test]
    fn suggestions() {
        assert_eq!(suggest("captur"), Some("capture"));
        assert_eq!(suggest("version"), Some("model_version"));
        assert_eq!(suggest("zzzzzz"), None);
    }
}
