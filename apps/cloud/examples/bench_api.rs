//! The benchmark behind `cargo xtask bench api`: the all-in-one on its embedded defaults
//! (SQLite, in-process queue, folder store), in this process, on loopback.
//!
//! 1. Publish-to-live: 50 times, a new mock is created and published through the api, and
//!    its host is asked every 2 ms until it answers with the mock's body; the time from
//!    sending the publish to the first right answer is recorded. Median and worst.
//! 2. `GET /api/v1/mocks` for a user with 100 mocks, by `CONNECTIONS` concurrent keep-alive
//!    clients for `SECONDS`, against `GET /livez` on the same server in the same run (the
//!    same HTTP stack, middleware and runtime without the database work): requests/s,
//!    p50 and p99, and the ratio.
//!
//! `bench_api [SECONDS]` (default 5). Build with `--release`.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a benchmark reports on the terminal"
)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use moclojer_cloud::{App, Config};
use moclojer_wiring::{App as _, Resolver};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const CONNECTIONS: usize = 32;
const PUBLISHES: usize = 50;
const MOCKS: usize = 100;

async fn host_says(mocks: SocketAddr, host: &str, word: &str) -> bool {
    let Ok(mut stream) = tokio::net::TcpStream::connect(mocks).await else {
        return false;
    };
    let request = format!("GET /hello HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).await.is_err() {
        return false;
    }
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.ok();
    let text = String::from_utf8_lossy(&answer);
    text.starts_with("HTTP/1.1 200") && text.contains(word)
}

fn spec(word: &str) -> String {
    format!(
        "- endpoint:\n    method: GET\n    path: /hello\n    response:\n      status: 200\n      body: '{{\"hello\": \"{word}\"}}'\n"
    )
}

struct Api {
    base: String,
    http: reqwest::Client,
    token: String,
}

