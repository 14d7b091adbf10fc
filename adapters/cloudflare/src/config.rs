//! What a [`CloudflareDns`](crate::CloudflareDns) needs to know: where the API is, which
//! zone, the token, the tag that marks our records, and how to retry.

use std::fmt;
use std::time::Duration;

use moclojer_ports::{PortError, PortResult};

/// Cloudflare's API, version 4.
pub const DEFAULT_API_BASE: &str = "https://api.cloudflare.com/client/v4";
/// The comment that marks a record as ours, by default.
pub const DEFAULT_TAG: &str = "managed-by:moclojer";
/// Records asked for per page when listing, by default (Cloudflare's own default).
pub const DEFAULT_PAGE_SIZE: u32 = 100;

/// A Cloudflare API token. Its `Debug` shows no part of it, and it has no `Display`, so it
/// cannot end up in a log line by accident.
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

impl From<String> for ApiToken {
    fn from(token: String) -> Self {
        Self::new(token)
    }
}

impl fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiToken([redacted])")
    }
}

/// How calls are retried. A `429 Too Many Requests` waits what its `Retry-After` says (at
/// most [`max_retry_after`](Self::max_retry_after)); a 5xx answer, or a connection that
/// failed or timed out, waits an exponential backoff with jitter. Other answers are never
/// retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per call, the first included; at least 1. Default 5.
    pub max_attempts: u32,
    /// The backoff before the second attempt; it doubles for each further one. Default
    /// 200 ms.
    pub base_delay: Duration,
    /// The longest backoff. Default 5 s.
    pub max_delay: Duration,
    /// The longest wait a `Retry-After` may ask for; a longer one is cut to this. Default
    /// 60 s.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// The backoff after failed attempt number `attempt` (1 for the first): the base delay
    /// doubled `attempt - 1` times, at most `max_delay`, then between half of it and all
    /// of it at random ("equal jitter"), so clients that failed together do not retry
    /// together.
    pub(crate) fn backoff(&self, attempt: u32) -> Duration {
        moclojer_ports::jittered_backoff(self.base_delay, self.max_delay, attempt)
    }
}

/// Everything [`CloudflareDns`](crate::CloudflareDns) needs. Build it with
/// [`CloudflareConfig::new`], then adjust the public fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloudflareConfig {
    /// The API's base address, without a trailing slash: [`DEFAULT_API_BASE`] unless a test
    /// points it at a fake.
    pub api_base: String,
    /// The zone's identifier (32 hexadecimal characters at Cloudflare).
    pub zone_id: String,
    /// A token with `Zone.DNS` edit permission on the zone.
    pub token: ApiToken,
    /// The comment that marks a record as ours: we create records with it, and change or
    /// remove only records that carry exactly it. [`DEFAULT_TAG`] by default.
    pub tag: String,
    /// Records asked for per page when listing, 5 to 5000; [`DEFAULT_PAGE_SIZE`] by
    /// default.
    pub page_size: u32,
    /// How calls are retried.
    pub retry: RetryPolicy,
}

impl CloudflareConfig {
    /// The configuration for zone `zone_id` with `token`, and the defaults for the rest.
    pub fn new(zone_id: impl Into<String>, token: ApiToken) -> Self {
        Self {
            api_base: DEFAULT_API_BASE.to_owned(),
            zone_id: zone_id.into(),
            token,
            tag: DEFAULT_TAG.to_owned(),
            page_size: DEFAULT_PAGE_SIZE,
            retry: RetryPolicy::default(),
        }
    }

    /// Checks the configuration before it is used.
    ///
    /// # Errors
    /// `Invalid` when the base is not an `http(s)://` address, the zone id is not
    /// alphanumeric, the token is empty or not one header-safe word, the tag is empty or
    /// over 100 characters (Cloudflare's limit on comments), the page size is outside 5 to
    /// 5000, or `max_attempts` is 0.
    pub fn check(&self) -> PortResult<()> {
        let base_ok = (self.api_base.starts_with("https://")
            || self.api_base.starts_with("http://"))
            && !self.api_base.ends_with('/')
            && !self.api_base.contains(['?', '#', '@', ' ']);
        if !base_ok {
            return Err(PortError::invalid(format!(
                "cloudflare api base {:?} is not an http(s) address without a trailing slash",
                self.api_base
            )));
        }
        if self.zone_id.is_empty()
            || self.zone_id.len() > 64
            || !self.zone_id.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return Err(PortError::invalid(
                "cloudflare zone id must be 1 to 64 letters and digits",
            ));
        }
        let token = self.token.expose();
        if token.is_empty() || !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(PortError::invalid(
                "cloudflare api token must be one word of visible ascii characters",
            ));
        }
        if self.tag.is_empty() || self.tag.chars().count() > 100 {
            return Err(PortError::invalid(
                "cloudflare ownership tag must be 1 to 100 characters",
            ));
        }
        if !(5..=5000).contains(&self.page_size) {
            return Err(PortError::invalid(
                "cloudflare page size must be between 5 and 5000",
            ));
        }
        if self.retry.max_attempts == 0 {
            return Err(PortError::invalid("retry max_attempts must be at least 1"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_never_shows() {
        let config = CloudflareConfig::new("abc123", ApiToken::new("s3cr3t-token-value"));
        let shown = format!("{config:?} {config:#?}");
        assert!(!shown.contains("s3cr3t-token-value"), "{shown}");
        assert!(shown.contains("redacted"));
    }

    #[test]
    fn backoff_doubles_within_bounds() {
        let retry = RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(350),
            max_retry_after: Duration::from_secs(1),
        };
        for _ in 0..50 {
            let first = retry.backoff(1);
            assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
            let second = retry.backoff(2);
            assert!(second >= Duration::from_millis(100) && second <= Duration::from_millis(200));
            let capped = retry.backoff(30);
            assert!(capped >= Duration::from_millis(175) && capped <= Duration::from_millis(350));
        }
    }

    #[test]
    fn bad_configurations_are_refused() {
        let good = CloudflareConfig::new("abc123", ApiToken::new("t"));
        assert!(good.check().is_ok());
        let mut bad = good.clone();
        bad.api_base = "ftp://x".to_owned();
        assert!(bad.check().is_err());
        let mut bad = good.clone();
        bad.zone_id = "../x".to_owned();
        assert!(bad.check().is_err());
        let mut bad = good.clone();
        bad.token = ApiToken::new("two words");
        assert!(bad.check().is_err());
        let mut bad = good.clone();
        bad.page_size = 4;
        assert!(bad.check().is_err());
        let mut bad = good;
        bad.retry.max_attempts = 0;
        assert!(bad.check().is_err());
    }
}
