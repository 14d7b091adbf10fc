//! The proxy's request logic, as pingora filters: what it answers itself (bad framing, bad
//! or unknown hosts, oversize headers and bodies, rate limits), where the rest goes (a
//! healthy foss upstream, round robin), which forwarding headers the upstream sees, and the
//! access log.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use http::header::{CONTENT_LENGTH, HOST, TRANSFER_ENCODING};
use moclojer_domain::{Host, Zone};
use pingora::http::ResponseHeader;
use pingora::lb::selection::RoundRobin;
use pingora::lb::{Backend, LoadBalancer};
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use pingora::upstreams::peer::HttpPeer;
use pingora::{Error, ErrorSource, ErrorType, Result};

use crate::deadline::HeaderDeadline;
use crate::limit::{Limiter, Verdict};

/// The answers the proxy gives itself, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    BadRequest,
    Framing,
    BadHost,
    UnknownHost,
    HeaderTooLarge,
    BodyTooLarge,
    RateLimited,
    NoUpstream,
    UpstreamFailed,
    Internal,
}

impl Refusal {
    fn status(self) -> u16 {
        match self {
            Self::BadRequest | Self::Framing | Self::BadHost => 400,
            Self::UnknownHost => 404,
            Self::BodyTooLarge => 413,
            Self::RateLimited => 429,
            Self::HeaderTooLarge => 431,
            Self::Internal => 500,
            Self::UpstreamFailed => 502,
            Self::NoUpstream => 503,
        }
    }

    /// `{"error": {"code", "message"}}`, the api's error shape; never upstream details.
    fn body(self) -> &'static str {
        match self {
            Self::BadRequest => r#"{"error":{"code":"bad_request","message":"bad request"}}"#,
            Self::Framing => {
                r#"{"error":{"code":"bad_request","message":"ambiguous request framing"}}"#
            }
            Self::BadHost => {
                r#"{"error":{"code":"bad_request","message":"missing or malformed Host header"}}"#
            }
            Self::UnknownHost => {
                r#"{"error":{"code":"not_found","message":"no mock answers on this host"}}"#
            }
            Self::HeaderTooLarge => {
                r#"{"error":{"code":"header_too_large","message":"request header too large"}}"#
            }
            Self::BodyTooLarge => {
                r#"{"error":{"code":"payload_too_large","message":"request body too large"}}"#
            }
            Self::RateLimited => {
                r#"{"error":{"code":"rate_limited","message":"too many requests for this host"}}"#
            }
            Self::NoUpstream => {
                r#"{"error":{"code":"unavailable","message":"no mock server is available"}}"#
            }
            Self::UpstreamFailed => {
                r#"{"error":{"code":"bad_gateway","message":"the mock server did not answer"}}"#
            }
            Self::Internal => r#"{"error":{"code":"internal","message":"internal error"}}"#,
        }
    }

    fn from_status(status: u16) -> Self {
        match status {
            400 => Self::BadRequest,
            404 => Self::UnknownHost,
            413 => Self::BodyTooLarge,
            429 => Self::RateLimited,
            431 => Self::HeaderTooLarge,
            502 | 504 => Self::UpstreamFailed,
            503 => Self::NoUpstream,
            _ => Self::Internal,
        }
    }
}

/// What one request carries between filters.
#[derive(Debug)]
pub(crate) struct RequestCtx {
    started: Instant,
    host: Option<Host>,
    upstream: Option<Backend>,
    tried: Vec<Backend>,
    body_bytes: u64,
    refused: Option<Refusal>,
}

/// The limits and timeouts [`Edge`] applies.
#[derive(Debug, Clone)]
pub(crate) struct EdgeLimits {
    pub(crate) max_header_bytes: usize,
    pub(crate) max_body_bytes: u64,
    pub(crate) connect_timeout: Duration,
    pub(crate) read_timeout: Duration,
    pub(crate) idle_timeout: Duration,
    pub(crate) max_requests_per_connection: usize,
}

/// The pingora proxy application.
pub(crate) struct Edge {
    zone: Zone,
    upstreams: Arc<LoadBalancer<RoundRobin>>,
    upstream_count: usize,
    limiter: Option<Limiter>,
    limits: EdgeLimits,
}

