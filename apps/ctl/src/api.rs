//! The api's client: `Authorization: Bearer <MOCLOJER_TOKEN>` on every call, the error
//! envelope (`{"error": {"code", "message", "details"}}`) turned into an exit code, and
//! names under `.localhost` sent to loopback without asking DNS (RFC 6761), as the
//! all-in-one's `<mock>-<handle>.localhost` hosts need.
//!
//! The token is kept out of `Debug` and out of every message.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, RequestBuilder, Response};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::diagnostics::Diagnostic;
use crate::exit::{CtlResult, Exit, Failure};

/// How long one call to the api may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// A failed call: the status (0 when there was no answer), the api's code and message,
/// and the validator's findings of a 422.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    /// The HTTP status; 0 when the api could not be reached or its answer not read.
    pub(crate) status: u16,
    /// The api's stable error code (`not_found`, `invalid_spec`, ...), or `network`.
    pub(crate) code: String,
    /// For people.
    pub(crate) message: String,
    /// `details.diagnostics` of a 422.
    pub(crate) diagnostics: Vec<Diagnostic>,
}

impl ApiError {
    fn network(message: String) -> Self {
        Self {
            status: 0,
            code: "network".to_owned(),
            message,
            diagnostics: Vec::new(),
        }
    }

    /// The exit code this failure maps to.
    pub(crate) fn exit(&self) -> Exit {
        match self.status {
            400 => Exit::Usage,
            401 | 403 => Exit::Auth,
            404 => Exit::NotFound,
            413 | 422 => Exit::Invalid,
            _ => Exit::Server,
        }
    }
}

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Self {
        let exit = e.exit();
        let message = match e.status {
            0 => e.message,
            401 => format!(
                "the api refused the token (401 {}): {}; check MOCLOJER_TOKEN",
                e.code, e.message
            ),
            status => format!("{} ({status} {})", e.message, e.code),
        };
        Failure::new(exit, message)
    }
}

/// Resolves `localhost` and `*.localhost` to loopback, anything else through the system.
#[derive(Debug)]
struct LocalhostToLoopback;

