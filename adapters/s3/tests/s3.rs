//! `S3ObjectStore` against real servers.
//!
//! Most tests need an S3 server at `MOCLOJER_TEST_S3_URL` (moto in CI, e.g.
//! `http://127.0.0.1:9000`), used with the credentials `testing`/`testing`; each test makes
//! its own bucket. The stopped-server test starts and kills its own moto, found at
//! `MOCLOJER_TEST_MOTO_BIN` (e.g. `~/.cache/moclojer/moto/bin/moto_server`). When a variable is unset,
//! its tests print one line to stderr and pass, except under `CI=true`, where they fail.
//! The tests against a closed port and a silent server need nothing.

#![allow(clippy::print_stderr)] // timings and the stopped server's error, for the log

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use moclojer_ports::{ObjectKey, ObjectStore, PortError, PortErrorKind, PortResult};
use moclojer_s3::{S3Config, S3ObjectStore};
use moclojer_testkit::contracts::object_store_contract;
use moclojer_testkit::services::{S3_TEST_CREDENTIALS, required_env, s3_url, unique_bucket};
use tokio::task::JoinSet;

const MOTO_VAR: &str = "MOCLOJER_TEST_MOTO_BIN";
const REGION: &str = "eu-west-1";

fn key(raw: &str) -> ObjectKey {
    ObjectKey::parse(raw).unwrap()
}

fn config(endpoint: &str, bucket: &str) -> S3Config {
    let (access, secret) = S3_TEST_CREDENTIALS;
    let mut config = S3Config::new(endpoint, bucket, access, secret);
    config.region = REGION.to_owned();
    config.create_bucket = true;
    config.request_timeout = Duration::from_secs(5);
    config
}

async fn fresh_store(endpoint: &str) -> S3ObjectStore {
    S3ObjectStore::connect(&config(endpoint, &unique_bucket("test")))
        .await
        .unwrap()
}

#[track_caller]
fn assert_retryable<T: std::fmt::Debug>(result: PortResult<T>, what: &str) -> PortError {
    let err = result.expect_err(what);
    assert!(
        matches!(
            err.kind(),
            PortErrorKind::Unavailable | PortErrorKind::Timeout
        ),
        "{what}: {err} ({:?})",
        err.kind()
    );
    assert!(err.is_retryable(), "{what}");
    err
}

#[tokio::test]
async fn s3_object_store_keeps_the_object_store_contract() {
    let Some(url) = s3_url() else { return };
    let store = fresh_store(&url).await;
    object_store_contract(Arc::new(store.clone())).await;

    // The same under a prefix, in the same bucket: the prefix is invisible to callers.
    let mut prefixed = config(&url, store.bucket());
    prefixed.prefix = Some("tenants/t-1".to_owned());
    let prefixed = S3ObjectStore::connect(&prefixed).await.unwrap();
    assert_eq!(prefixed.prefix(), "tenants/t-1/");
    object_store_contract(Arc::new(prefixed.clone())).await;

    let k = key("moclojer.yml");
    prefixed.put(&k, Bytes::from_static(b"a")).await.unwrap();
    let from_root: Vec<String> = store
        .list("")
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.key.to_string())
        .collect();
    assert_eq!(from_root, ["tenants/t-1/moclojer.yml"]);
    let from_prefix = prefixed.list("").await.unwrap();
    assert_eq!(from_prefix.len(), 1);
    assert_eq!(from_prefix[0].key, k);
    assert_eq!(
        store
            .get(&key("tenants/t-1/moclojer.yml"))
            .await
            .unwrap()
            .bytes,
        "a"
    );
    prefixed.delete(&k).await.unwrap();
}

