//! Cloud mode with one engine per host, on a real socket: each host answers from its own
//! engine, a host no engine serves gets the JSON 404, and swapping one host's engine leaves
//! every other host's engine, and its rate-limit windows, as they were.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use moclojer_domain::spec::{self, Limits, Mode};
use moclojer_foss::{Engine, EngineOptions, HostEngines, Readiness, ServeOptions, Serving};
use moclojer_ports::PROBE_HEADER;
use tokio::net::{TcpListener, TcpStream};

const UNKNOWN_HOST_BODY: &str =
    r#"{"error":{"code":"not_found","message":"no mock answers on this host"}}"#;

/// Host A's spec at `revision`: `/a` answers with the revision.
fn spec_a(revision: u32) -> String {
    format!(
        r#"
- endpoint:
    host: a.test
    path: /a
    response:
      body: '{{"host": "a", "revision": {revision}}}'
- websocket:
    host: a.test
    path: /ws
    on-connect:
      response: 'hello from a'
"#
    )
}

/// Host B's spec at `revision`: `/b` answers with the revision, and `/limited` lets two
/// requests per API key through in ten minutes.
fn spec_b(revision: u32) -> String {
    format!(
        r#"
- endpoint:
    host: b.test
    path: /b
    response:
      body: '{{"host": "b", "revision": {revision}}}'
- endpoint:
    host: b.test
    path: /limited
    rate-limit:
      window-ms: 600000
      max-requests: 2
      key-fn: x-api-key
    response:
      body: '{{"limited": {revision}}}'
"#
    )
}

fn engine(yaml: &str, options: &Arc<EngineOptions>) -> Arc<Engine> {
    let spec = spec::parse_yaml(yaml, &Limits::default())
        .unwrap_or_else(|d| panic!("spec refused: {d:#?}"));
    let engine = Engine::build_shared(spec, Arc::clone(options))
        .unwrap_or_else(|d| panic!("engine refused: {d:#?}"));
    Arc::new(engine)
}

struct Running {
    address: SocketAddr,
    hosts: Arc<HostEngines>,
    options: Arc<EngineOptions>,
}

/// A per-host server for hosts A and B, both at revision 1.
async fn start() -> Running {
    let options = Arc::new(EngineOptions {
        mode: Mode::Cloud,
        ..EngineOptions::default()
    });
    let hosts = Arc::new(HostEngines::new());
    hosts.insert("a.test", engine(&spec_a(1), &options));
    hosts.insert("b.test", engine(&spec_b(1), &options));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    let serving = Serving::PerHost {
        hosts: Arc::clone(&hosts),
        options: Arc::clone(&options),
    };
    tokio::spawn(moclojer_foss::serve_ready(
        listener,
        serving,
        ServeOptions::default(),
        Readiness::ready(),
        std::future::pending(),
    ));
    Running {
        address,
        hosts,
        options,
    }
}

/// One kept-alive HTTP/1.1 connection to the server.
struct Client(SendRequest<Empty<Bytes>>);

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Client {
    async fn connect(address: SocketAddr) -> Self {
        let stream = TcpStream::connect(address).await.expect("connect");
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .expect("handshake");
        tokio::spawn(connection);
        Self(sender)
    }

    async fn get(&mut self, host: &str, path: &str, headers: &[(&str, &str)]) -> Answer {
        let mut request = http::Request::get(path).header(http::header::HOST, host);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(Empty::new()).expect("request");
        self.0.ready().await.expect("connection ready");
        let response = tokio::time::timeout(Duration::from_secs(10), self.0.send_request(request))
            .await
            .expect("answered in time")
            .expect("answered");
        let (parts, body) = response.into_parts();
        let body = body.collect().await.expect("body").to_bytes();
        Answer {
            status: parts.status,
            headers: parts.headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        }
    }
}

