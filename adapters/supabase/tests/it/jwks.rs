//! Tokens signed with the project's asymmetric signing keys, published as a JWKS.

use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonwebtoken::Algorithm;
use moclojer_domain::UserId;
use moclojer_ports::{Identity, PortErrorKind};
use moclojer_supabase::{SupabaseConfig, SupabaseIdentity};
use serde_json::json;
use url::Url;
use uuid::Uuid;

use crate::support::*;

/// An identity on `url`, keys fresh for `refresh`, at most one fetch per `cooldown`.
fn identity(alg: Algorithm, url: &Url, refresh: Duration, cooldown: Duration) -> SupabaseIdentity {
    let mut config = SupabaseConfig::with_jwks(ISSUER, alg, url.clone());
    config.jwks_refresh = refresh;
    config.jwks_cooldown = cooldown;
    SupabaseIdentity::new(config).expect("a valid configuration")
}

const LONG: Duration = Duration::from_secs(600);
/// Long enough that the steps a test runs "within the cooldown" fit in it on a busy machine.
const COOLDOWN: Duration = Duration::from_secs(1);

#[tokio::test]
async fn rs256_and_es256_tokens_verify_by_kid() {
    let rsa = rs256("rsa-1");
    let ec = es256("ec-1");
    let ec_other = es256("ec-2");
    let server = JwksServer::start(Reply::Json(jwks_of(&[&rsa, &ec, &ec_other]))).await;
    let user = Uuid::new_v4();

    let rs = identity(Algorithm::RS256, &server.url, LONG, LONG);
    let caller = rs
        .authenticate(&rsa.token(&user_claims(user)))
        .await
        .expect("an RS256 token");
    assert_eq!(caller.user_id, UserId::from_uuid(user));
    // The EC keys are not RS256 keys.
    let token = ec.token(&user_claims(user));
    refused(rs.authenticate(&token).await, &token, "ES256 against RS256");

    let es = identity(Algorithm::ES256, &server.url, LONG, LONG);
    assert_eq!(es.warm_up().await.expect("warm up"), 2, "the two EC keys");
    for key in [&ec, &ec_other] {
        let caller = es
            .authenticate(&key.token(&user_claims(user)))
            .await
            .expect("an ES256 token");
        assert_eq!(caller.user_id, UserId::from_uuid(user));
    }
    // Signed by one key, labelled with the other's kid.
    let mislabelled = ec.renamed("ec-2").token(&user_claims(user));
    assert_eq!(
        refused(
            es.authenticate(&mislabelled).await,
            &mislabelled,
            "wrong kid"
        ),
        "bad token signature"
    );
    // The claims are checked as with a secret.
    let expired = ec.token(&with(user_claims(user), "exp", json!(now() - 120)));
    assert_eq!(
        refused(es.authenticate(&expired).await, &expired, "expired"),
        "token expired"
    );
    let anonymous = ec.token(&with(user_claims(user), "aud", json!("anon")));
    refused(
        es.authenticate(&anonymous).await,
        &anonymous,
        "anon audience",
    );
    let no_kid = mint(Algorithm::ES256, &ec.encoding, None, &user_claims(user));
    assert_eq!(
        refused(es.authenticate(&no_kid).await, &no_kid, "no kid"),
        "token names no signing key"
    );
    assert_eq!(
        server.hits(),
        2,
        "one fetch per identity: {}",
        server.hits()
    );
}

