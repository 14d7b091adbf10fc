//! The proxy's request checks, as plain functions over a parsed request: what it answers
//! itself (bad framing, bad or unknown hosts, oversize headers and bodies, rate limits) and
//! which header the upstream gets (hop-by-hop fields dropped, forwarding fields set).

use std::borrow::Cow;
use std::net::IpAddr;
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, HOST, TRANSFER_ENCODING};
use moclojer_domain::{Host, REAL_IP_HEADER, TrustedProxies, Zone};
use pingora::http::{RequestHeader, ResponseHeader};

use crate::limit::{Limiter, Verdict};

/// The answers the proxy gives itself, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
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
    pub(crate) fn status(self) -> u16 {
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
    pub(crate) fn body(self) -> &'static str {
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
}

/// A request the proxy answers itself: why, and the host when it was known.
#[derive(Debug)]
pub(crate) struct Denied {
    pub(crate) refusal: Refusal,
    pub(crate) host: Option<Host>,
    pub(crate) retry_after: Option<Duration>,
}

impl Denied {
    fn new(refusal: Refusal) -> Self {
        Self {
            refusal,
            host: None,
            retry_after: None,
        }
    }
}

/// The limits and timeouts the proxy applies to each request.
#[derive(Debug, Clone)]
pub(crate) struct EdgeLimits {
    pub(crate) max_header_bytes: usize,
    pub(crate) max_body_bytes: u64,
    pub(crate) connect_timeout: Duration,
    pub(crate) read_timeout: Duration,
}

/// The request checks.
pub(crate) struct Edge {
    zone: Zone,
    limiter: Option<Limiter>,
    /// Load balancers or TLS terminators in front, whose forwarding headers are believed.
    fronts: TrustedProxies,
    pub(crate) limits: EdgeLimits,
}

/// A client connection's peer: its address, and that address as text.
pub(crate) struct Peer {
    pub(crate) ip: IpAddr,
    pub(crate) text: String,
}

impl Peer {
    pub(crate) fn new(ip: IpAddr) -> Self {
        let ip = ip.to_canonical();
        Self {
            ip,
            text: ip.to_string(),
        }
    }
}

/// Where a request came from, as the upstream is told: the peer (appended to
/// `X-Forwarded-For`), the client (`X-Real-IP`; the peer unless a trusted front names
/// another) and whether the client used HTTPS (`X-Forwarded-Proto`, believed from a trusted
/// front only).
pub(crate) struct Origin<'a> {
    pub(crate) peer: &'a Peer,
    pub(crate) client: IpAddr,
    pub(crate) https: bool,
}

impl Origin<'_> {
    /// The client's address as text.
    fn client_text(&self) -> Cow<'_, str> {
        if self.client == self.peer.ip {
            Cow::Borrowed(&self.peer.text)
        } else {
            Cow::Owned(self.client.to_string())
        }
    }
}

/// Header fields that describe one connection, never passed on (RFC 9110 §7.6.1), besides
/// those the `Connection` field names. `Expect` goes too: the proxy answers
/// `100 Continue` itself.
const HOP_BY_HOP: [&str; 7] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
    "expect",
];

/// Fields a client may send that are never passed on: the proxy's own say replaces them.
const NOT_PASSED_ON: [&str; 3] = ["x-forwarded-host", "forwarded", REAL_IP_HEADER];

const X_FORWARDED_FOR: &str = "x-forwarded-for";
const X_FORWARDED_PROTO: &str = "x-forwarded-proto";

impl Edge {
    pub(crate) fn new(
        zone: Zone,
        limiter: Option<Limiter>,
        fronts: TrustedProxies,
        limits: EdgeLimits,
    ) -> Self {
        Self {
            zone,
            limiter,
            fronts,
            limits,
        }
    }

