//! Tokens signed with the project's legacy JWT secret (HS256).

use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonwebtoken::Algorithm;
use moclojer_domain::{Email, UserId};
use moclojer_ports::Identity;
use moclojer_supabase::{SecretString, SupabaseConfig, SupabaseIdentity};
use serde_json::json;
use uuid::Uuid;

use crate::support::*;

fn identity() -> SupabaseIdentity {
    SupabaseIdentity::new(SupabaseConfig::with_secret(
        ISSUER,
        SecretString::new(SECRET),
    ))
    .expect("a valid configuration")
}

#[tokio::test]
async fn a_valid_token_names_its_user() {
    let user = Uuid::new_v4();
    let token = hs256(&user_claims(user));
    // Held as the apps hold it.
    let id: Arc<dyn Identity> = Arc::new(identity());
    let caller = id.authenticate(&token).await.expect("accepted");
    assert_eq!(caller.user_id, UserId::from_uuid(user));

    // A token carrying a `kid`, as newer Supabase HS256 tokens do: the secret is the key.
    let token = mint(
        Algorithm::HS256,
        &secret_key(SECRET),
        Some("legacy"),
        &user_claims(user),
    );
    let caller = identity().authenticate(&token).await.expect("accepted");
    assert_eq!(caller.user_id, UserId::from_uuid(user));

    // `aud` may be a list that contains the audience.
    let claims = with(
        user_claims(user),
        "aud",
        json!(["authenticated", "elsewhere"]),
    );
    assert!(identity().authenticate(&hs256(&claims)).await.is_ok());
}

#[tokio::test]
async fn the_caller_carries_the_email_claim_when_it_is_an_address() {
    let id = identity();
    let user = Uuid::new_v4();
    let caller = id
        .authenticate(&hs256(&user_claims(user)))
        .await
        .expect("accepted");
    assert_eq!(caller.user_id, UserId::from_uuid(user));
    assert_eq!(
        caller.email,
        Some(Email::parse("someone@example.com").expect("an address"))
    );

    // Normalised as the domain normalises addresses.
    let claims = with(
        user_claims(user),
        "email",
        json!("Someone.Else@Example.COM"),
    );
    let caller = id.authenticate(&hs256(&claims)).await.expect("accepted");
    assert_eq!(
        caller.email.as_ref().map(Email::as_str),
        Some("someone.else@example.com")
    );

    // Without a usable address the token is still good; the caller just has none.
    let cases = [
        ("no email", without(user_claims(user), "email")),
        ("empty email", with(user_claims(user), "email", json!(""))),
        (
            "not an address",
            with(user_claims(user), "email", json!("someone")),
        ),
        (
            "email a number",
            with(user_claims(user), "email", json!(42)),
        ),
        ("email null", with(user_claims(user), "email", json!(null))),
        (
            "email a list",
            with(user_claims(user), "email", json!(["someone@example.com"])),
        ),
    ];
    for (what, claims) in cases {
        let caller = id
            .authenticate(&hs256(&claims))
            .await
            .unwrap_or_else(|e| panic!("{what}: refused: {e}"));
        assert_eq!(caller.user_id, UserId::from_uuid(user), "{what}");
        assert_eq!(caller.email, None, "{what}");
    }
}

#[tokio::test]
async fn expiry_is_required_and_checked_with_the_leeway() {
    let id = identity();
    let user = Uuid::new_v4();
    let expired = hs256(&with(user_claims(user), "exp", json!(now() - 120)));
    assert_eq!(
        refused(id.authenticate(&expired).await, &expired, "expired"),
        "token expired"
    );
    let just_expired = hs256(&with(user_claims(user), "exp", json!(now() - 5)));
    assert!(
        id.authenticate(&just_expired).await.is_ok(),
        "within the 30 s leeway"
    );
    let no_exp = hs256(&without(user_claims(user), "exp"));
    refused(id.authenticate(&no_exp).await, &no_exp, "no exp");
    let text_exp = hs256(&with(user_claims(user), "exp", json!("tomorrow")));
    refused(id.authenticate(&text_exp).await, &text_exp, "exp as text");
}

