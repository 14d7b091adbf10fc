//! The request path, on pingora's HTTP/1 sessions: each [client connection](serve_client)
//! reads requests in turn, checks each ([`Edge::admit`]), and the [`Forwarder`] sends it to
//! a healthy upstream of its host's [group](Groups::for_host) over an idle connection from
//! the [`Pool`] or a new one; the response streams back, and a `101` turns the pair into a
//! two-way pipe (WebSocket).
//!
//! pingora's `HttpProxy` does the same with more machinery per request (per-request tasks
//! and channels, a watcher task for every idle upstream connection); this path keeps
//! pingora's parsers, framing and body handling and costs about two thirds of the CPU per
//! request (`cargo xtask bench proxy`).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use moclojer_domain::Host;
use pingora::ErrorType;
use pingora::protocols::Stream;
use pingora::protocols::http::ReusableHttpStream;
use pingora::protocols::http::v1::client::HttpSession as Upstream;
use pingora::protocols::http::v1::server::HttpSession as Client;
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::deadline::{HeaderDeadline, Rearm};
use crate::edge::{Denied, Edge, Origin, Peer, Refusal, answer};
use crate::pool::Pool;
use crate::shards::{Group, Groups};

/// What forwards requests: the checks, the upstream groups and their idle connections. One
/// for the whole proxy, shared by every client connection.
pub(crate) struct Forwarder {
    pub(crate) edge: Edge,
    pub(crate) groups: Arc<Groups>,
    pub(crate) pool: Pool,
    pub(crate) header_timeout: Duration,
    /// At least 1 (pingora reads 0 as "no timeout").
    pub(crate) keepalive_seconds: u64,
    pub(crate) max_requests_per_connection: usize,
}

/// How a request ended, for the access log and the connection.
struct Done {
    status: u16,
    upstream: Option<SocketAddr>,
    /// The client connection may carry another request.
    reusable: bool,
    /// Why it failed, when it did.
    error: Option<String>,
    answered_here: bool,
    /// The client's address (the peer's, or what a trusted front says).
    client_ip: Option<IpAddr>,
}

impl Done {
    fn answered(status: u16, reusable: bool) -> Self {
        Self {
            status,
            upstream: None,
            reusable,
            error: None,
            answered_here: true,
            client_ip: None,
        }
    }

    /// A response the upstream gave, streamed to the client whole (`error` empty) or not.
    fn forwarded(status: u16, upstream: SocketAddr, reusable: bool, error: Option<String>) -> Self {
        Self {
            status,
            upstream: Some(upstream),
            reusable,
            error,
            answered_here: false,
            client_ip: None,
        }
    }
}

/// One client connection: what lasts from one of its requests to the next.
struct ClientConnection {
    forwarder: Arc<Forwarder>,
    /// The peer; none when the connection is not on a socket.
    peer: Option<Peer>,
    /// Re-arms the header deadline for each request after the first.
    rearm: Rearm,
    /// Turns true when the proxy stops.
    shutdown: watch::Receiver<bool>,
    /// Requests read on it so far.
    served: usize,
}

/// Serves one client connection: requests in turn while it is kept alive, at most
/// `max_requests_per_connection`; an idle one closes when `shutdown` turns true.
pub(crate) async fn serve_client(
    forwarder: Arc<Forwarder>,
    tcp: TcpStream,
    peer: Option<SocketAddr>,
    shutdown: watch::Receiver<bool>,
) {
    tcp.set_nodelay(true).ok();
    let rearm = Rearm::default();
    let stream: Stream = Box::new(HeaderDeadline::new(
        Box::new(pingora::protocols::l4::stream::Stream::from(tcp)),
        forwarder.header_timeout,
        rearm.clone(),
    ));
    let mut client = Client::new(stream);
    forwarder.configure(&mut client);
    let mut connection = ClientConnection {
        forwarder,
        peer: peer.map(|p| Peer::new(p.ip())),
        rearm,
        shutdown,
        served: 0,
    };
    loop {
        if !connection.read_request(&mut client).await {
            return;
        }
        if !connection.answer(&mut client).await {
            client.shutdown().await;
            return;
        }
        let Ok(Some(next)) = client.reuse().await else {
            return;
        };
        client = connection.next_session(next);
    }
}

