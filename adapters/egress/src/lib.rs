//! The egress guard: every outbound HTTP call moclojer makes (webhooks, external bodies
//! fetched by URL, any future proxy or record mode) goes through one [`Egress`].
//!
//! What it does, for each [`OutboundRequest`]:
//!
//! - parses the URL once with the WHATWG parser (so `http://2852039166/`, `http://0xA9FEA9FE/`
//!   and `http://127.1/` are the IP addresses they look like to a browser), and hands that
//!   same parsed URL to the HTTP client;
//! - allows only `http` and `https`, and refuses URLs that carry credentials
//!   (`http://user:pass@host/`, including the `http://ok.example@169.254.169.254/` trick) as
//!   [`EgressError::BadUrl`]: put credentials in an `Authorization` header instead;
//! - under [`Policy::Strict`], refuses every destination that is not global unicast (see
//!   [`classify`]) unless an [`AllowRule`] lets it through. A host name is resolved once,
//!   *every* answer is checked, and the connection is made only to the checked addresses
//!   (the resolver installed in the client returns exactly those), so DNS rebinding between
//!   check and connect is not possible. IP-literal hosts, which the client never resolves,
//!   are checked before sending. `localhost` and `*.localhost` always mean loopback. A
//!   failed lookup is a refusal, never a retry;
//! - never follows redirects: a 301, 302, 303, 307 or 308 answer is reported as
//!   [`EgressError::Redirect`], so a caller cannot mistake a redirect's body for the content
//!   it asked for (other 3xx answers, such as 304, are returned as responses);
//! - caps the request body, the response body (streamed, stopped at one byte past the cap),
//!   the connect time and the total time;
//! - ignores `HTTP_PROXY`/`HTTPS_PROXY`/`ALL_PROXY` in the environment and speaks TLS with
//!   rustls and *ring* only (no OpenSSL, no aws-lc).
//!
//! What it is not: a general HTTP client (no cookies, no retries, no decompression, no
//! HTTP/2), a rate limiter (webhook budgets belong to the caller), or a replacement for
//! network-level isolation (a firewall rule against `169.254.169.254` is still worth having).
//! Under [`Policy::Open`] it refuses nothing by address: that mode is for a user's own
//! spec on their own machine.
//!
//! Ports are not restricted: a webhook receiver on `:8080` or `:3000` is ordinary.

mod classify;
mod config;
mod error;
mod guard;
mod resolve;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use http::header::{HeaderMap, HeaderName, HeaderValue};
use url::{Host, Url};

pub use crate::classify::classify;
pub use crate::config::{AllowRule, EgressConfig, ParseAllowRuleError, ParsePolicyError, Policy};
pub use crate::error::EgressError;
pub use crate::resolve::{BoxFuture, Resolver, SystemResolver};
pub use http::Method;

use crate::guard::{Guard, PinnedResolve, find_guard_failure};

/// One outbound HTTP request, as the caller wants it sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundRequest {
    /// The HTTP method.
    pub method: Method,
    /// An absolute `http://` or `https://` URL, without credentials.
    pub url: String,
    /// Header names and values, in order; a name may repeat. The client sets the framing and
    /// connection headers itself (`Host`, `Content-Length`, `Transfer-Encoding`,
    /// `Connection`, `Keep-Alive`, `Proxy-Connection`, `TE`, `Trailer`, `Upgrade`): values
    /// given here for those are dropped.
    pub headers: Vec<(String, String)>,
    /// The body; empty for none.
    pub body: Bytes,
}

impl OutboundRequest {
    /// A `GET` of `url` with no headers and no body, as external bodies need.
    pub fn get(url: impl Into<String>) -> Self {
        Self {
            method: Method::GET,
            url: url.into(),
            headers: Vec::new(),
            body: Bytes::new(),
        }
    }
}

