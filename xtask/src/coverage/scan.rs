//! Static analysis of one source file with syn: every function with the facts the rules need.
//!
//! What must hold:
//! - A file the parser cannot read yields a [`FileScan`] with `parse_error` set, never a panic
//!   or an abort of the whole scan: one broken file must not hide the coverage of the others.
//!   So does a file whose syntax tree could be too deep for the scan's stack ([`super::nesting`]),
//!   which is checked before syn, whose parser, walk and drop recurse, sees it.
//! - Attribute paths are resolved through the file's `use` items before they are classified, so
//!   `use audit_runtime::audited_tool as tool; #[tool]`, `#[audit_runtime::audited_decision]`,
//!   `use audit_runtime as audit; #[audit::audited_agent]` and a Cargo-renamed dependency are
//!   all recognised as audited.
//! - Attribute options are parsed leniently (unknown keys are kept, not rejected): the compiler
//!   already checks the grammar, and the scanner must not break when the macros gain options.
//! - Everything produced here is plain data (`Send`): syn's trees are not, so each file is parsed
//!   and reduced on a thread of its own ([`SCAN_STACK_BYTES`] of stack), which returns the data.
//!
//! The facts are matched against the configured rules later ([`super::analyze`]), because the
//! `self.client.chat()` rule needs struct field types from every file of the crate.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use proc_macro2::{Delimiter, Span, TokenStream, TokenTree};
use quote::ToTokens;
use syn::spanned::Spanned;
use syn::visit::Visit;

use super::nesting;

/// The five attributes of `audit-macros`, with the point kind each declares.
pub const AUDIT_ATTRS: &[(&str, &str)] = &[
    ("audited_agent", "agent_run"),
    ("audited_decision", "decision"),
    ("audited_tool", "tool"),
    ("audited_model_call", "model_call"),
    ("audited_policy_check", "policy_check"),
];

/// A module declared with `mod name;` whose file must be scanned next.
#[derive(Debug, Clone)]
pub struct ChildModule {
    /// The file, when one of the candidate paths exists.
    pub file: Option<PathBuf>,
    /// The paths that were tried (for the "not found" message).
    pub tried: Vec<PathBuf>,
    /// Full module path (`crate_ident::a::b`).
    pub module: String,
    /// Directory where the child's own `mod x;` files live.
    pub mod_dir: PathBuf,
    /// `cfg` predicates in force.
    pub cfg: Vec<String>,
    /// Whether the module is test-only.
    pub in_test: bool,
    /// Line of the `mod` item.
    pub line: u32,
}

/// A resolved path, segment by segment (`["audit_runtime", "audited_tool"]`).
pub type PathSegs = Vec<String>;

/// How a function reaches a value whose type may be a configured LLM client.
#[derive(Debug, Clone, PartialEq)]
pub enum Via {
    /// A method call on a value of one of these types, or an associated function call
    /// (`Client::new`) on the type.
    Type(Vec<PathSegs>),
    /// A method call on field `field` of a value of one of the `owner` types.
    Field { owner: Vec<PathSegs>, field: String },
}

/// One call the client rule may care about.
#[derive(Debug, Clone, PartialEq)]
pub struct CallFact {
    /// How the callee's receiver type is known.
    pub via: Via,
    /// The method or associated function name.
    pub method: String,
}

/// One parameter of a function.
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    /// Its name (`self` for receivers, `_` for patterns).
    pub name: String,
    /// Its type as written.
    pub ty: String,
    /// The paths named in the type, resolved.
    pub ty_paths: Vec<PathSegs>,
}

/// The audit attribute on a function, as written.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AuditAttr {
    /// The attribute path as written (`tool`, `audit_runtime::audited_decision`).
    pub written: String,
    /// The attribute it resolves to (`audited_tool`).
    pub resolved: String,
    /// The point kind (`decision`, `tool`, ...).
    pub kind: String,
    /// Line of the attribute.
    pub line: u32,
    /// The `cfg_attr` predicate when the attribute only applies under a cfg.
    pub cfg_attr: Option<String>,
    /// Options, leniently parsed: `(key, value)` where value is `None` for flags, the string
    /// value for string literals, the tokens for other values and the comma-separated items
    /// for lists.
    pub options: Vec<(String, OptValue)>,
}

/// One option value.
#[derive(Debug, Clone, PartialEq)]
pub enum OptValue {
    /// `capture_all`, `started`.
    Flag,
    /// `name = "x"`.
    Str(String),
    /// `model_version = MODEL_VERSION`, `output = capture`.
    Tokens(String),
    /// `capture(a, b)`, `redact(a.b = erase)`: the items, each as its text.
    List(Vec<String>),
}

/// An opt-out from coverage.
#[derive(Debug, Clone, PartialEq)]
pub struct Exemption {
    /// The reason given; `None` when it is missing (which is a finding, and no exemption).
    pub reason: Option<String>,
    /// `comment` or `attribute`.
    pub form: &'static str,
    /// Line of the comment or attribute.
    pub line: u32,
}

/// Every fact about one function.
#[derive(Debug, Clone, PartialEq)]
pub struct FnFacts {
    /// Full module path (`crate_ident::a::b`).
    pub module: String,
    /// Function name.
    pub function: String,
    /// The impl's self type (last segment), or the trait for trait default methods.
    pub self_type: Option<String>,
    /// The generic arguments of the impl's self type as written (`<A>` of `impl Agent<A>`),
    /// when it has any; they tell apart points whose ids would otherwise collide.
    pub self_generics: Option<String>,
    /// The generic arguments of the implemented trait (`<u8>` of `impl From<u8> for T`).
    pub trait_generics: Option<String>,
    /// Paths of the impl's self type (for `self.field` lookups).
    pub self_paths: Vec<PathSegs>,
    /// The implemented trait, resolved, for `impl Trait for T`.
    pub trait_path: Option<PathSegs>,
    /// Line of the `fn` name.
    pub line: u32,
    /// Line of the first attribute (or of `fn` when none): where an exemption comment ends.
    pub start_line: u32,
    /// Last line of the function.
    pub end_line: u32,
    /// The source line that declares the function, trimmed.
    pub signature: String,
    /// `async fn`.
    pub is_async: bool,
    /// Parameters.
    pub params: Vec<Param>,
    /// The return type as written (empty for `()`).
    pub output: String,
    /// The audit attribute, if any.
    pub audit: Option<AuditAttr>,
    /// An exemption comment or attribute.
    pub exemption: Option<Exemption>,
    /// Other attributes, resolved (`rig::tool`), for the foreign tool attribute rule.
    pub other_attrs: Vec<PathSegs>,
    /// Calls that might reach an LLM client.
    pub calls: Vec<CallFact>,
    /// `cfg` predicates in force (enclosing modules, impl, function).
    pub cfg: Vec<String>,
}

