//! Requests recorded into a journal: what answered, near misses for what did not, secrets
//! hidden, and a full channel dropping records instead of holding answers back.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use moclojer_domain::journal::{Difference, REDACTED, Retention};
use moclojer_foss::{EngineOptions, Readiness, Recorder, ServeOptions, SharedEngine, serve_ready};
use moclojer_memory::InMemoryJournal;
use moclojer_ports::{JournalEntry, JournalQuery, RequestJournal, SystemClock};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::helpers::engine_with;

const SPEC: &str = r#"- endpoint:
    method: GET
    path: /users/:id
    response:
      body: '{"id": "{{path-params.id}}"}'
- endpoint:
    method: POST
    path: /orders
    secret-headers: [X-Session]
    response:
      status: 201
"#;

async fn serve(journal: Option<Recorder>) -> std::net::SocketAddr {
    let engine: SharedEngine = Arc::new(ArcSwap::from_pointee(engine_with(
        SPEC,
        EngineOptions::default(),
    )));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    let settings = ServeOptions {
        journal,
        ..ServeOptions::default()
    };
    tokio::spawn(serve_ready(
        listener,
        engine,
        settings,
        Readiness::ready(),
        std::future::pending(),
    ));
    address
}

async fn ask(address: std::net::SocketAddr, request: &str) -> String {
    let mut stream = TcpStream::connect(address).await.expect("connect");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response))
        .await
        .expect("answered in time")
        .expect("read");
    String::from_utf8_lossy(&response).into_owned()
}