/// The answer to an [`OutboundRequest`]. Redirects never arrive here (see
/// [`EgressError::Redirect`]); every other status does, including 4xx and 5xx.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundResponse {
    /// The status code.
    pub status: u16,
    /// Header names (lowercase) and values, in the order received. Values that are not
    /// UTF-8 are converted lossily.
    pub headers: Vec<(String, String)>,
    /// The whole body, at most `max_response_bytes` long.
    pub body: Bytes,
    /// The address the connection was made to, when known.
    pub remote_addr: Option<SocketAddr>,
}

impl OutboundResponse {
    /// The first value of header `name` (compared without ASCII case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// The egress guard: an HTTP client that refuses what the [`EgressConfig`] does not allow.
/// Cheap to clone; clones share the connection pool.
#[derive(Debug, Clone)]
pub struct Egress {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: EgressConfig,
    guard: Arc<Guard>,
    client: reqwest::Client,
}

/// Headers the client writes itself; caller values for them are dropped.
const MANAGED_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
];

impl Egress {
    /// A guard that resolves names with the operating system's resolver.
    ///
    /// # Errors
    /// [`EgressError::Http`] when the HTTP client cannot be built (for instance when the TLS
    /// roots cannot be loaded).
    pub fn new(config: EgressConfig) -> Result<Self, EgressError> {
        Self::with_resolver(config, Arc::new(SystemResolver))
    }

