//! End-to-end checks of the egress guard.
//!
//! The only network used is loopback: a hand-written HTTP/1.1 receiver on `127.0.0.1:0`.
//! Names resolve through [`FakeResolver`]; refused addresses (10.x, 169.254.x ...) are only
//! ever returned by it or written as URL literals, and the guard refuses them before any
//! connection, which is exactly what these tests assert.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use moclojer_egress::{
    BoxFuture, Egress, EgressConfig, EgressError, Method, OutboundRequest, Policy, Resolver,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

// ---------------------------------------------------------------------------------------------
// A fake resolver: a fixed table, remembering every name it was asked.

#[derive(Debug, Default)]
struct FakeResolver {
    table: HashMap<String, Vec<IpAddr>>,
    asked: Mutex<Vec<String>>,
}

impl FakeResolver {
    fn new(entries: &[(&str, &[&str])]) -> Arc<Self> {
        let table = entries
            .iter()
            .map(|(name, addrs)| {
                let addrs = addrs.iter().map(|addr| addr.parse().unwrap()).collect();
                ((*name).to_owned(), addrs)
            })
            .collect();
        Arc::new(Self {
            table,
            asked: Mutex::default(),
        })
    }

    fn asked(&self) -> Vec<String> {
        self.asked.lock().unwrap().clone()
    }
}

impl Resolver for FakeResolver {
    fn resolve(&self, host: &str, port: u16) -> BoxFuture<'_, io::Result<Vec<SocketAddr>>> {
        self.asked.lock().unwrap().push(host.to_owned());
        let answer = match self.table.get(host) {
            Some(addrs) => Ok(addrs.iter().map(|ip| SocketAddr::new(*ip, port)).collect()),
            None => Err(io::Error::new(io::ErrorKind::NotFound, "no such host")),
        };
        Box::pin(async move { answer })
    }
}

// ---------------------------------------------------------------------------------------------
// A tiny HTTP/1.1 receiver on 127.0.0.1: one request per connection, then close.

