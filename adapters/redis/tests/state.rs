//! `RedisMockState` against a real Redis: the shared `MockState` contract, one state for
//! two replicas, a host's keys under one hash tag and gone after a reset, the script
//! loaded again after Redis forgets it, and an unreachable Redis.
//!
//! The server comes from `MOCLOJER_TEST_REDIS_URL` (e.g. `redis://127.0.0.1:6379`). When it
//! is unset, each test prints one line to stderr and passes, except under `CI=true`, where
//! it fails naming the variable. Every test keys its state under a prefix of its own
//! (a [`TestStream`]'s name), whose keys are deleted afterwards.

mod common;

use common::{raw, raw_client};
use std::sync::Arc;
use std::time::Duration;

use fred::interfaces::ClientLike;
use fred::types::Value;
use moclojer_ports::{MockState, PortErrorKind, ResourceRef, StateLimits, StateScope};
use moclojer_redis::{RedisConfig, RedisMockState};
use moclojer_testkit::services::{TestStream, redis_url};
use moclojer_testkit::{contracts, unique_suffix};
use serde_json::{Map, json};
use tokio::task::JoinSet;
use tokio::time::Instant;

/// A state on `url` keyed under `stream`'s name.
async fn state(url: &str, stream: &TestStream, limits: StateLimits) -> RedisMockState {
    RedisMockState::connect(&RedisConfig::new(url), limits)
        .await
        .expect("connect")
        .with_key_prefix(format!("{}:", stream.name()))
}

fn at(host: &str, revision: u64) -> StateScope<'_> {
    StateScope { host, revision }
}

fn seed() -> Vec<Map<String, serde_json::Value>> {
    match json!({"id": 1, "name": "ana"}) {
        serde_json::Value::Object(map) => vec![map],
        _ => unreachable!(),
    }
}

fn users(seed: &[Map<String, serde_json::Value>]) -> ResourceRef<'_> {
    ResourceRef {
        name: "/users",
        id_field: "id",
        seed,
    }
}

/// The keys under `prefix`, sorted.
async fn keys_under(client: &fred::clients::Client, prefix: &str) -> Vec<String> {
    let mut keys: Vec<String> = raw(client, "KEYS", vec![Value::from(format!("{prefix}*"))])
        .await
        .into_array()
        .into_iter()
        .filter_map(|key| key.as_string())
        .collect();
    keys.sort();
    keys
}

