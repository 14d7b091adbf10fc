//! Token minting, key pairs and a JWKS server for the tests.
//!
//! Key pairs are generated at test time (no key material is committed): ES256 with `p256`
//! from 32 random bytes, RS256 with `rsa` (2048 bits, about a second in a debug build, so
//! generated once per test binary). Both crates are already in the graph through
//! jsonwebtoken's `rust_crypto` backend.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Response, StatusCode};
use hyper_util::rt::TokioIo;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use moclojer_ports::{Caller, PortErrorKind, PortResult};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};
use url::Url;
use uuid::Uuid;

pub(crate) const ISSUER: &str = "https://abcdefghijklmnop.supabase.co/auth/v1";
pub(crate) const SECRET: &str = "super-secret-jwt-token-with-at-least-32-characters-long";

pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

/// The claims Supabase Auth puts in a signed-in user's access token.
pub(crate) fn user_claims(user: Uuid) -> Value {
    json!({
        "iss": ISSUER,
        "sub": user.to_string(),
        "aud": "authenticated",
        "exp": now() + 3600,
        "iat": now(),
        "email": "someone@example.com",
        "phone": "",
        "app_metadata": {"provider": "email", "providers": ["email"]},
        "user_metadata": {},
        "role": "authenticated",
        "aal": "aal1",
        "amr": [{"method": "password", "timestamp": now()}],
        "session_id": Uuid::new_v4().to_string(),
        "is_anonymous": false
    })
}

/// `claims` with `key` set to `value`.
pub(crate) fn with(mut claims: Value, key: &str, value: Value) -> Value {
    claims[key] = value;
    claims
}

/// `claims` without `key`.
pub(crate) fn without(mut claims: Value, key: &str) -> Value {
    claims.as_object_mut().expect("an object").remove(key);
    claims
}

pub(crate) fn mint(alg: Algorithm, key: &EncodingKey, kid: Option<&str>, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, key).expect("encode")
}

/// An HS256 token signed with [`SECRET`].
pub(crate) fn hs256(claims: &Value) -> String {
    mint(Algorithm::HS256, &secret_key(SECRET), None, claims)
}

pub(crate) fn secret_key(secret: &str) -> EncodingKey {
    EncodingKey::from_secret(secret.as_bytes()).expect("a secret")
}

/// Base64url without padding, as JWTs use it.
pub(crate) fn b64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

/// A token from raw parts: `header` and `claims` as JSON, `signature` as given.
pub(crate) fn raw_token(header: &Value, claims: &Value, signature: &str) -> String {
    format!(
        "{}.{}.{signature}",
        b64url(header.to_string().as_bytes()),
        b64url(claims.to_string().as_bytes())
    )
}

/// Asserts that `result` is `Unauthenticated`, and that its message does not repeat the
/// token.
pub(crate) fn refused(result: PortResult<Caller>, token: &str, what: &str) -> String {
    match result {
        Ok(caller) => panic!("{what}: accepted as {caller:?}"),
        Err(e) => {
            assert_eq!(
                e.kind(),
                PortErrorKind::Unauthenticated,
                "{what}: {e} ({:?})",
                e.kind()
            );
            if token.len() > 8 {
                assert!(!e.to_string().contains(token), "{what}: the token leaked");
            }
            e.message().to_owned()
        }
    }
}

/// A signing key pair with its public JWK.
pub(crate) struct KeyPair {
    pub(crate) kid: String,
    pub(crate) alg: Algorithm,
    pub(crate) encoding: EncodingKey,
    pub(crate) jwk: Value,
    /// The public key in PEM forms (PKCS#1 and SPKI for RSA; SPKI for EC).
    pub(crate) public_pems: Vec<String>,
}

impl KeyPair {
    pub(crate) fn token(&self, claims: &Value) -> String {
        mint(self.alg, &self.encoding, Some(&self.kid), claims)
    }

    /// This key with another `kid`.
    pub(crate) fn renamed(&self, kid: &str) -> Self {
        let mut jwk = self.jwk.clone();
        jwk["kid"] = json!(kid);
        Self {
            kid: kid.to_owned(),
            alg: self.alg,
            encoding: self.encoding.clone(),
            jwk,
            public_pems: self.public_pems.clone(),
        }
    }
}

/// A fresh P-256 key pair for ES256.
pub(crate) fn es256(kid: &str) -> KeyPair {
    use p256::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
    let secret = loop {
        let mut bytes = [0_u8; 32];
        getrandom::fill(&mut bytes).expect("randomness");
        if let Ok(key) = p256::SecretKey::from_slice(&bytes) {
            break key;
        }
    };
    let der = secret.to_pkcs8_der().expect("pkcs8");
    let public = secret.public_key();
    let point = public.to_sec1_bytes();
    assert_eq!(point.len(), 65, "an uncompressed point");
    let pem = public
        .to_public_key_pem(LineEnding::LF)
        .expect("public pem");
    KeyPair {
        kid: kid.to_owned(),
        alg: Algorithm::ES256,
        encoding: EncodingKey::from_ec_der(der.as_bytes()),
        jwk: json!({
            "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": kid,
            "x": b64url(&point[1..33]), "y": b64url(&point[33..65]),
            "key_ops": ["verify"], "ext": true
        }),
        public_pems: vec![pem],
    }
}

