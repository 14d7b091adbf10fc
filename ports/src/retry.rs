//! Backoff for retries of calls that failed for a passing reason.

use std::time::Duration;

/// The wait after failed attempt number `attempt` (1 for the first): `base` doubled
/// `attempt - 1` times, at most `max`, then drawn between half of it and all of it ("equal
/// jitter"), so clients that failed together do not retry together.
pub fn jittered_backoff(base: Duration, max: Duration, attempt: u32) -> Duration {
    let doubled = base.saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
    let full = doubled.min(max);
    let millis = u64::try_from(full.as_millis()).unwrap_or(u64::MAX);
    Duration::from_millis(fastrand::u64(millis / 2..=millis))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_within_half_and_whole_and_stops_at_the_cap() {
        let base = Duration::from_millis(100);
        let max = Duration::from_millis(1000);
        for _ in 0..200 {
            for (attempt, whole) in [
                (1, 100),
                (2, 200),
                (3, 400),
                (4, 800),
                (5, 1000),
                (40, 1000),
            ] {
                let wait = jittered_backoff(base, max, attempt).as_millis();
                assert!(
                    (whole / 2..=whole).contains(&wait),
                    "attempt {attempt}: {wait} ms not in {}..={whole}",
                    whole / 2
                );
            }
        }
    }
}
