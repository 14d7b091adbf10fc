//! Cloud mode: the unified config followed in the object store. A published generation is
//! served by host; a manifest ahead of its config, older than what serves, or garbage is
//! ignored; a tenant's bad part keeps its previous version; an unreachable store changes
//! nothing until it is back.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use moclojer_domain::spec::{Limits, Mode};
use moclojer_foss::{
    CLOUD_POLL_INTERVAL, CloudError, CloudSource, EngineOptions, SharedEngine, StoreLook,
    empty_engine, follow, serve_cloud,
};
use moclojer_fs::FsObjectStore;
use moclojer_memory::InMemoryObjectStore;
use moclojer_ports::{ETag, Object, ObjectKey, ObjectMeta, ObjectStore, PortError, PortResult};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Notify;

use crate::helpers::{Req, options, send};

const ALICE: &str = "a-alice.localhost";
const BOB: &str = "b-bob.localhost";

fn key(raw: &str) -> ObjectKey {
    ObjectKey::parse(raw).expect("key")
}

/// A unified config: one `/word` endpoint per host answering `{"word": <word>}`.
fn unified(tenants: &[(&str, &str)]) -> String {
    let items: Vec<serde_json::Value> = tenants
        .iter()
        .map(|(host, word)| {
            serde_json::json!({"endpoint": {
                "host": host,
                "path": "/word",
                "response": {"body": serde_json::json!({"word": word}).to_string()}
            }})
        })
        .collect();
    serde_json::to_string_pretty(&items).expect("json")
}

fn manifest(generation: u64, config: &str, hosts: &[&str]) -> String {
    let hosts: serde_json::Map<String, serde_json::Value> = hosts
        .iter()
        .map(|h| ((*h).to_owned(), serde_json::json!(generation)))
        .collect();
    serde_json::json!({
        "generation": generation,
        "key": "moclojer.yml",
        "checksum": moclojer_ports::sha256_hex(config.as_bytes()),
        "bytes": config.len(),
        "hosts": hosts,
    })
    .to_string()
}

async fn put(store: &dyn ObjectStore, name: &str, text: &str) {
    store
        .put(&key(name), Bytes::from(text.to_owned()))
        .await
        .expect("put");
}

/// What the generator does: the config, then the manifest.
async fn publish(store: &dyn ObjectStore, generation: u64, config: &str) {
    put(store, "moclojer.yml", config).await;
    put(
        store,
        "manifest.json",
        &manifest(generation, config, &[ALICE, BOB]),
    )
    .await;
}

async fn word(engine: &SharedEngine, host: &str) -> Option<String> {
    let res = send(&engine.load_full(), Req::get("/word").host(host)).await;
    (res.status == 200).then(|| res.json()["word"].as_str().unwrap_or_default().to_owned())
}

async fn status(engine: &SharedEngine, host: &str) -> u16 {
    send(&engine.load_full(), Req::get("/word").host(host))
        .await
        .status
}

