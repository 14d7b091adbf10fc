//! Mocks: create, read, edit, publish, history, delete, validate.

use moclojer_ports::{Outbox, Scope};
use serde_json::json;

use crate::support::{Api, HELLO, assert_error};

#[tokio::test]
async fn create_read_list_and_conflicts() {
    let api = Api::start().await;
    let alice = api.account("alice").await;
    let bob = api.account("bob").await;
    let token = Some(alice.token.as_str());

    let made = api.mock(&alice, "alice", "hello").await;
    assert_eq!(made["host"], "hello-alice.localhost");
    assert_eq!(made["url"], "http://hello-alice.localhost:8080");
    assert_eq!(made["workspace"], "alice");
    assert_eq!(made["revision"], 1);
    assert_eq!(made["enabled"], false);
    assert_eq!(made["content"], moclojer_api::STARTER_SPEC);
    assert_eq!(made["publication"]["server"]["status"], "offline");
    assert_eq!(made["publication"]["dns"]["status"], "offline");
    let id = made["id"].as_str().expect("id");

    let (status, got) = api.get(&format!("/api/v1/mocks/{id}"), token).await;
    assert_eq!(status, 200);
    assert_eq!(got["content"], made["content"]);

    assert_error(
        &api.post(
            "/api/v1/mocks",
            token,
            json!({"workspace": "alice", "name": "hello"}),
        )
        .await,
        409,
        "host_taken",
    );
    let bad_name = api
        .post(
            "/api/v1/mocks",
            token,
            json!({"workspace": "alice", "name": "-Hello"}),
        )
        .await;
    assert_error(&bad_name, 400, "bad_request");
    assert_eq!(bad_name.1["error"]["details"]["field"], "name");
    assert_error(
        &api.post(
            "/api/v1/mocks",
            token,
            json!({"workspace": "bob", "name": "mine"}),
        )
        .await,
        404,
        "not_found",
    );
    assert_error(
        &api.get(&format!("/api/v1/mocks/{id}"), Some(&bob.token))
            .await,
        404,
        "not_found",
    );
    assert_error(
        &api.get("/api/v1/mocks/not-a-uuid", token).await,
        404,
        "not_found",
    );

    let invalid = api
        .post(
            "/api/v1/mocks",
            token,
            json!({"workspace": "alice", "name": "broken", "content": "- endpoint:\n    path: hello\n"}),
        )
        .await;
    assert_error(&invalid, 422, "invalid_spec");
    let diagnostics = &invalid.1["error"]["details"]["diagnostics"];
    assert_eq!(diagnostics[0]["line"], 2, "{diagnostics}");
    assert!(diagnostics[0]["column"].as_u64().is_some_and(|c| c >= 1));
    assert!(diagnostics[0]["message"].is_string());

    let (status, list) = api.get("/api/v1/mocks", token).await;
    assert_eq!(status, 200);
    let groups = list["workspaces"].as_array().expect("groups");
    assert_eq!(groups.len(), 1, "{list}");
    assert_eq!(groups[0]["workspace"]["handle"], "alice");
    assert_eq!(groups[0]["workspace"]["kind"], "personal");
    assert_eq!(groups[0]["mocks"].as_array().map(Vec::len), Some(1));
    assert!(
        groups[0]["mocks"][0]["content"].is_null(),
        "lists carry no content"
    );
    assert_eq!(
        groups[0]["mocks"][0]["publication"]["server"]["status"],
        "offline"
    );
    let (_, bobs) = api.get("/api/v1/mocks", Some(&bob.token)).await;
    assert_eq!(bobs["workspaces"][0]["mocks"], json!([]));
}