/// A struct's named fields with the paths of their types.
#[derive(Debug, Clone)]
pub struct StructFacts {
    /// Struct name.
    pub name: String,
    /// Fields.
    pub fields: Vec<(String, Vec<PathSegs>)>,
}

/// Where the parser gave up.
#[derive(Debug, Clone, PartialEq)]
pub struct ParseFailure {
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub column: u32,
    /// syn's message.
    pub message: String,
}

/// The result of scanning one file.
#[derive(Debug, Clone, Default)]
pub struct FileScan {
    /// Functions.
    pub fns: Vec<FnFacts>,
    /// Structs.
    pub structs: Vec<StructFacts>,
    /// `mod x;` declarations to follow.
    pub children: Vec<ChildModule>,
    /// Set when the file could not be read or parsed.
    pub parse_error: Option<ParseFailure>,
    /// Number of lines.
    pub lines: usize,
}

/// The context a file is scanned in.
#[derive(Debug, Clone)]
pub struct FileCtx<'a> {
    /// Module path of the file (`crate_ident::a`).
    pub module: String,
    /// Directory of the file's child module files.
    pub mod_dir: PathBuf,
    /// cfg predicates in force.
    pub cfg: Vec<String>,
    /// Names under which the audit macros are reachable (`audit_runtime`, renames).
    pub macro_crates: &'a [String],
    /// Scan `#[cfg(test)]` code and `#[test]` functions too.
    pub include_tests: bool,
}

/// Read and scan one file.
pub fn scan_file(path: &Path, ctx: &FileCtx<'_>) -> FileScan {
    match std::fs::read_to_string(path) {
        Ok(text) => scan_source(&text, path, ctx),
        Err(e) => FileScan {
            parse_error: Some(ParseFailure {
                line: 0,
                column: 0,
                message: format!("cannot read: {e}"),
            }),
            ..FileScan::default()
        },
    }
}

/// The stack each file is scanned on. syn recurses once per syntax level while parsing,
/// visiting and dropping; [`nesting::MAX_NESTING`] levels at the worst stack use measured per
/// level fit in it with room to spare (the arithmetic is in [`nesting`]). Only the pages a scan
/// touches are ever committed, so a shallow file costs no more than on a default thread.
pub const SCAN_STACK_BYTES: usize = 512 << 20;

/// Scan source text (`path` locates `#[path]` modules).
///
/// Never aborts and never panics: the file is parsed and walked on a thread of its own with
/// [`SCAN_STACK_BYTES`] of stack, after a non-recursive check that its syntax tree cannot be
/// deeper than that stack holds ([`nesting::nesting_bound`]); where the system refuses that
/// stack, on an eighth of it with an eighth of the limit. A file over the bound, a scan thread
/// that cannot start, and a panic in the scan all end in `parse_error`, which the report lists
/// and counts like any file that does not parse.
pub fn scan_source(text: &str, path: &Path, ctx: &FileCtx<'_>) -> FileScan {
    let failed = |line: u32, message: String| FileScan {
        lines: text.lines().count(),
        parse_error: Some(ParseFailure {
            line,
            column: 1,
            message,
        }),
        ..FileScan::default()
    };
    // Where a 512 MiB reservation is refused (a low `ulimit -v`), an eighth of it with an eighth
    // of the limit keeps the same margin.
    let mut last_error = None;
    for (stack, limit) in [
        (SCAN_STACK_BYTES, nesting::MAX_NESTING),
        (SCAN_STACK_BYTES / 8, nesting::MAX_NESTING / 8),
    ] {
        let scanned = std::thread::scope(|s| {
            std::thread::Builder::new()
                .name("coverage-scan".to_owned())
                .stack_size(stack)
                .spawn_scoped(s, || scan_bounded(text, path, ctx, limit))
                .map(|handle| {
                    handle.join().unwrap_or_else(|_| {
                        failed(
                            0,
                            "the scanner panicked on this file (a bug: please report it)"
                                .to_owned(),
                        )
                    })
                })
        });
        match scanned {
            Ok(scan) => return scan,
            Err(e) => last_error = Some(e),
        }
    }
    failed(
        0,
        format!(
            "cannot start a scan thread: {}",
            last_error.map(|e| e.to_string()).unwrap_or_default()
        ),
    )
}

fn scan_bounded(text: &str, path: &Path, ctx: &FileCtx<'_>, limit: u64) -> FileScan {
    // The lexer (proc-macro2) and the drop of its tokens do not recurse; syn does. A file that
    // does not lex gets syn's own error below.
    for candidate in syn_inputs(text) {
        let Ok(tokens) = candidate.parse::<TokenStream>() else {
            continue;
        };
        let n = nesting::nesting_bound(tokens, limit);
        if n.bound > limit {
            return FileScan {
                lines: text.lines().count(),
                parse_error: Some(ParseFailure {
                    line: u32::try_from(n.line).unwrap_or(u32::MAX),
                    column: 1,
                    message: format!(
                        "too deep to scan: the syntax here may nest more than {} levels (brackets, \
                         or a chain of operators, calls or casts without brackets); split the \
                         expression or move it to a file the scan excludes",
                        limit
                    ),
                }),
                ..FileScan::default()
            };
        }
    }
    scan_parsed(text, path, ctx)
}

