//! What a Supabase identity needs to know, and the checks it passes before it is used.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use jsonwebtoken::{Algorithm, AlgorithmFamily};
use url::{Host, Url};

/// The audience of a signed-in user's access token.
pub(crate) const DEFAULT_AUDIENCE: &str = "authenticated";
/// Clock skew tolerated on `exp` and `nbf` by default.
pub(crate) const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);
/// How long fetched signing keys are used before they are fetched again, by default.
pub(crate) const DEFAULT_JWKS_REFRESH: Duration = Duration::from_secs(600);
/// The least time between two fetches of the JWKS, by default.
pub(crate) const DEFAULT_JWKS_COOLDOWN: Duration = Duration::from_secs(30);
/// The most clock skew a configuration may tolerate.
pub(crate) const MAX_LEEWAY: Duration = Duration::from_secs(300);
/// The shortest HMAC secret accepted (Supabase's are longer).
pub(crate) const MIN_SECRET_BYTES: usize = 32;

/// A secret string: its `Debug` shows no part of it, and it has no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretString(Box<str>);

impl SecretString {
    /// Wraps `secret`.
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into().into_boxed_str())
    }

    /// The secret itself, for the one place that needs it.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl From<String> for SecretString {
    fn from(secret: String) -> Self {
        Self::new(secret)
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretString([redacted])")
    }
}

/// Where the keys that verify token signatures come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// The project's legacy JWT secret, for HS256 (HMAC) tokens. Its UTF-8 bytes are the
    /// HMAC key, as Supabase Auth uses it.
    Secret(SecretString),
    /// The project's JSON Web Key Set, for asymmetric tokens (ES256, RS256, ...): usually
    /// `https://<project>.supabase.co/auth/v1/.well-known/jwks.json`. A token names its key
    /// by `kid`. Plain `http` is accepted only for a loopback host.
    Jwks {
        /// The JWKS address; fetched without proxies and without following redirects.
        url: Url,
    },
}

/// How a [`SupabaseIdentity`](crate::SupabaseIdentity) verifies tokens. No field that holds
/// a secret has a default; [`SupabaseConfig::with_secret`] and
/// [`SupabaseConfig::with_jwks`] fill in the rest with the defaults they document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupabaseConfig {
    /// The one algorithm accepted. The token's header must name exactly this algorithm;
    /// the header never chooses it. HMAC algorithms go with [`KeySource::Secret`], the
    /// others with [`KeySource::Jwks`].
    pub algorithm: Algorithm,
    /// The required `iss`, e.g. `https://<project>.supabase.co/auth/v1`.
    pub issuer: String,
    /// A value `aud` must contain: `"authenticated"` by default.
    pub audience: String,
    /// Where the verification keys come from.
    pub key: KeySource,
    /// Clock skew tolerated on `exp` and `nbf`: 30 s by default, at most 5 minutes. Whole
    /// seconds count.
    pub leeway: Duration,
    /// How long fetched JWKS keys are used before they are fetched again: 10 minutes by
    /// default. A token naming an unknown `kid` also makes the keys be fetched again, at
    /// most once per [`jwks_cooldown`](Self::jwks_cooldown).
    pub jwks_refresh: Duration,
    /// The least time between two fetches of the JWKS, whatever causes them (unknown `kid`s,
    /// expired keys, retries after a failure): 30 s by default. This is what stops a flood
    /// of tokens with made-up `kid`s from hammering the endpoint.
    pub jwks_cooldown: Duration,
}

impl SupabaseConfig {
    /// HS256 with the project's legacy JWT secret, audience `"authenticated"`, 30 s leeway.
    pub fn with_secret(issuer: impl Into<String>, secret: SecretString) -> Self {
        Self::new(Algorithm::HS256, issuer.into(), KeySource::Secret(secret))
    }

    /// `algorithm` (ES256 or RS256 for Supabase's signing keys) with keys from the JWKS at
    /// `url`, audience `"authenticated"`, 30 s leeway, keys refreshed every 10 minutes and
    /// fetched at most once per 30 s.
    pub fn with_jwks(issuer: impl Into<String>, algorithm: Algorithm, url: Url) -> Self {
        Self::new(algorithm, issuer.into(), KeySource::Jwks { url })
    }

    fn new(algorithm: Algorithm, issuer: String, key: KeySource) -> Self {
        Self {
            algorithm,
            issuer,
            audience: DEFAULT_AUDIENCE.to_owned(),
            key,
            leeway: DEFAULT_LEEWAY,
            jwks_refresh: DEFAULT_JWKS_REFRESH,
            jwks_cooldown: DEFAULT_JWKS_COOLDOWN,
        }
    }

    /// Checks that the settings make sense together.
    pub(crate) fn check(&self) -> Result<(), ConfigError> {
        if self.issuer.trim().is_empty() {
            return Err(ConfigError::Missing("issuer"));
        }
        if self.audience.trim().is_empty() {
            return Err(ConfigError::Missing("audience"));
        }
        if self.leeway > MAX_LEEWAY {
            return Err(ConfigError::Leeway(self.leeway));
        }
        let hmac = self.algorithm.family() == AlgorithmFamily::Hmac;
        match &self.key {
            KeySource::Secret(secret) => {
                if !hmac {
                    return Err(ConfigError::KeyForAlgorithm(self.algorithm));
                }
                if secret.expose_secret().len() < MIN_SECRET_BYTES {
                    return Err(ConfigError::ShortSecret);
                }
            }
            KeySource::Jwks { url } => {
                if hmac {
                    return Err(ConfigError::KeyForAlgorithm(self.algorithm));
                }
                check_jwks_url(url)?;
            }
        }
        Ok(())
    }
}

fn check_jwks_url(url: &Url) -> Result<(), ConfigError> {
    let loopback = match url.host() {
        Some(Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    };
    let scheme_ok = url.scheme() == "https" || (url.scheme() == "http" && loopback);
    if !scheme_ok || url.host().is_none() || !url.username().is_empty() || url.password().is_some()
    {
        return Err(ConfigError::JwksUrl);
    }
    Ok(())
}

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A required setting is empty.
    #[error("the Supabase {0} is not set")]
    Missing(&'static str),
    /// The key source does not fit the algorithm (a secret for an asymmetric algorithm, or a
    /// JWKS for HMAC).
    #[error("{0:?} needs {need}", need = key_needed(*.0))]
    KeyForAlgorithm(Algorithm),
    /// The HMAC secret is too short to be a real one.
    #[error("the Supabase JWT secret is shorter than {MIN_SECRET_BYTES} bytes")]
    ShortSecret,
    /// The JWKS address is not `https` (nor `http` on loopback), or carries credentials.
    #[error("the JWKS address must be https (http only on loopback) and carry no credentials")]
    JwksUrl,
    /// The leeway is larger than 5 minutes.
    #[error("a leeway of {0:?} is more than the 5 minutes allowed")]
    Leeway(Duration),
    /// `jsonwebtoken` has no crypto backend in this build.
    #[error("jsonwebtoken has no crypto provider in this build")]
    NoCryptoProvider,
    /// The HTTP client could not be built.
    #[error("cannot build the JWKS client")]
    Client(#[source] reqwest::Error),
}

fn key_needed(algorithm: Algorithm) -> &'static str {
    if algorithm.family() == AlgorithmFamily::Hmac {
        "a secret"
    } else {
        "a JWKS"
    }
}