impl ClientConnection {
    /// Waits for the next request: `true` once one is read. The first is timed by the
    /// header deadline; later ones may idle for the keep-alive time first (the session's
    /// own keep-alive timeout, which ends the read with nothing). A stop wakes an idle
    /// connection, which then closes; so does a request pingora cannot parse, after the
    /// JSON 400.
    async fn read_request(&mut self, client: &mut Client) -> bool {
        let read = tokio::select! {
            biased;
            read = client.read_request() => Some(read),
            _ = self.shutdown.wait_for(|stop| *stop) => None,
        };
        match read {
            Some(Ok(Some(_))) => true,
            Some(Err(e)) if matches!(e.etype(), ErrorType::InvalidHTTPHeader) => {
                // pingora could not parse it: the JSON 400, and the connection ends.
                client.set_server_keepalive(None);
                write_answer(client, false, Refusal::BadRequest, None).await;
                access_log(None, None, &Done::answered(400, false), Instant::now());
                client.shutdown().await;
                false
            }
            _ => false,
        }
    }

    /// Answers the request just read and logs it: `true` when the connection may carry
    /// another. The last request allowed, or one during a stop, closes it.
    async fn answer(&mut self, client: &mut Client) -> bool {
        self.served += 1;
        let last =
            self.served >= self.forwarder.max_requests_per_connection || *self.shutdown.borrow();
        let keep = !last && client_keeps_alive(client.req_header());
        client.set_server_keepalive(keep.then_some(self.forwarder.keepalive_seconds));
        let started = Instant::now();
        let (host, done) = self
            .forwarder
            .request(client, self.peer.as_ref(), &self.shutdown)
            .await;
        access_log(Some(client.req_header()), host.as_ref(), &done, started);
        done.reusable
    }

    /// The session for the connection's next request, with any bytes of it already read.
    fn next_session(&self, next: ReusableHttpStream) -> Client {
        let (stream, prefix) = next.into_parts();
        self.rearm.next_request();
        let mut client = Client::new(stream);
        self.forwarder.configure(&mut client);
        client.set_server_keepalive(Some(self.forwarder.keepalive_seconds));
        if let Some(prefix) = prefix {
            client.set_pipelined_prefix(prefix);
        }
        client
    }
}

/// Writes the proxy's own answer (its header alone for `HEAD`).
async fn write_answer(
    client: &mut Client,
    head: bool,
    refusal: Refusal,
    retry_after: Option<Duration>,
) {
    let Ok((header, body)) = answer(refusal, retry_after) else {
        return;
    };
    if client.write_response_header(header).await.is_err() {
        return;
    }
    if !head && client.write_body(&body).await.is_err() {
        return;
    }
    client.finish_body().await.ok();
}

impl Forwarder {
    /// Sets up a client session: a client that stops reading or sending mid-body is let go
    /// after the upstream timeout, per read or write; pipelined requests are answered in
    /// turn (RFC 9112 §9.3.2), not dropped.
    fn configure(&self, client: &mut Client) {
        client.set_read_timeout(Some(self.edge.limits.read_timeout));
        client.set_write_timeout(Some(self.edge.limits.read_timeout));
        client.set_pipelining_enabled(true);
    }

    /// Answers one request: refused here, or forwarded to an upstream.
    async fn request(
        &self,
        client: &mut Client,
        peer: Option<&Peer>,
        shutdown: &watch::Receiver<bool>,
    ) -> (Option<Host>, Done) {
        let origin = peer.map(|peer| self.edge.origin(client.req_header(), peer));
        let client_ip = origin.as_ref().map(|o| o.client);
        let host = match self
            .edge
            .admit(client.req_header(), &client.get_headers_raw_bytes())
        {
            Ok(host) => host,
            Err(Denied {
                refusal,
                host,
                retry_after,
            }) => {
                // A body the proxy did not read, or a request it cannot trust, ends the
                // connection: the next bytes on it are not known to start a request.
                let reusable = !has_body(client) && !matches!(refusal.status(), 400 | 413 | 431);
                if !reusable {
                    client.set_server_keepalive(None);
                }
                write_answer(client, is_head(client), refusal, retry_after).await;
                let done = Done::answered(refusal.status(), reusable);
                return (host, Done { client_ip, ..done });
            }
        };
        let group = self.groups.for_host(&host);
        let done = self.forward(client, origin.as_ref(), group, shutdown).await;
        (Some(host), Done { client_ip, ..done })
    }

