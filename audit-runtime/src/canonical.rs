//! Canonical JSON bytes for digests.
//!
//! Input digests must not depend on the order a `HashMap` happened to iterate in, nor on whether
//! some crate in the build enabled `serde_json/preserve_order`. The canonical form is compact JSON
//! (no insignificant white space) with object members sorted by key (byte-wise on the UTF-8 key),
//! numbers and strings exactly as `serde_json` writes them.

use serde_json::Value;

/// Canonical bytes of `v`.
pub fn to_vec(v: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    write(v, &mut out);
    out
}

/// Canonical bytes of the object `{key: value, ...}` from each member's canonical bytes, without
/// rebuilding a `Value`: the same bytes as [`to_vec`] of that object. Keys must be distinct.
pub fn object_of(mut members: Vec<(&str, Vec<u8>)>) -> Vec<u8> {
    members.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let mut out = Vec::with_capacity(
        2 + members
            .iter()
            .map(|(k, v)| k.len() + v.len() + 4)
            .sum::<usize>(),
    );
    out.push(b'{');
    for (i, (k, v)) in members.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_scalar(&Value::String((*k).to_owned()), &mut out);
        out.push(b':');
        out.extend_from_slice(v);
    }
    out.push(b'}');
    out
}

fn write(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push(b'{');
            for (i, (k, val)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_scalar(&Value::String(k.clone()), out);
                out.push(b':');
                write(val, out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write(item, out);
            }
            out.push(b']');
        }
        scalar => write_scalar(scalar, out),
    }
}

fn write_scalar(v: &Value, out: &mut Vec<u8>) {
    // Serializing a scalar Value into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, v);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    /// A JSON tree of the test's own, independent of `serde_json::Map` (which sorts its keys
    /// itself unless `preserve_order` is on, so a `Value` cannot show whether [`to_vec`]
    /// sorts): objects are member lists in generation order.
    #[derive(Debug, Clone)]
    enum Tree {
        Null,
        Bool(bool),
        Int(i64),
        Str(String),
        Arr(Vec<Tree>),
        Obj(Vec<(String, Tree)>),
    }

    /// Keys and strings that make ordering and escaping matter: ASCII case, prefixes,
    /// multi-byte UTF-8 (whose byte order differs from UTF-16 order for the last two),
    /// quotes, backslashes and control characters.
    fn text() -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop::sample::select(vec![
                "a", "b", "B", "Z", "_", "aa", "é", "\u{FFFD}", "😀", "\"", "\\", "\n", "\u{1}",
                "\u{1f}", "\u{7f}", " ", "/",
            ]),
            0..4,
        )
        .prop_map(|parts| parts.concat())
    }

    fn tree() -> impl Strategy<Value = Tree> {
        let leaf = prop_oneof![
            Just(Tree::Null),
            any::<bool>().prop_map(Tree::Bool),
            any::<i64>().prop_map(Tree::Int),
            text().prop_map(Tree::Str),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Tree::Arr),
                prop::collection::vec((text(), inner), 0..6).prop_map(|members| {
                    // Distinct keys, first one wins, order of generation kept.
                    let mut seen = std::collections::HashSet::new();
                    Tree::Obj(
                        members
                            .into_iter()
                            .filter(|(k, _)| seen.insert(k.clone()))
                            .collect(),
                    )
                }),
            ]
        })
    }

    fn to_value(t: &Tree) -> Value {
        match t {
            Tree::Null => Value::Null,
            Tree::Bool(b) => Value::Bool(*b),
            Tree::Int(i) => Value::from(*i),
            Tree::Str(s) => Value::String(s.clone()),
            Tree::Arr(items) => Value::Array(items.iter().map(to_value).collect()),
            Tree::Obj(members) => Value::Object(
                members
                    .iter()
                    .map(|(k, v)| (k.clone(), to_value(v)))
                    .collect(),
            ),
        }
    }

    /// The oracle: the canonical form as the module docs define it, written by hand. Strings
    /// are escaped as JSON requires and `serde_json` does (`\"`, `\\`, the short escapes,
    /// other control characters as `\u00xx`, everything else verbatim).
    fn oracle(t: &Tree, out: &mut String) {
        fn string(s: &str, out: &mut String) {
            out.push('"');
            for c in s.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    '\u{8}' => out.push_str("\\b"),
                    '\u{c}' => out.push_str("\\f"),
                    c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                    c => out.push(c),
                }
            }
            out.push('"');
        }
        match t {
            Tree::Null => out.push_str("null"),
            Tree::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Tree::Int(i) => out.push_str(&i.to_string()),
            Tree::Str(s) => string(s, out),
            Tree::Arr(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    oracle(item, out);
                }
                out.push(']');
            }
            Tree::Obj(members) => {
                let mut sorted: Vec<&(String, Tree)> = members.iter().collect();
                sorted.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
                out.push('{');
                for (i, (k, v)) in sorted.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    string(k, out);
                    out.push(':');
                    oracle(v, out);
                }
                out.push('}');
            }
        }
    }

    fn expected(t: &Tree) -> String {
        let mut s = String::new();
        oracle(t, &mut s);
        s
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn to_vec_is_the_canonical_form(t in tree()) {
            let got = String::from_utf8(to_vec(&to_value(&t))).unwrap();
            prop_assert_eq!(got, expected(&t));
        }

        /// `object_of` is handed members in any order (here: generation order, unsorted), so
        /// its sort is observable, unlike the one inside `to_vec` under default features.
        #[test]
        fn object_of_is_the_canonical_form_of_the_object(
            members in prop::collection::vec((text(), tree()), 0..8),
        ) {
            let mut seen = std::collections::HashSet::new();
            let members: Vec<(String, Tree)> =
                members.into_iter().filter(|(k, _)| seen.insert(k.clone())).collect();
            let parts = members
                .iter()
                .map(|(k, v)| (k.as_str(), to_vec(&to_value(v))))
                .collect();
            let got = String::from_utf8(object_of(parts)).unwrap();
            prop_assert_eq!(got, expected(&Tree::Obj(members)));
        }
    }

    #[test]
    fn keys_sort_by_utf8_bytes_not_by_utf16_units() {
        // U+FFFD is EF BF BD in UTF-8, FFFD in UTF-16; U+1F600 is F0 9F 98 80 in UTF-8 and
        // D83D DE00 in UTF-16: byte order puts the emoji last, UTF-16 order first.
        let members = vec![("😀", b"1".to_vec()), ("\u{FFFD}", b"2".to_vec())];
        assert_eq!(
            String::from_utf8(object_of(members)).unwrap(),
            "{\"\u{FFFD}\":2,\"😀\":1}"
        );
        // Floats are written as serde_json writes them (the oracle above covers integers).
        assert_eq!(
            to_vec(&json!({"x": 3.5, "y": 1e300})),
            br#"{"x":3.5,"y":1e+300}"#
        );
    }
}
