//! Every function shape the macros support compiles and behaves exactly as before for the
//! caller, and leaves one record per call.

use std::fmt::Display;

use audit_runtime::{audited_decision, audited_tool};
use audit_tests::local_runtime;
use serde::Serialize;

#[derive(Debug, Serialize, Clone, PartialEq)]
struct Applicant {
    name: String,
    income: u64,
}

#[derive(Debug, PartialEq)]
struct AgentError(&'static str);

impl Display for AgentError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "agent error: {}", self.0)
    }
}

#[audited_decision(name = "shapes.sync", model = "m", model_version = "1", capture(a, n))]
fn sync_fn(a: &Applicant, n: u32) -> u64 {
    a.income + u64::from(n)
}

#[audited_decision(unversioned = "test", capture(x))]
fn early_return(x: i32) -> Result<i32, AgentError> {
    if x < 0 {
        return Err(AgentError("negative"));
    }
    let parsed: i32 = "41".parse().map_err(|_| AgentError("parse"))?;
    Ok(parsed + x)
}

#[derive(Debug)]
struct ParseFail;
impl From<std::num::ParseIntError> for ParseFail {
    fn from(_: std::num::ParseIntError) -> Self {
        ParseFail
    }
}

// `?` with a `From` conversion must still infer (the fake-return trick).
#[audited_tool]
fn question_mark_conversion(s: &str) -> Result<u8, ParseFail> {
    let v: u8 = s.parse()?;
    Ok(v)
}

#[audited_tool(capture(items), output = capture)]
fn generic_fn<T: Serialize + Clone>(items: &[T]) -> Vec<T> {
    items.to_vec()
}

#[audited_tool]
fn impl_trait_arg_and_return(x: impl Display) -> impl Display {
    format!("<{x}>")
}

struct Agent {
    calls: u32,
    label: String,
}

impl Agent {
    #[audited_tool(name = "shapes.by_ref")]
    fn by_ref(&self) -> &str {
        &self.label
    }

    #[audited_tool(name = "shapes.by_mut")]
    fn by_mut(&mut self) -> &mut u32 {
        self.calls += 1;
        &mut self.calls
    }

    #[audited_tool(name = "shapes.by_value")]
    fn by_value(self) -> String {
        self.label
    }

    #[audited_decision(name = "shapes.async_method", unversioned = "test")]
    async fn async_method(&self, n: u32) -> u32 {
        tokio::task::yield_now().await;
        self.calls + n
    }
}

trait Tool {
    fn run(&self, input: &str) -> String;
    fn default_method(&self) -> usize {
        3
    }
}

struct Echo;

impl Tool for Echo {
    #[audited_tool(name = "shapes.trait_impl", capture(input), output = capture)]
    fn run(&self, input: &str) -> String {
        input.to_uppercase()
    }
}

trait WithDefault {
    #[audited_tool(name = "shapes.trait_default")]
    fn answer(&self) -> u8 {
        42
    }
}
impl WithDefault for Echo {}

#[async_trait::async_trait]
trait AsyncTool {
    async fn call(&self, q: &str) -> Result<String, AgentError>;
}

struct Search;

#[async_trait::async_trait]
impl AsyncTool for Search {
    #[audited_tool(name = "shapes.async_trait", capture(q), side_effect = read)]
    async fn call(&self, q: &str) -> Result<String, AgentError> {
        tokio::task::yield_now().await;
        if q.is_empty() {
            return Err(AgentError("empty query"));
        }
        Ok(format!("results for {q}"))
    }
}

// A native async fn in a trait impl.
trait NativeAsync {
    fn go(&self) -> impl std::future::Future<Output = u8> + Send;
}
impl NativeAsync for Search {
    #[audited_tool(name = "shapes.native_async_trait")]
    async fn go(&self) -> u8 {
        7
    }
}

#[audited_tool(name = "shapes.impl_future")]
fn returns_future(x: u8) -> impl std::future::Future<Output = Result<u8, AgentError>> {
    let y = x * 2;
    async move {
        if y > 100 {
            Err(AgentError("big"))
        } else {
            Ok(y)
        }
    }
}

#[audited_decision(unversioned = "test")]
async fn async_free(n: u64) -> Result<u64, String> {
    tokio::task::yield_now().await;
    let v: u64 = "5"
        .parse()
        .map_err(|e: std::num::ParseIntError| e.to_string())?;
    Ok(n + v)
}

