//! The proxy on real sockets, in front of two tiny upstream HTTP servers that answer with
//! their own id, the `Host` they saw and the forwarding headers they got.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use moclojer_domain::shard_of;
use moclojer_proxy::{App, Config, ProxyError, RateLimit, ShardUpstreams};
use moclojer_wiring::{App as _, Resolver};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};

const HOST_A: &str = "hello-alice.localhost";
const HOST_B: &str = "shop-bob.localhost";

/// An upstream that answers every request with `key=value` lines about what it received;
/// `/slow` answers after 400 ms. Dropping (or killing) it closes its listener and every
/// connection it holds.
struct Upstream {
    addr: SocketAddr,
    task: JoinHandle<()>,
    /// Told when a `/slow` request reaches this upstream.
    slow_started: Arc<tokio::sync::Notify>,
}

impl Upstream {
    async fn start(id: &'static str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let slow_started = Arc::new(tokio::sync::Notify::new());
        let started = Arc::clone(&slow_started);
        let task = tokio::spawn(async move {
            let mut connections = JoinSet::new();
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let started = Arc::clone(&started);
                connections.spawn(async move {
                    let service =
                        service_fn(move |mut request: http::Request<hyper::body::Incoming>| {
                            let started = Arc::clone(&started);
                            async move {
                                if let Some(answer) = special(&mut request, id) {
                                    return Ok::<_, Infallible>(answer);
                                }
                                let header = |name: &str| {
                                    request
                                        .headers()
                                        .get_all(name)
                                        .iter()
                                        .map(|v| v.to_str().unwrap_or("?").to_owned())
                                        .collect::<Vec<_>>()
                                        .join("|")
                                };
                                let mut text = format!(
                                    "id={id}\nhost={}\nxff={}\nxfp={}\nxfh={}\nxri={}\npath={}\n",
                                    header("host"),
                                    header("x-forwarded-for"),
                                    header("x-forwarded-proto"),
                                    header("x-forwarded-host"),
                                    header("x-real-ip"),
                                    request.uri().path(),
                                );
                                let slow = request.uri().path() == "/slow";
                                let body = request
                                    .into_body()
                                    .collect()
                                    .await
                                    .map(|b| b.to_bytes().len());
                                text.push_str(&format!("body={}\n", body.unwrap_or(usize::MAX)));
                                if slow {
                                    started.notify_one();
                                    tokio::time::sleep(Duration::from_millis(400)).await;
                                }
                                Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from(
                                    text,
                                ))))
                            }
                        });
                    http1::Builder::new()
                        .serve_connection(TokioIo::new(tcp), service)
                        .with_upgrades()
                        .await
                        .ok();
                });
            }
        });
        Self {
            addr,
            task,
            slow_started,
        }
    }

    fn kill(&self) {
        self.task.abort();
    }
}

