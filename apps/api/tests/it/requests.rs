//! A mock's request journal through the api: listing with filters and cursors, clearing,
//! the live stream, scoping, and the purge when a mock is deleted.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use moclojer_api::AuthMode;
use moclojer_domain::journal::{Matched, Retention};
use moclojer_memory::InMemoryJournal;
use moclojer_ports::{Clock, JournalQuery, RequestJournal, SystemClock};
use moclojer_testkit::request_record;
use serde_json::{Value, json};

use crate::support::{Account, Api, assert_error};

async fn api_with_journal() -> (Api, InMemoryJournal) {
    let journal = InMemoryJournal::new(Retention::DEFAULT, Arc::new(SystemClock));
    let shared: Arc<dyn RequestJournal> = Arc::new(journal.clone());
    let api = Api::start_full(AuthMode::Local, |state| state.journal = Some(shared)).await;
    (api, journal)
}

/// Alice's mock `name`: its id and host.
async fn mock_of(api: &Api, alice: &Account, name: &str) -> (String, String) {
    let mock = api.mock(alice, "alice", name).await;
    (
        mock["id"].as_str().unwrap().to_owned(),
        mock["host"].as_str().unwrap().to_owned(),
    )
}

async fn record(journal: &InMemoryJournal, host: &str, method: &str, path: &str, status: u16) {
    let mut record = request_record(SystemClock.now(), host, method, path, status);
    if status == 200 {
        record.matched = Some(Matched {
            endpoint: 0,
            line: 1,
        });
    }
    journal.append(vec![record]).await.unwrap();
}