#[derive(Debug, Clone)]
struct Seen {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

enum Reply {
    /// Status, extra headers, body, whether to send `Content-Length` (otherwise the body
    /// ends when the connection closes).
    Respond {
        status: u16,
        headers: Vec<(&'static str, String)>,
        body: Vec<u8>,
        declare_length: bool,
    },
    /// Say nothing for this long.
    Stall(Duration),
}

fn reply(status: u16, body: &str) -> Reply {
    Reply::Respond {
        status,
        headers: Vec::new(),
        body: body.as_bytes().to_vec(),
        declare_length: true,
    }
}

type Handler = Arc<dyn Fn(&Seen) -> Reply + Send + Sync>;

struct Receiver {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Receiver {
    async fn start(handler: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let handler: Handler = Arc::new(handler);
        let log = Arc::clone(&seen);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let log = Arc::clone(&log);
                let handler = Arc::clone(&handler);
                tokio::spawn(async move {
                    let _ignored = serve(stream, log, handler).await;
                });
            }
        });
        Self { addr, seen }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn hits(&self, path: &str) -> usize {
        self.seen()
            .iter()
            .filter(|seen| seen.target == path)
            .count()
    }
}

async fn serve(
    mut stream: TcpStream,
    log: Arc<Mutex<Vec<Seen>>>,
    handler: Handler,
) -> io::Result<()> {
    let mut buffer = Vec::new();
    let mut chunk = [0_u8; 4096];
    let head_end = loop {
        if let Some(at) = buffer.windows(4).position(|window| window == b"\r\n\r\n") {
            break at;
        }
        let read = stream.read(&mut chunk).await?;
        if read == 0 {
            return Ok(());
        }
        buffer.extend_from_slice(&chunk[..read]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next().unwrap_or_default().split(' ');
    let method = request_line.next().unwrap_or_default().to_owned();
    let target = request_line.next().unwrap_or_default().to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(name, _)| name == "content-length")
        .and_then(|(_, value)| value.parse().ok())
        .unwrap_or(0);
    let mut body = buffer[head_end + 4..].to_vec();
    while body.len() < length {
        let read = stream.read(&mut chunk).await?;
        if read == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..read]);
    }
    body.truncate(length);
    let seen = Seen {
        method,
        target,
        headers,
        body,
    };
    let answer = handler(&seen);
    log.lock().unwrap().push(seen);
    match answer {
        Reply::Stall(duration) => tokio::time::sleep(duration).await,
        Reply::Respond {
            status,
            headers,
            body,
            declare_length,
        } => {
            let mut out = format!("HTTP/1.1 {status} Whatever\r\nConnection: close\r\n");
            if declare_length {
                out.push_str(&format!("Content-Length: {}\r\n", body.len()));
            }
            for (name, value) in headers {
                out.push_str(&format!("{name}: {value}\r\n"));
            }
            out.push_str("\r\n");
            stream.write_all(out.as_bytes()).await?;
            stream.write_all(&body).await?;
            stream.shutdown().await?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Helpers.

fn strict(allow: &[&str]) -> EgressConfig {
    EgressConfig {
        allow: allow.iter().map(|rule| rule.parse().unwrap()).collect(),
        ..EgressConfig::strict()
    }
}

fn egress(config: EgressConfig, resolver: &Arc<FakeResolver>) -> Egress {
    let resolver: Arc<dyn Resolver> = Arc::clone(resolver) as Arc<dyn Resolver>;
    Egress::with_resolver(config, resolver).unwrap()
}

async fn get(egress: &Egress, url: &str) -> Result<moclojer_egress::OutboundResponse, EgressError> {
    egress.send(OutboundRequest::get(url)).await
}

#[track_caller]
fn assert_refused(
    result: Result<moclojer_egress::OutboundResponse, EgressError>,
    expected_addr: &str,
    expected_reason: &str,
) {
    match result {
        Err(EgressError::Refused { addr, reason, .. }) => {
            assert_eq!(addr, expected_addr.parse::<IpAddr>().unwrap());
            assert_eq!(reason, expected_reason);
        }
        other => panic!("expected Refused({expected_addr}, {expected_reason}), got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Strict mode refusals: none of these ever opens a connection.

#[tokio::test]
async fn strict_refuses_loopback_metadata_and_their_disguises() {
    let resolver = FakeResolver::new(&[]);
    let guard = egress(strict(&[]), &resolver);
    let cases = [
        ("http://localhost/", "127.0.0.1", "loopback"),
        ("http://LOCALHOST.:8080/x", "127.0.0.1", "loopback"),
        ("http://app.localhost/", "127.0.0.1", "loopback"),
        ("http://127.0.0.1:1/", "127.0.0.1", "loopback"),
        ("http://127.1/", "127.0.0.1", "loopback"),
        ("http://0x7f000001/", "127.0.0.1", "loopback"),
        ("http://[::1]/", "::1", "loopback"),
        ("http://[::ffff:127.0.0.1]/", "::ffff:127.0.0.1", "loopback"),
        (
            "http://169.254.169.254/latest/meta-data",
            "169.254.169.254",
            "metadata",
        ),
        ("http://2852039166/", "169.254.169.254", "metadata"),
        ("http://0xA9FEA9FE/", "169.254.169.254", "metadata"),
        ("http://0251.0376.0251.0376/", "169.254.169.254", "metadata"),
        (
            "https://169.254.169.254:443/",
            "169.254.169.254",
            "metadata",
        ),
        ("http://[fd00:ec2::254]/", "fd00:ec2::254", "metadata"),
        (
            "http://[64:ff9b::a9fe:a9fe]/",
            "64:ff9b::a9fe:a9fe",
            "metadata",
        ),
        ("http://100.100.100.200/", "100.100.100.200", "metadata"),
        ("http://0.0.0.0/", "0.0.0.0", "unspecified"),
        ("http://0/", "0.0.0.0", "unspecified"),
        ("http://10.0.0.1/", "10.0.0.1", "private"),
        ("http://192.168.1.1:8443/", "192.168.1.1", "private"),
        ("http://100.64.0.1/", "100.64.0.1", "cgnat"),
        ("http://[fe80::1]/", "fe80::1", "link-local"),
        ("http://[fc00::1]/", "fc00::1", "unique-local"),
        ("http://255.255.255.255/", "255.255.255.255", "broadcast"),
        (
            "http://[2002:a9fe:a9fe::1]/",
            "2002:a9fe:a9fe::1",
            "metadata",
        ),
    ];
    for (url, addr, reason) in cases {
        let result = get(&guard, url).await;
        assert!(
            matches!(&result, Err(EgressError::Refused { .. })),
            "{url}: {result:?}"
        );
        assert_refused(result, addr, reason);
    }
    assert!(resolver.asked().is_empty(), "{:?}", resolver.asked());
}

#[tokio::test]
async fn strict_refuses_a_name_that_resolves_to_a_private_address() {
    let resolver = FakeResolver::new(&[("hooks.example", &["10.0.0.1"])]);
    let guard = egress(strict(&[]), &resolver);
    let started = Instant::now();
    let result = get(&guard, "http://hooks.example/hook").await;
    assert_refused(result.clone(), "10.0.0.1", "private");
    // A connection attempt to 10.0.0.1 could only fail slowly or differently; this one was
    // refused right after the lookup.
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(resolver.asked(), ["hooks.example"]);
    let message = result.unwrap_err().to_string();
    assert_eq!(
        message,
        "refused to call hooks.example (10.0.0.1): private addresses are not allowed"
    );
}

#[tokio::test]
async fn strict_checks_every_resolved_address() {
    let receiver = Receiver::start(|_| reply(200, "ok")).await;
    // The first answer is allowed (and reachable), the second is private: refused as a whole.
    let resolver = FakeResolver::new(&[("mixed.example", &["127.0.0.1", "10.0.0.1"])]);
    let guard = egress(strict(&["127.0.0.1/32"]), &resolver);
    let url = format!("http://mixed.example:{}/hook", receiver.addr.port());
    assert_refused(get(&guard, &url).await, "10.0.0.1", "private");
    assert!(receiver.seen().is_empty());
}

/// Answers each lookup with the next entry of a list (the last one repeats): a rebinding
/// DNS server.
#[derive(Debug)]
struct RebindingResolver {
    answers: Vec<IpAddr>,
    calls: Mutex<usize>,
}

impl Resolver for RebindingResolver {
    fn resolve(&self, _host: &str, port: u16) -> BoxFuture<'_, io::Result<Vec<SocketAddr>>> {
        let mut calls = self.calls.lock().unwrap();
        let answer = self.answers[(*calls).min(self.answers.len() - 1)];
        *calls += 1;
        Box::pin(async move { Ok(vec![SocketAddr::new(answer, port)]) })
    }
}

#[tokio::test]
async fn every_new_connection_is_checked_against_a_fresh_answer() {
    // The receiver closes each connection, so the second request needs a new one.
    let receiver = Receiver::start(|_| reply(200, "ok")).await;
    let rebinding = Arc::new(RebindingResolver {
        answers: vec!["127.0.0.1".parse().unwrap(), "10.0.0.1".parse().unwrap()],
        calls: Mutex::new(0),
    });
    let resolver: Arc<dyn Resolver> = Arc::clone(&rebinding) as Arc<dyn Resolver>;
    let guard = Egress::with_resolver(strict(&["127.0.0.1/32"]), resolver).unwrap();
    let url = format!("http://rebind.example:{}/hook", receiver.addr.port());
    let first = get(&guard, &url).await.unwrap();
    assert_eq!(first.remote_addr, Some(receiver.addr));
    assert_refused(get(&guard, &url).await, "10.0.0.1", "private");
    assert_eq!(*rebinding.calls.lock().unwrap(), 2);
    assert_eq!(receiver.hits("/hook"), 1);
}

#[tokio::test]
async fn strict_refuses_suspicious_names_without_a_lookup() {
    let resolver = FakeResolver::new(&[("metadata", &["8.8.8.8"])]);
    let guard = egress(strict(&[]), &resolver);
    for url in [
        "http://metadata/computeMetadata/v1/",
        "http://metadata.google.internal/",
    ] {
        let result = get(&guard, url).await;
        assert!(
            matches!(result, Err(EgressError::RefusedHost { .. })),
            "{url}: {result:?}"
        );
    }
    assert!(resolver.asked().is_empty());
}

#[tokio::test]
async fn lookup_failures_are_refusals() {
    let resolver = FakeResolver::new(&[("empty.example", &[])]);
    for config in [strict(&[]), EgressConfig::open()] {
        let guard = egress(config, &resolver);
        for url in ["http://missing.example/", "http://empty.example/"] {
            let result = get(&guard, url).await;
            assert!(
                matches!(result, Err(EgressError::Resolve(_))),
                "{url}: {result:?}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// What gets through.

#[tokio::test]
async fn strict_without_an_allow_rule_refuses_the_local_receiver() {
    let receiver = Receiver::start(|_| reply(200, "ok")).await;
    let resolver = FakeResolver::new(&[]);
    let guard = egress(strict(&[]), &resolver);
    assert_refused(
        get(&guard, &receiver.url("/hook")).await,
        "127.0.0.1",
        "loopback",
    );
    assert!(receiver.seen().is_empty());
}

#[tokio::test]
async fn allow_rules_let_a_loopback_receiver_through() {
    let receiver = Receiver::start(|_| reply(200, "ok")).await;
    let port = receiver.addr.port();
    let resolver = FakeResolver::new(&[
        ("receiver.example", &["127.0.0.1"]),
        ("hooks.receiver.example", &["127.0.0.1"]),
    ]);

    let by_address = egress(strict(&["127.0.0.1/32"]), &resolver);
    let response = get(&by_address, &receiver.url("/by-address"))
        .await
        .unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(response.body, Bytes::from_static(b"ok"));
    assert_eq!(response.remote_addr, Some(receiver.addr));
    // The same rule allows a name whose answers are all inside it.
    let url = format!("http://receiver.example:{port}/by-address-name");
    get(&by_address, &url).await.unwrap();

    let by_name = egress(strict(&["receiver.example"]), &resolver);
    let url = format!("http://receiver.example:{port}/by-name");
    let response = get(&by_name, &url).await.unwrap();
    assert_eq!(response.remote_addr, Some(receiver.addr));

    let by_suffix = egress(strict(&["*.receiver.example"]), &resolver);
    let url = format!("http://hooks.receiver.example:{port}/by-suffix");
    get(&by_suffix, &url).await.unwrap();
    // A suffix rule does not cover the bare domain.
    let url = format!("http://receiver.example:{port}/not-covered");
    assert_refused(get(&by_suffix, &url).await, "127.0.0.1", "loopback");

    for path in ["/by-address", "/by-address-name", "/by-name", "/by-suffix"] {
        assert_eq!(receiver.hits(path), 1, "{path}");
    }
    assert_eq!(receiver.hits("/not-covered"), 0);
}

#[tokio::test]
async fn open_reaches_a_local_receiver_with_method_headers_and_body() {
    let receiver = Receiver::start(|_| Reply::Respond {
        status: 201,
        headers: vec![("X-Reply", "yes".to_owned())],
        body: b"{\"received\":true}".to_vec(),
        declare_length: true,
    })
    .await;
    // The system resolver: it is never consulted for an IP literal or localhost.
    let guard = Egress::new(EgressConfig::open()).unwrap();
    let request = OutboundRequest {
        method: Method::PUT,
        url: receiver.url("/hooks/42?source=moclojer"),
        headers: vec![
            ("Content-Type".to_owned(), "application/json".to_owned()),
            ("X-Token".to_owned(), "abc".to_owned()),
            ("Host".to_owned(), "spoofed.example".to_owned()),
        ],
        body: Bytes::from_static(b"{\"id\":42}"),
    };
    let response = guard.send(request).await.unwrap();
    assert_eq!(response.status, 201);
    assert_eq!(response.header("x-reply"), Some("yes"));
    assert_eq!(response.body, Bytes::from_static(b"{\"received\":true}"));

    let seen = receiver.seen();
    assert_eq!(seen.len(), 1);
    let seen = &seen[0];
    assert_eq!(seen.method, "PUT");
    assert_eq!(seen.target, "/hooks/42?source=moclojer");
    assert_eq!(seen.header("content-type"), Some("application/json"));
    assert_eq!(seen.header("x-token"), Some("abc"));
    assert_eq!(
        seen.header("host"),
        Some(receiver.addr.to_string().as_str())
    );
    assert_eq!(seen.body, b"{\"id\":42}");

    // `localhost` means loopback without asking DNS, in every mode.
    let url = format!("http://localhost:{}/by-name", receiver.addr.port());
    assert_eq!(get(&guard, &url).await.unwrap().status, 201);
    assert_eq!(receiver.hits("/by-name"), 1);

    // Error statuses are responses, not errors.
    let failing = Receiver::start(|_| reply(500, "boom")).await;
    let response = get(&guard, &failing.url("/")).await.unwrap();
    assert_eq!(
        (response.status, response.body),
        (500, Bytes::from_static(b"boom"))
    );
}

#[tokio::test]
async fn open_also_resolves_names_through_the_resolver() {
    let receiver = Receiver::start(|_| reply(200, "ok")).await;
    let resolver = FakeResolver::new(&[("devbox", &["127.0.0.1"])]);
    let guard = egress(EgressConfig::open(), &resolver);
    let url = format!("http://devbox:{}/x", receiver.addr.port());
    assert_eq!(get(&guard, &url).await.unwrap().status, 200);
    assert_eq!(resolver.asked(), ["devbox"]);
}

#[tokio::test]
async fn clones_share_one_guard() {
    let receiver = Receiver::start(|_| reply(200, "ok")).await;
    let resolver = FakeResolver::new(&[]);
    let guard = egress(strict(&["127.0.0.1"]), &resolver);
    let clone = guard.clone();
    assert_eq!(clone.config().policy, Policy::Strict);
    get(&clone, &receiver.url("/a")).await.unwrap();
    get(&guard, &receiver.url("/b")).await.unwrap();
    assert_eq!(receiver.seen().len(), 2);
}

// ---------------------------------------------------------------------------------------------
// Redirects, sizes, time.

#[tokio::test]
async fn redirects_are_never_followed() {
    let receiver = Receiver::start(|seen| match seen.target.as_str() {
        "/start" => Reply::Respond {
            status: 302,
            headers: vec![("Location", "/other".to_owned())],
            body: Vec::new(),
            declare_length: true,
        },
        "/permanent" => Reply::Respond {
            status: 308,
            headers: vec![("Location", "http://169.254.169.254/".to_owned())],
            body: Vec::new(),
            declare_length: true,
        },
        "/not-modified" => Reply::Respond {
            status: 304,
            headers: Vec::new(),
            body: Vec::new(),
            declare_length: false,
        },
        _ => reply(200, "other"),
    })
    .await;
    let guard = egress(EgressConfig::open(), &FakeResolver::new(&[]));

    let result = get(&guard, &receiver.url("/start")).await;
    assert_eq!(
        result,
        Err(EgressError::Redirect {
            status: 302,
            location: Some("/other".to_owned()),
        })
    );
    let result = get(&guard, &receiver.url("/permanent")).await;
    assert!(
        matches!(result, Err(EgressError::Redirect { status: 308, .. })),
        "{result:?}"
    );
    assert_eq!(receiver.hits("/start"), 1);
    assert_eq!(receiver.hits("/permanent"), 1);
    assert_eq!(receiver.hits("/other"), 0);
    assert_eq!(receiver.seen().len(), 2);

    // A 304 is not a redirect to follow: it is returned.
    let response = get(&guard, &receiver.url("/not-modified")).await.unwrap();
    assert_eq!(response.status, 304);
}

#[tokio::test]
async fn response_bodies_are_capped() {
    let big = vec![b'x'; 64 * 1024];
    let receiver = Receiver::start(move |seen| {
        let (body, declare_length) = match seen.target.as_str() {
            "/exact" => (vec![b'x'; 16], true),
            "/declared" => (vec![b'x'; 17], true),
            "/undeclared" => (big.clone(), false),
            "/undeclared-exact" => (vec![b'y'; 16], false),
            _ => (Vec::new(), true),
        };
        Reply::Respond {
            status: 200,
            headers: Vec::new(),
            body,
            declare_length,
        }
    })
    .await;
    let config = EgressConfig {
        max_response_bytes: 16,
        ..EgressConfig::open()
    };
    let guard = egress(config, &FakeResolver::new(&[]));

    let exact = get(&guard, &receiver.url("/exact")).await.unwrap();
    assert_eq!(exact.body.len(), 16);
    let exact = get(&guard, &receiver.url("/undeclared-exact"))
        .await
        .unwrap();
    assert_eq!(exact.body, Bytes::from_static(b"yyyyyyyyyyyyyyyy"));
    for path in ["/declared", "/undeclared"] {
        let result = get(&guard, &receiver.url(path)).await;
        assert_eq!(result, Err(EgressError::TooLarge { limit: 16 }), "{path}");
    }

    // A caller's own, tighter limit; a looser one does not lift the configuration's.
    for path in ["/exact", "/undeclared-exact"] {
        let result = guard
            .send_limited(OutboundRequest::get(receiver.url(path)), 15)
            .await;
        assert_eq!(result, Err(EgressError::TooLarge { limit: 15 }), "{path}");
    }
    let result = guard
        .send_limited(OutboundRequest::get(receiver.url("/declared")), 1_000)
        .await;
    assert_eq!(result, Err(EgressError::TooLarge { limit: 16 }));
}

#[tokio::test]
async fn request_bodies_are_capped_before_anything_is_sent() {
    let receiver = Receiver::start(|_| reply(200, "ok")).await;
    let config = EgressConfig {
        max_request_bytes: 8,
        ..EgressConfig::open()
    };
    let guard = egress(config, &FakeResolver::new(&[]));
    let request = |body: &'static [u8]| OutboundRequest {
        method: Method::POST,
        url: receiver.url("/hook"),
        headers: Vec::new(),
        body: Bytes::from_static(body),
    };
    let result = guard.send(request(b"123456789")).await;
    assert_eq!(result, Err(EgressError::RequestTooLarge { limit: 8 }));
    assert!(receiver.seen().is_empty());
    guard.send(request(b"12345678")).await.unwrap();
    assert_eq!(receiver.seen()[0].body, b"12345678");
}

#[tokio::test]
async fn a_slow_server_times_out() {
    let receiver = Receiver::start(|_| Reply::Stall(Duration::from_secs(10))).await;
    let config = EgressConfig {
        connect_timeout: Duration::from_millis(200),
        total_timeout: Duration::from_millis(300),
        ..EgressConfig::open()
    };
    let guard = egress(config, &FakeResolver::new(&[]));
    let started = Instant::now();
    let result = get(&guard, &receiver.url("/slow")).await;
    assert_eq!(result, Err(EgressError::Timeout));
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(receiver.hits("/slow"), 1);
}

// ---------------------------------------------------------------------------------------------
// URLs that are refused before any lookup.

#[tokio::test]
async fn only_http_and_https_schemes() {
    let guard = egress(EgressConfig::open(), &FakeResolver::new(&[]));
    for (url, scheme) in [
        ("ftp://example.com/file", "ftp"),
        ("file:///etc/passwd", "file"),
        ("FILE:///etc/passwd", "file"),
        ("gopher://127.0.0.1:6379/_INFO", "gopher"),
        ("data:text/plain,hello", "data"),
        ("ws://example.com/", "ws"),
    ] {
        let result = get(&guard, url).await;
        assert_eq!(
            result,
            Err(EgressError::SchemeNotAllowed(scheme.to_owned())),
            "{url}"
        );
    }
}

#[tokio::test]
async fn malformed_urls() {
    let guard = egress(EgressConfig::open(), &FakeResolver::new(&[]));
    for url in [
        "",
        "not a url",
        "/relative/path",
        "http://",
        "http://[::1",
        "http://exa mple.com/",
        "http://[fe80::1%25eth0]/",
        "http://256.256.256.256/",
    ] {
        let result = get(&guard, url).await;
        assert!(
            matches!(result, Err(EgressError::BadUrl(_))),
            "{url:?}: {result:?}"
        );
    }
}

#[tokio::test]
async fn urls_with_credentials_are_refused_in_every_mode() {
    let receiver = Receiver::start(|_| reply(200, "ok")).await;
    let port = receiver.addr.port();
    for config in [EgressConfig::open(), strict(&["127.0.0.1"])] {
        let guard = egress(config, &FakeResolver::new(&[]));
        for url in [
            format!("http://user:secret@127.0.0.1:{port}/"),
            format!("http://user@127.0.0.1:{port}/"),
            "http://ok.example@169.254.169.254/".to_owned(),
        ] {
            let result = get(&guard, &url).await;
            assert!(
                matches!(result, Err(EgressError::BadUrl(_))),
                "{url}: {result:?}"
            );
        }
    }
    assert!(receiver.seen().is_empty());
}

#[tokio::test]
async fn invalid_headers_are_bad_requests() {
    let guard = egress(EgressConfig::open(), &FakeResolver::new(&[]));
    let request = OutboundRequest {
        headers: vec![("X-Bad".to_owned(), "a\r\nInjected: yes".to_owned())],
        ..OutboundRequest::get("http://127.0.0.1:1/")
    };
    let result = guard.send(request).await;
    assert!(
        matches!(result, Err(EgressError::BadRequest(_))),
        "{result:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Transport failures, on loopback only.

#[tokio::test]
async fn transport_failures_are_http_errors() {
    // A port that was just free: nothing listens there.
    let closed = {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap()
    };
    let guard = egress(EgressConfig::open(), &FakeResolver::new(&[]));
    let result = get(&guard, &format!("http://{closed}/")).await;
    assert!(matches!(result, Err(EgressError::Http(_))), "{result:?}");

    // TLS (rustls) against a server that answers in plain HTTP fails the handshake.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let plain = listener.local_addr().unwrap();
    tokio::spawn(async move {
        if let Ok((mut stream, _)) = listener.accept().await {
            let answer = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
            let _ignored = stream.write_all(answer).await;
            let _ignored = stream.shutdown().await;
        }
    });
    let result = get(&guard, &format!("https://{plain}/")).await;
    assert!(matches!(result, Err(EgressError::Http(_))), "{result:?}");

    // A TLS handshake that never completes is bounded by the connect timeout.
    let receiver = Receiver::start(|_| reply(200, "never parsed")).await;
    let config = EgressConfig {
        connect_timeout: Duration::from_millis(200),
        ..EgressConfig::open()
    };
    let impatient = egress(config, &FakeResolver::new(&[]));
    let result = get(&impatient, &format!("https://{}/", receiver.addr)).await;
    assert_eq!(result, Err(EgressError::Timeout));
}

// ---------------------------------------------------------------------------------------------
// The guard as the `HttpClient` port that provider adapters send through.

#[tokio::test]
async fn as_the_http_client_port_it_sends_and_maps_refusals_to_port_errors() {
    use moclojer_ports::{HttpClient, HttpRequest, PortErrorKind};
    let receiver = Receiver::start(|seen| Reply::Respond {
        status: 201,
        headers: vec![("x-seen", seen.method.clone())],
        body: b"made".to_vec(),
        declare_length: true,
    })
    .await;
    let open: Arc<dyn HttpClient> = Arc::new(Egress::new(EgressConfig::open()).unwrap());
    let answer = open
        .send(HttpRequest {
            method: http::Method::POST,
            url: receiver.url("/records"),
            headers: vec![("authorization".to_owned(), "Bearer t".to_owned())],
            body: Bytes::from_static(b"{}"),
        })
        .await
        .expect("sent");
    assert_eq!(answer.status, 201);
    assert_eq!(answer.header("X-Seen"), Some("POST"));
    assert_eq!(&answer.body[..], b"made");

    let strict: Arc<dyn HttpClient> = Arc::new(Egress::new(EgressConfig::strict()).unwrap());
    let refused = strict
        .send(HttpRequest {
            method: http::Method::GET,
            url: receiver.url("/"),
            headers: Vec::new(),
            body: Bytes::new(),
        })
        .await
        .expect_err("loopback is refused under strict");
    assert_eq!(refused.kind(), PortErrorKind::Invalid, "{refused}");
    assert_eq!(
        receiver.seen.lock().unwrap().len(),
        1,
        "nothing sent when refused"
    );

    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead = closed.local_addr().unwrap();
    drop(closed);
    let unreachable = open
        .send(HttpRequest {
            method: http::Method::GET,
            url: format!("http://{dead}/"),
            headers: Vec::new(),
            body: Bytes::new(),
        })
        .await
        .expect_err("nothing listens");
    assert_eq!(
        unreachable.kind(),
        PortErrorKind::Unavailable,
        "{unreachable}"
    );
}
