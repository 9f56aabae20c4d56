//! The record schema compatibility checker (`docs/SCHEMA-EVOLUTION.md`).
//!
//! [`check`] answers one question about two JSON Schemas (draft 2020-12, the subset schemars
//! writes): does every record the *old* schema accepts still fit the *new* one, with the meaning
//! it had? That is BACKWARD compatibility (the new reader reads old records); checking the current
//! schema against every published one makes it BACKWARD_TRANSITIVE. The answer is conservative:
//! a change the checker cannot prove compatible is reported.
//!
//! The rules, each a [`Rule`]:
//! - a property of the old schema is gone ([`Rule::RemovedProperty`]);
//! - a property is required that was optional or did not exist ([`Rule::NewlyRequired`]);
//! - a JSON type the old schema accepted is refused (`integer` fits `number`)
//!   ([`Rule::ChangedType`]);
//! - a known enum value (a `const` or `enum` member) is gone ([`Rule::RemovedEnumValue`]), even
//!   when the enum is open and the value would still parse: its meaning is no longer written down;
//! - values that were free (or an open enum) are now a closed list ([`Rule::ClosedValues`]);
//! - a `format` was added or changed to a narrower one (`uint64` to `uint32`)
//!   ([`Rule::NarrowedFormat`]), a `pattern` was added or changed ([`Rule::NarrowedPattern`]),
//!   a bound (`minimum`, `maxLength`, ...) was added or tightened ([`Rule::NarrowedBound`]);
//! - an object that allowed other members (`additionalProperties` absent or `true`) no longer
//!   does, or their schema narrowed ([`Rule::ClosedObject`]);
//! - a branch of an `anyOf`/`oneOf` fits no branch of the new schema ([`Rule::NoLongerAccepted`]);
//! - a `$ref` does not resolve ([`Rule::UnresolvedRef`]);
//! - the new schema adds or changes a keyword the checker does not understand (`allOf`, `not`,
//!   `if`, `patternProperties`, ...): it cannot prove the change compatible
//!   ([`Rule::UnsupportedKeyword`]).
//!
//! Adding an optional property, adding an enum value, opening an enum (`anyOf` the known values
//! and any string), removing a bound, widening a type or format: all pass. Annotations
//! (`description`, `title`, `$id`, `default`, `examples`) are ignored.
//!
//! `$ref`s are resolved against each schema's own root (`#/$defs/...`, any JSON pointer); a
//! recursive schema terminates because a pair of definitions already being compared is assumed
//! compatible (the comparison is coinductive).

pub mod registry;
pub mod validate;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;

use serde_json::{Map, Value};

/// Which rule a change breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rule {
    /// A property of the old schema is not in the new one.
    RemovedProperty,
    /// A property is required that the old schema did not require.
    NewlyRequired,
    /// A JSON type the old schema accepted is refused.
    ChangedType,
    /// A known value (`const`, `enum`) of the old schema is not known to the new one.
    RemovedEnumValue,
    /// Free values (or an open enum) became a closed list.
    ClosedValues,
    /// A `format` was added or narrowed.
    NarrowedFormat,
    /// A `pattern` was added or changed.
    NarrowedPattern,
    /// A numeric, length or size bound was added or tightened.
    NarrowedBound,
    /// An object no longer accepts members it did before.
    ClosedObject,
    /// A shape the old schema accepted fits no branch of the new one.
    NoLongerAccepted,
    /// A `$ref` does not resolve.
    UnresolvedRef,
    /// A keyword the checker does not understand was added or changed.
    UnsupportedKeyword,
}

/// One incompatible change.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Incompatibility {
    /// Where, as a path into the record (`$.outcome.status`, `$.versions[]`, `$.attributes.*`).
    pub path: String,
    /// Which rule.
    pub rule: Rule,
    /// What changed, in words.
    pub detail: String,
}

impl fmt::Display for Incompatibility {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {:?}: {}", self.path, self.rule, self.detail)
    }
}