    /// Where a request on `peer`'s connection came from. From a trusted front, the client
    /// is the rightmost address of its `X-Forwarded-For` it does not trust, and its
    /// `X-Forwarded-Proto` (the first entry) says whether the client used HTTPS; from anyone
    /// else the peer is the client, on plain HTTP, whatever the request claims.
    pub(crate) fn origin<'a>(&self, header: &RequestHeader, peer: &'a Peer) -> Origin<'a> {
        if !self.fronts.trusts(peer.ip) {
            return Origin {
                peer,
                client: peer.ip,
                https: false,
            };
        }
        let chain = header
            .headers
            .get_all(X_FORWARDED_FOR)
            .iter()
            .filter_map(|v| v.to_str().ok());
        let client = self.fronts.client_behind(peer.ip, chain);
        let https = header
            .headers
            .get(X_FORWARDED_PROTO)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"));
        Origin {
            peer,
            client,
            https,
        }
    }

    /// Checks a parsed request (`raw` is its header as received): the host it goes to, or
    /// the answer the proxy gives itself.
    pub(crate) fn admit(&self, header: &RequestHeader, raw: &[u8]) -> Result<Host, Denied> {
        // Header size, and the request-smuggling guard: Content-Length with
        // Transfer-Encoding is refused outright rather than reconciled.
        if raw.len() > self.limits.max_header_bytes {
            return Err(Denied::new(Refusal::HeaderTooLarge));
        }
        let te = header.headers.contains_key(TRANSFER_ENCODING);
        if te && raw_has_content_length(raw) {
            return Err(Denied::new(Refusal::Framing));
        }

        // Exactly one Host, well formed; an absolute-form target must agree with it.
        let mut hosts = header.headers.get_all(HOST).iter();
        let (Some(value), None) = (hosts.next(), hosts.next()) else {
            return Err(Denied::new(Refusal::BadHost));
        };
        let Some(name) = host_name(value.as_bytes()) else {
            return Err(Denied::new(Refusal::BadHost));
        };
        if let Some(target) = header.uri.host()
            && !target.eq_ignore_ascii_case(name)
        {
            return Err(Denied::new(Refusal::BadHost));
        }
        if header
            .uri
            .authority()
            .is_some_and(|a| a.as_str().contains('@'))
        {
            return Err(Denied::new(Refusal::BadHost));
        }
        let Ok(host) = Host::parse(name, &self.zone) else {
            return Err(Denied::new(Refusal::UnknownHost));
        };

        // A declared body over the cap is refused before anything is read.
        if let Some(length) = header.headers.get(CONTENT_LENGTH) {
            let length = std::str::from_utf8(length.as_bytes())
                .ok()
                .and_then(|l| l.trim().parse::<u64>().ok());
            match length {
                Some(length) if length > self.limits.max_body_bytes => {
                    return Err(Denied {
                        host: Some(host),
                        ..Denied::new(Refusal::BodyTooLarge)
                    });
                }
                Some(_) => {}
                None => return Err(Denied::new(Refusal::Framing)),
            }
        }

        // The rate limit is keyed by the canonical host only: neither the client's address
        // nor anything it can put in a header changes the key.
        if let Some(limiter) = &self.limiter
            && let Verdict::Deny { retry_after } = limiter.check(host.as_str())
        {
            return Err(Denied {
                host: Some(host),
                retry_after: Some(retry_after),
                ..Denied::new(Refusal::RateLimited)
            });
        }
        Ok(host)
    }

    /// The header the upstream gets: the client's, less the hop-by-hop fields (and those
    /// its `Connection` names), `X-Forwarded-Host` and `Forwarded` (the `Host` header routed
    /// it; a client's claim is never passed on), with the peer's address appended to
    /// `X-Forwarded-For`, `X-Real-IP` set to the client's (never the request's own) and
    /// `X-Forwarded-Proto` set from the [`Origin`]. An upgrade (WebSocket) keeps its
    /// `Upgrade` field, with `Connection: upgrade`.
    pub(crate) fn upstream_header(
        header: &RequestHeader,
        origin: Option<&Origin<'_>>,
    ) -> pingora::Result<Box<RequestHeader>> {
        let mut upstream = Box::new(header.clone());
        let upgrade = header.headers.get(http::header::UPGRADE).cloned();
        // Most requests carry none of these: look before removing (a removal hashes).
        let drop = |name: &str| HOP_BY_HOP.contains(&name) || NOT_PASSED_ON.contains(&name);
        if header.headers.keys().any(|k| drop(k.as_str())) {
            let named: Vec<String> = header
                .headers
                .get_all(http::header::CONNECTION)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .map(|name| name.trim().to_ascii_lowercase())
                .filter(|name| !name.is_empty())
                .collect();
            let all = named.iter().map(String::as_str).chain(HOP_BY_HOP);
            for name in all.chain(NOT_PASSED_ON) {
                // The framing fields stay: they describe the body that follows.
                if !matches!(name, "content-length" | "transfer-encoding" | "host") {
                    upstream.remove_header(name);
                }
            }
        }
        let mut https = false;
        if let Some(origin) = origin {
            let earlier: Vec<&str> = header
                .headers
                .get_all(X_FORWARDED_FOR)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .collect();
            let chain = if earlier.is_empty() {
                origin.peer.text.clone()
            } else {
                format!("{}, {}", earlier.join(", "), origin.peer.text)
            };
            upstream.insert_header(X_FORWARDED_FOR, chain)?;
            upstream.insert_header(REAL_IP_HEADER, origin.client_text().as_ref())?;
            https = origin.https;
        }
        upstream.insert_header(X_FORWARDED_PROTO, if https { "https" } else { "http" })?;
        if let Some(upgrade) = upgrade {
            upstream.insert_header(http::header::UPGRADE, upgrade)?;
            upstream.insert_header(http::header::CONNECTION, "upgrade")?;
        }
        Ok(upstream)
    }

    /// The response header the client gets: the upstream's, less its hop-by-hop fields
    /// (the client connection's own are written by the session), except on a `101`.
    pub(crate) fn client_header(response: &ResponseHeader) -> Box<ResponseHeader> {
        let mut client = Box::new(response.clone());
        if response.status.as_u16() != 101 {
            for name in [
                "connection",
                "keep-alive",
                "proxy-connection",
                "upgrade",
                "trailer",
            ] {
                client.remove_header(name);
            }
        }
        client
    }
}

/// The proxy's own answer: a small JSON body, `Retry-After` when given, and
/// `connection: close` when the connection ends after it.
pub(crate) fn answer(
    refusal: Refusal,
    retry_after: Option<Duration>,
) -> pingora::Result<(Box<ResponseHeader>, Bytes)> {
    let body = Bytes::from_static(refusal.body().as_bytes());
    let mut response = ResponseHeader::build(refusal.status(), Some(4))?;
    response.insert_header("content-type", "application/json")?;
    response.insert_header(CONTENT_LENGTH, body.len().to_string())?;
    if let Some(wait) = retry_after {
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        response.insert_header("retry-after", seconds.max(1).to_string())?;
    }
    Ok((Box::new(response), body))
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