impl Edge {
    pub(crate) fn new(
        zone: Zone,
        upstreams: Arc<LoadBalancer<RoundRobin>>,
        upstream_count: usize,
        limiter: Option<Limiter>,
        limits: EdgeLimits,
    ) -> Self {
        Self {
            zone,
            upstreams,
            upstream_count,
            limiter,
            limits,
        }
    }

    /// Writes a small JSON answer and records it for the access log.
    async fn refuse(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
        refusal: Refusal,
        retry_after: Option<Duration>,
    ) -> Result<bool> {
        ctx.refused = Some(refusal);
        let body = Bytes::from_static(refusal.body().as_bytes());
        let mut response = ResponseHeader::build(refusal.status(), Some(4))?;
        response.insert_header("content-type", "application/json")?;
        response.insert_header(CONTENT_LENGTH, body.len().to_string())?;
        if let Some(wait) = retry_after {
            let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            response.insert_header("retry-after", seconds.max(1).to_string())?;
        }
        // A request with a body we did not read, or one we could not trust, ends its
        // connection: the next bytes on it are not known to start a request.
        let has_body = session.req_header().headers.contains_key(TRANSFER_ENCODING)
            || session
                .req_header()
                .headers
                .get(CONTENT_LENGTH)
                .is_some_and(|v| v.as_bytes() != b"0");
        if has_body || matches!(refusal.status(), 400 | 413 | 431) {
            session.set_keepalive(None);
            response.insert_header("connection", "close")?;
        }
        let head = session.req_header().method == http::Method::HEAD;
        session
            .write_response_header(Box::new(response), head)
            .await?;
        if !head {
            session.write_response_body(Some(body), true).await?;
        }
        Ok(true)
    }
}

/// Whether the raw request header names a `Content-Length` (pingora drops it from the parsed
/// header when `Transfer-Encoding` is present, so only the raw bytes still show it).
fn raw_has_content_length(raw: &[u8]) -> bool {
    raw.split(|&b| b == b'\n').skip(1).any(|line| {
        line.iter().position(|&b| b == b':').is_some_and(|colon| {
            line[..colon]
                .trim_ascii()
                .eq_ignore_ascii_case(b"content-length")
        })
    })
}

/// The host of a `Host` header value (`name`, `name:port`, `[v6]`, `[v6]:port`), or `None`
/// when it is not one: empty, user information, a path, spaces, a port that is not a port.
fn host_name(value: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(value).ok()?;
    let (host, port) = if text.starts_with('[') {
        let end = text.find(']')?;
        (&text[..=end], &text[end + 1..])
    } else {
        match text.split_once(':') {
            Some((host, port)) => (host, &text[host.len()..][..port.len() + 1]),
            None => (text, ""),
        }
    };
    let port_ok = port.is_empty()
        || port
            .strip_prefix(':')
            .is_some_and(|p| !p.is_empty() && p.len() <= 5 && p.parse::<u16>().is_ok());
    let host_ok = !host.is_empty()
        && host.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'[' | b']' | b':')
        })
        && (host.starts_with('[') || !host.contains([':', '[', ']']));
    (port_ok && host_ok).then_some(host)
}

#[async_trait]
impl ProxyHttp for Edge {
    type CTX = RequestCtx;

    fn new_ctx(&self) -> RequestCtx {
        RequestCtx {
            started: Instant::now(),
            host: None,
            upstream: None,
            tried: Vec::new(),
            body_bytes: 0,
            refused: None,
        }
    }

