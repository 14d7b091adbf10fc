//! Calls to the DigitalOcean API through the `HttpClient` port: the token, JSON, retries
//! and the mapping of DigitalOcean's errors onto `PortError` kinds.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::Method;
use moclojer_ports::{HttpClient, HttpRequest, HttpResponse, PortError, PortResult};
use serde_json::Value;

use crate::config::{ApiToken, DigitalOceanConfig, RetryPolicy};

/// A final answer of the API (after retries): its status and JSON body (`Null` if empty).
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) body: Value,
}

impl Reply {
    /// The body of a 2xx answer, or the error DigitalOcean's answer means.
    pub(crate) fn ok(self) -> PortResult<Value> {
        if (200..300).contains(&self.status) {
            return Ok(self.body);
        }
        let id = self.body["id"].as_str().unwrap_or("unknown");
        let message = self.body["message"].as_str().unwrap_or("no message");
        let text = format!("digitalocean answered {} ({id}): {message}", self.status);
        Err(match self.status {
            401 | 403 => PortError::unauthenticated(text),
            404 => PortError::not_found(text),
            400 | 422 => PortError::invalid(text),
            409 => PortError::conflict(text),
            _ => PortError::internal(text),
        })
    }
}

/// The API client: base URL, token, retries, over any `HttpClient`.
#[derive(Debug, Clone)]
pub(crate) struct Api {
    http: Arc<dyn HttpClient>,
    base: String,
    token: ApiToken,
    retry: RetryPolicy,
}

impl Api {
    pub(crate) fn new(http: Arc<dyn HttpClient>, config: &DigitalOceanConfig) -> PortResult<Self> {
        Ok(Self {
            http,
            base: config.checked_base_url()?,
            token: config.token.clone(),
            retry: RetryPolicy {
                max_attempts: config.retry.max_attempts.max(1),
                ..config.retry
            },
        })
    }

    /// The base URL, checked, without a trailing slash.
    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    /// How failed calls are retried (at least one attempt).
    pub(crate) fn retry(&self) -> &RetryPolicy {
        &self.retry
    }

    /// Sends `method` to `path_and_query` (starting with `/`, under the base URL) with an
    /// optional JSON body; retries 429, 5xx and (for safe methods) failed connections.
    ///
    /// # Errors
    /// `Unavailable` once retries are spent (or a 429 asks for too long a wait); the
    /// `HttpClient`'s own errors otherwise. Every other status is returned as a [`Reply`].
    pub(crate) async fn call(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<&Value>,
    ) -> PortResult<Reply> {
        let mut headers = vec![
            (
                "authorization".to_owned(),
                format!("Bearer {}", self.token.expose()),
            ),
            ("accept".to_owned(), "application/json".to_owned()),
        ];
        let body = match body {
            Some(json) => {
                headers.push(("content-type".to_owned(), "application/json".to_owned()));
                Bytes::from(json.to_string())
            }
            None => Bytes::new(),
        };
        let request = HttpRequest {
            method: method.clone(),
            url: format!("{}{path_and_query}", self.base),
            headers,
            body,
        };
        let repeatable = matches!(method, Method::GET | Method::PUT | Method::DELETE);
        let max = self.retry.max_attempts;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let last = attempt >= max;
            let response = match self.http.send(request.clone()).await {
                Ok(response) => response,
                Err(e) if e.is_retryable() && repeatable && !last => {
                    let wait = self.retry.backoff(attempt);
                    tracing::warn!(%method, path = path_and_query, attempt, error = %e, ?wait, "digitalocean unreachable; retrying");
                    tokio::time::sleep(wait).await;
                    continue;
                }
                Err(e) => return Err(e),
            };
            match response.status {
                429 => {
                    let wait =
                        retry_after(&response).unwrap_or_else(|| self.retry.backoff(attempt));
                    if wait > self.retry.max_delay {
                        return Err(PortError::unavailable(format!(
                            "digitalocean rate limit: retry in {} s",
                            wait.as_secs()
                        )));
                    }
                    if last {
                        return Err(PortError::unavailable(format!(
                            "digitalocean rate limit, still after {attempt} attempts"
                        )));
                    }
                    tracing::warn!(%method, path = path_and_query, attempt, ?wait, "digitalocean rate limit; waiting");
                    tokio::time::sleep(wait).await;
                }
                status @ 500..=599 => {
                    if last {
                        return Err(PortError::unavailable(format!(
                            "digitalocean answered {status} {attempt} times"
                        )));
                    }
                    let wait = self.retry.backoff(attempt);
                    tracing::warn!(%method, path = path_and_query, attempt, status, ?wait, "digitalocean failed; retrying");
                    tokio::time::sleep(wait).await;
                }
                status => {
                    let body = if response.body.is_empty() {
                        Value::Null
                    } else {
                        match serde_json::from_slice(&response.body) {
                            Ok(json) => json,
                            Err(e) if (200..300).contains(&status) => {
                                return Err(PortError::internal(format!(
                                    "digitalocean answered {status} with a body that is not JSON"
                                ))
                                .with_source(e));
                            }
                            Err(_) => Value::Null,
                        }
                    };
                    return Ok(Reply { status, body });
                }
            }
        }
    }
}

/// How long a 429 asks us to wait: `retry-after` (seconds), else `ratelimit-reset` (a unix
/// time in seconds).
fn retry_after(response: &HttpResponse) -> Option<Duration> {
    if let Some(seconds) = response
        .header("retry-after")
        .and_then(|v| v.trim().parse::<u64>().ok())
    {
        return Some(Duration::from_secs(seconds));
    }
    let reset = response
        .header("ratelimit-reset")
        .and_then(|v| v.trim().parse::<u64>().ok())?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs();
    Some(Duration::from_secs(reset.saturating_sub(now).max(1)))
}

/// Percent-encodes a query value (host names, `*`, `_`).
pub(crate) fn encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(headers: &[(&str, &str)]) -> HttpResponse {
        HttpResponse {
            status: 429,
            headers: headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
            body: Bytes::new(),
        }
    }

    #[test]
    fn rate_limit_waits_come_from_the_headers() {
        assert_eq!(
            retry_after(&response(&[("retry-after", "3")])),
            Some(Duration::from_secs(3))
        );
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_secs();
        let reset = (now + 5).to_string();
        let wait = retry_after(&response(&[("ratelimit-reset", &reset)])).expect("reset");
        assert!(wait >= Duration::from_secs(4) && wait <= Duration::from_secs(5));
        assert_eq!(retry_after(&response(&[])), None);
    }

    #[test]
    fn error_statuses_map_to_kinds() {
        use moclojer_ports::PortErrorKind::*;
        for (status, kind) in [
            (401, Unauthenticated),
            (403, Unauthenticated),
            (404, NotFound),
            (422, Invalid),
            (400, Invalid),
            (409, Conflict),
            (418, Internal),
        ] {
            let reply = Reply {
                status,
                body: serde_json::json!({"id": "x", "message": "m"}),
            };
            assert_eq!(reply.ok().expect_err("error").kind(), kind, "{status}");
        }
    }
}
