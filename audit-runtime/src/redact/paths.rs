//! Field paths of declarative rules, and applying an action at every value a path reaches.
//!
//! A path (`applicant.phones[]`, `notes.*`, `output.card`) starts with a captured parameter's
//! name or `output`; each further segment is a serialized field name or map key (`.name`), every
//! element of a sequence (`[]`) or every member of a map (`.*`). Paths address the serialized
//! JSON, so enums are addressed as serde writes them: externally tagged `payment.Card.number`,
//! internally tagged `payment.number`, adjacently tagged `payment.c.number`; an `Option` that is
//! `None` is `null`, and a path through `null` reaches nothing (there is nothing to redact).
//!
//! What must hold (fail closed): when a path meets a value it cannot traverse (a number or text
//! where it expects an object or a sequence) that value is erased and the entry says why. Two
//! shapes are recognised as "another enum variant" instead, when names follow Rust's default
//! (variants start upper-case): a bare variant-name string (a unit variant, `"Cash"`) and an
//! object with one variant-name key when the path asks for another (`{"Cash":{..}}` when the
//! path says `Card`). Enums renamed to lower case lose this: their unit variants are erased.
//! A key missing from any other object is a path that matched nothing: reported once per rule
//! (see the engine), never ignored silently.

use serde_json::Value;

use crate::canonical;
use crate::digest::DigestKey;
use crate::point::RedactAction;
use crate::record::RedactionEntry;

/// One segment after the root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Seg {
    /// A field name or map key (a decimal key also indexes a sequence: tuples are sequences).
    Key(String),
    /// `.*`: every member of a map.
    AnyMember,
    /// `[]`: every element of a sequence.
    Each,
}

/// A parsed rule path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FieldPath {
    pub(crate) root: String,
    pub(crate) segs: Vec<Seg>,
}

impl FieldPath {
    pub(crate) fn parse(path: &str) -> Result<FieldPath, String> {
        let end = path.find(['.', '[']).unwrap_or(path.len());
        let root = &path[..end];
        if root.is_empty() {
            return Err(format!(
                "path `{path}` must start with a parameter name or `output`"
            ));
        }
        let mut segs = Vec::new();
        let mut rest = &path[end..];
        while !rest.is_empty() {
            if let Some(r) = rest.strip_prefix("[]") {
                segs.push(Seg::Each);
                rest = r;
            } else if let Some(r) = rest.strip_prefix('.') {
                let end = r.find(['.', '[']).unwrap_or(r.len());
                let key = &r[..end];
                if key.is_empty() {
                    return Err(format!("path `{path}` has an empty segment"));
                }
                segs.push(if key == "*" {
                    Seg::AnyMember
                } else {
                    Seg::Key(key.to_owned())
                });
                rest = &r[end..];
            } else {
                return Err(format!(
                    "path `{path}`: expected `.name`, `.*` or `[]` at `{rest}` (write `[]` for \
                     every element of a sequence)"
                ));
            }
        }
        Ok(FieldPath {
            root: root.to_owned(),
            segs,
        })
    }
}

/// What a path reached in one value.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Reach {
    /// It reached at least one value (null included).
    pub(crate) found: bool,
    /// Some object lacked a key the path names (and did not look like another enum variant).
    pub(crate) missing: bool,
}

impl Reach {
    fn or(self, o: Reach) -> Reach {
        Reach {
            found: self.found || o.found,
            missing: self.missing || o.missing,
        }
    }
}

/// The rule being applied, for provenance.
pub(crate) struct RuleRef<'a> {
    /// `attribute:applicant.email` or `config:applicant.email`.
    pub(crate) rule: &'a str,
    pub(crate) action: RedactAction,
    pub(crate) key: &'a DigestKey,
}

fn is_identifier(s: &str) -> bool {
    s.len() <= 64
        && s.bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Looks like a serde variant name with Rust's default naming: an identifier starting with an
/// upper-case letter. (A field name in Rust's default naming starts lower-case, so a misnamed
/// field in a one-member struct is still reported as missing.)
fn is_variant(s: &str) -> bool {
    s.bytes().next().is_some_and(|b| b.is_ascii_uppercase()) && is_identifier(s)
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "text",
        Value::Array(_) => "a sequence",
        Value::Object(_) => "an object",
    }
}

