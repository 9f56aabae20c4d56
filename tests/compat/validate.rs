//! A JSON Schema validator for the subset of draft 2020-12 that schemars writes, so that each
//! *published* schema can act as the reader of its revision in the reader/writer matrix: a record
//! is readable by a reader of revision R if it is valid under R's published schema.
//!
//! Supported: `$ref` (JSON pointers into the same document, siblings applied too), `type`,
//! `const`, `enum`, `anyOf`, `oneOf`, `allOf`, `properties`, `required`,
//! `additionalProperties`, `items`, `pattern`, `format` (the integer formats; others are
//! annotations, as 2020-12 allows), `minimum`, `maximum`, `minLength`, `maxLength`, `minItems`,
//! `maxItems`. Any other keyword is an error, so an unsupported schema never passes silently.

use std::collections::HashMap;

use regex::Regex;
use serde_json::Value;

/// Keywords that never change validity.
const ANNOTATIONS: &[&str] = &[
    "description",
    "title",
    "$id",
    "$schema",
    "$comment",
    "$defs",
    "default",
    "examples",
    "deprecated",
    "readOnly",
    "writeOnly",
];

const SUPPORTED: &[&str] = &[
    "$ref",
    "type",
    "const",
    "enum",
    "anyOf",
    "oneOf",
    "allOf",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "pattern",
    "format",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
];

/// A validator for one schema document (patterns compiled once).
#[derive(Debug)]
pub struct Validator<'a> {
    root: &'a Value,
    patterns: HashMap<String, Result<Regex, String>>,
}

impl<'a> Validator<'a> {
    /// A validator of instances against `root`.
    pub fn new(root: &'a Value) -> Self {
        Validator {
            root,
            patterns: HashMap::new(),
        }
    }

    /// Every error (`$.outcome.status: ...`), empty if `instance` is valid.
    pub fn validate(&mut self, instance: &Value) -> Vec<String> {
        let mut errors = Vec::new();
        let root = self.root;
        self.check(root, instance, "$", 0, &mut errors);
        errors
    }