impl reqwest::dns::Resolve for LocalhostToLoopback {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().trim_end_matches('.').to_ascii_lowercase();
        Box::pin(async move {
            if host == "localhost" || host.ends_with(".localhost") {
                let loopback: Vec<SocketAddr> = vec![
                    (Ipv4Addr::LOCALHOST, 0).into(),
                    (Ipv6Addr::LOCALHOST, 0).into(),
                ];
                return Ok(Box::new(loopback.into_iter()) as reqwest::dns::Addrs);
            }
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            Ok(Box::new(found.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// An HTTP client that resolves `*.localhost` to loopback.
pub(crate) fn http_client() -> CtlResult<reqwest::Client> {
    reqwest::Client::builder()
        .dns_resolver(Arc::new(LocalhostToLoopback))
        .user_agent(concat!("moclojer-ctl/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Failure::usage(format!("cannot make an HTTP client: {e}")))
}

/// `MOCLOJER_API` as the api's base: `http://host:port` or `…/api/v1`, with or without a
/// trailing slash, becomes `…/api/v1`.
pub(crate) fn base_url(raw: &str) -> CtlResult<String> {
    let raw = raw.trim();
    let parsed = url::Url::parse(raw).map_err(|e| {
        Failure::usage(format!(
            "MOCLOJER_API (or --api) {raw:?} is not a URL ({e}); e.g. http://localhost:3000"
        ))
    })?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(Failure::usage(format!(
            "MOCLOJER_API (or --api) {raw:?} must be an http:// or https:// URL"
        )));
    }
    let trimmed = raw.trim_end_matches('/');
    Ok(if trimmed.ends_with("/api/v1") {
        trimmed.to_owned()
    } else {
        format!("{trimmed}/api/v1")
    })
}

/// What a request carries.
pub(crate) enum Body<'a> {
    /// Nothing.
    None,
    /// JSON.
    Json(&'a Value),
    /// Raw bytes, as `application/octet-stream`.
    Bytes(Vec<u8>),
}

/// A client of one api, with one token.
#[derive(Clone)]
pub(crate) struct Api {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl fmt::Debug for Api {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Api")
            .field("base", &self.base)
            .field("token", &"[redacted]")
            .finish_non_exhaustive()
    }
}

/// `error`'s message with its causes, which is where reqwest says what failed.
fn chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

impl Api {
    /// A client of the api at `api` (see [`base_url`]) that sends `token`.
    pub(crate) fn new(api: &str, token: &str) -> CtlResult<Self> {
        let token = token.trim();
        if token.is_empty() {
            return Err(Failure::usage(
                "set MOCLOJER_TOKEN to a personal API token (POST /api/v1/tokens, or the web \
                 interface's API tokens page)",
            ));
        }
        if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(Failure::usage(
                "MOCLOJER_TOKEN has spaces or control characters",
            ));
        }
        Ok(Self {
            http: http_client()?,
            base: base_url(api)?,
            token: token.to_owned(),
        })
    }

    /// The api's base URL (`…/api/v1`).
    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    /// Sends `method path` with `body`; the answer when it is a success.
    pub(crate) async fn send(
        &self,
        method: Method,
        path: &str,
        body: Body<'_>,
    ) -> Result<Response, ApiError> {
        let url = format!("{}{path}", self.base);
        let mut request: RequestBuilder = self
            .http
            .request(method.clone(), &url)
            .bearer_auth(&self.token)
            .timeout(CALL_TIMEOUT);
        request = match body {
            Body::None => request,
            Body::Json(value) => request.json(value),
            Body::Bytes(bytes) => request
                .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                .body(bytes),
        };
        let response = request.send().await.map_err(|e| {
            ApiError::network(format!(
                "{method} {url}: the api cannot be reached: {}",
                chain(&e)
            ))
        })?;
        if response.status().is_success() {
            return Ok(response);
        }
        Err(error_of(response).await)
    }

    /// Sends `method path` with `body`; the answer's JSON as `T`.
    pub(crate) async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Body<'_>,
    ) -> Result<T, ApiError> {
        let response = self.send(method.clone(), path, body).await?;
        let text = response.text().await.map_err(|e| {
            ApiError::network(format!(
                "{method} {path}: the answer was cut: {}",
                chain(&e)
            ))
        })?;
        serde_json::from_str(&text).map_err(|e| {
            ApiError::network(format!(
                "{method} {path}: the answer is not what was expected ({e})"
            ))
        })
    }

    /// `GET path` as `T`.
    pub(crate) async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ApiError> {
        self.call(Method::GET, path, Body::None).await
    }
}

/// The api's error envelope in `response`, or what can be said without it.
async fn error_of(response: Response) -> ApiError {
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    let envelope: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    let error = &envelope["error"];
    let code = error["code"].as_str().unwrap_or("unknown").to_owned();
    let message = match error["message"].as_str() {
        Some(message) => message.to_owned(),
        None => {
            let short: String = text.chars().take(200).collect();
            let reason = status.canonical_reason().unwrap_or("error");
            if short.trim().is_empty() {
                reason.to_owned()
            } else {
                format!("{reason}: {}", short.trim())
            }
        }
    };
    let diagnostics =
        serde_json::from_value(error["details"]["diagnostics"].clone()).unwrap_or_default();
    ApiError {
        status: status.as_u16(),
        code,
        message,
        diagnostics,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_base_url_ends_in_api_v1() {
        for raw in [
            "http://localhost:3000",
            "http://localhost:3000/",
            "http://localhost:3000/api/v1",
            " http://localhost:3000/api/v1/ ",
        ] {
            assert_eq!(
                base_url(raw).expect("valid"),
                "http://localhost:3000/api/v1",
                "{raw}"
            );
        }
        assert_eq!(
            base_url("localhost:3000").map_err(|f| f.exit),
            Err(Exit::Usage)
        );
        assert_eq!(base_url("ftp://x").map_err(|f| f.exit), Err(Exit::Usage));
    }

    #[test]
    fn statuses_map_to_exit_codes() {
        let exit = |status| {
            ApiError {
                status,
                code: String::new(),
                message: String::new(),
                diagnostics: Vec::new(),
            }
            .exit()
        };
        assert_eq!(exit(400), Exit::Usage);
        assert_eq!(exit(401), Exit::Auth);
        assert_eq!(exit(403), Exit::Auth);
        assert_eq!(exit(404), Exit::NotFound);
        assert_eq!(exit(422), Exit::Invalid);
        assert_eq!(exit(409), Exit::Server);
        assert_eq!(exit(503), Exit::Server);
        assert_eq!(exit(0), Exit::Server);
    }

    #[test]
    fn the_token_stays_out_of_debug() {
        let api = Api::new("http://localhost:3000", "mcl_secret").expect("api");
        assert!(!format!("{api:?}").contains("mcl_secret"));
    }
}