/// On several threads, so the concurrent callers really race.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keeps_the_mock_state_contract() {
    let Some(url) = redis_url() else {
        return;
    };
    let stream = TestStream::new(&url, "state");
    contracts::mock_state_contract(|limits| {
        let (url, stream) = (&url, &stream);
        async move { Arc::new(state(url, stream, limits).await) as Arc<dyn MockState> }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_share_one_state() {
    let Some(url) = redis_url() else {
        return;
    };
    let stream = TestStream::new(&url, "state");
    let one: Arc<dyn MockState> = Arc::new(state(&url, &stream, StateLimits::default()).await);
    let other: Arc<dyn MockState> = Arc::new(state(&url, &stream, StateLimits::default()).await);
    let host = format!("shared-{}.state.test", unique_suffix());

    let mut tasks = JoinSet::new();
    for i in 0..50 {
        let replica = Arc::clone(if i % 2 == 0 { &one } else { &other });
        let host = host.clone();
        tasks.spawn(async move { replica.next_position(at(&host, 1), "s").await });
    }
    let mut taken: Vec<u64> = tasks
        .join_all()
        .await
        .into_iter()
        .map(|p| p.expect("position"))
        .collect();
    taken.sort_unstable();
    assert_eq!(taken, (0..50).collect::<Vec<_>>(), "one sequence for both");

    let seed = seed();
    one.create(at(&host, 1), users(&seed), Map::new())
        .await
        .expect("create through one");
    let page = other
        .list(at(&host, 1), users(&seed), 0, 10)
        .await
        .expect("list through the other");
    assert_eq!(page.total, 2, "the other replica sees the record");

    // A replica reloaded with revision 2 starts afresh; the other, still on 1, follows.
    assert_eq!(other.next_position(at(&host, 2), "s").await.unwrap(), 0);
    assert_eq!(one.next_position(at(&host, 1), "s").await.unwrap(), 1);
    assert_eq!(
        one.list(at(&host, 1), users(&seed), 0, 10)
            .await
            .unwrap()
            .total,
        1
    );

    other.reset(&host).await.expect("reset");
    assert_eq!(
        one.snapshot(&host).await.unwrap().revision,
        None,
        "reset for both"
    );
}

#[tokio::test]
async fn a_hosts_keys_share_one_tag_and_go_with_a_reset() {
    let Some(url) = redis_url() else {
        return;
    };
    let stream = TestStream::new(&url, "state");
    let state = state(&url, &stream, StateLimits::default()).await;
    let (host, neighbour) = (format!("{{odd}}:{}", unique_suffix()), "neighbour.test");
    let seed = seed();
    for h in [host.as_str(), neighbour] {
        state.next_position(at(h, 1), "s").await.expect("position");
        state
            .transition(at(h, 1), "flow", "started", "a")
            .await
            .expect("transition");
        state.get(at(h, 1), users(&seed), "1").await.expect("get");
        let other_resource = ResourceRef {
            name: "/{other}:d",
            ..users(&seed)
        };
        state.get(at(h, 1), other_resource, "1").await.expect("get");
    }
    let client = raw_client(&url).await;
    let key = state.key(&host);
    assert!(key.starts_with(stream.name()), "{key}");
    let keys = keys_under(&client, &key).await;
    assert_eq!(
        keys.len(),
        7,
        "hash, sequences, scenarios, two per resource: {keys:?}"
    );
    let tag = &key[key.find('{').expect("a tag")..=key.find('}').expect("a tag")];
    assert!(
        !tag.contains("odd"),
        "the host is escaped in the tag: {tag}"
    );
    for k in &keys {
        let first = &k[k.find('{').unwrap()..=k.find('}').unwrap()];
        assert_eq!(first, tag, "{k} shares the host's hash tag");
    }

    state.reset(&host).await.expect("reset");
    assert!(
        keys_under(&client, &key).await.is_empty(),
        "a reset leaves no key"
    );
    assert_eq!(
        keys_under(&client, &state.key(neighbour)).await.len(),
        7,
        "another host keeps its keys"
    );
    // A newer revision deletes the old state's keys too.
    state.next_position(at(neighbour, 2), "s").await.unwrap();
    assert_eq!(keys_under(&client, &state.key(neighbour)).await.len(), 2);
    client.quit().await.ok();
}

#[tokio::test]
async fn the_script_is_loaded_again_when_redis_forgets_it() {
    let Some(url) = redis_url() else {
        return;
    };
    let stream = TestStream::new(&url, "state");
    let state = state(&url, &stream, StateLimits::default()).await;
    let host = format!("flushed-{}.state.test", unique_suffix());
    assert_eq!(state.next_position(at(&host, 1), "s").await.unwrap(), 0);
    let client = raw_client(&url).await;
    raw(&client, "SCRIPT", vec![Value::from("FLUSH")]).await;
    assert_eq!(state.next_position(at(&host, 1), "s").await.unwrap(), 1);
    assert_eq!(state.next_position(at(&host, 1), "s").await.unwrap(), 2);
    client.quit().await.ok();
}

#[tokio::test]
async fn an_unreachable_redis_fails_fast_and_retryably() {
    let started = Instant::now();
    let state = RedisMockState::connect(
        &RedisConfig::new("redis://127.0.0.1:1"),
        StateLimits::default(),
    )
    .await
    .expect("connect returns while redis is down");
    assert!(started.elapsed() < Duration::from_secs(3));
    let seed = seed();
    let t = Instant::now();
    let e = state
        .next_position(at("down.test", 1), "s")
        .await
        .expect_err("position");
    assert_eq!(e.kind(), PortErrorKind::Unavailable, "position");
    let e = state
        .list(at("down.test", 1), users(&seed), 0, 10)
        .await
        .expect_err("list");
    assert_eq!(e.kind(), PortErrorKind::Unavailable, "list");
    let e = state.reset("down.test").await.expect_err("reset");
    assert_eq!(e.kind(), PortErrorKind::Unavailable, "reset");
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());

    let bad = RedisMockState::connect(&RedisConfig::new("not a url"), StateLimits::default()).await;
    assert_eq!(
        bad.map(|_| ()).map_err(|e| e.kind()),
        Err(PortErrorKind::Invalid)
    );
}