/// Waits until `host` answers `expected`; returns how long that took, or `None` past
/// `within`.
async fn served_within(
    engine: &SharedEngine,
    host: &str,
    expected: &str,
    within: Duration,
) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < within {
        if word(engine, host).await.as_deref() == Some(expected) {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

fn cloud() -> EngineOptions {
    options(Mode::Cloud)
}

/// A follower on `store` polling every `interval`; stopped when the returned guard drops.
struct Following {
    engine: SharedEngine,
    reload_now: Arc<Notify>,
    stop: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl Following {
    fn start(store: Arc<dyn ObjectStore>, interval: Duration) -> Self {
        let engine = empty_engine(&cloud());
        let source = CloudSource::new(store);
        let reload_now = source.reload_now();
        let stop = Arc::new(Notify::new());
        let task = tokio::spawn(follow(
            source,
            Arc::clone(&engine),
            cloud(),
            Limits::for_bytes(1024 * 1024),
            interval,
            {
                let stop = Arc::clone(&stop);
                async move { stop.notified().await }
            },
        ));
        Self {
            engine,
            reload_now,
            stop,
            task,
        }
    }

    async fn stop(self) {
        self.stop.notify_one();
        tokio::time::timeout(Duration::from_secs(5), self.task)
            .await
            .expect("the follower stops when told")
            .expect("the follower did not panic");
    }
}

#[tokio::test]
async fn a_published_generation_is_served_by_host_and_unknown_hosts_get_404() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store: Arc<dyn ObjectStore> = Arc::new(FsObjectStore::open(dir.path()).expect("store"));
    let following = Following::start(Arc::clone(&store), CLOUD_POLL_INTERVAL);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        status(&following.engine, ALICE).await,
        404,
        "no manifest yet: nothing is served"
    );

    publish(&*store, 1, &unified(&[(ALICE, "a1"), (BOB, "b1")])).await;
    let took = served_within(&following.engine, ALICE, "a1", Duration::from_secs(2)).await;
    assert!(took.is_some(), "generation 1 served within 2 s");
    assert_eq!(word(&following.engine, BOB).await.as_deref(), Some("b1"));
    assert_eq!(status(&following.engine, "c-carol.localhost").await, 404);
    assert_eq!(
        status(&following.engine, "localhost").await,
        404,
        "no host-less route answers"
    );
    // A host nothing is published on says so; a served host's unknown path is the
    // original's empty 404.
    let engine = following.engine.load_full();
    let unknown = send(&engine, Req::get("/word").host("c-carol.localhost")).await;
    assert_eq!(unknown.header("content-type"), Some("application/json"));
    assert_eq!(unknown.json()["error"]["code"], "not_found");
    let missing = send(&engine, Req::get("/nope").host(ALICE)).await;
    assert_eq!((missing.status, missing.body.as_str()), (404, ""));
    following.stop().await;
}

#[tokio::test]
async fn new_generations_are_served_and_no_request_fails_during_the_swaps() {
    let store = Arc::new(InMemoryObjectStore::new());
    publish(&*store, 1, &unified(&[(ALICE, "g1"), (BOB, "b")])).await;
    let following = Following::start(store.clone(), Duration::from_millis(20));
    assert!(
        served_within(&following.engine, ALICE, "g1", Duration::from_secs(2))
            .await
            .is_some()
    );

    let done = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for _ in 0..4 {
        let (engine, done) = (Arc::clone(&following.engine), Arc::clone(&done));
        clients.push(tokio::spawn(async move {
            let mut answered = 0_usize;
            while !done.load(Ordering::Relaxed) {
                let res = send(&engine.load_full(), Req::get("/word").host(ALICE)).await;
                assert_eq!(res.status, 200, "{}", res.body);
                assert!(
                    res.json()["word"]
                        .as_str()
                        .is_some_and(|w| w.starts_with('g'))
                );
                answered += 1;
                tokio::task::yield_now().await;
            }
            answered
        }));
    }
    for generation in 2..=10 {
        let word = format!("g{generation}");
        publish(&*store, generation, &unified(&[(ALICE, &word), (BOB, "b")])).await;
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    let took = served_within(&following.engine, ALICE, "g10", Duration::from_secs(2)).await;
    done.store(true, Ordering::Relaxed);
    let mut answered = 0;
    for client in clients {
        answered += client.await.expect("no request failed");
    }
    assert!(took.is_some(), "the last generation served within 2 s");
    assert!(answered > 0);
    following.stop().await;
}

#[tokio::test]
async fn a_manifest_ahead_of_its_config_keeps_the_old_generation_until_the_config_arrives() {
    let store = Arc::new(InMemoryObjectStore::new());
    let one = unified(&[(ALICE, "one"), (BOB, "b")]);
    publish(&*store, 1, &one).await;
    let following = Following::start(store.clone(), Duration::from_millis(20));
    assert!(
        served_within(&following.engine, ALICE, "one", Duration::from_secs(2))
            .await
            .is_some()
    );

    // The manifest of generation 2 is there, its config not yet: same size, other bytes.
    let two = unified(&[(ALICE, "two"), (BOB, "b")]);
    assert_eq!(one.len(), two.len());
    put(&*store, "manifest.json", &manifest(2, &two, &[ALICE, BOB])).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(word(&following.engine, ALICE).await.as_deref(), Some("one"));

    // A half-written config (wrong size) is not taken either.
    put(&*store, "moclojer.yml", &two[..two.len() / 2]).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(word(&following.engine, ALICE).await.as_deref(), Some("one"));

    put(&*store, "moclojer.yml", &two).await;
    let took = served_within(&following.engine, ALICE, "two", Duration::from_secs(2)).await;
    assert!(took.is_some(), "the complete generation served within 2 s");
    following.stop().await;
}

#[tokio::test]
async fn a_tenant_whose_part_is_invalid_keeps_its_previous_version() {
    let store = Arc::new(InMemoryObjectStore::new());
    let engine = empty_engine(&cloud());
    let limits = Limits::default();
    let mut source = CloudSource::new(store.clone());
    publish(&*store, 2, &unified(&[(ALICE, "a2"), (BOB, "b2")])).await;
    let loaded = source.load_generation(&engine, &cloud(), &limits).await;
    assert!(matches!(loaded, Ok(StoreLook::Loaded(_))), "{loaded:?}");

    // Generation 3, compact JSON: bob's path has no slash, alice's word changed.
    let three = serde_json::json!([
        {"endpoint": {"host": ALICE, "path": "/word", "response": {"body": "{\"word\": \"a3\"}"}}},
        {"endpoint": {"host": BOB, "path": "word", "response": {"body": "{\"word\": \"b3\"}"}}},
    ])
    .to_string();
    publish(&*store, 3, &three).await;
    let Ok(StoreLook::Loaded(loaded)) = source.load_generation(&engine, &cloud(), &limits).await
    else {
        panic!("generation 3 loads");
    };
    assert_eq!(loaded.generation, 3);
    assert_eq!(loaded.kept_previous, BTreeSet::from([BOB.to_owned()]));
    assert_eq!(word(&engine, ALICE).await.as_deref(), Some("a3"));
    assert_eq!(
        word(&engine, BOB).await.as_deref(),
        Some("b2"),
        "bob keeps generation 2"
    );
    assert_eq!(source.generation(), Some(3));
}

#[tokio::test]
async fn a_manifest_that_does_not_move_forward_is_ignored() {
    let store = Arc::new(InMemoryObjectStore::new());
    let engine = empty_engine(&cloud());
    let limits = Limits::default();
    let mut source = CloudSource::new(store.clone());
    publish(&*store, 5, &unified(&[(ALICE, "five"), (BOB, "b")])).await;
    source
        .load_generation(&engine, &cloud(), &limits)
        .await
        .expect("generation 5");
    let serving = engine.load_full();

    for generation in [5, 4] {
        publish(&*store, generation, &unified(&[(ALICE, "old"), (BOB, "b")])).await;
        let result = source.load_generation(&engine, &cloud(), &limits).await;
        assert!(
            matches!(result, Err(CloudError::Stale { generation: g, current: 5 }) if g == generation),
            "{result:?}"
        );
        assert!(
            Arc::ptr_eq(&serving, &engine.load_full()),
            "engine unchanged"
        );
        let again = source.load_generation(&engine, &cloud(), &limits).await;
        assert!(matches!(again, Ok(StoreLook::Unchanged)), "{again:?}");
    }
    assert_eq!(word(&engine, ALICE).await.as_deref(), Some("five"));

    publish(&*store, 6, &unified(&[(ALICE, "six"), (BOB, "b")])).await;
    let result = source.load_generation(&engine, &cloud(), &limits).await;
    assert!(matches!(result, Ok(StoreLook::Loaded(_))), "{result:?}");
    assert_eq!(word(&engine, ALICE).await.as_deref(), Some("six"));
}

#[tokio::test]
async fn garbage_and_unusable_manifests_are_ignored_with_the_engine_unchanged() {
    let store = Arc::new(InMemoryObjectStore::new());
    let engine = empty_engine(&cloud());
    let limits = Limits::default();
    let mut source = CloudSource::new(store.clone());
    let none = source.load_generation(&engine, &cloud(), &limits).await;
    assert!(matches!(none, Ok(StoreLook::NoManifest)), "{none:?}");
    assert_eq!(status(&engine, ALICE).await, 404);

    publish(&*store, 1, &unified(&[(ALICE, "one"), (BOB, "b")])).await;
    source
        .load_generation(&engine, &cloud(), &limits)
        .await
        .expect("generation 1");
    let serving = engine.load_full();

    let config = unified(&[(ALICE, "two"), (BOB, "b")]);
    let sum = moclojer_ports::sha256_hex(config.as_bytes());
    let garbage = [
        "{\"generation\": 2, \"key\": ".to_owned(),
        "[1, 2, 3]".to_owned(),
        "\u{0}\u{1}binary".to_owned(),
        format!(
            r#"{{"generation": 2, "key": "../moclojer.yml", "checksum": "{sum}", "bytes": {}, "hosts": {{}}}}"#,
            config.len()
        ),
        format!(
            r#"{{"generation": 2, "key": "moclojer.yml", "checksum": "nope", "bytes": {}, "hosts": {{}}}}"#,
            config.len()
        ),
        format!(
            r#"{{"generation": "2", "key": "moclojer.yml", "checksum": "{sum}", "bytes": {}, "hosts": {{}}}}"#,
            config.len()
        ),
    ];
    put(&*store, "moclojer.yml", &config).await;
    for text in garbage {
        put(&*store, "manifest.json", &text).await;
        let result = source.load_generation(&engine, &cloud(), &limits).await;
        assert!(
            matches!(result, Err(CloudError::Manifest(_))),
            "{text}: {result:?}"
        );
        assert!(
            Arc::ptr_eq(&serving, &engine.load_full()),
            "engine unchanged"
        );
        let again = source.load_generation(&engine, &cloud(), &limits).await;
        assert!(matches!(again, Ok(StoreLook::Unchanged)), "{again:?}");
    }

    // A config larger than the limits is refused before it is read.
    put(&*store, "manifest.json", &manifest(2, &config, &[ALICE])).await;
    let small = Limits::for_bytes(100);
    let result = source.load_generation(&engine, &cloud(), &small).await;
    assert!(
        matches!(result, Err(CloudError::TooLarge { .. })),
        "{result:?}"
    );

    // A config that does not parse at all is refused whole.
    let broken = "- endpoint: [";
    put(&*store, "moclojer.yml", broken).await;
    put(&*store, "manifest.json", &manifest(3, broken, &[ALICE])).await;
    let result = source.load_generation(&engine, &cloud(), &limits).await;
    assert!(
        matches!(result, Err(CloudError::Invalid { generation: 3, .. })),
        "{result:?}"
    );
    assert!(
        Arc::ptr_eq(&serving, &engine.load_full()),
        "engine unchanged"
    );
    assert_eq!(word(&engine, ALICE).await.as_deref(), Some("one"));

    publish(&*store, 4, &config).await;
    let result = source.load_generation(&engine, &cloud(), &limits).await;
    assert!(matches!(result, Ok(StoreLook::Loaded(_))), "{result:?}");
    assert_eq!(word(&engine, ALICE).await.as_deref(), Some("two"));
}

/// A store that can be taken down: then every call answers `Unavailable`.
#[derive(Debug, Default)]
struct FlakyStore {
    inner: InMemoryObjectStore,
    down: AtomicBool,
    calls: AtomicUsize,
}

impl FlakyStore {
    fn check(&self) -> PortResult<()> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.down.load(Ordering::SeqCst) {
            return Err(PortError::unavailable("the test store is down"));
        }
        Ok(())
    }
}

#[async_trait]
impl ObjectStore for FlakyStore {
    async fn put(&self, key: &ObjectKey, bytes: Bytes) -> PortResult<ETag> {
        self.inner.put(key, bytes).await
    }
    async fn get(&self, key: &ObjectKey) -> PortResult<Object> {
        self.check()?;
        self.inner.get(key).await
    }
    async fn get_if_changed(&self, key: &ObjectKey, etag: &ETag) -> PortResult<Option<Object>> {
        self.check()?;
        self.inner.get_if_changed(key, etag).await
    }
    async fn head(&self, key: &ObjectKey) -> PortResult<ObjectMeta> {
        self.check()?;
        self.inner.head(key).await
    }
    async fn delete(&self, key: &ObjectKey) -> PortResult<()> {
        self.check()?;
        self.inner.delete(key).await
    }
    async fn list(&self, prefix: &str) -> PortResult<Vec<ObjectMeta>> {
        self.check()?;
        self.inner.list(prefix).await
    }
}

#[tokio::test]
async fn an_unreachable_store_keeps_the_engine_serving_and_is_followed_again_when_back() {
    let store = Arc::new(FlakyStore::default());
    publish(&*store, 1, &unified(&[(ALICE, "one"), (BOB, "b")])).await;
    let following = Following::start(store.clone(), Duration::from_millis(20));
    assert!(
        served_within(&following.engine, ALICE, "one", Duration::from_secs(2))
            .await
            .is_some()
    );

    store.down.store(true, Ordering::SeqCst);
    let calls_before = store.calls.load(Ordering::SeqCst);
    publish(&*store, 2, &unified(&[(ALICE, "two"), (BOB, "b")])).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let calls_while_down = store.calls.load(Ordering::SeqCst) - calls_before;
    assert_eq!(word(&following.engine, ALICE).await.as_deref(), Some("one"));
    // Every 20 ms would be about 50 attempts; doubling from 40 ms makes about 5.
    assert!(
        (1..=10).contains(&calls_while_down),
        "backing off: {calls_while_down} attempts in 1 s"
    );

    store.down.store(false, Ordering::SeqCst);
    let took = served_within(&following.engine, ALICE, "two", Duration::from_secs(3)).await;
    assert!(took.is_some(), "followed again once the store is back");

    // Back at the normal pace, a trigger is picked up at once too.
    publish(&*store, 3, &unified(&[(ALICE, "three"), (BOB, "b")])).await;
    following.reload_now.notify_one();
    assert!(
        served_within(&following.engine, ALICE, "three", Duration::from_secs(2))
            .await
            .is_some()
    );
    assert!(
        !following.task.is_finished(),
        "the follower is still running"
    );
    following.stop().await;
}

#[tokio::test]
async fn a_trigger_loads_a_new_generation_before_the_next_poll() {
    let store = Arc::new(InMemoryObjectStore::new());
    publish(&*store, 1, &unified(&[(ALICE, "one"), (BOB, "b")])).await;
    let following = Following::start(store.clone(), Duration::from_secs(3600));
    assert!(
        served_within(&following.engine, ALICE, "one", Duration::from_secs(2))
            .await
            .is_some()
    );
    publish(&*store, 2, &unified(&[(ALICE, "two"), (BOB, "b")])).await;
    following.reload_now.notify_one();
    assert!(
        served_within(&following.engine, ALICE, "two", Duration::from_secs(2))
            .await
            .is_some(),
        "served without waiting an hour"
    );
    following.stop().await;
}

#[tokio::test]
async fn serve_cloud_answers_over_http_from_a_folder_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store: Arc<dyn ObjectStore> = Arc::new(FsObjectStore::open(dir.path()).expect("store"));
    publish(&*store, 1, &unified(&[(ALICE, "one"), (BOB, "b")])).await;
    let server = CloudServer::start(store).await;
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut answer = server.get(ALICE, "/word").await;
    while !answer.contains("\"one\"") && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
        answer = server.get(ALICE, "/word").await;
    }
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains(r#"{"word":"one"}"#), "{answer}");
    let unknown = server.get("c-carol.localhost", "/word").await;
    assert!(unknown.starts_with("HTTP/1.1 404"), "{unknown}");
    server.stop().await;
}