/// The texts `syn::parse_file` may hand its lexer: it drops a byte-order mark, then a first line
/// `#!…` unless what follows `#!` (after whitespace and comments) is `[`. Both readings of a
/// `#!` line are returned, so the check covers whichever syn takes.
fn syn_inputs(text: &str) -> Vec<&str> {
    let content = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out = vec![content];
    if content.starts_with("#!") {
        out.push(content.find('\n').map_or("", |i| &content[i..]));
    }
    out
}

fn scan_parsed(text: &str, path: &Path, ctx: &FileCtx<'_>) -> FileScan {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = FileScan {
        lines: lines.len(),
        ..FileScan::default()
    };
    let file = match syn::parse_file(text) {
        Ok(f) => f,
        Err(e) => {
            let start = e.span().start();
            out.parse_error = Some(ParseFailure {
                line: u32::try_from(start.line).unwrap_or(u32::MAX),
                column: u32::try_from(start.column + 1).unwrap_or(u32::MAX),
                message: match e.to_string() {
                    // proc-macro2's lexer error carries no detail; say what it means.
                    m if m == "cannot parse string into token stream" => {
                        "cannot tokenize the file: an unbalanced delimiter, or an invalid token, after this point".to_owned()
                    }
                    m => m,
                },
            });
            return out;
        }
    };
    let mut cfg = ctx.cfg.clone();
    let mut in_test = false;
    for a in &file.attrs {
        if let Some(c) = cfg_of(a) {
            in_test |= is_test_cfg(&c);
            cfg.push(c);
        }
    }
    if in_test && !ctx.include_tests {
        return out;
    }
    let file_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut scanner = Scanner {
        ctx,
        lines: &lines,
        file_dir,
        out: &mut out,
    };
    let module = ModCtx {
        module: ctx.module.clone(),
        mod_dir: ctx.mod_dir.clone(),
        cfg,
    };
    scanner.items(&file.items, &module);
    out
}

struct ModCtx {
    module: String,
    mod_dir: PathBuf,
    cfg: Vec<String>,
}

/// The `use` items of one module: alias to full path, plus glob prefixes.
#[derive(Default)]
struct UseMap {
    names: HashMap<String, PathSegs>,
}

impl UseMap {
    fn collect(items: &[syn::Item]) -> UseMap {
        let mut map = UseMap::default();
        for item in items {
            if let syn::Item::Use(u) = item {
                map.tree(&u.tree, Vec::new());
            }
        }
        map
    }

    fn tree(&mut self, t: &syn::UseTree, prefix: PathSegs) {
        match t {
            syn::UseTree::Path(p) => {
                let mut next = prefix;
                next.push(p.ident.to_string());
                self.tree(&p.tree, next);
            }
            syn::UseTree::Name(n) => {
                let name = n.ident.to_string();
                if name == "self" {
                    if let Some(last) = prefix.last() {
                        self.names.insert(last.clone(), prefix.clone());
                    }
                } else {
                    let mut full = prefix;
                    full.push(name.clone());
                    self.names.insert(name, full);
                }
            }
            syn::UseTree::Rename(r) => {
                let mut full = prefix;
                let name = r.ident.to_string();
                if name != "self" {
                    full.push(name);
                }
                self.names.insert(r.rename.to_string(), full);
            }
            syn::UseTree::Glob(_) => {}
            syn::UseTree::Group(g) => {
                for t in &g.items {
                    self.tree(t, prefix.clone());
                }
            }
        }
    }
}

struct Resolver<'a> {
    uses: &'a UseMap,
    macro_crates: &'a [String],
    /// Generic parameters in scope, with the paths of their bounds.
    generics: HashMap<String, Vec<PathSegs>>,
}

impl Resolver<'_> {
    fn path(&self, p: &syn::Path) -> PathSegs {
        let segs: PathSegs = p.segments.iter().map(|s| s.ident.to_string()).collect();
        self.segs(segs)
    }

    fn segs(&self, segs: PathSegs) -> PathSegs {
        let mut out = match segs.first().and_then(|f| self.uses.names.get(f)) {
            Some(full) => {
                let mut v = full.clone();
                v.extend(segs.iter().skip(1).cloned());
                v
            }
            None => segs,
        };
        if let Some(first) = out.first_mut()
            && self.macro_crates.iter().any(|m| m == first)
        {
            "audit_runtime".clone_into(first);
        }
        out
    }

    /// Every path named in a type, resolved; a generic parameter stands for its bounds.
    fn type_paths(&self, ty: &syn::Type) -> Vec<PathSegs> {
        struct Collect<'r, 'a> {
            r: &'r Resolver<'a>,
            out: Vec<PathSegs>,
        }
        impl<'ast> Visit<'ast> for Collect<'_, '_> {
            fn visit_path(&mut self, p: &'ast syn::Path) {
                if p.segments.len() == 1
                    && let Some(b) = self.r.generics.get(&p.segments[0].ident.to_string())
                {
                    self.out.extend(b.iter().cloned());
                }
                self.out.push(self.r.path(p));
                syn::visit::visit_path(self, p);
            }
        }
        let mut c = Collect {
            r: self,
            out: Vec::new(),
        };
        c.visit_type(ty);
        c.out
    }

    fn with_generics(&self, g: &syn::Generics) -> HashMap<String, Vec<PathSegs>> {
        let mut map = self.generics.clone();
        let bound_paths =
            |bounds: &mut dyn Iterator<Item = &syn::TypeParamBound>| -> Vec<PathSegs> {
                bounds
                    .filter_map(|b| match b {
                        syn::TypeParamBound::Trait(t) => Some(self.path(&t.path)),
                        _ => None,
                    })
                    .collect()
            };
        for p in &g.params {
            if let syn::GenericParam::Type(t) = p {
                let v = bound_paths(&mut t.bounds.iter());
                map.entry(t.ident.to_string()).or_default().extend(v);
            }
        }
        if let Some(w) = &g.where_clause {
            for pred in &w.predicates {
                if let syn::WherePredicate::Type(pt) = pred
                    && let syn::Type::Path(tp) = &pt.bounded_ty
                    && tp.path.segments.len() == 1
                {
                    let v = bound_paths(&mut pt.bounds.iter());
                    map.entry(tp.path.segments[0].ident.to_string())
                        .or_default()
                        .extend(v);
                }
            }
        }
        map
    }
}

