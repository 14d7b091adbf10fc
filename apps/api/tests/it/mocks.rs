//! Mocks: create, read, edit, publish, history, delete, validate.

use moclojer_domain::{MockId, Revision};
use moclojer_ports::{KeepRevisions, MockRepository, Outbox, PublicationRepository, Scope};
use moclojer_sqlite::SqliteDatabase;
use serde_json::{Value, json};

use crate::support::{Account, Api, HELLO, assert_error};

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

    let (status, history) = api.get(&format!("{path}/revisions"), token).await;
    assert_eq!(status, 200);
    assert_eq!(numbers(&history), [3, 2, 1], "newest first");
    assert_eq!(history["next"], json!(null), "{history}");
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

/// The revision numbers of a history page, checking that no entry carries content.
fn numbers(page: &Value) -> Vec<u64> {
    page["revisions"]
        .as_array()
        .unwrap_or_else(|| panic!("a page: {page}"))
        .iter()
        .map(|r| {
            assert!(r.get("content").is_none(), "a page carries no content: {r}");
            assert!(r["created_at"].is_string(), "{r}");
            r["revision"].as_u64().expect("a number")
        })
        .collect()
}

/// A mock of `owner` edited `edits` times (one revision each); returns its path.
async fn edited_mock(api: &Api, owner: &Account, name: &str, edits: usize) -> String {
    let made = api.mock(owner, "alice", name).await;
    let path = format!("/api/v1/mocks/{}", made["id"].as_str().expect("id"));
    for n in 0..edits {
        let content = HELLO.replace("world", &format!("edit {n}"));
        let (status, body) = api
            .put(&path, Some(&owner.token), json!({"content": content}))
            .await;
        assert_eq!(status, 200, "edit: {body}");
    }
    path
}

#[tokio::test]
async fn history_pages_walk_every_revision_once() {
    let api = Api::start().await;
    let alice = api.account("alice").await;
    let token = Some(alice.token.as_str());
    let path = edited_mock(&api, &alice, "paged", 6).await;

    let mut seen = Vec::new();
    let mut sizes = Vec::new();
    let mut cursor: Option<u64> = None;
    loop {
        let url = match cursor {
            Some(before) => format!("{path}/revisions?limit=3&before={before}"),
            None => format!("{path}/revisions?limit=3"),
        };
        let (status, page) = api.get(&url, token).await;
        assert_eq!(status, 200, "{page}");
        let got = numbers(&page);
        sizes.push(got.len());
        seen.extend(got);
        match page["next"].as_u64() {
            Some(next) => cursor = Some(next),
            None => {
                assert_eq!(page["next"], json!(null), "{page}");
                break;
            }
        }
        assert!(sizes.len() < 10, "the cursor never ends");
    }
    assert_eq!(
        seen,
        [7, 6, 5, 4, 3, 2, 1],
        "each revision once, newest first"
    );
    assert_eq!(sizes, [3, 3, 1]);

    let (status, whole) = api
        .get(&format!("{path}/revisions?limit=&before="), token)
        .await;
    assert_eq!(status, 200, "an empty value is no value");
    assert_eq!(numbers(&whole), [7, 6, 5, 4, 3, 2, 1], "20 by default");
    let (_, none) = api.get(&format!("{path}/revisions?before=1"), token).await;
    assert_eq!(none, json!({"revisions": [], "next": null}));
}

#[tokio::test]
async fn history_parameters_are_checked_and_scoped() {
    let api = Api::start().await;
    let alice = api.account("alice").await;
    let bob = api.account("bob").await;
    let token = Some(alice.token.as_str());
    let path = edited_mock(&api, &alice, "checked", 1).await;

    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=ten", "limit"),
        ("limit=-1", "limit"),
        ("before=0", "before"),
        ("before=two", "before"),
        ("before=-3", "before"),
        ("limit=5&before=1.5", "before"),
    ] {
        let got = api.get(&format!("{path}/revisions?{query}"), token).await;
        assert_error(&got, 400, "bad_request");
        assert_eq!(
            got.1["error"]["details"]["field"], field,
            "{query}: {}",
            got.1
        );
        let message = got.1["error"]["message"].as_str().unwrap_or_default();
        assert!(message.starts_with(field), "{query}: {message}");
    }
    let (status, page) = api.get(&format!("{path}/revisions?limit=100"), token).await;
    assert_eq!((status, numbers(&page)), (200, vec![2, 1]));

    assert_error(
        &api.get(&format!("{path}/revisions"), Some(&bob.token))
            .await,
        404,
        "not_found",
    );
    assert_error(
        &api.get(&format!("{path}/revisions?limit=1"), Some(&bob.token))
            .await,
        404,
        "not_found",
    );
    let unknown = "/api/v1/mocks/00000000-0000-7000-8000-000000000000/revisions";
    assert_error(&api.get(unknown, token).await, 404, "not_found");
    assert_error(
        &api.get(&format!("{path}/revisions"), None).await,
        401,
        "unauthenticated",
    );
}

/// Marks revision 1 of the mock at `path` live, behind the api's back.
async fn first_revision_live(database: &SqliteDatabase, path: &str) {
    let id = MockId::parse(path.rsplit('/').next().expect("an id")).expect("a mock id");
    let mock = MockRepository::get(database, &Scope::System, id)
        .await
        .expect("the mock");
    let mut publication = PublicationRepository::get(database, &Scope::System, mock.id)
        .await
        .expect("publication");
    publication
        .request_publish(Revision::FIRST, mock.updated_at)
        .expect("domain allows");
    publication
        .mark_published(Revision::FIRST, mock.updated_at)
        .expect("domain allows");
    database
        .save(&Scope::System, &publication, &[])
        .await
        .expect("save");
}

#[tokio::test]
async fn edits_keep_the_configured_number_of_revisions_and_the_live_one() {
    let api = Api::start_full(moclojer_api::AuthMode::Local, |state| {
        state.keep_revisions = KeepRevisions::new(3).expect("3");
    })
    .await;
    let alice = api.account("alice").await;
    let token = Some(alice.token.as_str());
    let path = edited_mock(&api, &alice, "short", 0).await;
    first_revision_live(&api.database, &path).await;
    let other = edited_mock(&api, &alice, "other", 2).await;
    for n in 0..5 {
        let content = HELLO.replace("world", &format!("again {n}"));
        let (status, body) = api.put(&path, token, json!({"content": content})).await;
        assert_eq!(status, 200, "edit: {body}");
    }
    let (_, page) = api.get(&format!("{path}/revisions"), token).await;
    assert_eq!(
        numbers(&page),
        [6, 5, 4, 1],
        "the newest 3 and the live one"
    );
    assert_error(
        &api.get(&format!("{path}/revisions/2"), token).await,
        404,
        "not_found",
    );
    let (status, live) = api.get(&format!("{path}/revisions/1"), token).await;
    assert_eq!(status, 200);
    assert!(live["content"].is_string(), "{live}");
    let (_, others) = api.get(&format!("{other}/revisions"), token).await;
    assert_eq!(numbers(&others), [3, 2, 1], "another mock keeps its own");
}