    fn check(&mut self, s: &Value, i: &Value, path: &str, depth: usize, errors: &mut Vec<String>) {
        if depth > 64 {
            return errors.push(format!("{path}: schema nested too deep"));
        }
        let m = match s {
            Value::Bool(true) => return,
            Value::Bool(false) => return errors.push(format!("{path}: nothing is allowed here")),
            Value::Object(m) => m,
            _ => return errors.push(format!("{path}: a schema must be an object or a boolean")),
        };
        for k in m.keys() {
            if !SUPPORTED.contains(&k.as_str()) && !ANNOTATIONS.contains(&k.as_str()) {
                errors.push(format!("{path}: unsupported schema keyword `{k}`"));
            }
        }
        if let Some(r) = m.get("$ref").and_then(Value::as_str) {
            match r.strip_prefix('#').and_then(|p| {
                if p.is_empty() {
                    Some(self.root)
                } else {
                    self.root.pointer(p)
                }
            }) {
                Some(target) => self.check(target, i, path, depth + 1, errors),
                None => errors.push(format!("{path}: unresolved $ref {r}")),
            }
        }
        if let Some(t) = m.get("type") {
            let types: Vec<&str> = match t {
                Value::String(t) => vec![t.as_str()],
                Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
                _ => vec![],
            };
            if !types.iter().any(|t| has_type(i, t)) {
                errors.push(format!(
                    "{path}: {} is not of type {}",
                    kind(i),
                    types.join(" or ")
                ));
            }
        }
        if let Some(c) = m.get("const")
            && c != i
        {
            errors.push(format!("{path}: {i} is not {c}"));
        }
        if let Some(e) = m.get("enum").and_then(Value::as_array)
            && !e.contains(i)
        {
            errors.push(format!("{path}: {i} is not one of the listed values"));
        }
        for (key, exactly_one) in [("anyOf", false), ("oneOf", true)] {
            if let Some(bs) = m.get(key).and_then(Value::as_array) {
                let here = format!("{path}: ");
                // Closest: a branch the value fits in shape (no error right here), then the
                // fewest errors.
                let rank = |e: &Vec<String>| (e.iter().any(|x| x.starts_with(&here)), e.len());
                let mut fits = 0;
                let mut closest: Option<Vec<String>> = None;
                for b in bs {
                    let mut e = Vec::new();
                    self.check(b, i, path, depth + 1, &mut e);
                    if e.is_empty() {
                        fits += 1;
                    } else if closest.as_ref().is_none_or(|c| rank(&e) < rank(c)) {
                        closest = Some(e);
                    }
                }
                match closest {
                    // The closest branch fits in shape and fails further in: say where.
                    Some(c) if fits == 0 && c.iter().all(|e| !e.starts_with(&here)) => {
                        errors.extend(c);
                    }
                    Some(c) if fits == 0 => errors.push(format!(
                        "{path}: fits no branch of {key} (closest: {})",
                        c.join("; ")
                    )),
                    _ => {}
                }
                if exactly_one && fits > 1 {
                    errors.push(format!("{path}: fits {fits} branches of oneOf"));
                }
            }
        }
        if let Some(all) = m.get("allOf").and_then(Value::as_array) {
            for b in all {
                self.check(b, i, path, depth + 1, errors);
            }
        }
        match i {
            Value::Object(obj) => {
                let props = m.get("properties").and_then(Value::as_object);
                for r in m
                    .get("required")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    if let Some(r) = r.as_str()
                        && !obj.contains_key(r)
                    {
                        errors.push(format!("{path}: required member `{r}` is missing"));
                    }
                }
                for (k, v) in obj {
                    let p = format!("{path}.{k}");
                    match props.and_then(|ps| ps.get(k)) {
                        Some(ps) => self.check(ps, v, &p, depth + 1, errors),
                        None => {
                            if let Some(extra) = m.get("additionalProperties") {
                                self.check(extra, v, &p, depth + 1, errors);
                            }
                        }
                    }
                }
            }
            Value::Array(items) => {
                if let Some(is) = m.get("items") {
                    for (n, v) in items.iter().enumerate() {
                        self.check(is, v, &format!("{path}[{n}]"), depth + 1, errors);
                    }
                }
                bound(m, "minItems", items.len(), true, path, errors);
                bound(m, "maxItems", items.len(), false, path, errors);
            }
            Value::String(text) => {
                if let Some(p) = m.get("pattern").and_then(Value::as_str) {
                    let re = self
                        .patterns
                        .entry(p.to_owned())
                        .or_insert_with(|| Regex::new(p).map_err(|e| e.to_string()));
                    match re {
                        Ok(re) if re.is_match(text) => {}
                        Ok(_) => errors.push(format!("{path}: {i} does not match {p}")),
                        Err(e) => errors.push(format!("{path}: pattern {p} does not compile: {e}")),
                    }
                }
                let chars = text.chars().count();
                bound(m, "minLength", chars, true, path, errors);
                bound(m, "maxLength", chars, false, path, errors);
            }
            Value::Number(n) => {
                if let Some(f) = m.get("format").and_then(Value::as_str)
                    && let Some((lo, hi)) = int_range(f)
                {
                    let fits = n
                        .as_i64()
                        .map(i128::from)
                        .or_else(|| n.as_u64().map(i128::from))
                        .is_some_and(|x| lo <= x && x <= hi);
                    if !fits {
                        errors.push(format!("{path}: {n} is not a {f}"));
                    }
                }
                let x = n.as_f64().unwrap_or(f64::NAN);
                if let Some(min) = m.get("minimum").and_then(Value::as_f64)
                    && x < min
                {
                    errors.push(format!("{path}: {n} is below the minimum {min}"));
                }
                if let Some(max) = m.get("maximum").and_then(Value::as_f64)
                    && x > max
                {
                    errors.push(format!("{path}: {n} is above the maximum {max}"));
                }
            }
            _ => {}
        }
    }
}

