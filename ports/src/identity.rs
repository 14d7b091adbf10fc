//! Who is calling: bearer tokens to callers.

use std::fmt::Debug;
use std::time::Duration;

use async_trait::async_trait;
use moclojer_domain::{Timestamp, UserId};

use crate::PortResult;

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The user.
    pub user_id: UserId,
}

/// A token just issued. The secret is shown once; only its digest is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedToken {
    /// The bearer token to give the user.
    pub token: String,
    /// When it stops working.
    pub expires_at: Timestamp,
}

/// Turns a bearer token into a caller.
#[async_trait]
pub trait Identity: Debug + Send + Sync + 'static {
    /// The caller `token` stands for.
    ///
    /// # Errors
    /// `Unauthenticated` when the token is empty, malformed, unknown, forged, expired or
    /// revoked; `Unavailable` when the verifier cannot be reached (e.g. a JWKS endpoint).
    async fn authenticate(&self, token: &str) -> PortResult<Caller>;
}

/// Issues and revokes the service's own tokens (local mode).
#[async_trait]
pub trait TokenIssuer: Debug + Send + Sync + 'static {
    /// A new token for `user`, valid for `ttl`.
    async fn issue(&self, user: UserId, ttl: Duration) -> PortResult<IssuedToken>;

    /// Makes `token` stop working. Revoking an unknown or revoked token succeeds.
    async fn revoke(&self, token: &str) -> PortResult<()>;
}
