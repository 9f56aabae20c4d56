//! The reader: one record of any schema version this build knows, as the current types.
//!
//! A record line says its schema in `v`. [`read_record`] parses the versions in
//! [`KNOWN_SCHEMA_VERSIONS`], upcasting older ones to the current types (schema 1 is the only
//! one, so there is no upcaster yet), and reports a `v` it does not know instead of guessing:
//! such a line can still be checked for integrity (its hash and chain link do not depend on the
//! schema, see [`crate::chain`]), but its members mean what a later version says they mean.
//!
//! Members the current types do not have (added by a later revision of the same schema) are
//! tolerated and named in [`RecordRead::Known::unknown_members`]; the values stay in the line.

use std::fmt;

use serde::Deserialize;
use serde_json::Value;

use super::{AuditRecord, SCHEMA_VERSION};

/// The schema versions this build reads, oldest first. The last one is [`SCHEMA_VERSION`].
pub const KNOWN_SCHEMA_VERSIONS: &[u32] = &[1];

const _: () = assert!(KNOWN_SCHEMA_VERSIONS[KNOWN_SCHEMA_VERSIONS.len() - 1] == SCHEMA_VERSION);

/// What this build made of one record.
#[derive(Debug, Clone, PartialEq)]
pub enum RecordRead {
    /// A record of a schema this build knows, as the current types.
    Known {
        /// The `v` the record was written with.
        schema: u32,
        /// The record, upcast to [`SCHEMA_VERSION`] if it was older.
        record: Box<AuditRecord>,
        /// Members of the line that the current types have no field for, as JSON paths
        /// (`outcome.retries`, `inputs.args[0].encoding`), sorted. The chain's own
        /// `hash` member is not one. Members whose value is `null`, `false`, `[]` or an object
        /// of only such members are not counted: the writer skips those for absent fields, so
        /// they say nothing.
        unknown_members: Vec<String>,
    },
    /// `v` is a schema this build does not know: only its integrity can be checked.
    UnknownSchema {
        /// The `v` written in the record.
        v: u64,
    },
}

impl RecordRead {
    /// The record, when its schema is known.
    pub fn record(&self) -> Option<&AuditRecord> {
        match self {
            RecordRead::Known { record, .. } => Some(record),
            RecordRead::UnknownSchema { .. } => None,
        }
    }
}

/// Why a record could not be read.
#[derive(Debug)]
pub enum ReadError {
    /// The text is not one JSON object.
    NotAnObject(Option<serde_json::Error>),
    /// There is no `v` member, or it is not a non-negative integer.
    NoVersion,
    /// `v` is known but the record does not fit that schema.
    Invalid {
        /// The record's `v`.
        v: u32,
        /// What did not fit.
        source: serde_json::Error,
    },
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::NotAnObject(Some(e)) => write!(f, "the record is not JSON: {e}"),
            ReadError::NotAnObject(None) => f.write_str("the record is not a JSON object"),
            ReadError::NoVersion => {
                f.write_str("the record has no schema version (`v`, a non-negative integer)")
            }
            ReadError::Invalid { v, source } => {
                write!(f, "the record does not fit schema {v}: {source}")
            }
        }
    }
}

impl std::error::Error for ReadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ReadError::NotAnObject(Some(e)) | ReadError::Invalid { source: e, .. } => Some(e),
            _ => None,
        }
    }
}

impl fmt::Display for RecordRead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordRead::Known { schema, record, .. } => {
                write!(
                    f,
                    "schema {schema} record {} ({})",
                    record.record_id, record.kind
                )
            }
            RecordRead::UnknownSchema { v } => write!(f, "schema {v} not known to this verifier"),
        }
    }
}

/// Read one record: a sealed line (with its `hash` member) or its canonical bytes.
///
/// Interpretation only: the hash and the chain links are not checked here (they do not depend on
/// the schema; see [`crate::chain::line::open`]). Never panics on any input: `serde_json` stops
/// at 128 levels of nesting, which bounds the recursion of the unknown-member walk.
pub fn read_record(json: &str) -> Result<RecordRead, ReadError> {
    let raw: Value = serde_json::from_str(json).map_err(|e| ReadError::NotAnObject(Some(e)))?;
    if !raw.is_object() {
        return Err(ReadError::NotAnObject(None));
    }
    let v = raw
        .get("v")
        .and_then(Value::as_u64)
        .ok_or(ReadError::NoVersion)?;
    let Some(schema) = u32::try_from(v)
        .ok()
        .filter(|v| KNOWN_SCHEMA_VERSIONS.contains(v))
    else {
        return Ok(RecordRead::UnknownSchema { v });
    };
    let current = upcast(schema, raw);
    let record = AuditRecord::deserialize(&current)
        .map_err(|source| ReadError::Invalid { v: schema, source })?;
    let mut unknown_members = Vec::new();
    if let Ok(known) = serde_json::to_value(&record) {
        let mut path = String::new();
        unknown(&current, &known, &mut path, &mut unknown_members);
        unknown_members.sort();
    }
    Ok(RecordRead::Known {
        schema,
        record: Box::new(record),
        unknown_members,
    })
}

