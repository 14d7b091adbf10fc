//! Per-endpoint rate limits, with the `X-RateLimit-*` headers of the original, counted by
//! [`KeyedRateLimit`] (GCRA: the whole allowance at once, then one request back every
//! `window-ms / max-requests`; one instant per client under a keyed hash).
//!
//! Each endpoint with a `rate-limit` has its own store (no store shared across routes, no
//! implicit limit), of at most [`MAX_KEYS`] clients.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use moclojer_domain::{KeyedRateLimit, RateVerdict};

/// The most clients one endpoint's store remembers.
pub(crate) const MAX_KEYS: usize = 100_000;

/// The verdict on one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Let it through; `remaining` more fit in the window.
    Allowed { limit: u64, remaining: u64 },
    /// Refuse with 429; the next request fits at `reset_epoch_ms`.
    Limited { limit: u64, reset_epoch_ms: u128 },
}

/// One endpoint's limit and what it has seen.
#[derive(Debug)]
pub(crate) struct RateLimiter(KeyedRateLimit);

impl RateLimiter {
    pub(crate) fn new(window: Duration, max_requests: u64) -> Self {
        Self(KeyedRateLimit::new(window, max_requests, MAX_KEYS))
    }

    /// Counts a request from `key` at `now` unless it has used its allowance.
    pub(crate) fn check(&self, key: &str, now: Instant) -> Verdict {
        let limit = self.0.limit();
        match self.0.check(key, now) {
            RateVerdict::Allowed { remaining } => Verdict::Allowed { limit, remaining },
            RateVerdict::Limited { retry_after } => Verdict::Limited {
                limit,
                reset_epoch_ms: (SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default()
                    + retry_after)
                    .as_millis(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_carry_the_limit_and_the_reset_time() {
        let limiter = RateLimiter::new(Duration::from_secs(60), 1);
        let t0 = Instant::now();
        assert_eq!(
            limiter.check("a", t0),
            Verdict::Allowed {
                limit: 1,
                remaining: 0
            }
        );
        let before = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis();
        let Verdict::Limited {
            limit,
            reset_epoch_ms,
        } = limiter.check("a", t0 + Duration::from_secs(20))
        else {
            panic!("limited");
        };
        assert_eq!(limit, 1);
        let wait = reset_epoch_ms - before;
        assert!((39_900..=40_100).contains(&wait), "{wait} ms");
    }
}