/// Apply `rule` at every value `segs` reaches from `v`, whose record path is `path`.
pub(crate) fn apply(
    v: &mut Value,
    segs: &[Seg],
    rule: &RuleRef<'_>,
    path: &mut String,
    out: &mut Vec<RedactionEntry>,
) -> Reach {
    let Some((seg, rest)) = segs.split_first() else {
        if !v.is_null() {
            act(v, rule, path, out);
        }
        return Reach {
            found: true,
            missing: false,
        };
    };
    let len = path.len();
    let reach = match (seg, &mut *v) {
        (_, Value::Null) => Reach {
            found: true,
            missing: false,
        },
        (Seg::Key(k), Value::Object(map)) => {
            if let Some(child) = map.get_mut(k.as_str()) {
                push_key(path, k);
                apply(child, rest, rule, path, out)
            } else if map.len() == 1 && map.keys().all(|only| is_variant(only)) && is_variant(k) {
                // `{"Cash": {..}}`: an externally tagged enum in another variant.
                Reach::default()
            } else {
                Reach {
                    found: false,
                    missing: true,
                }
            }
        }
        (Seg::Key(k), Value::Array(items)) if k.parse::<usize>().is_ok() => {
            match k.parse::<usize>().ok().and_then(|i| items.get_mut(i)) {
                Some(child) => {
                    path.push('.');
                    path.push_str(k);
                    apply(child, rest, rule, path, out)
                }
                None => Reach::default(),
            }
        }
        (Seg::AnyMember, Value::Object(map)) => {
            let mut r = Reach {
                found: true,
                missing: false,
            };
            for (k, child) in map.iter_mut() {
                push_key(path, k);
                r = r.or(apply(child, rest, rule, path, out));
                path.truncate(len);
            }
            r
        }
        (Seg::Each | Seg::AnyMember, Value::Array(items)) => {
            let mut r = Reach {
                found: true,
                missing: false,
            };
            for (i, child) in items.iter_mut().enumerate() {
                use std::fmt::Write;
                let _ = write!(path, "[{i}]");
                r = r.or(apply(child, rest, rule, path, out));
                path.truncate(len);
            }
            r
        }
        (Seg::Key(_), Value::String(s)) if is_variant(s) => {
            // `"Cash"`: a unit variant of an enum whose other variants hold the field.
            Reach::default()
        }
        (seg, other) => {
            let expected = match seg {
                Seg::Key(_) | Seg::AnyMember => "an object",
                Seg::Each => "a sequence",
            };
            let reason = format!(
                "the rule's path expects {expected} here but found {}: erased (fail closed)",
                kind_of(other)
            );
            *other = Value::String(ERASED.to_owned());
            out.push(RedactionEntry {
                path: path.clone(),
                rule: rule.rule.to_owned(),
                action: RedactAction::Erase.into(),
                reason: Some(reason),
            });
            Reach {
                found: true,
                missing: false,
            }
        }
    };
    path.truncate(len);
    reach
}

fn push_key(path: &mut String, k: &str) {
    path.push('.');
    path.push_str(k);
}

/// What an erased value becomes.
pub(crate) const ERASED: &str = "[erased]";

/// Keyed hash input for a value: the UTF-8 bytes of a string (so a field and the same text found
/// by a detector hash alike), else the canonical JSON bytes.
fn hash_bytes(v: &Value) -> std::borrow::Cow<'_, [u8]> {
    match v {
        Value::String(s) => std::borrow::Cow::Borrowed(s.as_bytes()),
        other => std::borrow::Cow::Owned(canonical::to_vec(other)),
    }
}

