//! Open enums: the closed sets of a record (`kind`, `status`, `mode`, ...) as a reader sees them.
//!
//! A writer of this build only ever writes the values it knows, so every enum of the record
//! types is closed on the write path. A *reader* may meet a record written by a later revision
//! of the schema that added a value (a new record kind, a new outcome status): adding an enum
//! value is a compatible change (`docs/SCHEMA-EVOLUTION.md`), so the reader must keep and show
//! the value rather than reject the record. [`Open<T>`] is that: [`Open::Known`] for a value of
//! `T`, [`Open::Unknown`] for any other string, kept as written.
//!
//! Architecture Invariant: the serialized form of `Open::Known(t)` is exactly what records held
//! for `t` before enums were open (the word the derived `Serialize` of `T` writes; for
//! [`RedactAction`], its provenance text `mask(4)`), so records written before keep their
//! canonical bytes; an `Open::Unknown` is written back as the same string it was read from. A word is read as `Known` only if writing it back gives the same word (`mask(04)` is
//! not `mask(4)`), so reading and writing a record never changes an enum member's text.
//! (JSON escapes are decoded on reading, as for every string; integrity is checked on the raw
//! line bytes, never on a re-serialization, see [`crate::chain`].)

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::followup::HumanActionKind;
use crate::point::{ArtifactRole, PointKind, RedactAction, SideEffect};
use crate::record::{CaptureMode, DigestAlg, OutcomeStatus, RecordKind, VersionOrigin};

mod sealed {
    pub trait Sealed {}
}

/// A closed set of words written in records; the known half of an [`Open`] enum.
///
/// Sealed: implemented for the enums of [`crate::record`] only.
pub trait OpenEnum: Copy + Eq + fmt::Debug + Sized + 'static + sealed::Sealed {
    /// Every value whose word is fixed (for [`RedactAction`], the ones without a parameter).
    const KNOWN: &'static [Self];

    /// The word written in records.
    fn word(&self) -> Cow<'static, str>;

    /// The value written as `word`, if it is one this build knows.
    fn from_word(word: &str) -> Option<Self> {
        Self::KNOWN.iter().copied().find(|k| k.word() == word)
    }

    /// The JSON Schema of the known words (what `T` alone would have).
    #[cfg(feature = "schema")]
    fn known_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema;
}

/// A value that this build does not know, kept exactly as it was read.
///
/// Only reading a record makes one, and never for a word `T` knows: so two `Open` values are
/// equal exactly when their words are.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UnknownValue(Box<str>);

impl UnknownValue {
    /// The word as written in the record.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UnknownValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An enum member of a record: a value this build knows, or one a later schema revision added.
///
/// Compare with a known value directly (`record.kind == RecordKind::Decision`); match with
/// [`Open::known`]; show with [`Open::as_str`] or `Display`, which give the word as written.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Open<T> {
    /// A value of `T`.
    Known(T),
    /// A word `T` does not have, written by a newer writer; kept and written back unchanged.
    Unknown(UnknownValue),
}

impl<T: OpenEnum> Open<T> {
    /// The value read from `word`: `Known` if `T` has it (and writes it back the same), else
    /// `Unknown`.
    pub(crate) fn from_word(word: &str) -> Self {
        match T::from_word(word) {
            Some(t) if t.word() == word => Open::Known(t),
            _ => Open::Unknown(UnknownValue(word.into())),
        }
    }

    /// The known value, or `None` for a value this build does not know.
    pub fn known(&self) -> Option<T> {
        match self {
            Open::Known(t) => Some(*t),
            Open::Unknown(_) => None,
        }
    }

    /// Whether this build knows the value.
    pub fn is_known(&self) -> bool {
        matches!(self, Open::Known(_))
    }

    /// The word written in the record.
    pub fn as_str(&self) -> Cow<'_, str> {
        match self {
            Open::Known(t) => t.word(),
            Open::Unknown(u) => Cow::Borrowed(u.as_str()),
        }
    }
}

impl<T> From<T> for Open<T> {
    fn from(t: T) -> Self {
        Open::Known(t)
    }
}

