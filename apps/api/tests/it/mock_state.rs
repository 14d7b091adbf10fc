//! A mock's state through the api: the snapshot of what its sequences, scenarios and
//! resources remember, the reset, scoping, and the reset when a mock is deleted or made.
//! The state is driven through the port, as a mock server would.

use std::sync::Arc;

use moclojer_api::AuthMode;
use moclojer_memory::InMemoryMockState;
use moclojer_ports::{MockState, ResourceRef, StateLimits, StateOutcome, StateScope, record_bytes};
use reqwest::Method;
use serde_json::{Map, Value, json};

use crate::support::{Account, Api, assert_error};

/// The name a mock server keeps `GET /seq`'s sequence under when it is the first item.
const SEQUENCE: &str = "GET /seq (item 0)";

async fn api_with_state() -> (Api, Arc<InMemoryMockState>) {
    let state = Arc::new(InMemoryMockState::new(StateLimits::default()));
    let shared: Arc<dyn MockState> = Arc::clone(&state) as Arc<dyn MockState>;
    let api = Api::start_full(AuthMode::Local, |s| s.mock_state = Some(shared)).await;
    (api, state)
}

/// `owner`'s mock `name` in `workspace`: its id, host and revision.
async fn mock_of(api: &Api, owner: &Account, workspace: &str, name: &str) -> (String, String, u64) {
    let mock = api.mock(owner, workspace, name).await;
    (
        mock["id"].as_str().unwrap().to_owned(),
        mock["host"].as_str().unwrap().to_owned(),
        mock["revision"].as_u64().unwrap(),
    )
}

fn users() -> ResourceRef<'static> {
    ResourceRef {
        name: "/users",
        id_field: "id",
        seed: &[],
    }
}

