use std::io::Write;

use audit_runtime::chain::SealedRecord;
use audit_runtime::export::{ExportError, Exporter};
use std::borrow::Cow;

use audit_runtime::record::{AuditRecord, OutcomeStatus};

/// Prints records to standard output: as the exact JSON lines (hash included) or as a readable
/// one-line-per-record summary with nesting.
#[derive(Debug)]
pub struct StdoutExporter {
    pretty: bool,
}

impl StdoutExporter {
    /// Exact JSON lines, as the file exporter writes them.
    pub fn json() -> Self {
        StdoutExporter { pretty: false }
    }

    /// A readable summary: seq, kind, name, status, duration, ids.
    pub fn pretty() -> Self {
        StdoutExporter { pretty: true }
    }

    /// One summary line for a record (public so examples and tools can reuse it).
    pub fn summary(r: &AuditRecord) -> String {
        let name = r.point.as_ref().map_or("-", |p| p.name.as_str());
        let status = r.outcome.as_ref().map_or(Cow::Borrowed("-"), |o| {
            Cow::Borrowed(match o.status.known() {
                Some(OutcomeStatus::Ok) => "ok",
                Some(OutcomeStatus::Err) => "err",
                Some(OutcomeStatus::Panic) => "PANIC",
                Some(OutcomeStatus::Cancelled) => "cancelled",
                Some(OutcomeStatus::Started) => "started",
                Some(OutcomeStatus::Unobserved) => "UNOBSERVED",
                // A status a newer writer added: shown as written.
                None => return o.status.as_str(),
            })
        });
        let dur = r
            .time
            .duration_ns
            .map_or_else(String::new, |d| format!(" {:.3}ms", d as f64 / 1e6));
        let kind = r.kind.as_str();
        let parent = r
            .correlation
            .parent_id
            .or(r.refers_to)
            .map_or_else(String::new, |p| format!(" parent={}", &p.to_string()[24..]));
        format!(
            "#{:<4} {:<12} {:<22} {:<9}{dur} id={}{parent}",
            r.seq,
            kind,
            name,
            status,
            &r.record_id.to_string()[24..]
        )
    }
}

impl Exporter for StdoutExporter {
    fn name(&self) -> &str {
        "stdout"
    }

    fn export(&mut self, batch: &[SealedRecord]) -> Result<(), ExportError> {
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        for r in batch {
            let res = if self.pretty {
                writeln!(out, "{}", Self::summary(&r.record))
            } else {
                writeln!(out, "{}", r.line)
            };
            res.map_err(|e| ExportError::transient("cannot write to stdout").with_source(e))?;
        }
        out.flush()
            .map_err(|e| ExportError::transient("cannot flush stdout").with_source(e))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_kind_and_status_from_a_newer_writer_are_shown_as_written() {
        let line = r#"{"v":1,"record_id":"01a21957-cb29-7074-a2b6-1905c8c4fba1","kind":"escalation","seq":3,"prev":"0000000000000000000000000000000000000000000000000000000000000000","service":{"name":"s","instance":"01a21957-cb29-7074-a2b6-1905c8c4fba0"},"time":{"start":"2026-01-01T00:00:00.000000000Z"},"correlation":{},"outcome":{"status":"timed_out"},"redactions":{"rule_set":"r"}}"#;
        let r: AuditRecord = serde_json::from_str(line).unwrap();
        let s = StdoutExporter::summary(&r);
        assert!(
            s.starts_with("#3    escalation   -                      timed_out"),
            "{s}"
        );
    }
}