/// Every incompatible change from `old` to `new`, sorted; empty if records of `old` all fit
/// `new`.
pub fn check(old: &Value, new: &Value) -> Vec<Incompatibility> {
    let mut c = Checker {
        old_root: old,
        new_root: new,
        in_progress: HashSet::new(),
        out: Vec::new(),
    };
    c.compare(old, new, "$", 0);
    // Known values, path by path: an open enum accepts a removed value as any string, so the
    // structural comparison above cannot see it go.
    let (mut old_values, mut new_values) = (Default::default(), Default::default());
    value_paths(old, old, "$", &mut Vec::new(), &mut old_values);
    value_paths(new, new, "$", &mut Vec::new(), &mut new_values);
    for (path, old_set) in &old_values {
        // A path the new schema lacks is a removed property, reported as such.
        if let Some(new_set) = new_values.get(path) {
            for v in old_set.difference(new_set) {
                c.push(
                    path,
                    Rule::RemovedEnumValue,
                    format!("value {v} is no longer known"),
                );
            }
        }
    }
    c.out.sort();
    c.out.dedup();
    c.out
}

/// Every instance path of `s` (through `$ref`, `anyOf`/`oneOf`, members and items) with the
/// known values (`const`, `enum`) any branch allows there.
fn value_paths(
    root: &Value,
    s: &Value,
    path: &str,
    stack: &mut Vec<String>,
    out: &mut BTreeMap<String, BTreeSet<String>>,
) {
    if stack.len() > 32 {
        return;
    }
    let Ok(r) = resolve(root, s) else { return };
    if let Some(via) = &r.via {
        if stack.contains(via) {
            return;
        }
        stack.push(via.clone());
    }
    let s = &r.schema;
    let set = out.entry(path.to_owned()).or_default();
    if let Some(v) = own_values(s) {
        set.extend(v);
    }
    for b in branches(s).into_iter().flatten() {
        value_paths(root, b, path, stack, out);
    }
    if let Some(props) = s.get("properties").and_then(Value::as_object) {
        for (name, p) in props {
            value_paths(root, p, &member_path(path, name), stack, out);
        }
    }
    if let Some(items) = s.get("items") {
        value_paths(root, items, &format!("{path}[]"), stack, out);
    }
    if let Some(extra @ Value::Object(_)) = s.get("additionalProperties") {
        value_paths(root, extra, &member_path(path, "*"), stack, out);
    }
    if r.via.is_some() {
        stack.pop();
    }
}

/// Annotation keywords: they change no instance's validity.
const ANNOTATIONS: &[&str] = &[
    "description",
    "title",
    "$id",
    "$schema",
    "$comment",
    "default",
    "examples",
    "deprecated",
    "readOnly",
    "writeOnly",
    "$defs",
    "definitions",
];

/// Past this depth of nested comparisons (not of `$ref` cycles, which end on their own) the
/// schema is not one schemars writes; stop rather than overflow the stack.
const MAX_DEPTH: usize = 128;

struct Checker<'a> {
    old_root: &'a Value,
    new_root: &'a Value,
    /// Pairs of `$ref`s being compared: met again, they are assumed compatible.
    in_progress: HashSet<(String, String)>,
    out: Vec<Incompatibility>,
}

/// A schema after `$ref` resolution: the target with the referring node's own keywords merged
/// over it (2020-12 applies both).
struct Resolved {
    schema: Value,
    via: Option<String>,
}

fn pointer<'v>(root: &'v Value, reference: &str) -> Option<&'v Value> {
    let frag = reference.strip_prefix('#')?;
    if frag.is_empty() {
        return Some(root);
    }
    root.pointer(frag)
}

fn resolve(root: &Value, node: &Value) -> Result<Resolved, String> {
    let mut schema = node.clone();
    let mut via = None;
    for _ in 0..32 {
        let Some(reference) = schema
            .get("$ref")
            .and_then(Value::as_str)
            .map(str::to_owned)
        else {
            return Ok(Resolved { schema, via });
        };
        let target = pointer(root, &reference).ok_or_else(|| reference.clone())?;
        let mut merged = target.clone();
        if let (Some(m), Some(own)) = (merged.as_object_mut(), schema.as_object()) {
            for (k, v) in own {
                if k != "$ref" && !ANNOTATIONS.contains(&k.as_str()) {
                    m.insert(k.clone(), v.clone());
                }
            }
        }
        via.get_or_insert(reference);
        schema = merged;
    }
    Err("a chain of more than 32 $refs".into())
}

