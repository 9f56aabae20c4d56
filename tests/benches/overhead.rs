//! Caller-thread overhead of an audited call, against its baselines (issue 2, item 11).
//!
//! Every variant wraps the same function: it takes a ~1 KB [`Application`] by reference plus
//! three small arguments and sums a few lengths behind `black_box`, so the body costs a few
//! nanoseconds and what is measured is the instrumentation. The variants, in the order they run:
//!
//! | id                         | what wraps the function                                          |
//! |----------------------------|------------------------------------------------------------------|
//! | `bare`                     | nothing (`#[inline(never)]`, as every variant)                   |
//! | `tracing_no_subscriber`    | `#[tracing::instrument(skip_all)]`, no subscriber anywhere       |
//! | `clock_reads_3`            | no call: the three clock reads an audited call makes (reference) |
//! | `fastrace_child`           | fastrace `#[trace]` under a local root span re-made every 64 calls |
//! | `fastrace_root_per_call`   | a fastrace root span per call, with `#[trace]` inside it         |
//! | `audit_{none,three,1kb}_*` | `#[audited_decision(unversioned = "bench", capture(..))]`        |
//! | `otel_skip_all`            | `#[tracing::instrument(skip_all)]` + Registry + tracing-opentelemetry + SDK batch processor |
//! | `otel_fields_input`        | the same with `fields(input = ?input)`: records the 1 KB input    |
//! | `audit_*_burst_under_otel` | an audited call while that OpenTelemetry subscriber is installed  |
//!
//! Audit variants come in three queue modes:
//! * `block`: the default runtime (8192-record queue, `QueueFull::Block`). Under sustained load
//!   the caller waits for the worker, so this is the end-to-end cost per call, back-pressure
//!   included.
//! * `drop`: `QueueFull::DropAndCount` with a 65 536-record queue. The caller never waits; once
//!   the worker falls behind, records are dropped (the bench prints how many), so this is the
//!   caller-thread cost alone, most of it on the drop path.
//! * `burst`: the default runtime, timed in bursts of 2048 calls per thread that fit in the
//!   queue, with an untimed `flush` after each burst: the caller-thread cost with no record
//!   dropped and no waiting.
//!
//! The `pipeline` group measures the worker: records per second from the first call to the
//! exporter's acknowledgement (`flush`), one caller thread, records discarded by the exporter.
//!
//! Each `t2` variant runs two threads calling concurrently; the time reported is per call per
//! thread (the slower thread's loop time divided by its calls).
//!
//! Caller-side variants are timed by wall clock, or with `AUDIT_BENCH_CLOCK=cpu` by the calling
//! thread's own CPU time, which other processes competing for a shared machine's cores do not
//! inflate; `block` and `pipeline` are always wall clock, since waiting is what they measure.
//!
//! Exporters do no I/O: [`DiscardRecords`] and [`DiscardSpans`] count and drop what they get,
//! and fastrace's reporter does the same, so the figures are the instrumentation's own.
//!
//! Run: `CARGO_TARGET_DIR=... cargo bench -p audit-benches --bench overhead` (about 3 minutes);
//! pass a filter as usual (`-- t1/audit`).

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier, OnceLock};
use std::time::{Duration, Instant};

use audit_runtime::chain::SealedRecord;
use audit_runtime::digest::DigestKey;
use audit_runtime::export::{ExportError, Exporter};
use audit_runtime::{AuditGuard, AuditRuntime, QueueFull, audited_decision};
use criterion::{BenchmarkGroup, Criterion, Throughput, measurement::WallTime};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanExporter};
use serde::Serialize;
use tracing_subscriber::layer::SubscriberExt as _;

// ---- the input ----------------------------------------------------------------------------

/// A loan application of about 1 KB, passed by reference to every variant.
#[derive(Debug, Clone, Serialize)]
struct Application {
    applicant: String,
    employer: String,
    address: String,
    statement: String,
}

