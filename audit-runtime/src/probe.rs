//! Type probes: what the generated code learns about a returned value from its *type*, at the
//! expansion site, rather than from how the return type is spelled.
//!
//! A macro sees tokens. `type AgentResult<T> = Result<T, AgentError>` and
//! `futures::future::BoxFuture<'a, T>` are, to it, paths like any other, so deciding "is this a
//! `Result`?" or "is this a future?" from the signature gets aliases, re-exports and generic
//! code wrong, and a wrong answer is a record that lies (`ok` for an `Err`, an instant `ok` for
//! work that happens later). The compiler knows the type, so the generated code asks it through
//! autoref specialisation: a method call on `&&..&Probe(value)` resolves to the impl of the most
//! specific trait that applies to the value's concrete type, found during type checking of the
//! user's crate, behind any alias.
//!
//! Three probes:
//!
//! * [`Returned`] views a value as `Ok`/`Err` when its type is a `Result` ([`View`]), else as a
//!   plain value;
//! * [`Finish`] finishes a synchronous call whose value may be a future: a boxed `dyn Future`
//!   (any alias of `Pin<Box<dyn Future<Output = T> (+ Send) + 'a>>`) is re-boxed around an
//!   instrumented future, so the record covers the asynchronous work and its outcome; another
//!   future type cannot be wrapped without changing the function's type, so the call is
//!   recorded with the distinct status `unobserved` and counted in `AuditStats`; any other
//!   value finishes the call at once;
//! * [`Describe`] describes an error: its `source()` chain for `std::error::Error` types and for
//!   anything that is `AsRef<dyn Error>` (`anyhow::Error`, `Box<dyn Error + ..>`), else
//!   `Display`, else `Debug`, else its type name.
//!
//! A generic type parameter is opaque to the probes (`T` is not known to be a `Result`), so a
//! generic function is recorded by what its signature says; documented in the README.

use std::cell::Cell;
use std::convert::Infallible;
use std::error::Error;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::call::{CallGuard, Instrumented};

// ---- Result or plain value ---------------------------------------------------------------------

/// A returned value as the record sees it. Generated code only.
#[derive(Debug)]
pub enum View<'a, T: ?Sized, E: ?Sized> {
    /// `Ok(v)`, or a value of a type that is not a `Result`.
    Ok(&'a T),
    /// `Err(e)`.
    Err(&'a E),
}

/// Probe a returned value (`(&&Returned(&v)).audit_view()`). Generated code only.
#[derive(Debug)]
pub struct Returned<'a, R: ?Sized>(pub &'a R);

/// A `Result`, behind any alias.
pub trait ViewResult<'a, T, E> {
    /// `Ok` or `Err`.
    fn audit_view(&self) -> View<'a, T, E>;
}

impl<'a, T, E> ViewResult<'a, T, E> for &Returned<'a, Result<T, E>> {
    #[inline]
    fn audit_view(&self) -> View<'a, T, E> {
        match self.0 {
            Ok(v) => View::Ok(v),
            Err(e) => View::Err(e),
        }
    }
}

/// Any other value.
pub trait ViewPlain<'a, R: ?Sized> {
    /// Always `Ok`.
    fn audit_view(&self) -> View<'a, R, Infallible>;
}

impl<'a, R: ?Sized> ViewPlain<'a, R> for Returned<'a, R> {
    #[inline]
    fn audit_view(&self) -> View<'a, R, Infallible> {
        View::Ok(self.0)
    }
}

/// `result = false`: the value is recorded whole, whatever its type.
#[inline]
pub fn view_plain<R: ?Sized>(value: &R) -> View<'_, R, Infallible> {
    View::Ok(value)
}

/// `result = true`: the function must return a `Result`, and this is where the compiler says
/// so when it does not.
#[inline]
pub fn view_result<T, E>(value: &Result<T, E>) -> View<'_, T, E> {
    match value {
        Ok(v) => View::Ok(v),
        Err(e) => View::Err(e),
    }
}

