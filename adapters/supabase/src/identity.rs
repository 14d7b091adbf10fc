//! Supabase access tokens to callers.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use jsonwebtoken::crypto::CryptoProvider;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use moclojer_domain::{Email, UserId};
use moclojer_ports::{Caller, Identity, PortError, PortResult};
use reqwest::redirect;
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use crate::config::{ConfigError, KeySource, SupabaseConfig};
use crate::jwks::{FETCH_TIMEOUT, Jwks};

/// The longest token looked at; Supabase's are well under 2 KiB.
const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// The role of a signed-in user's token.
const USER_ROLE: &str = "authenticated";

/// Verifies Supabase access tokens locally, with the project's JWT secret or its JWKS.
/// Cloning shares the cached keys.
///
/// `authenticate` answers `Unauthenticated` for a token that is empty, over 8 KiB, not
/// three base64url parts, of another algorithm than the configured one, signed by another
/// key or naming a `kid` the JWKS does not have (after one refresh), expired (beyond the
/// leeway), not yet valid, from another issuer, for another audience, of another role than
/// `authenticated`, from an anonymous sign-in, or whose `sub` is not a hyphenated UUID. It
/// answers `Unavailable` (or `Timeout`, both retryable) only when the token names a JWKS key
/// that is not cached and the JWKS cannot be fetched; keys already cached keep working
/// while the endpoint is down.
///
/// An accepted token's caller has the `sub` as user id and the `email` claim as e-mail
/// address when that claim is one (`None` when it is missing, empty or malformed).
#[derive(Clone)]
pub struct SupabaseIdentity {
    inner: Arc<Inner>,
}

struct Inner {
    algorithm: Algorithm,
    issuer: String,
    validation: Validation,
    keys: Keys,
}

enum Keys {
    Secret(Arc<DecodingKey>),
    Jwks(Box<Jwks>),
}

impl fmt::Debug for SupabaseIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.inner;
        let mut s = f.debug_struct("SupabaseIdentity");
        s.field("algorithm", &inner.algorithm)
            .field("issuer", &inner.issuer)
            .field("leeway_secs", &inner.validation.leeway);
        match &inner.keys {
            Keys::Secret(_) => s.field("key", &"secret([redacted])"),
            Keys::Jwks(jwks) => s.field("key", jwks),
        };
        s.finish_non_exhaustive()
    }
}

impl SupabaseIdentity {
    /// An identity for `config`. Does no IO: JWKS keys are fetched on first use (or by
    /// [`SupabaseIdentity::warm_up`]).
    ///
    /// # Errors
    /// When the settings do not fit together: an empty issuer or audience, a key source that
    /// does not fit the algorithm, a secret shorter than 32 bytes, a JWKS address that is not
    /// https (http is allowed on loopback only), a leeway over 5 minutes; or when this build
    /// has no crypto backend for `jsonwebtoken`.
    pub fn new(config: SupabaseConfig) -> Result<Self, ConfigError> {
        config.check()?;
        if CryptoProvider::try_get_default().is_none() {
            return Err(ConfigError::NoCryptoProvider);
        }
        let mut validation = Validation::new(config.algorithm);
        validation.set_required_spec_claims(&["exp", "sub", "aud", "iss"]);
        validation.set_issuer(&[config.issuer.as_str()]);
        validation.set_audience(&[config.audience.as_str()]);
        validation.leeway = config.leeway.as_secs();
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.validate_aud = true;
        let keys = match config.key {
            KeySource::Secret(secret) => Keys::Secret(Arc::new(
                DecodingKey::from_secret(secret.expose_secret().as_bytes())
                    .map_err(|_| ConfigError::ShortSecret)?,
            )),
            KeySource::Jwks { url } => {
                let client = reqwest::Client::builder()
                    .no_proxy()
                    .redirect(redirect::Policy::none())
                    .connect_timeout(FETCH_TIMEOUT)
                    .timeout(FETCH_TIMEOUT)
                    .user_agent(concat!("moclojer-supabase/", env!("CARGO_PKG_VERSION")))
                    .build()
                    .map_err(ConfigError::Client)?;
                Keys::Jwks(Box::new(Jwks::new(
                    url,
                    client,
                    config.algorithm,
                    config.jwks_refresh,
                    config.jwks_cooldown,
                )))
            }
        };
        Ok(Self {
            inner: Arc::new(Inner {
                algorithm: config.algorithm,
                issuer: config.issuer,
                validation,
                keys,
            }),
        })
    }

    /// Fetches the JWKS now, so that the first requests do not wait for it, and says how
    /// many usable keys it holds. With a secret there is nothing to fetch: `Ok(0)`.
    ///
    /// # Errors
    /// `Unavailable` when the JWKS endpoint cannot be reached, answers an error status or
    /// something that is not a JWKS (or more than 256 KiB); `Timeout` when it does not answer
    /// within 5 s. Keys cached before are kept.
    pub async fn warm_up(&self) -> PortResult<usize> {
        match &self.inner.keys {
            Keys::Secret(_) => Ok(0),
            Keys::Jwks(jwks) => jwks.refresh_now().await,
        }
    }
}

/// The claims read after the signature and the standard claims were checked. Values are
/// kept as JSON so that a claim of an unexpected type is refused, never skipped.
#[derive(Deserialize)]
struct Claims {
    #[serde(default)]
    iss: Option<Value>,
    #[serde(default)]
    sub: Option<Value>,
    #[serde(default)]
    role: Option<Value>,
    #[serde(default)]
    is_anonymous: Option<Value>,
    #[serde(default)]
    email: Option<Value>,
}

fn unauthenticated(message: &'static str) -> PortError {
    PortError::unauthenticated(message)
}

