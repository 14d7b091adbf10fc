//! Named leases: so that only one of several worker instances (two `ops` processes
//! reconciling DNS, say) does a periodic job at a time.
//!
//! A worker takes the lease before each round and renews it as it goes; when it dies, its
//! lease expires and another takes over. Expiry is judged by the store's clock (for the
//! databases, the server's), so workers on machines whose clocks disagree still agree on
//! who holds a lease. A lease is advisory: a worker that was paused past its expiry may
//! still be running, so writes that must not come from two holders carry the lease's
//! [`Lease::fence`] and the receiving side refuses a smaller one than it has seen.

use std::fmt::Debug;
use std::time::Duration;

use async_trait::async_trait;
use moclojer_domain::Timestamp;

use crate::{PortError, PortResult};

/// The longest lease name or holder, in characters.
pub const MAX_LEASE_NAME_LEN: usize = 100;

/// A named lease held by one holder until it expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// What the lease guards, e.g. `ops.reconcile-dns`.
    pub name: String,
    /// Who holds it, e.g. a process's host name and id.
    pub holder: String,
    /// When it expires unless renewed, by the store's clock.
    pub expires_at: Timestamp,
    /// The fencing token: increases every time the lease is taken anew (changes hands,
    /// or is taken again after it expired or was released); a renewal keeps it.
    pub fence: u64,
}

/// Checks a lease name or holder: 1 to [`MAX_LEASE_NAME_LEN`] characters. `what` names
/// the argument in the message.
///
/// # Errors
/// `Invalid` otherwise.
pub fn check_lease_name(what: &str, value: &str) -> PortResult<()> {
    let len = value.chars().count();
    if (1..=MAX_LEASE_NAME_LEN).contains(&len) {
        Ok(())
    } else {
        Err(PortError::invalid(format!(
            "a lease {what} has 1 to {MAX_LEASE_NAME_LEN} characters, not {len}"
        )))
    }
}

/// Checks a lease's time to live: at least one millisecond, the precision of the stores.
/// Returns it in milliseconds, saturating.
///
/// # Errors
/// `Invalid` for less than a millisecond.
pub fn lease_ttl_millis(ttl: Duration) -> PortResult<i64> {
    match ttl.as_millis() {
        0 => Err(PortError::invalid("a lease lasts at least one millisecond")),
        millis => Ok(i64::try_from(millis).unwrap_or(i64::MAX)),
    }
}

/// Named leases, each held by at most one holder at a time. Several processes may call
/// at once: the store decides atomically who gets a lease.
#[async_trait]
pub trait LeaseStore: Debug + Send + Sync + 'static {
    /// Takes or renews `name` for `holder` for `ttl`: succeeds when the lease is free,
    /// expired, released, or already `holder`'s, and then expires `ttl` after now (by the
    /// store's clock). Returns the lease with its fencing token ([`Lease::fence`]), which
    /// increases every time the lease is taken anew (it changes hands, or is taken again
    /// after it expired or was released) and stays the same on a renewal. `None` when
    /// another holder has it.
    ///
    /// # Errors
    /// `Invalid` when `name` or `holder` is empty or longer than [`MAX_LEASE_NAME_LEN`]
    /// characters, or `ttl` is under a millisecond.
    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> PortResult<Option<Lease>>;

    /// Gives the lease up if `holder` has it, so another can take it at once (its fence
    /// then increases). A no-op otherwise: when the lease is unknown, or another holder
    /// has it.
    ///
    /// # Errors
    /// `Invalid` when `name` or `holder` is empty or longer than [`MAX_LEASE_NAME_LEN`]
    /// characters.
    async fn release_lease(&self, name: &str, holder: &str) -> PortResult<()>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PortErrorKind;

    #[test]
    fn names_have_1_to_100_characters() {
        assert!(check_lease_name("name", "a").is_ok());
        assert!(check_lease_name("name", &"é".repeat(100)).is_ok());
        for bad in [String::new(), "a".repeat(101), "é".repeat(101)] {
            let err = check_lease_name("holder", &bad).unwrap_err();
            assert_eq!(err.kind(), PortErrorKind::Invalid);
            assert!(err.message().contains("holder"), "{err}");
        }
    }

    #[test]
    fn a_ttl_is_at_least_a_millisecond() {
        assert_eq!(lease_ttl_millis(Duration::from_millis(1)).unwrap(), 1);
        assert_eq!(lease_ttl_millis(Duration::from_secs(60)).unwrap(), 60_000);
        assert_eq!(lease_ttl_millis(Duration::MAX).unwrap(), i64::MAX);
        for bad in [Duration::ZERO, Duration::from_micros(999)] {
            assert_eq!(
                lease_ttl_millis(bad).unwrap_err().kind(),
                PortErrorKind::Invalid
            );
        }
    }
}
