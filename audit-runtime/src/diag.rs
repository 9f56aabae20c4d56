//! Warnings to the operator: the one helper every crate of the SDK prints them with, and the
//! warn-once flag that keeps a degraded mode from flooding stderr.
//!
//! A warning goes to stderr, because a `tracing` warning could itself be filtered out (and the
//! degraded mode may be exactly that), and also to `tracing` at WARN (target `audit_runtime`)
//! for applications that collect their logs there. Every line starts with the component that
//! speaks (`audit-runtime: warning: …`, `audit-otlp: warning: …`, `audit file log: warning: …`).

use std::sync::atomic::{AtomicBool, Ordering};

/// The component name of the runtime's own warnings.
pub(crate) const RUNTIME: &str = "audit-runtime";

/// Print a warning of `component` on stderr and as a `tracing` WARN event.
pub fn warn_as(component: &str, msg: &str) {
    eprintln!("{component}: warning: {msg}");
    tracing::warn!(target: "audit_runtime", component, "{msg}");
}

/// A warning of the runtime itself.
pub(crate) fn warn(msg: &str) {
    warn_as(RUNTIME, msg);
}

/// A flag that says yes once: for warnings printed the first time a degraded mode is seen.
#[derive(Debug, Default)]
pub struct WarnOnce(AtomicBool);

impl WarnOnce {
    /// A flag that has not fired.
    pub const fn new() -> Self {
        WarnOnce(AtomicBool::new(false))
    }

    /// `true` the first time it is asked, from any thread; `false` ever after. A plain load
    /// first, so the common case (already fired) does not write the cache line.
    pub fn first(&self) -> bool {
        !self.0.load(Ordering::Relaxed) && !self.0.swap(true, Ordering::Relaxed)
    }
}

/// Auditing is not installed and an audited point ran: said once per process.
pub(crate) static NOT_INSTALLED: WarnOnce = WarnOnce::new();

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flag_fires_once_across_threads() {
        let flag = std::sync::Arc::new(WarnOnce::new());
        let fired: usize = (0..8)
            .map(|_| {
                let f = std::sync::Arc::clone(&flag);
                std::thread::spawn(move || (0..1000).filter(|_| f.first()).count())
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().unwrap())
            .sum();
        assert_eq!(fired, 1);
        assert!(!flag.first());
    }
}