/// Whether `token` looks like a compact JWS: three non-empty base64url parts.
fn well_formed(token: &str) -> bool {
    let mut parts = 0;
    for part in token.split('.') {
        parts += 1;
        if part.is_empty()
            || !part
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return false;
        }
    }
    parts == 3
}

fn decode_error(e: &jsonwebtoken::errors::Error) -> PortError {
    match e.kind() {
        ErrorKind::ExpiredSignature => unauthenticated("token expired"),
        ErrorKind::ImmatureSignature => unauthenticated("token not yet valid"),
        ErrorKind::InvalidIssuer => unauthenticated("token from another issuer"),
        ErrorKind::InvalidAudience => unauthenticated("token for another audience"),
        ErrorKind::InvalidSignature => unauthenticated("bad token signature"),
        ErrorKind::InvalidAlgorithm => unauthenticated("token algorithm not accepted"),
        ErrorKind::MissingRequiredClaim(claim) => {
            PortError::unauthenticated(format!("token has no {}", known_claim(claim)))
        }
        ErrorKind::InvalidClaimFormat(claim) => {
            PortError::unauthenticated(format!("token has a malformed {}", known_claim(claim)))
        }
        ErrorKind::InvalidToken
        | ErrorKind::Base64(_)
        | ErrorKind::Json(_)
        | ErrorKind::Utf8(_) => unauthenticated("malformed token"),
        _ => {
            // A key that cannot verify anything (a broken JWKS entry): worth a look.
            tracing::warn!(error = %e, "a token could not be checked with its key");
            unauthenticated("token cannot be verified")
        }
    }
}

/// A claim name for a message: only the standard ones are named.
fn known_claim(claim: &str) -> &'static str {
    match claim {
        "exp" => "exp",
        "nbf" => "nbf",
        "iss" => "iss",
        "aud" => "aud",
        "sub" => "sub",
        _ => "required claim",
    }
}

impl Inner {
    async fn key(&self, kid: Option<&str>) -> PortResult<Arc<DecodingKey>> {
        match &self.keys {
            // The secret is the only key; a `kid` is irrelevant.
            Keys::Secret(key) => Ok(Arc::clone(key)),
            Keys::Jwks(jwks) => {
                let kid = kid.ok_or_else(|| unauthenticated("token names no signing key"))?;
                jwks.key(kid).await
            }
        }
    }

    fn caller(&self, claims: &Claims) -> PortResult<Caller> {
        // jsonwebtoken accepts an array of issuers; Supabase's `iss` is one string.
        if claims.iss.as_ref().and_then(Value::as_str) != Some(self.issuer.as_str()) {
            return Err(unauthenticated("token from another issuer"));
        }
        match &claims.role {
            None => {}
            Some(Value::String(role)) if role == USER_ROLE => {}
            Some(_) => return Err(unauthenticated("token is not a signed-in user's")),
        }
        match &claims.is_anonymous {
            None | Some(Value::Bool(false)) => {}
            Some(Value::Bool(true)) => return Err(unauthenticated("anonymous sign-in token")),
            Some(_) => return Err(unauthenticated("token has a malformed is_anonymous")),
        }
        let sub = claims
            .sub
            .as_ref()
            .ok_or_else(|| unauthenticated("token has no sub"))?
            .as_str()
            .ok_or_else(|| unauthenticated("token subject is not a user id"))?;
        // The hyphenated form only, as Supabase writes user ids.
        let uuid = Some(sub)
            .filter(|s| s.len() == 36)
            .and_then(|s| Uuid::try_parse(s).ok())
            .ok_or_else(|| unauthenticated("token subject is not a user id"))?;
        // Informative only: an address that is missing, empty or malformed leaves the
        // caller without one rather than refusing a token that is otherwise good.
        let email = claims
            .email
            .as_ref()
            .and_then(Value::as_str)
            .and_then(|raw| Email::parse(raw).ok());
        Ok(Caller {
            user_id: UserId::from_uuid(uuid),
            email,
        })
    }
}

#[async_trait]
impl Identity for SupabaseIdentity {
    async fn authenticate(&self, token: &str) -> PortResult<Caller> {
        let inner = &self.inner;
        if token.is_empty() {
            return Err(unauthenticated("no token"));
        }
        if token.len() > MAX_TOKEN_BYTES {
            return Err(unauthenticated("token too large"));
        }
        if !well_formed(token) {
            return Err(unauthenticated("malformed token"));
        }
        let header = jsonwebtoken::decode_header(token).map_err(|e| match e.kind() {
            // An algorithm jsonwebtoken does not know (`none` among them) fails here.
            ErrorKind::Json(_) => unauthenticated("unsupported token header"),
            _ => unauthenticated("malformed token"),
        })?;
        // The configuration chooses the algorithm; the header only has to agree.
        if header.alg != inner.algorithm {
            return Err(unauthenticated("token algorithm not accepted"));
        }
        let key = inner.key(header.kid.as_deref()).await?;
        let data = jsonwebtoken::decode::<Claims>(token, &key, &inner.validation)
            .map_err(|e| decode_error(&e))?;
        inner.caller(&data.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_three_base64url_parts_are_well_formed() {
        for good in ["a.b.c", "eyJh-_.x0.Zz9"] {
            assert!(well_formed(good), "{good}");
        }
        for bad in [
            "", "abc", "a.b", "a.b.c.d", "..", "a..c", ".b.c", "a.b.", "a.b.c=", "a+b.c.d",
            "a.b/c.d", "a.b. c", "a.b.c\n", "á.b.c",
        ] {
            assert!(!well_formed(bad), "{bad:?}");
        }
    }
}