fn record(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

/// What a mock server would leave after two calls of a sequence, a scenario moved and a
/// record created; returns the stored record.
async fn drive(state: &InMemoryMockState, host: &str, revision: u64) -> Map<String, Value> {
    let scope = StateScope { host, revision };
    assert_eq!(state.next_position(scope, SEQUENCE).await.unwrap(), 0);
    assert_eq!(state.next_position(scope, SEQUENCE).await.unwrap(), 1);
    assert!(
        state
            .transition(scope, "cart", "started", "has-items")
            .await
            .unwrap()
    );
    let created = state
        .create(scope, users(), record(json!({"name": "Ada"})))
        .await
        .unwrap();
    let StateOutcome::Done(stored) = created else {
        panic!("not created: {created:?}");
    };
    stored
}

fn empty() -> Value {
    json!({"revision": null, "scenarios": {}, "sequences": {}, "resources": {}, "bytes": 0})
}

async fn reset(api: &Api, id: &str, token: Option<&str>) -> (u16, Value) {
    api.call(
        Method::POST,
        &format!("/api/v1/mocks/{id}/state/reset"),
        token,
        None,
    )
    .await
}

#[tokio::test]
async fn the_state_shows_sequences_scenarios_and_resources_and_a_reset_empties_it() {
    let (api, state) = api_with_state().await;
    let alice = api.account("alice").await;
    let (id, host, revision) = mock_of(&api, &alice, "alice", "shop").await;
    let (_, other_host, _) = mock_of(&api, &alice, "alice", "other").await;
    let token = Some(alice.token.as_str());
    let url = format!("/api/v1/mocks/{id}/state");

    assert_eq!(api.get(&url, token).await, (200, empty()));

    let stored = drive(&state, &host, revision).await;
    drive(&state, &other_host, revision).await;
    let (status, shown) = api.get(&url, token).await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(
        shown,
        json!({
            "revision": revision,
            "scenarios": {"cart": "has-items"},
            "sequences": {SEQUENCE: 2},
            "resources": {"/users": 1},
            "bytes": record_bytes(&stored),
        })
    );

    assert_eq!(reset(&api, &id, token).await, (204, Value::Null));
    assert_eq!(api.get(&url, token).await, (200, empty()));
    let scope = StateScope {
        host: &host,
        revision,
    };
    assert_eq!(
        state.next_position(scope, SEQUENCE).await.unwrap(),
        0,
        "the sequence starts again"
    );
    let untouched = state.snapshot(&other_host).await.unwrap();
    assert_eq!(
        untouched.sequences.get(SEQUENCE),
        Some(&2),
        "another mock's state stays"
    );
}

#[tokio::test]
async fn another_users_mock_is_not_found_and_a_token_is_needed() {
    let (api, state) = api_with_state().await;
    let alice = api.account("alice").await;
    let bob = api.account("bob").await;
    let (id, host, revision) = mock_of(&api, &alice, "alice", "shop").await;
    drive(&state, &host, revision).await;
    let url = format!("/api/v1/mocks/{id}/state");

    assert_error(&api.get(&url, Some(&bob.token)).await, 404, "not_found");
    assert_error(&reset(&api, &id, Some(&bob.token)).await, 404, "not_found");
    assert_error(&api.get(&url, None).await, 401, "unauthenticated");
    assert_error(&reset(&api, &id, None).await, 401, "unauthenticated");
    assert_error(
        &api.get("/api/v1/mocks/not-an-id/state", Some(&alice.token))
            .await,
        404,
        "not_found",
    );
    let kept = state.snapshot(&host).await.unwrap();
    assert_eq!(
        kept.sequences.get(SEQUENCE),
        Some(&2),
        "bob's attempts changed nothing"
    );

    let (status, created) = api
        .post("/api/v1/tokens", Some(&alice.token), json!({"name": "ci"}))
        .await;
    assert_eq!(status, 201, "{created}");
    let personal = created["token"].as_str().unwrap();
    let (status, shown) = api.get(&url, Some(personal)).await;
    assert_eq!((status, &shown["sequences"][SEQUENCE]), (200, &json!(2)));
    assert_eq!(reset(&api, &id, Some(personal)).await.0, 204);
}

#[tokio::test]
async fn an_org_member_resets_the_orgs_mock() {
    let (api, state) = api_with_state().await;
    let alice = api.account("alice").await;
    let bob = api.account("bob").await;
    let owner = Some(alice.token.as_str());
    assert_eq!(
        api.post("/api/v1/orgs", owner, json!({"handle": "acme"}))
            .await
            .0,
        201
    );
    let added = api
        .post("/api/v1/orgs/acme/members", owner, json!({"handle": "bob"}))
        .await;
    assert_eq!(added.0, 201, "{}", added.1);
    let (id, host, revision) = mock_of(&api, &alice, "acme", "shop").await;
    drive(&state, &host, revision).await;
    let (status, shown) = api
        .get(&format!("/api/v1/mocks/{id}/state"), Some(&bob.token))
        .await;
    assert_eq!(
        (status, &shown["scenarios"]["cart"]),
        (200, &json!("has-items"))
    );
    assert_eq!(reset(&api, &id, Some(&bob.token)).await.0, 204);
    assert_eq!(state.snapshot(&host).await.unwrap().revision, None);
}

#[tokio::test]
async fn deleting_or_making_a_mock_forgets_its_hosts_state() {
    let (api, state) = api_with_state().await;
    let alice = api.account("alice").await;
    let token = Some(alice.token.as_str());
    let (id, host, revision) = mock_of(&api, &alice, "alice", "shop").await;
    drive(&state, &host, revision + 5).await;
    assert_eq!(
        api.delete(&format!("/api/v1/mocks/{id}"), token).await.0,
        204
    );
    assert_eq!(
        state.snapshot(&host).await.unwrap().revision,
        None,
        "gone with the mock"
    );

    // State left for the host by an older mock of that name (its revision past the new
    // mock's first) is not the new mock's.
    drive(&state, &host, revision + 5).await;
    let (id, again, _) = mock_of(&api, &alice, "alice", "shop").await;
    assert_eq!(again, host);
    assert_eq!(
        api.get(&format!("/api/v1/mocks/{id}/state"), token).await,
        (200, empty())
    );
}

#[tokio::test]
async fn without_a_state_the_routes_say_so() {
    let api = Api::start().await;
    let alice = api.account("alice").await;
    let (id, _, _) = mock_of(&api, &alice, "alice", "shop").await;
    let got = api
        .get(&format!("/api/v1/mocks/{id}/state"), Some(&alice.token))
        .await;
    assert_error(&got, 503, "unavailable");
    assert!(
        got.1["error"]["message"]
            .as_str()
            .unwrap()
            .contains("state"),
        "{}",
        got.1
    );
    assert_error(
        &reset(&api, &id, Some(&alice.token)).await,
        503,
        "unavailable",
    );
}

#[tokio::test]
async fn the_openapi_document_lists_the_state_routes() {
    let api = Api::start().await;
    let (status, spec) = api.get("/api/v1/openapi.json", None).await;
    assert_eq!(status, 200);
    let paths = &spec["paths"];
    assert!(
        paths["/api/v1/mocks/{id}/state"]["get"].is_object(),
        "{paths}"
    );
    assert!(
        paths["/api/v1/mocks/{id}/state/reset"]["post"].is_object(),
        "{paths}"
    );
    let view = &spec["components"]["schemas"]["StateView"]["properties"];
    for field in ["revision", "scenarios", "sequences", "resources", "bytes"] {
        assert!(view[field].is_object(), "{field} in {view}");
    }
}