    async fn early_request_filter(
        &self,
        session: &mut Session,
        _ctx: &mut RequestCtx,
    ) -> Result<()> {
        // pingora parsed this request: what is written for it from here on is ours. The
        // connection's last allowed request is answered with `Connection: close`.
        let carried = session
            .as_http1()
            .and_then(|h1| {
                h1.stream()
                    .as_ref()
                    .as_any()
                    .downcast_ref::<HeaderDeadline>()
            })
            .map(HeaderDeadline::mark_parsed);
        if carried.is_some_and(|n| n >= self.limits.max_requests_per_connection) {
            session.set_keepalive(None);
        }
        Ok(())
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<bool> {
        // Header size, and the request-smuggling guard: Content-Length with
        // Transfer-Encoding is refused outright rather than reconciled.
        if let Some(h1) = session.as_http1() {
            let raw = h1.get_headers_raw_bytes();
            if raw.len() > self.limits.max_header_bytes {
                return self
                    .refuse(session, ctx, Refusal::HeaderTooLarge, None)
                    .await;
            }
            let te = session.req_header().headers.contains_key(TRANSFER_ENCODING);
            if te && raw_has_content_length(&raw) {
                return self.refuse(session, ctx, Refusal::Framing, None).await;
            }
        }

        // Exactly one Host, well formed; an absolute-form target must agree with it.
        let header = session.req_header();
        let mut hosts = header.headers.get_all(HOST).iter();
        let (Some(value), None) = (hosts.next(), hosts.next()) else {
            return self.refuse(session, ctx, Refusal::BadHost, None).await;
        };
        let Some(name) = host_name(value.as_bytes()) else {
            return self.refuse(session, ctx, Refusal::BadHost, None).await;
        };
        if let Some(target) = header.uri.host()
            && !target.eq_ignore_ascii_case(name)
        {
            return self.refuse(session, ctx, Refusal::BadHost, None).await;
        }
        let Ok(host) = Host::parse(name, &self.zone) else {
            return self.refuse(session, ctx, Refusal::UnknownHost, None).await;
        };

        // A declared body over the cap is refused before anything is read.
        if let Some(length) = header.headers.get(CONTENT_LENGTH) {
            let length = std::str::from_utf8(length.as_bytes())
                .ok()
                .and_then(|l| l.trim().parse::<u64>().ok());
            match length {
                Some(length) if length > self.limits.max_body_bytes => {
                    ctx.host = Some(host);
                    return self.refuse(session, ctx, Refusal::BodyTooLarge, None).await;
                }
                Some(_) => {}
                None => return self.refuse(session, ctx, Refusal::Framing, None).await,
            }
        }

        // The rate limit is keyed by the canonical host only: neither the client's address
        // nor anything it can put in a header changes the key.
        if let Some(limiter) = &self.limiter
            && let Verdict::Deny { retry_after } = limiter.check(host.as_str())
        {
            ctx.host = Some(host);
            return self
                .refuse(session, ctx, Refusal::RateLimited, Some(retry_after))
                .await;
        }
        ctx.host = Some(host);
        Ok(false)
    }

    async fn request_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<Bytes>,
        _end_of_stream: bool,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        if let Some(chunk) = body {
            ctx.body_bytes += chunk.len() as u64;
            if ctx.body_bytes > self.limits.max_body_bytes {
                return Error::e_explain(ErrorType::HTTPStatus(413), "request body too large");
            }
        }
        Ok(())
    }

    async fn upstream_peer(
        &self,
        _session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> Result<Box<HttpPeer>> {
        // A healthy upstream not tried yet for this request; failing that, any untried one
        // (the health check may lag behind a recovery).
        let untried = |b: &Backend| !ctx.tried.contains(b);
        let backend = self
            .upstreams
            .select_with(b"", 256, |b, healthy| healthy && untried(b))
            .or_else(|| self.upstreams.select_with(b"", 256, |b, _| untried(b)));
        let Some(backend) = backend else {
            return Error::e_explain(ErrorType::HTTPStatus(503), "no upstream available");
        };
        let mut peer = HttpPeer::new(&backend, false, String::new());
        peer.options.connection_timeout = Some(self.limits.connect_timeout);
        peer.options.read_timeout = Some(self.limits.read_timeout);
        peer.options.idle_timeout = Some(self.limits.idle_timeout);
        ctx.tried.push(backend.clone());
        ctx.upstream = Some(backend);
        Ok(Box::new(peer))
    }

    fn fail_to_connect(
        &self,
        _session: &mut Session,
        _peer: &HttpPeer,
        ctx: &mut RequestCtx,
        mut e: Box<Error>,
    ) -> Box<Error> {
        // Nothing reached the upstream: another one may take the request.
        if ctx.tried.len() < self.upstream_count {
            e.set_retry(true);
        }
        e
    }

    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        upstream: &mut pingora::http::RequestHeader,
        _ctx: &mut RequestCtx,
    ) -> Result<()> {
        // The Host header is what routed the request; a client's X-Forwarded-Host (or
        // Forwarded) is never used and never passed on.
        upstream.remove_header("x-forwarded-host");
        upstream.remove_header("forwarded");
        let peer = session
            .client_addr()
            .and_then(|a| a.as_inet())
            .map(|a| a.ip().to_string());
        if let Some(peer) = peer {
            let earlier: Vec<&str> = session
                .req_header()
                .headers
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .collect();
            let chain = if earlier.is_empty() {
                peer
            } else {
                format!("{}, {peer}", earlier.join(", "))
            };
            upstream.insert_header("x-forwarded-for", chain)?;
        }
        upstream.insert_header("x-forwarded-proto", "http")?;
        Ok(())
    }