/// True for a schema every instance fits: `true`, `{}` or annotations only.
fn accepts_all(s: &Value) -> bool {
    match s {
        Value::Bool(b) => *b,
        Value::Object(m) => m.keys().all(|k| ANNOTATIONS.contains(&k.as_str())),
        _ => false,
    }
}

fn branches(s: &Value) -> Option<&Vec<Value>> {
    s.get("anyOf")
        .or_else(|| s.get("oneOf"))
        .and_then(Value::as_array)
}

/// The values a node's `const`/`enum` (its own only) allow, as JSON text.
fn own_values(s: &Value) -> Option<BTreeSet<String>> {
    if let Some(c) = s.get("const") {
        return Some(BTreeSet::from([c.to_string()]));
    }
    s.get("enum")
        .and_then(Value::as_array)
        .map(|e| e.iter().map(Value::to_string).collect())
}

fn type_set(s: &Value) -> Option<BTreeSet<String>> {
    match s.get("type")? {
        Value::String(t) => Some(BTreeSet::from([t.clone()])),
        Value::Array(ts) => Some(
            ts.iter()
                .filter_map(|t| t.as_str().map(str::to_owned))
                .collect(),
        ),
        _ => None,
    }
}

/// The JSON type of a `const`/`enum` value.
fn type_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Integer formats by the range they hold: `from` widens to `to` if every value of `from` fits.
fn format_widens(from: &str, to: &str) -> bool {
    fn range(f: &str) -> Option<(i128, i128)> {
        Some(match f {
            "uint8" => (0, u8::MAX.into()),
            "uint16" => (0, u16::MAX.into()),
            "uint32" | "uint" => (0, u32::MAX.into()),
            "uint64" => (0, u64::MAX.into()),
            "int8" => (i8::MIN.into(), i8::MAX.into()),
            "int16" => (i16::MIN.into(), i16::MAX.into()),
            "int32" | "int" => (i32::MIN.into(), i32::MAX.into()),
            "int64" => (i64::MIN.into(), i64::MAX.into()),
            _ => return None,
        })
    }
    match (range(from), range(to)) {
        (Some((a, b)), Some((c, d))) => c <= a && b <= d,
        _ => from == "float" && to == "double",
    }
}

/// The keywords [`check`] understands (besides [`ANNOTATIONS`]).
const UNDERSTOOD: &[&str] = &[
    "$ref",
    "type",
    "const",
    "enum",
    "anyOf",
    "oneOf",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "pattern",
    "format",
    "minimum",
    "exclusiveMinimum",
    "minLength",
    "minItems",
    "minProperties",
    "maximum",
    "exclusiveMaximum",
    "maxLength",
    "maxItems",
    "maxProperties",
];

const LOWER_BOUNDS: &[&str] = &[
    "minimum",
    "exclusiveMinimum",
    "minLength",
    "minItems",
    "minProperties",
];
const UPPER_BOUNDS: &[&str] = &[
    "maximum",
    "exclusiveMaximum",
    "maxLength",
    "maxItems",
    "maxProperties",
];

/// The JSON type a bound keyword constrains.
fn bound_type(keyword: &str) -> &'static str {
    match keyword {
        "minLength" | "maxLength" => "string",
        "minItems" | "maxItems" => "array",
        "minProperties" | "maxProperties" => "object",
        _ => "number",
    }
}

fn member_path(path: &str, name: &str) -> String {
    format!("{path}.{name}")
}

fn names(set: &BTreeSet<String>) -> String {
    set.iter().cloned().collect::<Vec<_>>().join(", ")
}