/// `serve_cloud` on a loopback port, polling every 20 ms; stop it with [`CloudServer::stop`].
struct CloudServer {
    address: std::net::SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl CloudServer {
    async fn start(store: Arc<dyn ObjectStore>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(serve_cloud(
            listener,
            store,
            options(Mode::Standalone), // cloud mode is forced whatever the caller says
            Limits::default(),
            Duration::from_millis(20),
            async move {
                stopped.await.ok();
            },
        ));
        Self {
            address,
            stop,
            task,
        }
    }

    /// `GET path` for `host`, the whole answer as text.
    async fn get(&self, host: &str, path: &str) -> String {
        let mut stream = tokio::net::TcpStream::connect(self.address)
            .await
            .expect("connect");
        let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.expect("write");
        let mut answer = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer))
            .await
            .expect("answered in time")
            .expect("read");
        String::from_utf8_lossy(&answer).into_owned()
    }

    async fn stop(self) {
        self.stop.send(()).expect("stop");
        tokio::time::timeout(Duration::from_secs(15), self.task)
            .await
            .expect("stopped in time")
            .expect("no panic")
            .expect("served");
    }
}

/// The generator's own layout: `[`, one compact item per line, `]`; and `[]` when nothing
/// is live, which empties the server.
fn generator_layout(tenants: &[(&str, &str)]) -> String {
    let lines: Vec<String> = tenants
        .iter()
        .map(|(host, word)| {
            serde_json::json!({"endpoint": {
                "host": host,
                "path": "/word",
                "response": {"body": serde_json::json!({"word": word}).to_string()}
            }})
            .to_string()
        })
        .collect();
    if lines.is_empty() {
        "[]\n".to_owned()
    } else {
        format!("[\n{}\n]\n", lines.join(",\n"))
    }
}