#[tokio::test]
async fn each_host_answers_its_own_endpoints_and_not_the_others() {
    let server = start().await;
    let mut client = Client::connect(server.address).await;

    let a = client.get("a.test", "/a", &[]).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.body, r#"{"host": "a", "revision": 1}"#);
    let b = client.get("B.Test:8080", "/b", &[]).await;
    assert_eq!(b.status, StatusCode::OK);
    assert_eq!(b.body, r#"{"host": "b", "revision": 1}"#);

    // A served host's unknown path, even one another host serves, is an empty 404.
    for (host, path) in [("a.test", "/b"), ("b.test", "/a"), ("a.test", "/nothing")] {
        let answer = client.get(host, path, &[]).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{host}{path}");
        assert!(answer.body.is_empty(), "{host}{path}: {}", answer.body);
        assert!(
            answer.headers.get(http::header::CONTENT_TYPE).is_none(),
            "{host}{path}"
        );
    }

    // A host no engine serves says so.
    let unknown = client.get("c.test", "/a", &[]).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.body, UNKNOWN_HOST_BODY);
    assert_eq!(
        unknown
            .headers
            .get(http::header::CONTENT_TYPE)
            .map(|v| v.as_bytes()),
        Some(&b"application/json"[..])
    );
    let cross = client
        .get("c.test", "/a", &[("origin", "https://app.example")])
        .await;
    assert_eq!(cross.status, StatusCode::NOT_FOUND);
    assert_eq!(
        cross
            .headers
            .get(http::header::ACCESS_CONTROL_ALLOW_ORIGIN)
            .map(|v| v.as_bytes()),
        Some(&b"https://app.example"[..])
    );

    // ops's probe: 204 for a served host, whatever the path; an empty 404 for another.
    for (host, expected) in [
        ("a.test", StatusCode::NO_CONTENT),
        ("b.test", StatusCode::NO_CONTENT),
        ("c.test", StatusCode::NOT_FOUND),
    ] {
        let probe = client.get(host, "/anything", &[(PROBE_HEADER, "1")]).await;
        assert_eq!(probe.status, expected, "{host}");
        assert!(probe.body.is_empty(), "{host}: {}", probe.body);
    }

    // The proxy's health check is the server's own, not a host's.
    let health = client.get("proxy-health-check.invalid", "/", &[]).await;
    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(health.body, r#"{"status":"ok"}"#);
}

#[tokio::test]
async fn an_unknown_host_is_answered_without_reading_its_body() {
    let server = start().await;
    let mut stream = TcpStream::connect(server.address).await.expect("connect");
    // Declares a body far over the limit and never sends it: only an answer given without
    // reading it arrives.
    let request = format!(
        "POST /a HTTP/1.1\r\nHost: c.test\r\nContent-Length: {}\r\n\r\n",
        server.options.max_body_bytes * 10
    );
    tokio::io::AsyncWriteExt::write_all(&mut stream, request.as_bytes())
        .await
        .expect("write");
    let mut answer = vec![0; 4096];
    let read = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::io::AsyncReadExt::read(&mut stream, &mut answer),
    )
    .await
    .expect("answered without the body")
    .expect("read");
    let answer = String::from_utf8_lossy(&answer[..read]);
    assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
    assert!(answer.contains(UNKNOWN_HOST_BODY), "{answer}");
}