fn line_of(span: Span) -> u32 {
    u32::try_from(span.start().line).unwrap_or(u32::MAX)
}

fn end_line_of(span: Span) -> u32 {
    u32::try_from(span.end().line).unwrap_or(u32::MAX)
}

/// The predicate of a `#[cfg(..)]` attribute, as text.
fn cfg_of(a: &syn::Attribute) -> Option<String> {
    match &a.meta {
        syn::Meta::List(l) if l.path.is_ident("cfg") => Some(l.tokens.to_string()),
        _ => None,
    }
}

fn is_test_cfg(pred: &str) -> bool {
    pred == "test"
}

/// Split a token stream at top-level commas.
fn split_commas(ts: TokenStream) -> Vec<Vec<TokenTree>> {
    let mut out = vec![Vec::new()];
    for tt in ts {
        match &tt {
            TokenTree::Punct(p) if p.as_char() == ',' => out.push(Vec::new()),
            _ => {
                if let Some(last) = out.last_mut() {
                    last.push(tt);
                }
            }
        }
    }
    out.retain(|v| !v.is_empty());
    out
}

fn tokens_text(tts: &[TokenTree]) -> String {
    tts.iter().cloned().collect::<TokenStream>().to_string()
}

/// Text of a list item, with the spaces the tokenizer adds around `.` and `::` removed, so
/// `applicant . ssn = erase` reads `applicant.ssn = erase`.
fn compact(text: &str) -> String {
    text.replace(" . ", ".")
        .replace(" :: ", "::")
        .replace(" (", "(")
        .replace("( ", "(")
        .replace(" )", ")")
}

/// Parse audit attribute options leniently.
pub fn parse_options(ts: TokenStream) -> Vec<(String, OptValue)> {
    let mut out = Vec::new();
    for piece in split_commas(ts) {
        let mut it = piece.iter();
        let Some(TokenTree::Ident(key)) = it.next() else {
            continue;
        };
        let key = key.to_string();
        let rest: Vec<TokenTree> = it.cloned().collect();
        let value = match rest.first() {
            None => OptValue::Flag,
            Some(TokenTree::Punct(p)) if p.as_char() == '=' => {
                let v = &rest[1..];
                match v {
                    [TokenTree::Literal(l)] => {
                        match syn::parse2::<syn::LitStr>(l.to_token_stream()) {
                            Ok(s) => OptValue::Str(s.value()),
                            Err(_) => OptValue::Tokens(l.to_string()),
                        }
                    }
                    _ => OptValue::Tokens(tokens_text(v)),
                }
            }
            Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Parenthesis => OptValue::List(
                split_commas(g.stream())
                    .iter()
                    .map(|t| compact(&tokens_text(t)))
                    .collect(),
            ),
            Some(_) => OptValue::Tokens(tokens_text(&rest)),
        };
        out.push((key, value));
    }
    out
}

/// Find `reason = "..."` in an exemption's text.
fn reason_in(text: &str) -> Option<String> {
    let at = text.find("reason")?;
    let rest = text[at + "reason".len()..]
        .trim_start()
        .strip_prefix('=')?
        .trim_start();
    let rest = rest.strip_prefix('"')?;
    let mut out = String::new();
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.extend(chars.next()),
            '"' => return Some(out).filter(|s| !s.trim().is_empty()),
            c => out.push(c),
        }
    }
    None
}

struct Scanner<'a, 'o> {
    ctx: &'a FileCtx<'a>,
    lines: &'a [&'a str],
    file_dir: PathBuf,
    out: &'o mut FileScan,
}

/// The angle-bracketed arguments of a path segment (`<A, Vec<u8>>`), spelt compactly and
/// deterministically, or `None` when it has none.
fn generic_args(args: &syn::PathArguments) -> Option<String> {
    let syn::PathArguments::AngleBracketed(a) = args else {
        return None;
    };
    if a.args.is_empty() {
        return None;
    }
    let mut out = String::new();
    for tok in a.to_token_stream().to_string().split(' ') {
        let glue = out.is_empty()
            || out.ends_with(['<', '&', ':', '(', '['])
            || tok.starts_with(['<', '>', ',', ';', ':', ')', ']'])
            // `Fn(u8)`, but `(u8, u16)` after a comma keeps its space.
            || (tok.starts_with('(') && out.ends_with(|c: char| c.is_alphanumeric() || c == '_'))
            || tok.is_empty();
        if !glue {
            out.push(' ');
        }
        out.push_str(tok);
    }
    Some(out)
}

/// Where a function sits.
struct FnPlace<'p> {
    self_type: Option<String>,
    self_generics: Option<String>,
    trait_generics: Option<String>,
    self_paths: Vec<PathSegs>,
    trait_path: Option<PathSegs>,
    cfg: &'p [String],
}

impl Scanner<'_, '_> {
    fn items(&mut self, items: &[syn::Item], m: &ModCtx) {
        let uses = UseMap::collect(items);
        let r = Resolver {
            uses: &uses,
            macro_crates: self.ctx.macro_crates,
            generics: HashMap::new(),
        };
        for item in items {
            match item {
                syn::Item::Fn(f) => {
                    let place = FnPlace {
                        self_type: None,
                        self_generics: None,
                        trait_generics: None,
                        self_paths: Vec::new(),
                        trait_path: None,
                        cfg: &m.cfg,
                    };
                    self.function(&r, m, &place, &f.attrs, &f.sig, &f.block, f.span());
                }
                syn::Item::Impl(i) => self.impl_block(&r, m, i),
                syn::Item::Trait(t) => self.trait_block(&r, m, t),
                syn::Item::Struct(s) => {
                    if let syn::Fields::Named(named) = &s.fields {
                        let r = Resolver {
                            uses: &uses,
                            macro_crates: self.ctx.macro_crates,
                            generics: r.with_generics(&s.generics),
                        };
                        let fields = named
                            .named
                            .iter()
                            .filter_map(|f| {
                                Some((f.ident.as_ref()?.to_string(), r.type_paths(&f.ty)))
                            })
                            .collect();
                        self.out.structs.push(StructFacts {
                            name: s.ident.to_string(),
                            fields,
                        });
                    }
                }
                syn::Item::Mod(md) => self.module(m, md),
                _ => {}
            }
        }
    }

