//! Per-endpoint rate limits, with the `X-RateLimit-*` headers of the original.
//!
//! `max-requests` per `window-ms` per client key, as the generic cell rate algorithm
//! (GCRA) counts them: a client may send the whole allowance at once, then one more every
//! `window / max-requests`. A client costs one instant whatever its rate, and a key (a
//! header's value may be kilobytes) is kept as a keyed 64-bit hash.
//!
//! Each endpoint with a `rate-limit` has its own store (no store shared across routes, no
//! implicit limit). Memory is bounded: a store keeps at most [`MAX_KEYS`] clients; past
//! that, clients whose allowance is whole again are swept, and if it is still full a tenth
//! of the clients are forgotten (their allowance starts again).

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

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
pub(crate) struct RateLimiter {
    window: Duration,
    max_requests: u64,
    /// `window / max_requests`: how often one more request fits.
    interval: Duration,
    /// Hashes keys with a secret of this store, so no one can aim keys at one slot.
    hasher: RandomState,
    /// By key's hash: when the client's allowance is whole again (its theoretical arrival
    /// time, in GCRA's terms).
    full_at: Mutex<HashMap<u64, Instant>>,
}

impl RateLimiter {
    pub(crate) fn new(window: Duration, max_requests: u64) -> Self {
        let interval = u32::try_from(max_requests)
            .ok()
            .filter(|n| *n > 0)
            .map_or(window, |n| window / n);
        Self {
            window,
            max_requests,
            interval,
            hasher: RandomState::new(),
            full_at: Mutex::new(HashMap::new()),
        }
    }

    /// Counts a request from `key` at `now` unless it has used its allowance.
    pub(crate) fn check(&self, key: &str, now: Instant) -> Verdict {
        let limit = self.max_requests;
        if limit == 0 {
            return Verdict::Limited {
                limit,
                reset_epoch_ms: epoch_ms_in(self.window),
            };
        }
        let hash = self.hasher.hash_one(key);
        let mut full_at = self
            .full_at
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if full_at.len() >= MAX_KEYS && !full_at.contains_key(&hash) {
            sweep(&mut full_at, now);
        }
        let at = full_at.get(&hash).copied().unwrap_or(now).max(now);
        // The requests already counted and not yet earned back take `at - now`; one more
        // fits while that stays within the window less one interval.
        let used = at - now;
        let room = self.window.saturating_sub(self.interval);
        if used > room {
            return Verdict::Limited {
                limit,
                reset_epoch_ms: epoch_ms_in(used - room),
            };
        }
        let at = at + self.interval;
        full_at.insert(hash, at);
        let left = self.window.saturating_sub(at - now);
        let remaining = (left.as_nanos() / self.interval.as_nanos().max(1)) as u64;
        Verdict::Allowed {
            limit,
            remaining: remaining.min(limit - 1),
        }
    }

    #[cfg(test)]
    fn keys(&self) -> usize {
        self.full_at.lock().map(|s| s.len()).unwrap_or(0)
    }
}

/// Forgets the clients whose allowance is whole again; if the store is still full, a tenth
/// of the clients (arbitrary ones), so the sweep's cost is paid once per many new clients.
fn sweep(full_at: &mut HashMap<u64, Instant>, now: Instant) {
    full_at.retain(|_, at| *at > now);
    if full_at.len() >= MAX_KEYS {
        let forget: Vec<u64> = full_at.keys().take(MAX_KEYS / 10).copied().collect();
        for key in forget {
            full_at.remove(&key);
        }
    }
}

/// The Unix time, in milliseconds, `wait` from now.
fn epoch_ms_in(wait: Duration) -> u128 {
    (SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        + wait)
        .as_millis()
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
                remaining: 1
            },
            "a whole window after the burst, the allowance is whole again"
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
    fn after_a_burst_one_request_fits_per_interval() {
        // 10 per 10 s: the burst of 10, then one each second.
        let limiter = RateLimiter::new(Duration::from_secs(10), 10);
        let t0 = Instant::now();
        for i in 0..10 {
            assert_eq!(
                limiter.check("a", t0),
                Verdict::Allowed {
                    limit: 10,
                    remaining: 9 - i
                }
            );
        }
        assert!(matches!(
            limiter.check("a", t0 + Duration::from_millis(999)),
            Verdict::Limited { .. }
        ));
        assert!(matches!(
            limiter.check("a", t0 + Duration::from_secs(1)),
            Verdict::Allowed { remaining: 0, .. }
        ));
        assert!(matches!(
            limiter.check("a", t0 + Duration::from_millis(1_500)),
            Verdict::Limited { .. }
        ));
    }

    #[test]
    fn a_limited_client_is_told_when_the_next_request_fits() {
        let limiter = RateLimiter::new(Duration::from_secs(60), 1);
        let t0 = Instant::now();
        limiter.check("a", t0);
        let before = epoch_ms_in(Duration::ZERO);
        let Verdict::Limited { reset_epoch_ms, .. } =
            limiter.check("a", t0 + Duration::from_secs(20))
        else {
            panic!("limited");
        };
        let wait = reset_epoch_ms - before;
        assert!((39_900..=40_100).contains(&wait), "{wait} ms");
    }

    #[test]
    fn zero_requests_refuses_every_one() {
        let limiter = RateLimiter::new(Duration::from_secs(1), 0);
        assert!(matches!(
            limiter.check("a", Instant::now()),
            Verdict::Limited { limit: 0, .. }
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