// ---- finishing a synchronous call whose value may be a future ----------------------------------

/// Finish a synchronous call with its value (`(&&&&Finish::new(v)).audit_finish(..)`).
/// Generated code only.
pub struct Finish<R>(Cell<Option<R>>);

impl<R> std::fmt::Debug for Finish<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Finish")
    }
}

impl<R> Finish<R> {
    /// Wrap the value the body returned.
    #[inline]
    pub fn new(value: R) -> Self {
        Finish(Cell::new(Some(value)))
    }

    #[inline]
    fn take(&self) -> R {
        match self.0.take() {
            Some(v) => v,
            // `audit_finish` is the only caller, once per `Finish`, which the generated code
            // makes for one call.
            None => unreachable!("audit_finish called twice"),
        }
    }
}

/// A boxed `Send` future, behind any alias (`futures::future::BoxFuture`).
pub trait FinishBoxedSend<'a, O> {
    /// Re-box the future around an instrumented one; `on_value` records the outcome when it
    /// completes.
    fn audit_finish<C>(
        &self,
        guard: &mut CallGuard,
        on_value: C,
    ) -> Pin<Box<dyn Future<Output = O> + Send + 'a>>
    where
        C: FnOnce(&mut CallGuard, &O) + Send + 'a;
}

impl<'a, O: 'a> FinishBoxedSend<'a, O> for &&&Finish<Pin<Box<dyn Future<Output = O> + Send + 'a>>> {
    fn audit_finish<C>(
        &self,
        guard: &mut CallGuard,
        on_value: C,
    ) -> Pin<Box<dyn Future<Output = O> + Send + 'a>>
    where
        C: FnOnce(&mut CallGuard, &O) + Send + 'a,
    {
        let fut = self.take();
        Box::pin(Finishing::new(guard.take_call().instrument(fut), on_value))
    }
}

/// A boxed future that is not `Send`, behind any alias (`futures::future::LocalBoxFuture`).
pub trait FinishBoxedLocal<'a, O> {
    /// Re-box the future around an instrumented one.
    fn audit_finish<C>(
        &self,
        guard: &mut CallGuard,
        on_value: C,
    ) -> Pin<Box<dyn Future<Output = O> + 'a>>
    where
        C: FnOnce(&mut CallGuard, &O) + 'a;
}

impl<'a, O: 'a> FinishBoxedLocal<'a, O> for &&Finish<Pin<Box<dyn Future<Output = O> + 'a>>> {
    fn audit_finish<C>(
        &self,
        guard: &mut CallGuard,
        on_value: C,
    ) -> Pin<Box<dyn Future<Output = O> + 'a>>
    where
        C: FnOnce(&mut CallGuard, &O) + 'a,
    {
        let fut = self.take();
        Box::pin(Finishing::new(guard.take_call().instrument(fut), on_value))
    }
}

/// A future of another type: it cannot be wrapped without changing the function's return type.
pub trait FinishUnobserved<F> {
    /// Record the call as `unobserved` (counted, warned once) and return the future as it is.
    fn audit_finish<C>(&self, guard: &mut CallGuard, on_value: C) -> F
    where
        C: FnOnce(&mut CallGuard, &F);
}

impl<F: Future> FinishUnobserved<F> for &Finish<F> {
    fn audit_finish<C>(&self, guard: &mut CallGuard, _on_value: C) -> F
    where
        C: FnOnce(&mut CallGuard, &F),
    {
        guard.unobserved(std::any::type_name::<F>());
        guard.finish();
        self.take()
    }
}

/// Any other value: the call is finished now.
pub trait FinishNow<R> {
    /// Record the outcome and finish the call.
    fn audit_finish<C>(&self, guard: &mut CallGuard, on_value: C) -> R
    where
        C: FnOnce(&mut CallGuard, &R);
}

