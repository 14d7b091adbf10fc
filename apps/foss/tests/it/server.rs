//! The server on real sockets: body limits, slow clients, graceful shutdown.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use moclojer_domain::spec::Mode;
use moclojer_foss::{EngineOptions, Readiness, ServeOptions, SharedEngine, serve_ready};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

use crate::helpers::{engine_with, options};

const SPEC: &str = r#"
- endpoint:
    method: POST
    path: /upload
    response:
      body: '{"ok": true}'
- endpoint:
    path: /slow
    latency: {min-ms: 400, max-ms: 400}
    response:
      body: '{"slow": "done"}'
- endpoint:
    path: /hello
    response:
      body: '{"hello": "world"}'
"#;

struct Running {
    address: std::net::SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn start(options: EngineOptions, settings: ServeOptions) -> Running {
    start_ready(options, settings, Readiness::ready()).await
}

async fn start_ready(
    options: EngineOptions,
    settings: ServeOptions,
    readiness: Readiness,
) -> Running {
    let engine: SharedEngine = Arc::new(ArcSwap::from_pointee(engine_with(SPEC, options)));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(serve_ready(
        listener,
        engine,
        settings,
        readiness,
        async move {
            stopped.await.ok();
        },
    ));
    Running {
        address,
        stop: Some(stop),
        task,
    }
}

async fn exchange(address: std::net::SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(address).await.expect("connect");
    stream.write_all(request).await.expect("write");
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response))
        .await
        .expect("answered in time")
        .expect("read");
    String::from_utf8_lossy(&response).into_owned()
}

#[tokio::test]
async fn long_request_targets_get_414() {
    let server = start(options(Mode::Standalone), ServeOptions::default()).await;
    let request = |length: usize| {
        let query = "q".repeat(length - "/upload?".len());
        format!("GET /upload?{query} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    };
    let limit = moclojer_ports::MAX_URI_BYTES;
    let fine = exchange(server.address, request(limit).as_bytes()).await;
    assert!(!fine.starts_with("HTTP/1.1 414"), "{fine}");
    let long = exchange(server.address, request(limit + 1).as_bytes()).await;
    assert!(long.starts_with("HTTP/1.1 414"), "{long}");
    assert!(
        long.contains(r#"{"error":"the request target is longer than"#),
        "{long}"
    );
}

#[tokio::test]
async fn oversize_bodies_get_413() {
    let small = EngineOptions {
        max_body_bytes: 1024,
        ..options(Mode::Standalone)
    };
    let server = start(small, ServeOptions::default()).await;
    let declared = format!(
        "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\nConnection: close\r\n\r\n{}",
        "a".repeat(5000)
    );
    let answer = exchange(server.address, declared.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    let chunk = "a".repeat(800);
    let chunked = format!(
        "POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n320\r\n{chunk}\r\n320\r\n{chunk}\r\n0\r\n\r\n"
    );
    let answer = exchange(server.address, chunked.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    let fine = "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nConnection: close\r\n\r\n0123456789";
    let answer = exchange(server.address, fine.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn a_slow_header_client_is_cut_off_while_others_are_served() {
    let settings = ServeOptions {
        header_read_timeout: Duration::from_millis(500),
        ..ServeOptions::default()
    };
    let server = start(options(Mode::Standalone), settings).await;
    let mut slow = TcpStream::connect(server.address).await.expect("connect");
    slow.write_all(b"GET /hello HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    let answer = exchange(
        server.address,
        b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "another client is served: {answer}"
    );
    let started = Instant::now();
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), slow.read_to_end(&mut rest)).await;
    assert!(read.is_ok(), "the slow client was not cut off");
    assert!(started.elapsed() < Duration::from_secs(5));
    let text = String::from_utf8_lossy(&rest);
    assert!(
        !text.contains("hello"),
        "the slow client got no mock response: {text}"
    );
}

#[tokio::test]
async fn shutdown_lets_requests_in_flight_finish() {
    let mut server = start(options(Mode::Standalone), ServeOptions::default()).await;
    let address = server.address;
    let in_flight = tokio::spawn(async move {
        exchange(
            address,
            b"GET /slow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .await
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    server.stop.take().expect("stop").send(()).ok();
    let answer = in_flight.await.expect("task");
    assert!(
        answer.starts_with("HTTP/1.1 200") && answer.contains("done"),
        "{answer}"
    );
    server.task.await.expect("server task").expect("serve");
    assert!(
        TcpStream::connect(address).await.is_err(),
        "the listener is closed after shutdown"
    );
}

#[tokio::test]
async fn requests_without_a_usable_host_get_400() {
    let server = start(options(Mode::Standalone), ServeOptions::default()).await;
    let two_hosts = exchange(
        server.address,
        b"GET /hello HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(two_hosts.starts_with("HTTP/1.1 400"), "{two_hosts}");
}

#[tokio::test]
async fn the_proxy_health_check_host_is_answered_from_readiness_not_from_the_mocks() {
    let readiness = Readiness::not_yet();
    let server = start_ready(
        options(Mode::Standalone),
        ServeOptions::default(),
        readiness.clone(),
    )
    .await;
    let ask = |host: &'static str| {
        format!("GET /hello HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")
    };
    let waiting = exchange(server.address, ask("proxy-health-check.invalid").as_bytes()).await;
    assert!(waiting.starts_with("HTTP/1.1 503"), "{waiting}");
    assert!(waiting.contains(r#""status":"unavailable""#), "{waiting}");
    // The mocks answer meanwhile: readiness is for the proxy to choose among servers.
    let mock = exchange(server.address, ask("localhost").as_bytes()).await;
    assert!(mock.contains(r#"{"hello": "world"}"#), "{mock}");

    readiness.set_ready();
    for host in [
        "proxy-health-check.invalid",
        "PROXY-HEALTH-CHECK.invalid:8080",
    ] {
        let ready = exchange(server.address, ask(host).as_bytes()).await;
        assert!(ready.starts_with("HTTP/1.1 200"), "{host}: {ready}");
        assert!(ready.contains(r#"{"status":"ok"}"#), "{host}: {ready}");
        assert!(!ready.contains("hello"), "{host}: {ready}");
    }
}
