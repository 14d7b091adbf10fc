//! The project's public signing keys: fetched from its JWKS, cached, refreshed at a bounded
//! rate, and kept when a refresh fails.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{
    AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, KeyOperations, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, DecodingKey};
use moclojer_ports::{PortError, PortErrorKind, PortResult};
use reqwest::{Client, StatusCode, header};
use serde::Deserialize;
use tokio::sync::Mutex;
use url::Url;

/// Timeout for connecting, and for the whole fetch.
pub(crate) const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest JWKS document read.
pub(crate) const MAX_JWKS_BYTES: usize = 256 * 1024;

/// The keys from the last successful fetch.
#[derive(Default)]
struct KeySet {
    keys: HashMap<String, Arc<DecodingKey>>,
    /// When they were fetched; `None` before the first successful fetch.
    fetched_at: Option<Instant>,
}

/// What the fetches so far say; held across a fetch, so there is one at a time.
#[derive(Default)]
struct FetchLog {
    last_attempt: Option<Instant>,
    /// How the last attempt failed, if it did.
    last_failure: Option<(PortErrorKind, String)>,
}

/// A cached JWKS.
pub(crate) struct Jwks {
    url: Url,
    client: Client,
    algorithm: Algorithm,
    refresh: Duration,
    cooldown: Duration,
    keys: RwLock<Arc<KeySet>>,
    fetches: Mutex<FetchLog>,
}

impl fmt::Debug for Jwks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Jwks")
            .field("url", &self.url.as_str())
            .field("algorithm", &self.algorithm)
            .field("cached_keys", &self.snapshot().keys.len())
            .finish_non_exhaustive()
    }
}

impl Jwks {
    pub(crate) fn new(
        url: Url,
        client: Client,
        algorithm: Algorithm,
        refresh: Duration,
        cooldown: Duration,
    ) -> Self {
        Self {
            url,
            client,
            algorithm,
            refresh,
            cooldown,
            keys: RwLock::default(),
            fetches: Mutex::default(),
        }
    }

    fn snapshot(&self) -> Arc<KeySet> {
        Arc::clone(&self.keys.read().unwrap_or_else(PoisonError::into_inner))
    }

    fn fresh(&self, set: &KeySet) -> bool {
        set.fetched_at.is_some_and(|at| at.elapsed() < self.refresh)
    }

    /// The key named `kid`.
    ///
    /// Fresh cached keys answer at once. Otherwise (an unknown `kid`, or keys older than the
    /// refresh period) the JWKS is fetched again, at most once per cooldown and by one caller
    /// at a time; if that fetch fails, the keys already cached keep working.
    ///
    /// # Errors
    /// `Unauthenticated` when the JWKS, fetched successfully, has no such key;
    /// `Unavailable` or `Timeout` when the key is not cached and the JWKS cannot be fetched.
    pub(crate) async fn key(&self, kid: &str) -> PortResult<Arc<DecodingKey>> {
        let cached = self.snapshot();
        let known = cached.keys.get(kid).cloned();
        if let Some(key) = &known
            && self.fresh(&cached)
        {
            return Ok(Arc::clone(key));
        }
        let mut log = match (known, self.fetches.try_lock()) {
            (_, Ok(log)) => log,
            // A known key whose set is being refreshed: use it rather than wait.
            (Some(key), Err(_)) => return Ok(key),
            (None, Err(_)) => self.fetches.lock().await,
        };
        // Another caller may have refreshed while this one waited.
        let current = self.snapshot();
        if let Some(key) = current.keys.get(kid)
            && self.fresh(&current)
        {
            return Ok(Arc::clone(key));
        }
        let may_fetch = log
            .last_attempt
            .is_none_or(|at| at.elapsed() >= self.cooldown);
        if may_fetch {
            // The outcome is kept in the log; the keys, if any, in the snapshot.
            self.fetch_and_store(&mut log).await.ok();
        }
        let failure = log.last_failure.clone();
        drop(log);
        if let Some(key) = self.snapshot().keys.get(kid) {
            return Ok(Arc::clone(key));
        }
        match failure {
            None => Err(PortError::unauthenticated("unknown signing key")),
            Some((kind, message)) => Err(PortError::new(kind, message)),
        }
    }