#[tokio::test]
async fn a_token_not_yet_valid_is_refused() {
    let id = identity();
    let user = Uuid::new_v4();
    let early = hs256(&with(user_claims(user), "nbf", json!(now() + 300)));
    assert_eq!(
        refused(id.authenticate(&early).await, &early, "nbf ahead"),
        "token not yet valid"
    );
    let skewed = hs256(&with(user_claims(user), "nbf", json!(now() + 5)));
    assert!(
        id.authenticate(&skewed).await.is_ok(),
        "within the 30 s leeway"
    );
    let text_nbf = hs256(&with(user_claims(user), "nbf", json!("soon")));
    refused(id.authenticate(&text_nbf).await, &text_nbf, "nbf as text");
}

#[tokio::test]
async fn issuer_and_audience_must_match() {
    let id = identity();
    let user = Uuid::new_v4();
    let cases = [
        (
            "another project",
            with(
                user_claims(user),
                "iss",
                json!("https://otherproject.supabase.co/auth/v1"),
            ),
        ),
        (
            "a trailing slash",
            with(user_claims(user), "iss", json!(format!("{ISSUER}/"))),
        ),
        (
            "the legacy api keys' issuer",
            with(user_claims(user), "iss", json!("supabase")),
        ),
        (
            "issuer as a list",
            with(user_claims(user), "iss", json!([ISSUER])),
        ),
        ("no issuer", without(user_claims(user), "iss")),
        (
            "anon audience",
            with(user_claims(user), "aud", json!("anon")),
        ),
        (
            "audience list without ours",
            with(user_claims(user), "aud", json!(["anon", "x"])),
        ),
        ("no audience", without(user_claims(user), "aud")),
        (
            "audience as a number",
            with(user_claims(user), "aud", json!(1)),
        ),
    ];
    for (what, claims) in cases {
        let token = hs256(&claims);
        refused(id.authenticate(&token).await, &token, what);
    }
}

#[tokio::test]
async fn the_subject_must_be_a_user_uuid() {
    let id = identity();
    let user = Uuid::new_v4();
    let cases = [
        ("no sub", without(user_claims(user), "sub")),
        (
            "sub not a uuid",
            with(user_claims(user), "sub", json!("not-a-uuid")),
        ),
        ("sub empty", with(user_claims(user), "sub", json!(""))),
        ("sub a number", with(user_claims(user), "sub", json!(42))),
        ("sub null", with(user_claims(user), "sub", json!(null))),
        (
            "sub without hyphens",
            with(user_claims(user), "sub", json!(user.simple().to_string())),
        ),
        (
            "sub as a urn",
            with(user_claims(user), "sub", json!(user.urn().to_string())),
        ),
    ];
    for (what, claims) in cases {
        let token = hs256(&claims);
        refused(id.authenticate(&token).await, &token, what);
    }
}

#[tokio::test]
async fn other_roles_and_anonymous_sign_ins_are_refused() {
    let id = identity();
    let user = Uuid::new_v4();
    let cases = [
        ("anon role", with(user_claims(user), "role", json!("anon"))),
        (
            "service role",
            with(user_claims(user), "role", json!("service_role")),
        ),
        (
            "role a list",
            with(user_claims(user), "role", json!(["authenticated"])),
        ),
        (
            "anonymous sign-in",
            with(user_claims(user), "is_anonymous", json!(true)),
        ),
        (
            "is_anonymous as text",
            with(user_claims(user), "is_anonymous", json!("false")),
        ),
    ];
    for (what, claims) in cases {
        let token = hs256(&claims);
        refused(id.authenticate(&token).await, &token, what);
    }
    // A legacy service_role API key: HS256 with the same secret, no sub, no aud.
    let service_key = hs256(&json!({
        "iss": "supabase", "ref": "abcdefghijklmnop", "role": "service_role",
        "iat": now(), "exp": now() + 3600
    }));
    refused(
        id.authenticate(&service_key).await,
        &service_key,
        "service_role api key",
    );
}

