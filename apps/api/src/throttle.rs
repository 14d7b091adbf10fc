//! The sign-in throttle: attempts to sign in or up, per client address and per e-mail
//! address, as [`KeyedRateLimit`] counts them. Past either limit the answer is 429 with
//! `Retry-After`, before any password is hashed: guessing a password costs the guesser
//! time, and a flood of attempts cannot take the hashing cores from everyone else.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use moclojer_domain::{KeyedRateLimit, RateVerdict, TrustedProxies};

use crate::error::{ApiError, ApiResult};

/// Attempts one client address may make: a burst of 30, then one every 2 s.
pub const CLIENT_ATTEMPTS: (u64, Duration) = (30, Duration::from_secs(60));

/// Attempts on one e-mail address: a burst of 10, then one a minute.
pub const EMAIL_ATTEMPTS: (u64, Duration) = (10, Duration::from_secs(600));

/// The most addresses each limit remembers.
const MAX_KEYS: usize = 100_000;

/// Counts sign-in and sign-up attempts. Cloning shares the counts.
#[derive(Debug, Clone)]
pub struct SignInThrottle {
    by_client: Arc<KeyedRateLimit>,
    by_email: Arc<KeyedRateLimit>,
    /// Proxies in front whose `X-Real-IP` names the client; none by default.
    pub trusted_proxies: TrustedProxies,
}

impl Default for SignInThrottle {
    fn default() -> Self {
        Self::new(CLIENT_ATTEMPTS, EMAIL_ATTEMPTS)
    }
}

impl SignInThrottle {
    /// `(limit, window)` per client address and per e-mail address.
    pub fn new(client: (u64, Duration), email: (u64, Duration)) -> Self {
        Self {
            by_client: Arc::new(KeyedRateLimit::new(client.1, client.0, MAX_KEYS)),
            by_email: Arc::new(KeyedRateLimit::new(email.1, email.0, MAX_KEYS)),
            trusted_proxies: TrustedProxies::none(),
        }
    }

    /// The client of a request from `peer` carrying `real_ip` (`X-Real-IP`), believed only
    /// from a trusted proxy.
    pub fn client(&self, peer: Option<IpAddr>, real_ip: Option<&str>) -> IpAddr {
        let peer = peer.unwrap_or(IpAddr::from([0, 0, 0, 0]));
        self.trusted_proxies.real_ip(peer, real_ip)
    }

    /// Counts an attempt from `client` on `email` (when there is one).
    ///
    /// # Errors
    /// 429 with `Retry-After` when either has used its allowance.
    pub fn attempt(&self, client: IpAddr, email: Option<&str>) -> ApiResult<()> {
        let now = Instant::now();
        if let RateVerdict::Limited { retry_after } = self.by_client.check(&client.to_string(), now)
        {
            return Err(ApiError::too_many(
                "too many attempts from this address; try again later",
                retry_after,
            ));
        }
        let Some(email) = email else {
            return Ok(());
        };
        let email = email.trim().to_lowercase();
        match self.by_email.check(&email, now) {
            RateVerdict::Allowed { .. } => Ok(()),
            RateVerdict::Limited { retry_after } => Err(ApiError::too_many(
                "too many attempts for this e-mail address; try again later",
                retry_after,
            )),
        }
    }
}
