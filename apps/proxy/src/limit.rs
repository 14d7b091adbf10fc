//! The per-host request rate limit: a GCRA (generic cell rate algorithm) keyed by the
//! canonical host, exact per key, so one host's 429s never touch another host.
//!
//! Each key holds one number, its theoretical arrival time (TAT). A request at `now` is
//! allowed when `max(TAT, now) + interval - now <= burst × interval`, and then moves the TAT
//! on by one interval. Keys live in a few mutex-guarded shards; a shard that reaches its
//! share of [`RateLimit::max_hosts`] first forgets every key whose TAT has passed (such a key
//! is indistinguishable from a new one), and refuses new keys if that frees nothing.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How many requests per second each host may make, with how much burst.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Sustained requests per second per host; must be above zero.
    pub per_second: f64,
    /// Requests a host may make at once after being idle; at least 1.
    pub burst: u32,
    /// Hosts tracked at once; past this, idle hosts are forgotten, and if none is idle new
    /// hosts are refused (429) until some are.
    pub max_hosts: usize,
}

impl Default for RateLimit {
    fn default() -> Self {
        Self {
            per_second: 100.0,
            burst: 200,
            max_hosts: 100_000,
        }
    }
}

/// What the limiter says about one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Go on.
    Allow,
    /// Refuse; the host may try again after this long.
    Deny {
        /// Until the host's next request would be allowed.
        retry_after: Duration,
    },
}

const SHARDS: usize = 16;

/// One shard: each host's theoretical arrival time, in nanoseconds since the epoch.
type Shard = Mutex<HashMap<Box<str>, u64>>;

/// A GCRA limiter over string keys.
#[derive(Debug)]
pub(crate) struct Limiter {
    interval_ns: u64,
    tolerance_ns: u64,
    max_per_shard: usize,
    epoch: Instant,
    hasher: RandomState,
    shards: Box<[Shard]>,
}

impl Limiter {
    pub(crate) fn new(limit: RateLimit) -> Self {
        let per_second = if limit.per_second.is_finite() && limit.per_second > 0.0 {
            limit.per_second
        } else {
            f64::MIN_POSITIVE
        };
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "a positive, finite interval in nanoseconds, saturated at u64::MAX"
        )]
        let interval_ns = (1e9 / per_second).min(u64::MAX as f64).max(1.0) as u64;
        Self {
            interval_ns,
            tolerance_ns: interval_ns.saturating_mul(u64::from(limit.burst.max(1))),
            max_per_shard: limit.max_hosts.div_ceil(SHARDS).max(1),
            epoch: Instant::now(),
            hasher: RandomState::new(),
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }

    /// Counts one request for `key` and says whether it may go on.
    pub(crate) fn check(&self, key: &str) -> Verdict {
        let now = u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX);
        #[allow(
            clippy::cast_possible_truncation,
            reason = "only the low bits pick a shard"
        )]
        let shard = (self.hasher.hash_one(key) as usize) % SHARDS;
        let Ok(mut map) = self.shards[shard].lock() else {
            // A panic while holding the lock cannot leave a half-written u64: fail open.
            return Verdict::Allow;
        };
        let tat = map.get(key).copied().unwrap_or(now).max(now);
        let next = tat.saturating_add(self.interval_ns);
        let ahead = next - now;
        if ahead > self.tolerance_ns {
            return Verdict::Deny {
                retry_after: Duration::from_nanos(ahead - self.tolerance_ns),
            };
        }
        if let Some(slot) = map.get_mut(key) {
            *slot = next;
            return Verdict::Allow;
        }
        if map.len() >= self.max_per_shard {
            map.retain(|_, tat| *tat > now);
            if map.len() >= self.max_per_shard {
                return Verdict::Deny {
                    retry_after: Duration::from_secs(1),
                };
            }
        }
        map.insert(key.into(), next);
        Verdict::Allow
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(per_second: f64, burst: u32) -> Limiter {
        Limiter::new(RateLimit {
            per_second,
            burst,
            max_hosts: 1000,
        })
    }

    #[test]
    fn a_burst_passes_then_the_host_is_refused() {
        let limiter = limiter(1.0, 3);
        for _ in 0..3 {
            assert_eq!(limiter.check("a-b.localhost"), Verdict::Allow);
        }
        let Verdict::Deny { retry_after } = limiter.check("a-b.localhost") else {
            panic!("the fourth request in a burst of three passed");
        };
        assert!(retry_after <= Duration::from_secs(1));
    }

    #[test]
    fn one_host_refused_leaves_another_alone() {
        let limiter = limiter(1.0, 1);
        assert_eq!(limiter.check("a-b.localhost"), Verdict::Allow);
        assert!(matches!(
            limiter.check("a-b.localhost"),
            Verdict::Deny { .. }
        ));
        assert_eq!(limiter.check("c-d.localhost"), Verdict::Allow);
    }

    #[test]
    fn the_rate_refills_over_time() {
        let limiter = limiter(200.0, 1);
        assert_eq!(limiter.check("a-b.localhost"), Verdict::Allow);
        assert!(matches!(
            limiter.check("a-b.localhost"),
            Verdict::Deny { .. }
        ));
        std::thread::sleep(Duration::from_millis(10));
        assert_eq!(limiter.check("a-b.localhost"), Verdict::Allow);
    }

    #[test]
    fn a_full_table_forgets_idle_hosts() {
        let limiter = Limiter::new(RateLimit {
            per_second: 1000.0,
            burst: 1,
            max_hosts: SHARDS,
        });
        for i in 0..(SHARDS * 4) {
            // Every key is idle again after a millisecond.
            std::thread::sleep(Duration::from_micros(1100));
            assert_eq!(limiter.check(&format!("m{i}-x.localhost")), Verdict::Allow);
        }
    }
}
