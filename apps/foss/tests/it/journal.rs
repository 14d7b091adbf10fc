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
        _records: &[moclojer_domain::journal::RequestRecord],
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