#[tokio::test]
async fn forged_tokens_are_refused() {
    let id = identity();
    let alice = Uuid::new_v4();
    let mallory = Uuid::new_v4();

    let other_secret = mint(
        Algorithm::HS256,
        &secret_key("another-secret-that-is-also-at-least-32-bytes"),
        None,
        &user_claims(alice),
    );
    assert_eq!(
        refused(
            id.authenticate(&other_secret).await,
            &other_secret,
            "other secret"
        ),
        "bad token signature"
    );

    // Alice's signature over Mallory's claims.
    let genuine = hs256(&user_claims(alice));
    let parts: Vec<&str> = genuine.split('.').collect();
    let mallory_claims = b64url(user_claims(mallory).to_string().as_bytes());
    let swapped = format!("{}.{mallory_claims}.{}", parts[0], parts[2]);
    refused(
        id.authenticate(&swapped).await,
        &swapped,
        "claims swapped under a signature",
    );

    // No signature, or a signature of the wrong length.
    let unsigned = format!("{}.{}.AAAA", parts[0], parts[1]);
    refused(
        id.authenticate(&unsigned).await,
        &unsigned,
        "a short signature",
    );
    let truncated = &genuine[..genuine.len() - 4];
    refused(
        id.authenticate(truncated).await,
        truncated,
        "a truncated signature",
    );
}

#[tokio::test]
async fn the_header_never_chooses_the_algorithm() {
    let id = identity();
    let claims = user_claims(Uuid::new_v4());

    for signature in ["AAAA", "e30"] {
        let none = raw_token(&json!({"alg": "none", "typ": "JWT"}), &claims, signature);
        refused(id.authenticate(&none).await, &none, "alg none");
        let none = raw_token(&json!({"alg": "None", "typ": "JWT"}), &claims, signature);
        refused(id.authenticate(&none).await, &none, "alg None");
    }
    let no_alg = raw_token(&json!({"typ": "JWT"}), &claims, "AAAA");
    refused(id.authenticate(&no_alg).await, &no_alg, "no alg");

    // Same secret, another HMAC algorithm: still refused, the configuration says HS256.
    for alg in [Algorithm::HS384, Algorithm::HS512] {
        let token = mint(alg, &secret_key(SECRET), None, &claims);
        assert_eq!(
            refused(id.authenticate(&token).await, &token, "another hmac"),
            "token algorithm not accepted"
        );
    }

    // A header that points at keys elsewhere is not followed: the signature still has to
    // verify with the configured secret.
    let jku = raw_token(
        &json!({"alg": "HS256", "jku": "https://evil.example/jwks.json", "kid": "x"}),
        &claims,
        "AAAA",
    );
    refused(id.authenticate(&jku).await, &jku, "jku header");
}

#[tokio::test]
async fn malformed_tokens_are_refused_fast() {
    let id = identity();
    assert_eq!(refused(id.authenticate("").await, "", "empty"), "no token");
    for token in [
        "abc",
        "a.b.c",
        "a.b",
        "a.b.c.d",
        "..",
        " ",
        "Bearer a.b.c",
        "eyJhbGciOiJIUzI1NiJ9.e30",
        "eyJhbGciOiJIUzI1NiJ9.e30.",
        "eyJhbGciOiJIUzI1NiJ9..AAAA",
        "!!!.???.***",
        "é.é.é",
    ] {
        refused(id.authenticate(token).await, token, token);
    }
    let genuine = hs256(&user_claims(Uuid::new_v4()));
    let spaced = format!(" {genuine}");
    refused(id.authenticate(&spaced).await, &spaced, "a leading space");
    let padded = format!("{genuine}=");
    refused(id.authenticate(&padded).await, &padded, "padding");

    let huge_blob = "a".repeat(100 * 1024);
    let huge_jwt = format!(
        "eyJhbGciOiJIUzI1NiJ9.{}.{}",
        "A".repeat(100 * 1024),
        "B".repeat(43)
    );
    for (what, token) in [("100 KB blob", &huge_blob), ("100 KB jwt", &huge_jwt)] {
        let started = Instant::now();
        let message = refused(id.authenticate(token).await, token, what);
        assert_eq!(message, "token too large");
        assert!(
            started.elapsed() < Duration::from_millis(100),
            "{what} took {:?}",
            started.elapsed()
        );
    }
}
