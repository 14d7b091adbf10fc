//! The reference of `cargo xtask bench proxy`: the leanest reverse proxy hyper makes, to
//! show what any proxy costs on the machine at hand. Each client connection gets one
//! upstream connection of its own, and requests pass through unchanged: no host routing,
//! limits, health checks, forwarding headers or logs. Not a proxy to deploy.
//!
//! `reference_proxy <upstream address> [worker threads]`

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a benchmark tool reports on the terminal"
)]

use std::net::SocketAddr;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let Some(upstream) = args.next().and_then(|a| a.parse::<SocketAddr>().ok()) else {
        eprintln!("usage: reference_proxy <upstream address> [worker threads]");
        std::process::exit(2);
    };
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = args.next().and_then(|t| t.parse::<usize>().ok()) {
        runtime.worker_threads(threads.max(1));
    }
    runtime.enable_all().build()?.block_on(serve(upstream))
}

async fn serve(upstream: SocketAddr) -> std::io::Result<()> {
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    println!("listening on http://{}", listener.local_addr()?);
    loop {
        let (client, _) = listener.accept().await?;
        client.set_nodelay(true).ok();
        tokio::spawn(async move {
            let Ok(server) = TcpStream::connect(upstream).await else {
                return;
            };
            server.set_nodelay(true).ok();
            let Ok((sender, connection)) =
                hyper::client::conn::http1::handshake::<_, Incoming>(TokioIo::new(server)).await
            else {
                return;
            };
            tokio::spawn(connection);
            // HTTP/1.1 serves one request at a time per connection: the lock is never
            // contended, it only satisfies `Fn`.
            let sender = Arc::new(tokio::sync::Mutex::new(sender));
            let service = hyper::service::service_fn(move |request| {
                let sender = Arc::clone(&sender);
                async move {
                    let mut sender = sender.lock().await;
                    sender.ready().await?;
                    sender.send_request(request).await
                }
            });
            http1::Builder::new()
                .serve_connection(TokioIo::new(client), service)
                .await
                .ok();
        });
    }
}