    async fn fail_to_proxy(
        &self,
        session: &mut Session,
        e: &Error,
        ctx: &mut RequestCtx,
    ) -> FailToProxy {
        let status = match e.etype() {
            ErrorType::HTTPStatus(code) => *code,
            _ => match e.esource() {
                ErrorSource::Upstream => 502,
                ErrorSource::Downstream => match e.etype() {
                    ErrorType::WriteError | ErrorType::ReadError | ErrorType::ConnectionClosed => 0,
                    _ => 400,
                },
                ErrorSource::Internal | ErrorSource::Unset => 500,
            },
        };
        if status > 0 {
            let refusal = Refusal::from_status(status);
            if self.refuse(session, ctx, refusal, None).await.is_err() {
                tracing::debug!("could not send the error answer; the client is gone");
            }
        }
        FailToProxy {
            error_code: status,
            can_reuse_downstream: false,
        }
    }

    fn suppress_error_log(&self, _session: &Session, _ctx: &RequestCtx, _error: &Error) -> bool {
        // The access log below says what happened; pingora's own line would repeat it.
        true
    }

    async fn logging(&self, session: &mut Session, error: Option<&Error>, ctx: &mut RequestCtx) {
        let status = session.response_written().map_or(0, |r| r.status.as_u16());
        let header = session.req_header();
        let host = ctx.host.as_ref().map_or("", Host::as_str);
        let upstream = ctx
            .upstream
            .as_ref()
            .map(|b| b.addr.to_string())
            .unwrap_or_default();
        let duration_us = u64::try_from(ctx.started.elapsed().as_micros()).unwrap_or(u64::MAX);
        let refused = ctx.refused.is_some();
        match error {
            Some(error) => tracing::warn!(
                target: "moclojer_proxy::access",
                host,
                method = %header.method,
                path = header.uri.path(),
                status,
                upstream,
                duration_us,
                error = %error,
                "request failed"
            ),
            None => tracing::info!(
                target: "moclojer_proxy::access",
                host,
                method = %header.method,
                path = header.uri.path(),
                status,
                upstream,
                duration_us,
                answered_here = refused,
                "request"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_length_is_found_in_the_raw_header() {
        let raw = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\ncontent-LENGTH : 5\r\n\r\n";
        assert!(raw_has_content_length(raw));
        let raw = b"POST /content-length: HTTP/1.1\r\nHost: a\r\nX-Content-Length: 5\r\n\r\n";
        assert!(!raw_has_content_length(raw));
    }

    #[test]
    fn host_values_are_read_with_or_without_a_port() {
        assert_eq!(host_name(b"a-b.localhost:8080"), Some("a-b.localhost"));
        assert_eq!(host_name(b"A-B.localhost"), Some("A-B.localhost"));
        assert_eq!(host_name(b"[::1]:80"), Some("[::1]"));
        assert_eq!(host_name(b""), None);
        assert_eq!(host_name(b"user@a-b.localhost"), None);
        assert_eq!(host_name(b"a b"), None);
        assert_eq!(host_name(b"a-b.localhost:port"), None);
        assert_eq!(host_name(b"a-b.localhost:"), None);
        assert_eq!(host_name(b"a-b.localhost:99999"), None);
        assert_eq!(host_name(b"a-b.localhost/x"), None);
    }
}
