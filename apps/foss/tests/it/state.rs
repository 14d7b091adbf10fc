//! Stateful mocks through the engine: sequences under concurrent requests, a resource past
//! its host's limits, state kept by a reload of the same revision and forgotten by a new
//! one, scenarios and sequences shared by two replicas on Redis, and a state that cannot
//! be reached.

use std::collections::BTreeMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use async_trait::async_trait;
use moclojer_domain::spec::{Limits, Mode};
use moclojer_foss::{Engine, EngineOptions, SharedEngine, SpecFiles, load_files, reload};
use moclojer_memory::InMemoryMockState;
use moclojer_ports::{
    MockState, PortError, PortErrorKind, PortResult, RecordPage, ResourceRef, StateLimits,
    StateOutcome, StateScope, StateSnapshot,
};
use moclojer_redis::{RedisConfig, RedisMockState};
use moclojer_testkit::services::{TestStream, redis_url};
use serde_json::{Map, Value};

use crate::helpers::{Req, engine_with, options, send};

/// A sequence of `n` responses, `{"n": 0}` to `{"n": n - 1}`, at `/seq` on `host`.
fn sequence_spec(host: Option<&str>, n: usize) -> String {
    let host = host.map(|h| format!("    host: {h}\n")).unwrap_or_default();
    let responses: String = (0..n)
        .map(|i| format!("      - body: '{{\"n\": {i}}}'\n"))
        .collect();
    format!("- endpoint:\n{host}    path: /seq\n    sequence:\n{responses}")
}