    /// Fetches the JWKS now, whatever the cooldown says (for a warm-up at start), and says
    /// how many usable keys it has.
    ///
    /// # Errors
    /// As [`Jwks::key`] when the fetch fails; the cached keys are kept.
    pub(crate) async fn refresh_now(&self) -> PortResult<usize> {
        let mut log = self.fetches.lock().await;
        self.fetch_and_store(&mut log).await
    }

    /// One fetch, recorded in `log` (which the caller holds, so fetches never overlap); on
    /// success the keys replace the cached ones, on failure the cached ones stay.
    async fn fetch_and_store(&self, log: &mut FetchLog) -> PortResult<usize> {
        log.last_attempt = Some(Instant::now());
        match self.fetch().await {
            Ok(keys) => {
                let count = keys.len();
                tracing::debug!(url = %self.url, keys = count, "jwks fetched");
                log.last_failure = None;
                *self.keys.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(KeySet {
                    keys,
                    fetched_at: Some(Instant::now()),
                });
                Ok(count)
            }
            Err(e) => {
                tracing::warn!(url = %self.url, error = %chain(&e), "jwks fetch failed");
                log.last_failure = Some((e.kind(), e.message().to_owned()));
                Err(e)
            }
        }
    }

    async fn fetch(&self) -> PortResult<HashMap<String, Arc<DecodingKey>>> {
        let mut response = self
            .client
            .get(self.url.clone())
            .header(header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(request_error)?;
        let status = response.status();
        if !status.is_success() {
            return Err(status_error(status));
        }
        if response
            .content_length()
            .is_some_and(|n| n > MAX_JWKS_BYTES as u64)
        {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(request_error)? {
            if body.len() + chunk.len() > MAX_JWKS_BYTES {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        parse(&body, self.algorithm)
    }
}

/// An error and its causes, for a log line. (The JWKS address is public; no token or secret
/// ever reaches these errors.)
fn chain(e: &PortError) -> String {
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

fn request_error(e: reqwest::Error) -> PortError {
    if e.is_timeout() {
        PortError::timeout("the jwks endpoint did not answer in time").with_source(e)
    } else {
        PortError::unavailable("cannot reach the jwks endpoint").with_source(e)
    }
}

fn status_error(status: StatusCode) -> PortError {
    PortError::unavailable(format!("the jwks endpoint answered {}", status.as_u16()))
}

fn too_large() -> PortError {
    PortError::unavailable(format!(
        "the jwks document is larger than {MAX_JWKS_BYTES} bytes"
    ))
}

#[derive(Deserialize)]
struct RawSet {
    keys: Vec<serde_json::Value>,
}

/// The keys of a JWKS document that can verify `algorithm`, by `kid`. Keys of another type,
/// curve, algorithm or use, keys without a `kid` and keys that do not parse are skipped; of
/// two keys with one `kid`, neither is kept.
fn parse(body: &[u8], algorithm: Algorithm) -> PortResult<HashMap<String, Arc<DecodingKey>>> {
    let raw: RawSet = serde_json::from_slice(body).map_err(|e| {
        PortError::unavailable("the jwks endpoint answered something that is not a JWKS")
            .with_source(e)
    })?;
    let mut keys = HashMap::new();
    let mut ambiguous = Vec::new();
    for value in raw.keys {
        let Ok(jwk) = serde_json::from_value::<Jwk>(value) else {
            continue;
        };
        let Some(kid) = jwk.common.key_id.clone() else {
            continue;
        };
        if !fits(&jwk, algorithm) {
            continue;
        }
        let Ok(key) = DecodingKey::from_jwk(&jwk) else {
            continue;
        };
        if keys.insert(kid.clone(), Arc::new(key)).is_some() {
            ambiguous.push(kid);
        }
    }
    for kid in ambiguous {
        keys.remove(&kid);
    }
    Ok(keys)
}

/// Whether `jwk` is a signature key meant for `algorithm`.
fn fits(jwk: &Jwk, algorithm: Algorithm) -> bool {
    let common = &jwk.common;
    if common
        .public_key_use
        .as_ref()
        .is_some_and(|u| *u != PublicKeyUse::Signature)
    {
        return false;
    }
    if common
        .key_operations
        .as_ref()
        .is_some_and(|ops| !ops.contains(&KeyOperations::Verify))
    {
        return false;
    }
    if common
        .key_algorithm
        .is_some_and(|alg| alg != KeyAlgorithm::from(algorithm))
    {
        return false;
    }
    match (&jwk.algorithm, algorithm) {
        (
            AlgorithmParameters::RSA(_),
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512,
        ) => true,
        (AlgorithmParameters::EllipticCurve(ec), Algorithm::ES256) => {
            ec.curve == EllipticCurve::P256
        }
        (AlgorithmParameters::EllipticCurve(ec), Algorithm::ES384) => {
            ec.curve == EllipticCurve::P384
        }
        (AlgorithmParameters::OctetKeyPair(okp), Algorithm::EdDSA) => {
            okp.curve == EllipticCurve::Ed25519
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EC_KEY: &str = r#"{"kty":"EC","crv":"P-256","kid":"k1","alg":"ES256","use":"sig",
        "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
        "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#;

    fn set(keys: &[&str]) -> Vec<u8> {
        format!(r#"{{"keys":[{}]}}"#, keys.join(",")).into_bytes()
    }

    #[test]
    fn keys_are_taken_by_kid_for_the_configured_algorithm_only() {
        let keys = parse(&set(&[EC_KEY]), Algorithm::ES256).expect("parse");
        assert!(keys.contains_key("k1"));
        let keys = parse(&set(&[EC_KEY]), Algorithm::RS256).expect("parse");
        assert!(keys.is_empty(), "an EC key does not verify RS256");
        let keys = parse(&set(&[EC_KEY]), Algorithm::ES384).expect("parse");
        assert!(keys.is_empty(), "a P-256 key does not verify ES384");
    }

    #[test]
    fn unfit_and_odd_keys_are_skipped() {
        let enc = EC_KEY.replace(r#""use":"sig""#, r#""use":"enc""#);
        let other_alg = EC_KEY.replace(r#""alg":"ES256""#, r#""alg":"ES384""#);
        let no_kid = EC_KEY.replace(r#""kid":"k1","#, "");
        let oct = r#"{"kty":"oct","kid":"h","k":"c2VjcmV0"}"#;
        let junk = r#"{"kty":"nonsense","kid":"j"}"#;
        let keys = parse(
            &set(&[&enc, &other_alg, &no_kid, oct, junk, "42"]),
            Algorithm::ES256,
        )
        .expect("parse");
        assert!(keys.is_empty(), "{:?}", keys.keys().collect::<Vec<_>>());
    }

    #[test]
    fn a_kid_used_twice_names_no_key() {
        let keys = parse(&set(&[EC_KEY, EC_KEY]), Algorithm::ES256).expect("parse");
        assert!(keys.is_empty());
    }

    #[test]
    fn a_document_that_is_not_a_jwks_is_unavailable() {
        for body in [&b"<html>"[..], b"{}", b"[]", b"{\"keys\":{}}"] {
            let err = parse(body, Algorithm::ES256).expect_err("refused");
            assert_eq!(err.kind(), PortErrorKind::Unavailable);
        }
        let empty = parse(b"{\"keys\":[]}", Algorithm::ES256).expect("an empty set is a set");
        assert!(empty.is_empty());
    }
}