/// Apply the action to the value itself and record it.
fn act(v: &mut Value, rule: &RuleRef<'_>, path: &str, out: &mut Vec<RedactionEntry>) {
    let mut action = rule.action;
    let mut reason = None;
    let new = match rule.action {
        RedactAction::Erase => Value::String(ERASED.to_owned()),
        RedactAction::Mask { keep } => match &*v {
            Value::String(s) => {
                let mut m = String::with_capacity(s.len());
                super::scan::mask_into(s, keep, &mut m);
                Value::String(m)
            }
            other => {
                reason = Some(format!(
                    "mask applies to text, the value was {}: erased",
                    kind_of(other)
                ));
                action = RedactAction::Erase;
                Value::String(ERASED.to_owned())
            }
        },
        RedactAction::Hash => {
            Value::String(format!("hash:{}", rule.key.digest(&hash_bytes(v)).value))
        }
        RedactAction::Digest => {
            let d = rule.key.digest(&canonical::to_vec(v));
            match serde_json::to_value(d) {
                Ok(d) => serde_json::json!({ "digest": d }),
                Err(e) => {
                    reason = Some(format!("digest could not be written ({e}): erased"));
                    action = RedactAction::Erase;
                    Value::String(ERASED.to_owned())
                }
            }
        }
    };
    *v = new;
    out.push(RedactionEntry {
        path: path.to_owned(),
        rule: rule.rule.to_owned(),
        action: action.into(),
        reason,
    });
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(path: &str, action: RedactAction, mut v: Value) -> (Value, Vec<RedactionEntry>, Reach) {
        let p = FieldPath::parse(path).unwrap();
        let key = DigestKey::from_bytes([3; 32]);
        let rule = RuleRef {
            rule: "attribute:x",
            action,
            key: &key,
        };
        let mut out = Vec::new();
        let mut buf = format!("inputs.{}", p.root);
        let r = apply(&mut v, &p.segs, &rule, &mut buf, &mut out);
        (v, out, r)
    }

    #[test]
    fn parses_every_segment_kind() {
        let p = FieldPath::parse("a.b[].*.0.e-mail").unwrap();
        assert_eq!(p.root, "a");
        assert_eq!(
            p.segs,
            vec![
                Seg::Key("b".into()),
                Seg::Each,
                Seg::AnyMember,
                Seg::Key("0".into()),
                Seg::Key("e-mail".into())
            ]
        );
        assert!(FieldPath::parse("a..b").is_err());
        assert!(FieldPath::parse("a[0]").is_err());
        assert!(FieldPath::parse(".a").is_err());
    }

    #[test]
    fn nested_collections_and_maps() {
        let (v, out, r) = run(
            "a.phones[]",
            RedactAction::Erase,
            json!({"phones": ["1", "2"], "name": "x"}),
        );
        assert_eq!(v, json!({"phones": ["[erased]", "[erased]"], "name": "x"}));
        assert_eq!(
            out.iter().map(|e| e.path.as_str()).collect::<Vec<_>>(),
            ["inputs.a.phones[0]", "inputs.a.phones[1]"]
        );
        assert!(r.found && !r.missing);
        let (v, _, _) = run(
            "a.*",
            RedactAction::Mask { keep: 2 },
            json!({"k1": "abcdef", "k2": 5}),
        );
        assert_eq!(v, json!({"k1": "****ef", "k2": "[erased]"}));
    }

    #[test]
    fn hash_and_digest_are_keyed_and_stable() {
        let (v1, _, _) = run("a.e", RedactAction::Hash, json!({"e": "x@y.z"}));
        let (v2, _, _) = run("a.e", RedactAction::Hash, json!({"e": "x@y.z"}));
        assert_eq!(v1, v2);
        assert!(v1["e"].as_str().unwrap().starts_with("hash:"));
        let (v, _, _) = run("a.e", RedactAction::Digest, json!({"e": {"deep": 1}}));
        assert_eq!(v["e"]["digest"]["alg"], "blake3-keyed");
    }

    #[test]
    fn enums_options_and_fail_closed() {
        // Option::None
        let (v, out, r) = run("a.e", RedactAction::Erase, json!({"e": null}));
        assert_eq!(v, json!({"e": null}));
        assert!(out.is_empty() && r.found);
        // Externally tagged enum in another variant, and a unit variant.
        let (_, out, r) = run(
            "a.Card.number",
            RedactAction::Erase,
            json!({"Cash": {"amount": 1}}),
        );
        assert!(out.is_empty() && !r.missing);
        let (_, out, r) = run("a.Card.number", RedactAction::Erase, json!("Cash"));
        assert!(out.is_empty() && !r.missing);
        let (v, _, _) = run(
            "a.Card.number",
            RedactAction::Erase,
            json!({"Card": {"number": "4111"}}),
        );
        assert_eq!(v, json!({"Card": {"number": "[erased]"}}));
        // A value that cannot be traversed is erased, and the entry says why.
        let (v, out, _) = run("a.e", RedactAction::Hash, json!("jane@example.com"));
        assert_eq!(v, json!("[erased]"));
        assert!(out[0].reason.as_deref().unwrap().contains("fail closed"));
        // A misnamed field is reported as missing.
        let (_, out, r) = run(
            "a.emial",
            RedactAction::Erase,
            json!({"email": "x", "name": "y"}),
        );
        assert!(out.is_empty() && r.missing && !r.found);
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// A name: any text without the separators `.` and `[` (`]`, `-`, `*` inside a longer
        /// name, digits and non-ASCII are all plain characters).
        fn name() -> impl Strategy<Value = String> {
            "[a-zA-Z0-9_\\-\\]*é😀 ]{1,6}".prop_filter("`*` alone is a wildcard", |s| s != "*")
        }

        fn seg() -> impl Strategy<Value = Seg> {
            prop_oneof![
                name().prop_map(Seg::Key),
                Just(Seg::AnyMember),
                Just(Seg::Each),
            ]
        }

        /// The oracle: the path syntax of the module docs, written out.
        fn render(root: &str, segs: &[Seg]) -> String {
            let mut out = root.to_owned();
            for s in segs {
                match s {
                    Seg::Key(k) => {
                        out.push('.');
                        out.push_str(k);
                    }
                    Seg::AnyMember => out.push_str(".*"),
                    Seg::Each => out.push_str("[]"),
                }
            }
            out
        }

        proptest! {
            #[test]
            fn parse_reads_back_every_rendered_path(
                root in name(),
                segs in prop::collection::vec(seg(), 0..8),
            ) {
                let text = render(&root, &segs);
                let parsed = FieldPath::parse(&text);
                prop_assert_eq!(parsed, Ok(FieldPath { root, segs }), "{}", text);
            }

            #[test]
            fn a_broken_separator_is_an_error_not_a_guess(
                root in name(),
                segs in prop::collection::vec(seg(), 0..4),
                junk in prop::sample::select(vec!["..", "[0]", "[", ".", "[x]", "]"]),
                at_start in any::<bool>(),
            ) {
                let text = if at_start {
                    format!("{}{}", &junk[..1], render(&root, &segs))
                } else {
                    format!("{}{junk}", render(&root, &segs))
                };
                // `]` next to a name is part of the name; every other junk breaks the syntax.
                if junk != "]" {
                    prop_assert!(FieldPath::parse(&text).is_err(), "{} parsed", text);
                }
            }
        }
    }
}
