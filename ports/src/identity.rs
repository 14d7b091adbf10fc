//! Who is calling: bearer tokens to callers.
//!
//! Two kinds of token reach the api. The service's own tokens (`mcj_` + 64 hex digits) are
//! issued by [`LocalTokens`] at sign-in (session tokens) or on request (personal API tokens
//! for scripts and CI); only their SHA-256 digest is stored, through a [`TokenStore`], so a
//! dump of the database reveals no usable token. Tokens minted elsewhere (Supabase JWTs)
//! are verified by another [`Identity`].

use std::fmt::{self, Debug};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use moclojer_domain::{Email, Timestamp, UserId};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::{Clock, IdGenerator, PortError, PortResult};

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The user.
    pub user_id: UserId,
    /// The user's e-mail address, when the token carries it (an external identity's token
    /// does; the api uses it to make the local account on first sight).
    pub email: Option<Email>,
}

impl Caller {
    /// A caller known by id only.
    pub fn user(user_id: UserId) -> Self {
        Self {
            user_id,
            email: None,
        }
    }
}

/// A token just issued. The secret is shown once; only its digest is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedToken {
    /// The bearer token to give the user.
    pub token: String,
    /// Its record, as stored (without the secret).
    pub record: TokenRecord,
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

/// Issues and revokes the service's own tokens.
#[async_trait]
pub trait TokenIssuer: Debug + Send + Sync + 'static {
    /// A new session token for `user`, valid for `ttl`.
    async fn issue(&self, user: UserId, ttl: Duration) -> PortResult<IssuedToken>;

    /// Makes `token` stop working. Revoking an unknown or revoked token succeeds.
    async fn revoke(&self, token: &str) -> PortResult<()>;
}

/// The id of a stored token (not the secret).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TokenId(Uuid);

impl TokenId {
    /// Wraps a UUID.
    pub const fn from_uuid(uuid: Uuid) -> Self {
        Self(uuid)
    }

    /// The UUID.
    pub const fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl fmt::Debug for TokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenId({})", self.0)
    }
}

impl fmt::Display for TokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// What a token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenKind {
    /// Issued at sign-in; expires.
    Session,
    /// Made by the user for scripts and CI; named, listed, revocable by id; may not expire.
    Personal,
}

impl TokenKind {
    /// The kind's name as stored.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Session => "session",
            Self::Personal => "personal",
        }
    }

    /// Reads a stored kind name.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "session" => Some(Self::Session),
            "personal" => Some(Self::Personal),
            _ => None,
        }
    }
}

/// The SHA-256 of a token's text: what is stored and looked up.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenDigest([u8; 32]);

impl TokenDigest {
    /// The digest of `token`.
    pub fn of(token: &str) -> Self {
        Self(Sha256::digest(token.as_bytes()).into())
    }

    /// Wraps stored bytes.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The 32 bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for TokenDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Only a prefix: enough to tell two apart in a log, useless to anyone else.
        write!(
            f,
            "TokenDigest({:02x}{:02x}{:02x}{:02x}…)",
            self.0[0], self.0[1], self.0[2], self.0[3]
        )
    }
}

/// A stored token: everything but the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    /// Its id.
    pub id: TokenId,
    /// Whose.
    pub user_id: UserId,
    /// Session or personal.
    pub kind: TokenKind,
    /// The name the user gave it (`""` for session tokens); at most 100 characters.
    pub name: String,
    /// The digest of the secret.
    pub digest: TokenDigest,
    /// When it was made.
    pub created_at: Timestamp,
    /// When it stops working; `None` for a personal token that does not expire.
    pub expires_at: Option<Timestamp>,
}

/// Where the service's own tokens are kept, as digests.
#[async_trait]
pub trait TokenStore: Debug + Send + Sync + 'static {
    /// Stores a new token.
    ///
    /// # Errors
    /// `Conflict` when the id or the digest is taken; `NotFound` when the user does not
    /// exist.
    async fn insert_token(&self, record: &TokenRecord) -> PortResult<()>;

    /// The token whose secret has `digest`, expired or not.
    ///
    /// # Errors
    /// `NotFound` when there is none.
    async fn find_token(&self, digest: &TokenDigest) -> PortResult<TokenRecord>;

    /// The tokens of `user` of `kind`, oldest first.
    async fn list_tokens(&self, user: UserId, kind: TokenKind) -> PortResult<Vec<TokenRecord>>;

    /// Deletes the token `id` of `user`.
    ///
    /// # Errors
    /// `NotFound` when `user` has no token `id` (another user's token is not found either).
    async fn delete_token(&self, user: UserId, id: TokenId) -> PortResult<()>;

    /// Deletes the token whose secret has `digest`. Deleting an unknown digest succeeds.
    async fn delete_token_by_digest(&self, digest: &TokenDigest) -> PortResult<()>;

    /// Deletes every token that expired at or before `now`; returns how many.
    async fn delete_expired_tokens(&self, now: Timestamp) -> PortResult<u64>;
}