impl Application {
    fn sample() -> Self {
        let app = Application {
            applicant: "Ada Lovelace-Byron, born 1815-12-10, id 4711-0815-2342".to_owned(),
            employer: "Analytical Engines Ltd, 12 Dorset Street, Marylebone, London".to_owned(),
            address: "St James's Square 12, London SW1Y 4JH, United Kingdom".to_owned(),
            statement: "I request a loan to build a difference engine prototype. ".repeat(15),
        };
        let size = app.total_len();
        assert!(
            (900..=1200).contains(&size),
            "the input should be about 1 KB, is {size} B"
        );
        app
    }

    fn total_len(&self) -> usize {
        self.applicant.len() + self.employer.len() + self.address.len() + self.statement.len()
    }
}

/// The body every variant shares: a few nanoseconds of work the optimizer cannot remove.
macro_rules! body {
    ($input:expr, $amount:expr, $region:expr, $urgent:expr) => {
        black_box(
            black_box($input).total_len()
                + black_box($amount) as usize
                + black_box($region).len()
                + usize::from(black_box($urgent)),
        )
    };
}

// ---- the variants ---------------------------------------------------------------------------

#[inline(never)]
fn bare(input: &Application, amount: u64, region: &str, urgent: bool) -> usize {
    body!(input, amount, region, urgent)
}

#[tracing::instrument(skip_all)]
#[inline(never)]
fn traced(input: &Application, amount: u64, region: &str, urgent: bool) -> usize {
    body!(input, amount, region, urgent)
}

#[tracing::instrument(skip_all, fields(input = ?input))]
#[inline(never)]
fn traced_input(input: &Application, amount: u64, region: &str, urgent: bool) -> usize {
    body!(input, amount, region, urgent)
}

#[fastrace::trace]
#[inline(never)]
fn fastraced(input: &Application, amount: u64, region: &str, urgent: bool) -> usize {
    body!(input, amount, region, urgent)
}

#[audited_decision(unversioned = "bench")]
#[inline(never)]
fn audit_none(input: &Application, amount: u64, region: &str, urgent: bool) -> usize {
    body!(input, amount, region, urgent)
}

#[audited_decision(unversioned = "bench", capture(amount, region, urgent))]
#[inline(never)]
fn audit_three(input: &Application, amount: u64, region: &str, urgent: bool) -> usize {
    body!(input, amount, region, urgent)
}

#[audited_decision(unversioned = "bench", capture(input))]
#[inline(never)]
fn audit_1kb(input: &Application, amount: u64, region: &str, urgent: bool) -> usize {
    body!(input, amount, region, urgent)
}

type Variant = fn(&Application, u64, &str, bool) -> usize;

// ---- exporters that do no I/O ---------------------------------------------------------------

/// An audit exporter that drops every batch: the worker still assembles, digests and chains
/// each record, only the destination is free.
#[derive(Debug)]
struct DiscardRecords;

impl Exporter for DiscardRecords {
    fn name(&self) -> &str {
        "discard"
    }

    fn export(&mut self, batch: &[SealedRecord]) -> Result<(), ExportError> {
        black_box(batch);
        Ok(())
    }
}

/// An OpenTelemetry span exporter that counts and drops every batch.
#[derive(Debug, Clone, Default)]
struct DiscardSpans(Arc<AtomicU64>);

impl SpanExporter for DiscardSpans {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        self.0.fetch_add(batch.len() as u64, Ordering::Relaxed);
        Ok(())
    }
}

/// A fastrace reporter that counts and drops every batch.
struct DiscardFastrace(Arc<AtomicU64>);

impl fastrace::collector::Reporter for DiscardFastrace {
    fn report(&mut self, spans: Vec<fastrace::collector::SpanRecord>) {
        self.0.fetch_add(spans.len() as u64, Ordering::Relaxed);
    }
}

// ---- timing -----------------------------------------------------------------------------------

/// Calls made by every bench so far (warm-up included), to compare with what was delivered.
static CALLS: AtomicU64 = AtomicU64::new(0);

/// What a caller-side measurement counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Clock {
    /// Elapsed time: includes waiting (back-pressure) and time the thread was not scheduled.
    Wall,
    /// The calling thread's own CPU time (`AUDIT_BENCH_CLOCK=cpu`): what the instrumentation
    /// costs the caller, unaffected by other processes competing for the cores. Waiting for
    /// the queue is not counted, so `block` and `pipeline` always use [`Clock::Wall`].
    ThreadCpu,
}