#[tokio::test]
async fn the_algorithm_comes_from_configuration_not_the_header() {
    let rsa = rs256("rsa-1");
    let server = JwksServer::start(Reply::Json(jwks_of(&[&rsa]))).await;
    let id = identity(Algorithm::RS256, &server.url, LONG, LONG);
    let claims = user_claims(Uuid::new_v4());

    // The classic confusion: HMAC with the RSA public key (as PEM) for a secret.
    for pem in &rsa.public_pems {
        for kid in [Some("rsa-1"), None] {
            let token = mint(Algorithm::HS256, &secret_key(pem), kid, &claims);
            assert_eq!(
                refused(
                    id.authenticate(&token).await,
                    &token,
                    "HS256 with the public key"
                ),
                "token algorithm not accepted"
            );
        }
    }
    // The same key with another RSA algorithm.
    let ps = mint(Algorithm::PS256, &rsa.encoding, Some("rsa-1"), &claims);
    refused(id.authenticate(&ps).await, &ps, "PS256 against RS256");
    let rs512 = mint(Algorithm::RS512, &rsa.encoding, Some("rsa-1"), &claims);
    refused(id.authenticate(&rs512).await, &rs512, "RS512 against RS256");
    // alg none with the right kid.
    let none = raw_token(&json!({"alg": "none", "kid": "rsa-1"}), &claims, "AAAA");
    refused(id.authenticate(&none).await, &none, "alg none");
    assert_eq!(server.hits(), 0, "none of these needed a key");
    // A key embedded in the header is never used.
    let ec = es256("rsa-1");
    let embedded = raw_token(
        &json!({"alg": "RS256", "kid": "rsa-1", "jwk": ec.jwk}),
        &claims,
        "AAAA",
    );
    refused(id.authenticate(&embedded).await, &embedded, "embedded jwk");
}

