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

/// The type of a value as far as method calls on it go: the paths a call reaches through
/// auto-deref (`&T`, `Box<T>`, `Arc<T>`, `Rc<T>`, `Pin<T>`, `Cow<T>` are transparent), and, for a
/// container (`Option<T>`, `Result<T, E>`, `Vec<T>`, `Mutex<T>`, `RefCell<T>`, `HashMap<K, V>`,
/// ..), what one unwrapping step (`unwrap()`, `lock()`, `?`, ..) reaches.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Ty {
    /// Paths at this layer, resolved (with their alternatives, see [`Resolver::alternatives`]).
    pub paths: Vec<PathSegs>,
    /// The wrapped value of a container.
    pub inner: Option<Box<Ty>>,
}

/// Where a receiver chain starts.
#[derive(Debug, Clone, PartialEq)]
pub enum Root {
    /// A value of a known type (a parameter, a typed or constructed `let` binding), or the type
    /// itself for an associated function call (`Client::new`).
    Type(Ty),
    /// `self` (its type is the function's `self_paths`).
    SelfValue,
}

/// One step from a receiver's root to the value a method is called on.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// `.field`.
    Field(String),
    /// `unwrap()`, `expect(..)`, `lock()`, `?` ([`UNWRAPPING_METHODS`]): into a container,
    /// when the value is one (a no-op otherwise). `clone()`, `as_ref()` and the other
    /// [`IDENTITY_METHODS`] are no step.
    Unwrap,
}

/// How a function reaches a value whose type may be a configured LLM client: a root and the
/// steps from it (`self.inner.client.as_ref().unwrap()` is `SelfValue` then `inner`, `client`
/// and one unwrapping step). Field types come from every struct of the crate, so the chain is
/// resolved in [`super::analyze`].
#[derive(Debug, Clone, PartialEq)]
pub struct Recv {
    /// Where it starts.
    pub root: Root,
    /// The steps.
    pub steps: Vec<Step>,
}

/// One call the client rule may care about.
#[derive(Debug, Clone, PartialEq)]
pub struct CallFact {
    /// The receiver (for `Type::f(..)`, the type).
    pub recv: Recv,
    /// The method or associated function name.
    pub method: String,
    /// An associated function called by path (`Client::new(..)`), not a method call.
    pub assoc: bool,
}

/// Methods that unwrap a container or lock a cell: on an `Option<Client>` or a
/// `Mutex<Client>` they reach the client.
pub const UNWRAPPING_METHODS: &[&str] = &[
    "unwrap",
    "expect",
    "unwrap_or_default",
    "unwrap_unchecked",
    "lock",
    "read",
    "write",
    "try_lock",
    "borrow",
    "borrow_mut",
    "get_mut",
    "load",
    "load_full",
];

/// Methods that give a value of the same type or a reference to it (`self.client.clone()` is a
/// client, `self.spare.as_ref()` still an `Option`).
pub const IDENTITY_METHODS: &[&str] = &[
    "clone",
    "to_owned",
    "as_ref",
    "as_mut",
    "as_deref",
    "as_deref_mut",
    "deref",
    "deref_mut",
];

