//! Rate limits as the generic cell rate algorithm (GCRA) counts them: `limit` requests per
//! `window`, the whole allowance at once, then one request back every `window / limit`.
//! A client costs one instant whatever its rate; keys are kept as a keyed 64-bit hash (a
//! key may be kilobytes), and a store remembers a bounded number of them.
//!
//! Used by the mock server's `rate-limit` and by the api's sign-in throttle. Pure: the
//! caller says what time it is.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The verdict on one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateVerdict {
    /// Let it through; `remaining` more fit now.
    Allowed { remaining: u64 },
    /// Refuse it; one more fits after `retry_after`.
    Limited { retry_after: Duration },
}

/// `limit` requests per `window` per key, for at most `max_keys` keys.
#[derive(Debug)]
pub struct KeyedRateLimit {
    window: Duration,
    limit: u64,
    /// `window / limit`: how often one more request fits.
    interval: Duration,
    max_keys: usize,
    /// Hashes keys with a secret of this store, so no one can aim keys at one slot.
    hasher: RandomState,
    /// By key's hash: when the key's allowance is whole again (its theoretical arrival
    /// time, in GCRA's terms).
    full_at: Mutex<HashMap<u64, Instant>>,
}

impl KeyedRateLimit {
    /// `limit` requests per `window` (a `limit` of 0 refuses every request) for at most
    /// `max_keys` keys: past that, keys whose allowance is whole again are forgotten, and
    /// if the store is still full a tenth of the keys (their allowance starts again).
    pub fn new(window: Duration, limit: u64, max_keys: usize) -> Self {
        let interval = u32::try_from(limit)
            .ok()
            .filter(|n| *n > 0)
            .map_or(window, |n| window / n);
        Self {
            window,
            limit,
            interval,
            max_keys: max_keys.max(1),
            hasher: RandomState::new(),
            full_at: Mutex::new(HashMap::new()),
        }
    }

    /// The requests allowed per window.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Counts a request of `key` at `now` unless its allowance is used up.
    pub fn check(&self, key: &str, now: Instant) -> RateVerdict {
        if self.limit == 0 {
            return RateVerdict::Limited {
                retry_after: self.window,
            };
        }
        let hash = self.hasher.hash_one(key);
        let mut full_at = self.full_at.lock().unwrap_or_else(PoisonError::into_inner);
        if full_at.len() >= self.max_keys && !full_at.contains_key(&hash) {
            self.sweep(&mut full_at, now);
        }
        let at = full_at.get(&hash).copied().unwrap_or(now).max(now);
        // The requests counted and not yet earned back take `at - now`; one more fits
        // while that stays within the window less one interval.
        let used = at - now;
        let room = self.window.saturating_sub(self.interval);
        if used > room {
            return RateVerdict::Limited {
                retry_after: used - room,
            };
        }
        let at = at + self.interval;
        full_at.insert(hash, at);
        let left = self.window.saturating_sub(at - now);
        let remaining = (left.as_nanos() / self.interval.as_nanos().max(1)) as u64;
        RateVerdict::Allowed {
            remaining: remaining.min(self.limit - 1),
        }
    }

    /// How many keys are remembered.
    pub fn keys(&self) -> usize {
        self.full_at
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    fn sweep(&self, full_at: &mut HashMap<u64, Instant>, now: Instant) {
        full_at.retain(|_, at| *at > now);
        if full_at.len() >= self.max_keys {
            let forget: Vec<u64> = full_at
                .keys()
                .take((self.max_keys / 10).max(1))
                .copied()
                .collect();
            for key in forget {
                full_at.remove(&key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEYS: usize = 100_000;

    fn allowed(remaining: u64) -> RateVerdict {
        RateVerdict::Allowed { remaining }
    }

    #[test]
    fn a_window_fills_and_frees() {
        let limiter = KeyedRateLimit::new(Duration::from_secs(10), 2, KEYS);
        let t0 = Instant::now();
        assert_eq!(limiter.check("a", t0), allowed(1));
        assert_eq!(limiter.check("a", t0 + Duration::from_secs(1)), allowed(0));
        assert!(matches!(
            limiter.check("a", t0 + Duration::from_secs(2)),
            RateVerdict::Limited { .. }
        ));
        assert_eq!(
            limiter.check("b", t0 + Duration::from_secs(2)),
            allowed(1),
            "keys are separate"
        );
        assert_eq!(
            limiter.check("a", t0 + Duration::from_secs(10)),
            allowed(1),
            "a whole window after the burst, the allowance is whole again"
        );
    }

    #[test]
    fn a_refused_request_is_not_counted() {
        let limiter = KeyedRateLimit::new(Duration::from_secs(10), 1, KEYS);
        let t0 = Instant::now();
        limiter.check("a", t0);
        for i in 1..5 {
            assert!(matches!(
                limiter.check("a", t0 + Duration::from_secs(i)),
                RateVerdict::Limited { .. }
            ));
        }
        assert!(matches!(
            limiter.check("a", t0 + Duration::from_secs(10)),
            RateVerdict::Allowed { .. }
        ));
    }

    #[test]
    fn after_a_burst_one_request_fits_per_interval() {
        // 10 per 10 s: the burst of 10, then one each second.
        let limiter = KeyedRateLimit::new(Duration::from_secs(10), 10, KEYS);
        let t0 = Instant::now();
        for i in 0..10 {
            assert_eq!(limiter.check("a", t0), allowed(9 - i));
        }
        assert!(matches!(
            limiter.check("a", t0 + Duration::from_millis(999)),
            RateVerdict::Limited { .. }
        ));
        assert_eq!(limiter.check("a", t0 + Duration::from_secs(1)), allowed(0));
        assert!(matches!(
            limiter.check("a", t0 + Duration::from_millis(1_500)),
            RateVerdict::Limited { .. }
        ));
    }

    #[test]
    fn a_limited_key_is_told_when_the_next_request_fits() {
        let limiter = KeyedRateLimit::new(Duration::from_secs(60), 1, KEYS);
        let t0 = Instant::now();
        limiter.check("a", t0);
        assert_eq!(
            limiter.check("a", t0 + Duration::from_secs(20)),
            RateVerdict::Limited {
                retry_after: Duration::from_secs(40)
            }
        );
    }

    #[test]
    fn zero_requests_refuses_every_one() {
        let limiter = KeyedRateLimit::new(Duration::from_secs(1), 0, KEYS);
        assert!(matches!(
            limiter.check("a", Instant::now()),
            RateVerdict::Limited { .. }
        ));
    }

    #[test]
    fn memory_is_bounded() {
        let limiter = KeyedRateLimit::new(Duration::from_secs(3600), 5, 1_000);
        let t0 = Instant::now();
        for i in 0..1_010 {
            limiter.check(&format!("client-{i}"), t0 + Duration::from_nanos(i));
        }
        assert!(limiter.keys() <= 1_000);
    }
}