impl<R> FinishNow<R> for Finish<R> {
    #[inline]
    fn audit_finish<C>(&self, guard: &mut CallGuard, on_value: C) -> R
    where
        C: FnOnce(&mut CallGuard, &R),
    {
        let value = self.take();
        on_value(guard, &value);
        guard.finish();
        value
    }
}

pin_project_lite::pin_project! {
    /// An instrumented future that records its outcome when it completes (re-boxed futures).
    /// Dropped before completion, its guard records the call as cancelled.
    struct Finishing<F: Future, C> {
        #[pin]
        inner: Instrumented<F>,
        on_value: Option<C>,
    }
}

impl<F: Future, C> Finishing<F, C> {
    fn new(inner: Instrumented<F>, on_value: C) -> Self {
        Finishing {
            inner,
            on_value: Some(on_value),
        }
    }
}

impl<F, C> Future for Finishing<F, C>
where
    F: Future,
    C: FnOnce(&mut CallGuard, &F::Output),
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        match this.inner.poll(cx) {
            Poll::Ready((value, mut guard)) => {
                if let Some(on_value) = this.on_value.take() {
                    on_value(&mut guard, &value);
                }
                guard.finish();
                Poll::Ready(value)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

// ---- describing an error -----------------------------------------------------------------------

/// What the record keeps of an `Err`. Generated code only.
#[derive(Debug, Default)]
pub struct ErrorReport {
    /// The error's own message.
    pub(crate) message: String,
    /// Its `source()` chain, outermost first: message and, when it could be identified, type.
    pub(crate) sources: Vec<(String, Option<&'static str>)>,
    /// The concrete type behind a trait object (`Box<dyn Error>`, `anyhow::Error`), when it
    /// could be identified.
    pub(crate) dyn_type: Option<&'static str>,
}

/// At most this many sources are kept: a chain is a handful of errors, and a cyclic `source()`
/// (a bug, but in the user's code) must not make the call loop forever.
const MAX_SOURCES: usize = 32;

impl ErrorReport {
    fn of_error(message: String, err: &dyn Error) -> Self {
        let mut sources = Vec::new();
        let mut next = err.source();
        while let Some(source) = next {
            if sources.len() == MAX_SOURCES {
                sources.push((
                    format!("<{MAX_SOURCES} sources kept; the chain goes on>"),
                    None,
                ));
                break;
            }
            sources.push((source.to_string(), crate::errors::identify(source)));
            next = source.source();
        }
        ErrorReport {
            message,
            sources,
            dyn_type: None,
        }
    }

    fn of_dyn(err: &(dyn Error + 'static)) -> Self {
        let mut report = Self::of_error(err.to_string(), err);
        report.dyn_type = crate::errors::identify(err);
        report
    }

    fn message(message: String) -> Self {
        ErrorReport {
            message,
            ..ErrorReport::default()
        }
    }
}

/// Describe an error value (`(&&&&&&Describe(e)).audit_describe()`). Generated code only.
#[derive(Debug)]
pub struct Describe<'a, T: ?Sized>(pub &'a T);

/// `std::error::Error` types: the message and the `source()` chain.
pub trait DescribeError {
    /// The report.
    fn audit_describe(&self) -> ErrorReport;
}
/// `AsRef<dyn Error + Send + Sync>`: `anyhow::Error`, `Box<dyn Error + Send + Sync>`.
pub trait DescribeDynSendSync {
    /// The report.
    fn audit_describe(&self) -> ErrorReport;
}
/// `AsRef<dyn Error>`: `Box<dyn Error>`.
pub trait DescribeDyn {
    /// The report.
    fn audit_describe(&self) -> ErrorReport;
}
/// `Display` values that are not errors.
pub trait DescribeDisplay {
    /// The report.
    fn audit_describe(&self) -> ErrorReport;
}
/// `Debug` values.
pub trait DescribeDebug {
    /// The report.
    fn audit_describe(&self) -> ErrorReport;
}
/// Anything else: the type name.
pub trait DescribeOther {
    /// The report.
    fn audit_describe(&self) -> ErrorReport;
}

impl<T: Error + ?Sized> DescribeError for &&&&&Describe<'_, T> {
    fn audit_describe(&self) -> ErrorReport {
        // Through `&dyn Error` so unsized error types work too.
        ErrorReport::of_error(self.0.to_string(), &DynRef(self.0))
    }
}
impl<T: AsRef<dyn Error + Send + Sync + 'static> + ?Sized> DescribeDynSendSync
    for &&&&Describe<'_, T>
{
    fn audit_describe(&self) -> ErrorReport {
        let err: &(dyn Error + Send + Sync + 'static) = self.0.as_ref();
        ErrorReport::of_dyn(err)
    }
}
impl<T: AsRef<dyn Error + 'static> + ?Sized> DescribeDyn for &&&Describe<'_, T> {
    fn audit_describe(&self) -> ErrorReport {
        ErrorReport::of_dyn(self.0.as_ref())
    }
}
impl<T: std::fmt::Display + ?Sized> DescribeDisplay for &&Describe<'_, T> {
    fn audit_describe(&self) -> ErrorReport {
        ErrorReport::message(self.0.to_string())
    }
}
impl<T: std::fmt::Debug + ?Sized> DescribeDebug for &Describe<'_, T> {
    fn audit_describe(&self) -> ErrorReport {
        ErrorReport::message(format!("{:?}", self.0))
    }
}
impl<T: ?Sized> DescribeOther for Describe<'_, T> {
    fn audit_describe(&self) -> ErrorReport {
        ErrorReport::message(format!("<{}>", std::any::type_name::<T>()))
    }
}