impl<T: PartialEq> PartialEq<T> for Open<T> {
    fn eq(&self, other: &T) -> bool {
        matches!(self, Open::Known(t) if t == other)
    }
}

impl<T: OpenEnum> fmt::Display for Open<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_str())
    }
}

impl<T: OpenEnum> Serialize for Open<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.as_str())
    }
}

impl<'de, T: OpenEnum> Deserialize<'de> for Open<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Word<T>(PhantomData<T>);
        impl<T: OpenEnum> Visitor<'_> for Word<T> {
            type Value = Open<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                // Enums are open to new words, not to new types: a non-string is an error.
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Open<T>, E> {
                Ok(Open::from_word(s))
            }
        }
        d.deserialize_str(Word(PhantomData))
    }
}

/// In JSON Schema an open enum is `anyOf` the known words (documented one by one) and any
/// string: a validator accepts a new word, a reader of the schema still sees the known ones.
#[cfg(feature = "schema")]
impl<T: OpenEnum> schemars::JsonSchema for Open<T> {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        Cow::Owned(format!("Open<{}>", std::any::type_name::<T>()))
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let known = T::known_schema(generator);
        schemars::json_schema!({
            "anyOf": [
                known,
                {
                    "description": "A value added by a later revision of the schema: enums are open, readers keep and show it as written (docs/SCHEMA-EVOLUTION.md).",
                    "type": "string"
                }
            ]
        })
    }
}

/// `OpenEnum` for a fieldless enum whose words are its `as_str`.
macro_rules! open_enum {
    ($($t:ty => [$($v:ident),+ $(,)?];)+) => {$(
        impl sealed::Sealed for $t {}
        impl OpenEnum for $t {
            const KNOWN: &'static [Self] = &[$(<$t>::$v),+];
            fn word(&self) -> Cow<'static, str> {
                Cow::Borrowed(self.as_str())
            }
            #[cfg(feature = "schema")]
            fn known_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
                generator.subschema_for::<$t>()
            }
        }
    )+};
}

open_enum! {
    RecordKind => [
        AgentRun, Decision, Tool, ModelCall, PolicyCheck, Started, Outcome, HumanAction, Lineage,
        Finding,
    ];
    PointKind => [AgentRun, Decision, Tool, ModelCall, PolicyCheck];
    DigestAlg => [Blake3Keyed];
    CaptureMode => [Captured, Digest, Error];
    VersionOrigin => [Literal, Expr, Registry];
    ArtifactRole => [Model, Prompt, Policy, FeatureSet, ReferenceData];
    OutcomeStatus => [Ok, Err, Panic, Cancelled, Started, Unobserved];
    SideEffect => [None, Read, Write, Irreversible];
    HumanActionKind => [Approve, Override, Reject, Appeal, Comment];
}

impl sealed::Sealed for RedactAction {}

/// Written as in provenance entries and rule files: `erase`, `mask(4)`, `hash`, `digest` (not
/// the tagged object of the point metadata).
impl OpenEnum for RedactAction {
    const KNOWN: &'static [Self] = &[
        RedactAction::Erase,
        RedactAction::Hash,
        RedactAction::Digest,
    ];

    fn word(&self) -> Cow<'static, str> {
        match self {
            RedactAction::Erase => Cow::Borrowed("erase"),
            RedactAction::Mask { keep } => Cow::Owned(format!("mask({keep})")),
            RedactAction::Hash => Cow::Borrowed("hash"),
            RedactAction::Digest => Cow::Borrowed("digest"),
        }
    }

    fn from_word(word: &str) -> Option<Self> {
        if let Some(k) = Self::KNOWN.iter().copied().find(|k| k.word() == word) {
            return Some(k);
        }
        let mask = word.strip_prefix("mask(")?.strip_suffix(')')?;
        // `parse` takes `+4` and `04`; `Open::from_word` keeps those as unknown because they do
        // not write back as the same word.
        mask.parse::<u8>()
            .ok()
            .map(|keep| RedactAction::Mask { keep })
    }

    #[cfg(feature = "schema")]
    fn known_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^(erase|hash|digest|mask\\([0-9]{1,3}\\))$"
        })
    }
}