fn with_state(state: Arc<dyn MockState>) -> EngineOptions {
    EngineOptions {
        state,
        ..options(Mode::Standalone)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_take_each_sequence_position_once() {
    const REQUESTS: usize = 64;
    let engine = Arc::new(engine_with(
        &sequence_spec(None, REQUESTS),
        options(Mode::Standalone),
    ));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..REQUESTS {
        let engine = Arc::clone(&engine);
        tasks.spawn(async move { send(&engine, Req::get("/seq")).await.json()["n"].as_u64() });
    }
    let mut seen: Vec<u64> = tasks
        .join_all()
        .await
        .into_iter()
        .map(|n| n.expect("a position"))
        .collect();
    seen.sort_unstable();
    let expected: Vec<u64> = (0..REQUESTS as u64).collect();
    assert_eq!(seen, expected, "every position answered exactly once");
    let after = send(&engine, Req::get("/seq")).await.json();
    assert_eq!(
        after["n"],
        REQUESTS - 1,
        "past the end the last answers again"
    );
}

#[tokio::test]
async fn a_resource_past_its_limits_answers_507_and_keeps_what_it_had() {
    let limits = StateLimits {
        max_records: 3,
        max_bytes: 10 * 1024 * 1024,
    };
    let spec =
        "- resource:\n    path: /users\n    seed: [{id: 1, name: ada}, {id: 2, name: grace}]\n";
    let engine = engine_with(spec, with_state(Arc::new(InMemoryMockState::new(limits))));
    let post = |body: &str| Req::get("/users").method("POST").json(body);
    assert_eq!(
        send(&engine, post(r#"{"name": "linus"}"#)).await.status,
        201
    );
    let full = send(&engine, post(r#"{"name": "one too many"}"#)).await;
    assert_eq!(full.status, 507, "{}", full.body);
    assert!(full.json()["error"].as_str().is_some_and(|e| !e.is_empty()));
    let list = send(&engine, Req::get("/users")).await;
    assert_eq!(list.header("x-total-count"), Some("3"));
    let names: Vec<Value> = list
        .json()
        .as_array()
        .expect("a list")
        .iter()
        .map(|r| r["name"].clone())
        .collect();
    assert_eq!(names, ["ada", "grace", "linus"]);

    let small = StateLimits {
        max_records: 100,
        max_bytes: 200,
    };
    let engine = engine_with(spec, with_state(Arc::new(InMemoryMockState::new(small))));
    let big = format!(r#"{{"name": "{}"}}"#, "x".repeat(300));
    assert_eq!(send(&engine, post(&big)).await.status, 507);
    let patch = Req::get("/users/1").method("PATCH").json(&big);
    assert_eq!(send(&engine, patch).await.status, 507);
    let ada = send(&engine, Req::get("/users/1")).await.json();
    assert_eq!(
        ada["name"], "ada",
        "a refused update leaves the record as it was"
    );
}

#[tokio::test]
async fn a_reload_keeps_the_state_of_the_same_spec_and_a_changed_spec_starts_afresh() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("moclojer.yml");
    std::fs::write(&path, sequence_spec(None, 3)).expect("write");
    let files = SpecFiles {
        config: path.clone(),
        mocks: None,
    };
    let limits = Limits::default();
    let opts = options(Mode::Standalone);
    let engine: SharedEngine = Arc::new(ArcSwap::from_pointee(
        load_files(&files, opts.clone(), &limits).expect("load"),
    ));
    let n = |engine: SharedEngine| async move {
        send(&engine.load_full(), Req::get("/seq")).await.json()["n"].clone()
    };
    assert_eq!(n(Arc::clone(&engine)).await, 0);
    assert_eq!(n(Arc::clone(&engine)).await, 1);

    assert!(
        reload(&files, &engine, &opts, &limits).await,
        "same text reloads"
    );
    assert_eq!(
        engine.load().revision(),
        1,
        "the same spec is the same revision"
    );
    assert_eq!(n(Arc::clone(&engine)).await, 2, "the position was kept");

    std::fs::write(&path, sequence_spec(None, 4)).expect("write");
    assert!(
        reload(&files, &engine, &opts, &limits).await,
        "the edit reloads"
    );
    assert_eq!(engine.load().revision(), 2);
    assert_eq!(
        n(Arc::clone(&engine)).await,
        0,
        "a new revision starts afresh"
    );
}

/// The `n` `/seq` on `a-b.test` answers.
async fn hosted_position(engine: &Engine) -> Value {
    send(engine, Req::get("/seq").host("a-b.test")).await.json()["n"].clone()
}

#[tokio::test]
async fn a_new_revision_of_a_hosted_mock_resets_its_state_and_the_same_one_keeps_it() {
    let state: Arc<dyn MockState> = Arc::new(InMemoryMockState::default());
    let build = |revision: u64| {
        let options = EngineOptions {
            mode: Mode::Cloud,
            state: Arc::clone(&state),
            ..EngineOptions::default()
        };
        engine_with(&sequence_spec(Some("a-b.test"), 3), options).with_revision(revision)
    };
    let first = build(7);
    assert_eq!(hosted_position(&first).await, 0);
    assert_eq!(hosted_position(&first).await, 1);
    let rebuilt = build(7);
    assert_eq!(
        hosted_position(&rebuilt).await,
        2,
        "a reload of revision 7 keeps its state"
    );
    let next = build(8);
    assert_eq!(hosted_position(&next).await, 0, "revision 8 starts afresh");
    let older = hosted_position(&rebuilt).await;
    assert_eq!(older, 1, "a replica still on 7 works on 8's state");
}

#[tokio::test]
async fn two_replicas_on_redis_share_scenarios_and_sequences() {
    let Some(url) = redis_url() else { return };
    let stream = TestStream::new(&url, "foss-state");
    let spec = "\
- endpoint:
    host: shop-ada.test
    method: POST
    path: /cart
    scenario: {name: cart, when-state: started, set-state: full}
    response: {status: 201, body: '{\"added\": true}'}
- endpoint:
    host: shop-ada.test
    path: /cart
    response:
      body: '{\"cart\": \"{{state.cart}}\"}'
- endpoint:
    host: shop-ada.test
    path: /seq
    sequence: [{body: '{\"n\": 0}'}, {body: '{\"n\": 1}'}, {body: '{\"n\": 2}'}]
";
    let replica = || async {
        let state =
            RedisMockState::connect(&RedisConfig::new(url.as_str()), StateLimits::default())
                .await
                .expect("connect")
                .with_key_prefix(format!("{}:", stream.name()));
        let options = EngineOptions {
            mode: Mode::Cloud,
            state: Arc::new(state),
            ..EngineOptions::default()
        };
        engine_with(spec, options).with_revision(3)
    };
    let (a, b) = (replica().await, replica().await);
    let at = |path: &str| Req::get(path).host("shop-ada.test");
    assert_eq!(send(&b, at("/cart")).await.json()["cart"], "started");
    assert_eq!(send(&a, at("/cart").method("POST")).await.status, 201);
    assert_eq!(
        send(&b, at("/cart")).await.json()["cart"],
        "full",
        "b sees a's move"
    );
    let again = send(&b, at("/cart").method("POST")).await;
    assert_eq!(
        again.status, 404,
        "the scenario left `started` on both: {}",
        again.body
    );
    let mut positions = Vec::new();
    for engine in [&a, &b, &a] {
        positions.push(send(engine, at("/seq")).await.json()["n"].clone());
    }
    assert_eq!(positions, [0, 1, 2], "one sequence over both replicas");
}

/// A state whose every call fails, as an unreachable Redis does.
#[derive(Debug)]
struct Unreachable;

fn down<T>() -> PortResult<T> {
    Err(PortError::new(
        PortErrorKind::Unavailable,
        "the state server is down",
    ))
}

#[async_trait]
impl MockState for Unreachable {
    async fn next_position(&self, _: StateScope<'_>, _: &str) -> PortResult<u64> {
        down()
    }
    async fn scenarios(&self, _: StateScope<'_>) -> PortResult<BTreeMap<String, String>> {
        down()
    }
    async fn transition(&self, _: StateScope<'_>, _: &str, _: &str, _: &str) -> PortResult<bool> {
        down()
    }
    async fn list(
        &self,
        _: StateScope<'_>,
        _: ResourceRef<'_>,
        _: u64,
        _: u64,
    ) -> PortResult<RecordPage> {
        down()
    }
    async fn get(
        &self,
        _: StateScope<'_>,
        _: ResourceRef<'_>,
        _: &str,
    ) -> PortResult<Option<Map<String, Value>>> {
        down()
    }
    async fn create(
        &self,
        _: StateScope<'_>,
        _: ResourceRef<'_>,
        _: Map<String, Value>,
    ) -> PortResult<StateOutcome<Map<String, Value>>> {
        down()
    }
    async fn update(
        &self,
        _: StateScope<'_>,
        _: ResourceRef<'_>,
        _: &str,
        _: Map<String, Value>,
        _: bool,
    ) -> PortResult<StateOutcome<Map<String, Value>>> {
        down()
    }
    async fn delete(&self, _: StateScope<'_>, _: ResourceRef<'_>, _: &str) -> PortResult<bool> {
        down()
    }
    async fn snapshot(&self, _: &str) -> PortResult<StateSnapshot> {
        down()
    }
    async fn reset(&self, _: &str) -> PortResult<()> {
        down()
    }
}

#[tokio::test]
async fn a_state_that_cannot_be_reached_answers_503_and_plain_endpoints_still_answer() {
    let spec = format!(
        "{}- resource:\n    path: /users\n- endpoint:\n    path: /cart\n    scenario: {{name: cart, when-state: started}}\n- endpoint:\n    path: /plain\n    response: {{body: '{{\"ok\": true}}'}}\n",
        sequence_spec(None, 2)
    );
    let engine = engine_with(&spec, with_state(Arc::new(Unreachable)));
    for path in ["/seq", "/users", "/users/1", "/cart"] {
        let res = send(&engine, Req::get(path)).await;
        assert_eq!(res.status, 503, "{path}: {}", res.body);
        let message = res.json()["error"].as_str().unwrap_or_default().to_owned();
        assert!(message.contains("state"), "{path}: {message}");
        assert!(
            !message.contains("down"),
            "{path}: the cause stays in the log: {message}"
        );
    }
    assert_eq!(send(&engine, Req::get("/plain")).await.status, 200);
}
