//! Quotas: what one account may hold, with a 403 (or 422 for content) `quota_exceeded`
//! naming the quota and its limit, and nothing written past them.

use moclojer_api::Quotas;
use serde_json::{Value, json};

use crate::support::{Api, HELLO, assert_error};

/// An api whose quotas are all 2.
async fn tight() -> Api {
    Api::start_full(moclojer_api::AuthMode::Local, |state| {
        state.quotas = Quotas {
            mocks_per_workspace: 2,
            endpoints_per_mock: 2,
            orgs_per_user: 2,
            tokens_per_user: 2,
        };
    })
    .await
}

/// Asserts a `quota_exceeded` naming `quota` with limit 2.
#[track_caller]
fn exceeded(got: &(u16, Value), status: u16, quota: &str) {
    assert_error(got, status, "quota_exceeded");
    assert_eq!(got.1["error"]["details"]["quota"], quota, "{}", got.1);
    assert_eq!(got.1["error"]["details"]["limit"], 2, "{}", got.1);
}

/// A spec of `n` endpoints.
fn endpoints(n: usize) -> String {
    (0..n)
        .map(|i| format!("- endpoint:\n    path: /e{i}\n    response:\n      body: '{{}}'\n"))
        .collect()
}

#[tokio::test]
async fn a_workspace_holds_at_most_its_quota_of_mocks() {
    let api = tight().await;
    let alice = api.account("alice").await;
    let token = Some(alice.token.as_str());
    api.mock(&alice, "alice", "one").await;
    api.mock(&alice, "alice", "two").await;
    let third = api
        .post(
            "/api/v1/mocks",
            token,
            json!({"workspace": "alice", "name": "three"}),
        )
        .await;
    exceeded(&third, 403, "mocks_per_workspace");
    let (_, listed) = api.get("/api/v1/mocks", token).await;
    let mocks = listed["workspaces"][0]["mocks"]
        .as_array()
        .expect("alice's mocks")
        .len();
    assert_eq!(mocks, 2, "nothing was made: {listed}");

    // Another workspace has a quota of its own.
    let (status, _) = api
        .post("/api/v1/orgs", token, json!({"handle": "acme"}))
        .await;
    assert_eq!(status, 201);
    api.mock(&alice, "acme", "three").await;
}

#[tokio::test]
async fn a_mock_holds_at_most_its_quota_of_endpoints() {
    let api = tight().await;
    let alice = api.account("alice").await;
    let token = Some(alice.token.as_str());
    let create = |content: String| json!({"workspace": "alice", "name": "big", "content": content});
    exceeded(
        &api.post("/api/v1/mocks", token, create(endpoints(3))).await,
        422,
        "endpoints_per_mock",
    );
    let (status, made) = api.post("/api/v1/mocks", token, create(endpoints(2))).await;
    assert_eq!(status, 201, "{made}");
    let path = format!("/api/v1/mocks/{}", made["id"].as_str().expect("id"));
    let grown = api
        .put(&path, token, json!({"content": endpoints(3)}))
        .await;
    exceeded(&grown, 422, "endpoints_per_mock");
    let (_, kept) = api.get(&path, token).await;
    assert_eq!(
        kept["content"],
        endpoints(2),
        "the refused edit changed nothing"
    );
    assert_eq!(
        api.put(&path, token, json!({"content": HELLO})).await.0,
        200
    );
}

#[tokio::test]
async fn a_user_owns_at_most_its_quota_of_orgs_and_holds_its_quota_of_tokens() {
    let api = tight().await;
    let alice = api.account("alice").await;
    let token = Some(alice.token.as_str());
    for handle in ["acme", "initech"] {
        let (status, body) = api
            .post("/api/v1/orgs", token, json!({"handle": handle}))
            .await;
        assert_eq!(status, 201, "{body}");
    }
    exceeded(
        &api.post("/api/v1/orgs", token, json!({"handle": "globex"}))
            .await,
        403,
        "orgs_per_user",
    );
    let (status, _) = api.get("/api/v1/orgs/globex", token).await;
    assert_eq!(status, 404, "the refused org was not made");

    let mut made = Vec::new();
    for name in ["ci", "deploy"] {
        let (status, body) = api
            .post("/api/v1/tokens", token, json!({"name": name}))
            .await;
        assert_eq!(status, 201, "{body}");
        made.push(body["id"].as_str().expect("id").to_owned());
    }
    exceeded(
        &api.post("/api/v1/tokens", token, json!({"name": "third"}))
            .await,
        403,
        "tokens_per_user",
    );
    // Revoking one makes room.
    let (status, _) = api
        .delete(&format!("/api/v1/tokens/{}", made[0]), token)
        .await;
    assert_eq!(status, 204);
    let (status, body) = api
        .post("/api/v1/tokens", token, json!({"name": "third"}))
        .await;
    assert_eq!(status, 201, "{body}");
}