impl Clock {
    /// The clock for caller-cost measurements, from `AUDIT_BENCH_CLOCK` (`wall` by default).
    fn for_callers() -> Clock {
        static CLOCK: OnceLock<Clock> = OnceLock::new();
        *CLOCK.get_or_init(|| match std::env::var("AUDIT_BENCH_CLOCK").as_deref() {
            Ok("cpu") => Clock::ThreadCpu,
            Ok("wall") | Err(_) => Clock::Wall,
            Ok(other) => panic!("AUDIT_BENCH_CLOCK is `wall` or `cpu`, not `{other}`"),
        })
    }

    /// Time `iters` calls on the current thread.
    fn time(self, iters: u64, call: &(dyn Fn() + Sync)) -> Duration {
        match self {
            Clock::Wall => {
                let start = Instant::now();
                for _ in 0..iters {
                    call();
                }
                start.elapsed()
            }
            Clock::ThreadCpu => {
                let start = cpu_time::ThreadTime::now();
                for _ in 0..iters {
                    call();
                }
                start.elapsed()
            }
        }
    }
}

/// Run `call` `iters` times on each of `threads` threads; the time of the slowest thread.
fn timed(clock: Clock, threads: usize, iters: u64, call: &(dyn Fn() + Sync)) -> Duration {
    CALLS.fetch_add(iters * threads as u64, Ordering::Relaxed);
    if threads == 1 {
        return clock.time(iters, call);
    }
    let barrier = Barrier::new(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    clock.time(iters, call)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("bench thread panicked"))
            .max()
            .unwrap_or_default()
    })
}

/// Calls per thread in one `burst`: two threads' bursts (4096 records) fit the default queue.
const BURST: u64 = 2048;

/// Like [`timed`], in bursts that fit in the queue, draining it (untimed) after each.
fn timed_bursts(
    threads: usize,
    iters: u64,
    call: &(dyn Fn() + Sync),
    guard: &AuditGuard,
) -> Duration {
    let mut total = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let n = left.min(BURST);
        total += timed(Clock::for_callers(), threads, n, call);
        guard.flush().expect("audit worker alive");
        left -= n;
    }
    total
}

fn bench(
    group: &mut BenchmarkGroup<'_, WallTime>,
    id: &str,
    threads: usize,
    call: &(dyn Fn() + Sync),
) {
    group.bench_function(id, |b| {
        b.iter_custom(|iters| timed(Clock::for_callers(), threads, iters, call));
    });
}

/// A call of `f` on the shared input.
fn call_of<'a>(f: Variant, input: &'a Application) -> impl Fn() + Sync + 'a {
    move || {
        black_box(f(black_box(input), 25_000, "EU-West", true));
    }
}

// ---- the audit runtime ------------------------------------------------------------------------

#[derive(Debug, Clone, Copy)]
enum Mode {
    Block,
    Drop,
    Burst,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Block => "block",
            Mode::Drop => "drop",
            Mode::Burst => "burst",
        }
    }

    fn install(self) -> AuditGuard {
        let builder = AuditRuntime::builder()
            .service("bench")
            .digest_key(DigestKey::from_bytes([7; 32]))
            .exporter(DiscardRecords);
        let builder = match self {
            Mode::Block | Mode::Burst => builder,
            Mode::Drop => builder
                .queue_capacity(1 << 16)
                .on_full(QueueFull::DropAndCount),
        };
        builder.install().expect("install the audit runtime")
    }
}

const AUDITED: [(&str, Variant); 3] = [
    ("none", audit_none),
    ("three", audit_three),
    ("1kb", audit_1kb),
];