    /// Forwards an admitted request to an upstream of `group`, and its response; an
    /// upstream connection left reusable goes back to the pool.
    async fn forward(
        &self,
        client: &mut Client,
        origin: Option<&Origin<'_>>,
        group: &Group,
        shutdown: &watch::Receiver<bool>,
    ) -> Done {
        if expects_continue(client) {
            // Checked and within the limits: the client may send its body.
            if client.write_continue_response().await.is_err() {
                return Done::answered(0, false);
            }
        }
        let bodyless = !has_body(client);
        let sent = self.send_request(client, origin, group, bodyless).await;
        let (mut upstream, address) = match sent {
            Ok(sent) => sent,
            Err(done) => return done,
        };
        if !bodyless && let Err(done) = self.send_body(client, &mut upstream, address).await {
            return done;
        }
        let done = self.respond(client, &mut upstream, address, shutdown).await;
        if done.reusable {
            upstream.respect_keepalive();
            if let Some(stream) = upstream.reuse().await {
                self.pool.put(address, stream);
            }
        }
        done
    }

    /// An upstream of `group`, and the request header sent to it; for a request without a
    /// body, the response header read too.
    ///
    /// A new connection that fails before anything reached the upstream moves on to the
    /// next upstream of the group. An idle connection from the pool that fails is replaced
    /// by a new one, once: when the request header could not be written, or, for a
    /// replayable request, when no response came. Idempotent requests without a body are
    /// replayable: they may be sent again when an idle connection turns out closed after
    /// the request went out (RFC 9110 §9.2.2).
    async fn send_request(
        &self,
        client: &mut Client,
        origin: Option<&Origin<'_>>,
        group: &Group,
        bodyless: bool,
    ) -> Result<(Upstream, SocketAddr), Done> {
        let replayable = bodyless && is_idempotent(&client.req_header().method);
        let mut tried: Vec<SocketAddr> = Vec::new();
        // Whether an upstream that passed its health check was tried.
        let mut healthy_tried = false;
        let mut fresh_only = false;
        loop {
            let Some((address, healthy)) = pick(group, &tried) else {
                return Err(self
                    .none_answered(client, group, &tried, healthy_tried)
                    .await);
            };
            healthy_tried |= healthy;
            let (stream, reused) = match self.upstream_stream(address, fresh_only).await {
                Ok(opened) => opened,
                Err(e) => {
                    tracing::debug!(%address, error = %e, "upstream connect failed");
                    tried.push(address);
                    continue;
                }
            };
            let header = match Edge::upstream_header(client.req_header(), origin) {
                Ok(header) => header,
                Err(e) => return Err(self.fail(client, None, Refusal::Internal, &e).await),
            };
            let mut upstream = Upstream::new(stream);
            upstream.read_timeout = Some(self.edge.limits.read_timeout);
            upstream.write_timeout = Some(self.edge.limits.read_timeout);
            if let Err(e) = upstream.write_request_header(header).await {
                if !reused {
                    tracing::debug!(%address, error = %e, "upstream write failed");
                    tried.push(address);
                }
                fresh_only = true;
                continue;
            }
            if !bodyless {
                return Ok((upstream, address));
            }
            match finish_request(&mut upstream).await {
                Ok(()) => return Ok((upstream, address)),
                Err(_) if reused && replayable => fresh_only = true,
                Err(e) => {
                    return Err(self
                        .fail(client, Some(address), Refusal::UpstreamFailed, &e)
                        .await);
                }
            }
        }
    }

    /// The answer when no upstream of `group` is left to try: 503 when none passed its
    /// health check (none at all, or only ones found down, tried in case the check lags
    /// behind a recovery), 502 when one that passed it failed. The log names the shard.
    async fn none_answered(
        &self,
        client: &mut Client,
        group: &Group,
        tried: &[SocketAddr],
        healthy_tried: bool,
    ) -> Done {
        let refusal = if healthy_tried {
            Refusal::UpstreamFailed
        } else {
            Refusal::NoUpstream
        };
        let error = group.none_answered();
        self.fail(client, tried.last().copied(), refusal, &error)
            .await
    }

    /// A connection to `address`, and whether it is an idle one from the pool: the pool's
    /// first unless `fresh_only`, else a new one.
    async fn upstream_stream(
        &self,
        address: SocketAddr,
        fresh_only: bool,
    ) -> std::io::Result<(Stream, bool)> {
        if !fresh_only && let Some(stream) = self.pool.take(address) {
            return Ok((stream, true));
        }
        Ok((self.connect(address).await?, false))
    }

