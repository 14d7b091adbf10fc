//! Outbound HTTP, for adapters that call third-party APIs (Cloudflare, DigitalOcean): they
//! send through this port, so every call leaves through the one egress guard
//! (`moclojer-egress` implements it) with its address checks, size caps and timeouts.
//!
//! It also holds the HTTP contract between our own services, so the side that sends and
//! the side that answers use one definition: [`PROBE_HEADER`] (ops asks a host through the
//! proxy, foss answers), [`HEALTH_CHECK_HOST`] (the proxy's health check, answered by foss)
//! and [`REAL_IP_HEADER`] (the proxy names the client, foss believes it from trusted
//! proxies only).

use std::fmt::Debug;

use async_trait::async_trait;
use bytes::Bytes;

use crate::PortResult;

/// One request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// `GET`, `POST`, `PUT`, `PATCH`, `DELETE`, ...
    pub method: http::Method,
    /// An absolute `http://` or `https://` URL, without credentials.
    pub url: String,
    /// Header names and values, in order. Framing headers are set by the client.
    pub headers: Vec<(String, String)>,
    /// The body; empty for none.
    pub body: Bytes,
}

/// One answer, whatever its status (redirects are never followed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// Header names (lower case) and values, in the order received.
    pub headers: Vec<(String, String)>,
    /// The whole body (the client caps its size).
    pub body: Bytes,
}

impl HttpResponse {
    /// The first value of header `name` (compared without ASCII case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Sends HTTP requests.
#[async_trait]
pub trait HttpClient: Debug + Send + Sync + 'static {
    /// Sends `request` and reads the whole answer.
    ///
    /// # Errors
    /// `Invalid` when the request is refused before sending (bad URL, refused destination,
    /// too large); `Timeout` when it took too long; `Unavailable` when the connection
    /// failed or the answer was cut; `Internal` when the answer is over the size cap.
    async fn send(&self, request: HttpRequest) -> PortResult<HttpResponse>;
}

/// The header ops sends when it verifies a host through the proxy: a mock server in cloud
/// mode answers it itself, 204 for a host it serves and 404 otherwise, whatever the mock's
/// routes are.
pub const PROBE_HEADER: &str = "x-moclojer-probe";

/// The header of a mock server's 204 to a [`PROBE_HEADER`] request: the revision of the
/// mock it serves on that host, so a client that published revision N can wait until the
/// host serves N, not merely something.
pub const REVISION_HEADER: &str = "x-moclojer-revision";

/// The `Host` the proxy's health check asks foss for: a reserved name (`.invalid` never
/// resolves, RFC 6761) that no mock can have, so the answer is about the server itself.
pub const HEALTH_CHECK_HOST: &str = "proxy-health-check.invalid";

/// The longest request target (path and query) the proxy and the mock server read; a
/// longer one is answered 414.
pub const MAX_URI_BYTES: usize = 8 * 1024;

/// The header in which the proxy names the client it saw (never passing on a client's
/// own); the mock server believes it only from the proxies it trusts.
pub const REAL_IP_HEADER: &str = "x-real-ip";