#[tokio::test]
async fn an_unknown_kid_refreshes_once_then_is_refused() {
    let key = es256("current");
    let stranger = es256("unknown");
    let user = Uuid::new_v4();
    // Minted before the clock matters: signing is slow in a debug build.
    let unknown = stranger.token(&user_claims(user));
    let flood: Vec<Vec<String>> = (0..2)
        .map(|round| {
            (0..100)
                .map(|n| {
                    stranger
                        .renamed(&format!("made-up-{round}-{n}"))
                        .token(&user_claims(user))
                })
                .collect()
        })
        .collect();
    let server = JwksServer::start(Reply::Json(jwks_of(&[&key]))).await;
    let id = Arc::new(identity(Algorithm::ES256, &server.url, LONG, COOLDOWN));
    assert!(
        id.authenticate(&key.token(&user_claims(user)))
            .await
            .is_ok()
    );
    assert_eq!(server.hits(), 1);
    tokio::time::sleep(COOLDOWN + Duration::from_millis(50)).await;

    assert_eq!(
        refused(id.authenticate(&unknown).await, &unknown, "unknown kid"),
        "unknown signing key"
    );
    assert_eq!(server.hits(), 2, "one refresh for the unknown kid");
    refused(
        id.authenticate(&unknown).await,
        &unknown,
        "unknown kid again",
    );
    assert_eq!(server.hits(), 2, "no second refresh within the cooldown");

    // A flood of made-up kids costs no more fetches within the cooldown, and one after it.
    for (round, tokens) in flood.into_iter().enumerate() {
        if round == 1 {
            tokio::time::sleep(COOLDOWN + Duration::from_millis(50)).await;
        }
        let mut tasks = tokio::task::JoinSet::new();
        for token in tokens {
            let id = Arc::clone(&id);
            tasks.spawn(async move { id.authenticate(&token).await.map_err(|e| e.kind()) });
        }
        while let Some(result) = tasks.join_next().await {
            assert_eq!(result.expect("joined"), Err(PortErrorKind::Unauthenticated));
        }
        assert_eq!(server.hits(), 2 + round, "after flood {round}");
    }
    assert!(
        id.authenticate(&key.token(&user_claims(user)))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn rotated_keys_verify_after_a_refresh() {
    let first = es256("2024-key");
    let new = es256("2025-key");
    let user = Uuid::new_v4();
    let old_token = first.token(&user_claims(user));
    let new_token = new.token(&user_claims(user));
    let server = JwksServer::start(Reply::Json(jwks_of(&[&first]))).await;
    let id = identity(Algorithm::ES256, &server.url, LONG, COOLDOWN);
    assert!(id.authenticate(&old_token).await.is_ok());

    // Supabase rotates: the new key is published, and the old one withdrawn.
    server.set(Reply::Json(jwks_of(&[&new])));
    refused(
        id.authenticate(&new_token).await,
        &new_token,
        "a new kid within the cooldown",
    );
    tokio::time::sleep(COOLDOWN + Duration::from_millis(50)).await;
    let caller = id
        .authenticate(&new_token)
        .await
        .expect("the new key after a refresh");
    assert_eq!(caller.user_id, UserId::from_uuid(user));
    assert_eq!(server.hits(), 2);

    // The withdrawn key went with the refresh.
    refused(
        id.authenticate(&old_token).await,
        &old_token,
        "a withdrawn key",
    );
}

#[tokio::test]
async fn keys_are_refreshed_when_they_grow_old() {
    let key = es256("k");
    let server = JwksServer::start(Reply::Json(jwks_of(&[&key]))).await;
    let refresh = Duration::from_secs(1);
    let id = identity(
        Algorithm::ES256,
        &server.url,
        refresh,
        Duration::from_millis(100),
    );
    let token = key.token(&user_claims(Uuid::new_v4()));
    for _ in 0..5 {
        assert!(id.authenticate(&token).await.is_ok());
    }
    assert_eq!(server.hits(), 1, "fresh keys answer from the cache");
    tokio::time::sleep(refresh + Duration::from_millis(50)).await;
    assert!(id.authenticate(&token).await.is_ok());
    assert_eq!(server.hits(), 2, "old keys are fetched again");
}

#[tokio::test]
async fn an_unreachable_jwks_with_no_keys_is_unavailable() {
    let key = es256("k");
    let token = key.token(&user_claims(Uuid::new_v4()));

    let dead = identity(Algorithm::ES256, &dead_url().await, LONG, COOLDOWN);
    let err = dead.authenticate(&token).await.expect_err("no keys");
    assert_eq!(err.kind(), PortErrorKind::Unavailable, "{err}");
    assert!(err.is_retryable());
    let err = dead.warm_up().await.expect_err("no keys");
    assert_eq!(err.kind(), PortErrorKind::Unavailable, "{err}");

    let server = JwksServer::start(Reply::Status(503)).await;
    let id = identity(Algorithm::ES256, &server.url, LONG, COOLDOWN);
    for _ in 0..20 {
        let err = id.authenticate(&token).await.expect_err("a 503");
        assert_eq!(err.kind(), PortErrorKind::Unavailable, "{err}");
    }
    assert_eq!(
        server.hits(),
        1,
        "failures are not retried within the cooldown"
    );

    // The endpoint comes back.
    server.set(Reply::Json(jwks_of(&[&key])));
    tokio::time::sleep(COOLDOWN + Duration::from_millis(50)).await;
    assert!(id.authenticate(&token).await.is_ok(), "recovered");
    assert_eq!(server.hits(), 2);
}

#[tokio::test]
async fn bad_jwks_answers_are_unavailable() {
    let key = es256("k");
    let token = key.token(&user_claims(Uuid::new_v4()));
    let target = JwksServer::start(Reply::Json(jwks_of(&[&key]))).await;
    let huge = json!({ "keys": [], "padding": "x".repeat(300 * 1024) }).to_string();
    for reply in [
        Reply::Status(500),
        Reply::Status(404),
        Reply::Status(429),
        Reply::Redirect(target.url.to_string()),
        Reply::Json("<html>not json</html>".to_owned()),
        Reply::Json("{\"keys\": 5}".to_owned()),
        Reply::Json(huge),
    ] {
        let server = JwksServer::start(reply.clone()).await;
        let id = identity(Algorithm::ES256, &server.url, LONG, LONG);
        let err = id.authenticate(&token).await.expect_err("refused");
        assert_eq!(err.kind(), PortErrorKind::Unavailable, "{reply:?}: {err}");
    }
    assert_eq!(target.hits(), 0, "redirects are not followed");
}

#[tokio::test]
async fn cached_keys_survive_a_jwks_outage() {
    let key = es256("k");
    let server = JwksServer::start(Reply::Json(jwks_of(&[&key]))).await;
    // Keys grow old fast, so every request after the outage wants a refresh.
    let id = identity(
        Algorithm::ES256,
        &server.url,
        Duration::from_millis(100),
        Duration::from_millis(50),
    );
    let user = Uuid::new_v4();
    let token = key.token(&user_claims(user));
    assert!(id.authenticate(&token).await.is_ok());

    server.set(Reply::Status(502));
    tokio::time::sleep(Duration::from_millis(150)).await;
    let caller = id.authenticate(&token).await.expect("cached key, 502");
    assert_eq!(caller.user_id, UserId::from_uuid(user));
    assert_eq!(server.hits(), 2, "a refresh was tried");

    server.stop().await;
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        let caller = id
            .authenticate(&token)
            .await
            .expect("cached key, server down");
        assert_eq!(caller.user_id, UserId::from_uuid(user));
    }
    // A kid the cache never held cannot be vouched for while the endpoint is down.
    tokio::time::sleep(Duration::from_millis(60)).await;
    let other = es256("other").token(&user_claims(user));
    let err = id
        .authenticate(&other)
        .await
        .expect_err("unknown kid, server down");
    assert_eq!(err.kind(), PortErrorKind::Unavailable, "{err}");
}

#[tokio::test]
async fn a_silent_jwks_endpoint_times_out() {
    let (url, _listener) = silent_url().await;
    let id = identity(Algorithm::ES256, &url, LONG, LONG);
    let token = es256("k").token(&user_claims(Uuid::new_v4()));
    let started = Instant::now();
    let err = id.authenticate(&token).await.expect_err("no answer");
    assert_eq!(err.kind(), PortErrorKind::Timeout, "{err}");
    assert!(err.is_retryable());
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(4) && took < Duration::from_secs(8),
        "{took:?}"
    );
}

