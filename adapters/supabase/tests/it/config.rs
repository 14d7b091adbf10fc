//! Configurations that must be refused, and what `Debug` shows.

use std::time::Duration;

use jsonwebtoken::Algorithm;
use moclojer_supabase::{ConfigError, KeySource, SecretString, SupabaseConfig, SupabaseIdentity};
use url::Url;

use crate::support::*;

fn jwks_url(text: &str) -> Url {
    Url::parse(text).expect("url")
}

fn secret() -> SecretString {
    SecretString::new(SECRET)
}

#[test]
fn defaults_are_the_documented_ones() {
    let config = SupabaseConfig::with_secret(ISSUER, secret());
    assert_eq!(config.algorithm, Algorithm::HS256);
    assert_eq!(config.audience, "authenticated");
    assert_eq!(config.leeway, Duration::from_secs(30));
    assert_eq!(config.jwks_refresh, Duration::from_secs(600));
    assert_eq!(config.jwks_cooldown, Duration::from_secs(30));
    let config = SupabaseConfig::with_jwks(
        ISSUER,
        Algorithm::ES256,
        jwks_url("https://abcdefghijklmnop.supabase.co/auth/v1/.well-known/jwks.json"),
    );
    assert!(SupabaseIdentity::new(config).is_ok());
}

#[test]
fn settings_that_do_not_fit_are_refused() {
    let https = jwks_url("https://abcdefghijklmnop.supabase.co/auth/v1/.well-known/jwks.json");
    let mut cases: Vec<(&str, SupabaseConfig)> = vec![
        (
            "HS256 with a JWKS",
            SupabaseConfig::with_jwks(ISSUER, Algorithm::HS256, https.clone()),
        ),
        (
            "RS256 with a secret",
            SupabaseConfig {
                algorithm: Algorithm::RS256,
                ..SupabaseConfig::with_secret(ISSUER, secret())
            },
        ),
        (
            "a short secret",
            SupabaseConfig::with_secret(ISSUER, SecretString::new("secret")),
        ),
        (
            "an empty secret",
            SupabaseConfig::with_secret(ISSUER, SecretString::new("")),
        ),
        (
            "plain http to a remote host",
            SupabaseConfig::with_jwks(
                ISSUER,
                Algorithm::ES256,
                jwks_url("http://abcdefghijklmnop.supabase.co/jwks.json"),
            ),
        ),
        (
            "credentials in the address",
            SupabaseConfig::with_jwks(
                ISSUER,
                Algorithm::ES256,
                jwks_url("https://user:pass@abcdefghijklmnop.supabase.co/jwks.json"),
            ),
        ),
        (
            "a file address",
            SupabaseConfig::with_jwks(ISSUER, Algorithm::ES256, jwks_url("file:///etc/jwks.json")),
        ),
        ("no issuer", SupabaseConfig::with_secret(" ", secret())),
    ];
    let mut no_audience = SupabaseConfig::with_secret(ISSUER, secret());
    no_audience.audience = String::new();
    cases.push(("no audience", no_audience));
    let mut lax = SupabaseConfig::with_secret(ISSUER, secret());
    lax.leeway = Duration::from_secs(3600);
    cases.push(("an hour of leeway", lax));
    for (what, config) in cases {
        assert!(
            SupabaseIdentity::new(config).is_err(),
            "{what} was accepted"
        );
    }
    // Loopback may be plain http (tests, a local Supabase).
    for url in [
        "http://127.0.0.1:54321/jwks.json",
        "http://localhost:54321/jwks.json",
        "http://[::1]/j",
    ] {
        let config = SupabaseConfig::with_jwks(ISSUER, Algorithm::RS256, jwks_url(url));
        assert!(SupabaseIdentity::new(config).is_ok(), "{url}");
    }
}

#[test]
fn errors_and_debug_never_show_the_secret() {
    let config = SupabaseConfig::with_secret(ISSUER, secret());
    let shown = format!("{config:?}");
    assert!(!shown.contains(SECRET), "{shown}");
    assert!(shown.contains("redacted"));
    let identity = SupabaseIdentity::new(config).expect("valid");
    let shown = format!("{identity:?}");
    assert!(!shown.contains(SECRET), "{shown}");
    let shown = format!("{:?}", KeySource::Secret(secret()));
    assert!(!shown.contains(SECRET), "{shown}");

    let short = "short-but-secret";
    let err = SupabaseIdentity::new(SupabaseConfig::with_secret(
        ISSUER,
        SecretString::new(short),
    ))
    .expect_err("too short");
    assert!(matches!(err, ConfigError::ShortSecret));
    assert!(!err.to_string().contains(short));
    assert!(!format!("{err:?}").contains(short));
}
