//! What the adapters need to reach the DigitalOcean API: where, with which token, and how
//! hard to retry.

use std::fmt;
use std::time::Duration;

use moclojer_ports::{PortError, PortResult};
use url::Url;

/// The public API's base URL.
pub const DEFAULT_BASE_URL: &str = "https://api.digitalocean.com/v2";

/// A DigitalOcean API token: its `Debug` shows no part of it, and it has no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiToken(Box<str>);

impl ApiToken {
    /// Wraps `token`.
    pub fn new(token: impl Into<String>) -> Self {
        Self(token.into().into_boxed_str())
    }

    /// The token itself, for the `Authorization` header.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiToken(<redacted>)")
    }
}

/// How calls that failed for a passing reason are tried again: 429 (after the time the
/// answer names), 5xx, and connections that failed or timed out (the latter only for
/// `GET`, `PUT` and `DELETE`, which are safe to repeat). The same bounds apply to an app
/// spec change that a writer elsewhere undid between our write and its verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (at least 1). Default 5. Also the most
    /// read-modify-writes of an app spec for one change.
    pub max_attempts: u32,
    /// The first back-off delay; each later one doubles, with random jitter (a delay is
    /// drawn between half and all of its value). Default 250 ms.
    pub base_delay: Duration,
    /// The longest single wait. A 429 asking for longer fails at once as `Unavailable`.
    /// Default 30 s.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The back-off before attempt `attempt + 1` (`attempt` from 1), jittered.
    pub(crate) fn backoff(&self, attempt: u32) -> Duration {
        moclojer_ports::jittered_backoff(self.base_delay, self.max_delay, attempt)
    }
}

/// The API's address and credentials, shared by [`DigitalOceanDns`] and [`DigitalOceanApps`].
///
/// [`DigitalOceanDns`]: crate::DigitalOceanDns
/// [`DigitalOceanApps`]: crate::DigitalOceanApps
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigitalOceanConfig {
    /// The API's base URL, [`DEFAULT_BASE_URL`] unless testing.
    pub base_url: String,
    /// A personal access token with read and write scope on domains and apps.
    pub token: ApiToken,
    /// Retries of passing failures.
    pub retry: RetryPolicy,
}

impl DigitalOceanConfig {
    /// The public API with `token` and the default retries.
    pub fn new(token: ApiToken) -> Self {
        Self {
            base_url: DEFAULT_BASE_URL.to_owned(),
            token,
            retry: RetryPolicy::default(),
        }
    }

    /// The base URL checked (`http` or `https`, a host, no credentials, query or fragment),
    /// without a trailing slash.
    pub(crate) fn checked_base_url(&self) -> PortResult<String> {
        let url = Url::parse(&self.base_url)
            .map_err(|e| PortError::invalid(format!("digitalocean base url: {e}")))?;
        let fine = matches!(url.scheme(), "http" | "https")
            && url.host().is_some()
            && url.username().is_empty()
            && url.password().is_none()
            && url.query().is_none()
            && url.fragment().is_none();
        if !fine {
            return Err(PortError::invalid(
                "digitalocean base url must be an http(s) URL without credentials or query",
            ));
        }
        if self.token.expose().trim().is_empty() {
            return Err(PortError::invalid("digitalocean token is empty"));
        }
        Ok(url.as_str().trim_end_matches('/').to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_never_shows() {
        let config = DigitalOceanConfig::new(ApiToken::new("dop_v1_secret123"));
        assert!(!format!("{config:?}").contains("secret123"));
    }

    #[test]
    fn base_urls_are_checked() {
        let mut config = DigitalOceanConfig::new(ApiToken::new("t"));
        assert_eq!(
            config.checked_base_url().expect("default"),
            DEFAULT_BASE_URL
        );
        config.base_url = "http://127.0.0.1:8080/v2/".to_owned();
        assert_eq!(
            config.checked_base_url().expect("local"),
            "http://127.0.0.1:8080/v2"
        );
        for bad in [
            "ftp://x/v2",
            "https://u:p@x/v2",
            "https://x/v2?a=1",
            "not a url",
        ] {
            config.base_url = bad.to_owned();
            assert!(config.checked_base_url().is_err(), "{bad}");
        }
        config.base_url = DEFAULT_BASE_URL.to_owned();
        config.token = ApiToken::new(" ");
        assert!(config.checked_base_url().is_err(), "empty token");
    }

    #[test]
    fn backoff_doubles_with_jitter_and_a_cap() {
        let policy = RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(350),
        };
        for _ in 0..50 {
            let first = policy.backoff(1);
            assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
            let second = policy.backoff(2);
            assert!(second >= Duration::from_millis(100) && second <= Duration::from_millis(200));
            let capped = policy.backoff(10);
            assert!(capped >= Duration::from_millis(175) && capped <= Duration::from_millis(350));
        }
    }
}