    /// A guard that resolves names with `resolver` (tests use a fake one).
    ///
    /// # Errors
    /// [`EgressError::Http`] when the HTTP client cannot be built.
    pub fn with_resolver(
        config: EgressConfig,
        resolver: Arc<dyn Resolver>,
    ) -> Result<Self, EgressError> {
        let guard = Arc::new(Guard::new(&config));
        let pinned = PinnedResolve {
            guard: Arc::clone(&guard),
            resolver,
        };
        let client = reqwest::Client::builder()
            .use_rustls_tls()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .referer(false)
            .dns_resolver(Arc::new(pinned))
            .connect_timeout(config.connect_timeout)
            .timeout(config.total_timeout)
            .user_agent("moclojer")
            .build()
            .map_err(|err| EgressError::Http(format!("could not build the HTTP client: {err}")))?;
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                guard,
                client,
            }),
        })
    }

    /// The configuration this guard was built with.
    pub fn config(&self) -> &EgressConfig {
        &self.inner.config
    }

    /// Sends `request` if the configuration allows it, and reads the whole response.
    ///
    /// # Errors
    /// - [`EgressError::RequestTooLarge`] when the body exceeds `max_request_bytes`;
    /// - [`EgressError::BadUrl`], [`EgressError::SchemeNotAllowed`] for the URL;
    /// - [`EgressError::BadRequest`] for an invalid header name or value;
    /// - [`EgressError::Refused`], [`EgressError::RefusedHost`] when the destination is not
    ///   allowed (nothing has been sent anywhere then);
    /// - [`EgressError::Resolve`] when the host name does not resolve;
    /// - [`EgressError::Timeout`] past `connect_timeout` or `total_timeout`;
    /// - [`EgressError::Redirect`] for a redirect answer;
    /// - [`EgressError::TooLarge`] when the response body exceeds `max_response_bytes`;
    /// - [`EgressError::Http`] for any other transport failure.
    pub async fn send(&self, request: OutboundRequest) -> Result<OutboundResponse, EgressError> {
        self.send_limited(request, self.inner.config.max_response_bytes)
            .await
    }

    /// [`Self::send`] reading at most `max_response_bytes` of the answer (or the
    /// configuration's limit, if smaller): for a caller with a tighter budget of its own.
    ///
    /// # Errors
    /// As [`Self::send`]; [`EgressError::TooLarge`] names the smaller limit.
    pub async fn send_limited(
        &self,
        request: OutboundRequest,
        max_response_bytes: usize,
    ) -> Result<OutboundResponse, EgressError> {
        let config = &self.inner.config;
        let limit = max_response_bytes.min(config.max_response_bytes);
        if request.body.len() > config.max_request_bytes {
            return Err(EgressError::RequestTooLarge {
                limit: config.max_request_bytes,
            });
        }
        let url = self.checked_url(&request.url)?;
        let headers = request_headers(&request.headers)?;
        let exchange = self.exchange(request.method, url, headers, request.body, limit);
        match tokio::time::timeout(config.total_timeout, exchange).await {
            Ok(result) => result,
            Err(_elapsed) => Err(EgressError::Timeout),
        }
    }

    /// Whether `url` could be sent at all, judged without a DNS lookup: its scheme, the
    /// absence of credentials, a literal address's class, and the names that always mean
    /// loopback (`localhost`, `*.localhost`). For checking a spec when it is saved; a name
    /// that passes here is still resolved and checked when the request is made.
    ///
    /// # Errors
    /// The [`EgressError`] the request would fail with.
    pub fn check_destination(&self, url: &str) -> Result<(), EgressError> {
        let url = self.checked_url(url)?;
        if let Some(Host::Domain(name)) = url.host() {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            let allowed = self
                .inner
                .config
                .allow
                .iter()
                .any(|rule| rule.matches_name(&name));
            if (name == "localhost" || name.ends_with(".localhost")) && !allowed {
                self.inner
                    .guard
                    .check_literal(&name, IpAddr::V4(std::net::Ipv4Addr::LOCALHOST))?;
            }
        }
        Ok(())
    }

    /// Parses `text` and applies every check that does not need a lookup.
    fn checked_url(&self, text: &str) -> Result<Url, EgressError> {
        let url = Url::parse(text.trim()).map_err(|err| EgressError::BadUrl(format!("{err}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(EgressError::SchemeNotAllowed(url.scheme().to_owned()));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(EgressError::BadUrl(
                "the URL carries credentials (user:password@); send them in an Authorization \
                 header instead"
                    .to_owned(),
            ));
        }
        let literal = match url.host() {
            None => return Err(EgressError::BadUrl("the URL has no host".to_owned())),
            Some(Host::Domain(_)) => None, // checked by the pinned resolver at connect time
            Some(Host::Ipv4(addr)) => Some(IpAddr::V4(addr)),
            Some(Host::Ipv6(addr)) => Some(IpAddr::V6(addr)),
        };
        if let Some(addr) = literal {
            let host = url.host_str().unwrap_or_default();
            self.inner.guard.check_literal(host, addr)?;
        }
        Ok(url)
    }

    async fn exchange(
        &self,
        method: Method,
        url: Url,
        headers: HeaderMap,
        body: Bytes,
        limit: usize,
    ) -> Result<OutboundResponse, EgressError> {
        let mut response = self
            .inner
            .client
            .request(method, url)
            .headers(headers)
            .body(body)
            .send()
            .await
            .map_err(transport_error)?;
        let status = response.status();
        if is_redirect(status.as_u16()) {
            let location = response
                .headers()
                .get(http::header::LOCATION)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned);
            return Err(EgressError::Redirect {
                status: status.as_u16(),
                location,
            });
        }
        let too_large = EgressError::TooLarge { limit };
        let declared = response.content_length();
        if declared.is_some_and(|length| length > limit as u64) {
            return Err(too_large);
        }
        let headers = response
            .headers()
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_owned(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect();
        let remote_addr = response.remote_addr();
        let capacity = declared.map_or(0, |length| usize::try_from(length).unwrap_or(limit));
        let mut body = BytesMut::with_capacity(capacity.min(limit));
        while let Some(chunk) = response.chunk().await.map_err(transport_error)? {
            if chunk.len() > limit - body.len() {
                return Err(too_large);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(OutboundResponse {
            status: status.as_u16(),
            headers,
            body: body.freeze(),
            remote_addr,
        })
    }
}

fn is_redirect(status: u16) -> bool {
    matches!(status, 301 | 302 | 303 | 307 | 308)
}

fn request_headers(pairs: &[(String, String)]) -> Result<HeaderMap, EgressError> {
    let mut headers = HeaderMap::with_capacity(pairs.len());
    for (name, value) in pairs {
        let name = HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|_| EgressError::BadRequest(format!("invalid header name `{name}`")))?;
        if MANAGED_HEADERS.contains(&name.as_str()) {
            continue;
        }
        let value = HeaderValue::from_str(value)
            .map_err(|_| EgressError::BadRequest(format!("invalid value for header `{name}`")))?;
        headers.append(name, value);
    }
    Ok(headers)
}

