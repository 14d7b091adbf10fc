//! The admin listener, for the platform's health checks, apart from the mock hosts (a
//! mock may well have a `/livez` of its own):
//!
//! - `GET /livez`: 200 while the process serves;
//! - `GET /readyz`: 200 while at least one upstream passes its health check (of every
//!   shard's, when the mock tier is sharded) and the proxy is not stopping; 503 otherwise,
//!   with the reason (naming a shard with none). On a stop it fails first, and the
//!   proxy keeps serving for [`Config::drain_delay`](crate::Config::drain_delay) so a load
//!   balancer takes it out of rotation before it stops accepting.
//!
//! Everything else is 404. One request per connection.

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use pingora::http::ResponseHeader;
use pingora::protocols::http::v1::server::HttpSession;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::shards::Groups;

/// What the admin answers from.
#[derive(Clone)]
pub(crate) struct Health {
    /// The upstream groups: one for every host, or one per shard.
    pub(crate) groups: Arc<Groups>,
    /// Set when the proxy begins to stop.
    pub(crate) stopping: Arc<AtomicBool>,
}

impl Health {
    /// `Ok` when ready, else why not.
    fn ready(&self) -> Result<(), Cow<'static, str>> {
        if self.stopping.load(Ordering::Acquire) {
            return Err(Cow::Borrowed("stopping"));
        }
        self.groups.ready()
    }
}

/// Serves the admin endpoints on `listener` until `closed` turns true.
pub(crate) async fn serve(
    listener: TcpListener,
    health: Health,
    mut closed: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = closed.wait_for(|closed| *closed) => return,
        };
        let Ok((tcp, _)) = accepted else {
            continue;
        };
        let health = health.clone();
        tokio::spawn(async move {
            let answered =
                tokio::time::timeout(std::time::Duration::from_secs(5), answer(tcp, &health));
            answered.await.ok();
        });
    }
}

async fn answer(tcp: TcpStream, health: &Health) {
    let mut session = HttpSession::new(Box::new(pingora::protocols::l4::stream::Stream::from(tcp)));
    if !matches!(session.read_request().await, Ok(Some(_))) {
        return;
    }
    let header = session.req_header();
    let get = matches!(header.method, http::Method::GET | http::Method::HEAD);
    let (status, body) = match (get, header.uri.path()) {
        (true, "/livez") => (200, r#"{"status":"ok"}"#.to_owned()),
        (true, "/readyz") => match health.ready() {
            Ok(()) => (200, r#"{"status":"ok"}"#.to_owned()),
            Err(reason) => (
                503,
                format!(r#"{{"status":"unavailable","reason":"{reason}"}}"#),
            ),
        },
        _ => (
            404,
            r#"{"error":{"code":"not_found","message":"no such admin endpoint"}}"#.to_owned(),
        ),
    };
    let head = header.method == http::Method::HEAD;
    let Ok(mut response) = ResponseHeader::build(status, Some(3)) else {
        return;
    };
    if response
        .insert_header("content-type", "application/json")
        .and_then(|()| response.insert_header("content-length", body.len().to_string()))
        .and_then(|()| response.insert_header("cache-control", "no-store"))
        .is_err()
    {
        return;
    }
    if session
        .write_response_header(Box::new(response))
        .await
        .is_err()
    {
        return;
    }
    if !head {
        session.write_body(body.as_bytes()).await.ok();
    }
    session.finish_body().await.ok();
    session.shutdown().await;
}