#[test]
fn sync_shapes_behave_as_before() {
    let (guard, mem) = local_runtime();
    let a = Applicant {
        name: "Ada".into(),
        income: 10,
    };
    assert_eq!(sync_fn(&a, 2), 12);
    assert_eq!(early_return(-1), Err(AgentError("negative")));
    assert_eq!(early_return(1), Ok(42));
    assert!(question_mark_conversion("x").is_err());
    assert_eq!(question_mark_conversion("9").ok(), Some(9));
    assert_eq!(generic_fn(&[1, 2, 3]), vec![1, 2, 3]);
    assert_eq!(impl_trait_arg_and_return(5).to_string(), "<5>");
    let mut agent = Agent {
        calls: 0,
        label: "x".into(),
    };
    assert_eq!(agent.by_ref(), "x");
    *agent.by_mut() += 10;
    assert_eq!(agent.calls, 11);
    assert_eq!(Echo.run("hi"), "HI");
    assert_eq!(Echo.default_method(), 3);
    assert_eq!(Echo.answer(), 42);
    assert_eq!(agent.by_value(), "x");
    guard.flush().unwrap();

    let r = mem
        .find("shapes.sync")
        .expect_one()
        .assert_ok()
        .assert_version("model", "1");
    assert_eq!(r.arg("a"), serde_json::json!({"name": "Ada", "income": 10}));
    assert_eq!(r.arg("n"), serde_json::json!(2));
    assert!(r.record().inputs.as_ref().unwrap().digest.is_some());

    let recs = mem.find("early_return");
    assert_eq!(recs.count(), 2);
    let err = &recs.all()[0];
    let out = err.outcome.as_ref().unwrap();
    assert_eq!(out.error.as_deref(), Some("agent error: negative"));
    assert!(out.error_type.as_deref().unwrap().ends_with("AgentError"));
    // Debug-only errors are described with Debug.
    let q = mem.find("question_mark_conversion");
    assert_eq!(
        q.all()[0].outcome.as_ref().unwrap().error.as_deref(),
        Some("ParseFail")
    );
    let g = mem.find("generic_fn").expect_one();
    assert_eq!(
        g.record()
            .outcome
            .as_ref()
            .unwrap()
            .value
            .as_ref()
            .unwrap()
            .value,
        Some(serde_json::json!([1, 2, 3]))
    );
    for name in [
        "shapes.by_ref",
        "shapes.by_mut",
        "shapes.by_value",
        "shapes.trait_impl",
        "shapes.trait_default",
        "impl_trait_arg_and_return",
    ] {
        mem.find(name).expect_one().assert_ok();
    }
    mem.assert_chain_valid();
}

#[tokio::test]
async fn async_shapes_behave_as_before() {
    let (guard, mem) = local_runtime();
    let agent = Agent {
        calls: 1,
        label: String::new(),
    };
    assert_eq!(agent.async_method(2).await, 3);
    assert_eq!(Search.call("rust").await.unwrap(), "results for rust");
    assert_eq!(Search.call("").await, Err(AgentError("empty query")));
    assert_eq!(Search.go().await, 7);
    assert_eq!(returns_future(3).await, Ok(6));
    assert_eq!(returns_future(60).await, Err(AgentError("big")));
    assert_eq!(async_free(1).await, Ok(6));
    guard.flush().unwrap();

    mem.find("shapes.async_method").expect_one().assert_ok();
    let calls = mem.find("shapes.async_trait");
    assert_eq!(calls.count(), 2);
    assert_eq!(
        calls.all()[1].outcome.as_ref().unwrap().error.as_deref(),
        Some("agent error: empty query")
    );
    assert_eq!(
        calls.all()[0].outcome.as_ref().unwrap().side_effect,
        Some(audit_runtime::point::SideEffect::Read.into())
    );
    mem.find("shapes.native_async_trait")
        .expect_one()
        .assert_ok();
    let f = mem.find("shapes.impl_future");
    assert_eq!(f.count(), 2);
    assert_eq!(
        f.all()[1].outcome.as_ref().unwrap().status,
        audit_runtime::record::OutcomeStatus::Err
    );
    mem.find("async_free").expect_one().assert_ok();
    mem.assert_chain_valid();
}

#[test]
fn registry_lists_points_of_this_binary() {
    // Points of a linked library crate are listed next to this crate's own.
    assert_eq!(audit_tests::lib_helper(1), 2);
    let lib = audit_runtime::points()
        .find(|p| p.name == "lib.helper")
        .expect("library point listed");
    assert_eq!(lib.module_path, "audit_tests");
    let names: Vec<&str> = audit_runtime::points().map(|p| p.name).collect();
    for n in [
        "shapes.sync",
        "shapes.async_trait",
        "shapes.trait_default",
        "early_return",
    ] {
        assert!(names.contains(&n), "{n} missing from {names:?}");
    }
    let p = audit_runtime::points()
        .find(|p| p.name == "shapes.sync")
        .unwrap();
    assert_eq!(p.crate_name, "audit-tests");
    assert_eq!(p.args.len(), 2);
    assert!(p.file.ends_with("shapes.rs"));
}