#[tokio::test]
async fn edits_history_publish_and_delete() {
    let api = Api::start().await;
    let alice = api.account("alice").await;
    let token = Some(alice.token.as_str());
    let made = api.mock(&alice, "alice", "hello").await;
    let id = made["id"].as_str().expect("id").to_owned();
    let path = format!("/api/v1/mocks/{id}");

    let (status, edited) = api
        .put(&path, token, json!({"content": HELLO, "revision": 1}))
        .await;
    assert_eq!(status, 200, "{edited}");
    assert_eq!(edited["revision"], 2);
    assert_error(
        &api.put(&path, token, json!({"content": "# stale\n", "revision": 1}))
            .await,
        409,
        "stale_revision",
    );
    let invalid = api
        .put(
            &path,
            token,
            json!({"content": "- endpoint:\n    path: /x\n    response: [1\n"}),
        )
        .await;
    assert_error(&invalid, 422, "invalid_spec");
    let (_, unchanged) = api.get(&path, token).await;
    assert_eq!(unchanged["revision"], 2, "a refused edit changes nothing");
    assert_eq!(unchanged["content"], HELLO);

    let outbox_before = api.database.pending(100).await.expect("outbox").len();
    let (status, publication) = api
        .call(
            reqwest::Method::POST,
            &format!("{path}/publish"),
            token,
            None,
        )
        .await;
    assert_eq!(status, 200, "{publication}");
    assert_eq!(publication["server"]["status"], "publishing");
    assert_eq!(publication["requested_revision"], 2);
    let events: Vec<String> = api.database.pending(100).await.expect("outbox")[outbox_before..]
        .iter()
        .map(|e| e.event.kind.name().to_owned())
        .collect();
    assert_eq!(
        events,
        ["mock.changed", "publication.changed", "domain.requested"],
        "publish records its events"
    );
    let (_, got) = api.get(&path, token).await;
    assert_eq!(got["enabled"], true);
    let (status, status_view) = api.get(&format!("{path}/publication"), token).await;
    assert_eq!(status, 200);
    assert_eq!(status_view["server"]["status"], "publishing");

    // An edit of a published mock republishes it.
    let v3 = HELLO.replace("world", "again");
    let (status, edited) = api.put(&path, token, json!({"content": v3})).await;
    assert_eq!(status, 200);
    assert_eq!(edited["publication"]["requested_revision"], 3, "{edited}");

    let (status, revisions) = api.get(&format!("{path}/revisions"), token).await;
    assert_eq!(status, 200);
    let numbers: Vec<u64> = revisions
        .as_array()
        .expect("list")
        .iter()
        .map(|r| r["revision"].as_u64().expect("n"))
        .collect();
    assert_eq!(numbers, [3, 2, 1], "newest first");
    let (status, second) = api.get(&format!("{path}/revisions/2"), token).await;
    assert_eq!((status, &second["content"]), (200, &json!(HELLO)));
    assert_error(
        &api.get(&format!("{path}/revisions/9"), token).await,
        404,
        "not_found",
    );

    let (status, unpublished) = api
        .call(
            reqwest::Method::POST,
            &format!("{path}/unpublish"),
            token,
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(unpublished["server"]["status"], "offline");
    let (_, got) = api.get(&path, token).await;
    assert_eq!(got["enabled"], false);

    assert_eq!(api.delete(&path, token).await.0, 204);
    assert_error(&api.get(&path, token).await, 404, "not_found");
    assert_error(&api.delete(&path, token).await, 404, "not_found");
    let mocks = moclojer_ports::MockRepository::list(&api.database, &Scope::System)
        .await
        .expect("list");
    assert!(mocks.is_empty());
}

#[tokio::test]
async fn validate_reports_positions_without_storing() {
    let api = Api::start().await;
    let alice = api.account("alice").await;
    let token = Some(alice.token.as_str());
    let (status, ok) = api
        .post("/api/v1/validate", token, json!({"content": HELLO}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(ok["valid"], true, "{ok}");
    let (status, bad) = api
        .post(
            "/api/v1/validate",
            token,
            json!({"content": "- endpoint:\n    method: FETCH\n    path: /x\n"}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(bad["valid"], false);
    assert_eq!(bad["diagnostics"][0]["line"], 2, "{bad}");
    assert_eq!(bad["diagnostics"][0]["severity"], "error");
    assert_error(
        &api.post("/api/v1/validate", None, json!({"content": HELLO}))
            .await,
        401,
        "unauthenticated",
    );
}

#[tokio::test]
async fn specs_aiming_at_private_destinations_are_refused_when_saved() {
    let api = Api::start().await;
    let alice = api.account("alice").await;
    let token = Some(alice.token.as_str());
    let webhook = |url: &str| {
        format!(
            "- endpoint:\n    method: POST\n    path: /hook\n    response:\n      status: 200\n      body: ok\n    webhook:\n      url: '{url}'\n      body: '{{}}'\n"
        )
    };
    for url in [
        "http://169.254.169.254/latest/meta-data/",
        "http://2852039166/",
        "http://127.1:6379/",
        "http://[::ffff:169.254.169.254]/",
        "http://localhost:8080/",
        "http://app.localhost/",
        "http://10.0.0.1/",
        "http://user:pass@example.com/",
    ] {
        let refused = api
            .post(
                "/api/v1/mocks",
                token,
                json!({"workspace": "alice", "name": "hook", "content": webhook(url)}),
            )
            .await;
        assert_error(&refused, 422, "invalid_spec");
        let diagnostic = &refused.1["error"]["details"]["diagnostics"][0];
        assert!(
            diagnostic["message"]
                .as_str()
                .is_some_and(|m| m.contains("destination not allowed")),
            "{url}: {diagnostic}"
        );
        assert_eq!(diagnostic["key"], "endpoint.webhook.url", "{url}");
    }
    let external = "- endpoint:\n    path: /x\n    response:\n      external-body:\n        provider: json\n        path: http://169.254.169.254/data.json\n";
    assert_error(
        &api.post(
            "/api/v1/mocks",
            token,
            json!({"workspace": "alice", "name": "ext", "content": external}),
        )
        .await,
        422,
        "invalid_spec",
    );
    // Public destinations, and templated ones (checked when they fire), are accepted.
    for url in ["https://example.com/hook", "{{json-params.callback}}"] {
        let (status, body) = api
            .post("/api/v1/validate", token, json!({"content": webhook(url)}))
            .await;
        assert_eq!(
            (status, &body["valid"]),
            (200, &json!(true)),
            "{url}: {body}"
        );
    }
    let (_, list) = api.get("/api/v1/mocks", token).await;
    assert_eq!(list["workspaces"][0]["mocks"], json!([]), "nothing stored");
}

#[tokio::test]
async fn host_availability_names_the_host_and_says_why_not() {
    let api = Api::start().await;
    let alice = api.account("alice").await;
    let bob = api.account("bob").await;
    let token = Some(alice.token.as_str());
    api.mock(&alice, "alice", "taken").await;
    let (status, free) = api.get("/api/v1/hosts/alice/fresh", token).await;
    assert_eq!(status, 200);
    assert_eq!(
        free,
        json!({"host": "fresh-alice.localhost", "available": true, "reason": null, "message": null})
    );
    let (_, taken) = api.get("/api/v1/hosts/alice/taken", token).await;
    assert_eq!(
        (&taken["available"], &taken["reason"]),
        (&json!(false), &json!("taken"))
    );
    let (_, invalid) = api.get("/api/v1/hosts/alice/-Bad", token).await;
    assert_eq!(invalid["reason"], "invalid");
    assert!(invalid["message"].is_string() && invalid["host"].is_null());
    assert_error(
        &api.get("/api/v1/hosts/alice/fresh", Some(&bob.token)).await,
        404,
        "not_found",
    );
    assert_error(
        &api.get("/api/v1/hosts/alice/fresh", None).await,
        401,
        "unauthenticated",
    );
}