impl Checker<'_> {
    fn push(&mut self, path: &str, rule: Rule, detail: impl Into<String>) {
        self.out.push(Incompatibility {
            path: path.to_owned(),
            rule,
            detail: detail.into(),
        });
    }

    /// The incompatibilities of `old` against `new` alone, without recording them.
    fn trial(
        &mut self,
        old: &Value,
        new: &Value,
        path: &str,
        depth: usize,
    ) -> Vec<Incompatibility> {
        let saved = std::mem::take(&mut self.out);
        self.compare(old, new, path, depth + 1);
        std::mem::replace(&mut self.out, saved)
    }

    fn compare(&mut self, old: &Value, new: &Value, path: &str, depth: usize) {
        if depth > MAX_DEPTH {
            self.push(
                path,
                Rule::NoLongerAccepted,
                "schemas nested too deep to compare",
            );
            return;
        }
        let (old_r, new_r) = match (resolve(self.old_root, old), resolve(self.new_root, new)) {
            (Ok(o), Ok(n)) => (o, n),
            (Err(r), _) => return self.push(path, Rule::UnresolvedRef, format!("old schema: {r}")),
            (_, Err(r)) => return self.push(path, Rule::UnresolvedRef, format!("new schema: {r}")),
        };
        let key = (
            old_r.via.clone().unwrap_or_default(),
            new_r.via.clone().unwrap_or_default(),
        );
        let guarded = old_r.via.is_some() && new_r.via.is_some();
        if guarded && !self.in_progress.insert(key.clone()) {
            return;
        }
        self.compare_resolved(&old_r.schema, &new_r.schema, path, depth);
        if guarded {
            self.in_progress.remove(&key);
        }
    }

    fn compare_resolved(&mut self, old: &Value, new: &Value, path: &str, depth: usize) {
        if accepts_all(new) || old == &Value::Bool(false) {
            return;
        }
        if let Some(m) = new.as_object() {
            for (k, v) in m {
                let known = UNDERSTOOD.contains(&k.as_str()) || ANNOTATIONS.contains(&k.as_str());
                if !known && old.get(k) != Some(v) {
                    self.push(
                        path,
                        Rule::UnsupportedKeyword,
                        format!("`{k}` was added or changed, and the checker cannot compare it"),
                    );
                }
            }
        }
        if new == &Value::Bool(false) {
            return self.push(
                path,
                Rule::NoLongerAccepted,
                "the new schema accepts nothing here",
            );
        }
        match (branches(old), branches(new)) {
            (obs, Some(nbs)) => {
                let olds: Vec<Value> = obs.cloned().unwrap_or_else(|| vec![old.clone()]);
                for (i, o) in olds.iter().enumerate() {
                    let mut best: Option<Vec<Incompatibility>> = None;
                    for n in nbs {
                        let got = self.trial(o, n, path, depth);
                        if best.as_ref().is_none_or(|b| got.len() < b.len()) {
                            best = Some(got);
                        }
                        if best.as_ref().is_some_and(Vec::is_empty) {
                            break;
                        }
                    }
                    let best = best.unwrap_or_default();
                    // Fits but for removed values: the value pass names those.
                    if best
                        .iter()
                        .all(|b| b.rule == Rule::RemovedEnumValue && b.path == path)
                    {
                        continue;
                    }
                    // Fits in shape, with differences further in: report those.
                    if nbs.len() == 1 || best.iter().all(|b| b.path != path) {
                        self.out.extend(best);
                    } else {
                        let what = if obs.is_some() {
                            format!("branch {i} of the old schema")
                        } else {
                            "the old schema".to_owned()
                        };
                        self.push(
                            path,
                            Rule::NoLongerAccepted,
                            format!(
                                "{what} fits no branch of the new one (closest: {})",
                                best[0]
                            ),
                        );
                    }
                }
            }
            (Some(obs), None) => {
                for o in obs.clone() {
                    self.compare(&o, new, path, depth + 1);
                }
            }
            (None, None) => self.compare_plain(old, new, path, depth),
        }
    }

    fn compare_plain(&mut self, old: &Value, new: &Value, path: &str, depth: usize) {
        // Types.
        let old_types = type_set(old).or_else(|| {
            own_values(old).map(|_| {
                let mut t = BTreeSet::new();
                for v in old
                    .get("enum")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    t.insert(type_of(v).to_owned());
                }
                if let Some(c) = old.get("const") {
                    t.insert(type_of(c).to_owned());
                }
                t
            })
        });
        if let Some(nt) = type_set(new) {
            match &old_types {
                None => self.push(
                    path,
                    Rule::ChangedType,
                    format!("any type was accepted, now only {}", names(&nt)),
                ),
                Some(ot) => {
                    for t in ot {
                        let fits = nt.contains(t) || (t == "integer" && nt.contains("number"));
                        if !fits {
                            self.push(
                                path,
                                Rule::ChangedType,
                                format!(
                                    "type {t} is refused (was {}, now {})",
                                    names(ot),
                                    names(&nt)
                                ),
                            );
                        }
                    }
                }
            }
        }
        // Values.
        if let Some(nv) = own_values(new) {
            match own_values(old) {
                None => self.push(
                    path,
                    Rule::ClosedValues,
                    format!("any value was accepted, now only {}", names(&nv)),
                ),
                Some(ov) => {
                    for v in ov.difference(&nv) {
                        self.push(
                            path,
                            Rule::RemovedEnumValue,
                            format!("value {v} is no longer known"),
                        );
                    }
                }
            }
        }
        // Which rules apply: those of the JSON types an old value could have.
        let could = |t: &str| {
            old_types
                .as_ref()
                .is_none_or(|ts| ts.contains(t) || (t == "number" && ts.contains("integer")))
        };
        // Format and pattern.
        let fmt_of = |s: &Value| s.get("format").and_then(Value::as_str).map(str::to_owned);
        if let Some(nf) = fmt_of(new) {
            match fmt_of(old) {
                None => self.push(path, Rule::NarrowedFormat, format!("format {nf} added")),
                Some(of) if of == nf || format_widens(&of, &nf) => {}
                Some(of) => self.push(
                    path,
                    Rule::NarrowedFormat,
                    format!("format {of} became {nf}"),
                ),
            }
        }
        if let Some(np) = new.get("pattern").filter(|_| could("string")) {
            match old.get("pattern") {
                Some(op) if op == np => {}
                Some(op) => self.push(
                    path,
                    Rule::NarrowedPattern,
                    format!("pattern {op} became {np}"),
                ),
                None => self.push(path, Rule::NarrowedPattern, format!("pattern {np} added")),
            }
        }
        // Bounds.
        for (keys, tighter) in [(LOWER_BOUNDS, true), (UPPER_BOUNDS, false)] {
            for &k in keys {
                if !could(bound_type(k)) {
                    continue;
                }
                let Some(nb) = new.get(k).and_then(Value::as_f64) else {
                    continue;
                };
                match old.get(k).and_then(Value::as_f64) {
                    None => self.push(path, Rule::NarrowedBound, format!("{k} {nb} added")),
                    Some(ob) if (tighter && nb > ob) || (!tighter && nb < ob) => {
                        self.push(path, Rule::NarrowedBound, format!("{k} {ob} became {nb}"))
                    }
                    Some(_) => {}
                }
            }
        }
        // Objects.
        if could("object") {
            self.compare_object(old, new, path, depth);
        }
        // Arrays.
        if let Some(ni) = new.get("items").filter(|_| could("array")) {
            let p = format!("{path}[]");
            match old.get("items") {
                Some(oi) => self.compare(oi, ni, &p, depth + 1),
                None if accepts_all(ni) => {}
                None => self.push(&p, Rule::ChangedType, "array items are now constrained"),
            }
        }
    }

    fn compare_object(&mut self, old: &Value, new: &Value, path: &str, depth: usize) {
        let empty = Map::new();
        let props = |s: &Value| -> Map<String, Value> {
            s.get("properties")
                .and_then(Value::as_object)
                .unwrap_or(&empty)
                .clone()
        };
        let (op, np) = (props(old), props(new));
        for (name, os) in &op {
            let p = member_path(path, name);
            match np.get(name) {
                None => self.push(&p, Rule::RemovedProperty, "the property was removed"),
                Some(ns) => self.compare(os, ns, &p, depth + 1),
            }
        }
        let required = |s: &Value| -> BTreeSet<String> {
            s.get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|r| r.as_str().map(str::to_owned))
                .collect()
        };
        let old_req = required(old);
        for r in required(new).difference(&old_req) {
            let detail = if op.contains_key(r) {
                "an optional property became required"
            } else {
                "a new property is required"
            };
            self.push(&member_path(path, r), Rule::NewlyRequired, detail);
        }
        match (
            old.get("additionalProperties"),
            new.get("additionalProperties"),
        ) {
            (_, None) | (_, Some(Value::Bool(true))) => {}
            (Some(Value::Bool(false)), _) => {}
            (None | Some(Value::Bool(true)), Some(Value::Bool(false))) => self.push(
                path,
                Rule::ClosedObject,
                "additionalProperties: false added",
            ),
            (None | Some(Value::Bool(true)), Some(_)) => self.push(
                path,
                Rule::ClosedObject,
                "other members are now constrained",
            ),
            (Some(oa), Some(na)) => self.compare(oa, na, &member_path(path, "*"), depth + 1),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    /// A record-like schema: one required id, an optional open enum behind a `$ref`, a nested
    /// object, an array of objects, a free map.
    fn base() -> Value {
        json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "properties": {
                "v": {"type": "integer", "format": "uint32", "minimum": 0},
                "id": {"type": "string", "pattern": "^[0-9a-f]{8}$"},
                "kind": {"anyOf": [{"$ref": "#/$defs/Kind"}, {"type": "string"}]},
                "note": {"type": ["string", "null"]},
                "outcome": {"anyOf": [{"$ref": "#/$defs/Outcome"}, {"type": "null"}]},
                "items": {"type": "array", "items": {"$ref": "#/$defs/Item"}},
                "attributes": {"type": "object", "additionalProperties": true}
            },
            "required": ["v", "id", "kind"],
            "$defs": {
                "Kind": {"oneOf": [
                    {"type": "string", "const": "decision", "description": "A decision."},
                    {"type": "string", "const": "tool"}
                ]},
                "Outcome": {
                    "type": "object",
                    "properties": {
                        "status": {"$ref": "#/$defs/Status"},
                        "count": {"type": "integer", "format": "uint64", "minimum": 0}
                    },
                    "required": ["status"]
                },
                "Status": {"type": "string", "enum": ["ok", "err", "panic"]},
                "Item": {
                    "type": "object",
                    "properties": {"name": {"type": "string", "maxLength": 64}},
                    "required": ["name"]
                }
            }
        })
    }

    /// `base` changed by `f`.
    fn with(f: impl FnOnce(&mut Value)) -> Value {
        let mut s = base();
        f(&mut s);
        s
    }

    fn rules(old: &Value, new: &Value) -> Vec<(String, Rule)> {
        check(old, new)
            .into_iter()
            .map(|i| (i.path, i.rule))
            .collect()
    }

    #[track_caller]
    fn fires(new: Value, path: &str, rule: Rule) {
        let got = check(&base(), &new);
        assert!(
            got.iter().any(|i| i.path == path && i.rule == rule),
            "expected {rule:?} at {path}, got {got:#?}"
        );
    }

    #[test]
    fn a_schema_is_compatible_with_itself() {
        assert_eq!(rules(&base(), &base()), []);
    }

    #[test]
    fn compatible_changes_pass() {
        let new = with(|s| {
            // An optional property, top level and nested behind a $ref.
            s["properties"]["retries"] = json!({"type": "integer", "format": "uint32"});
            s["$defs"]["Outcome"]["properties"]["detail"] = json!({"type": ["string", "null"]});
            // An enum value, in a closed enum and in an open one.
            s["$defs"]["Status"]["enum"] = json!(["ok", "err", "panic", "timeout"]);
            s["$defs"]["Kind"]["oneOf"]
                .as_array_mut()
                .unwrap()
                .push(json!({"const": "escalation"}));
            // Wider format and type, a looser bound, a removed pattern, descriptions changed.
            s["$defs"]["Outcome"]["properties"]["count"] =
                json!({"type": ["integer", "null"], "format": "uint64"});
            s["properties"]["v"] = json!({"type": "number", "format": "uint64", "minimum": 0});
            s["$defs"]["Item"]["properties"]["name"] = json!({"type": "string", "maxLength": 128});
            s["properties"]["id"] = json!({"type": "string", "description": "any id now"});
            s["properties"]["note"]["description"] = json!("changed words");
            // A required property made optional.
            s["required"] = json!(["v", "kind"]);
        });
        assert_eq!(check(&base(), &new), []);
    }

    #[test]
    fn opening_a_closed_enum_passes_and_closing_an_open_one_does_not() {
        let closed = with(|s| s["properties"]["kind"] = json!({"$ref": "#/$defs/Kind"}));
        assert_eq!(check(&closed, &base()), []);
        let got = rules(&base(), &closed);
        assert_eq!(
            got,
            [("$.kind".to_owned(), Rule::NoLongerAccepted)],
            "{got:?}"
        );
    }

    #[test]
    fn removed_property() {
        fires(
            with(|s| drop(s["properties"].as_object_mut().unwrap().remove("note"))),
            "$.note",
            Rule::RemovedProperty,
        );
        // Behind anyOf and $ref.
        fires(
            with(|s| {
                drop(
                    s["$defs"]["Outcome"]["properties"]
                        .as_object_mut()
                        .unwrap()
                        .remove("count"),
                )
            }),
            "$.outcome.count",
            Rule::RemovedProperty,
        );
    }

    #[test]
    fn newly_required() {
        fires(
            with(|s| s["required"] = json!(["v", "id", "kind", "note"])),
            "$.note",
            Rule::NewlyRequired,
        );
        let new = with(|s| {
            s["$defs"]["Item"]["properties"]["size"] = json!({"type": "integer"});
            s["$defs"]["Item"]["required"] = json!(["name", "size"]);
        });
        let got = check(&base(), &new);
        assert_eq!(got.len(), 1, "{got:#?}");
        assert_eq!(
            (got[0].path.as_str(), got[0].rule),
            ("$.items[].size", Rule::NewlyRequired)
        );
        assert_eq!(got[0].detail, "a new property is required");
    }

    #[test]
    fn changed_type() {
        fires(
            with(|s| s["properties"]["v"]["type"] = json!("string")),
            "$.v",
            Rule::ChangedType,
        );
        // Narrowed: null no longer accepted.
        fires(
            with(|s| s["properties"]["note"]["type"] = json!("string")),
            "$.note",
            Rule::ChangedType,
        );
        // number does not fit integer.
        let num = with(|s| s["properties"]["v"]["type"] = json!("number"));
        assert_eq!(
            check(&num, &base())
                .iter()
                .map(|i| i.rule)
                .collect::<Vec<_>>(),
            [Rule::ChangedType]
        );
        // A free map became a typed one.
        fires(
            with(|s| s["properties"]["attributes"] = json!({"type": "array"})),
            "$.attributes",
            Rule::ChangedType,
        );
    }

    #[test]
    fn removed_enum_value() {
        // From a closed enum behind a $ref inside a nested object...
        fires(
            with(|s| s["$defs"]["Status"]["enum"] = json!(["ok", "err"])),
            "$.outcome.status",
            Rule::RemovedEnumValue,
        );
        // ...and from an open enum, although "tool" would still parse as a string.
        let new = with(|s| drop(s["$defs"]["Kind"]["oneOf"].as_array_mut().unwrap().pop()));
        let got = check(&base(), &new);
        assert_eq!(got.len(), 1, "{got:#?}");
        assert_eq!(
            (got[0].path.as_str(), got[0].rule),
            ("$.kind", Rule::RemovedEnumValue)
        );
        assert_eq!(got[0].detail, "value \"tool\" is no longer known");
    }

    #[test]
    fn closed_values() {
        fires(
            with(|s| s["properties"]["note"]["enum"] = json!(["a", "b", null])),
            "$.note",
            Rule::ClosedValues,
        );
    }

    #[test]
    fn narrowed_format_pattern_and_bounds() {
        fires(
            with(|s| s["$defs"]["Outcome"]["properties"]["count"]["format"] = json!("uint32")),
            "$.outcome.count",
            Rule::NarrowedFormat,
        );
        fires(
            with(|s| s["properties"]["note"]["format"] = json!("date-time")),
            "$.note",
            Rule::NarrowedFormat,
        );
        fires(
            with(|s| s["properties"]["id"]["pattern"] = json!("^[0-9a-f]{16}$")),
            "$.id",
            Rule::NarrowedPattern,
        );
        fires(
            with(|s| s["properties"]["note"]["pattern"] = json!("^x")),
            "$.note",
            Rule::NarrowedPattern,
        );
        fires(
            with(|s| s["$defs"]["Item"]["properties"]["name"]["maxLength"] = json!(32)),
            "$.items[].name",
            Rule::NarrowedBound,
        );
        fires(
            with(|s| s["properties"]["v"]["minimum"] = json!(1)),
            "$.v",
            Rule::NarrowedBound,
        );
        fires(
            with(|s| s["properties"]["items"]["maxItems"] = json!(10)),
            "$.items",
            Rule::NarrowedBound,
        );
    }

    #[test]
    fn closed_object() {
        fires(
            with(|s| s["$defs"]["Item"]["additionalProperties"] = json!(false)),
            "$.items[]",
            Rule::ClosedObject,
        );
        fires(
            with(|s| {
                s["properties"]["attributes"]["additionalProperties"] = json!({"type": "string"})
            }),
            "$.attributes",
            Rule::ClosedObject,
        );
        // Already closed in the old schema: closing it again is no change.
        let closed = with(|s| s["$defs"]["Item"]["additionalProperties"] = json!(false));
        assert_eq!(check(&closed, &closed), []);
    }

    #[test]
    fn no_longer_accepted_branch() {
        // `outcome` was an object or null; now it is an object only.
        fires(
            with(|s| s["properties"]["outcome"] = json!({"$ref": "#/$defs/Outcome"})),
            "$.outcome",
            Rule::ChangedType,
        );
        // An anyOf whose null branch became a number branch.
        fires(
            with(|s| s["properties"]["outcome"]["anyOf"][1] = json!({"type": "number"})),
            "$.outcome",
            Rule::NoLongerAccepted,
        );
    }

    #[test]
    fn unresolved_ref() {
        fires(
            with(|s| drop(s["$defs"].as_object_mut().unwrap().remove("Item"))),
            "$.items[]",
            Rule::UnresolvedRef,
        );
    }

    #[test]
    fn an_unsupported_keyword_is_not_proven_compatible() {
        fires(
            with(|s| s["$defs"]["Item"]["allOf"] = json!([{"required": ["size"]}])),
            "$.items[]",
            Rule::UnsupportedKeyword,
        );
        fires(
            with(|s| s["properties"]["note"]["not"] = json!({"const": "x"})),
            "$.note",
            Rule::UnsupportedKeyword,
        );
        // The same keyword, unchanged on both sides, is no change.
        let both = with(|s| s["properties"]["note"]["not"] = json!({"const": "x"}));
        assert_eq!(check(&both, &both), []);
    }

    #[test]
    fn recursive_schemas_terminate() {
        let tree = |leaf: &str| {
            json!({
                "$ref": "#/$defs/Node",
                "$defs": {"Node": {
                    "type": "object",
                    "properties": {
                        "label": {"type": leaf},
                        "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}}
                    }
                }}
            })
        };
        assert_eq!(check(&tree("string"), &tree("string")), []);
        let got = rules(&tree("string"), &tree("integer"));
        assert_eq!(got, [("$.label".to_owned(), Rule::ChangedType)]);
    }
}