/// Maps a reqwest error: the guard's own refusals come back as they were raised.
fn transport_error(err: reqwest::Error) -> EgressError {
    if let Some(guard_error) = find_guard_failure(&err) {
        return guard_error;
    }
    if err.is_timeout() {
        return EgressError::Timeout;
    }
    // The URL may hold a secret token (webhook URLs often do): leave it out.
    let err = err.without_url();
    let mut message = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.ends_with(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    EgressError::Http(message)
}

/// The egress guard as the `HttpClient` port, for adapters that call third-party APIs.
impl moclojer_domain::spec::DestinationPolicy for Egress {
    /// [`Egress::check_destination`], the reason in words.
    fn check_destination(&self, url: &str) -> Result<(), String> {
        Egress::check_destination(self, url).map_err(|e| e.to_string())
    }
}

#[async_trait::async_trait]
impl moclojer_ports::HttpClient for Egress {
    async fn send(
        &self,
        request: moclojer_ports::HttpRequest,
    ) -> moclojer_ports::PortResult<moclojer_ports::HttpResponse> {
        use moclojer_ports::PortError;
        let outbound = OutboundRequest {
            method: request.method,
            url: request.url,
            headers: request.headers,
            body: request.body,
        };
        match Egress::send(self, outbound).await {
            Ok(response) => Ok(moclojer_ports::HttpResponse {
                status: response.status,
                headers: response.headers,
                body: response.body,
            }),
            Err(e) => Err(match &e {
                EgressError::Timeout => PortError::timeout(e.to_string()),
                EgressError::Http(_) | EgressError::Resolve(_) => {
                    PortError::unavailable(e.to_string())
                }
                EgressError::TooLarge { .. } => PortError::internal(e.to_string()),
                EgressError::Redirect { .. } => PortError::unavailable(e.to_string()),
                _ => PortError::invalid(e.to_string()),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn managed_headers_are_dropped_and_others_kept_in_order() {
        let pairs = vec![
            ("Host".to_owned(), "evil.test".to_owned()),
            ("X-Token".to_owned(), "a".to_owned()),
            ("content-length".to_owned(), "999".to_owned()),
            ("x-token".to_owned(), "b".to_owned()),
            ("Transfer-Encoding".to_owned(), "chunked".to_owned()),
        ];
        let headers = request_headers(&pairs).expect("valid headers");
        assert_eq!(headers.len(), 2);
        let tokens: Vec<_> = headers.get_all("x-token").iter().collect();
        assert_eq!(tokens, ["a", "b"]);
    }

    #[test]
    fn invalid_headers_are_bad_requests() {
        for (name, value) in [("bad name", "x"), ("x-ok", "line\r\nbreak"), ("", "x")] {
            let result = request_headers(&[(name.to_owned(), value.to_owned())]);
            assert!(
                matches!(result, Err(EgressError::BadRequest(_))),
                "{name:?}: {result:?}"
            );
        }
    }

    #[test]
    fn redirect_statuses() {
        for status in [301, 302, 303, 307, 308] {
            assert!(is_redirect(status));
        }
        for status in [200, 300, 304, 305, 399] {
            assert!(!is_redirect(status));
        }
    }
}