/// The upstream's special answers: the health check gets 503 from an upstream whose id is
/// `unready` (as foss answers before it has read its configuration); `/empty-400` (an
/// empty 400 that looks like pingora's own), `/big` (3 MiB of body), `/chunked` (a chunked
/// body), `/upgrade` (a `101` to an echo protocol).
fn special(
    request: &mut http::Request<hyper::body::Incoming>,
    id: &str,
) -> Option<http::Response<Full<Bytes>>> {
    let answer = http::Response::builder();
    let health = request
        .headers()
        .get("host")
        .is_some_and(|h| h.as_bytes() == moclojer_ports::HEALTH_CHECK_HOST.as_bytes());
    if health && id == "unready" {
        return answer
            .status(503)
            .body(Full::new(Bytes::from_static(b"not ready")))
            .ok();
    }
    match request.uri().path() {
        "/empty-400" => answer
            .status(400)
            .header("server", "Pingora")
            .header("date", "Sun, 06 Nov 1994 08:49:37 GMT")
            .header("cache-control", "private, no-store")
            .body(Full::new(Bytes::new()))
            .ok(),
        "/big" => answer
            .body(Full::new(Bytes::from(vec![b'x'; 3 * 1024 * 1024])))
            .ok(),
        "/chunked" => answer
            .header("transfer-encoding", "chunked")
            .body(Full::new(Bytes::from_static(b"chunked body")))
            .ok(),
        "/upgrade" => {
            let upgrade = hyper::upgrade::on(request);
            tokio::spawn(async move {
                let Ok(upgraded) = upgrade.await else { return };
                let mut io = TokioIo::new(upgraded);
                let mut buf = [0u8; 1024];
                // Echoes each read back with a prefix, until the client closes.
                while let Ok(n) = io.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    let mut echoed = b"echo:".to_vec();
                    echoed.extend_from_slice(&buf[..n]);
                    if io.write_all(&echoed).await.is_err() {
                        break;
                    }
                }
            });
            answer
                .status(101)
                .header("upgrade", "echo")
                .header("connection", "upgrade")
                .body(Full::new(Bytes::new()))
                .ok()
        }
        _ => None,
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Proxy {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

impl Proxy {
    async fn start(config: Config) -> Self {
        Self::start_with(config).await.0
    }

    /// The proxy, and its admin endpoints on the returned address.
    async fn start_with_admin(mut config: Config) -> (Self, SocketAddr) {
        config.admin_addr = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
        let (proxy, admin) = Self::start_with(config).await;
        (proxy, admin.expect("the admin listener is bound"))
    }

    /// An [`App`] on port 0, running until stopped, and where its admin endpoints listen
    /// if anywhere.
    async fn start_with(mut config: Config) -> (Self, Option<SocketAddr>) {
        config.addr = SocketAddr::from(([127, 0, 0, 1], 0));
        let app = App::build(config, &Resolver::default()).await.unwrap();
        let (addr, admin) = (app.addr(), app.admin_addr());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(app.run(async move {
            stopped.await.ok();
        }));
        let proxy = Self {
            addr,
            stop: Some(stop),
            task: Some(task),
        };
        (proxy, admin)
    }

    async fn stop(&mut self) -> Duration {
        let started = Instant::now();
        self.stop.take().unwrap().send(()).ok();
        tokio::time::timeout(Duration::from_secs(10), self.task.take().unwrap())
            .await
            .expect("the proxy stops in time")
            .unwrap()
            .unwrap();
        started.elapsed()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            stop.send(()).ok();
        }
    }
}

fn config(upstreams: &[&Upstream]) -> Config {
    let mut config = Config::new(upstreams.iter().map(|u| u.addr).collect());
    config.health_check_interval = Duration::from_millis(50);
    config.connect_timeout = Duration::from_millis(200);
    config.grace = Duration::from_secs(3);
    config.rate_limit = None;
    config
}

#[derive(Debug)]
struct Response {
    status: u16,
    head: String,
    body: String,
}

impl Response {
    /// The upstream's `key=value` lines.
    fn seen(&self) -> HashMap<String, String> {
        self.body
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }
}

/// Sends raw bytes (which should ask for `Connection: close`) and reads the answer to EOF.
async fn send(addr: SocketAddr, raw: &[u8]) -> Response {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(raw).await.unwrap();
    read_to_close(&mut tcp).await
}

fn parse(out: &[u8]) -> Response {
    let text = String::from_utf8_lossy(out).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Response {
        status,
        head: head.to_ascii_lowercase(),
        body: body.to_owned(),
    }
}

async fn get(addr: SocketAddr, host: &str, extra: &str) -> Response {
    send(
        addr,
        format!("GET /hello HTTP/1.1\r\nHost: {host}\r\n{extra}Connection: close\r\n\r\n")
            .as_bytes(),
    )
    .await
}

fn assert_small_json(response: &Response, code: &str) {
    assert!(
        response.head.contains("content-type: application/json"),
        "{response:?}"
    );
    assert!(
        response.body.starts_with(r#"{"error":{"code":""#) && response.body.contains(code),
        "{response:?}"
    );
    assert!(!response.body.contains("127.0.0.1"), "{response:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_by_host_round_robin_across_both_upstreams() {
    let (a, b) = (Upstream::start("a").await, Upstream::start("b").await);
    let proxy = Proxy::start(config(&[&a, &b])).await;
    let mut ids = HashMap::<String, usize>::new();
    for _ in 0..10 {
        let response = get(proxy.addr, "Hello-Alice.localhost:8080", "").await;
        assert_eq!(response.status, 200, "{response:?}");
        let seen = response.seen();
        assert_eq!(seen["host"], "Hello-Alice.localhost:8080");
        assert_eq!(seen["xff"], "127.0.0.1");
        assert_eq!(seen["xfp"], "http");
        *ids.entry(seen["id"].clone()).or_default() += 1;
    }
    assert_eq!(ids.get("a"), Some(&5), "{ids:?}");
    assert_eq!(ids.get("b"), Some(&5), "{ids:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_headers_append_the_peer_and_never_route_by_x_forwarded_host() {
    let a = Upstream::start("a").await;
    let proxy = Proxy::start(config(&[&a])).await;

    let response = get(
        proxy.addr,
        HOST_A,
        "X-Forwarded-Host: shop-bob.localhost\r\nX-Forwarded-For: 10.1.2.3\r\n\
         X-Forwarded-Proto: https\r\nX-Real-IP: 10.9.9.9\r\n",
    )
    .await;
    assert_eq!(response.status, 200, "{response:?}");
    let seen = response.seen();
    assert_eq!(seen["host"], HOST_A);
    assert_eq!(seen["xfh"], "", "X-Forwarded-Host is not passed on");
    assert_eq!(seen["xff"], "10.1.2.3, 127.0.0.1");
    // No front is trusted: the client's own claims are not believed.
    assert_eq!(seen["xfp"], "http");
    assert_eq!(seen["xri"], "127.0.0.1");

    // A valid X-Forwarded-Host does not rescue an unknown Host.
    let response = get(
        proxy.addr,
        "example.com",
        "X-Forwarded-Host: hello-alice.localhost\r\n",
    )
    .await;
    assert_eq!(response.status, 404, "{response:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trusted_front_names_the_client_and_the_scheme_and_no_one_else_does() {
    let a = Upstream::start("a").await;
    let mut config = config(&[&a]);
    // The balancer in front connects from 127.0.0.2; clients elsewhere are not believed.
    config.trusted_fronts = "127.0.0.2".parse().unwrap();
    let proxy = Proxy::start(config).await;
    let ask = |from: &'static str, extra: &'static str| async move {
        let mut tcp = connect_from(from, proxy.addr).await;
        tcp.write_all(
            format!("GET /hello HTTP/1.1\r\nHost: {HOST_A}\r\n{extra}Connection: close\r\n\r\n")
                .as_bytes(),
        )
        .await
        .unwrap();
        let response = read_to_close(&mut tcp).await;
        assert_eq!(response.status, 200, "{response:?}");
        response.seen()
    };

    // Through the front: the client the front saw (the rightmost entry it does not
    // trust; what the client wrote to the left is passed over) and its HTTPS.
    let seen = ask(
        "127.0.0.2",
        "X-Forwarded-For: 6.6.6.6, 198.51.100.7\r\nX-Forwarded-Proto: https\r\n\
         X-Real-IP: 6.6.6.6\r\n",
    )
    .await;
    assert_eq!(seen["xri"], "198.51.100.7");
    assert_eq!(seen["xfp"], "https");
    assert_eq!(seen["xff"], "6.6.6.6, 198.51.100.7, 127.0.0.2");

    // The front without a chain is the client itself; plain HTTP unless it says HTTPS.
    let seen = ask("127.0.0.2", "X-Forwarded-Proto: gopher\r\n").await;
    assert_eq!(seen["xri"], "127.0.0.2");
    assert_eq!(seen["xfp"], "http");

    // Anyone else saying the same is its own client, on plain HTTP.
    let seen = ask(
        "127.0.0.3",
        "X-Forwarded-For: 198.51.100.7\r\nX-Forwarded-Proto: https\r\n\
         X-Real-IP: 198.51.100.7\r\n",
    )
    .await;
    assert_eq!(seen["xri"], "127.0.0.3");
    assert_eq!(seen["xfp"], "http");
    assert_eq!(seen["xff"], "198.51.100.7, 127.0.0.3");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_upstream_leaves_the_rotation_without_failed_requests() {
    let (a, b) = (Upstream::start("a").await, Upstream::start("b").await);
    let proxy = Proxy::start(config(&[&a, &b])).await;
    for _ in 0..4 {
        assert_eq!(get(proxy.addr, HOST_A, "").await.status, 200);
    }
    b.kill();
    // Three health-check periods: the check has noticed.
    tokio::time::sleep(Duration::from_millis(150)).await;
    for _ in 0..20 {
        let response = get(proxy.addr, HOST_A, "").await;
        assert_eq!(response.status, 200, "{response:?}");
        assert_eq!(response.seen()["id"], "a");
    }

    // With every upstream gone the proxy says so itself, without internals.
    a.kill();
    tokio::time::sleep(Duration::from_millis(150)).await;
    let response = get(proxy.addr, HOST_A, "").await;
    assert!(matches!(response.status, 502 | 503), "{response:?}");
    assert_small_json(&response, "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_that_accepts_but_never_answers_leaves_the_rotation() {
    let a = Upstream::start("a").await;
    // Accepts connections and reads, but never answers: a TCP check would keep it. It
    // counts the probes that gave up on it (closed their connection).
    let stuck = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let stuck_addr = stuck.local_addr().unwrap();
    let (gave_up, mut given_up) = tokio::sync::mpsc::unbounded_channel::<()>();
    let hung = tokio::spawn(async move {
        let mut held = JoinSet::new();
        while let Ok((mut tcp, _)) = stuck.accept().await {
            let gave_up = gave_up.clone();
            held.spawn(async move {
                let mut sink = [0_u8; 1024];
                while tcp.read(&mut sink).await.is_ok_and(|n| n > 0) {}
                gave_up.send(()).ok();
            });
        }
    });
    let mut config = config(&[&a]);
    config.upstreams.push(stuck_addr);
    let proxy = Proxy::start(config).await;
    // Two failed probes: the first one's verdict is recorded before the second starts.
    tokio::time::timeout(Duration::from_secs(5), async {
        for _ in 0..2 {
            given_up.recv().await.expect("probes");
        }
    })
    .await
    .expect("the health check probes the stuck upstream and gives up");
    for _ in 0..20 {
        let response = tokio::time::timeout(Duration::from_secs(2), get(proxy.addr, HOST_A, ""))
            .await
            .expect("answered, not sent to the stuck upstream");
        assert_eq!(response.status, 200, "{response:?}");
        assert_eq!(response.seen()["id"], "a");
    }
    hung.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_length_with_transfer_encoding_is_400() {
    let a = Upstream::start("a").await;
    let proxy = Proxy::start(config(&[&a])).await;
    let response = send(
        proxy.addr,
        format!(
            "POST /hello HTTP/1.1\r\nHost: {HOST_A}\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: {HOST_A}\r\n\r\n"
        )
        .as_bytes(),
    )
    .await;
    assert_eq!(response.status, 400, "{response:?}");
    assert_small_json(&response, "bad_request");
    assert!(
        !response.body.contains("id="),
        "nothing reached an upstream"
    );
    assert_eq!(
        response.head.matches("http/1.1").count(),
        1,
        "one answer, then close"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_bodies_are_413_declared_or_streamed() {
    let a = Upstream::start("a").await;
    let mut config = config(&[&a]);
    config.max_body_bytes = 1024;
    let proxy = Proxy::start(config).await;

    let small = send(
        proxy.addr,
        format!("POST /hello HTTP/1.1\r\nHost: {HOST_A}\r\nContent-Length: 1024\r\nConnection: close\r\n\r\n{}", "x".repeat(1024)).as_bytes(),
    )
    .await;
    assert_eq!(small.status, 200, "{small:?}");
    assert_eq!(small.seen()["body"], "1024");

    let declared = send(
        proxy.addr,
        format!("POST /hello HTTP/1.1\r\nHost: {HOST_A}\r\nContent-Length: 1025\r\nConnection: close\r\n\r\n{}", "x".repeat(1025)).as_bytes(),
    )
    .await;
    assert_eq!(declared.status, 413, "{declared:?}");
    assert_small_json(&declared, "payload_too_large");

    let chunk = format!("200\r\n{}\r\n", "y".repeat(512));
    let streamed = send(
        proxy.addr,
        format!(
            "POST /hello HTTP/1.1\r\nHost: {HOST_A}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{}0\r\n\r\n",
            chunk.repeat(3)
        )
        .as_bytes(),
    )
    .await;
    assert_eq!(streamed.status, 413, "{streamed:?}");
    assert_small_json(&streamed, "payload_too_large");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_headers_are_431() {
    let a = Upstream::start("a").await;
    let mut config = config(&[&a]);
    config.max_header_bytes = 2048;
    let proxy = Proxy::start(config).await;
    let fine = get(
        proxy.addr,
        HOST_A,
        &format!("X-Pad: {}\r\n", "p".repeat(1500)),
    )
    .await;
    assert_eq!(fine.status, 200, "{fine:?}");
    let big = get(
        proxy.addr,
        HOST_A,
        &format!("X-Pad: {}\r\n", "p".repeat(3000)),
    )
    .await;
    assert_eq!(big.status, 431, "{big:?}");
    assert_small_json(&big, "header_too_large");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_request_targets_are_414() {
    let a = Upstream::start("a").await;
    let proxy = Proxy::start(config(&[&a])).await;
    let target = |length: usize| {
        let query = "q".repeat(length - "/hello?".len());
        format!("GET /hello?{query} HTTP/1.1\r\nHost: {HOST_A}\r\nConnection: close\r\n\r\n")
    };
    let fine = send(proxy.addr, target(moclojer_ports::MAX_URI_BYTES).as_bytes()).await;
    assert_eq!(fine.status, 200, "{fine:?}");
    let long = send(
        proxy.addr,
        target(moclojer_ports::MAX_URI_BYTES + 1).as_bytes(),
    )
    .await;
    assert_eq!(long.status, 414, "{long:?}");
    assert_small_json(&long, "uri_too_long");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_header_clients_are_cut_off_while_others_are_served() {
    let a = Upstream::start("a").await;
    let mut config = config(&[&a]);
    config.header_timeout = Duration::from_millis(400);
    let proxy = Proxy::start(config).await;

    // 200 clients drip their headers at once (a slowloris attack).
    let addr = proxy.addr;
    let slow: Vec<_> = (0..200)
        .map(|_| {
            tokio::spawn(async move {
                let started = Instant::now();
                let mut tcp = TcpStream::connect(addr).await.unwrap();
                tcp.write_all(b"GET /hello HTTP/1.1\r\n").await.unwrap();
                // One header byte every 50 ms: every read is quick, the header never ends.
                for byte in format!("Host: {HOST_A}\r\nX-Drip: {}", "d".repeat(100)).bytes() {
                    if tcp.write_all(&[byte]).await.is_err() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    if started.elapsed() > Duration::from_secs(3) {
                        break;
                    }
                }
                let mut out = Vec::new();
                tokio::time::timeout(Duration::from_secs(1), tcp.read_to_end(&mut out))
                    .await
                    .ok();
                (started.elapsed(), parse(&out).status)
            })
        })
        .collect();

    // Meanwhile, others are served promptly.
    for _ in 0..5 {
        let started = Instant::now();
        let response = get(proxy.addr, HOST_A, "").await;
        assert_eq!(response.status, 200, "{response:?}");
        assert!(started.elapsed() < Duration::from_millis(300));
        tokio::time::sleep(Duration::from_millis(60)).await;
    }

    for client in slow {
        let (took, status) = client.await.unwrap();
        assert_eq!(
            status, 408,
            "a slow client is told, not answered by an upstream"
        );
        assert!(
            took < Duration::from_secs(2),
            "cut off after {took:?}, with a 400 ms header timeout (the drip lasts 3 s)"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rate_limit_is_per_host_and_ignores_x_forwarded_for() {
    let a = Upstream::start("a").await;
    let mut config = config(&[&a]);
    config.rate_limit = Some(RateLimit {
        per_second: 0.5,
        burst: 3,
        ..RateLimit::default()
    });
    let proxy = Proxy::start(config).await;

    for i in 0..3 {
        let response = get(
            proxy.addr,
            HOST_A,
            &format!("X-Forwarded-For: 10.0.0.{i}\r\n"),
        )
        .await;
        assert_eq!(response.status, 200, "{response:?}");
    }
    for i in 3..6 {
        // A new X-Forwarded-For, a different case and a port: still the same host.
        let response = get(
            proxy.addr,
            "HELLO-alice.localhost:80",
            &format!("X-Forwarded-For: 10.0.0.{i}\r\n"),
        )
        .await;
        assert_eq!(response.status, 429, "{response:?}");
        assert!(response.head.contains("retry-after: "), "{response:?}");
        assert_small_json(&response, "rate_limited");
    }
    for _ in 0..3 {
        let response = get(proxy.addr, HOST_B, "").await;
        assert_eq!(
            response.status, 200,
            "another host is untouched: {response:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_hosts_are_404_and_bad_hosts_400() {
    let a = Upstream::start("a").await;
    let proxy = Proxy::start(config(&[&a])).await;

    for host in [
        "example.com",
        "localhost",
        "nodash.localhost",
        "hello-alice.elsewhere.test",
        "hello-al_ice.localhost",
        "127.0.0.1",
    ] {
        let response = get(proxy.addr, host, "").await;
        assert_eq!(response.status, 404, "{host}: {response:?}");
        assert_small_json(&response, "not_found");
    }

    let missing = send(
        proxy.addr,
        b"GET /hello HTTP/1.1\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(missing.status, 400, "{missing:?}");
    assert_small_json(&missing, "bad_request");
    let empty = get(proxy.addr, "", "").await;
    assert_eq!(empty.status, 400, "{empty:?}");
    let twice = get(proxy.addr, HOST_A, &format!("Host: {HOST_B}\r\n")).await;
    assert_eq!(twice.status, 400, "{twice:?}");
    let junk = get(proxy.addr, "hello-alice.localhost:port", "").await;
    assert_eq!(junk.status, 400, "{junk:?}");
    assert_small_json(&junk, "bad_request");
    let userinfo = get(proxy.addr, "me@hello-alice.localhost", "").await;
    assert_eq!(userinfo.status, 400, "{userinfo:?}");
    assert_small_json(&userinfo, "bad_request");
    let absolute = send(
        proxy.addr,
        format!(
            "GET http://{HOST_B}/hello HTTP/1.1\r\nHost: {HOST_A}\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    )
    .await;
    assert_eq!(absolute.status, 400, "{absolute:?}");
    assert_small_json(&absolute, "bad_request");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_that_cannot_be_parsed_get_the_json_400_and_lose_the_connection() {
    let a = Upstream::start("a").await;
    let proxy = Proxy::start(config(&[&a])).await;

    for raw in [
        &b"GARBAGE\r\n\r\n"[..],
        b"GET /hello HTTP/1.1\r\nHost: hello-alice.localhost\r\nBad Header Name: x\r\n\r\n",
        b"GET /hello HTTP/9.9\r\nHost: hello-alice.localhost\r\n\r\n",
        b"GET /hello HTTP/1.1\r\nHost: hello-alice.localhost\r\nNoColonHere\r\n\r\n",
        b"GET /hello HTTP/1.1\r\nHost: hello-alice.localhost\r\nX: a\x01b\r\n\r\n",
        // A TLS client hello on the plain port.
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\0\0\0\0\r\n\r\n",
    ] {
        let response = send(proxy.addr, raw).await;
        let shown = String::from_utf8_lossy(raw);
        assert_eq!(response.status, 400, "{shown}: {response:?}");
        assert_small_json(&response, "bad_request");
        assert!(response.head.contains("connection: close"), "{response:?}");
        assert!(!response.head.contains("pingora"), "{response:?}");
    }

    // An upstream's own empty 400, even one that looks like pingora's, passes through, and
    // so does every request on a kept-alive connection after it.
    let mut tcp = TcpStream::connect(proxy.addr).await.unwrap();
    let ask = format!("GET /empty-400 HTTP/1.1\r\nHost: {HOST_A}\r\n\r\n");
    for _ in 0..2 {
        tcp.write_all(ask.as_bytes()).await.unwrap();
        let response = read_response(&mut tcp).await;
        assert_eq!(response.status, 400, "{response:?}");
        assert!(response.head.contains("server: pingora"), "{response:?}");
        assert!(response.body.is_empty(), "{response:?}");
    }
    tcp.write_all(format!("GET /hello HTTP/1.1\r\nHost: {HOST_A}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let response = read_response(&mut tcp).await;
    assert_eq!(response.status, 200, "{response:?}");

    // A malformed request after a good one on the same connection gets the JSON 400 too.
    tcp.write_all(b"GARBAGE\r\n\r\n").await.unwrap();
    let response = read_to_close(&mut tcp).await;
    assert_eq!(response.status, 400, "{response:?}");
    assert_small_json(&response, "bad_request");
}

/// Reads one response with a `content-length` (or none, for an empty body) off a kept-alive
/// connection.
async fn read_response(tcp: &mut TcpStream) -> Response {
    let mut out = Vec::new();
    let mut byte = [0u8; 1];
    while !out.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut byte))
            .await
            .expect("the proxy answers in time")
            .unwrap();
        assert_eq!(n, 1, "the connection closed mid-header: {out:?}");
        out.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&out).to_ascii_lowercase();
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map_or(0, |v| v.trim().parse::<usize>().unwrap());
    let mut body = vec![0u8; length];
    tcp.read_exact(&mut body).await.unwrap();
    out.extend_from_slice(&body);
    parse(&out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_stop_finishes_requests_in_flight_and_closes_idle_connections() {
    let a = Upstream::start("a").await;
    let mut proxy = Proxy::start(config(&[&a])).await;

    // An idle kept-alive connection, after one request.
    let mut idle = TcpStream::connect(proxy.addr).await.unwrap();
    idle.write_all(format!("GET /hello HTTP/1.1\r\nHost: {HOST_A}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut first = [0_u8; 12];
    idle.read_exact(&mut first).await.unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");

    // A request in flight when the stop comes.
    let addr = proxy.addr;
    let in_flight = tokio::spawn(async move {
        send(
            addr,
            format!("GET /slow HTTP/1.1\r\nHost: {HOST_A}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
    });
    // Stop once the request has reached the upstream.
    tokio::time::timeout(Duration::from_secs(5), a.slow_started.notified())
        .await
        .expect("the slow request reached the upstream");
    let took = proxy.stop().await;

    let response = in_flight.await.unwrap();
    assert_eq!(response.status, 200, "{response:?}");
    assert!(took < Duration::from_secs(2), "stopped in {took:?}");
    // The idle connection was closed, and nobody listens any more.
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(1), idle.read_to_end(&mut rest))
        .await
        .expect("the idle connection is closed")
        .ok();
    assert!(TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn no_upstream_is_a_configuration_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let outcome = moclojer_proxy::serve(listener, Config::new(Vec::new()), async {}).await;
    assert!(matches!(outcome, Err(ProxyError::NoUpstreams)));
}

#[tokio::test]
async fn an_app_without_upstreams_is_not_built() {
    let outcome = App::build(Config::new(Vec::new()), &Resolver::default()).await;
    let error = outcome.expect_err("no app without upstreams");
    assert!(matches!(
        error.downcast_ref::<ProxyError>(),
        Some(ProxyError::NoUpstreams)
    ));
}

/// A connection to the proxy from `client` (any 127.x.y.z address).
async fn connect_from(client: &str, proxy: SocketAddr) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(format!("{client}:0").parse().unwrap()).unwrap();
    socket.connect(proxy).await.unwrap()
}

/// Reads until the proxy closes the connection.
async fn read_to_close(tcp: &mut TcpStream) -> Response {
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut out))
        .await
        .expect("the proxy answers and closes in time")
        .ok();
    parse(&out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_caps_are_turned_away_and_a_freed_place_admits_again() {
    let a = Upstream::start("a").await;
    let mut config = config(&[&a]);
    config.max_connections = 3;
    config.max_connections_per_client = Some(2);
    let proxy = Proxy::start(config).await;
    let ask = format!("GET /hello HTTP/1.1\r\nHost: {HOST_A}\r\n\r\n");

    // Two kept-alive connections from one client, served.
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut tcp = connect_from("127.0.0.1", proxy.addr).await;
        tcp.write_all(ask.as_bytes()).await.unwrap();
        assert_eq!(read_response(&mut tcp).await.status, 200);
        held.push(tcp);
    }
    // A third from the same client is over its share: 429, closed.
    let mut third = connect_from("127.0.0.1", proxy.addr).await;
    third.write_all(ask.as_bytes()).await.unwrap();
    let refused = read_to_close(&mut third).await;
    assert_eq!(refused.status, 429, "{refused:?}");
    assert_small_json(&refused, "too_many_connections");
    assert!(refused.head.contains("connection: close"), "{refused:?}");

    // Another client takes the last place; a third client finds the proxy full: 503.
    let mut other = connect_from("127.0.0.2", proxy.addr).await;
    other.write_all(ask.as_bytes()).await.unwrap();
    assert_eq!(read_response(&mut other).await.status, 200);
    let mut late = connect_from("127.0.0.3", proxy.addr).await;
    let full = read_to_close(&mut late).await;
    assert_eq!(full.status, 503, "{full:?}");
    assert_small_json(&full, "unavailable");

    // The held connections still work; once one closes, its client is admitted again.
    tcp_roundtrip(&mut held[1], &ask).await;
    drop(held.remove(0));
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut again = connect_from("127.0.0.1", proxy.addr).await;
        again.write_all(ask.as_bytes()).await.unwrap();
        let response = read_response(&mut again).await;
        if response.status == 200 {
            break;
        }
        // Until the proxy has seen the close, the place is still taken: the total is full
        // (503) as well as the client's share (429).
        assert!(matches!(response.status, 429 | 503), "{response:?}");
        assert!(Instant::now() < deadline, "the freed place never came back");
        tokio::task::yield_now().await;
    }
}

async fn tcp_roundtrip(tcp: &mut TcpStream, ask: &str) {
    tcp.write_all(ask.as_bytes()).await.unwrap();
    let response = read_response(tcp).await;
    assert_eq!(response.status, 200, "{response:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_closes_after_its_last_allowed_request() {
    let a = Upstream::start("a").await;
    let mut config = config(&[&a]);
    config.max_requests_per_connection = 3;
    let proxy = Proxy::start(config).await;
    let ask = format!("GET /hello HTTP/1.1\r\nHost: {HOST_A}\r\n\r\n");

    let mut tcp = TcpStream::connect(proxy.addr).await.unwrap();
    for n in 1..=3 {
        tcp.write_all(ask.as_bytes()).await.unwrap();
        let response = read_response(&mut tcp).await;
        assert_eq!(response.status, 200, "request {n}: {response:?}");
        assert_eq!(
            response.head.contains("connection: close"),
            n == 3,
            "request {n}: {response:?}"
        );
    }
    let mut rest = Vec::new();
    let n = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut rest))
        .await
        .expect("the proxy closes the connection")
        .unwrap_or(0);
    assert_eq!(n, 0, "nothing after the last response: {rest:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgrade_turns_the_connection_into_a_two_way_pipe() {
    let a = Upstream::start("a").await;
    let proxy = Proxy::start(config(&[&a])).await;

    let mut tcp = TcpStream::connect(proxy.addr).await.unwrap();
    tcp.write_all(
        format!(
            "GET /upgrade HTTP/1.1\r\nHost: {HOST_A}\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n"
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let switched = read_response(&mut tcp).await;
    assert_eq!(switched.status, 101, "{switched:?}");
    assert!(switched.head.contains("upgrade: echo"), "{switched:?}");
    for message in ["ping", "second message"] {
        tcp.write_all(message.as_bytes()).await.unwrap();
        let expected = format!("echo:{message}");
        let mut got = vec![0u8; expected.len()];
        tokio::time::timeout(Duration::from_secs(5), tcp.read_exact(&mut got))
            .await
            .expect("the echo comes back through the proxy")
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&got), expected);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_head_chunked_and_100_continue_keep_their_framing_on_one_connection() {
    let a = Upstream::start("a").await;
    let proxy = Proxy::start(config(&[&a])).await;
    let mut tcp = TcpStream::connect(proxy.addr).await.unwrap();

    // A declared body reaches the upstream whole.
    tcp.write_all(
        format!("POST /hello HTTP/1.1\r\nHost: {HOST_A}\r\nContent-Length: 5\r\n\r\nhello")
            .as_bytes(),
    )
    .await
    .unwrap();
    let posted = read_response(&mut tcp).await;
    assert_eq!(posted.seen()["body"], "5", "{posted:?}");

    // So does a chunked one.
    tcp.write_all(
        format!(
            "POST /hello HTTP/1.1\r\nHost: {HOST_A}\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n"
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let chunked_in = read_response(&mut tcp).await;
    assert_eq!(chunked_in.seen()["body"], "7", "{chunked_in:?}");

    // HEAD gets the header and no body, and the connection goes on.
    tcp.write_all(format!("HEAD /hello HTTP/1.1\r\nHost: {HOST_A}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        tcp.read_exact(&mut byte).await.unwrap();
        head.push(byte[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&head)
    );

    // A chunked answer arrives chunked and whole.
    tcp.write_all(format!("GET /chunked HTTP/1.1\r\nHost: {HOST_A}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 512];
    while !answer.ends_with(b"0\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buf))
            .await
            .expect("the chunked answer arrives")
            .unwrap();
        assert!(
            n > 0,
            "closed mid-answer: {:?}",
            String::from_utf8_lossy(&answer)
        );
        answer.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&answer).to_ascii_lowercase();
    assert!(text.contains("transfer-encoding: chunked"), "{text}");
    assert!(text.contains("chunked body"), "{text}");

    // `Expect: 100-continue` is answered before the body is sent.
    tcp.write_all(
        format!(
            "POST /hello HTTP/1.1\r\nHost: {HOST_A}\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n"
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let go_on = read_response(&mut tcp).await;
    assert_eq!(go_on.status, 100, "{go_on:?}");
    tcp.write_all(b"xyz").await.unwrap();
    let continued = read_response(&mut tcp).await;
    assert_eq!(continued.status, 200, "{continued:?}");
    assert_eq!(continued.seen()["body"], "3", "{continued:?}");
}

/// An upstream that answers one request per connection and then closes it, without
/// saying so: every connection the proxy keeps from it is stale when next used.
async fn closing_upstream() -> (SocketAddr, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut seen = Vec::new();
                let mut buf = [0u8; 1024];
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tcp.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                tcp.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                    .await
                    .ok();
            });
        }
    });
    (addr, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_upstream_connection_found_closed_is_replaced_without_a_failed_request() {
    let (upstream, task) = closing_upstream().await;
    let mut config = Config::new(vec![upstream]);
    config.health_check_interval = Duration::from_millis(50);
    config.rate_limit = None;
    let proxy = Proxy::start(config).await;

    let mut tcp = TcpStream::connect(proxy.addr).await.unwrap();
    for n in 0..30 {
        let method = if n % 3 == 2 { "DELETE" } else { "GET" };
        tcp.write_all(format!("{method} /x HTTP/1.1\r\nHost: {HOST_A}\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let response = read_response(&mut tcp).await;
        assert_eq!(response.status, 200, "request {n}: {response:?}");
        assert_eq!(response.body, "ok");
    }
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_bodies_stream_whole_and_pipelined_requests_are_answered_in_turn() {
    let a = Upstream::start("a").await;
    let proxy = Proxy::start(config(&[&a])).await;
    let mut tcp = TcpStream::connect(proxy.addr).await.unwrap();

    // 3 MiB down, 2 MiB up (under the 4 MiB cap).
    tcp.write_all(format!("GET /big HTTP/1.1\r\nHost: {HOST_A}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let big = read_response(&mut tcp).await;
    assert_eq!(big.status, 200);
    assert_eq!(big.body.len(), 3 * 1024 * 1024);
    assert!(big.body.bytes().all(|b| b == b'x'));
    let upload = vec![b'y'; 2 * 1024 * 1024];
    tcp.write_all(
        format!(
            "PUT /hello HTTP/1.1\r\nHost: {HOST_A}\r\nContent-Length: {}\r\n\r\n",
            upload.len()
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    tcp.write_all(&upload).await.unwrap();
    let put = read_response(&mut tcp).await;
    assert_eq!(put.seen()["body"], upload.len().to_string(), "{put:?}");

    // Three requests in one write: three answers, in order.
    let paths = ["/one", "/two", "/three"];
    let pipelined: String = paths
        .iter()
        .map(|p| format!("GET {p} HTTP/1.1\r\nHost: {HOST_A}\r\n\r\n"))
        .collect();
    tcp.write_all(pipelined.as_bytes()).await.unwrap();
    for path in paths {
        let response = read_response(&mut tcp).await;
        assert_eq!(response.status, 200, "{path}: {response:?}");
        assert_eq!(response.seen()["path"], path, "{response:?}");
    }
}

/// `GET path` on the admin listener: the status and body.
async fn admin_get(admin: SocketAddr, path: &str) -> Response {
    send(
        admin,
        format!("GET {path} HTTP/1.1\r\nHost: proxy\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
}

/// Asks `path` on the admin listener until it answers `status`, for at most 5 s.
async fn admin_until(admin: SocketAddr, path: &str, status: u16) -> Response {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let response = admin_get(admin, path).await;
        if response.status == status {
            return response;
        }
        assert!(
            Instant::now() < deadline,
            "{path} never answered {status}: {response:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_tells_live_and_ready_and_readiness_follows_the_upstreams() {
    let a = Upstream::start("a").await;
    let (proxy, admin) = Proxy::start_with_admin(config(&[&a])).await;

    let live = admin_get(admin, "/livez").await;
    assert_eq!(live.status, 200, "{live:?}");
    assert!(
        live.head.contains("content-type: application/json"),
        "{live:?}"
    );
    admin_until(admin, "/readyz", 200).await;
    let unknown = admin_get(admin, "/hello").await;
    assert_eq!(unknown.status, 404, "{unknown:?}");
    // The admin port is not a mock host, and mock hosts do not see the admin paths.
    let through = get(proxy.addr, HOST_A, "").await;
    assert_eq!(through.seen()["id"], "a", "{through:?}");

    a.kill();
    let unready = admin_until(admin, "/readyz", 503).await;
    assert!(unready.body.contains("no upstream"), "{unready:?}");
    assert_eq!(admin_get(admin, "/livez").await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_fails_readiness_first_and_serves_through_the_drain_delay() {
    let a = Upstream::start("a").await;
    let mut config = config(&[&a]);
    config.drain_delay = Duration::from_millis(800);
    let (mut proxy, admin) = Proxy::start_with_admin(config).await;
    admin_until(admin, "/readyz", 200).await;

    let started = Instant::now();
    proxy.stop.take().unwrap().send(()).ok();
    let stopping = admin_until(admin, "/readyz", 503).await;
    assert!(stopping.body.contains("stopping"), "{stopping:?}");
    // Still serving, new connections included, while balancers notice.
    let served = get(proxy.addr, HOST_A, "").await;
    assert_eq!(served.status, 200, "{served:?}");
    assert!(started.elapsed() < Duration::from_millis(800));

    tokio::time::timeout(Duration::from_secs(10), proxy.task.take().unwrap())
        .await
        .expect("the proxy stops after the delay and the drain")
        .unwrap()
        .unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(800),
        "stopped after {:?}, before the drain delay",
        started.elapsed()
    );
    assert!(
        TcpStream::connect(proxy.addr).await.is_err(),
        "still accepting"
    );
    assert!(
        TcpStream::connect(admin).await.is_err(),
        "the admin still accepting"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_that_says_it_is_not_ready_leaves_the_rotation() {
    let a = Upstream::start("a").await;
    let unready = Upstream::start("unready").await;
    let proxy = Proxy::start(config(&[&a, &unready])).await;

    // Once the health check has seen the 503, every request goes to `a`.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut in_a_row = 0;
    while in_a_row < 10 {
        let response = get(proxy.addr, HOST_A, "").await;
        assert_eq!(response.status, 200, "{response:?}");
        if response.seen()["id"] == "a" {
            in_a_row += 1;
        } else {
            in_a_row = 0;
            assert!(
                Instant::now() < deadline,
                "the unready upstream kept its place"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_is_kept_only_as_long_as_the_client_lets_it() {
    let a = Upstream::start("a").await;
    let proxy = Proxy::start(config(&[&a])).await;

    // HTTP/1.0 closes unless asked; two `Connection` fields both count.
    for ask in [
        format!("GET /hello HTTP/1.0\r\nHost: {HOST_A}\r\n\r\n"),
        format!(
            "GET /hello HTTP/1.1\r\nHost: {HOST_A}\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n"
        ),
        format!("GET /hello HTTP/1.0\r\nHost: {HOST_A}\r\nConnection: keep-alive, close\r\n\r\n"),
    ] {
        let answer = send(proxy.addr, ask.as_bytes()).await;
        assert_eq!(answer.status, 200, "{ask}: {answer:?}");
        assert!(!answer.head.contains("keep-alive"), "{ask}: {answer:?}");
    }

    // HTTP/1.0 asking for keep-alive keeps its connection.
    let mut tcp = TcpStream::connect(proxy.addr).await.unwrap();
    for _ in 0..2 {
        tcp.write_all(
            format!("GET /hello HTTP/1.0\r\nHost: {HOST_A}\r\nConnection: keep-alive\r\n\r\n")
                .as_bytes(),
        )
        .await
        .unwrap();
        let answer = read_response(&mut tcp).await;
        assert_eq!(answer.status, 200, "{answer:?}");
        assert!(answer.head.contains("connection: keep-alive"), "{answer:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_named_by_host_and_port_is_resolved_and_served() {
    let a = Upstream::start("a").await;
    let mut config = config(&[]);
    config.upstream_names = vec![format!("localhost:{}", a.addr.port())];
    config.resolve_interval = Duration::from_millis(100);
    let proxy = Proxy::start(config).await;

    // `localhost` may also be ::1, where nothing listens: the health check takes that one
    // out, and a request that meets it moves on to 127.0.0.1.
    for _ in 0..5 {
        let response = get(proxy.addr, HOST_A, "").await;
        assert_eq!(response.status, 200, "{response:?}");
        assert_eq!(response.seen()["id"], "a", "{response:?}");
    }
}

/// The proxy in front of two shards, `0/2` and `1/2`, each with one upstream of its own.
fn sharded(shard_0: &Upstream, shard_1: &Upstream) -> Config {
    let mut config = config(&[]);
    config.shard_upstreams = vec![
        ShardUpstreams::new("0/2".parse().unwrap(), vec![shard_0.addr]),
        ShardUpstreams::new("1/2".parse().unwrap(), vec![shard_1.addr]),
    ];
    config
}

/// Mock hosts under `localhost`, `per_shard` of each of two shards, with their shard.
fn hosts_of_two_shards(per_shard: usize) -> Vec<(String, u32)> {
    let mut hosts = Vec::new();
    let mut held = [0usize; 2];
    for i in 0.. {
        if held.iter().all(|&n| n == per_shard) {
            break;
        }
        let host = format!("mock{i}-alice.localhost");
        let shard = shard_of(&host, 2);
        if held[shard as usize] < per_shard {
            held[shard as usize] += 1;
            hosts.push((host, shard));
        }
    }
    hosts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_host_goes_to_the_upstream_of_its_shard() {
    let (zero, one) = (
        Upstream::start("shard-0").await,
        Upstream::start("shard-1").await,
    );
    let proxy = Proxy::start(sharded(&zero, &one)).await;
    for (host, shard) in hosts_of_two_shards(6) {
        // The shard is the domain's, whatever the case and port the client writes.
        for written in [host.clone(), format!("{}:8080", host.to_ascii_uppercase())] {
            let response = get(proxy.addr, &written, "").await;
            assert_eq!(response.status, 200, "{written}: {response:?}");
            let seen = response.seen();
            assert_eq!(seen["id"], format!("shard-{shard}"), "{written}");
            assert_eq!(seen["host"], written);
        }
    }
    // A host outside the zone is still answered here, whatever its shard would be.
    let outside = get(proxy.addr, "hello-alice.example.com", "").await;
    assert_eq!(outside.status, 404, "{outside:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shard_without_a_healthy_upstream_is_503_for_its_hosts_alone() {
    let (zero, one) = (
        Upstream::start("shard-0").await,
        Upstream::start("shard-1").await,
    );
    let (proxy, admin) = Proxy::start_with_admin(sharded(&zero, &one)).await;
    admin_until(admin, "/readyz", 200).await;
    let hosts = hosts_of_two_shards(4);
    let (host_of_one, _) = hosts.iter().find(|(_, shard)| *shard == 1).unwrap();

    one.kill();
    // Once the health check has noticed, the shard's hosts get the JSON 503.
    let deadline = Instant::now() + Duration::from_secs(5);
    while get(proxy.addr, host_of_one, "").await.status != 503 {
        assert!(Instant::now() < deadline, "shard 1 never answered 503");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for (host, shard) in &hosts {
        let response = get(proxy.addr, host, "").await;
        if *shard == 0 {
            assert_eq!(response.status, 200, "{host}: {response:?}");
            assert_eq!(response.seen()["id"], "shard-0", "{host}");
        } else {
            assert_eq!(response.status, 503, "{host}: {response:?}");
            assert_small_json(&response, "unavailable");
            // Which shard is for the log, not for the client.
            assert!(!response.body.contains("shard"), "{response:?}");
        }
    }
    let unready = admin_until(admin, "/readyz", 503).await;
    assert!(unready.body.contains("shard 1/2"), "{unready:?}");
}

#[tokio::test]
async fn shard_groups_that_leave_a_shard_out_are_not_built() {
    let a = Upstream::start("a").await;
    let mut config = config(&[]);
    config.shard_upstreams = vec![
        ShardUpstreams::new("0/3".parse().unwrap(), vec![a.addr]),
        ShardUpstreams::new("2/3".parse().unwrap(), vec![a.addr]),
    ];
    let error = App::build(config.clone(), &Resolver::default())
        .await
        .expect_err("no app with a shard left out");
    assert!(matches!(
        error.downcast_ref::<ProxyError>(),
        Some(ProxyError::ShardWithoutUpstream(shard)) if shard.to_string() == "1/3"
    ));
    assert_eq!(error.to_string(), "shard 1/3 has no upstream", "{error:#}");

    // Upstreams for every host and per shard at once: which would serve a host?
    config.upstreams = vec![a.addr];
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let outcome = moclojer_proxy::serve(listener, config, async {}).await;
    assert!(matches!(outcome, Err(ProxyError::UpstreamsAndShards)));
}
