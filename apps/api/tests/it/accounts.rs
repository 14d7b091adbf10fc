//! Sign-up, sign-in, handles and personal API tokens.

use serde_json::json;

use crate::support::{Api, assert_error};

const PASSWORD: &str = "correct horse battery";

#[tokio::test]
async fn signup_login_and_the_session() {
    let api = Api::start().await;
    let (status, body) = api
        .post(
            "/api/v1/auth/signup",
            None,
            json!({"email": "Alice@Example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        body["user"]["email"], "alice@example.com",
        "addresses are normalised"
    );
    assert!(
        body["user"]["handle"].is_null(),
        "no handle until chosen: {body}"
    );
    let token = body["token"].as_str().expect("token").to_owned();
    assert!(token.starts_with("mcj_"));

    let (status, me) = api.get("/api/v1/me", Some(&token)).await;
    assert_eq!(status, 200);
    assert_eq!(me["id"], body["user"]["id"]);

    assert_error(
        &api.post(
            "/api/v1/auth/signup",
            None,
            json!({"email": "alice@example.com", "password": PASSWORD}),
        )
        .await,
        409,
        "email_taken",
    );

    let (status, login) = api
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": "alice@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, 200, "{login}");
    assert_eq!(login["user"]["id"], body["user"]["id"]);
    assert_ne!(
        login["token"], body["token"],
        "every sign-in has its own token"
    );

    for (email, password) in [
        ("alice@example.com", "wrong password!"),
        ("nobody@example.com", PASSWORD),
        ("not an address", PASSWORD),
    ] {
        assert_error(
            &api.post(
                "/api/v1/auth/login",
                None,
                json!({"email": email, "password": password}),
            )
            .await,
            401,
            "unauthenticated",
        );
    }

    // Sign-out ends that session only.
    let (status, _) = api
        .call(
            reqwest::Method::POST,
            "/api/v1/auth/logout",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, 204);
    assert_error(
        &api.get("/api/v1/me", Some(&token)).await,
        401,
        "unauthenticated",
    );
    let other = login["token"].as_str().expect("token");
    assert_eq!(api.get("/api/v1/me", Some(other)).await.0, 200);
}

#[tokio::test]
async fn signup_refuses_bad_input_and_stores_nothing() {
    let api = Api::start().await;
    let short = api
        .post(
            "/api/v1/auth/signup",
            None,
            json!({"email": "bob@example.com", "password": "short"}),
        )
        .await;
    assert_error(&short, 400, "bad_request");
    assert_eq!(short.1["error"]["details"]["field"], "password");
    let bad_email = api
        .post(
            "/api/v1/auth/signup",
            None,
            json!({"email": "bob", "password": PASSWORD}),
        )
        .await;
    assert_eq!(bad_email.1["error"]["details"]["field"], "email");
    assert_error(
        &api.post(
            "/api/v1/auth/signup",
            None,
            json!({"email": "bob@example.com", "password": PASSWORD, "admin": true}),
        )
        .await,
        400,
        "bad_request",
    );
    assert_error(
        &api.post(
            "/api/v1/auth/login",
            None,
            json!({"email": "bob@example.com", "password": PASSWORD}),
        )
        .await,
        401,
        "unauthenticated",
    );
}

#[tokio::test]
async fn handles_are_chosen_once_and_shared_with_orgs() {
    let api = Api::start().await;
    let alice = api.account("alice").await;
    let (status, body) = api
        .post(
            "/api/v1/auth/signup",
            None,
            json!({"email": "bob@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, 201);
    let bob = body["token"].as_str().expect("token").to_owned();

    assert_error(
        &api.put("/api/v1/me", Some(&bob), json!({"handle": "alice"}))
            .await,
        409,
        "handle_taken",
    );
    let reserved = api
        .put("/api/v1/me", Some(&bob), json!({"handle": "api"}))
        .await;
    assert_error(&reserved, 400, "bad_request");
    assert_eq!(reserved.1["error"]["details"]["field"], "handle");
    assert_error(
        &api.put("/api/v1/me", Some(&bob), json!({"handle": "Bob-1"}))
            .await,
        400,
        "bad_request",
    );
    let (status, me) = api
        .put("/api/v1/me", Some(&bob), json!({"handle": "bob"}))
        .await;
    assert_eq!((status, me["handle"].as_str()), (200, Some("bob")));
    assert_eq!(
        api.put("/api/v1/me", Some(&bob), json!({"handle": "bob"}))
            .await
            .0,
        200,
        "choosing the same handle again is a no-op"
    );
    assert_error(
        &api.put("/api/v1/me", Some(&bob), json!({"handle": "robert"}))
            .await,
        409,
        "handle_already_chosen",
    );

    // Availability, with reasons; no token needed.
    for (handle, available, reason) in [
        ("alice", false, Some("taken")),
        ("carol", true, None),
        ("admin", false, Some("reserved")),
        ("No!", false, Some("invalid")),
    ] {
        let (status, body) = api
            .get(&format!("/api/v1/handles/{}", urlencode(handle)), None)
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["available"], available, "{handle}: {body}");
        assert_eq!(body["reason"].as_str(), reason, "{handle}: {body}");
    }

    // Orgs share the namespace.
    assert_error(
        &api.post("/api/v1/orgs", Some(&alice.token), json!({"handle": "bob"}))
            .await,
        409,
        "handle_taken",
    );
}

fn urlencode(raw: &str) -> String {
    raw.replace('!', "%21")
}

#[tokio::test]
async fn personal_tokens_are_shown_once_and_revocable() {
    let api = Api::start().await;
    let alice = api.account("alice").await;
    let bob = api.account("bob").await;
    let (status, made) = api
        .post("/api/v1/tokens", Some(&alice.token), json!({"name": "ci"}))
        .await;
    assert_eq!(status, 201, "{made}");
    let secret = made["token"].as_str().expect("secret").to_owned();
    assert!(made["expires_at"].is_null(), "no expiry asked for: {made}");
    let (status, me) = api.get("/api/v1/me", Some(&secret)).await;
    assert_eq!((status, &me["handle"]), (200, &json!("alice")));

    let (status, list) = api.get("/api/v1/tokens", Some(&alice.token)).await;
    assert_eq!(status, 200);
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    assert!(
        list[0]["token"].is_null(),
        "a list never shows secrets: {list}"
    );
    assert_eq!(list[0]["name"], "ci");
    let id = list[0]["id"].as_str().expect("id").to_owned();

    let (_, none) = api.get("/api/v1/tokens", Some(&bob.token)).await;
    assert_eq!(none, json!([]), "bob sees none of alice's tokens");
    assert_error(
        &api.delete(&format!("/api/v1/tokens/{id}"), Some(&bob.token))
            .await,
        404,
        "not_found",
    );
    assert_eq!(
        api.get("/api/v1/me", Some(&secret)).await.0,
        200,
        "still works"
    );

    for bad in [
        json!({"name": ""}),
        json!({"name": "x", "expires_in_days": 0}),
    ] {
        assert_error(
            &api.post("/api/v1/tokens", Some(&alice.token), bad).await,
            400,
            "bad_request",
        );
    }
    let (status, dated) = api
        .post(
            "/api/v1/tokens",
            Some(&alice.token),
            json!({"name": "week", "expires_in_days": 7}),
        )
        .await;
    assert_eq!(status, 201);
    assert!(dated["expires_at"].is_string(), "{dated}");

    assert_eq!(
        api.delete(&format!("/api/v1/tokens/{id}"), Some(&alice.token))
            .await
            .0,
        204
    );
    assert_error(
        &api.get("/api/v1/me", Some(&secret)).await,
        401,
        "unauthenticated",
    );
}

/// Sends `POST path` with `body` and no token; the status, `Retry-After`, and the body.
async fn attempt(api: &Api, path: &str, body: serde_json::Value) -> (u16, Option<u64>, String) {
    let response = api
        .client
        .post(format!("{}{path}", api.base))
        .json(&body)
        .send()
        .await
        .expect("send");
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    (
        status,
        retry_after,
        response.text().await.unwrap_or_default(),
    )
}

#[tokio::test]
async fn guessing_a_password_is_throttled_per_address_and_per_client() {
    use moclojer_api::throttle::EMAIL_ATTEMPTS;
    let api = Api::start().await;
    let login = |email: &str| json!({"email": email, "password": "a wrong guess"});
    for _ in 0..EMAIL_ATTEMPTS.0 {
        let (status, _, body) =
            attempt(&api, "/api/v1/auth/login", login("victim@example.com")).await;
        assert_eq!(status, 401, "{body}");
    }
    let (status, retry_after, body) =
        attempt(&api, "/api/v1/auth/login", login("Victim@Example.com")).await;
    assert_eq!(
        status, 429,
        "the address's allowance is used, whatever its case: {body}"
    );
    assert!(body.contains("too_many_requests"), "{body}");
    let retry_after = retry_after.expect("Retry-After");
    assert!(
        (1..=60).contains(&retry_after),
        "one more a minute: {retry_after} s"
    );

    // Another address from the same client is still answered, until the client's own
    // allowance is used too.
    let mut answered = 0;
    let refused = loop {
        let (status, retry_after, body) = attempt(
            &api,
            "/api/v1/auth/login",
            login(&format!("other{answered}@example.com")),
        )
        .await;
        if status == 429 {
            break (retry_after, body);
        }
        assert_eq!(status, 401, "{body}");
        answered += 1;
        assert!(answered < 100, "the client is throttled at some point");
    };
    assert!(refused.1.contains("from this address"), "{}", refused.1);
    assert!(refused.0.is_some());
    let (status, _, _) = attempt(
        &api,
        "/api/v1/auth/signup",
        json!({"email": "new@example.com", "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, 429, "sign-ups count against the client too");
}