/// An `&T` where `T: Error + ?Sized`, as a sized `Error` (so it coerces to `&dyn Error`).
struct DynRef<'a, T: ?Sized>(&'a T);

impl<T: Error + ?Sized> std::fmt::Debug for DynRef<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.0, f)
    }
}
impl<T: Error + ?Sized> std::fmt::Display for DynRef<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self.0, f)
    }
}
impl<T: Error + ?Sized> Error for DynRef<'_, T> {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.0.source()
    }
}

/// The type name of a value (for `error_type`).
pub fn type_name_of<T: ?Sized>(_: &T) -> &'static str {
    std::any::type_name::<T>()
}

// ---- `?` in inline bodies -------------------------------------------------------------------

/// `?` inside a `#[track_caller]` audited function. Its body runs inline in a labelled block
/// (the caller's location does not reach into a closure), so `expr?` is rewritten to leave that
/// block instead of the function, and the record still gets the `Err`. `std::ops::Try` is not
/// stable, so this covers the two types `?` is used on in practice.
#[diagnostic::on_unimplemented(
    message = "`?` on `{Self}` inside a `#[track_caller]` audited function",
    label = "the audit macro supports `?` on `Result` and `Option` here",
    note = "match on the value instead, or remove `#[track_caller]`"
)]
pub trait AuditTry {
    /// The value `?` yields.
    type Output;
    /// What `?` returns early with.
    type Residual;
    /// Continue with the value, or break with the residual.
    fn audit_branch(self) -> std::ops::ControlFlow<Self::Residual, Self::Output>;
}

impl<T, E> AuditTry for Result<T, E> {
    type Output = T;
    type Residual = Result<Infallible, E>;
    #[inline]
    fn audit_branch(self) -> std::ops::ControlFlow<Self::Residual, T> {
        match self {
            Ok(v) => std::ops::ControlFlow::Continue(v),
            Err(e) => std::ops::ControlFlow::Break(Err(e)),
        }
    }
}

impl<T> AuditTry for Option<T> {
    type Output = T;
    type Residual = Option<Infallible>;
    #[inline]
    fn audit_branch(self) -> std::ops::ControlFlow<Self::Residual, T> {
        match self {
            Some(v) => std::ops::ControlFlow::Continue(v),
            None => std::ops::ControlFlow::Break(None),
        }
    }
}

