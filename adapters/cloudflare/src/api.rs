//! One call to Cloudflare's v4 API: the bearer token, the JSON envelope, and the retries
//! (`Retry-After` on 429, exponential backoff with jitter on 5xx and failed connections).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::Method;
use moclojer_ports::{HttpClient, HttpRequest, HttpResponse, PortError};
use serde::Deserialize;

use crate::config::CloudflareConfig;

/// Codes Cloudflare answers for a missing, malformed, invalid or insufficient token.
const AUTH_CODES: &[i64] = &[1000, 6003, 6111, 9106, 9109, 10000, 10001];
/// "The record already exists." / "An identical record already exists."
pub(crate) const ALREADY_EXISTS_CODES: &[i64] = &[81057, 81058];
/// Records of a name that cannot live together (CNAME beside anything else, ...).
const CLASH_CODES: &[i64] = &[81053, 81054, 81055];

/// The envelope every answer comes in.
#[derive(Debug, Deserialize)]
pub(crate) struct Envelope {
    #[serde(default)]
    success: bool,
    #[serde(default)]
    errors: Vec<ApiMessage>,
    #[serde(default)]
    pub(crate) result: serde_json::Value,
    #[serde(default)]
    pub(crate) result_info: Option<ResultInfo>,
}

/// One entry of `errors`, with the details Cloudflare sometimes chains under it.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ApiMessage {
    #[serde(default)]
    code: i64,
    #[serde(default)]
    message: String,
    #[serde(default)]
    error_chain: Vec<ApiMessage>,
}

/// Where a page stands among the pages of a listing.
#[derive(Debug, Clone, Copy, Deserialize)]
pub(crate) struct ResultInfo {
    #[serde(default)]
    pub(crate) total_pages: Option<u32>,
}

/// A call that failed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Cloudflare answered, and not with success.
    Api {
        /// The HTTP status.
        status: u16,
        /// The envelope's `errors`.
        errors: Vec<ApiMessage>,
    },
    /// No usable answer: the client failed, retries ran out, or the body was unreadable.
    Port(PortError),
}

impl Failure {
    /// Whether Cloudflare answered with one of `codes` (looking into error chains too).
    pub(crate) fn has_code(&self, codes: &[i64]) -> bool {
        fn any(messages: &[ApiMessage], codes: &[i64]) -> bool {
            messages
                .iter()
                .any(|m| codes.contains(&m.code) || any(&m.error_chain, codes))
        }
        match self {
            Self::Api { errors, .. } => any(errors, codes),
            Self::Port(_) => false,
        }
    }

    /// Whether Cloudflare said the thing does not exist.
    pub(crate) fn is_not_found(&self) -> bool {
        matches!(self, Self::Api { status: 404, .. }) || self.has_code(&[81044])
    }

    /// The port error this failure means, for `what` (what was being done).
    pub(crate) fn into_port_error(self, what: &str) -> PortError {
        let auth = self.has_code(AUTH_CODES);
        let clash = self.has_code(CLASH_CODES) || self.has_code(ALREADY_EXISTS_CODES);
        let (status, errors) = match self {
            Self::Port(error) => return error,
            Self::Api { status, errors } => (status, errors),
        };
        let message = format!("cloudflare: {what}: {status} {}", Described(&errors));
        if matches!(status, 401 | 403) || auth {
            PortError::unauthenticated(message)
        } else if status == 404 {
            PortError::not_found(message)
        } else if status == 409 || clash {
            PortError::conflict(message)
        } else if matches!(status, 400 | 405 | 413 | 415 | 422) {
            PortError::invalid(message)
        } else {
            PortError::internal(message)
        }
    }
}

/// `errors` as one line: `code message (code message); ...`.
struct Described<'a>(&'a [ApiMessage]);

impl fmt::Display for Described<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("(no error details)");
        }
        for (i, m) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{} {}", m.code, m.message)?;
            if !m.error_chain.is_empty() {
                write!(f, " ({})", Described(&m.error_chain))?;
            }
        }
        Ok(())
    }
}