/// Rewrite a record of schema `from` into the members of [`SCHEMA_VERSION`] (renames, moved
/// members; `docs/SCHEMA-EVOLUTION.md`). Schema 1 is current: nothing to do.
fn upcast(from: u32, record: Value) -> Value {
    debug_assert!(KNOWN_SCHEMA_VERSIONS.contains(&from));
    record
}

/// True for what a writer skips for an absent field (`None`, `false`, an empty list or map).
fn says_nothing(v: &Value) -> bool {
    match v {
        Value::Null | Value::Bool(false) => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(m) => m.values().all(says_nothing),
        _ => false,
    }
}

/// Paths of `raw` that `known` (the record written back) lacks. Free-form values (`value`,
/// `attributes`, signals) come back whole, so nothing inside them is ever reported.
fn unknown(raw: &Value, known: &Value, path: &mut String, out: &mut Vec<String>) {
    match (raw, known) {
        (Value::Object(r), Value::Object(k)) => {
            for (name, rv) in r {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(name);
                match k.get(name) {
                    Some(kv) => unknown(rv, kv, path, out),
                    None if len == 0 && name == "hash" => {}
                    None if says_nothing(rv) => {}
                    None => out.push(path.clone()),
                }
                path.truncate(len);
            }
        }
        (Value::Array(r), Value::Array(k)) => {
            for (i, (rv, kv)) in r.iter().zip(k).enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                unknown(rv, kv, path, out);
                path.truncate(len);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// A canonical record with `kind` and `outcome.status` written as `kind` and `status`.
    fn canonical(kind: &str, status: &str) -> String {
        format!(
            r#"{{"v":1,"record_id":"01a21957-cb29-7074-a2b6-1905c8c4fba1","kind":{},"seq":0,"prev":"0000000000000000000000000000000000000000000000000000000000000000","service":{{"name":"s","instance":"01a21957-cb29-7074-a2b6-1905c8c4fba0"}},"time":{{"start":"2026-01-01T00:00:00.000000000Z"}},"correlation":{{}},"outcome":{{"status":{}}},"redactions":{{"rule_set":"r"}}}}"#,
            serde_json::to_string(kind).unwrap(),
            serde_json::to_string(status).unwrap(),
        )
    }

    proptest! {
        /// Any word in an enum member, known or not, reads and writes back to the same bytes.
        #[test]
        fn any_enum_word_round_trips_byte_for_byte(kind in any::<String>(), status in "\\PC{0,12}") {
            let text = canonical(&kind, &status);
            let RecordRead::Known { record, unknown_members, .. } = read_record(&text).unwrap() else {
                panic!("schema 1 not known");
            };
            prop_assert_eq!(record.kind.as_str(), kind.as_str());
            prop_assert_eq!(unknown_members, Vec::<String>::new());
            prop_assert_eq!(serde_json::to_string(&record).unwrap(), text);
        }

        /// Any bytes (as text), and every cut or byte change of a real record: an answer or an
        /// error, never a panic.
        #[test]
        fn any_input_is_an_answer_or_an_error(junk in "\\PC{0,64}", cut in 0usize..400, at in 0usize..400, byte in 0x20u8..0x7f) {
            let _ = read_record(&junk);
            let text = canonical("decision", "ok");
            let _ = read_record(text.get(..cut.min(text.len())).unwrap_or(""));
            let mut bytes = text.into_bytes();
            let i = at % bytes.len();
            bytes[i] = byte;
            if let Ok(t) = String::from_utf8(bytes) {
                let _ = read_record(&t);
            }
        }
    }

    #[test]
    fn garbage_is_an_error_never_a_panic() {
        for bad in [
            "",
            "[]",
            "1",
            "{",
            "{\"v\":\"1\"}",
            "{\"v\":-1}",
            "{\"v\":1.5}",
            "{}",
        ] {
            assert!(read_record(bad).is_err(), "{bad}");
        }
        assert!(matches!(
            read_record(r#"{"v":1,"kind":"decision"}"#),
            Err(ReadError::Invalid { v: 1, .. })
        ));
        for v in [0u64, 2, u64::from(u32::MAX) + 1, u64::MAX] {
            let read = read_record(&format!(r#"{{"v":{v},"anything":[]}}"#)).unwrap();
            assert_eq!(read, RecordRead::UnknownSchema { v });
            assert_eq!(
                read.to_string(),
                format!("schema {v} not known to this verifier")
            );
        }
    }

    #[test]
    fn unknown_members_are_named_and_skipped_defaults_are_not() {
        let raw: Value = serde_json::json!({
            "a": 1, "b": {"c": 2, "new": [1]}, "list": [{"x": 1, "y": "new"}],
            "hash": "h", "gone": null, "off": false, "empty": {"e": []}
        });
        let known = serde_json::json!({"a": 1, "b": {"c": 2}, "list": [{"x": 1}]});
        let mut out = Vec::new();
        unknown(&raw, &known, &mut String::new(), &mut out);
        assert_eq!(out, ["b.new", "list[0].y"]);
    }
}
