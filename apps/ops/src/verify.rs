//! Verifying a host: asking for it by name, the way a visitor would reach it.

use std::sync::Arc;

use bytes::Bytes;
use moclojer_ports::{HttpClient, HttpRequest, PROBE_HEADER};

/// Asks `<scheme>://<host>[:port]/` with [`PROBE_HEADER`]: the name resolves through DNS
/// (or to loopback for `*.localhost`), the proxy routes it, and the mock server says
/// whether it serves the host.
#[derive(Debug, Clone)]
pub struct Verifier {
    http: Arc<dyn HttpClient>,
    scheme: String,
    port: Option<u16>,
}

impl Verifier {
    /// Probes over `http` at `scheme` (`http`/`https`) and `port` (the scheme's default
    /// when `None`).
    pub fn new(http: Arc<dyn HttpClient>, scheme: impl Into<String>, port: Option<u16>) -> Self {
        Self {
            http,
            scheme: scheme.into(),
            port,
        }
    }

    /// The client probes go through.
    pub fn http(&self) -> Arc<dyn HttpClient> {
        Arc::clone(&self.http)
    }

    /// The URL a probe of `host` asks for.
    pub fn url(&self, host: &str) -> String {
        match self.port {
            Some(port) => format!("{}://{host}:{port}/", self.scheme),
            None => format!("{}://{host}/", self.scheme),
        }
    }

    /// Whether `host` answers as served, with the reason when not.
    ///
    /// # Errors
    /// Why the host is not verified: unreachable, or not served (yet).
    pub async fn verify(&self, host: &str) -> Result<(), String> {
        let request = HttpRequest {
            method: http::Method::GET,
            url: self.url(host),
            headers: vec![(PROBE_HEADER.to_owned(), "1".to_owned())],
            body: Bytes::new(),
        };
        match self.http.send(request).await {
            Ok(response) if response.status == 204 => Ok(()),
            Ok(response) if response.status == 404 => {
                Err(format!("{host} is not served by the mock server (yet)"))
            }
            Ok(response) => Err(format!("{host} answered {}", response.status)),
            Err(e) => Err(format!("{host} cannot be reached: {}", e.message())),
        }
    }
}