fn audit_benches(
    group: &mut BenchmarkGroup<'_, WallTime>,
    threads: usize,
    input: &Application,
    modes: &[Mode],
    suffix: &str,
) {
    for &mode in modes {
        let guard = mode.install();
        for (capture, f) in AUDITED {
            let id = format!("audit_{capture}_{}{suffix}", mode.name());
            let call = call_of(f, input);
            let before = guard.stats();
            let calls_before = CALLS.load(Ordering::Relaxed);
            match mode {
                Mode::Burst => group.bench_function(&id, |b| {
                    b.iter_custom(|iters| timed_bursts(threads, iters, &call, &guard));
                }),
                Mode::Block => group.bench_function(&id, |b| {
                    b.iter_custom(|iters| timed(Clock::Wall, threads, iters, &call));
                }),
                Mode::Drop => group.bench_function(&id, |b| {
                    b.iter_custom(|iters| timed(Clock::for_callers(), threads, iters, &call));
                }),
            };
            guard.flush().expect("audit worker alive");
            let after = guard.stats();
            let calls = CALLS.load(Ordering::Relaxed) - calls_before;
            let exported = after.exporters[0].exported - before.exporters[0].exported;
            let dropped = after.dropped - before.dropped;
            eprintln!(
                "  [{id} t{threads}] calls {calls}, records exported {exported}, dropped {dropped} \
                 ({:.1}% dropped)",
                100.0 * dropped as f64 / calls.max(1) as f64
            );
        }
        let stats = guard.shutdown();
        assert_eq!(stats.seal_errors, 0, "records failed to seal: {stats:?}");
    }
}

/// Records per second through the whole pipeline: from the first call to the exporter's
/// acknowledgement of the last record.
fn pipeline(c: &mut Criterion, input: &Application) {
    let mut group = c.benchmark_group("pipeline");
    group.throughput(Throughput::Elements(1));
    let guard = Mode::Block.install();
    for (capture, f) in AUDITED {
        let call = call_of(f, input);
        group.bench_function(format!("end_to_end_{capture}"), |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                timed(Clock::Wall, 1, iters, &call);
                guard.flush().expect("audit worker alive");
                start.elapsed()
            });
        });
    }
    let stats = guard.shutdown();
    assert_eq!(stats.dropped, 0);
    group.finish();
}

// ---- profiling ---------------------------------------------------------------------------------

/// The calls a profiler should look at, and nothing else (`--toggle-collect=*profile_calls*`).
#[inline(never)]
fn profile_calls(f: Variant, input: &Application, n: u64) {
    for _ in 0..n {
        black_box(f(black_box(input), 25_000, "EU-West", true));
    }
}

/// `AUDIT_BENCH_PROFILE=<none|three|1kb>:<calls>`: make that many calls of one audited variant
/// in bursts that fit the queue (flushing between bursts), without criterion, then exit. Meant
/// for `valgrind --tool=callgrind --separate-threads=yes`: the caller's instructions per call
/// are `profile_calls`' inclusive count divided by the calls, the worker's per record are the
/// `audit-worker` thread's total divided by the calls. With `AUDIT_BENCH_PROFILE_OTEL=1` the
/// calls run under the OpenTelemetry subscriber of phase 2.
fn profile(spec: &str, input: &Application) {
    let (name, calls) = spec.split_once(':').unwrap_or((spec, "100000"));
    let calls: u64 = calls
        .parse()
        .expect("AUDIT_BENCH_PROFILE=<variant>:<calls>");
    let f = AUDITED
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, f)| *f)
        .expect("AUDIT_BENCH_PROFILE variant is one of none, three, 1kb");
    // `AUDIT_BENCH_PROFILE_OTEL=1`: under the OpenTelemetry subscriber of phase 2.
    let provider = std::env::var_os("AUDIT_BENCH_PROFILE_OTEL").map(|_| {
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(DiscardSpans::default())
            .build();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("bench")));
        tracing::subscriber::set_global_default(subscriber).expect("set the global subscriber");
        provider
    });
    let guard = Mode::Burst.install();
    let start = Instant::now();
    let mut left = calls;
    while left > 0 {
        let n = left.min(BURST);
        profile_calls(f, input, n);
        guard.flush().expect("audit worker alive");
        left -= n;
    }
    let stats = guard.shutdown();
    if let Some(p) = provider {
        p.shutdown().expect("shut the tracer provider down");
    }
    eprintln!(
        "profiled {calls} calls of audit_{name} in {:?}: {stats:?}",
        start.elapsed()
    );
}

// ---- main ---------------------------------------------------------------------------------------