/// The operating system's randomness, for RSA key generation.
struct OsRandom;

impl rsa::rand_core::TryRng for OsRandom {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut b = [0; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut b = [0; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        getrandom::fill(dst).expect("randomness");
        Ok(())
    }
}

impl rsa::rand_core::TryCryptoRng for OsRandom {}

static RSA_KEY: LazyLock<rsa::PrivateKey> =
    LazyLock::new(|| rsa::PrivateKey::new(&mut OsRandom, 2048).expect("an RSA key"));

/// An RS256 key pair (the same RSA key every call in one test binary).
pub(crate) fn rs256(kid: &str) -> KeyPair {
    use rsa::pkcs1::{EncodeRsaPrivateKey, EncodeRsaPublicKey};
    use rsa::pkcs8::{EncodePublicKey, LineEnding};
    use rsa::traits::PublicKeyParts;
    let private = &*RSA_KEY;
    let public = private.to_public_key();
    let der = private.to_pkcs1_der().expect("pkcs1");
    KeyPair {
        kid: kid.to_owned(),
        alg: Algorithm::RS256,
        encoding: EncodingKey::from_rsa_der(der.as_bytes()),
        jwk: json!({
            "kty": "RSA", "alg": "RS256", "use": "sig", "kid": kid,
            "n": b64url(&public.n_bytes()), "e": b64url(&public.e_bytes())
        }),
        public_pems: vec![
            public.to_pkcs1_pem(LineEnding::LF).expect("pkcs1 pem"),
            public.to_public_key_pem(LineEnding::LF).expect("spki pem"),
        ],
    }
}

pub(crate) fn jwks_of(keys: &[&KeyPair]) -> String {
    json!({ "keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>() }).to_string()
}

/// What the JWKS server answers.
#[derive(Debug, Clone)]
pub(crate) enum Reply {
    /// 200 with this body.
    Json(String),
    /// This status and an empty body.
    Status(u16),
    /// 302 to this address.
    Redirect(String),
}

/// A JWKS endpoint on 127.0.0.1 that counts its requests.
pub(crate) struct JwksServer {
    pub(crate) url: Url,
    reply: Arc<Mutex<Reply>>,
    hits: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl JwksServer {
    pub(crate) async fn start(reply: Reply) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        let reply = Arc::new(Mutex::new(reply));
        let hits = Arc::new(AtomicUsize::new(0));
        let (r, h) = (Arc::clone(&reply), Arc::clone(&hits));
        let task = tokio::spawn(async move {
            // Dropped with the task, which ends every open connection too.
            let mut connections = JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (r, h) = (Arc::clone(&r), Arc::clone(&h));
                connections.spawn(async move {
                    let service = service_fn(move |_request| {
                        h.fetch_add(1, Ordering::SeqCst);
                        let reply = r.lock().expect("reply").clone();
                        async move { Ok::<_, Infallible>(respond(reply)) }
                    });
                    // A client hanging up mid-request is not the test's concern.
                    http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await
                        .ok();
                });
            }
        });
        Self {
            url: Url::parse(&format!("http://{addr}/auth/v1/.well-known/jwks.json")).expect("url"),
            reply,
            hits,
            task,
        }
    }

    pub(crate) fn set(&self, reply: Reply) {
        *self.reply.lock().expect("reply") = reply;
    }

    pub(crate) fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    /// Stops listening and drops every connection: the endpoint is down.
    pub(crate) async fn stop(&self) {
        self.task.abort();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

impl Drop for JwksServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn respond(reply: Reply) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    match reply {
        Reply::Json(body) => {
            *response.body_mut() = Full::new(Bytes::from(body));
            response.headers_mut().insert(
                hyper::header::CONTENT_TYPE,
                hyper::header::HeaderValue::from_static("application/json"),
            );
        }
        Reply::Status(code) => {
            *response.status_mut() = StatusCode::from_u16(code).expect("a status");
        }
        Reply::Redirect(to) => {
            *response.status_mut() = StatusCode::FOUND;
            response.headers_mut().insert(
                hyper::header::LOCATION,
                hyper::header::HeaderValue::from_str(&to).expect("a location"),
            );
        }
    }
    response
}

/// An address where nothing listens.
pub(crate) async fn dead_url() -> Url {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    drop(listener);
    Url::parse(&format!("http://{addr}/jwks.json")).expect("url")
}

/// An address that accepts connections and never answers; the listener lives as long as
/// the returned task.
pub(crate) async fn silent_url() -> (Url, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    (
        Url::parse(&format!("http://{addr}/jwks.json")).expect("url"),
        task,
    )
}