/// The host's records once `count` are there, newest first (waits up to a second).
async fn records(journal: &InMemoryJournal, count: usize) -> Vec<JournalEntry> {
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        let page = journal
            .list("localhost", &JournalQuery::newest(100))
            .await
            .expect("list");
        if page.entries.len() >= count || Instant::now() > deadline {
            return page.entries;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn answered_and_missed_requests_are_recorded_within_a_second() {
    let journal = InMemoryJournal::new(Retention::DEFAULT, Arc::new(SystemClock));
    let (recorder, _writer) = Recorder::start(Arc::new(journal.clone()), 64);
    let address = serve(Some(recorder)).await;

    let hit = ask(
        address,
        "GET /users/42?x=1 HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer s3cret\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(hit.starts_with("HTTP/1.1 200"), "{hit}");
    let miss = ask(
        address,
        "DELETE /users/42 HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
    )
    .await;
    assert!(miss.starts_with("HTTP/1.1 405"), "{miss}");

    let entries = records(&journal, 2).await;
    assert_eq!(entries.len(), 2, "both requests are recorded");
    let (missed, answered) = (&entries[0].record, &entries[1].record);
    assert_eq!(
        (
            answered.method.as_str(),
            answered.path.as_str(),
            answered.query.as_str(),
            answered.status
        ),
        ("GET", "/users/42", "x=1", 200)
    );
    let matched = answered.matched.expect("the endpoint that answered");
    assert_eq!((matched.endpoint, matched.line), (0, 1));
    assert!(answered.near_misses.is_empty());
    assert!(
        answered
            .headers
            .contains(&("authorization".to_owned(), REDACTED.to_owned())),
        "{:?}",
        answered.headers
    );
    assert!(!format!("{answered:?}").contains("s3cret"));
    assert_eq!(answered.client.as_deref(), Some("127.0.0.1"));

    assert_eq!((missed.status, missed.body.as_str()), (405, "hello"));
    assert_eq!(missed.matched, None);
    let closest = &missed.near_misses[0];
    assert_eq!((closest.path.as_str(), closest.line), ("/users/:id", 1));
    assert_eq!(
        closest.differences,
        [Difference::Method {
            expected: "GET".into(),
            got: "DELETE".into()
        }]
    );
}

/// A journal that takes a long time to write.
#[derive(Debug)]
struct Stuck;

#[async_trait::async_trait]
impl RequestJournal for Stuck {
    async fn append(
        &self,
        _records: Vec<moclojer_domain::journal::RequestRecord>,
    ) -> moclojer_ports::PortResult<()> {
        tokio::time::sleep(Duration::from_secs(3_600)).await;
        Ok(())
    }
    async fn list(
        &self,
        _host: &str,
        _query: &JournalQuery,
    ) -> moclojer_ports::PortResult<moclojer_ports::JournalPage> {
        Ok(moclojer_ports::JournalPage::default())
    }
    async fn clear(&self, _host: &str) -> moclojer_ports::PortResult<()> {
        Ok(())
    }
}

#[tokio::test]
async fn a_full_channel_drops_records_and_answers_at_once() {
    let (recorder, _writer) = Recorder::start(Arc::new(Stuck), 4);
    let address = serve(Some(recorder.clone())).await;
    let started = Instant::now();
    for _ in 0..20 {
        let answer = ask(
            address,
            "GET /users/1 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        )
        .await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "answers did not wait for the journal: {:?}",
        started.elapsed()
    );
    // One batch is in the stuck writer, four wait in the channel: the rest are dropped.
    assert!(recorder.dropped() >= 15, "dropped {}", recorder.dropped());
}

/// A standalone server from `spec` with `--journal 3 --admin-addr 127.0.0.1:0`, running
/// until the test ends; its mock and admin addresses.
async fn standalone(
    dir: &std::path::Path,
    journal: Option<usize>,
) -> anyhow::Result<(std::net::SocketAddr, std::net::SocketAddr)> {
    use moclojer_wiring::App as _;

    let path = dir.join("moclojer.yml");
    std::fs::write(&path, SPEC)?;
    let any = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let config = moclojer_foss::Config {
        journal: journal.map(|n| moclojer_wiring::JournalSettings {
            url: moclojer_wiring::JournalUrl::Memory,
            retention: Retention {
                max_records: n,
                ..Retention::DEFAULT
            },
        }),
        admin_addr: Some(any),
        ..moclojer_foss::Config::new(
            any,
            moclojer_foss::Source::Files(moclojer_foss::SpecFiles {
                config: path,
                mocks: None,
            }),
        )
    };
    let app = moclojer_foss::App::build(config, &moclojer_wiring::Resolver::default()).await?;
    let addresses = (
        app.local_addr()?,
        app.admin_addr().expect("an admin listener"),
    );
    tokio::spawn(app.run(std::future::pending()));
    Ok(addresses)
}

/// The admin listener's answer to `method` `target`: status and JSON body (null when empty).
async fn admin(
    address: std::net::SocketAddr,
    method: &str,
    target: &str,
) -> (u16, serde_json::Value) {
    let raw = ask(
        address,
        &format!("{method} {target} HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n"),
    )
    .await;
    let status = raw[9..12].parse().expect("a status");
    let body = raw.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (
        status,
        serde_json::from_str(body).unwrap_or(serde_json::Value::Null),
    )
}

#[tokio::test]
async fn the_standalone_server_keeps_the_last_n_requests_for_its_admin_listener() {
    let dir = tempfile::tempdir().unwrap();
    let (mocks, admin_at) = standalone(dir.path(), Some(3)).await.expect("built");
    for (i, host) in ["a.test", "b.test", "localhost:8000", "c.test"]
        .iter()
        .enumerate()
    {
        let reply = ask(
            mocks,
            &format!("GET /users/{i} HTTP/1.1\r\nHost: {host}\r\nX-Api-Key: k{i}\r\nX-Session: s{i}\r\nConnection: close\r\n\r\n"),
        )
        .await;
        assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    }
    let missed = ask(
        mocks,
        "GET /orders?page=2 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(missed.starts_with("HTTP/1.1 405"), "{missed}");

    let deadline = Instant::now() + Duration::from_secs(1);
    let listed = loop {
        let (status, page) = admin(admin_at, "GET", "/requests").await;
        assert_eq!(status, 200, "{page}");
        let newest_is_the_miss = page["requests"][0]["path"] == "/orders";
        if newest_is_the_miss || Instant::now() > deadline {
            break page;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let requests = listed["requests"].as_array().expect("a list");
    let paths: Vec<&str> = requests
        .iter()
        .map(|r| r["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        ["/orders", "/users/3", "/users/2"],
        "the last 3, newest first, whatever the host"
    );
    let miss = &requests[0];
    assert_eq!(
        (miss["status"].as_u64(), miss["query"].as_str()),
        (Some(405), Some("page=2"))
    );
    assert_eq!(miss["matched"], serde_json::Value::Null);
    assert_eq!(miss["near_misses"][0]["path"], "/orders");
    assert_eq!(miss["near_misses"][0]["differences"][0]["kind"], "method");
    let hit = &requests[1];
    assert_eq!(
        hit["matched"],
        serde_json::json!({"endpoint": 0, "line": 1})
    );
    assert_eq!(hit["headers"]["x-api-key"], REDACTED);
    assert_eq!(
        hit["headers"]["x-session"], REDACTED,
        "a header the mock marks secret: {hit}"
    );
    assert_eq!(hit["headers"]["host"], "c.test");
    assert_eq!(listed["next"], serde_json::Value::Null);

    the_admin_listener_pages_refuses_and_counts(admin_at).await;
    assert_eq!(admin(admin_at, "GET", "/users/1").await.0, 404);

    let on_the_mock_port = ask(
        mocks,
        "GET /requests HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(
        on_the_mock_port.starts_with("HTTP/1.1 404"),
        "the mock port is the user's: {on_the_mock_port}"
    );

    assert_eq!(admin(admin_at, "DELETE", "/requests").await.0, 204);
    let (_, page) = admin(admin_at, "GET", "/requests").await;
    let left: Vec<&str> = page["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["path"].as_str().unwrap())
        .collect();
    assert!(
        left.iter().all(|p| *p == "/requests"),
        "only what came after the clear: {left:?}"
    );
}

/// The admin listener at `admin_at`, holding `/users/3` and `/users/2` answered 200: pages
/// with a cursor, refuses a bad limit and another method, and reports drops at `/metrics`.
async fn the_admin_listener_pages_refuses_and_counts(admin_at: std::net::SocketAddr) {
    let (status, page) = admin(admin_at, "GET", "/requests?limit=1&status=200").await;
    assert_eq!(status, 200);
    assert_eq!(page["requests"][0]["path"], "/users/3");
    let next = page["next"].as_str().expect("one more page").to_owned();
    let (_, older) = admin(admin_at, "GET", &format!("/requests?limit=1&before={next}")).await;
    assert_eq!(older["requests"][0]["path"], "/users/2");

    let (status, error) = admin(admin_at, "GET", "/requests?limit=0").await;
    assert_eq!(status, 400);
    assert!(
        error["error"].as_str().unwrap().contains("limit"),
        "{error}"
    );
    assert_eq!(admin(admin_at, "PUT", "/requests").await.0, 405);
    let metrics = ask(
        admin_at,
        "GET /metrics HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(
        metrics.contains("\nmoclojer_journal_dropped_total 0\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("\nmoclojer_webhooks_dropped_total 0\n"),
        "{metrics}"
    );
}

#[tokio::test]
async fn an_admin_listener_without_a_journal_is_refused_with_the_flag_to_give() {
    let dir = tempfile::tempdir().unwrap();
    let error = standalone(dir.path(), None).await.expect_err("refused");
    assert!(format!("{error:#}").contains("--journal"), "{error:#}");
}
