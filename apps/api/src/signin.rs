//! How people sign in, as configured by flags: local accounts, or Supabase.
//!
//! In Supabase mode the api checks Supabase access tokens itself (no call per request),
//! and the web interface signs people in with Supabase directly (magic link, GitHub), for
//! which it needs the project URL and the anon key: both are public by design (they ship
//! to every browser), so the api hands them out at `GET /api/v1/config`.

use anyhow::Context;
use moclojer_supabase::{Algorithm, SecretString, SupabaseConfig};

/// The Supabase flags, shared by `moclojer-api` and `moclojer-cloud`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SupabaseArgs {
    /// Supabase sign-in: the project URL, `https://<project>.supabase.co`. The web
    /// interface signs in there; the issuer and the JWKS URL follow from it.
    #[arg(long, env = "MOCLOJER_SUPABASE_URL")]
    pub supabase_url: Option<String>,
    /// With --supabase-url: the project's anon (publishable) key, which the web interface
    /// sends to Supabase. It is public by design, not a secret.
    #[arg(long, env = "MOCLOJER_SUPABASE_ANON_KEY")]
    pub supabase_anon_key: Option<String>,
    /// The token issuer; by default `<supabase-url>/auth/v1`.
    #[arg(long, env = "MOCLOJER_SUPABASE_ISSUER")]
    pub supabase_issuer: Option<String>,
    /// Tokens signed with HS256: the project's JWT secret (legacy Supabase projects).
    #[arg(long, env = "MOCLOJER_SUPABASE_JWT_SECRET", hide_env_values = true)]
    pub supabase_jwt_secret: Option<String>,
    /// Tokens signed with the project's signing keys: the JWKS URL; by default
    /// `<supabase-url>/auth/v1/.well-known/jwks.json` when no JWT secret is given.
    #[arg(long, env = "MOCLOJER_SUPABASE_JWKS_URL")]
    pub supabase_jwks_url: Option<String>,
    /// With signing keys: the one algorithm accepted (ES256 or RS256).
    #[arg(long, env = "MOCLOJER_SUPABASE_ALGORITHM", default_value = "ES256")]
    pub supabase_algorithm: String,
}

/// What the web interface needs to sign in with Supabase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupabaseBrowser {
    /// The project URL, without a trailing slash.
    pub url: String,
    /// The anon key.
    pub anon_key: String,
}

/// Supabase sign-in, resolved from the flags.
#[derive(Debug, Clone)]
pub struct Supabase {
    /// How the api checks tokens.
    pub tokens: SupabaseConfig,
    /// How the web interface signs in; `None` when only tokens are checked (the api used
    /// by scripts, the web interface then says sign-in is not configured).
    pub browser: Option<SupabaseBrowser>,
}

impl SupabaseArgs {
    /// Supabase sign-in when any Supabase flag is set; `None` for local accounts.
    ///
    /// # Errors
    /// When the flags contradict each other or a URL is malformed.
    pub fn resolve(&self) -> anyhow::Result<Option<Supabase>> {
        let url = match &self.supabase_url {
            None => None,
            Some(raw) => Some(project_url(raw)?),
        };
        let browser = match (&url, &self.supabase_anon_key) {
            (Some(url), Some(key)) if !key.trim().is_empty() => Some(SupabaseBrowser {
                url: url.clone(),
                anon_key: key.trim().to_owned(),
            }),
            (Some(_), _) => anyhow::bail!("--supabase-url needs --supabase-anon-key too"),
            (None, Some(_)) => anyhow::bail!("--supabase-anon-key needs --supabase-url too"),
            (None, None) => None,
        };
        let issuer = match (&self.supabase_issuer, &url) {
            (Some(issuer), _) => issuer.trim_end_matches('/').to_owned(),
            (None, Some(url)) => format!("{url}/auth/v1"),
            (None, None) => {
                if self.supabase_jwt_secret.is_some() || self.supabase_jwks_url.is_some() {
                    anyhow::bail!("Supabase sign-in needs --supabase-url (or --supabase-issuer)");
                }
                return Ok(None);
            }
        };
        let tokens = match (&self.supabase_jwt_secret, &self.supabase_jwks_url) {
            (Some(secret), None) => {
                SupabaseConfig::with_secret(issuer, SecretString::new(secret.clone()))
            }
            (None, jwks) => {
                let jwks = match (jwks, &url) {
                    (Some(jwks), _) => jwks.clone(),
                    (None, Some(url)) => format!("{url}/auth/v1/.well-known/jwks.json"),
                    (None, None) => anyhow::bail!(
                        "Supabase sign-in needs --supabase-jwt-secret or --supabase-jwks-url"
                    ),
                };
                let algorithm: Algorithm = self
                    .supabase_algorithm
                    .parse()
                    .context("--supabase-algorithm")?;
                SupabaseConfig::with_jwks(
                    issuer,
                    algorithm,
                    jwks.parse().context("--supabase-jwks-url")?,
                )
            }
            (Some(_), Some(_)) => anyhow::bail!(
                "Supabase sign-in takes one of --supabase-jwt-secret and --supabase-jwks-url"
            ),
        };
        Ok(Some(Supabase { tokens, browser }))
    }
}

