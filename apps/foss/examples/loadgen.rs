//! The load generator of `cargo xtask bench foss`: keeps `connections` HTTP/1.1 keep-alive
//! connections busy for `seconds` against one URL and prints one JSON line:
//! `{"requests", "errors", "rps", "p50_us", "p99_us", "max_us"}`. Loopback only.
//!
//! `loadgen <url> <connections> <seconds> [Host header]`

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a benchmark tool reports on the terminal"
)]

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let url: http::Uri = args
        .first()
        .ok_or("usage: loadgen <url> <connections> <seconds> [host]")?
        .parse()?;
    let connections: usize = args.get(1).and_then(|c| c.parse().ok()).unwrap_or(64);
    let seconds: f64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(5.0);
    let host = args
        .get(3)
        .cloned()
        .unwrap_or_else(|| url.authority().map(ToString::to_string).unwrap_or_default());
    let authority = url.authority().ok_or("the url has no host")?.to_string();
    let path = url
        .path_and_query()
        .map_or("/".to_owned(), ToString::to_string);
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);

    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (authority, path, host) = (authority.clone(), path.clone(), host.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies: Vec<u32> = Vec::with_capacity(100_000);
            let mut errors = 0_u64;
            while Instant::now() < deadline {
                let Ok(stream) = tokio::net::TcpStream::connect(&authority).await else {
                    errors += 1;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                stream.set_nodelay(true).ok();
                let Ok((mut sender, connection)) =
                    http1::handshake::<_, Empty<Bytes>>(TokioIo::new(stream)).await
                else {
                    errors += 1;
                    continue;
                };
                tokio::spawn(connection);
                while Instant::now() < deadline {
                    let request = http::Request::get(&path)
                        .header(http::header::HOST, &host)
                        .body(Empty::new());
                    let Ok(request) = request else { break };
                    let started = Instant::now();
                    match sender.send_request(request).await {
                        Ok(response) => {
                            let ok = response.status().is_success();
                            // A server may end a connection after a number of requests.
                            let closing = response
                                .headers()
                                .get(http::header::CONNECTION)
                                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"));
                            if response.into_body().collect().await.is_err() || !ok {
                                errors += 1;
                            }
                            latencies.push(
                                u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX),
                            );
                            if closing {
                                break;
                            }
                        }
                        Err(_) => {
                            errors += 1;
                            break;
                        }
                    }
                }
            }
            (latencies, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let (latencies, e) = task.await?;
        all.extend(latencies);
        errors += e;
    }
    all.sort_unstable();
    let pick = |q: f64| {
        all.get(((all.len() as f64 * q) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    println!(
        "{{\"requests\":{},\"errors\":{},\"rps\":{:.0},\"p50_us\":{},\"p99_us\":{},\"max_us\":{}}}",
        all.len(),
        errors,
        all.len() as f64 / seconds,
        pick(0.50),
        pick(0.99),
        all.last().copied().unwrap_or(0)
    );
    Ok(())
}
