//! Supabase mode: Supabase access tokens sign people in; the local account is made on
//! first sight; local sign-up is closed; personal API tokens still work.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{EncodingKey, Header};
use moclojer_api::{AuthMode, SupabaseBrowser};
use moclojer_supabase::{SecretString, SupabaseConfig, SupabaseIdentity};
use serde_json::{Value, json};

use crate::support::{Api, assert_error};

const ISSUER: &str = "https://abcdefghijklmnop.supabase.co/auth/v1";
const SECRET: &str = "super-secret-jwt-token-with-at-least-32-characters-long";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

fn claims(sub: &str, email: Option<&str>, exp: u64) -> Value {
    let mut claims = json!({
        "iss": ISSUER, "sub": sub, "aud": "authenticated", "exp": exp, "iat": now(),
        "role": "authenticated", "is_anonymous": false,
    });
    if let Some(email) = email {
        claims["email"] = json!(email);
    }
    claims
}

fn sign(claims: &Value, secret: &str) -> String {
    jsonwebtoken::encode(
        &Header::default(),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()).expect("a key"),
    )
    .expect("sign")
}

async fn api() -> Api {
    let identity = SupabaseIdentity::new(SupabaseConfig::with_secret(
        ISSUER,
        SecretString::new(SECRET),
    ))
    .expect("config");
    Api::start_full(AuthMode::External(Arc::new(identity)), |state| {
        state.supabase_browser = Some(SupabaseBrowser {
            url: "https://abcdefghijklmnop.supabase.co".to_owned(),
            anon_key: "anon-key".to_owned(),
        });
    })
    .await
}

#[tokio::test]
async fn the_web_interface_learns_how_to_sign_in() {
    let (status, config) = api().await.get("/api/v1/config", None).await;
    assert_eq!(status, 200, "{config}");
    assert_eq!(
        config,
        json!({
            "mode": "supabase",
            "supabase": {"url": "https://abcdefghijklmnop.supabase.co", "anon_key": "anon-key"},
            "zone": "localhost",
        })
    );
    let (status, config) = Api::start().await.get("/api/v1/config", None).await;
    assert_eq!(status, 200, "{config}");
    assert_eq!(config["mode"], "local");
    assert!(config["supabase"].is_null(), "{config}");
}

#[tokio::test]
async fn a_supabase_user_is_signed_in_and_gets_an_account() {
    let api = api().await;
    let sub = uuid::Uuid::new_v4().to_string();
    let token = sign(
        &claims(&sub, Some("Dana@Example.com"), now() + 3600),
        SECRET,
    );

    let (status, me) = api.get("/api/v1/me", Some(&token)).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(
        me["id"],
        sub.as_str(),
        "the account has the Supabase user's id"
    );
    assert_eq!(me["email"], "dana@example.com");
    assert!(me["handle"].is_null());
    assert_eq!(api.get("/api/v1/me", Some(&token)).await.1, me, "made once");

    let (status, _) = api
        .put("/api/v1/me", Some(&token), json!({"handle": "dana"}))
        .await;
    assert_eq!(status, 200);
    let (status, mock) = api
        .post(
            "/api/v1/mocks",
            Some(&token),
            json!({"workspace": "dana", "name": "hello"}),
        )
        .await;
    assert_eq!(
        (status, &mock["host"]),
        (201, &json!("hello-dana.localhost"))
    );

    // Personal API tokens work in Supabase mode too.
    let (status, made) = api
        .post("/api/v1/tokens", Some(&token), json!({"name": "ci"}))
        .await;
    assert_eq!(status, 201);
    let (status, me_again) = api.get("/api/v1/me", made["token"].as_str()).await;
    assert_eq!((status, &me_again["id"]), (200, &json!(sub)));

    // Local accounts are closed.
    assert_error(
        &api.post(
            "/api/v1/auth/signup",
            None,
            json!({"email": "eve@example.com", "password": "correct horse battery"}),
        )
        .await,
        403,
        "forbidden",
    );
}

#[tokio::test]
async fn bad_supabase_tokens_get_401_and_make_nothing() {
    let api = api().await;
    let sub = uuid::Uuid::new_v4().to_string();
    for (token, what) in [
        (
            sign(
                &claims(&sub, Some("x@example.com"), now() + 3600),
                &"x".repeat(40),
            ),
            "signed with another secret",
        ),
        (
            sign(&claims(&sub, Some("x@example.com"), now() - 3600), SECRET),
            "expired",
        ),
        (
            sign(&claims(&sub, None, now() + 3600), SECRET),
            "valid, but no account and no e-mail to make one",
        ),
        ("eyJhbGciOiJub25lIn0.e30.".to_owned(), "alg none"),
    ] {
        let got = api.get("/api/v1/me", Some(&token)).await;
        assert_eq!(got.0, 401, "{what}: {}", got.1);
        assert_error(&got, 401, "unauthenticated");
    }
    let users = moclojer_ports::AccountRepository::get_user(
        &api.database,
        moclojer_domain::UserId::parse(&sub).expect("id"),
    )
    .await;
    assert!(users.is_err(), "no account was made");
}