fn main() {
    let input = Application::sample();
    if let Ok(spec) = std::env::var("AUDIT_BENCH_PROFILE") {
        profile(&spec, &input);
        return;
    }
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(1200))
        .sample_size(20)
        .configure_from_args();
    eprintln!(
        "input: {} bytes of strings; {}",
        input.total_len(),
        load_average()
    );

    let fastrace_spans = Arc::new(AtomicU64::new(0));
    fastrace::set_reporter(
        DiscardFastrace(fastrace_spans.clone()),
        fastrace::collector::Config::default(),
    );

    // Phase 1: no tracing subscriber anywhere (a global one cannot be removed once set).
    for threads in [1, 2] {
        let mut group = c.benchmark_group(format!("t{threads}"));
        bench(&mut group, "bare", threads, &call_of(bare, &input));
        bench(
            &mut group,
            "tracing_no_subscriber",
            threads,
            &call_of(traced, &input),
        );
        // What an audited call pays the clock: one wall-clock read at the start, a monotonic
        // read at the start and another at the end.
        bench(&mut group, "clock_reads_3", threads, &|| {
            black_box(std::time::SystemTime::now());
            black_box(Instant::now());
            black_box(Instant::now());
        });
        let child = |iters: u64| {
            // One local root per 64 calls, its cost included: the spans of a long-lived root
            // would otherwise pile up in the thread's buffer.
            let call = || {
                let root = fastrace::Span::root("root", fastrace::collector::SpanContext::random());
                let _parent = root.set_local_parent();
                for _ in 0..64 {
                    black_box(fastraced(black_box(&input), 25_000, "EU-West", true));
                }
            };
            timed(Clock::for_callers(), threads, iters.div_ceil(64), &call) / 64
        };
        group.bench_function("fastrace_child", |b| b.iter_custom(child));
        bench(&mut group, "fastrace_root_per_call", threads, &|| {
            let root = fastrace::Span::root("root", fastrace::collector::SpanContext::random());
            let _parent = root.set_local_parent();
            black_box(fastraced(black_box(&input), 25_000, "EU-West", true));
        });
        audit_benches(
            &mut group,
            threads,
            &input,
            &[Mode::Block, Mode::Drop, Mode::Burst],
            "",
        );
        group.finish();
    }
    fastrace::flush();
    eprintln!(
        "  [fastrace] spans reported: {}",
        fastrace_spans.load(Ordering::Relaxed)
    );

    pipeline(&mut c, &input);

    // Phase 2: a global Registry + tracing-opentelemetry layer + SDK batch span processor.
    let spans = DiscardSpans::default();
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(spans.clone())
        .build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("bench")));
    tracing::subscriber::set_global_default(subscriber).expect("set the global subscriber");
    for threads in [1, 2] {
        let mut group = c.benchmark_group(format!("t{threads}"));
        for (id, f) in [
            ("otel_skip_all", traced as Variant),
            ("otel_fields_input", traced_input),
        ] {
            let calls_before = CALLS.load(Ordering::Relaxed);
            let spans_before = spans.0.load(Ordering::Relaxed);
            bench(&mut group, id, threads, &call_of(f, &input));
            provider.force_flush().expect("flush spans");
            let calls = CALLS.load(Ordering::Relaxed) - calls_before;
            let exported = spans.0.load(Ordering::Relaxed) - spans_before;
            eprintln!(
                "  [{id} t{threads}] calls {calls}, spans exported {exported} ({:.1}% dropped by \
                 the batch processor's full queue)",
                100.0 * (calls - exported.min(calls)) as f64 / calls.max(1) as f64
            );
        }
        audit_benches(&mut group, threads, &input, &[Mode::Burst], "_under_otel");
        group.finish();
    }
    provider.shutdown().expect("shut the tracer provider down");
    c.final_summary();
    eprintln!("done; {}", load_average());
}

/// The machine's load, printed with the figures: on a shared machine it says how far to trust them.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg").map_or_else(
        |_| "load average unknown".to_owned(),
        |l| {
            format!(
                "load average (1, 5, 15 min): {}",
                l.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
            )
        },
    )
}