impl Api {
    async fn post(&self, path: &str, body: Value) -> Result<Value, String> {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status();
        let body: Value = response.json().await.map_err(|e| e.to_string())?;
        if status.is_success() {
            Ok(body)
        } else {
            Err(format!("{path}: {status} {body}"))
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

struct Load {
    requests: usize,
    errors: usize,
    rps: f64,
    p50: Duration,
    p99: Duration,
}

async fn load(url: String, token: Option<String>, seconds: f64) -> Load {
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CONNECTIONS {
        let (url, token) = (url.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .build()
                .expect("client");
            let mut latencies = Vec::new();
            let mut errors = 0;
            while Instant::now() < deadline {
                let sent = Instant::now();
                let mut request = http.get(&url);
                if let Some(token) = &token {
                    request = request.bearer_auth(token);
                }
                match request.send().await {
                    Ok(r) if r.status().is_success() => {
                        if r.bytes().await.is_ok() {
                            latencies.push(sent.elapsed());
                        } else {
                            errors += 1;
                        }
                    }
                    _ => errors += 1,
                }
            }
            (latencies, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let (latencies, e) = task.await.expect("task");
        all.extend(latencies);
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort();
    Load {
        requests: all.len(),
        errors,
        rps: all.len() as f64 / elapsed,
        p50: percentile(&all, 0.50),
        p99: percentile(&all, 0.99),
    }
}

/// Signs a user up as `bench` and takes its handle.
async fn signed_up(api_addr: SocketAddr) -> Result<Api, Box<dyn std::error::Error>> {
    let http = reqwest::Client::new();
    let base = format!("http://{api_addr}/api/v1");
    let signup: Value = http
        .post(format!("{base}/auth/signup"))
        .json(&json!({"email": "bench@example.com", "password": "correct horse battery"}))
        .send()
        .await?
        .json()
        .await?;
    let token = signup["token"].as_str().ok_or("no token")?.to_owned();
    let api = Api { base, http, token };
    api.http
        .put(format!("{}/me", api.base))
        .bearer_auth(&api.token)
        .json(&json!({"handle": "bench"}))
        .send()
        .await?
        .error_for_status()?;
    Ok(api)
}

/// Creates and publishes [`PUBLISHES`] mocks one by one, timing each from the publish to
/// the first right answer on its host.
async fn publish_to_live(api: &Api, mocks: SocketAddr) -> Result<(), Box<dyn std::error::Error>> {
    println!("publish to live, {PUBLISHES} mocks, each created then published:");
    let mut lags = Vec::with_capacity(PUBLISHES);
    for i in 0..PUBLISHES {
        let word = format!("word{i}");
        let mock = api
            .post(
                "/mocks",
                json!({"workspace": "bench", "name": format!("live{i}"), "content": spec(&word)}),
            )
            .await?;
        let id = mock["id"].as_str().ok_or("no id")?;
        let host = mock["host"].as_str().ok_or("no host")?.to_owned();
        let sent = Instant::now();
        api.post(&format!("/mocks/{id}/publish"), json!({})).await?;
        while !host_says(mocks, &host, &word).await {
            if sent.elapsed() > Duration::from_secs(10) {
                return Err(format!("{host} not live after 10 s").into());
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        lags.push(sent.elapsed());
        eprint!("\r  {}/{PUBLISHES}", i + 1);
    }
    eprintln!();
    lags.sort();
    println!(
        "  median {:.1} ms, worst {:.1} ms, best {:.1} ms",
        percentile(&lags, 0.5).as_secs_f64() * 1000.0,
        lags.last().copied().unwrap_or_default().as_secs_f64() * 1000.0,
        lags.first().copied().unwrap_or_default().as_secs_f64() * 1000.0,
    );
    Ok(())
}

/// Fills the user up to [`MOCKS`] mocks, then loads `GET /api/v1/mocks` against
/// `GET /livez` for `seconds` each.
async fn list_against_livez(
    api: &Api,
    api_addr: SocketAddr,
    seconds: f64,
) -> Result<(), Box<dyn std::error::Error>> {
    for i in PUBLISHES..MOCKS {
        api.post(
            "/mocks",
            json!({"workspace": "bench", "name": format!("idle{i}"), "content": spec("idle")}),
        )
        .await?;
    }
    println!(
        "\nGET /api/v1/mocks ({MOCKS} mocks) vs GET /livez, {CONNECTIONS} connections, {seconds} s each:"
    );
    let reference = load(format!("http://{api_addr}/livez"), None, seconds).await;
    let list = load(
        format!("{}/mocks", api.base),
        Some(api.token.clone()),
        seconds,
    )
    .await;
    for (name, l) in [
        ("GET /livez (reference)", &reference),
        ("GET /api/v1/mocks", &list),
    ] {
        println!(
            "  {name:<24} {:>9.0} req/s  p50 {:>6.2} ms  p99 {:>6.2} ms  ({} requests, {} errors)",
            l.rps,
            l.p50.as_secs_f64() * 1000.0,
            l.p99.as_secs_f64() * 1000.0,
            l.requests,
            l.errors
        );
    }
    println!("  ratio mocks/livez: {:.3}", list.rps / reference.rps);
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let seconds: f64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(5.0);
    let dir = tempfile::tempdir()?;
    let resolver = Resolver::default();
    let config = Config {
        api_addr: "127.0.0.1:0".parse()?,
        mocks_addr: "127.0.0.1:0".parse()?,
        ..Config::new(dir.path())
    };
    let app = App::build(config, &resolver)
        .await
        .map_err(|e| format!("{e:#}"))?;
    let (api_addr, mocks) = (app.api_addr(), app.mocks_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(app.run(async move {
        stopped.await.ok();
    }));
    let api = signed_up(api_addr).await?;
    publish_to_live(&api, mocks).await?;
    list_against_livez(&api, api_addr, seconds).await?;
    stop.send(()).ok();
    running.await?.map_err(|e| format!("{e:#}"))?;
    resolver.close().await;
    Ok(())
}