/// Whether a method call on a client is no use of it (it unwraps, clones or borrows): such a
/// call never makes a function a candidate unless a rule names the method (`Client::lock`).
pub fn is_plumbing(method: &str) -> bool {
    UNWRAPPING_METHODS.contains(&method) || IDENTITY_METHODS.contains(&method)
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
    /// Every path the trait may stand for (`trait_path` and what a glob import or the
    /// enclosing module would make of it): what the tool trait rule matches.
    pub trait_paths: Vec<PathSegs>,
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
    /// Other attributes, resolved (`rig::tool`), for the foreign tool attribute rule; an
    /// attribute imported through a glob is listed once per glob it may come from.
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
    /// Fields, with their types.
    pub fields: Vec<(String, Ty)>,
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

/// One name a `use` item brings into a module, for resolving re-exports across files: `from`
/// (`krate::prelude::Tool`, or the prefix `krate::prelude` of a glob) stands for `to`.
#[derive(Debug, Clone, PartialEq)]
pub struct UseFact {
    /// The name as other modules reach it (module path and name, or the module for a glob).
    pub from: PathSegs,
    /// What it stands for: the imported path (with `crate`, `self` and `super` resolved), and
    /// the same path taken from the module when it may be relative (`use tools::Tool`).
    pub to: Vec<PathSegs>,
    /// `use path::*`: every name under `from` stands for the same name under `to`.
    pub glob: bool,
}

/// A `mod name` found in the tokens of a macro invocation whose body the scanner could not
/// parse as items: the module may be compiled, but its file is not followed.
#[derive(Debug, Clone, PartialEq)]
pub struct MacroMod {
    /// The macro (`cfg_if`, `my_cfg_unix`).
    pub macro_name: String,
    /// Line of the macro invocation.
    pub line: u32,
    /// Files the module would be in.
    pub candidates: Vec<PathBuf>,
}

/// The result of scanning one file.
#[derive(Debug, Clone, Default)]
pub struct FileScan {
    /// Functions.
    pub fns: Vec<FnFacts>,
    /// Structs.
    pub structs: Vec<StructFacts>,
    /// `mod x;` declarations to follow (and, with `in_test`, ones that are only compiled
    /// under test, so the report can say why their files were not scanned).
    pub children: Vec<ChildModule>,
    /// `use` items, for re-exports.
    pub uses: Vec<UseFact>,
    /// Modules named in macros that could not be parsed.
    pub macro_mods: Vec<MacroMod>,
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
    scanner.items(&file.items.iter().collect::<Vec<_>>(), &module, None);
    out
}

struct ModCtx {
    module: String,
    mod_dir: PathBuf,
    cfg: Vec<String>,
}

/// The `use` items of one module: alias to full path, plus glob prefixes.
#[derive(Default, Clone)]
struct UseMap {
    names: HashMap<String, PathSegs>,
    globs: Vec<PathSegs>,
}

impl UseMap {
    /// The `use` items among `items`, on top of `inherited` (a function body sees the uses of
    /// its module).
    fn collect<'i>(
        items: impl Iterator<Item = &'i syn::Item>,
        inherited: Option<&UseMap>,
    ) -> UseMap {
        let mut map = inherited.cloned().unwrap_or_default();
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
            syn::UseTree::Glob(_) => self.globs.push(prefix),
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
    /// The module the code is in (`krate::a::b`), for `crate::`, `self::` and `super::`.
    module: &'a str,
}

/// `crate`, `self` and `super` at the start of `segs`, made absolute from `module`.
fn absolute(module: &str, mut segs: PathSegs) -> PathSegs {
    let m: Vec<&str> = module.split("::").collect();
    match segs.first().map(String::as_str) {
        Some("crate") => {
            segs[0] = m[0].to_owned();
            segs
        }
        Some("self" | "super") => {
            let mut base: Vec<String> = m.iter().map(|s| (*s).to_owned()).collect();
            let mut rest = segs.as_slice();
            while let Some((first, tail)) = rest.split_first() {
                match first.as_str() {
                    "self" => {}
                    "super" => {
                        if base.len() > 1 {
                            base.pop();
                        }
                    }
                    _ => break,
                }
                rest = tail;
            }
            base.extend(rest.iter().cloned());
            base
        }
        _ => segs,
    }
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
        out = absolute(self.module, out);
        if let Some(first) = out.first_mut()
            && self.macro_crates.iter().any(|m| m == first)
        {
            "audit_runtime".clone_into(first);
        }
        out
    }

    /// The path `p` resolves to, then what else it may stand for when its first segment is no
    /// `use`d name: an item of the enclosing module (`Tool` in `krate::tools` may be
    /// `krate::tools::Tool`), or a name from one of the module's glob imports.
    fn alternatives(&self, p: &syn::Path) -> Vec<PathSegs> {
        let segs: PathSegs = p.segments.iter().map(|s| s.ident.to_string()).collect();
        let mut out = vec![self.segs(segs.clone())];
        let first = segs.first().map(String::as_str).unwrap_or_default();
        if p.leading_colon.is_some()
            || self.uses.names.contains_key(first)
            || matches!(first, "crate" | "self" | "super" | "Self")
            || self.generics.contains_key(first)
        {
            return out;
        }
        let prefixes = std::iter::once(self.module.split("::").map(str::to_owned).collect()).chain(
            self.uses
                .globs
                .iter()
                .map(|g| absolute(self.module, g.clone())),
        );
        for prefix in prefixes {
            let mut v: PathSegs = prefix;
            v.extend(segs.iter().cloned());
            if !out.contains(&v) {
                out.push(v);
            }
        }
        out
    }

    /// What a method call on a value of type `ty` reaches (see [`Ty`]).
    fn ty(&self, ty: &syn::Type) -> Ty {
        /// Method calls go through these to what they hold.
        const TRANSPARENT: &[&str] = &["Box", "Arc", "Rc", "Pin", "Cow", "ManuallyDrop"];
        /// Their methods are their own; an unwrapping step reaches the value they hold (the
        /// index is the type argument that is the value).
        const CONTAINERS: &[(&str, usize)] = &[
            ("Option", 0),
            ("Result", 0),
            ("Vec", 0),
            ("VecDeque", 0),
            ("HashSet", 0),
            ("BTreeSet", 0),
            ("HashMap", 1),
            ("BTreeMap", 1),
            ("IndexMap", 1),
            ("Mutex", 0),
            ("RwLock", 0),
            ("RefCell", 0),
            ("Cell", 0),
            ("OnceCell", 0),
            ("OnceLock", 0),
            ("LazyLock", 0),
            ("LazyCell", 0),
            ("ArcSwap", 0),
            ("ArcSwapOption", 0),
        ];
        match ty {
            syn::Type::Reference(r) => self.ty(&r.elem),
            syn::Type::Paren(p) => self.ty(&p.elem),
            syn::Type::Group(g) => self.ty(&g.elem),
            syn::Type::Ptr(p) => self.ty(&p.elem),
            syn::Type::Array(a) => Ty {
                paths: Vec::new(),
                inner: Some(Box::new(self.ty(&a.elem))),
            },
            syn::Type::Slice(a) => Ty {
                paths: Vec::new(),
                inner: Some(Box::new(self.ty(&a.elem))),
            },
            syn::Type::ImplTrait(t) => Ty {
                paths: self.bound_alternatives(t.bounds.iter()),
                inner: None,
            },
            syn::Type::TraitObject(t) => Ty {
                paths: self.bound_alternatives(t.bounds.iter()),
                inner: None,
            },
            syn::Type::Path(tp) => {
                let Some(last) = tp.path.segments.last() else {
                    return Ty::default();
                };
                let name = last.ident.to_string();
                let type_args: Vec<&syn::Type> = match &last.arguments {
                    syn::PathArguments::AngleBracketed(a) => a
                        .args
                        .iter()
                        .filter_map(|g| match g {
                            syn::GenericArgument::Type(t) => Some(t),
                            _ => None,
                        })
                        .collect(),
                    _ => Vec::new(),
                };
                if tp.qself.is_none()
                    && tp.path.segments.len() == 1
                    && let Some(bounds) = self.generics.get(&name)
                {
                    return Ty {
                        paths: bounds.clone(),
                        inner: None,
                    };
                }
                let own = self.alternatives(&tp.path);
                if TRANSPARENT.contains(&name.as_str())
                    && let Some(arg) = type_args.first()
                {
                    let mut t = self.ty(arg);
                    t.paths.extend(own);
                    return t;
                }
                if let Some((_, i)) = CONTAINERS.iter().find(|(n, _)| *n == name)
                    && let Some(arg) = type_args.get(*i).or(type_args.last())
                {
                    return Ty {
                        paths: own,
                        inner: Some(Box::new(self.ty(arg))),
                    };
                }
                Ty {
                    paths: own,
                    inner: None,
                }
            }
            _ => Ty::default(),
        }
    }

    fn bound_alternatives<'b>(
        &self,
        bounds: impl Iterator<Item = &'b syn::TypeParamBound>,
    ) -> Vec<PathSegs> {
        bounds
            .filter_map(|b| match b {
                syn::TypeParamBound::Trait(t) => Some(self.alternatives(&t.path)),
                _ => None,
            })
            .flatten()
            .collect()
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
                self.bound_alternatives(bounds)
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

/// Whether a `cfg` predicate can only hold when compiling tests: `test`, `all(test, ..)`, and
/// `any(..)` of such predicates only. `any(test, feature = "x")` and `not(..)` can hold in a
/// production build, so code under them counts.
pub fn is_test_cfg(pred: &str) -> bool {
    fn only_test(ts: &[TokenTree]) -> bool {
        match ts {
            [TokenTree::Ident(i)] => i == "test",
            [TokenTree::Ident(i), TokenTree::Group(g)]
                if g.delimiter() == Delimiter::Parenthesis =>
            {
                let items = split_commas(g.stream());
                match i.to_string().as_str() {
                    "all" => items.iter().any(|p| only_test(p)),
                    "any" => !items.is_empty() && items.iter().all(|p| only_test(p)),
                    _ => false,
                }
            }
            _ => false,
        }
    }
    pred.parse::<TokenStream>()
        .is_ok_and(|ts| only_test(&ts.into_iter().collect::<Vec<_>>()))
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
    trait_paths: Vec<PathSegs>,
    cfg: &'p [String],
}

/// Parse a macro's body as a sequence of items.
fn parse_items(ts: TokenStream) -> syn::Result<Vec<syn::Item>> {
    struct Items(Vec<syn::Item>);
    impl syn::parse::Parse for Items {
        fn parse(input: syn::parse::ParseStream<'_>) -> syn::Result<Self> {
            let mut v = Vec::new();
            while !input.is_empty() {
                v.push(input.parse()?);
            }
            Ok(Items(v))
        }
    }
    syn::parse2::<Items>(ts).map(|i| i.0)
}

/// Put `#[cfg(pred)]` on an item taken from a macro branch under that cfg.
fn add_cfg(item: &mut syn::Item, pred: &str) {
    let Ok(tokens) = pred.parse::<TokenStream>() else {
        return;
    };
    let attr: syn::Attribute = syn::parse_quote!(#[cfg(#tokens)]);
    let attrs = match item {
        syn::Item::Fn(i) => &mut i.attrs,
        syn::Item::Mod(i) => &mut i.attrs,
        syn::Item::Impl(i) => &mut i.attrs,
        syn::Item::Trait(i) => &mut i.attrs,
        syn::Item::Struct(i) => &mut i.attrs,
        syn::Item::Use(i) => &mut i.attrs,
        syn::Item::Macro(i) => &mut i.attrs,
        _ => return,
    };
    attrs.insert(0, attr);
}

/// The `cfg` predicate of `#[cfg(..)]` given as the tokens inside the brackets.
fn cfg_in_brackets(ts: TokenStream) -> Option<String> {
    let v: Vec<TokenTree> = ts.into_iter().collect();
    match v.as_slice() {
        [TokenTree::Ident(i), TokenTree::Group(g)]
            if i == "cfg" && g.delimiter() == Delimiter::Parenthesis =>
        {
            Some(g.stream().to_string())
        }
        _ => None,
    }
}

/// Every `mod name` in a token stream, at any depth, with its line (no recursion: a stack).
fn mod_names_in(ts: TokenStream) -> Vec<(String, u32)> {
    let mut out = Vec::new();
    let mut stack = vec![ts.into_iter()];
    let mut prev_mod = false;
    while let Some(top) = stack.last_mut() {
        let Some(tt) = top.next() else {
            stack.pop();
            prev_mod = false;
            continue;
        };
        match tt {
            TokenTree::Ident(i) => {
                if prev_mod {
                    out.push((syn::ext::IdentExt::unraw(&i).to_string(), line_of(i.span())));
                }
                prev_mod = i == "mod";
            }
            TokenTree::Group(g) => {
                prev_mod = false;
                stack.push(g.stream().into_iter());
            }
            TokenTree::Punct(_) | TokenTree::Literal(_) => prev_mod = false,
        }
    }
    out
}

impl Scanner<'_, '_> {
    /// The items a macro invocation at item level declares: its body when that parses as items
    /// (`my_cfg_unix! { mod unix; }`), else the items of each brace group in it, under the
    /// `#[cfg(..)]` written before the group (`cfg_if! { if #[cfg(unix)] { mod unix; } else
    /// { mod other; } }`: `other` gets `not(any(unix))`). A `mod` left in tokens none of
    /// this reads is recorded, so the report can say why its file was not reached.
    fn macro_items(&mut self, mac: &syn::ItemMacro, m: &ModCtx, out: &mut Vec<syn::Item>) {
        // `macro_rules! name { .. }` defines a macro: its body is a template, not items.
        if mac.ident.is_some() || mac.mac.path.is_ident("macro_rules") {
            return;
        }
        let start = out.len();
        self.expand_macro(mac, m, out, 0);
        let name = mac
            .mac
            .path
            .segments
            .last()
            .map(|s| s.ident.to_string())
            .unwrap_or_default();
        // Every module the items declare, inline modules' own included.
        let mut declared: Vec<String> = Vec::new();
        let mut stack: Vec<&syn::Item> = out[start..].iter().collect();
        while let Some(item) = stack.pop() {
            if let syn::Item::Mod(md) = item {
                declared.push(syn::ext::IdentExt::unraw(&md.ident).to_string());
                if let Some((_, items)) = &md.content {
                    stack.extend(items.iter());
                }
            }
        }
        for (modname, _) in mod_names_in(mac.mac.tokens.clone()) {
            if !declared.contains(&modname) {
                self.out.macro_mods.push(MacroMod {
                    macro_name: name.clone(),
                    line: line_of(mac.mac.path.span()),
                    candidates: vec![
                        m.mod_dir.join(format!("{modname}.rs")),
                        m.mod_dir.join(&modname).join("mod.rs"),
                    ],
                });
            }
        }
    }

    /// The items of one macro invocation (and of the macros among them), under the invocation's
    /// own `#[cfg(..)]`s.
    fn expand_macro(
        &mut self,
        mac: &syn::ItemMacro,
        m: &ModCtx,
        out: &mut Vec<syn::Item>,
        depth: usize,
    ) {
        if mac.ident.is_some() || mac.mac.path.is_ident("macro_rules") {
            return;
        }
        let preds: Vec<String> = mac.attrs.iter().filter_map(cfg_of).collect();
        let cfg = match preds.len() {
            0 => None,
            1 => preds.into_iter().next(),
            _ => Some(format!("all({})", preds.join(", "))),
        };
        self.macro_tokens(mac.mac.tokens.clone(), cfg, m, out, depth + 1);
    }

    fn macro_tokens(
        &mut self,
        ts: TokenStream,
        cfg: Option<String>,
        m: &ModCtx,
        out: &mut Vec<syn::Item>,
        depth: usize,
    ) {
        // Bounded by the file's nesting check already; this bound only keeps a pathological
        // macro from costing more than a few levels of work.
        if depth > 64 {
            return;
        }
        if let Ok(mut items) = parse_items(ts.clone()) {
            if let Some(c) = &cfg {
                for item in &mut items {
                    add_cfg(item, c);
                }
            }
            for item in &items {
                if let syn::Item::Macro(inner) = item {
                    self.expand_macro(inner, m, out, depth + 1);
                }
            }
            out.extend(items);
            return;
        }
        let toks: Vec<TokenTree> = ts.into_iter().collect();
        let mut pending: Option<String> = None;
        let mut chain: Vec<String> = Vec::new();
        let mut i = 0;
        while i < toks.len() {
            match &toks[i] {
                TokenTree::Punct(p) if p.as_char() == '#' => {
                    if let Some(TokenTree::Group(g)) = toks.get(i + 1)
                        && g.delimiter() == Delimiter::Bracket
                    {
                        if let Some(pred) = cfg_in_brackets(g.stream()) {
                            chain.push(pred.clone());
                            pending = Some(pred);
                        }
                        i += 2;
                        continue;
                    }
                }
                TokenTree::Ident(id)
                    if id == "else"
                        && !chain.is_empty()
                        && matches!(toks.get(i + 1), Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Brace) =>
                {
                    pending = Some(format!("not(any({}))", chain.join(", ")));
                }
                TokenTree::Group(g) if g.delimiter() == Delimiter::Brace => {
                    let branch = match (&cfg, pending.take()) {
                        (Some(a), Some(b)) => Some(format!("all({a}, {b})")),
                        (a, b) => b.or_else(|| a.clone()),
                    };
                    self.macro_tokens(g.stream(), branch, m, out, depth + 1);
                    if !matches!(toks.get(i + 1), Some(TokenTree::Ident(e)) if e == "else") {
                        chain.clear();
                    }
                }
                _ => {}
            }
            i += 1;
        }
    }

    /// The `use` items of a module as facts other files can resolve re-exports with.
    fn use_facts(&mut self, items: &[&syn::Item], m: &ModCtx, uses: &UseMap) {
        fn walk(t: &syn::UseTree, prefix: PathSegs, out: &mut Vec<(Option<String>, PathSegs)>) {
            match t {
                syn::UseTree::Path(p) => {
                    let mut next = prefix;
                    next.push(p.ident.to_string());
                    walk(&p.tree, next, out);
                }
                syn::UseTree::Name(n) => {
                    let name = n.ident.to_string();
                    if name == "self" {
                        if let Some(last) = prefix.last() {
                            out.push((Some(last.clone()), prefix.clone()));
                        }
                    } else {
                        let mut full = prefix;
                        full.push(name.clone());
                        out.push((Some(name), full));
                    }
                }
                syn::UseTree::Rename(r) => {
                    let mut full = prefix;
                    let name = r.ident.to_string();
                    if name != "self" {
                        full.push(name);
                    }
                    out.push((Some(r.rename.to_string()), full));
                }
                syn::UseTree::Glob(_) => out.push((None, prefix)),
                syn::UseTree::Group(g) => {
                    for t in &g.items {
                        walk(t, prefix.clone(), out);
                    }
                }
            }
        }
        let module: PathSegs = m.module.split("::").map(str::to_owned).collect();
        for item in items {
            let syn::Item::Use(u) = item else { continue };
            let mut pairs = Vec::new();
            walk(&u.tree, Vec::new(), &mut pairs);
            for (name, target) in pairs {
                if target.is_empty() {
                    continue;
                }
                let first = target[0].as_str();
                let mut to = vec![absolute(&m.module, target.clone())];
                // `use tools::Tool` names a crate or a child module: both are kept. A first
                // segment that is itself an imported name is resolved through it.
                if let Some(full) = uses
                    .names
                    .get(first)
                    .filter(|f| *f != &vec![first.to_owned()])
                {
                    let mut v = absolute(&m.module, full.clone());
                    v.extend(target.iter().skip(1).cloned());
                    to.push(v);
                }
                if u.leading_colon.is_none() && !matches!(first, "crate" | "self" | "super") {
                    let mut v = module.clone();
                    v.extend(target.iter().cloned());
                    to.push(v);
                }
                let mut from = module.clone();
                let glob = name.is_none();
                from.extend(name);
                self.out.uses.push(UseFact { from, to, glob });
            }
        }
    }

    fn items(&mut self, items: &[&syn::Item], m: &ModCtx, inherited: Option<&UseMap>) {
        let mut extra = Vec::new();
        for item in items {
            if let syn::Item::Macro(mac) = item {
                self.macro_items(mac, m, &mut extra);
            }
        }
        let all: Vec<&syn::Item> = items.iter().copied().chain(extra.iter()).collect();
        let uses = UseMap::collect(all.iter().copied(), inherited);
        if inherited.is_none() {
            self.use_facts(&all, m, &uses);
        }
        let r = Resolver {
            uses: &uses,
            macro_crates: self.ctx.macro_crates,
            generics: HashMap::new(),
            module: &m.module,
        };
        for item in all {
            match item {
                syn::Item::Fn(f) => {
                    let place = FnPlace {
                        self_type: None,
                        self_generics: None,
                        trait_generics: None,
                        self_paths: Vec::new(),
                        trait_path: None,
                        trait_paths: Vec::new(),
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
                            module: &m.module,
                        };
                        let fields = named
                            .named
                            .iter()
                            .filter_map(|f| Some((f.ident.as_ref()?.to_string(), r.ty(&f.ty))))
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
        let mut cfg = m.cfg.clone();
        cfg.extend(md.attrs.iter().filter_map(cfg_of));
        let in_test = cfg.iter().any(|c| is_test_cfg(c));
        // An inline test module has no file to report; a `mod tests;` does (as test-only).
        if in_test && !self.ctx.include_tests && md.content.is_some() {
            return;
        }
        // `mod r#type;` is in `type.rs`; `module_path!()` spells it `r#type`.
        let name = syn::ext::IdentExt::unraw(&md.ident).to_string();
        let module = format!("{}::{}", m.module, md.ident);
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
                self.items(&items.iter().collect::<Vec<_>>(), &child, None);
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
            module: r.module,
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
            trait_paths: i
                .trait_
                .as_ref()
                .map(|(p, _)| r.alternatives(p))
                .unwrap_or_default(),
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
            module: r.module,
        };
        let place = FnPlace {
            self_type: Some(t.ident.to_string()),
            self_generics: None,
            trait_generics: None,
            self_paths: vec![r.segs(vec![t.ident.to_string()])],
            trait_path: None,
            trait_paths: Vec::new(),
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
                other_attrs.extend(r.alternatives(path));
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
            module: r.module,
        };
        let mut params = Vec::new();
        let mut bindings: HashMap<String, Recv> = HashMap::new();
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
                    bindings.insert(
                        name.clone(),
                        Recv {
                            root: Root::Type(r.ty(&pt.ty)),
                            steps: Vec::new(),
                        },
                    );
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
            calls: Vec::new(),
            items: Vec::new(),
        };
        body.visit_block(block);
        let nested = std::mem::take(&mut body.items);
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
            trait_paths: place.trait_paths.clone(),
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
            cfg: cfg.clone(),
        });
        // Items declared in the body (`fn register() { impl Tool for X { .. } }`) belong to the
        // module, and see its `use` items as well as the body's own.
        if !nested.is_empty() {
            let inner = ModCtx {
                module: m.module.clone(),
                mod_dir: m.mod_dir.clone(),
                cfg,
            };
            self.items(&nested, &inner, Some(r.uses));
        }
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

/// Walks a function body for calls that may reach an LLM client, and for the items declared
/// in it (which are scanned as items of the module, not as part of this function).
struct Body<'r, 'a, 'ast> {
    r: &'r Resolver<'a>,
    bindings: HashMap<String, Recv>,
    calls: Vec<CallFact>,
    items: Vec<&'ast syn::Item>,
}

impl Body<'_, '_, '_> {
    /// What a receiver expression is known to be: a root and the steps from it.
    fn receiver(&self, e: &syn::Expr) -> Option<Recv> {
        match e {
            syn::Expr::Path(p) if p.path.segments.len() == 1 && p.qself.is_none() => {
                let name = p.path.segments[0].ident.to_string();
                if name == "self" {
                    return Some(Recv {
                        root: Root::SelfValue,
                        steps: Vec::new(),
                    });
                }
                self.bindings.get(&name).cloned()
            }
            syn::Expr::Field(f) => {
                let syn::Member::Named(field) = &f.member else {
                    return None;
                };
                let mut base = self.receiver(&f.base)?;
                base.steps.push(Step::Field(field.to_string()));
                Some(base)
            }
            syn::Expr::MethodCall(m) => {
                let method = m.method.to_string();
                if IDENTITY_METHODS.contains(&method.as_str()) {
                    self.receiver(&m.receiver)
                } else if UNWRAPPING_METHODS.contains(&method.as_str()) {
                    let mut base = self.receiver(&m.receiver)?;
                    base.steps.push(Step::Unwrap);
                    Some(base)
                } else {
                    None
                }
            }
            syn::Expr::Try(t) => {
                let mut base = self.receiver(&t.expr)?;
                base.steps.push(Step::Unwrap);
                Some(base)
            }
            syn::Expr::Await(a) => self.receiver(&a.base),
            syn::Expr::Reference(r) => self.receiver(&r.expr),
            syn::Expr::Paren(p) => self.receiver(&p.expr),
            syn::Expr::Unary(u) => self.receiver(&u.expr),
            _ => None,
        }
    }

    /// Bind the names of a pattern matched against `recv`: `c`, `&c`, `Some(c)`, `Ok(c)`
    /// (one unwrapping step), `ref c`.
    fn bind(&mut self, pat: &syn::Pat, recv: Recv) {
        match pat {
            syn::Pat::Ident(pi) if pi.subpat.is_none() => {
                self.bindings.insert(pi.ident.to_string(), recv);
            }
            syn::Pat::Reference(r) => self.bind(&r.pat, recv),
            syn::Pat::Paren(p) => self.bind(&p.pat, recv),
            syn::Pat::TupleStruct(ts)
                if ts.elems.len() == 1
                    && ts
                        .path
                        .segments
                        .last()
                        .is_some_and(|s| s.ident == "Some" || s.ident == "Ok") =>
            {
                let mut inner = recv;
                inner.steps.push(Step::Unwrap);
                if let Some(p) = ts.elems.first() {
                    self.bind(p, inner);
                }
            }
            _ => {}
        }
    }

    /// What an initializer evidently is: `T::new(..)`, `T { .. }`, `T::builder()..build()`, or
    /// a receiver chain (`self.client.clone()`, `other`).
    fn init(&self, e: &syn::Expr) -> Option<Recv> {
        let ty = |paths: Vec<PathSegs>| {
            Some(Recv {
                root: Root::Type(Ty { paths, inner: None }),
                steps: Vec::new(),
            })
        };
        match e {
            syn::Expr::Call(c) => match &*c.func {
                syn::Expr::Path(p) if p.path.segments.len() >= 2 => {
                    let mut segs = self.r.path(&p.path);
                    segs.pop();
                    ty(vec![segs])
                }
                _ => None,
            },
            syn::Expr::Struct(s) => ty(self.r.alternatives(&s.path)),
            syn::Expr::MethodCall(m) => self.receiver(e).or_else(|| {
                // A builder chain keeps the type of the call it starts from.
                let base = self.init(&m.receiver)?;
                (base.steps.is_empty() && matches!(base.root, Root::Type(_))).then_some(base)
            }),
            syn::Expr::Try(t) => self.receiver(e).or_else(|| self.init(&t.expr)),
            syn::Expr::Await(a) => self.init(&a.base),
            syn::Expr::Reference(r) => self.init(&r.expr),
            syn::Expr::Paren(p) => self.init(&p.expr),
            syn::Expr::Path(_) | syn::Expr::Field(_) => self.receiver(e),
            _ => None,
        }
    }
}

impl<'ast> Visit<'ast> for Body<'_, '_, 'ast> {
    fn visit_item(&mut self, i: &'ast syn::Item) {
        self.items.push(i);
    }

    fn visit_local(&mut self, l: &'ast syn::Local) {
        if let Some(init) = &l.init {
            self.visit_expr(&init.expr);
            if let Some((_, diverge)) = &init.diverge {
                self.visit_expr(diverge);
            }
            // `let Some(c) = &self.spare else { .. };`
            if !matches!(l.pat, syn::Pat::Ident(_) | syn::Pat::Type(_))
                && let Some(recv) = self.receiver(&init.expr)
            {
                self.bind(&l.pat, recv);
                return;
            }
        }
        let (pat, ty) = match &l.pat {
            syn::Pat::Type(pt) => (
                &*pt.pat,
                Some(Recv {
                    root: Root::Type(self.r.ty(&pt.ty)),
                    steps: Vec::new(),
                }),
            ),
            other => (other, None),
        };
        if let syn::Pat::Ident(pi) = pat {
            let ty = ty.or_else(|| l.init.as_ref().and_then(|i| self.init(&i.expr)));
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

    /// `if let Some(c) = &self.spare { c.chat() }`, `while let ..`.
    fn visit_expr_let(&mut self, l: &'ast syn::ExprLet) {
        self.visit_expr(&l.expr);
        if let Some(recv) = self.receiver(&l.expr) {
            self.bind(&l.pat, recv);
        }
    }

    /// `match &self.spare { Some(c) => c.chat(), None => .. }`.
    fn visit_expr_match(&mut self, m: &'ast syn::ExprMatch) {
        self.visit_expr(&m.expr);
        let recv = self.receiver(&m.expr);
        for arm in &m.arms {
            if let Some(r) = &recv {
                self.bind(&arm.pat, r.clone());
            }
            self.visit_arm(arm);
        }
    }

    /// `for c in &self.pool { c.chat() }`: `c` is an element.
    fn visit_expr_for_loop(&mut self, f: &'ast syn::ExprForLoop) {
        self.visit_expr(&f.expr);
        let mut e = &*f.expr;
        while let syn::Expr::MethodCall(m) = e
            && ["iter", "iter_mut", "into_iter", "values", "values_mut"]
                .contains(&m.method.to_string().as_str())
        {
            e = &m.receiver;
        }
        if let Some(mut recv) = self.receiver(e) {
            recv.steps.push(Step::Unwrap);
            self.bind(&f.pat, recv);
        }
        self.visit_block(&f.body);
    }

    fn visit_expr_method_call(&mut self, m: &'ast syn::ExprMethodCall) {
        if let Some(recv) = self.receiver(&m.receiver)
            // A method on `self` itself is the type's own business, not a use of a client.
            && !(recv.root == Root::SelfValue && recv.steps.is_empty())
        {
            self.calls.push(CallFact {
                recv,
                method: m.method.to_string(),
                assoc: false,
            });
        }
        syn::visit::visit_expr_method_call(self, m);
    }

    fn visit_expr_call(&mut self, c: &'ast syn::ExprCall) {
        if let syn::Expr::Path(p) = &*c.func
            && p.path.segments.len() >= 2
        {
            let mut ty_path = p.path.clone();
            let method = ty_path
                .segments
                .pop()
                .map(|s| s.ident.to_string())
                .unwrap_or_default();
            ty_path.segments.pop_punct();
            self.calls.push(CallFact {
                recv: Recv {
                    root: Root::Type(Ty {
                        paths: self.r.alternatives(&ty_path),
                        inner: None,
                    }),
                    steps: Vec::new(),
                },
                method,
                assoc: true,
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
        // As written, then as an item of this module (`other` may be a child module).
        assert_eq!(
            f.other_attrs,
            vec![
                vec!["other".to_owned(), "tool".to_owned()],
                vec!["demo".to_owned(), "other".to_owned(), "tool".to_owned()]
            ]
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
        let llm = |t: &str| vec!["llm".to_owned(), t.to_owned()];
        assert_eq!(
            calls("ask"),
            vec![CallFact {
                recv: Recv {
                    root: Root::SelfValue,
                    steps: vec![Step::Field("llm".into())],
                },
                method: "chat".into(),
                assoc: false,
            }]
        );
        assert!(calls("local").iter().any(|c| c.method == "complete"
            && c.recv.root
                == Root::Type(Ty {
                    paths: vec![llm("OpenAi")],
                    inner: None
                })));
        assert!(
            calls("generic")
                .iter()
                .any(|c| matches!(&c.recv.root, Root::Type(t) if t.paths.contains(&llm("Chat"))))
        );
        assert!(calls("plain").is_empty());
        assert_eq!(s.structs[0].fields[0].1.paths, vec![llm("OpenAi")]);
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
    fn test_only_cfgs() {
        for (pred, only_test) in [
            ("test", true),
            ("all (test , feature = \"slow\")", true),
            ("all(unix, all(test))", true),
            ("any(test)", true),
            ("any(test, all(test, unix))", true),
            ("any(test, feature = \"x\")", false),
            ("not(test)", false),
            ("unix", false),
            ("all()", false),
            ("any()", false),
            ("testing", false),
        ] {
            assert_eq!(is_test_cfg(pred), only_test, "{pred}");
        }
    }

    #[test]
    fn modules_in_macros_and_raw_identifiers_are_followed() {
        let s = scan(
            "mod r#type;\n\
             cfg_if::cfg_if! { if #[cfg(unix)] { mod unix; fn decide_a() {} } \
               else if #[cfg(windows)] { mod win; } else { mod other; } }\n\
             my_cfg! { mod plat; #[cfg(test)] mod t; }\n\
             macro_rules! m { ($n:ident) => { mod $n; } }\n\
             odd! { mod hidden => x; }\n",
        );
        let kids: Vec<(String, String, Vec<String>, bool)> = s
            .children
            .iter()
            .map(|c| {
                (
                    c.module.clone(),
                    c.tried[0]
                        .file_name()
                        .expect("name")
                        .to_string_lossy()
                        .into_owned(),
                    c.cfg.clone(),
                    c.in_test,
                )
            })
            .collect();
        let v = |x: &[&str]| x.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            kids,
            vec![
                ("demo::r#type".into(), "type.rs".into(), v(&[]), false),
                ("demo::unix".into(), "unix.rs".into(), v(&["unix"]), false),
                ("demo::win".into(), "win.rs".into(), v(&["windows"]), false),
                (
                    "demo::other".into(),
                    "other.rs".into(),
                    v(&["not (any (unix , windows))"]),
                    false
                ),
                ("demo::plat".into(), "plat.rs".into(), v(&[]), false),
                ("demo::t".into(), "t.rs".into(), v(&["test"]), true),
            ]
        );
        assert_eq!(s.fns.len(), 1);
        assert_eq!(s.fns[0].function, "decide_a");
        assert_eq!(s.fns[0].cfg, v(&["unix"]));
        // `macro_rules!` is a template; `odd!` does not parse: its `mod hidden` is recorded.
        assert_eq!(s.macro_mods.len(), 1);
        assert_eq!(s.macro_mods[0].macro_name, "odd");
        assert!(s.macro_mods[0].candidates[0].ends_with("hidden.rs"));
    }

    #[test]
    fn items_in_function_bodies_see_the_module_uses() {
        let s = scan(
            "use toolkit::Tool;\n\
             fn register() { struct X; impl Tool for X { fn call(&self) {} } \
               { fn deeper() {} } let _ = || { mod m { fn inner() {} } }; }\n",
        );
        let f: Vec<(String, String, Option<PathSegs>)> = s
            .fns
            .iter()
            .map(|f| (f.module.clone(), f.function.clone(), f.trait_path.clone()))
            .collect();
        assert_eq!(
            f,
            vec![
                ("demo".into(), "register".into(), None),
                (
                    "demo".into(),
                    "call".into(),
                    Some(vec!["toolkit".into(), "Tool".into()])
                ),
                ("demo".into(), "deeper".into(), None),
                ("demo::m".into(), "inner".into(), None),
            ]
        );
        // The outer function's facts do not include the nested ones' calls.
        assert!(s.fns[0].calls.is_empty());
    }

    #[test]
    fn receivers_through_fields_wrappers_and_globs() {
        let s = scan(
            "use llm::*;\n\
             struct A { b: std::sync::Arc<B>, o: Option<Client>, v: Vec<Client> }\n\
             impl A { fn f(&self) { self.b.c.d.chat(); self.o.as_ref().unwrap().chat(); \
               let x = self.o.clone()?; x.chat(); self.v.len(); } }\n",
        );
        let f = &s.fns[0];
        // The unwrapping calls themselves (`as_ref`, `unwrap`, `clone`) are facts too; the rule
        // never counts them as uses of a client.
        let steps: Vec<Vec<Step>> = f
            .calls
            .iter()
            .filter(|c| c.method == "chat" || c.method == "len")
            .map(|c| c.recv.steps.clone())
            .collect();
        let field = |n: &str| Step::Field(n.to_owned());
        assert_eq!(
            steps,
            vec![
                vec![field("b"), field("c"), field("d")],
                // `as_ref()` keeps the Option, `unwrap()` opens it
                vec![field("o"), Step::Unwrap],
                // `clone()` keeps it, `?` opens it
                vec![field("o"), Step::Unwrap],
                vec![field("v")],
            ]
        );
        let fields = &s.structs[0].fields;
        // Arc is transparent: `B` is reached; Option and Vec hold the client one step in.
        assert!(fields[0].1.paths.contains(&vec!["demo".into(), "B".into()]));
        assert!(fields[0].1.inner.is_none());
        let o = &fields[1].1;
        assert_eq!(o.paths[0], vec!["Option".to_owned()]);
        let inner = o.inner.as_ref().expect("inner");
        // `Client` may be this module's or the glob's.
        assert_eq!(
            inner.paths,
            vec![
                vec!["Client".to_owned()],
                vec!["demo".into(), "Client".into()],
                vec!["llm".into(), "Client".into()],
            ]
        );
    }

    #[test]
    fn deep_items_in_bodies_and_macros_cost_linear_work() {
        // Items nested in function bodies, and macros nested in macros, deep (but within the
        // nesting bound): scanned, quickly, never overflowing; deeper: refused, never aborted.
        let t = std::time::Instant::now();
        let n = 1500;
        let fns = scan(&format!("{}{}", "fn decide() { ".repeat(n), "}".repeat(n)));
        assert!(fns.parse_error.is_none(), "{:?}", fns.parse_error);
        assert_eq!(fns.fns.len(), n);
        let macros = scan(&format!(
            "m! {{ {}mod a;{} }}",
            "{ m! { ".repeat(n),
            " } }".repeat(n)
        ));
        assert!(macros.parse_error.is_none(), "{:?}", macros.parse_error);
        // Past the 64 levels macros are read to, the `mod a` is recorded as not followed.
        assert_eq!(macros.macro_mods.len(), 1);
        let deeper = scan(&format!(
            "{}{}",
            "fn decide() { ".repeat(20 * n),
            "}".repeat(20 * n)
        ));
        let e = deeper.parse_error.expect("too deep");
        assert!(e.message.starts_with("too deep to scan"), "{e:?}");
        assert!(t.elapsed().as_secs() < 30, "{:?}", t.elapsed());
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