/// `https://<project>.supabase.co` (or `http://` for a local Supabase), no path.
fn project_url(raw: &str) -> anyhow::Result<String> {
    let trimmed = raw.trim().trim_end_matches('/');
    let parsed: url::Url = trimmed.parse().context("--supabase-url")?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        anyhow::bail!("--supabase-url is http(s)://host, e.g. https://<project>.supabase.co");
    }
    if parsed.path() != "/" || parsed.query().is_some() || !parsed.username().is_empty() {
        anyhow::bail!("--supabase-url is the project's base URL, with no path or query");
    }
    Ok(trimmed.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(url: Option<&str>, key: Option<&str>) -> SupabaseArgs {
        SupabaseArgs {
            supabase_url: url.map(str::to_owned),
            supabase_anon_key: key.map(str::to_owned),
            supabase_algorithm: "ES256".to_owned(),
            ..SupabaseArgs::default()
        }
    }

    #[test]
    fn no_flags_means_local_accounts() {
        assert!(args(None, None).resolve().expect("valid").is_none());
    }

    #[test]
    fn the_project_url_gives_issuer_jwks_and_browser_settings() {
        let resolved = args(Some("https://abc.supabase.co/"), Some("anon"))
            .resolve()
            .expect("valid")
            .expect("supabase");
        assert_eq!(resolved.tokens.issuer, "https://abc.supabase.co/auth/v1");
        assert_eq!(
            resolved.browser,
            Some(SupabaseBrowser {
                url: "https://abc.supabase.co".to_owned(),
                anon_key: "anon".to_owned(),
            })
        );
        assert_eq!(
            resolved.tokens.key,
            moclojer_supabase::KeySource::Jwks {
                url: "https://abc.supabase.co/auth/v1/.well-known/jwks.json"
                    .parse()
                    .expect("url")
            }
        );
    }

    #[test]
    fn contradictions_and_bad_urls_are_refused() {
        for (url, key) in [
            (Some("https://abc.supabase.co"), None),
            (None, Some("anon")),
            (Some("ftp://abc.supabase.co"), Some("anon")),
            (Some("https://abc.supabase.co/auth/v1"), Some("anon")),
            (Some("not a url"), Some("anon")),
        ] {
            assert!(args(url, key).resolve().is_err(), "{url:?} {key:?}");
        }
        let mut both = args(Some("https://abc.supabase.co"), Some("anon"));
        both.supabase_jwt_secret = Some("s".repeat(32));
        both.supabase_jwks_url = Some("https://abc.supabase.co/jwks".to_owned());
        assert!(both.resolve().is_err());
        let mut secret_only = args(None, None);
        secret_only.supabase_jwt_secret = Some("s".repeat(32));
        assert!(secret_only.resolve().is_err(), "no issuer");
    }
}
