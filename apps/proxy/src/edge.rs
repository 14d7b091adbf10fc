//! The proxy's request checks, as plain functions over a parsed request: what it answers
//! itself (bad framing, bad or unknown hosts, oversize headers and bodies, rate limits) and
//! which header the upstream gets (hop-by-hop fields dropped, forwarding fields set).

use std::net::IpAddr;
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, HOST, TRANSFER_ENCODING};
use http::{HeaderMap, HeaderName, HeaderValue};
use moclojer_domain::{Host, TrustedProxies, Zone};
use moclojer_ports::{MAX_URI_BYTES, REAL_IP_HEADER};
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::{ErrorType, OrErr as _};

use crate::limit::{Limiter, Verdict};

/// The answers the proxy gives itself, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    BadRequest,
    Framing,
    BadHost,
    UnknownHost,
    HeaderTooLarge,
    UriTooLong,
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
            Self::UriTooLong => 414,
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
            Self::UriTooLong => {
                r#"{"error":{"code":"uri_too_long","message":"request target too long"}}"#
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

/// A client connection's peer: its address, and that address as a header value.
pub(crate) struct Peer {
    pub(crate) ip: IpAddr,
    /// The address as a header value, made once for the connection's requests.
    value: HeaderValue,
}

impl Peer {
    pub(crate) fn new(ip: IpAddr) -> Self {
        let ip = ip.to_canonical();
        Self {
            ip,
            value: HeaderValue::try_from(ip.to_string())
                .expect("an IP address is a valid header value"),
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
    /// The client's address as a header value.
    fn client_value(&self) -> pingora::Result<HeaderValue> {
        if self.client == self.peer.ip {
            Ok(self.peer.value.clone())
        } else {
            HeaderValue::try_from(self.client.to_string())
                .or_err(ErrorType::InvalidHTTPHeader, "X-Real-IP")
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

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_REAL_IP: HeaderName = HeaderName::from_static(REAL_IP_HEADER);

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
        if header.raw_path().len() > MAX_URI_BYTES {
            return Err(Denied::new(Refusal::UriTooLong));
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
        let named = named_by_connection(header);
        let passed_on = |name: &HeaderName| {
            let name = name.as_str();
            // The framing fields stay: they describe the body that follows. The forwarding
            // fields the proxy sets are left out here and written below.
            matches!(name, "content-length" | "transfer-encoding" | "host")
                || !(is_dropped(name)
                    || named.iter().any(|n| n == name)
                    || name == X_FORWARDED_PROTO.as_str()
                    || (origin.is_some() && name == X_FORWARDED_FOR.as_str()))
        };

        // A new map with room for the fields added below, filled from the client's without
        // parsing a name again (a clone of the client's would be full, and grow on the
        // first insert). Names go upstream in their canonical case.
        let mut headers = HeaderMap::with_capacity(header.headers.len() + 4);
        for (name, value) in &header.headers {
            if passed_on(name) {
                headers.append(name.clone(), value.clone());
            }
        }
        let mut https = false;
        if let Some(origin) = origin {
            headers.append(X_FORWARDED_FOR, forwarded_for(header, origin)?);
            headers.append(X_REAL_IP, origin.client_value()?);
            https = origin.https;
        }
        headers.append(
            X_FORWARDED_PROTO,
            HeaderValue::from_static(if https { "https" } else { "http" }),
        );
        if let Some(upgrade) = header.headers.get(http::header::UPGRADE) {
            headers.append(http::header::UPGRADE, upgrade.clone());
            headers.append(
                http::header::CONNECTION,
                HeaderValue::from_static("upgrade"),
            );
        }
        with_request_line(header, headers)
    }

    /// The response header the client gets: the upstream's, less its hop-by-hop fields
    /// (the client connection's own are written by the session), except on a `101`. The
    /// map has room for the `Date` and `Connection` fields the session adds (a clone of the
    /// upstream's would be full, and grow on the first insert).
    pub(crate) fn client_header(response: &ResponseHeader) -> pingora::Result<Box<ResponseHeader>> {
        const HOP_BY_HOP_IN_RESPONSES: [&str; 5] = [
            "connection",
            "keep-alive",
            "proxy-connection",
            "upgrade",
            "trailer",
        ];
        let switching = response.status.as_u16() == 101;
        let mut headers = HeaderMap::with_capacity(response.headers.len() + 2);
        for (name, value) in &response.headers {
            if switching || !HOP_BY_HOP_IN_RESPONSES.contains(&name.as_str()) {
                headers.append(name.clone(), value.clone());
            }
        }
        let mut parts = http::Response::builder()
            .status(response.status)
            .version(response.version)
            .body(())
            .or_err(ErrorType::InvalidHTTPHeader, "status line")?
            .into_parts()
            .0;
        parts.headers = headers;
        let mut client = Box::new(ResponseHeader::from(parts));
        client.set_reason_phrase(response.get_reason_phrase())?;
        Ok(client)
    }
}

/// Whether a request field is never passed on: hop-by-hop, or one the proxy's own say
/// replaces.
#[inline]
fn is_dropped(name: &str) -> bool {
    HOP_BY_HOP.contains(&name) || NOT_PASSED_ON.contains(&name)
}

/// The fields the request's `Connection` fields name, lowercased: hop-by-hop too. Most
/// requests carry none of the dropped fields: look before collecting the names.
#[inline]
fn named_by_connection(header: &RequestHeader) -> Vec<String> {
    if !header.headers.keys().any(|k| is_dropped(k.as_str())) {
        return Vec::new();
    }
    header
        .headers
        .get_all(http::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|name| name.trim().to_ascii_lowercase())
        .filter(|name| !name.is_empty())
        .collect()
}

/// The request's `X-Forwarded-For` with the peer's address appended.
#[inline]
fn forwarded_for(header: &RequestHeader, origin: &Origin<'_>) -> pingora::Result<HeaderValue> {
    let mut earlier = header
        .headers
        .get_all(X_FORWARDED_FOR)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .peekable();
    if earlier.peek().is_none() {
        return Ok(origin.peer.value.clone());
    }
    let mut chain = earlier.collect::<Vec<_>>().join(", ").into_bytes();
    chain.extend_from_slice(b", ");
    chain.extend_from_slice(origin.peer.value.as_bytes());
    HeaderValue::try_from(chain).or_err(ErrorType::InvalidHTTPHeader, "X-Forwarded-For")
}

/// The request header made of the client's request line and `headers`. A target the URI
/// does not reproduce (absolute-form, not UTF-8) goes on verbatim.
#[inline]
fn with_request_line(
    header: &RequestHeader,
    headers: HeaderMap,
) -> pingora::Result<Box<RequestHeader>> {
    let mut parts = http::Request::builder()
        .method(header.method.clone())
        .uri(header.uri.clone())
        .version(header.version)
        .body(())
        .or_err(ErrorType::InvalidHTTPHeader, "request line")?
        .into_parts()
        .0;
    parts.headers = headers;
    let mut upstream = Box::new(RequestHeader::from(parts));
    if upstream.raw_path() != header.raw_path() {
        upstream.set_raw_path(header.raw_path())?;
    }
    Ok(upstream)
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

    fn request(target: &[u8], fields: &[(&str, &str)]) -> RequestHeader {
        let mut request = RequestHeader::build("POST", target, None).unwrap();
        for (name, value) in fields {
            request.append_header(name.to_string(), *value).unwrap();
        }
        request
    }

    fn fields(header: &RequestHeader) -> Vec<(String, String)> {
        header
            .headers
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_str().unwrap().to_owned()))
            .collect()
    }

    fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_upstream_header_drops_hop_by_hop_fields_and_sets_the_forwarding_ones() {
        let client = request(
            b"/orders?page=2",
            &[
                ("Host", "shop-bob.localhost"),
                ("X-Trace", "t-1"),
                ("Connection", "keep-alive, X-Secret"),
                ("X-Secret", "s"),
                ("Keep-Alive", "timeout=5"),
                ("TE", "trailers"),
                ("Expect", "100-continue"),
                ("X-Forwarded-Host", "other-eve.localhost"),
                ("Forwarded", "for=1.2.3.4"),
                ("X-Real-IP", "6.6.6.6"),
                ("X-Forwarded-For", "10.0.0.1"),
                ("X-Forwarded-For", "10.0.0.2"),
                ("X-Forwarded-Proto", "https"),
                ("Content-Length", "3"),
                ("Accept", "a/b"),
                ("Accept", "c/d"),
            ],
        );
        let peer = Peer::new("192.0.2.7".parse().unwrap());
        let origin = Origin {
            peer: &peer,
            client: peer.ip,
            https: false,
        };
        let upstream = Edge::upstream_header(&client, Some(&origin)).unwrap();
        let expected = [
            ("host", "shop-bob.localhost"),
            ("x-trace", "t-1"),
            ("content-length", "3"),
            ("accept", "a/b"),
            ("accept", "c/d"),
            ("x-forwarded-for", "10.0.0.1, 10.0.0.2, 192.0.2.7"),
            ("x-real-ip", "192.0.2.7"),
            ("x-forwarded-proto", "http"),
        ];
        assert_eq!(fields(&upstream), owned(&expected));
        assert_eq!(upstream.method, http::Method::POST);
        assert_eq!(upstream.raw_path(), b"/orders?page=2");
        assert_eq!(upstream.version, client.version);

        // Without a peer (never on a socket) the client's own X-Forwarded-For stays.
        let upstream = Edge::upstream_header(&client, None).unwrap();
        let kept: Vec<&str> = upstream
            .headers
            .get_all(X_FORWARDED_FOR)
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        assert_eq!(kept, ["10.0.0.1", "10.0.0.2"]);
        assert!(upstream.headers.get(X_REAL_IP).is_none());
    }

    #[test]
    fn the_upstream_header_keeps_an_upgrade_and_an_absolute_target() {
        let client = request(
            b"http://shop-bob.localhost/ws?x=1",
            &[
                ("Host", "shop-bob.localhost"),
                ("Connection", "Upgrade"),
                ("Upgrade", "websocket"),
            ],
        );
        let peer = Peer::new("2001:db8::1".parse().unwrap());
        let origin = Origin {
            peer: &peer,
            client: "198.51.100.9".parse().unwrap(),
            https: true,
        };
        let upstream = Edge::upstream_header(&client, Some(&origin)).unwrap();
        assert_eq!(upstream.raw_path(), b"http://shop-bob.localhost/ws?x=1");
        let expected = [
            ("host", "shop-bob.localhost"),
            ("x-forwarded-for", "2001:db8::1"),
            ("x-real-ip", "198.51.100.9"),
            ("x-forwarded-proto", "https"),
            ("upgrade", "websocket"),
            ("connection", "upgrade"),
        ];
        assert_eq!(fields(&upstream), owned(&expected));
    }

    #[test]
    fn responses_lose_their_hop_by_hop_fields_except_on_a_switch() {
        let mut response = ResponseHeader::build(200, None).unwrap();
        for (name, value) in [
            ("Connection", "close"),
            ("Keep-Alive", "timeout=5"),
            ("Proxy-Connection", "keep-alive"),
            ("Trailer", "x-checksum"),
            ("Upgrade", "h2c"),
            ("Content-Type", "application/json"),
        ] {
            response.append_header(name, value).unwrap();
        }
        let names = |header: &ResponseHeader| {
            let mut names: Vec<String> = header.headers.keys().map(|k| k.to_string()).collect();
            names.sort();
            names
        };
        assert_eq!(
            names(&Edge::client_header(&response).unwrap()),
            ["content-type"]
        );

        let mut plain = ResponseHeader::build(404, None).unwrap();
        plain.append_header("content-length", "0").unwrap();
        assert_eq!(
            names(&Edge::client_header(&plain).unwrap()),
            ["content-length"]
        );

        let mut switching = ResponseHeader::build(101, None).unwrap();
        switching.append_header("Connection", "upgrade").unwrap();
        switching.append_header("Upgrade", "websocket").unwrap();
        assert_eq!(
            names(&Edge::client_header(&switching).unwrap()),
            ["connection", "upgrade"]
        );
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