#[tokio::test]
async fn broken_keys_in_the_jwks_refuse_tokens_without_panicking() {
    let rsa = rs256("good-rsa");
    let ec = es256("good-ec");
    let broken = json!({ "keys": [
        rsa.jwk,
        ec.jwk,
        {"kty": "RSA", "kid": "empty-rsa", "alg": "RS256", "n": "", "e": ""},
        {"kty": "RSA", "kid": "tiny-rsa", "alg": "RS256", "n": "AQAB", "e": "AQAB"},
        {"kty": "RSA", "kid": "junk-rsa", "n": "!!!", "e": "AQAB"},
        {"kty": "EC", "crv": "P-256", "kid": "short-ec", "x": "AAAA", "y": "AAAA"},
        {"kty": "EC", "crv": "P-256", "kid": "off-curve-ec",
         "x": b64url(&[1; 32]), "y": b64url(&[2; 32])}
    ]})
    .to_string();
    let server = JwksServer::start(Reply::Json(broken)).await;
    let user = Uuid::new_v4();

    let rs = identity(Algorithm::RS256, &server.url, LONG, LONG);
    assert!(
        rs.authenticate(&rsa.token(&user_claims(user)))
            .await
            .is_ok()
    );
    for kid in ["empty-rsa", "tiny-rsa", "junk-rsa"] {
        let token = rsa.renamed(kid).token(&user_claims(user));
        refused(rs.authenticate(&token).await, &token, kid);
    }
    let es = identity(Algorithm::ES256, &server.url, LONG, LONG);
    assert!(es.authenticate(&ec.token(&user_claims(user))).await.is_ok());
    for kid in ["short-ec", "off-curve-ec"] {
        let token = ec.renamed(kid).token(&user_claims(user));
        refused(es.authenticate(&token).await, &token, kid);
    }
}