    /// The request body, within the cap; then the response header.
    async fn send_body(
        &self,
        client: &mut Client,
        upstream: &mut Upstream,
        address: SocketAddr,
    ) -> Result<(), Done> {
        let mut sent: u64 = 0;
        loop {
            let chunk = match client.read_body_bytes().await {
                Ok(Some(chunk)) => chunk,
                Ok(None) => break,
                Err(e) => {
                    return Err(Done {
                        upstream: Some(address),
                        error: Some(e.to_string()),
                        ..Done::answered(0, false)
                    });
                }
            };
            sent += chunk.len() as u64;
            if sent > self.edge.limits.max_body_bytes {
                client.set_server_keepalive(None);
                write_answer(client, is_head(client), Refusal::BodyTooLarge, None).await;
                return Err(Done {
                    upstream: Some(address),
                    ..Done::answered(413, false)
                });
            }
            if let Err(e) = upstream.write_body(&chunk).await {
                return Err(self
                    .fail(client, Some(address), Refusal::UpstreamFailed, &e)
                    .await);
            }
        }
        if let Err(e) = finish_request(upstream).await {
            return Err(self
                .fail(client, Some(address), Refusal::UpstreamFailed, &e)
                .await);
        }
        Ok(())
    }

    /// Writes the upstream's response to the client: its header, then its body, or both
    /// ways at once after a `101`. During a stop, the connection closes after it.
    async fn respond(
        &self,
        client: &mut Client,
        upstream: &mut Upstream,
        address: SocketAddr,
        shutdown: &watch::Receiver<bool>,
    ) -> Done {
        let response = match upstream.resp_header().map(Edge::client_header) {
            Some(Ok(response)) => response,
            Some(Err(e)) => {
                return self
                    .fail(client, Some(address), Refusal::UpstreamFailed, &e)
                    .await;
            }
            None => return Done::answered(0, false),
        };
        let status = response.status.as_u16();
        if *shutdown.borrow() {
            client.set_server_keepalive(None);
        }
        if client.write_response_header(response).await.is_err() {
            return Done {
                status,
                upstream: Some(address),
                error: Some("the client went away".to_owned()),
                ..Done::answered(status, false)
            };
        }
        if upstream.was_upgraded() {
            pipe(client, upstream).await;
            return Done::forwarded(status, address, false, None);
        }
        let error = stream_body(client, upstream).await.err();
        let finished = error.is_none() && client.finish_body().await.is_ok();
        Done::forwarded(status, address, finished, error)
    }

    async fn connect(&self, address: SocketAddr) -> std::io::Result<Stream> {
        let tcp = tokio::time::timeout(
            self.edge.limits.connect_timeout,
            TcpStream::connect(address),
        )
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out"))??;
        tcp.set_nodelay(true).ok();
        Ok(Box::new(pingora::protocols::l4::stream::Stream::from(tcp)))
    }

    /// The answer to a request the upstream side failed: the JSON error if nothing of the
    /// response was written yet, and the connection ends.
    async fn fail(
        &self,
        client: &mut Client,
        upstream: Option<SocketAddr>,
        refusal: Refusal,
        error: &pingora::Error,
    ) -> Done {
        client.set_server_keepalive(None);
        if client.response_written().is_none() {
            write_answer(client, is_head(client), refusal, None).await;
        }
        Done {
            status: refusal.status(),
            upstream,
            reusable: false,
            error: Some(error.to_string()),
            answered_here: true,
            client_ip: None,
        }
    }
}

/// A healthy upstream of `group` not tried yet for this request; failing that, any untried
/// one (the health check may lag behind a recovery). With it, whether it passed its health
/// check.
fn pick(group: &Group, tried: &[SocketAddr]) -> Option<(SocketAddr, bool)> {
    let untried = |b: &pingora::lb::Backend| b.addr.as_inet().is_some_and(|a| !tried.contains(a));
    let upstreams = &group.upstreams;
    if let Some(healthy) = upstreams.select_with(b"", 256, |b, healthy| healthy && untried(b)) {
        return healthy.addr.as_inet().map(|address| (*address, true));
    }
    let other = upstreams.select_with(b"", 256, |b, _| untried(b))?;
    let healthy = upstreams.backends().ready(&other);
    other.addr.as_inet().map(|address| (*address, healthy))
}

/// Ends the request sent upstream and reads the response header.
async fn finish_request(upstream: &mut Upstream) -> pingora::Result<()> {
    upstream.finish_body().await?;
    response_header(upstream).await
}

