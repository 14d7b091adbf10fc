//! Cloud mode: the published index followed in the object store, one engine per host. A
//! published host is served by its host, and a publish rebuilds only the hosts it changed
//! (every other host keeps its engine and its rate-limit windows); a host whose object is
//! missing or does not match waits for it, one whose new object does not validate keeps
//! its previous engine; a root older than what serves, or garbage, is ignored; an
//! unreachable store changes nothing until it is back; a shard serves only its hosts.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use moclojer_domain::spec::{Limits, Mode};
use moclojer_domain::{Event, EventId, EventKind, MockId, Shard, Timestamp};
use moclojer_foss::{
    CloudError, CloudSource, ConfigEvents, Engine, HostEngines, Loaded, Readiness, ServeOptions,
    Serving, StoreLook, follow, listen_for_configs, serve_cloud, serve_ready,
};
use moclojer_fs::FsObjectStore;
use moclojer_memory::{InMemoryEventQueue, InMemoryObjectStore};
use moclojer_ports::{
    ETag, EventQueue, HEALTH_CHECK_HOST, HOSTS_PREFIX, HostEntry, MANIFEST_KEY, Object, ObjectKey,
    ObjectMeta, ObjectStore, PROBE_HEADER, PortError, PortResult, REVISION_HEADER,
};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinHandle;

use crate::helpers::{Publisher, Req, options, send};

const ALICE: &str = "a-alice.localhost";
const BOB: &str = "b-bob.localhost";
const CAROL: &str = "c-carol.localhost";
const UNKNOWN_HOST_BODY: &str =
    r#"{"error":{"code":"not_found","message":"no mock answers on this host"}}"#;

fn key(raw: &str) -> ObjectKey {
    ObjectKey::parse(raw).expect("key")
}

fn set(hosts: &[&str]) -> BTreeSet<String> {
    hosts.iter().map(|h| (*h).to_owned()).collect()
}

/// Items as the generator writes a host's object: `[`, one compact item per line, `]`.
fn layout(items: &[Value]) -> Vec<u8> {
    let lines: Vec<String> = items.iter().map(Value::to_string).collect();
    if lines.is_empty() {
        b"[]\n".to_vec()
    } else {
        format!("[\n{}\n]\n", lines.join(",\n")).into_bytes()
    }
}

/// `host`'s object: `/word` answers `{"word": <word>}`.
fn object(host: &str, word: &str) -> Vec<u8> {
    layout(&[json!({"endpoint": {
        "host": host,
        "path": "/word",
        "response": {"body": json!({"word": word}).to_string()}
    }})])
}

/// `host`'s object with `/word` and `/limited`, which lets two requests per API key
/// through in ten minutes and answers `{"limited": <revision>}`.
fn limited_object(host: &str, revision: u64) -> Vec<u8> {
    layout(&[
        json!({"endpoint": {
            "host": host,
            "path": "/word",
            "response": {"body": json!({"word": format!("limited {revision}")}).to_string()}
        }}),
        json!({"endpoint": {
            "host": host,
            "path": "/limited",
            "rate-limit": {"window-ms": 600_000, "max-requests": 2, "key-fn": "x-api-key"},
            "response": {"body": json!({"limited": revision}).to_string()}
        }}),
    ])
}

/// A source on `store` serving every host, built as a cloud server builds it.
fn cloud_source(store: Arc<dyn ObjectStore>) -> CloudSource {
    CloudSource::new(
        store,
        Arc::new(HostEngines::new()),
        &options(Mode::Cloud),
        Limits::default(),
    )
}

/// One look that must load a generation.
async fn loaded(source: &mut CloudSource) -> Loaded {
    match source.load_generation().await {
        Ok(StoreLook::Loaded(loaded)) => loaded,
        other => panic!("expected a loaded generation, got {other:?}"),
    }
}

/// One look that must find nothing new.
async fn unchanged(source: &mut CloudSource) {
    let look = source.load_generation().await;
    assert!(matches!(look, Ok(StoreLook::Unchanged)), "{look:?}");
}

/// What `host`'s engine answers on `/word`, in-process; `None` when no engine serves it or
/// it does not answer 200.
async fn word(hosts: &HostEngines, host: &str) -> Option<String> {
    let engine = hosts.get(host)?;
    let res = send(&engine, Req::get("/word").host(host)).await;
    (res.status == 200).then(|| res.json()["word"].as_str().unwrap_or_default().to_owned())
}