    fn cfgs(&self, attrs: &[syn::Attribute], base: &[String]) -> Option<Vec<String>> {
        let mut cfg = base.to_vec();
        for a in attrs {
            if let Some(c) = cfg_of(a) {
                if is_test_cfg(&c) && !self.ctx.include_tests {
                    return None;
                }
                cfg.push(c);
            }
        }
        Some(cfg)
    }

    fn module(&mut self, m: &ModCtx, md: &syn::ItemMod) {
        let Some(cfg) = self.cfgs(&md.attrs, &m.cfg) else {
            return;
        };
        let in_test = cfg.iter().any(|c| is_test_cfg(c));
        let name = md.ident.to_string();
        let module = format!("{}::{name}", m.module);
        let path_attr = md.attrs.iter().find_map(|a| match &a.meta {
            syn::Meta::NameValue(nv) if nv.path.is_ident("path") => match &nv.value {
                syn::Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(s),
                    ..
                }) => Some(s.value()),
                _ => None,
            },
            _ => None,
        });
        match &md.content {
            Some((_, items)) => {
                let child = ModCtx {
                    module,
                    mod_dir: m.mod_dir.join(&name),
                    cfg,
                };
                self.items(items, &child);
            }
            None => {
                let tried = match &path_attr {
                    Some(p) => vec![self.file_dir.join(p)],
                    None => vec![
                        m.mod_dir.join(format!("{name}.rs")),
                        m.mod_dir.join(&name).join("mod.rs"),
                    ],
                };
                let file = tried.iter().find(|p| p.is_file()).cloned();
                let mod_dir = match &file {
                    Some(f)
                        if f.file_name().is_some_and(|n| n == "mod.rs") || path_attr.is_some() =>
                    {
                        f.parent().map(Path::to_path_buf).unwrap_or_default()
                    }
                    _ => m.mod_dir.join(&name),
                };
                let line = line_of(md.ident.span());
                self.out.children.push(ChildModule {
                    file,
                    tried,
                    module,
                    mod_dir,
                    cfg,
                    in_test,
                    line,
                });
            }
        }
    }

    fn impl_block(&mut self, r: &Resolver<'_>, m: &ModCtx, i: &syn::ItemImpl) {
        let Some(cfg) = self.cfgs(&i.attrs, &m.cfg) else {
            return;
        };
        let r = Resolver {
            uses: r.uses,
            macro_crates: r.macro_crates,
            generics: r.with_generics(&i.generics),
        };
        let self_type = match &*i.self_ty {
            syn::Type::Path(tp) => tp.path.segments.last().map(|s| s.ident.to_string()),
            other => Some(other.to_token_stream().to_string()),
        };
        let self_generics = match &*i.self_ty {
            syn::Type::Path(tp) => tp
                .path
                .segments
                .last()
                .and_then(|s| generic_args(&s.arguments)),
            _ => None,
        };
        let trait_generics = i
            .trait_
            .as_ref()
            .and_then(|(p, _)| p.segments.last())
            .and_then(|s| generic_args(&s.arguments));
        let place = FnPlace {
            self_type,
            self_generics,
            trait_generics,
            self_paths: r.type_paths(&i.self_ty),
            trait_path: i.trait_.as_ref().map(|(p, _)| r.path(p)),
            cfg: &cfg,
        };
        for item in &i.items {
            if let syn::ImplItem::Fn(f) = item {
                self.function(&r, m, &place, &f.attrs, &f.sig, &f.block, f.span());
            }
        }
    }

    fn trait_block(&mut self, r: &Resolver<'_>, m: &ModCtx, t: &syn::ItemTrait) {
        let Some(cfg) = self.cfgs(&t.attrs, &m.cfg) else {
            return;
        };
        let mut generics = r.with_generics(&t.generics);
        // `Self` inside a trait stands for any implementor: its bounds are the supertraits.
        let supers: Vec<PathSegs> = t
            .supertraits
            .iter()
            .filter_map(|b| match b {
                syn::TypeParamBound::Trait(tb) => Some(r.path(&tb.path)),
                _ => None,
            })
            .collect();
        generics.insert("Self".to_owned(), supers);
        let r = Resolver {
            uses: r.uses,
            macro_crates: r.macro_crates,
            generics,
        };
        let place = FnPlace {
            self_type: Some(t.ident.to_string()),
            self_generics: None,
            trait_generics: None,
            self_paths: vec![r.segs(vec![t.ident.to_string()])],
            trait_path: None,
            cfg: &cfg,
        };
        for item in &t.items {
            // Only default methods have a body to audit; a required method is audited (or not)
            // in each implementation, which the impl blocks report.
            if let syn::TraitItem::Fn(f) = item
                && let Some(block) = &f.default
            {
                self.function(&r, m, &place, &f.attrs, &f.sig, block, f.span());
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn function(
        &mut self,
        r: &Resolver<'_>,
        m: &ModCtx,
        place: &FnPlace<'_>,
        attrs: &[syn::Attribute],
        sig: &syn::Signature,
        block: &syn::Block,
        span: Span,
    ) {
        let Some(cfg) = self.cfgs(attrs, place.cfg) else {
            return;
        };
        let mut audit = None;
        let mut exemption = None;
        let mut other_attrs = Vec::new();
        for a in attrs {
            let path = a.path();
            let resolved = r.path(path);
            let last = resolved.last().map(String::as_str).unwrap_or_default();
            if !self.ctx.include_tests && (last == "test" || last == "bench") && resolved.len() <= 2
            {
                return;
            }
            if path.is_ident("cfg_attr") {
                if let syn::Meta::List(l) = &a.meta {
                    self.cfg_attr(r, a, l.tokens.clone(), &mut audit, &mut exemption);
                }
                continue;
            }
            if let Some((attr, kind)) = AUDIT_ATTRS.iter().find(|(n, _)| *n == last) {
                let options = match &a.meta {
                    syn::Meta::List(l) => parse_options(l.tokens.clone()),
                    _ => Vec::new(),
                };
                audit = Some(AuditAttr {
                    written: path.to_token_stream().to_string().replace(' ', ""),
                    resolved: (*attr).to_owned(),
                    kind: (*kind).to_owned(),
                    line: line_of(a.span()),
                    cfg_attr: None,
                    options,
                });
                continue;
            }
            if !path.is_ident("doc") && cfg_of(a).is_none() {
                other_attrs.push(resolved);
            }
        }
        let start_line = attrs
            .iter()
            .map(|a| line_of(a.span()))
            .min()
            .unwrap_or_else(|| line_of(sig.span()))
            .min(line_of(sig.span()));
        let line = line_of(sig.ident.span());
        if exemption.is_none() {
            exemption = self.exemption_comment(start_line, line);
        }
        let r = Resolver {
            uses: r.uses,
            macro_crates: r.macro_crates,
            generics: r.with_generics(&sig.generics),
        };
        let mut params = Vec::new();
        let mut bindings: HashMap<String, Vec<PathSegs>> = HashMap::new();
        for input in &sig.inputs {
            match input {
                syn::FnArg::Receiver(rc) => params.push(Param {
                    name: "self".to_owned(),
                    ty: rc.to_token_stream().to_string(),
                    ty_paths: place.self_paths.clone(),
                }),
                syn::FnArg::Typed(pt) => {
                    let name = match &*pt.pat {
                        syn::Pat::Ident(pi) => pi.ident.to_string(),
                        _ => "_".to_owned(),
                    };
                    let ty_paths = r.type_paths(&pt.ty);
                    bindings.insert(name.clone(), ty_paths.clone());
                    params.push(Param {
                        name,
                        ty: pt.ty.to_token_stream().to_string(),
                        ty_paths,
                    });
                }
            }
        }
        let mut body = Body {
            r: &r,
            bindings,
            self_paths: &place.self_paths,
            calls: Vec::new(),
        };
        body.visit_block(block);
        let signature = self
            .lines
            .get((line as usize).saturating_sub(1))
            .map(|l| l.trim().to_owned())
            .unwrap_or_default();
        self.out.fns.push(FnFacts {
            module: m.module.clone(),
            function: sig.ident.to_string(),
            self_type: place.self_type.clone(),
            self_generics: place.self_generics.clone(),
            trait_generics: place.trait_generics.clone(),
            self_paths: place.self_paths.clone(),
            trait_path: place.trait_path.clone(),
            line,
            start_line,
            end_line: end_line_of(span),
            signature,
            is_async: sig.asyncness.is_some(),
            params,
            output: match &sig.output {
                syn::ReturnType::Default => String::new(),
                syn::ReturnType::Type(_, t) => t.to_token_stream().to_string(),
            },
            audit,
            exemption,
            other_attrs,
            calls: body.calls,
            cfg,
        });
    }

    /// `#[cfg_attr(pred, attr, ...)]`: an audit attribute under a cfg, or the exemption form
    /// `#[cfg_attr(any(), audit_exempt(reason = "..."))]` (never applied, so it compiles
    /// without any macro named `audit_exempt`).
    fn cfg_attr(
        &self,
        r: &Resolver<'_>,
        a: &syn::Attribute,
        tokens: TokenStream,
        audit: &mut Option<AuditAttr>,
        exemption: &mut Option<Exemption>,
    ) {
        let mut pieces = split_commas(tokens).into_iter();
        let pred = pieces.next().map(|p| tokens_text(&p)).unwrap_or_default();
        for piece in pieces {
            let mut path_tokens = Vec::new();
            let mut args = None;
            for tt in piece {
                match tt {
                    TokenTree::Group(g) if g.delimiter() == Delimiter::Parenthesis => {
                        args = Some(g.stream());
                        break;
                    }
                    other => path_tokens.push(other),
                }
            }
            let Ok(path) = syn::parse2::<syn::Path>(path_tokens.into_iter().collect()) else {
                continue;
            };
            let resolved = r.path(&path);
            let last = resolved.last().map(String::as_str).unwrap_or_default();
            if last == "audit_exempt" {
                let text = args.map(|a| a.to_string()).unwrap_or_default();
                *exemption = Some(Exemption {
                    reason: reason_in(&text),
                    form: "attribute",
                    line: line_of(a.span()),
                });
            } else if let Some((attr, kind)) = AUDIT_ATTRS.iter().find(|(n, _)| *n == last) {
                *audit = Some(AuditAttr {
                    written: path.to_token_stream().to_string().replace(' ', ""),
                    resolved: (*attr).to_owned(),
                    kind: (*kind).to_owned(),
                    line: line_of(a.span()),
                    cfg_attr: Some(pred.clone()),
                    options: args.map(parse_options).unwrap_or_default(),
                });
            }
        }
    }

    /// `// audit: exempt(reason = "...")` on a comment line directly above the function (above
    /// or among its attributes; only comment lines may separate it from the function).
    fn exemption_comment(&self, start_line: u32, fn_line: u32) -> Option<Exemption> {
        let idx = |l: u32| (l as usize).checked_sub(1);
        let check = |l: u32| -> Option<Exemption> {
            // A plain `//` comment line only: doc comments that mention the form do not count.
            let text = self.lines.get(idx(l)?)?.trim_start();
            if text.starts_with("///") || text.starts_with("//!") {
                return None;
            }
            let rest = text
                .strip_prefix("//")?
                .trim_start()
                .strip_prefix("audit:")?
                .trim_start();
            rest.starts_with("exempt").then(|| Exemption {
                reason: reason_in(rest),
                form: "comment",
                line: l,
            })
        };
        for l in start_line..=fn_line {
            if let Some(e) = check(l) {
                return Some(e);
            }
        }
        let mut l = start_line;
        while l > 1 {
            l -= 1;
            let text = self.lines.get(idx(l)?)?.trim_start();
            if !text.starts_with("//") {
                break;
            }
            if let Some(e) = check(l) {
                return Some(e);
            }
        }
        None
    }
}

/// Walks a function body for calls that may reach an LLM client.
struct Body<'r, 'a> {
    r: &'r Resolver<'a>,
    bindings: HashMap<String, Vec<PathSegs>>,
    self_paths: &'r [PathSegs],
    calls: Vec<CallFact>,
}

impl Body<'_, '_> {
    /// The types a receiver expression is known to have.
    fn receiver(&self, e: &syn::Expr) -> Option<Via> {
        match e {
            syn::Expr::Path(p) if p.path.segments.len() == 1 => {
                let name = p.path.segments[0].ident.to_string();
                // A method on `self` is the type's own business, not a use of a client.
                if name == "self" {
                    return None;
                }
                self.bindings.get(&name).map(|t| Via::Type(t.clone()))
            }
            syn::Expr::Field(f) => {
                let syn::Member::Named(field) = &f.member else {
                    return None;
                };
                let owner = match &*f.base {
                    syn::Expr::Path(p) if p.path.is_ident("self") => self.self_paths.to_vec(),
                    syn::Expr::Path(p) if p.path.segments.len() == 1 => self
                        .bindings
                        .get(&p.path.segments[0].ident.to_string())?
                        .clone(),
                    _ => return None,
                };
                Some(Via::Field {
                    owner,
                    field: field.to_string(),
                })
            }
            syn::Expr::Reference(r) => self.receiver(&r.expr),
            syn::Expr::Paren(p) => self.receiver(&p.expr),
            syn::Expr::Unary(u) => self.receiver(&u.expr),
            _ => None,
        }
    }

    /// The type an initializer evidently produces: `T::new(..)`, `T { .. }`, `T::builder()..`.
    fn init_type(&self, e: &syn::Expr) -> Option<Vec<PathSegs>> {
        match e {
            syn::Expr::Call(c) => match &*c.func {
                syn::Expr::Path(p) if p.path.segments.len() >= 2 => {
                    let mut segs = self.r.path(&p.path);
                    segs.pop();
                    Some(vec![segs])
                }
                _ => None,
            },
            syn::Expr::Struct(s) => Some(vec![self.r.path(&s.path)]),
            syn::Expr::MethodCall(m) => self.init_type(&m.receiver),
            syn::Expr::Try(t) => self.init_type(&t.expr),
            syn::Expr::Await(a) => self.init_type(&a.base),
            syn::Expr::Reference(r) => self.init_type(&r.expr),
            syn::Expr::Paren(p) => self.init_type(&p.expr),
            syn::Expr::Path(p) if p.path.segments.len() == 1 => self
                .bindings
                .get(&p.path.segments[0].ident.to_string())
                .cloned(),
            _ => None,
        }
    }
}

impl<'ast> Visit<'ast> for Body<'_, '_> {
    fn visit_item(&mut self, _: &'ast syn::Item) {}

    fn visit_local(&mut self, l: &'ast syn::Local) {
        if let Some(init) = &l.init {
            self.visit_expr(&init.expr);
        }
        let (pat, ty) = match &l.pat {
            syn::Pat::Type(pt) => (&*pt.pat, Some(self.r.type_paths(&pt.ty))),
            other => (other, None),
        };
        if let syn::Pat::Ident(pi) = pat {
            let ty = ty.or_else(|| l.init.as_ref().and_then(|i| self.init_type(&i.expr)));
            match ty {
                Some(t) => {
                    self.bindings.insert(pi.ident.to_string(), t);
                }
                None => {
                    self.bindings.remove(&pi.ident.to_string());
                }
            }
        }
    }

    fn visit_expr_method_call(&mut self, m: &'ast syn::ExprMethodCall) {
        if let Some(via) = self.receiver(&m.receiver) {
            self.calls.push(CallFact {
                via,
                method: m.method.to_string(),
            });
        }
        syn::visit::visit_expr_method_call(self, m);
    }

    fn visit_expr_call(&mut self, c: &'ast syn::ExprCall) {
        if let syn::Expr::Path(p) = &*c.func
            && p.path.segments.len() >= 2
        {
            let mut segs = self.r.path(&p.path);
            let method = segs.pop().unwrap_or_default();
            self.calls.push(CallFact {
                via: Via::Type(vec![segs]),
                method,
            });
        }
        syn::visit::visit_expr_call(self, c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generic_arguments_are_spelt_compactly() {
        let args = |ty: &str| {
            let p: syn::TypePath = syn::parse_str(ty).expect("type");
            generic_args(&p.path.segments.last().expect("segment").arguments)
        };
        assert_eq!(args("Agent<Fast>").as_deref(), Some("<Fast>"));
        assert_eq!(args("Agent").as_deref(), None);
        assert_eq!(
            args("m::Pair<&'a str, Vec<u8>>").as_deref(),
            Some("<&'a str, Vec<u8>>")
        );
        assert_eq!(
            args("X<[u8; 4], (u8, u16), m::T<'static>>").as_deref(),
            Some("<[u8; 4], (u8, u16), m::T<'static>>")
        );
        assert_eq!(
            args("Boxed<dyn Fn(u8) -> u8 + Send>").as_deref(),
            Some("<dyn Fn(u8) -> u8 + Send>")
        );
    }

    fn scan(src: &str) -> FileScan {
        let crates = vec![
            "audit_runtime".to_owned(),
            "audit_macros".to_owned(),
            "audit".to_owned(),
        ];
        let ctx = FileCtx {
            module: "demo".to_owned(),
            mod_dir: PathBuf::from("/nonexistent"),
            cfg: Vec::new(),
            macro_crates: &crates,
            include_tests: false,
        };
        scan_source(src, Path::new("/nonexistent/lib.rs"), &ctx)
    }

    fn audited(s: &FileScan) -> Vec<(String, String)> {
        s.fns
            .iter()
            .filter_map(|f| {
                f.audit
                    .as_ref()
                    .map(|a| (f.function.clone(), a.kind.clone()))
            })
            .collect()
    }

    #[test]
    fn attribute_spellings_resolve() {
        let s = scan(
            r#"
            use audit_runtime::audited_tool as tool;
            use audit_runtime::{self as rt, audited_decision};
            #[tool(side_effect = read)] fn a() {}
            #[audited_decision(unversioned = "x")] fn b() {}
            #[rt::audited_agent] fn c() {}
            #[::audit_runtime::audited_model_call(model = "m")] fn d() {}
            #[audit::audited_policy_check(unversioned = "y")] fn e() {}
            #[other::tool] fn f() {}
            "#,
        );
        assert_eq!(
            audited(&s),
            vec![
                ("a".into(), "tool".into()),
                ("b".into(), "decision".into()),
                ("c".into(), "agent_run".into()),
                ("d".into(), "model_call".into()),
                ("e".into(), "policy_check".into()),
            ]
        );
        let f = s.fns.iter().find(|f| f.function == "f").expect("f");
        assert_eq!(
            f.other_attrs,
            vec![vec!["other".to_owned(), "tool".to_owned()]]
        );
    }

    #[test]
    fn options_are_parsed_leniently() {
        let o = parse_options(
            "name = \"loan.approve\", model = \"m\", model_version = MODEL_V, capture(applicant, amount), \
             capture_all, redact(applicant.ssn = erase, applicant.email = mask(4)), future_option = [1, 2]"
                .parse()
                .expect("tokens"),
        );
        assert_eq!(o[0], ("name".into(), OptValue::Str("loan.approve".into())));
        assert_eq!(
            o[2],
            ("model_version".into(), OptValue::Tokens("MODEL_V".into()))
        );
        assert_eq!(
            o[3],
            (
                "capture".into(),
                OptValue::List(vec!["applicant".into(), "amount".into()])
            )
        );
        assert_eq!(o[4], ("capture_all".into(), OptValue::Flag));
        assert_eq!(
            o[5],
            (
                "redact".into(),
                OptValue::List(vec![
                    "applicant.ssn = erase".into(),
                    "applicant.email = mask(4)".into()
                ])
            )
        );
        assert_eq!(o[6].0, "future_option");
    }

    #[test]
    fn exemptions() {
        let s = scan(
            "// audit: exempt(reason = \"pure formatting\")\nfn a() {}\n\n\
             /// docs\n// audit: exempt\n#[inline]\nfn b() {}\n\
             #[cfg_attr(any(), audit_exempt(reason = \"test helper\"))]\nfn c() {}\n\
             // audit: exempt(reason = \"far away\")\n\nfn d() {}\n\
             /// Write `// audit: exempt(reason = \"..\")` above a function.\nfn e() {}\n",
        );
        let ex: Vec<_> = s
            .fns
            .iter()
            .map(|f| f.exemption.as_ref().map(|e| (e.form, e.reason.clone())))
            .collect();
        assert_eq!(
            ex,
            vec![
                Some(("comment", Some("pure formatting".into()))),
                Some(("comment", None)),
                Some(("attribute", Some("test helper".into()))),
                None,
                None,
            ]
        );
    }

    #[test]
    fn client_calls_are_seen() {
        let s = scan(
            r#"
            use llm::OpenAi;
            struct Agent { llm: OpenAi }
            impl Agent {
                fn ask(&self) { self.llm.chat("x"); }
                fn local(&self) { let c = OpenAi::new(); c.complete(); }
                fn generic<C: llm::Chat>(c: &C) { c.send(); }
                fn plain(&self) { self.helper(); }
            }
            "#,
        );
        let calls = |n: &str| {
            s.fns
                .iter()
                .find(|f| f.function == n)
                .expect("fn")
                .calls
                .clone()
        };
        assert_eq!(
            calls("ask"),
            vec![CallFact {
                via: Via::Field {
                    owner: vec![vec!["Agent".into()]],
                    field: "llm".into()
                },
                method: "chat".into()
            }]
        );
        assert!(calls("local").iter().any(|c| c.method == "complete"
            && c.via == Via::Type(vec![vec!["llm".into(), "OpenAi".into()]])));
        assert!(calls("generic").iter().any(
            |c| matches!(&c.via, Via::Type(t) if t.contains(&vec!["llm".into(), "Chat".into()]))
        ));
        assert!(calls("plain").is_empty());
        assert_eq!(
            s.structs[0].fields[0].1,
            vec![vec!["llm".to_owned(), "OpenAi".to_owned()]]
        );
    }

    #[test]
    fn cfg_test_code_is_skipped_and_cfg_recorded() {
        let s = scan(
            "#[cfg(feature = \"llm\")] mod gated { #[audit_runtime::audited_tool] fn t() {} }\n\
             #[cfg(test)] mod tests { fn helper() {} }\n#[test] fn a_test() {}\n",
        );
        assert_eq!(s.fns.len(), 1);
        assert_eq!(s.fns[0].module, "demo::gated");
        assert_eq!(s.fns[0].cfg, vec!["feature = \"llm\""]);
    }

    #[test]
    fn unparseable_source_is_reported() {
        let s = scan("fn ok() {}\nfn broken( {\n");
        let e = s.parse_error.expect("parse error");
        assert!(e.line >= 2, "{e:?}");
        assert!(s.fns.is_empty());
    }

    #[test]
    fn deep_sources_are_scanned_or_reported_never_overflow() {
        // On a test thread's 2 MiB stack: `scan_source` brings its own stack.
        let sum = vec!["1"; 3000].join(" + ");
        let s = scan(&format!(
            "fn total() -> u32 {{ {sum} }}\n#[audited_tool] fn t() {{}}\n"
        ));
        assert!(s.parse_error.is_none(), "{:?}", s.parse_error);
        assert_eq!(audited(&s), vec![("t".to_owned(), "tool".to_owned())]);
        let deep = format!(
            "fn f() {{ {}1{} }}\n",
            "(".repeat(100_000),
            ")".repeat(100_000)
        );
        let e = scan(&deep).parse_error.expect("too deep");
        assert!(e.message.starts_with("too deep to scan"), "{e:?}");
        assert_eq!(e.line, 1);
        // syn drops a byte-order mark and a `#!` line before lexing; the check must see the same
        // text (a shebang line does not lex, so checking the file as written would skip it).
        for prefix in ["#!/bin/run \"unterminated\n", "\u{feff}", "\u{feff}#!'\n"] {
            let e = scan(&format!("{prefix}{deep}"))
                .parse_error
                .expect("too deep");
            assert!(
                e.message.starts_with("too deep to scan"),
                "{prefix:?}: {e:?}"
            );
        }
    }
}