#[tokio::test]
async fn a_websocket_is_served_by_its_hosts_engine() {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    let server = start().await;
    let mut request = format!("ws://{}/ws", server.address)
        .into_client_request()
        .expect("request");
    request
        .headers_mut()
        .insert(http::header::HOST, http::HeaderValue::from_static("a.test"));
    let (mut ws, response) = tokio_tungstenite::connect_async(request)
        .await
        .expect("handshake");
    assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
    let greeting = tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await
        .expect("a greeting in time")
        .expect("open")
        .expect("ok");
    assert_eq!(greeting.into_text().expect("text").as_str(), "hello from a");

    let mut client = Client::connect(server.address).await;
    let elsewhere = client.get("b.test", "/ws", &[]).await;
    assert_eq!(elsewhere.status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swapping_one_hosts_engine_fails_no_request_and_leaves_the_others_alone() {
    let server = start().await;
    let b_before = server.hosts.get("b.test").expect("b served");
    let stop = Arc::new(AtomicBool::new(false));
    let mut loops = Vec::new();
    for (host, path) in [("a.test", "/a"), ("b.test", "/b"), ("a.test", "/a")] {
        let stop = Arc::clone(&stop);
        let address = server.address;
        loops.push(tokio::spawn(async move {
            let mut client = Client::connect(address).await;
            let mut answered = Vec::new();
            while !stop.load(Ordering::Acquire) || answered.is_empty() {
                let answer = client.get(host, path, &[]).await;
                assert_eq!(
                    answer.status,
                    StatusCode::OK,
                    "{host}{path}: {}",
                    answer.body
                );
                answered.push(answer.body);
            }
            answered
        }));
    }
    for revision in 2..=40 {
        server
            .hosts
            .insert("a.test", engine(&spec_a(revision), &server.options));
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    stop.store(true, Ordering::Release);
    let mut a_revisions = std::collections::BTreeSet::new();
    for (index, task) in loops.into_iter().enumerate() {
        let answered = task.await.expect("no request failed");
        for body in answered {
            let value: serde_json::Value = serde_json::from_str(&body).expect("JSON");
            if index == 1 {
                assert_eq!(value, serde_json::json!({"host": "b", "revision": 1}));
            } else {
                assert_eq!(value["host"], "a");
                a_revisions.insert(value["revision"].as_u64().expect("revision"));
            }
        }
    }
    assert!(
        a_revisions.len() > 1,
        "A was answered from more than one engine: {a_revisions:?}"
    );
    let b_after = server.hosts.get("b.test").expect("b served");
    assert!(Arc::ptr_eq(&b_before, &b_after), "B's engine is untouched");

    let mut client = Client::connect(server.address).await;
    let latest = client.get("a.test", "/a", &[]).await;
    assert_eq!(latest.body, r#"{"host": "a", "revision": 40}"#);
}

#[tokio::test]
async fn rate_limit_state_survives_other_hosts_swaps() {
    let server = start().await;
    let mut client = Client::connect(server.address).await;
    let key = [("x-api-key", "tenant-key")];
    for remaining in ["1", "0"] {
        let allowed = client.get("b.test", "/limited", &key).await;
        assert_eq!(allowed.status, StatusCode::OK);
        assert_eq!(
            allowed
                .headers
                .get("x-ratelimit-remaining")
                .map(|v| v.as_bytes()),
            Some(remaining.as_bytes())
        );
    }
    let limited = client.get("b.test", "/limited", &key).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);

    // Publishing A rebuilds A only: B's window is where it was.
    for revision in 2..=3 {
        server
            .hosts
            .insert("a.test", engine(&spec_a(revision), &server.options));
    }
    server.hosts.remove("c.test");
    let still = client.get("b.test", "/limited", &key).await;
    assert_eq!(
        still.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        still.body
    );
    let a = client.get("a.test", "/a", &[]).await;
    assert_eq!(a.body, r#"{"host": "a", "revision": 3}"#);

    // Publishing B itself starts its windows again, on the new revision.
    server
        .hosts
        .insert("b.test", engine(&spec_b(2), &server.options));
    let again = client.get("b.test", "/limited", &key).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.body, r#"{"limited": 2}"#);
}

#[tokio::test]
async fn a_removed_host_is_answered_as_unknown() {
    let server = start().await;
    let mut client = Client::connect(server.address).await;
    assert_eq!(client.get("a.test", "/a", &[]).await.status, StatusCode::OK);
    server.hosts.remove("a.test");
    let gone = client.get("a.test", "/a", &[]).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    assert_eq!(gone.body, UNKNOWN_HOST_BODY);
    let probe = client.get("a.test", "/", &[(PROBE_HEADER, "1")]).await;
    assert_eq!(probe.status, StatusCode::NOT_FOUND);
    assert_eq!(client.get("b.test", "/b", &[]).await.status, StatusCode::OK);
}