fn bound(
    m: &serde_json::Map<String, Value>,
    key: &str,
    n: usize,
    lower: bool,
    path: &str,
    errors: &mut Vec<String>,
) {
    if let Some(b) = m.get(key).and_then(Value::as_u64) {
        let n = n as u64;
        if (lower && n < b) || (!lower && n > b) {
            errors.push(format!("{path}: {key} {b} not met ({n})"));
        }
    }
}

fn int_range(format: &str) -> Option<(i128, i128)> {
    Some(match format {
        "uint8" => (0, u8::MAX.into()),
        "uint16" => (0, u16::MAX.into()),
        "uint32" => (0, u32::MAX.into()),
        "uint64" => (0, u64::MAX.into()),
        "int8" => (i8::MIN.into(), i8::MAX.into()),
        "int16" => (i16::MIN.into(), i16::MAX.into()),
        "int32" => (i32::MIN.into(), i32::MAX.into()),
        "int64" => (i64::MIN.into(), i64::MAX.into()),
        _ => return None,
    })
}

fn has_type(i: &Value, t: &str) -> bool {
    match t {
        "null" => i.is_null(),
        "boolean" => i.is_boolean(),
        "object" => i.is_object(),
        "array" => i.is_array(),
        "string" => i.is_string(),
        "number" => i.is_number(),
        "integer" => i.as_i64().is_some() || i.as_u64().is_some(),
        _ => false,
    }
}

fn kind(i: &Value) -> &'static str {
    match i {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn each_keyword_accepts_and_refuses() {
        let schema = json!({
            "type": "object",
            "properties": {
                "n": {"type": "integer", "format": "uint8", "minimum": 1},
                "s": {"type": ["string", "null"], "pattern": "^a+$", "maxLength": 3},
                "k": {"anyOf": [{"$ref": "#/$defs/K"}, {"type": "string"}]},
                "c": {"$ref": "#/$defs/K"},
                "l": {"type": "array", "items": {"enum": [1, 2]}, "maxItems": 2},
                "free": {"type": "object", "additionalProperties": {"type": "boolean"}}
            },
            "required": ["n"],
            "$defs": {"K": {"oneOf": [{"const": "x"}, {"const": "y"}]}}
        });
        let mut v = Validator::new(&schema);
        let good = json!({"n": 3, "s": "aa", "k": "new", "c": "y", "l": [1, 2], "free": {"a": true}, "more": 1});
        assert_eq!(v.validate(&good), Vec::<String>::new());
        assert_eq!(
            v.validate(&json!({"n": 1, "s": null})),
            Vec::<String>::new()
        );
        for (bad, path) in [
            (json!({}), "$: required member `n`"),
            (json!({"n": 0}), "$.n: 0 is below"),
            (json!({"n": 256}), "$.n: 256 is not a uint8"),
            (json!({"n": 1.5}), "$.n: a number is not of type integer"),
            (json!({"n": 1, "s": "ab"}), "$.s: \"ab\" does not match"),
            (json!({"n": 1, "s": "aaaa"}), "$.s: maxLength"),
            (json!({"n": 1, "k": 7}), "$.k: fits no branch of anyOf"),
            (json!({"n": 1, "c": "z"}), "$.c: fits no branch of oneOf"),
            (json!({"n": 1, "l": [3]}), "$.l[0]: 3 is not one of"),
            (json!({"n": 1, "l": [1, 1, 1]}), "$.l: maxItems"),
            (
                json!({"n": 1, "free": {"a": 1}}),
                "$.free.a: a number is not of type boolean",
            ),
        ] {
            let errors = v.validate(&bad);
            assert!(
                errors.iter().any(|e| e.starts_with(path)),
                "{bad}: {errors:?}"
            );
        }
    }

    #[test]
    fn an_unsupported_keyword_or_ref_is_an_error_not_a_pass() {
        for schema in [
            json!({"type": "object", "dependentRequired": {}}),
            json!({"$ref": "#/$defs/Missing"}),
            json!({"pattern": "("}),
        ] {
            let mut v = Validator::new(&schema);
            assert!(!v.validate(&json!("x")).is_empty(), "{schema}");
        }
    }
}