/// Waits until `host` answers `expected`; false past `within`.
async fn served_within(hosts: &HostEngines, host: &str, expected: &str, within: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < within {
        if word(hosts, host).await.as_deref() == Some(expected) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

/// A follower ([`follow`]) on `store` polling every `interval`; stopped by
/// [`Following::stop`].
struct Following {
    hosts: Arc<HostEngines>,
    reload_now: Arc<Notify>,
    stop: Arc<Notify>,
    task: JoinHandle<()>,
}

impl Following {
    fn start(store: Arc<dyn ObjectStore>, interval: Duration) -> Self {
        let source = cloud_source(store);
        let hosts = Arc::clone(source.hosts());
        let reload_now = source.reload_now();
        let stop = Arc::new(Notify::new());
        let task = tokio::spawn(follow(source, interval, {
            let stop = Arc::clone(&stop);
            async move { stop.notified().await }
        }));
        Self {
            hosts,
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

/// An answer read off a socket.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A server on a loopback port, stopped by [`Listening::stop`].
struct Listening {
    address: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Listening {
    /// [`serve_cloud`] on `store`, polling every `interval`, hearing `events` if given.
    async fn cloud(
        store: Arc<dyn ObjectStore>,
        interval: Duration,
        events: Option<ConfigEvents>,
    ) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
        // Cloud mode is forced whatever the caller says.
        let source = CloudSource::new(
            store,
            Arc::new(HostEngines::new()),
            &options(Mode::Standalone),
            Limits::default(),
        );
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve_cloud(
            listener,
            source,
            interval,
            events,
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

    /// The engines `source` fills, served per host; `source` is loaded by the test.
    async fn per_host(source: &CloudSource) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
        let serving = Serving::PerHost {
            hosts: Arc::clone(source.hosts()),
            options: Arc::clone(source.options()),
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve_ready(
            listener,
            serving,
            ServeOptions::default(),
            Readiness::ready(),
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

    /// `GET path` for `host` with `headers`, on a connection of its own.
    async fn get(&self, host: &str, path: &str, headers: &[(&str, &str)]) -> Answer {
        let mut stream = tokio::net::TcpStream::connect(self.address)
            .await
            .expect("connect");
        let mut request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
        for (name, value) in headers {
            request += &format!("{name}: {value}\r\n");
        }
        request += "\r\n";
        stream.write_all(request.as_bytes()).await.expect("write");
        let mut raw = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut raw))
            .await
            .expect("answered in time")
            .expect("read");
        let text = String::from_utf8_lossy(&raw);
        let (head, body) = text
            .split_once("\r\n\r\n")
            .unwrap_or_else(|| panic!("not an HTTP answer: {text:?}"));
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .and_then(|line| line.split(' ').nth(1))
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("no status line: {text:?}"));
        let headers = lines
            .filter_map(|line| line.split_once(':'))
            .map(|(name, value)| (name.trim().to_owned(), value.trim().to_owned()))
            .collect();
        Answer {
            status,
            headers,
            body: body.to_owned(),
        }
    }

    /// Waits until `host`'s `/word` answers `expected` over HTTP; false past `within`.
    async fn word_within(&self, host: &str, expected: &str, within: Duration) -> bool {
        let wanted = json!({"word": expected}).to_string();
        let start = Instant::now();
        while start.elapsed() < within {
            let answer = self.get(host, "/word", &[]).await;
            if answer.status == 200 && answer.body == wanted {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        false
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

/// Asserts that `answer` is the 404 of a host no mock is published on.
fn assert_unknown_host(answer: &Answer) {
    assert_eq!(answer.status, 404, "{answer:?}");
    assert_eq!(answer.body, UNKNOWN_HOST_BODY);
    assert_eq!(answer.header("content-type"), Some("application/json"));
}

#[tokio::test]
async fn serve_cloud_serves_a_folder_store_by_host_and_unknown_hosts_get_the_json_404() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store: Arc<dyn ObjectStore> = Arc::new(FsObjectStore::open(dir.path()).expect("store"));
    let publisher = Publisher::new(Arc::clone(&store));
    let server = Listening::cloud(Arc::clone(&store), Duration::from_millis(20), None).await;
    // The store has been read once the health check says ready.
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    while server.get(HEALTH_CHECK_HOST, "/", &[]).await.status != 200 {
        assert!(std::time::Instant::now() < deadline, "never ready");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_unknown_host(&server.get(ALICE, "/word", &[]).await);

    publisher.publish(ALICE, 1, &object(ALICE, "a1")).await;
    publisher.publish(BOB, 1, &object(BOB, "b1")).await;
    assert!(
        server
            .word_within(ALICE, "a1", Duration::from_secs(2))
            .await,
        "alice served within 2 s"
    );
    assert!(server.word_within(BOB, "b1", Duration::from_secs(2)).await);
    let alice = server.get("A-Alice.localhost:8080", "/word", &[]).await;
    assert_eq!(
        (alice.status, alice.body.as_str()),
        (200, r#"{"word":"a1"}"#)
    );

    // A host nothing is published on says so; no host-less route answers; a served
    // host's unknown path is the original's empty 404.
    assert_unknown_host(&server.get(CAROL, "/word", &[]).await);
    assert_unknown_host(&server.get("localhost", "/word", &[]).await);
    let missing = server.get(ALICE, "/nope", &[]).await;
    assert_eq!((missing.status, missing.body.as_str()), (404, ""));

    // ops's probe: 204 for a served host whatever the path, an empty 404 for another.
    for (host, path, expected) in [
        (ALICE, "/", 204),
        (ALICE, "/nope", 204),
        (BOB, "/word", 204),
        (CAROL, "/word", 404),
    ] {
        let probe = server.get(host, path, &[(PROBE_HEADER, "1")]).await;
        assert_eq!(probe.status, expected, "{host}{path}");
        assert!(probe.body.is_empty(), "{host}{path}: {}", probe.body);
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_request_fails_while_hosts_are_swapped_under_load() {
    let store = Arc::new(InMemoryObjectStore::new());
    let publisher = Publisher::new(store.clone());
    let publish_both = |revision: u64| {
        let publisher = &publisher;
        async move {
            let alice = publisher
                .put(ALICE, revision, &object(ALICE, &format!("g{revision}")))
                .await;
            let bob = publisher
                .put(BOB, revision, &object(BOB, &format!("b{revision}")))
                .await;
            publisher
                .write([(ALICE.to_owned(), Some(alice)), (BOB.to_owned(), Some(bob))])
                .await
        }
    };
    publish_both(1).await;
    let following = Following::start(store.clone(), Duration::from_millis(20));
    assert!(served_within(&following.hosts, ALICE, "g1", Duration::from_secs(2)).await);
    assert!(served_within(&following.hosts, BOB, "b1", Duration::from_secs(2)).await);

    let done = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for (host, prefix) in [(ALICE, 'g'), (BOB, 'b'), (ALICE, 'g'), (BOB, 'b')] {
        let (hosts, done) = (Arc::clone(&following.hosts), Arc::clone(&done));
        clients.push(tokio::spawn(async move {
            let mut words = BTreeSet::new();
            while !done.load(Ordering::Relaxed) || words.is_empty() {
                let engine = hosts.get(host).expect("the host is served throughout");
                let res = send(&engine, Req::get("/word").host(host)).await;
                assert_eq!(res.status, 200, "{host}: {}", res.body);
                let word = res.json()["word"].as_str().unwrap_or_default().to_owned();
                assert!(word.starts_with(prefix), "{host} answered {word}");
                words.insert(word);
                tokio::task::yield_now().await;
            }
            (host, words)
        }));
    }
    for revision in 2..=20 {
        publish_both(revision).await;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let alice_last = served_within(&following.hosts, ALICE, "g20", Duration::from_secs(2)).await;
    let bob_last = served_within(&following.hosts, BOB, "b20", Duration::from_secs(2)).await;
    done.store(true, Ordering::Relaxed);
    let mut seen: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for client in clients {
        let (host, words) = client.await.expect("no request failed");
        seen.entry(host).or_default().extend(words);
    }
    assert!(
        alice_last && bob_last,
        "the last revisions served within 2 s"
    );
    for (host, words) in &seen {
        assert!(
            words.len() > 1,
            "{host} was answered by more than one revision: {words:?}"
        );
    }
    following.stop().await;
}

#[tokio::test]
async fn a_host_whose_object_is_missing_or_does_not_match_waits_until_it_appears() {
    let store = Arc::new(InMemoryObjectStore::new());
    let publisher = Publisher::new(store.clone());
    publisher.publish(ALICE, 1, &object(ALICE, "one")).await;
    publisher.publish(BOB, 1, &object(BOB, "b1")).await;
    let mut source = cloud_source(store.clone());
    let first = loaded(&mut source).await;
    assert_eq!(first.changed, set(&[ALICE, BOB]));
    let hosts = Arc::clone(source.hosts());

    // The index names revision 2; its object is not in the store yet.
    let (one, two) = (object(ALICE, "one"), object(ALICE, "two"));
    assert_eq!(one.len(), two.len());
    let entry = HostEntry::of(2, &two);
    let generation = publisher
        .write([(ALICE.to_owned(), Some(entry.clone()))])
        .await;
    for _ in 0..2 {
        // Tried again on every look, though the index did not change.
        let waiting = loaded(&mut source).await;
        assert_eq!(waiting.generation, generation);
        assert_eq!(waiting.waiting, set(&[ALICE]));
        assert!(waiting.changed.is_empty(), "{waiting:?}");
        assert_eq!(word(&hosts, ALICE).await.as_deref(), Some("one"));
    }

    // Other bytes of the same size at its key, then half of it: neither is taken.
    let object_key = entry.object_key(ALICE).expect("key");
    for bytes in [&one[..], &two[..two.len() / 2]] {
        store
            .put(&object_key, Bytes::copy_from_slice(bytes))
            .await
            .expect("put");
        let waiting = loaded(&mut source).await;
        assert_eq!(waiting.waiting, set(&[ALICE]));
        assert_eq!(word(&hosts, ALICE).await.as_deref(), Some("one"));
    }

    // The object arrives: taken, and nothing waits any more.
    store.put(&object_key, Bytes::from(two)).await.expect("put");
    let arrived = loaded(&mut source).await;
    assert_eq!(arrived.changed, set(&[ALICE]));
    assert!(arrived.waiting.is_empty(), "{arrived:?}");
    assert_eq!(word(&hosts, ALICE).await.as_deref(), Some("two"));
    assert_eq!(word(&hosts, BOB).await.as_deref(), Some("b1"));
    unchanged(&mut source).await;

    // The root ahead of its index nodes (a writer between its writes): nothing changes
    // until they are there.
    let before = publisher.index_nodes().await;
    let three = publisher.publish(ALICE, 3, &object(ALICE, "three")).await;
    let mut lost = Vec::new();
    for node in publisher.index_nodes().await.difference(&before) {
        let node = key(node);
        lost.push((node.clone(), store.get(&node).await.expect("node").bytes));
        store.delete(&node).await.expect("delete");
    }
    assert!(!lost.is_empty());
    for _ in 0..2 {
        let look = source.load_generation().await;
        assert!(
            matches!(look, Err(CloudError::Incomplete { generation, .. }) if generation == three),
            "{look:?}"
        );
        assert_eq!(word(&hosts, ALICE).await.as_deref(), Some("two"));
    }
    for (node, bytes) in lost {
        store.put(&node, bytes).await.expect("put");
    }
    let complete = loaded(&mut source).await;
    assert_eq!(complete.generation, three);
    assert_eq!(complete.changed, set(&[ALICE]));
    assert_eq!(word(&hosts, ALICE).await.as_deref(), Some("three"));
}

#[tokio::test]
async fn a_host_whose_new_object_does_not_validate_keeps_its_previous_engine() {
    let store = Arc::new(InMemoryObjectStore::new());
    let publisher = Publisher::new(store.clone());
    let mut source = CloudSource::new(
        store.clone(),
        Arc::new(HostEngines::new()),
        &options(Mode::Cloud),
        Limits::for_bytes(4096),
    );
    let hosts = Arc::clone(source.hosts());
    publisher.publish(ALICE, 2, &object(ALICE, "a2")).await;
    publisher.publish(BOB, 2, &object(BOB, "b2")).await;
    loaded(&mut source).await;
    let bob_before = hosts.get(BOB).expect("bob served");

    // One generation: alice's word changed, bob's path has no slash.
    let bad_bob = layout(&[json!({"endpoint": {
        "host": BOB, "path": "word", "response": {"body": "{\"word\": \"b3\"}"}
    }})]);
    let alice = publisher.put(ALICE, 3, &object(ALICE, "a3")).await;
    let bob = publisher.put(BOB, 3, &bad_bob).await;
    publisher
        .write([(ALICE.to_owned(), Some(alice)), (BOB.to_owned(), Some(bob))])
        .await;
    let three = loaded(&mut source).await;
    assert_eq!(three.changed, set(&[ALICE]));
    assert_eq!(three.kept_previous, set(&[BOB]));
    assert!(three.waiting.is_empty(), "{three:?}");
    assert_eq!(word(&hosts, ALICE).await.as_deref(), Some("a3"));
    assert_eq!(
        word(&hosts, BOB).await.as_deref(),
        Some("b2"),
        "bob keeps 2"
    );
    assert!(Arc::ptr_eq(&bob_before, &hosts.get(BOB).expect("bob")));
    // A refused object is not fetched again until the index changes.
    unchanged(&mut source).await;

    // Objects that do not parse, are not text, are over the limits, or whose items are
    // for another host (alice's, which must stay alice's own).
    let oversized = layout(&[json!({"endpoint": {
        "host": BOB, "path": "/word", "response": {"body": "x".repeat(5000)}
    }})]);
    for (revision, bad) in [
        (4, b"- endpoint: [".to_vec()),
        (5, b"\xff\xfe".to_vec()),
        (6, oversized),
        (7, object(ALICE, "hijacked")),
    ] {
        publisher.publish(BOB, revision, &bad).await;
        let refused = loaded(&mut source).await;
        assert_eq!(refused.kept_previous, set(&[BOB]), "revision {revision}");
        assert!(refused.changed.is_empty(), "revision {revision}");
        assert_eq!(word(&hosts, BOB).await.as_deref(), Some("b2"));
        assert_eq!(word(&hosts, ALICE).await.as_deref(), Some("a3"));
    }

    // A new host whose first object is refused is not served at all.
    publisher.publish(CAROL, 1, &object(ALICE, "carol")).await;
    let carol = loaded(&mut source).await;
    assert_eq!(carol.kept_previous, set(&[CAROL]));
    assert!(hosts.get(CAROL).is_none());

    // A fix goes live.
    publisher.publish(BOB, 8, &object(BOB, "b8")).await;
    let fixed = loaded(&mut source).await;
    assert_eq!(fixed.changed, set(&[BOB]));
    assert!(fixed.kept_previous.is_empty(), "{fixed:?}");
    assert_eq!(word(&hosts, BOB).await.as_deref(), Some("b8"));
}

#[tokio::test]
async fn a_root_that_does_not_move_forward_is_ignored() {
    let store = Arc::new(InMemoryObjectStore::new());
    let publisher = Publisher::new(store.clone());
    for revision in 1..=5 {
        publisher
            .publish(ALICE, revision, &object(ALICE, &format!("r{revision}")))
            .await;
    }
    let mut source = cloud_source(store.clone());
    assert_eq!(loaded(&mut source).await.generation, 5);
    let hosts = Arc::clone(source.hosts());
    let serving = hosts.get(ALICE).expect("alice served");

    // Writers that do not know the store: one writes generation 5 again (another index),
    // one generation 4.
    for generation in [5, 4] {
        let stale = Publisher::after(store.clone(), generation - 1);
        let written = stale.publish(ALICE, 99, &object(ALICE, "old")).await;
        assert_eq!(written, generation);
        let look = source.load_generation().await;
        assert!(
            matches!(look, Err(CloudError::Stale { generation: g, current: 5 }) if g == generation),
            "{look:?}"
        );
        assert!(Arc::ptr_eq(&serving, &hosts.get(ALICE).expect("alice")));
        unchanged(&mut source).await;
    }
    assert_eq!(word(&hosts, ALICE).await.as_deref(), Some("r5"));
    assert_eq!(source.generation(), Some(5));

    publisher.publish(ALICE, 6, &object(ALICE, "six")).await;
    assert_eq!(loaded(&mut source).await.generation, 6);
    assert_eq!(word(&hosts, ALICE).await.as_deref(), Some("six"));
}

#[tokio::test]
async fn a_garbage_root_is_ignored_until_it_changes() {
    let store = Arc::new(InMemoryObjectStore::new());
    let publisher = Publisher::new(store.clone());
    let mut source = cloud_source(store.clone());
    let hosts = Arc::clone(source.hosts());
    let none = source.load_generation().await;
    assert!(matches!(none, Ok(StoreLook::NoManifest)), "{none:?}");
    assert!(hosts.is_empty());

    publisher.publish(ALICE, 1, &object(ALICE, "one")).await;
    loaded(&mut source).await;
    let serving = hosts.get(ALICE).expect("alice served");

    let digest = "ab".repeat(32);
    let garbage = [
        r#"{"layout": 2, "generation": "#.to_owned(),
        "[1, 2, 3]".to_owned(),
        "\u{0}\u{1}binary".to_owned(),
        // The unified config's manifest, from before the layout had a number.
        format!(
            r#"{{"generation": 2, "key": "moclojer.yml", "checksum": "{digest}", "bytes": 10, "hosts": {{}}}}"#
        ),
        r#"{"layout": 1, "generation": 2, "hosts": 0, "index": {}}"#.to_owned(),
        r#"{"layout": 2, "generation": "2", "hosts": 0, "index": {}}"#.to_owned(),
        r#"{"layout": 2, "generation": 2, "hosts": 1, "index": {"0": "../x"}}"#.to_owned(),
        format!(r#"{{"layout": 2, "generation": 2, "hosts": 1, "index": {{"64": "{digest}"}}}}"#),
    ];
    for text in garbage {
        store
            .put(&key(MANIFEST_KEY), Bytes::from(text.clone()))
            .await
            .expect("put");
        let look = source.load_generation().await;
        assert!(
            matches!(look, Err(CloudError::Manifest(_))),
            "{text}: {look:?}"
        );
        assert!(Arc::ptr_eq(&serving, &hosts.get(ALICE).expect("alice")));
        unchanged(&mut source).await;
    }
    assert_eq!(word(&hosts, ALICE).await.as_deref(), Some("one"));

    publisher.publish(ALICE, 2, &object(ALICE, "two")).await;
    assert_eq!(loaded(&mut source).await.changed, set(&[ALICE]));
    assert_eq!(word(&hosts, ALICE).await.as_deref(), Some("two"));
}

/// A store that can be taken down (then every read answers `Unavailable`), and that
/// remembers which host objects were read. Writes always work: they are the publisher's.
#[derive(Debug, Default)]
struct FlakyStore {
    inner: InMemoryObjectStore,
    down: AtomicBool,
    calls: AtomicUsize,
    objects_read: Mutex<Vec<String>>,
}

impl FlakyStore {
    fn check(&self) -> PortResult<()> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.down.load(Ordering::SeqCst) {
            return Err(PortError::unavailable("the test store is down"));
        }
        Ok(())
    }

    /// The host objects read since the last call.
    fn take_objects_read(&self) -> Vec<String> {
        std::mem::take(&mut *self.objects_read.lock().expect("lock"))
    }
}

#[async_trait]
impl ObjectStore for FlakyStore {
    async fn put(&self, key: &ObjectKey, bytes: Bytes) -> PortResult<ETag> {
        self.inner.put(key, bytes).await
    }
    async fn get(&self, key: &ObjectKey) -> PortResult<Object> {
        self.check()?;
        if key.as_str().starts_with(HOSTS_PREFIX) {
            self.objects_read
                .lock()
                .expect("lock")
                .push(key.as_str().to_owned());
        }
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
async fn an_unreachable_store_keeps_the_engines_serving_and_is_followed_again_when_back() {
    let store = Arc::new(FlakyStore::default());
    let publisher = Publisher::new(store.clone());
    publisher.publish(ALICE, 1, &object(ALICE, "one")).await;
    let following = Following::start(store.clone(), Duration::from_millis(20));
    assert!(served_within(&following.hosts, ALICE, "one", Duration::from_secs(2)).await);

    store.down.store(true, Ordering::SeqCst);
    let calls_before = store.calls.load(Ordering::SeqCst);
    publisher.publish(ALICE, 2, &object(ALICE, "two")).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let calls_while_down = store.calls.load(Ordering::SeqCst) - calls_before;
    assert_eq!(word(&following.hosts, ALICE).await.as_deref(), Some("one"));
    // Every 20 ms would be about 50 attempts; doubling from 40 ms makes about 5.
    assert!(
        (1..=10).contains(&calls_while_down),
        "backing off: {calls_while_down} attempts in 1 s"
    );

    store.down.store(false, Ordering::SeqCst);
    assert!(
        served_within(&following.hosts, ALICE, "two", Duration::from_secs(3)).await,
        "followed again once the store is back"
    );

    // Back at the normal pace, a trigger is picked up at once too.
    publisher.publish(ALICE, 3, &object(ALICE, "three")).await;
    following.reload_now.notify_one();
    assert!(served_within(&following.hosts, ALICE, "three", Duration::from_secs(2)).await);
    assert!(
        !following.task.is_finished(),
        "the follower is still running"
    );
    following.stop().await;
}

#[tokio::test]
async fn a_trigger_loads_a_new_generation_before_the_next_poll() {
    let store = Arc::new(InMemoryObjectStore::new());
    let publisher = Publisher::new(store.clone());
    publisher.publish(ALICE, 1, &object(ALICE, "one")).await;
    let following = Following::start(store.clone(), Duration::from_secs(3600));
    assert!(served_within(&following.hosts, ALICE, "one", Duration::from_secs(2)).await);
    publisher.publish(ALICE, 2, &object(ALICE, "two")).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        word(&following.hosts, ALICE).await.as_deref(),
        Some("one"),
        "not before the trigger"
    );
    following.reload_now.notify_one();
    assert!(
        served_within(&following.hosts, ALICE, "two", Duration::from_secs(2)).await,
        "served without waiting an hour"
    );
    following.stop().await;
}

fn event(n: u128, kind: EventKind) -> Event {
    Event::new(
        EventId::from_uuid(uuid::Uuid::from_u128(n)),
        Timestamp::from_unix_millis(0),
        kind,
    )
}

fn config_published(generation: u64) -> EventKind {
    EventKind::ConfigPublished {
        generation,
        key: MANIFEST_KEY.to_owned(),
        checksum: "ab".repeat(32),
    }
}

#[tokio::test]
async fn listen_for_configs_wakes_the_follower_on_config_published_only() {
    let queue = Arc::new(InMemoryEventQueue::default());
    queue.ensure_group("replica-1").await.expect("group");
    let trigger = Arc::new(Notify::new());
    let stop = Arc::new(Notify::new());
    let events = ConfigEvents {
        queue: queue.clone(),
        group: "replica-1".to_owned(),
    };
    let listener = tokio::spawn(listen_for_configs(events, Arc::clone(&trigger), {
        let stop = Arc::clone(&stop);
        async move { stop.notified().await }
    }));

    let mock_id = MockId::from_uuid(uuid::Uuid::from_u128(7));
    queue
        .publish(&event(1, EventKind::PublicationChanged { mock_id }))
        .await
        .expect("publish");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        tokio::time::timeout(Duration::from_millis(50), trigger.notified())
            .await
            .is_err(),
        "another kind of event wakes nothing"
    );

    queue
        .publish(&event(2, config_published(2)))
        .await
        .expect("publish");
    tokio::time::timeout(Duration::from_secs(5), trigger.notified())
        .await
        .expect("config.published wakes the follower");

    stop.notify_one();
    tokio::time::timeout(Duration::from_secs(5), listener)
        .await
        .expect("the listener stops when told")
        .expect("no panic");
}

#[tokio::test]
async fn serve_cloud_loads_a_new_generation_when_config_published_is_heard() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store: Arc<dyn ObjectStore> = Arc::new(FsObjectStore::open(dir.path()).expect("store"));
    let publisher = Publisher::new(Arc::clone(&store));
    publisher.publish(ALICE, 1, &object(ALICE, "one")).await;
    let queue = Arc::new(InMemoryEventQueue::default());
    queue.ensure_group("replica-1").await.expect("group");
    let events = ConfigEvents {
        queue: queue.clone(),
        group: "replica-1".to_owned(),
    };
    // Polling every hour: only the event can bring the new generation in time.
    let server = Listening::cloud(store, Duration::from_secs(3600), Some(events)).await;
    assert!(
        server
            .word_within(ALICE, "one", Duration::from_secs(2))
            .await
    );

    let generation = publisher.publish(ALICE, 2, &object(ALICE, "two")).await;
    queue
        .publish(&event(1, config_published(generation)))
        .await
        .expect("publish");
    assert!(
        server
            .word_within(ALICE, "two", Duration::from_secs(3))
            .await,
        "served once the event was heard"
    );
    server.stop().await;
}

/// How ops verifies a host: in cloud mode a request with the probe header gets 204 for a
/// served host and 404 for any other, whatever its path; without the header nothing
/// changes, and standalone mode ignores the header.
#[tokio::test]
async fn the_probe_header_tells_served_hosts_from_others() {
    use crate::helpers::engine_with;
    let yaml = "- endpoint:\n    host: hello-alice.localhost\n    path: /hello\n    response:\n      body: hi\n";
    let cloud = engine_with(yaml, options(Mode::Cloud));
    let probe = |host: &str, path: &str| Req::get(path).host(host).header(PROBE_HEADER, "1");
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
    let standalone = engine_with(yaml, options(Mode::Standalone));
    let ignored = send(&standalone, probe("hello-alice.localhost", "/hello")).await;
    assert_eq!((ignored.status, ignored.body.as_str()), (200, "hi"));
}

#[tokio::test]
async fn a_cloud_server_is_not_ready_for_the_proxy_until_it_has_read_the_store() {
    let store = Arc::new(FlakyStore::default());
    store.down.store(true, Ordering::SeqCst);
    let server = Listening::cloud(store.clone(), Duration::from_millis(20), None).await;
    // The store has been down from the start: nothing read, not ready.
    let down = server.get(HEALTH_CHECK_HOST, "/", &[]).await;
    assert_eq!(down.status, 503, "{down:?}");

    // Back up, with nothing published yet: read, so ready (every mock host is 404).
    store.down.store(false, Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let answer = server.get(HEALTH_CHECK_HOST, "/", &[]).await;
        if answer.status == 200 {
            break;
        }
        assert_eq!(answer.status, 503, "{answer:?}");
        assert!(Instant::now() < deadline, "never ready: {answer:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_unknown_host(&server.get(ALICE, "/word", &[]).await);
    server.stop().await;
}

#[tokio::test]
async fn a_cloud_server_is_not_ready_while_an_object_the_index_names_is_missing() {
    let store = Arc::new(InMemoryObjectStore::new());
    let publisher = Publisher::new(store.clone());
    publisher.publish(BOB, 1, &object(BOB, "b1")).await;
    let alice = object(ALICE, "a1");
    publisher
        .write([(ALICE.to_owned(), Some(HostEntry::of(1, &alice)))])
        .await;
    let server = Listening::cloud(store.clone(), Duration::from_millis(20), None).await;
    assert!(server.word_within(BOB, "b1", Duration::from_secs(2)).await);
    for _ in 0..10 {
        let waiting = server.get(HEALTH_CHECK_HOST, "/", &[]).await;
        assert_eq!(waiting.status, 503, "{waiting:?}");
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    assert_unknown_host(&server.get(ALICE, "/word", &[]).await);

    publisher.put(ALICE, 1, &alice).await;
    assert!(
        server
            .word_within(ALICE, "a1", Duration::from_secs(2))
            .await
    );
    let ready = server.get(HEALTH_CHECK_HOST, "/", &[]).await;
    assert_eq!(ready.status, 200, "{ready:?}");
    server.stop().await;
}

#[tokio::test]
async fn a_publish_rebuilds_only_the_hosts_it_changed() {
    let store = Arc::new(FlakyStore::default());
    let publisher = Publisher::new(store.clone());
    let names: Vec<String> = (0..50).map(|i| format!("m{i}-alice.localhost")).collect();
    let mut entries = Vec::new();
    for host in &names {
        let entry = publisher.put(host, 1, &object(host, "r1")).await;
        entries.push((host.clone(), Some(entry)));
    }
    publisher.write(entries).await;
    let mut source = cloud_source(store.clone());
    let first = loaded(&mut source).await;
    assert_eq!((first.hosts, first.changed.len()), (50, 50));
    let hosts = Arc::clone(source.hosts());
    let before: BTreeMap<&str, Arc<Engine>> = names
        .iter()
        .map(|h| (h.as_str(), hosts.get(h).expect("served")))
        .collect();
    store.take_objects_read();

    let changed = names[17].as_str();
    publisher.publish(changed, 2, &object(changed, "r2")).await;
    let second = loaded(&mut source).await;
    assert_eq!(second.changed, set(&[changed]));
    assert_eq!(second.hosts, 50);
    assert!(
        second.removed.is_empty() && second.kept_previous.is_empty() && second.waiting.is_empty(),
        "{second:?}"
    );
    let read = store.take_objects_read();
    assert_eq!(read.len(), 1, "one host object read: {read:?}");
    assert!(read[0].starts_with(&format!("{HOSTS_PREFIX}{changed}/")));
    for (host, engine) in &before {
        let now = hosts.get(host).expect("served");
        if *host == changed {
            assert!(!Arc::ptr_eq(engine, &now), "{host} was rebuilt");
            assert_eq!(word(&hosts, host).await.as_deref(), Some("r2"));
        } else {
            assert!(Arc::ptr_eq(engine, &now), "{host} kept its engine");
            assert_eq!(word(&hosts, host).await.as_deref(), Some("r1"));
        }
    }
    unchanged(&mut source).await;
}

#[tokio::test]
async fn rate_limit_windows_survive_other_hosts_publishes() {
    let store = Arc::new(InMemoryObjectStore::new());
    let publisher = Publisher::new(store.clone());
    publisher.publish(ALICE, 1, &object(ALICE, "a1")).await;
    publisher.publish(BOB, 1, &limited_object(BOB, 1)).await;
    let mut source = cloud_source(store.clone());
    loaded(&mut source).await;
    let server = Listening::per_host(&source).await;

    let api_key = [("x-api-key", "tenant-key")];
    for remaining in ["1", "0"] {
        let allowed = server.get(BOB, "/limited", &api_key).await;
        assert_eq!(allowed.status, 200, "{allowed:?}");
        assert_eq!(allowed.header("x-ratelimit-remaining"), Some(remaining));
    }
    let limited = server.get(BOB, "/limited", &api_key).await;
    assert_eq!(limited.status, 429, "{limited:?}");

    // Publishing alice rebuilds alice only: bob's window is where it was.
    for revision in 2..=3 {
        publisher
            .publish(ALICE, revision, &object(ALICE, &format!("a{revision}")))
            .await;
        assert_eq!(loaded(&mut source).await.changed, set(&[ALICE]));
    }
    let still = server.get(BOB, "/limited", &api_key).await;
    assert_eq!(still.status, 429, "{still:?}");
    let alice = server.get(ALICE, "/word", &[]).await;
    assert_eq!(
        (alice.status, alice.body.as_str()),
        (200, r#"{"word":"a3"}"#)
    );

    // Publishing bob itself starts its windows again, on the new revision.
    publisher.publish(BOB, 2, &limited_object(BOB, 2)).await;
    assert_eq!(loaded(&mut source).await.changed, set(&[BOB]));
    let again = server.get(BOB, "/limited", &api_key).await;
    assert_eq!(
        (again.status, again.body.as_str()),
        (200, r#"{"limited":2}"#)
    );
    server.stop().await;
}

#[tokio::test]
async fn two_shards_serve_disjoint_hosts_that_together_are_all() {
    let store = Arc::new(InMemoryObjectStore::new());
    let publisher = Publisher::new(store.clone());
    let names: Vec<String> = (0..16).map(|i| format!("h{i}-bob.localhost")).collect();
    let mut entries = Vec::new();
    for host in &names {
        let entry = publisher.put(host, 1, &object(host, "r1")).await;
        entries.push((host.clone(), Some(entry)));
    }
    publisher.write(entries).await;

    let shards = [
        Shard::new(0, 2).expect("shard"),
        Shard::new(1, 2).expect("shard"),
    ];
    let mut sources: Vec<CloudSource> = shards
        .iter()
        .map(|shard| cloud_source(store.clone()).with_shard(*shard))
        .collect();
    let mut served = Vec::new();
    for (shard, source) in shards.iter().zip(&mut sources) {
        let expected: BTreeSet<String> = names.iter().filter(|h| shard.holds(h)).cloned().collect();
        let first = loaded(source).await;
        assert_eq!(first.changed, expected, "shard {shard}");
        assert_eq!(first.hosts, expected.len());
        let hosts: BTreeSet<String> = source.hosts().hosts().into_iter().collect();
        assert_eq!(hosts, expected, "shard {shard}");
        assert!(!hosts.is_empty(), "shard {shard} serves some hosts");
        served.push(hosts);
    }
    assert!(served[0].is_disjoint(&served[1]), "{served:?}");
    let all: BTreeSet<String> = served[0].union(&served[1]).cloned().collect();
    assert_eq!(all, names.iter().cloned().collect::<BTreeSet<_>>());
    for host in &names {
        let serving: Vec<usize> = (0..2)
            .filter(|&k| sources[k].hosts().get(host).is_some())
            .collect();
        assert_eq!(serving.len(), 1, "{host} is served by one shard");
        assert_eq!(
            word(sources[serving[0]].hosts(), host).await.as_deref(),
            Some("r1")
        );
    }

    // A publish of a host of shard 1 changes nothing on shard 0.
    let moved = served[1].first().expect("a host of shard 1").clone();
    publisher.publish(&moved, 2, &object(&moved, "r2")).await;
    let zero = loaded(&mut sources[0]).await;
    assert!(zero.changed.is_empty(), "{zero:?}");
    assert_eq!(zero.hosts, served[0].len());
    let one = loaded(&mut sources[1]).await;
    assert_eq!(one.changed, set(&[moved.as_str()]));
    assert_eq!(
        word(sources[1].hosts(), &moved).await.as_deref(),
        Some("r2")
    );
    assert!(sources[0].hosts().get(&moved).is_none());
}

#[tokio::test]
async fn an_unpublished_host_is_answered_as_unknown() {
    let store = Arc::new(InMemoryObjectStore::new());
    let publisher = Publisher::new(store.clone());
    publisher.publish(ALICE, 1, &object(ALICE, "a1")).await;
    publisher.publish(BOB, 1, &object(BOB, "b1")).await;
    let mut source = cloud_source(store.clone());
    loaded(&mut source).await;
    let server = Listening::per_host(&source).await;
    let alice = server.get(ALICE, "/word", &[]).await;
    assert_eq!(
        (alice.status, alice.body.as_str()),
        (200, r#"{"word":"a1"}"#)
    );

    publisher.unpublish(ALICE).await;
    let gone = loaded(&mut source).await;
    assert_eq!(gone.removed, set(&[ALICE]));
    assert!(gone.changed.is_empty(), "{gone:?}");
    assert_eq!(gone.hosts, 1);
    assert_unknown_host(&server.get(ALICE, "/word", &[]).await);
    let probe = server.get(ALICE, "/", &[(PROBE_HEADER, "1")]).await;
    assert_eq!((probe.status, probe.body.as_str()), (404, ""));
    let bob = server.get(BOB, "/word", &[]).await;
    assert_eq!((bob.status, bob.body.as_str()), (200, r#"{"word":"b1"}"#));

    // Unpublishing the last host empties the server.
    publisher.unpublish(BOB).await;
    let empty = loaded(&mut source).await;
    assert_eq!((empty.removed, empty.hosts), (set(&[BOB]), 0));
    assert_unknown_host(&server.get(BOB, "/word", &[]).await);
    unchanged(&mut source).await;

    // Published again, it is served again.
    publisher.publish(ALICE, 2, &object(ALICE, "a2")).await;
    assert_eq!(loaded(&mut source).await.changed, set(&[ALICE]));
    let back = server.get(ALICE, "/word", &[]).await;
    assert_eq!((back.status, back.body.as_str()), (200, r#"{"word":"a2"}"#));
    server.stop().await;
}

/// `host`'s object with a sequence at `/seq` (`{"n": 0}`, `{"n": 1}`, …, `count` of them)
/// and a resource at `/notes`.
fn stateful_object(host: &str, count: usize) -> Vec<u8> {
    let sequence: Vec<Value> = (0..count)
        .map(|n| json!({"body": json!({"n": n}).to_string()}))
        .collect();
    layout(&[
        json!({"endpoint": {"host": host, "path": "/seq", "sequence": sequence}}),
        json!({"resource": {"host": host, "path": "/notes"}}),
    ])
}

/// What `host`'s `/seq` answers now.
async fn position(hosts: &HostEngines, host: &str) -> Value {
    let engine = hosts.get(host).expect("served");
    send(&engine, Req::get("/seq").host(host)).await.json()["n"].clone()
}

/// The revision `host`'s engine names in its 204 to a probe.
async fn probed_revision(hosts: &HostEngines, host: &str) -> Option<String> {
    let engine = hosts.get(host)?;
    let probe = Req::get("/").host(host).header(PROBE_HEADER, "1");
    let answer = send(&engine, probe).await;
    assert_eq!(answer.status, 204, "a served host answers the probe");
    answer.header(REVISION_HEADER).map(str::to_owned)
}

#[tokio::test]
async fn a_published_mock_keeps_its_state_across_generations_until_a_new_revision() {
    let store = Arc::new(InMemoryObjectStore::new());
    let publisher = Publisher::new(store.clone());
    let mut source = cloud_source(store);
    let hosts = Arc::clone(source.hosts());
    publisher
        .publish(ALICE, 4, &stateful_object(ALICE, 5))
        .await;
    publisher.publish(BOB, 1, &object(BOB, "b1")).await;
    loaded(&mut source).await;
    assert_eq!(position(&hosts, ALICE).await, 0);
    assert_eq!(position(&hosts, ALICE).await, 1);
    assert_eq!(probed_revision(&hosts, ALICE).await.as_deref(), Some("4"));
    let engine = hosts.get(ALICE).expect("alice");
    let note = Req::get("/notes").host(ALICE).json(r#"{"text": "kept"}"#);
    assert_eq!(send(&engine, note.method("POST")).await.status, 201);

    // Another host's publication is a new generation; alice's revision is the same.
    publisher.publish(BOB, 2, &object(BOB, "b2")).await;
    loaded(&mut source).await;
    assert_eq!(position(&hosts, ALICE).await, 2, "alice's state is kept");

    publisher
        .publish(ALICE, 5, &stateful_object(ALICE, 5))
        .await;
    let five = loaded(&mut source).await;
    assert_eq!(five.changed, set(&[ALICE]));
    assert_eq!(position(&hosts, ALICE).await, 0, "revision 5 starts afresh");
    assert_eq!(probed_revision(&hosts, ALICE).await.as_deref(), Some("5"));
    let engine = hosts.get(ALICE).expect("alice");
    let notes = send(&engine, Req::get("/notes").host(ALICE)).await;
    assert_eq!(notes.json(), json!([]), "the records went with revision 4");
}