#[tokio::test]
async fn the_generators_layout_reads_and_an_empty_generation_serves_nothing() {
    let store = Arc::new(InMemoryObjectStore::new());
    let engine = empty_engine(&cloud());
    let limits = Limits::default();
    let mut source = CloudSource::new(store.clone());
    publish(&*store, 1, &generator_layout(&[(ALICE, "a1"), (BOB, "b1")])).await;
    let result = source.load_generation(&engine, &cloud(), &limits).await;
    assert!(matches!(result, Ok(StoreLook::Loaded(_))), "{result:?}");
    assert_eq!(word(&engine, ALICE).await.as_deref(), Some("a1"));
    assert_eq!(word(&engine, BOB).await.as_deref(), Some("b1"));

    publish(&*store, 2, &generator_layout(&[])).await;
    let result = source.load_generation(&engine, &cloud(), &limits).await;
    assert!(
        matches!(&result, Ok(StoreLook::Loaded(l)) if l.endpoints == 0),
        "{result:?}"
    );
    assert_eq!(status(&engine, ALICE).await, 404);
    assert_eq!(status(&engine, BOB).await, 404);
}

/// How ops verifies a host: in cloud mode a request with the probe header gets 204 for a
/// served host and 404 for any other, whatever its path; without the header nothing
/// changes, and standalone mode ignores the header.
#[tokio::test]
async fn the_probe_header_tells_served_hosts_from_others() {
    use crate::helpers::{Req, engine_with, options, send};
    let yaml = "- endpoint:\n    host: hello-alice.localhost\n    path: /hello\n    response:\n      body: hi\n";
    let cloud = engine_with(yaml, options(moclojer_domain::spec::Mode::Cloud));
    let probe = |host: &str, path: &str| {
        Req::get(path)
            .host(host)
            .header(moclojer_ports::PROBE_HEADER, "1")
    };
    assert_eq!(
        send(&cloud, probe("hello-alice.localhost", "/"))
            .await
            .status,
        204
    );
    assert_eq!(
        send(&cloud, probe("hello-alice.localhost:8080", "/nope"))
            .await
            .status,
        204
    );
    assert_eq!(
        send(&cloud, probe("other-bob.localhost", "/hello"))
            .await
            .status,
        404
    );
    let plain = send(&cloud, Req::get("/hello").host("hello-alice.localhost")).await;
    assert_eq!((plain.status, plain.body.as_str()), (200, "hi"));
    let standalone = engine_with(yaml, options(moclojer_domain::spec::Mode::Standalone));
    let ignored = send(&standalone, probe("hello-alice.localhost", "/hello")).await;
    assert_eq!((ignored.status, ignored.body.as_str()), (200, "hi"));
}

#[tokio::test]
async fn a_cloud_server_is_not_ready_for_the_proxy_until_it_has_read_the_store() {
    let store = Arc::new(FlakyStore::default());
    store.down.store(true, Ordering::SeqCst);
    let server = CloudServer::start(store.clone()).await;
    let health = "proxy-health-check.invalid";
    // The store has been down from the start: nothing read, not ready.
    let down = server.get(health, "/").await;
    assert!(down.starts_with("HTTP/1.1 503"), "{down}");

    // Back up, with nothing published yet: read, so ready (every mock host is 404).
    store.down.store(false, Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let answer = server.get(health, "/").await;
        if answer.starts_with("HTTP/1.1 200") {
            break;
        }
        assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
        assert!(Instant::now() < deadline, "never ready: {answer}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let unknown = server.get(ALICE, "/word").await;
    assert!(unknown.starts_with("HTTP/1.1 404"), "{unknown}");
    server.stop().await;
}