#[tokio::test]
async fn listing_follows_continuation_tokens_past_one_page() {
    const COUNT: usize = 1_050;
    const IN_FLIGHT: usize = 16;
    let Some(url) = s3_url() else { return };
    let store = Arc::new(fresh_store(&url).await);
    let started = Instant::now();

    let keys: Vec<ObjectKey> = (0..COUNT).map(|i| key(&format!("many/o-{i:05}"))).collect();
    let mut tasks = JoinSet::new();
    for k in &keys {
        if tasks.len() >= IN_FLIGHT {
            tasks.join_next().await.unwrap().unwrap();
        }
        let (store, k) = (Arc::clone(&store), k.clone());
        tasks.spawn(async move {
            store
                .put(&k, Bytes::from(k.as_str().to_owned()))
                .await
                .unwrap();
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    // Neighbours outside the prefix are not listed.
    store.put(&key("many"), Bytes::new()).await.unwrap();
    store.put(&key("manz/x"), Bytes::new()).await.unwrap();
    let written = started.elapsed();

    let listed = store.list("many/").await.unwrap();
    let listed_keys: Vec<&ObjectKey> = listed.iter().map(|m| &m.key).collect();
    assert_eq!(listed_keys, keys.iter().collect::<Vec<_>>());
    assert!(listed.iter().all(|m| m.size == m.key.as_str().len() as u64));
    assert_eq!(store.list("").await.unwrap().len(), COUNT + 2);
    eprintln!(
        "{COUNT} objects written in {written:?}, listed in {:?}",
        started.elapsed() - written
    );
}

#[tokio::test]
async fn buckets_are_created_once_in_any_region() {
    let Some(url) = s3_url() else { return };
    let bucket = unique_bucket("test");
    let first = S3ObjectStore::connect(&config(&url, &bucket))
        .await
        .unwrap();
    first
        .put(&key("a"), Bytes::from_static(b"1"))
        .await
        .unwrap();
    // The bucket exists now: connecting again with creation on is fine and keeps it.
    let again = S3ObjectStore::connect(&config(&url, &bucket))
        .await
        .unwrap();
    assert_eq!(again.get(&key("a")).await.unwrap().bytes, "1");

    // us-east-1 takes no LocationConstraint, with no environment
    // variable set.
    assert!(std::env::var_os("RUST_S3_SKIP_LOCATION_CONSTRAINT").is_none());
    let mut east = config(&url, &unique_bucket("test"));
    east.region = "us-east-1".to_owned();
    let east = S3ObjectStore::connect(&east).await.unwrap();
    let etag = east.put(&key("b"), Bytes::from_static(b"2")).await.unwrap();
    assert_eq!(east.head(&key("b")).await.unwrap().etag, etag);
    // A single-part ETag is the content's MD5.
    assert_eq!(etag.0, "c81e728d9d4c2f636f067f89cc14862c");
}

#[tokio::test]
async fn a_missing_bucket_is_a_configuration_error() {
    let Some(url) = s3_url() else { return };
    let mut missing = config(&url, &unique_bucket("test"));
    missing.create_bucket = false;
    let store = S3ObjectStore::connect(&missing).await.unwrap();
    let k = key("a");
    let results = [
        ("get", store.get(&k).await.map(drop)),
        ("head", store.head(&k).await.map(drop)),
        ("put", store.put(&k, Bytes::new()).await.map(drop)),
        ("delete", store.delete(&k).await),
        ("list", store.list("").await.map(drop)),
    ];
    for (what, result) in results {
        let err = result.expect_err(what);
        // `head` has no body to name the bucket; it reads as an absent object.
        let expected = if what == "head" {
            PortErrorKind::NotFound
        } else {
            PortErrorKind::Internal
        };
        assert_eq!(err.kind(), expected, "{what}: {err}");
        if expected == PortErrorKind::Internal {
            assert!(err.message().contains("does not exist"), "{what}: {err}");
        }
    }
}

#[tokio::test]
async fn a_closed_port_is_unavailable_at_once() {
    let port = free_port();
    let mut closed = config(&format!("http://127.0.0.1:{port}"), "moclojer-closed");
    closed.create_bucket = false;
    let store = S3ObjectStore::connect(&closed).await.unwrap();
    let k = key("a");
    let started = Instant::now();
    assert_retryable(store.put(&k, Bytes::new()).await, "put");
    assert_retryable(store.delete(&k).await, "delete");
    // Reads are retried once, a second later, by rust-s3.
    let err = assert_retryable(store.get(&k).await, "get");
    assert_eq!(err.kind(), PortErrorKind::Unavailable, "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    // And connecting with creation on fails the same way.
    closed.create_bucket = true;
    assert_retryable(S3ObjectStore::connect(&closed).await, "connect");
}

#[tokio::test]
async fn a_silent_server_times_out() {
    // Accepts connections and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let mut config = config(&format!("http://127.0.0.1:{port}"), "moclojer-silent");
    config.create_bucket = false;
    config.request_timeout = Duration::from_millis(300);
    let store = S3ObjectStore::connect(&config).await.unwrap();
    let started = Instant::now();
    let err = assert_retryable(store.put(&key("a"), Bytes::new()).await, "put");
    assert_eq!(err.kind(), PortErrorKind::Timeout, "{err}");
    let err = assert_retryable(store.head(&key("a")).await, "head");
    assert_eq!(err.kind(), PortErrorKind::Timeout, "{err}");
    // 0.3 s for the put, 0.3 + 1 + 0.3 s for the head and its one retry.
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    silent.abort();
}

/// A moto server of this test's own, killed when dropped.
struct Moto {
    child: Child,
    url: String,
}

impl Moto {
    fn start(bin: &str) -> Self {
        let port = free_port();
        let child = Command::new(bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {bin} ({MOTO_VAR}): {e}"));
        Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    fn stop(&mut self) {
        // Already gone is fine; the point is that it is gone.
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.stop();
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[tokio::test]
async fn a_stopped_server_is_unavailable_and_readers_keep_their_copy() {
    let Some(bin) = required_env(
        MOTO_VAR,
        "moto_server, e.g. ~/.cache/moclojer/moto/bin/moto_server",
    ) else {
        return;
    };
    let mut moto = Moto::start(&bin);
    let config = config(&moto.url, &unique_bucket("test"));
    let deadline = Instant::now() + Duration::from_secs(60);
    let store = loop {
        match S3ObjectStore::connect(&config).await {
            Ok(store) => break store,
            Err(e) if e.is_retryable() && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("moto at {} did not come up: {e}", moto.url),
        }
    };
    let k = key("moclojer.yml");
    let content = Bytes::from_static(b"- endpoint:\n    path: /kept\n");
    let etag = store.put(&k, content.clone()).await.unwrap();
    let copy = store.get(&k).await.unwrap();

    moto.stop();
    let started = Instant::now();
    let err = assert_retryable(store.get(&k).await, "get after the server stopped");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(4), "get took {took:?}");
    eprintln!("get against the stopped server failed in {took:?}: {err}");
    assert_retryable(store.get_if_changed(&k, &etag).await, "get_if_changed");
    assert_retryable(store.head(&k).await, "head");
    assert_retryable(store.put(&k, Bytes::new()).await, "put");
    assert_retryable(store.delete(&k).await, "delete");
    assert_retryable(store.list("").await, "list");

    // What was read before is owned, and stays.
    assert_eq!(copy.bytes, content);
    assert_eq!(copy.etag, etag);
}