/// Tokens look like `mcj_` followed by 64 hex digits (32 random bytes).
pub const TOKEN_PREFIX: &str = "mcj_";

/// The longest personal token name, in characters.
pub const MAX_TOKEN_NAME_LEN: usize = 100;

/// The service's own tokens over a [`TokenStore`]: issues, verifies and revokes them.
#[derive(Debug, Clone)]
pub struct LocalTokens {
    store: Arc<dyn TokenStore>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
}

impl LocalTokens {
    /// Tokens kept in `store`, with expiry read against `clock`.
    pub fn new(
        store: Arc<dyn TokenStore>,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGenerator>,
    ) -> Self {
        Self { store, clock, ids }
    }

    /// Whether `token` has the shape of one of ours (it may still be unknown).
    pub fn is_ours(token: &str) -> bool {
        token.starts_with(TOKEN_PREFIX)
    }

    /// A new personal token for `user` named `name`, valid for `ttl` (for ever with `None`).
    ///
    /// # Errors
    /// `Invalid` for a blank name, one longer than [`MAX_TOKEN_NAME_LEN`], or one with a
    /// control character; as
    /// [`TokenStore::insert_token`].
    pub async fn issue_personal(
        &self,
        user: UserId,
        name: &str,
        ttl: Option<Duration>,
    ) -> PortResult<IssuedToken> {
        let name = name.trim();
        if name.is_empty()
            || name.chars().count() > MAX_TOKEN_NAME_LEN
            || name.chars().any(char::is_control)
        {
            return Err(PortError::invalid(format!(
                "a token name has 1 to {MAX_TOKEN_NAME_LEN} characters, none of them control characters"
            )));
        }
        self.make(user, TokenKind::Personal, name, ttl).await
    }

    /// The personal tokens of `user`, oldest first.
    ///
    /// # Errors
    /// As [`TokenStore::list_tokens`].
    pub async fn list_personal(&self, user: UserId) -> PortResult<Vec<TokenRecord>> {
        self.store.list_tokens(user, TokenKind::Personal).await
    }

    /// Revokes the token `id` of `user`.
    ///
    /// # Errors
    /// `NotFound` when `user` has no such token.
    pub async fn revoke_by_id(&self, user: UserId, id: TokenId) -> PortResult<()> {
        self.store.delete_token(user, id).await
    }

    /// Forgets every expired token; returns how many.
    ///
    /// # Errors
    /// As [`TokenStore::delete_expired_tokens`].
    pub async fn purge_expired(&self) -> PortResult<u64> {
        self.store.delete_expired_tokens(self.clock.now()).await
    }

    async fn make(
        &self,
        user: UserId,
        kind: TokenKind,
        name: &str,
        ttl: Option<Duration>,
    ) -> PortResult<IssuedToken> {
        let mut secret = [0_u8; 32];
        getrandom::fill(&mut secret)
            .map_err(|e| PortError::unavailable(format!("no randomness for a token: {e}")))?;
        let token = format!("{TOKEN_PREFIX}{}", hex::encode(secret));
        let now = self.clock.now();
        let expires_at =
            ttl.map(|ttl| now.plus_millis(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX)));
        let record = TokenRecord {
            id: TokenId::from_uuid(self.ids.uuid()),
            user_id: user,
            kind,
            name: name.to_owned(),
            digest: TokenDigest::of(&token),
            created_at: now,
            expires_at,
        };
        self.store.insert_token(&record).await?;
        Ok(IssuedToken { token, record })
    }
}

fn well_formed(token: &str) -> bool {
    token
        .strip_prefix(TOKEN_PREFIX)
        .is_some_and(|secret| secret.len() == 64 && secret.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[async_trait]
impl Identity for LocalTokens {
    async fn authenticate(&self, token: &str) -> PortResult<Caller> {
        if token.is_empty() {
            return Err(PortError::unauthenticated("no token"));
        }
        if !well_formed(token) {
            return Err(PortError::unauthenticated("malformed token"));
        }
        let record = match self.store.find_token(&TokenDigest::of(token)).await {
            Ok(record) => record,
            Err(e) if e.kind() == crate::PortErrorKind::NotFound => {
                return Err(PortError::unauthenticated("unknown or revoked token"));
            }
            Err(e) => return Err(e),
        };
        if record.expires_at.is_some_and(|at| at <= self.clock.now()) {
            return Err(PortError::unauthenticated("token expired"));
        }
        Ok(Caller::user(record.user_id))
    }
}

#[async_trait]
impl TokenIssuer for LocalTokens {
    async fn issue(&self, user: UserId, ttl: Duration) -> PortResult<IssuedToken> {
        self.make(user, TokenKind::Session, "", Some(ttl)).await
    }

    async fn revoke(&self, token: &str) -> PortResult<()> {
        self.store
            .delete_token_by_digest(&TokenDigest::of(token))
            .await
    }
}