/// The function's return value made from a `?`'s residual, as `?` makes it (`From` on the
/// error).
#[diagnostic::on_unimplemented(
    message = "`?` cannot return `{R}` from a `#[track_caller]` audited function returning `{Self}`",
    label = "this `?` leaves the function"
)]
pub trait AuditFromResidual<R> {
    /// The early return value.
    fn audit_from_residual(residual: R) -> Self;
}

impl<T, E, F: From<E>> AuditFromResidual<Result<Infallible, E>> for Result<T, F> {
    #[inline]
    fn audit_from_residual(residual: Result<Infallible, E>) -> Self {
        match residual {
            Err(e) => Err(From::from(e)),
        }
    }
}

impl<T> AuditFromResidual<Option<Infallible>> for Option<T> {
    #[inline]
    fn audit_from_residual(_: Option<Infallible>) -> Self {
        None
    }
}

#[cfg(test)]
// The probes are called exactly as the expansion calls them: the full stack of `&`s is the
// dispatch under test, not a needless borrow.
#[allow(clippy::needless_borrow)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Outer(std::io::Error);
    impl std::fmt::Display for Outer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("loading the applicant failed")
        }
    }
    impl Error for Outer {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(&self.0)
        }
    }

    fn io() -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::NotFound, "applicant.json missing")
    }

    #[test]
    fn a_result_behind_an_alias_is_a_result() {
        type AgentResult<T> = Result<T, String>;
        let r: AgentResult<u8> = Err("no".into());
        #[allow(unused_imports)]
        use {ViewPlain as _, ViewResult as _};
        assert!(matches!((&&Returned(&r)).audit_view(), View::Err(e) if e == "no"));
        let plain = 5u8;
        assert!(matches!((&&Returned(&plain)).audit_view(), View::Ok(5)));
    }

    #[test]
    fn error_chains_are_kept_with_their_types() {
        #[allow(unused_imports)]
        use {
            DescribeDebug as _, DescribeDisplay as _, DescribeDyn as _, DescribeDynSendSync as _,
            DescribeError as _, DescribeOther as _,
        };
        let e = Outer(io());
        let r = (&&&&&&Describe(&e)).audit_describe();
        assert_eq!(r.message, "loading the applicant failed");
        assert_eq!(
            r.sources,
            vec![(
                "applicant.json missing".to_owned(),
                Some("std::io::error::Error")
            )]
        );
        assert_eq!(r.dyn_type, None);

        let boxed: Box<dyn Error + Send + Sync> = Box::new(Outer(io()));
        let r = (&&&&&&Describe(&boxed)).audit_describe();
        assert_eq!(r.message, "loading the applicant failed");
        assert_eq!(r.sources.len(), 1);

        let boxed: Box<dyn Error> = Box::new(io());
        let r = (&&&&&&Describe(&boxed)).audit_describe();
        assert_eq!(r.dyn_type, Some("std::io::error::Error"));

        let r = (&&&&&&Describe(&"plain text")).audit_describe();
        assert_eq!((r.message.as_str(), r.sources.len()), ("plain text", 0));
        struct Opaque;
        let r = (&&&&&&Describe(&Opaque)).audit_describe();
        assert!(r.message.contains("Opaque"), "{}", r.message);
    }

    #[test]
    fn a_cyclic_source_chain_ends() {
        #[derive(Debug)]
        struct Cycle;
        impl std::fmt::Display for Cycle {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("cycle")
            }
        }
        static CYCLE: Cycle = Cycle;
        impl Error for Cycle {
            fn source(&self) -> Option<&(dyn Error + 'static)> {
                Some(&CYCLE)
            }
        }
        #[allow(unused_imports)]
        use DescribeError as _;
        let r = (&&&&&&Describe(&Cycle)).audit_describe();
        assert_eq!(r.sources.len(), MAX_SOURCES + 1);
    }
}