/// Sends calls for one zone.
pub(crate) struct Api {
    pub(crate) config: CloudflareConfig,
    http: Arc<dyn HttpClient>,
}

impl fmt::Debug for Api {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Api")
            .field("config", &self.config)
            .field("http", &self.http)
            .finish()
    }
}

impl Api {
    pub(crate) fn new(config: CloudflareConfig, http: Arc<dyn HttpClient>) -> Self {
        Self { config, http }
    }

    /// `path` under the zone's `dns_records`, as a full URL.
    pub(crate) fn records_url(&self, rest: &str) -> String {
        format!(
            "{}/zones/{}/dns_records{rest}",
            self.config.api_base, self.config.zone_id
        )
    }

    /// Sends one call, retrying as the [`RetryPolicy`](crate::RetryPolicy) says, and
    /// returns the envelope of a successful answer.
    pub(crate) async fn call(
        &self,
        method: Method,
        url: String,
        body: Option<&serde_json::Value>,
    ) -> Result<Envelope, Failure> {
        let mut headers = vec![
            (
                "authorization".to_owned(),
                format!("Bearer {}", self.config.token.expose()),
            ),
            ("accept".to_owned(), "application/json".to_owned()),
        ];
        let body = match body {
            Some(value) => {
                headers.push(("content-type".to_owned(), "application/json".to_owned()));
                Bytes::from(serde_json::to_vec(value).map_err(|e| {
                    Failure::Port(PortError::internal(format!("encode a request body: {e}")))
                })?)
            }
            None => Bytes::new(),
        };
        let request = HttpRequest {
            method,
            url,
            headers,
            body,
        };
        let retry = self.config.retry;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let last = attempt >= retry.max_attempts;
            let outcome = self.http.send(request.clone()).await;
            let wait = match outcome {
                Err(error) if error.is_retryable() && !last => {
                    tracing::warn!(
                        method = %request.method, attempt, error = %error,
                        "cloudflare call failed; retrying"
                    );
                    retry.backoff(attempt)
                }
                Err(error) => return Err(Failure::Port(error)),
                Ok(response) if response.status == 429 || response.status >= 500 => {
                    if last {
                        return Err(Failure::Port(PortError::unavailable(format!(
                            "cloudflare answered {} to {} {} times in a row",
                            response.status, request.method, attempt
                        ))));
                    }
                    let wait = match retry_after(&response) {
                        Some(asked) if response.status == 429 => asked.min(retry.max_retry_after),
                        _ => retry.backoff(attempt),
                    };
                    tracing::warn!(
                        method = %request.method, status = response.status, attempt,
                        wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                        "cloudflare asked to retry later"
                    );
                    wait
                }
                Ok(response) => return read(&request.method, &response),
            };
            tokio::time::sleep(wait).await;
        }
    }
}

/// `Retry-After` in seconds (the HTTP-date form is not used by Cloudflare).
fn retry_after(response: &HttpResponse) -> Option<Duration> {
    let value = response.header("retry-after")?.trim();
    value.parse::<u64>().ok().map(Duration::from_secs)
}

/// The envelope of a final (not retried) answer.
fn read(method: &Method, response: &HttpResponse) -> Result<Envelope, Failure> {
    tracing::debug!(%method, status = response.status, "cloudflare answered");
    let parsed = serde_json::from_slice::<Envelope>(&response.body);
    let ok_status = (200..300).contains(&response.status);
    match parsed {
        Ok(envelope) if ok_status && envelope.success => Ok(envelope),
        Ok(envelope) => Err(Failure::Api {
            status: response.status,
            errors: envelope.errors,
        }),
        Err(_) if !ok_status => Err(Failure::Api {
            status: response.status,
            errors: Vec::new(),
        }),
        Err(e) => Err(Failure::Port(PortError::internal(format!(
            "cloudflare answered {} with a body that is not its JSON envelope: {e}",
            response.status
        )))),
    }
}