fn paths(page: &Value) -> Vec<&str> {
    page["requests"]
        .as_array()
        .unwrap_or_else(|| panic!("a list in {page}"))
        .iter()
        .map(|r| r["path"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn a_mocks_requests_are_listed_newest_first_filtered_and_paged() {
    let (api, journal) = api_with_journal().await;
    let alice = api.account("alice").await;
    let (id, host) = mock_of(&api, &alice, "shop").await;
    let url = format!("/api/v1/mocks/{id}/requests");
    let token = Some(alice.token.as_str());

    let (status, empty) = api.get(&url, token).await;
    assert_eq!(
        (status, empty),
        (200, json!({"requests": [], "next": null}))
    );

    record(&journal, &host, "GET", "/users/1", 200).await;
    record(&journal, &host, "POST", "/users", 404).await;
    record(&journal, &host, "GET", "/orders/9", 200).await;
    record(&journal, "other-alice.localhost", "GET", "/elsewhere", 200).await;

    let (status, page) = api.get(&url, token).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(paths(&page), ["/orders/9", "/users", "/users/1"]);
    let newest = &page["requests"][0];
    for field in [
        "id",
        "at",
        "method",
        "path",
        "query",
        "headers",
        "body",
        "body_truncated",
        "status",
        "matched",
        "near_misses",
        "duration_ms",
        "client",
    ] {
        assert!(newest.get(field).is_some(), "{field} in {newest}");
    }
    assert_eq!(newest["matched"], json!({"endpoint": 0, "line": 1}));
    assert_eq!(newest["headers"], json!({"accept": "*/*"}));
    assert_eq!(newest["duration_ms"], 0.12);
    assert_eq!(page["requests"][1]["matched"], Value::Null);

    let (_, posts) = api.get(&format!("{url}?method=post"), token).await;
    assert_eq!(paths(&posts), ["/users"]);
    let (_, found) = api.get(&format!("{url}?status=200"), token).await;
    assert_eq!(paths(&found), ["/orders/9", "/users/1"]);
    let (_, prefixed) = api.get(&format!("{url}?path_prefix=/users"), token).await;
    assert_eq!(paths(&prefixed), ["/users", "/users/1"]);

    let (_, first) = api.get(&format!("{url}?limit=2"), token).await;
    assert_eq!(paths(&first), ["/orders/9", "/users"]);
    let next = first["next"].as_str().expect("a next page");
    let (_, second) = api
        .get(&format!("{url}?limit=2&before={next}"), token)
        .await;
    assert_eq!(paths(&second), ["/users/1"]);
    assert_eq!(second["next"], Value::Null);

    assert_error(
        &api.get(&format!("{url}?limit=0"), token).await,
        400,
        "bad_query",
    );
    assert_error(
        &api.get(&format!("{url}?status=999"), token).await,
        400,
        "bad_query",
    );
    assert_error(
        &api.get(&format!("{url}?before=nope"), token).await,
        400,
        "bad_cursor",
    );
}

#[tokio::test]
async fn another_users_mock_is_not_found_and_a_personal_token_reads_the_journal() {
    let (api, journal) = api_with_journal().await;
    let alice = api.account("alice").await;
    let bob = api.account("bob").await;
    let (id, host) = mock_of(&api, &alice, "shop").await;
    record(&journal, &host, "GET", "/secret", 200).await;
    let url = format!("/api/v1/mocks/{id}/requests");

    assert_error(&api.get(&url, Some(&bob.token)).await, 404, "not_found");
    assert_error(&api.delete(&url, Some(&bob.token)).await, 404, "not_found");
    assert_error(
        &api.get(&format!("{url}/stream"), Some(&bob.token)).await,
        404,
        "not_found",
    );
    assert_eq!(api.get(&url, None).await.0, 401);
    assert_error(
        &api.get("/api/v1/mocks/not-an-id/requests", Some(&alice.token))
            .await,
        404,
        "not_found",
    );
    let (_, still) = api.get(&url, Some(&alice.token)).await;
    assert_eq!(paths(&still), ["/secret"], "bob's attempts changed nothing");

    let (status, created) = api
        .post("/api/v1/tokens", Some(&alice.token), json!({"name": "ci"}))
        .await;
    assert_eq!(status, 201, "{created}");
    let personal = created["token"].as_str().unwrap();
    let (status, page) = api.get(&url, Some(personal)).await;
    assert_eq!((status, paths(&page)), (200, vec!["/secret"]));
}

#[tokio::test]
async fn clearing_and_deleting_the_mock_forget_its_requests() {
    let (api, journal) = api_with_journal().await;
    let alice = api.account("alice").await;
    let (id, host) = mock_of(&api, &alice, "shop").await;
    let token = Some(alice.token.as_str());
    let url = format!("/api/v1/mocks/{id}/requests");
    record(&journal, &host, "GET", "/a", 200).await;
    assert_eq!(api.delete(&url, token).await.0, 204);
    assert_eq!(paths(&api.get(&url, token).await.1), Vec::<&str>::new());

    record(&journal, &host, "GET", "/b", 200).await;
    assert_eq!(
        api.delete(&format!("/api/v1/mocks/{id}"), token).await.0,
        204
    );
    let left = journal
        .list(&host, &JournalQuery::newest(10))
        .await
        .unwrap();
    assert!(left.entries.is_empty(), "purged with the mock: {left:?}");
    assert_error(&api.get(&url, token).await, 404, "not_found");

    // Requests recorded for the host before a mock of that name existed are not the new
    // mock's.
    record(&journal, &host, "GET", "/stale", 404).await;
    let (id, _) = mock_of(&api, &alice, "shop").await;
    let (_, fresh) = api
        .get(&format!("/api/v1/mocks/{id}/requests"), token)
        .await;
    assert_eq!(paths(&fresh), Vec::<&str>::new());
}

#[tokio::test]
async fn without_a_journal_the_routes_say_so() {
    let api = Api::start().await;
    let alice = api.account("alice").await;
    let (id, _) = mock_of(&api, &alice, "shop").await;
    let got = api
        .get(&format!("/api/v1/mocks/{id}/requests"), Some(&alice.token))
        .await;
    assert_error(&got, 503, "unavailable");
    assert!(
        got.1["error"]["message"]
            .as_str()
            .unwrap()
            .contains("journal"),
        "{}",
        got.1
    );
}

/// The `request` events of a live stream, as they come.
struct Events {
    stream: futures_util::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    buffer: String,
}

impl Events {
    async fn open(api: &Api, url: &str, token: &str, last: Option<&str>) -> Self {
        let mut request = api
            .client
            .get(format!("{}{url}", api.base))
            .bearer_auth(token);
        if let Some(last) = last {
            request = request.header("Last-Event-ID", last);
        }
        let response = request.send().await.expect("stream");
        assert_eq!(response.status(), 200);
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/event-stream"),
            "{:?}",
            response.headers()
        );
        Self {
            stream: response.bytes_stream().boxed(),
            buffer: String::new(),
        }
    }

    /// The next event's id and data, within `wait`.
    async fn next(&mut self, wait: Duration) -> Option<(String, Value)> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let field = |name: &str| {
                    block
                        .lines()
                        .find_map(|l| l.strip_prefix(name).map(|v| v.trim_start().to_owned()))
                };
                if field("event:").as_deref() == Some("request") {
                    let data = serde_json::from_str(&field("data:")?).ok()?;
                    return Some((field("id:")?, data));
                }
            }
            let chunk = tokio::time::timeout_at(deadline, self.stream.next())
                .await
                .ok()??;
            self.buffer.push_str(&String::from_utf8_lossy(&chunk.ok()?));
        }
    }
}

#[tokio::test]
async fn the_stream_delivers_each_request_within_a_second_and_resumes_after_the_last_seen() {
    let (api, journal) = api_with_journal().await;
    let alice = api.account("alice").await;
    let (id, host) = mock_of(&api, &alice, "shop").await;
    let url = format!("/api/v1/mocks/{id}/requests/stream");
    record(&journal, &host, "GET", "/before-the-stream", 200).await;

    let mut events = Events::open(&api, &url, &alice.token, None).await;
    let sent = Instant::now();
    record(&journal, &host, "GET", "/live", 200).await;
    record(&journal, &host, "POST", "/live/2", 404).await;
    let (first_id, first) = events
        .next(Duration::from_secs(1))
        .await
        .expect("an event within a second");
    assert!(sent.elapsed() < Duration::from_secs(1));
    assert_eq!(
        first["path"], "/live",
        "what came before the stream is not replayed, and order is kept"
    );
    assert_eq!(first["id"], first_id.as_str());
    let (second_id, second) = events
        .next(Duration::from_secs(1))
        .await
        .expect("the second");
    assert_eq!(
        (second["path"].as_str(), second["status"].as_u64()),
        (Some("/live/2"), Some(404))
    );
    drop(events);

    record(&journal, &host, "GET", "/while-away", 200).await;
    let mut resumed = Events::open(&api, &url, &alice.token, Some(&second_id)).await;
    let (_, missed) = resumed
        .next(Duration::from_secs(1))
        .await
        .expect("the missed one");
    assert_eq!(missed["path"], "/while-away");
}