/// Reads the upstream's response header, passing over informational ones other than `101`
/// (the proxy answered `100 Continue` itself).
async fn response_header(upstream: &mut Upstream) -> pingora::Result<()> {
    loop {
        upstream.read_response().await?;
        match upstream.resp_header() {
            Some(r) if r.status.is_informational() && r.status.as_u16() != 101 => {}
            Some(_) => return Ok(()),
            None => {
                return pingora::Error::e_explain(ErrorType::InvalidHTTPHeader, "no response");
            }
        }
    }
}

/// Copies the upstream's response body to the client, up to its end; the error that cut
/// it short, when one did.
async fn stream_body(client: &mut Client, upstream: &mut Upstream) -> Result<(), String> {
    loop {
        match upstream.read_body_bytes().await {
            Ok(Some(chunk)) => {
                if let Err(e) = client.write_body(&chunk).await {
                    return Err(e.to_string());
                }
            }
            Ok(None) => return Ok(()),
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// After a `101`: bytes both ways until either side ends.
async fn pipe(client: &mut Client, upstream: &mut Upstream) {
    upstream.maybe_upgrade_body_writer();
    loop {
        tokio::select! {
            from_client = client.read_body_bytes() => match from_client {
                Ok(Some(chunk)) => {
                    if upstream.write_body(&chunk).await.is_err() {
                        break;
                    }
                }
                _ => break,
            },
            from_upstream = upstream.read_body_bytes() => match from_upstream {
                Ok(Some(chunk)) => {
                    if client.write_body(&chunk).await.is_err() {
                        break;
                    }
                }
                _ => break,
            },
        }
    }
    client.finish_body().await.ok();
    upstream.shutdown().await;
}

/// Whether the client lets its connection be kept after this request: on HTTP/1.1 unless
/// a `Connection` field says `close`, on HTTP/1.0 only when one says `keep-alive` and none
/// `close` (every `Connection` field counts, not the first alone).
fn client_keeps_alive(header: &pingora::http::RequestHeader) -> bool {
    let (mut close, mut keep) = (false, false);
    for value in header.headers.get_all(http::header::CONNECTION) {
        for token in value.as_bytes().split(|&b| b == b',') {
            let token = token.trim_ascii();
            close |= token.eq_ignore_ascii_case(b"close");
            keep |= token.eq_ignore_ascii_case(b"keep-alive");
        }
    }
    !close && (header.version == http::Version::HTTP_11 || keep)
}

/// Whether the request declares a body: `Transfer-Encoding`, or a `Content-Length` other
/// than 0.
fn has_body(client: &Client) -> bool {
    let headers = &client.req_header().headers;
    headers.contains_key(http::header::TRANSFER_ENCODING)
        || headers
            .get(http::header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0")
}

/// Whether `method` is idempotent (RFC 9110 §9.2.2).
fn is_idempotent(method: &http::Method) -> bool {
    matches!(
        *method,
        http::Method::GET
            | http::Method::HEAD
            | http::Method::OPTIONS
            | http::Method::PUT
            | http::Method::DELETE
            | http::Method::TRACE
    )
}

fn is_head(client: &Client) -> bool {
    client.req_header().method == http::Method::HEAD
}

/// `Expect: 100-continue` on an HTTP/1.1 request.
fn expects_continue(client: &Client) -> bool {
    let header = client.req_header();
    header.version == http::Version::HTTP_11
        && header
            .headers
            .get(http::header::EXPECT)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"))
}

fn access_log(
    request: Option<&pingora::http::RequestHeader>,
    host: Option<&Host>,
    done: &Done,
    started: Instant,
) {
    if done.error.is_none()
        && !tracing::enabled!(target: "moclojer_proxy::access", tracing::Level::INFO)
    {
        return;
    }
    let host = host.map_or("", Host::as_str);
    let (method, path) = request.map_or(("", ""), |r| (r.method.as_str(), r.uri.path()));
    let upstream = done.upstream.map(|a| a.to_string()).unwrap_or_default();
    let client = done.client_ip.map(|ip| ip.to_string()).unwrap_or_default();
    let duration_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    match &done.error {
        Some(error) => tracing::warn!(
            target: "moclojer_proxy::access",
            host,
            method,
            path,
            status = done.status,
            upstream,
            client,
            duration_us,
            error = %error,
            "request failed"
        ),
        None => tracing::info!(
            target: "moclojer_proxy::access",
            host,
            method,
            path,
            status = done.status,
            upstream,
            client,
            duration_us,
            answered_here = done.answered_here,
            "request"
        ),
    }
}
