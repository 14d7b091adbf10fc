//! Per-endpoint rate limits: a sliding window log per client key, with the
//! `X-RateLimit-*` headers of the original.
//!
//! Each endpoint with a `rate-limit` has its own store (no store shared across
//! routes, no implicit limit). Memory is bounded: a store keeps at most
//! [`MAX_KEYS`] clients; past that, expired entries are swept, and if it is still full a
//! tenth of the clients are forgotten (their windows start again).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The most clients one endpoint's store remembers.
pub(crate) const MAX_KEYS: usize = 100_000;

/// The verdict on one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Let it through; `remaining` more fit in the window.
    Allowed { limit: u64, remaining: u64 },
    /// Refuse with 429; the window frees a slot at `reset_epoch_ms`.
    Limited { limit: u64, reset_epoch_ms: u128 },
}

/// One endpoint's limit and what it has seen.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    window: Duration,
    max_requests: u64,
    seen: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl RateLimiter {
    pub(crate) fn new(window: Duration, max_requests: u64) -> Self {
        Self {
            window,
            max_requests,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Records a request from `key` at `now` unless the window is full.
    pub(crate) fn check(&self, key: &str, now: Instant) -> Verdict {
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if seen.len() >= MAX_KEYS && !seen.contains_key(key) {
            self.sweep(&mut seen, now);
        }
        let window = self.window;
        let log = seen.entry(key.to_owned()).or_default();
        while log
            .front()
            .is_some_and(|t| now.duration_since(*t) >= window)
        {
            log.pop_front();
        }
        let used = log.len() as u64;
        if used >= self.max_requests {
            let oldest = log.front().copied().unwrap_or(now);
            let frees_in = window.saturating_sub(now.duration_since(oldest));
            let reset = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                + frees_in;
            return Verdict::Limited {
                limit: self.max_requests,
                reset_epoch_ms: reset.as_millis(),
            };
        }
        log.push_back(now);
        Verdict::Allowed {
            limit: self.max_requests,
            remaining: self.max_requests - used - 1,
        }
    }

    fn sweep(&self, seen: &mut HashMap<String, VecDeque<Instant>>, now: Instant) {
        let window = self.window;
        seen.retain(|_, log| log.back().is_some_and(|t| now.duration_since(*t) < window));
        if seen.len() >= MAX_KEYS {
            // Still full of live clients: forget a tenth of them (arbitrary ones), so the
            // sweep's cost is paid once per many new clients, not on every request.
            let forget: Vec<String> = seen.keys().take(MAX_KEYS / 10).cloned().collect();
            for key in forget {
                seen.remove(&key);
            }
        }
    }

    #[cfg(test)]
    fn keys(&self) -> usize {
        self.seen.lock().map(|s| s.len()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_fills_and_frees() {
        let limiter = RateLimiter::new(Duration::from_secs(10), 2);
        let t0 = Instant::now();
        assert_eq!(
            limiter.check("a", t0),
            Verdict::Allowed {
                limit: 2,
                remaining: 1
            }
        );
        assert_eq!(
            limiter.check("a", t0 + Duration::from_secs(1)),
            Verdict::Allowed {
                limit: 2,
                remaining: 0
            }
        );
        assert!(matches!(
            limiter.check("a", t0 + Duration::from_secs(2)),
            Verdict::Limited { limit: 2, .. }
        ));
        assert_eq!(
            limiter.check("b", t0 + Duration::from_secs(2)),
            Verdict::Allowed {
                limit: 2,
                remaining: 1
            },
            "keys are separate"
        );
        assert_eq!(
            limiter.check("a", t0 + Duration::from_secs(10)),
            Verdict::Allowed {
                limit: 2,
                remaining: 0
            },
            "the first request left the window"
        );
    }

    #[test]
    fn a_refused_request_is_not_recorded() {
        let limiter = RateLimiter::new(Duration::from_secs(10), 1);
        let t0 = Instant::now();
        limiter.check("a", t0);
        for i in 1..5 {
            assert!(matches!(
                limiter.check("a", t0 + Duration::from_secs(i)),
                Verdict::Limited { .. }
            ));
        }
        assert!(matches!(
            limiter.check("a", t0 + Duration::from_secs(10)),
            Verdict::Allowed { .. }
        ));
    }

    #[test]
    fn memory_is_bounded() {
        let limiter = RateLimiter::new(Duration::from_secs(3600), 5);
        let t0 = Instant::now();
        for i in 0..(MAX_KEYS + 10) {
            limiter.check(&format!("client-{i}"), t0 + Duration::from_nanos(i as u64));
        }
        assert!(limiter.keys() <= MAX_KEYS);
    }
}
