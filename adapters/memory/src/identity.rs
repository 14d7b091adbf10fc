//! Opaque bearer tokens, kept as digests in memory.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use moclojer_domain::{Timestamp, UserId};
use moclojer_ports::{Caller, Clock, Identity, IssuedToken, PortError, PortResult, TokenIssuer};
use sha2::{Digest, Sha256};

use crate::lock;

/// Tokens look like `mcj_` followed by 64 hex digits (32 random bytes).
const PREFIX: &str = "mcj_";

type Digest32 = [u8; 32];

/// Issues and verifies the service's own tokens. Only the SHA-256 of each token is kept, so
/// a dump of the state reveals no usable token. Cloning shares the tokens.
#[derive(Debug, Clone)]
pub struct InMemoryIdentity {
    clock: Arc<dyn Clock>,
    tokens: Arc<Mutex<HashMap<Digest32, (UserId, Timestamp)>>>,
}

impl InMemoryIdentity {
    /// An identity that reads expiry against `clock`.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            tokens: Arc::default(),
        }
    }
}

fn digest(token: &str) -> Digest32 {
    Sha256::digest(token.as_bytes()).into()
}

fn well_formed(token: &str) -> bool {
    token
        .strip_prefix(PREFIX)
        .is_some_and(|secret| secret.len() == 64 && secret.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[async_trait]
impl Identity for InMemoryIdentity {
    async fn authenticate(&self, token: &str) -> PortResult<Caller> {
        if token.is_empty() {
            return Err(PortError::unauthenticated("no token"));
        }
        if !well_formed(token) {
            return Err(PortError::unauthenticated("malformed token"));
        }
        let found = lock(&self.tokens).get(&digest(token)).copied();
        match found {
            None => Err(PortError::unauthenticated("unknown or revoked token")),
            Some((_, expires_at)) if expires_at <= self.clock.now() => {
                Err(PortError::unauthenticated("token expired"))
            }
            Some((user_id, _)) => Ok(Caller { user_id }),
        }
    }
}

#[async_trait]
impl TokenIssuer for InMemoryIdentity {
    async fn issue(&self, user: UserId, ttl: Duration) -> PortResult<IssuedToken> {
        let mut secret = [0_u8; 32];
        getrandom::fill(&mut secret)
            .map_err(|e| PortError::unavailable(format!("no randomness for a token: {e}")))?;
        let token = format!("{PREFIX}{}", hex::encode(secret));
        let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        let expires_at = self.clock.now().plus_millis(ttl_ms);
        lock(&self.tokens).insert(digest(&token), (user, expires_at));
        Ok(IssuedToken { token, expires_at })
    }

    async fn revoke(&self, token: &str) -> PortResult<()> {
        lock(&self.tokens).remove(&digest(token));
        Ok(())
    }
}
