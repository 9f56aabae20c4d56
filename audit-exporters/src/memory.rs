use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use audit_runtime::RecordId;
use audit_runtime::chain::{ChainVerifier, SealedRecord};
use audit_runtime::export::{ExportError, Exporter};
use audit_runtime::record::{AuditRecord, Open, OutcomeStatus, RecordKind};

/// Keeps every exported record in memory. Clone it before handing it to the builder; the clone
/// you keep reads what the runtime exported.
///
/// ```no_run
/// # use audit_exporters::MemoryExporter;
/// # use audit_runtime::AuditRuntime;
/// let mem = MemoryExporter::new();
/// let guard = AuditRuntime::builder().exporter(mem.clone()).install_thread_local().unwrap();
/// // ... call audited functions ...
/// guard.flush().unwrap();
/// mem.find("loan.approve").expect_one().assert_ok().assert_version("model", "2.3.1");
/// ```
#[derive(Debug, Clone, Default)]
pub struct MemoryExporter {
    records: Arc<Mutex<Vec<SealedRecord>>>,
}

impl MemoryExporter {
    /// An empty exporter.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Vec<SealedRecord>> {
        self.records.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every record exported so far, in chain order.
    pub fn records(&self) -> Vec<AuditRecord> {
        self.lock().iter().map(|s| (*s.record).clone()).collect()
    }

    /// The exact JSON lines exported so far.
    pub fn lines(&self) -> Vec<String> {
        self.lock().iter().map(|s| s.line.to_string()).collect()
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no record was exported.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Forget every record.
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// Records of calls to the audit point `name` (completed calls: not `started` records or
    /// findings about them).
    pub fn find(&self, name: &str) -> RecordQuery {
        RecordQuery {
            records: self
                .records()
                .into_iter()
                .filter(|r| is_call(&r.kind) && r.point.as_ref().is_some_and(|p| p.name == name))
                .collect(),
            what: format!("records of `{name}`"),
        }
    }

    /// Records of a kind.
    pub fn of_kind(&self, kind: RecordKind) -> RecordQuery {
        RecordQuery {
            records: self
                .records()
                .into_iter()
                .filter(|r| r.kind == kind)
                .collect(),
            what: format!("records of kind {kind:?}"),
        }
    }

    /// Records whose parent call is `id`.
    pub fn children_of(&self, id: RecordId) -> RecordQuery {
        RecordQuery {
            records: self
                .records()
                .into_iter()
                .filter(|r| is_call(&r.kind) && r.correlation.parent_id == Some(id))
                .collect(),
            what: format!("children of {id}"),
        }
    }

    /// Check the hash chain of everything exported: every hash, `seq` and `prev` link.
    pub fn assert_chain_valid(&self) {
        let mut v = ChainVerifier::new();
        for (i, line) in self.lines().iter().enumerate() {
            if let Err(e) = v.push(line) {
                panic!("audit chain broken at record {i}: {e}");
            }
        }
    }
}

impl Exporter for MemoryExporter {
    fn name(&self) -> &str {
        "memory"
    }

    fn export(&mut self, batch: &[SealedRecord]) -> Result<(), ExportError> {
        self.lock().extend_from_slice(batch);
        Ok(())
    }
}

fn is_call(kind: &Open<RecordKind>) -> bool {
    matches!(
        kind.known(),
        Some(
            RecordKind::AgentRun
                | RecordKind::Decision
                | RecordKind::Tool
                | RecordKind::ModelCall
                | RecordKind::PolicyCheck
        )
    )
}

/// A selection of records with assertions that explain what they found on failure.
#[derive(Debug, Clone)]
pub struct RecordQuery {
    records: Vec<AuditRecord>,
    what: String,
}

impl RecordQuery {
    /// The records.
    pub fn all(&self) -> &[AuditRecord] {
        &self.records
    }

    /// How many.
    pub fn count(&self) -> usize {
        self.records.len()
    }

    /// Exactly one record, or panic with what was found.
    #[track_caller]
    pub fn expect_one(&self) -> RecordAssert {
        match self.records.as_slice() {
            [one] => RecordAssert(one.clone()),
            other => panic!(
                "expected exactly one of {}, found {}",
                self.what,
                other.len()
            ),
        }
    }
}

/// Assertions on one record; each returns `self` for chaining.
#[derive(Debug, Clone)]
pub struct RecordAssert(pub AuditRecord);

impl RecordAssert {
    /// The record.
    pub fn record(&self) -> &AuditRecord {
        &self.0
    }

    #[track_caller]
    fn assert_status(self, status: OutcomeStatus) -> Self {
        let got = self.0.outcome.as_ref().map(|o| &o.status);
        assert_eq!(
            got,
            Some(&Open::Known(status)),
            "outcome of {}",
            self.0.record_id
        );
        self
    }

    /// The call returned normally / `Ok`.
    #[track_caller]
    pub fn assert_ok(self) -> Self {
        self.assert_status(OutcomeStatus::Ok)
    }

    /// The call returned `Err`.
    #[track_caller]
    pub fn assert_err(self) -> Self {
        self.assert_status(OutcomeStatus::Err)
    }

    /// The call panicked.
    #[track_caller]
    pub fn assert_panicked(self) -> Self {
        self.assert_status(OutcomeStatus::Panic)
    }

    /// The call's future was dropped before it finished.
    #[track_caller]
    pub fn assert_cancelled(self) -> Self {
        self.assert_status(OutcomeStatus::Cancelled)
    }

    /// A versioned artifact of this role has this version.
    #[track_caller]
    pub fn assert_version(self, role: &str, version: &str) -> Self {
        let found = self
            .0
            .versions
            .iter()
            .any(|v| v.role.as_str() == role && v.version.as_deref() == Some(version));
        assert!(
            found,
            "no {role} version {version} in {:?}",
            self.0.versions
        );
        self
    }

    /// The record is a child of `parent`.
    #[track_caller]
    pub fn assert_parent(self, parent: RecordId) -> Self {
        assert_eq!(
            self.0.correlation.parent_id,
            Some(parent),
            "parent of {}",
            self.0.record_id
        );
        self
    }

    /// A signal with this name was recorded.
    #[track_caller]
    pub fn assert_signal(self, name: &str) -> Self {
        assert!(
            self.0.rationale.signals.iter().any(|s| s.name == name),
            "no signal `{name}` in {:?}",
            self.0.rationale
        );
        self
    }

    /// The captured argument `name`, as JSON.
    #[track_caller]
    pub fn arg(&self, name: &str) -> serde_json::Value {
        let inputs = self.0.inputs.as_ref().expect("record has no inputs");
        let a = inputs
            .args
            .iter()
            .find(|a| a.name == name)
            .unwrap_or_else(|| {
                panic!(
                    "no argument `{name}` in {:?}",
                    inputs.args.iter().map(|a| &a.name).collect::<Vec<_>>()
                )
            });
        a.captured.value.clone().unwrap_or(serde_json::Value::Null)
    }
}
