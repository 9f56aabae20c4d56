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
    use serde_json::json;

    #[test]
    fn sorts_keys_at_every_depth() {
        let v = json!({"b": 1, "a": {"d": [3, {"z": null, "y": "x"}], "c": true}});
        assert_eq!(
            String::from_utf8(to_vec(&v)).unwrap(),
            r#"{"a":{"c":true,"d":[3,{"y":"x","z":null}]},"b":1}"#
        );
    }

    #[test]
    fn object_of_matches_to_vec_of_the_object() {
        let a = json!({"z": [1, {"b": 2, "a": "é\n"}], "y": null});
        let b = json!("text");
        let members = vec![
            ("zeta", to_vec(&a)),
            ("alpha", to_vec(&b)),
            ("Mid", to_vec(&json!(3.5))),
        ];
        let object = json!({"zeta": a, "alpha": b, "Mid": 3.5});
        assert_eq!(object_of(members), to_vec(&object));
        assert_eq!(object_of(Vec::new()), b"{}");
    }

    #[test]
    fn hashmap_order_does_not_matter() {
        let mut a = std::collections::HashMap::new();
        let mut b = std::collections::HashMap::new();
        for i in 0..50 {
            a.insert(format!("k{i}"), i);
        }
        for i in (0..50).rev() {
            b.insert(format!("k{i}"), i);
        }
        let va = serde_json::to_value(&a).unwrap();
        let vb = serde_json::to_value(&b).unwrap();
        assert_eq!(to_vec(&va), to_vec(&vb));
    }
}
