//! Orgs: owners manage, members work on mocks, outsiders see nothing.

use moclojer_ports::{MockRepository, Scope};
use serde_json::json;

use crate::support::{Api, assert_error};

#[tokio::test]
async fn an_org_from_creation_to_deletion() {
    let api = Api::start().await;
    let alice = api.account("alice").await;
    let bob = api.account("bob").await;
    let carol = api.account("carol").await;
    let owner = Some(alice.token.as_str());

    let (status, org) = api
        .post(
            "/api/v1/orgs",
            owner,
            json!({"handle": "acme", "name": "Acme Inc."}),
        )
        .await;
    assert_eq!(status, 201, "{org}");
    assert_eq!(org["name"], "Acme Inc.");
    assert_eq!(org["role"], "owner");
    assert_eq!(org["members"][0]["handle"], "alice");

    let (status, added) = api
        .post("/api/v1/orgs/acme/members", owner, json!({"handle": "bob"}))
        .await;
    assert_eq!((status, &added["role"]), (201, &json!("member")), "{added}");
    assert_error(
        &api.post(
            "/api/v1/orgs/acme/members",
            owner,
            json!({"email": "bob@example.com"}),
        )
        .await,
        409,
        "already_member",
    );
    assert_error(
        &api.post(
            "/api/v1/orgs/acme/members",
            owner,
            json!({"handle": "nobody"}),
        )
        .await,
        404,
        "not_found",
    );
    assert_error(
        &api.post(
            "/api/v1/orgs/acme/members",
            owner,
            json!({"handle": "carol", "email": "carol@example.com"}),
        )
        .await,
        400,
        "bad_request",
    );

    // bob, a member, works on the org's mocks but does not manage the org.
    let mock = api.mock(&bob, "acme", "shop").await;
    assert_eq!(mock["host"], "shop-acme.localhost");
    let (_, bobs) = api.get("/api/v1/mocks", Some(&bob.token)).await;
    let handles: Vec<&str> = bobs["workspaces"]
        .as_array()
        .expect("groups")
        .iter()
        .map(|g| g["workspace"]["handle"].as_str().expect("handle"))
        .collect();
    assert_eq!(handles, ["bob", "acme"], "personal first, then orgs");
    assert_error(
        &api.put(
            "/api/v1/orgs/acme",
            Some(&bob.token),
            json!({"name": "Mine"}),
        )
        .await,
        403,
        "forbidden",
    );
    assert_error(
        &api.post(
            "/api/v1/orgs/acme/members",
            Some(&bob.token),
            json!({"handle": "carol"}),
        )
        .await,
        403,
        "forbidden",
    );

    // carol, an outsider, sees nothing.
    assert_error(
        &api.get("/api/v1/orgs/acme", Some(&carol.token)).await,
        404,
        "not_found",
    );
    assert_error(
        &api.get(
            &format!("/api/v1/mocks/{}", mock["id"].as_str().expect("id")),
            Some(&carol.token),
        )
        .await,
        404,
        "not_found",
    );
    let (_, carols) = api.get("/api/v1/orgs", Some(&carol.token)).await;
    assert_eq!(carols, json!([]));

    let (status, renamed) = api
        .put("/api/v1/orgs/acme", owner, json!({"name": "Acme Corp"}))
        .await;
    assert_eq!((status, &renamed["name"]), (200, &json!("Acme Corp")));
    assert_error(
        &api.delete("/api/v1/orgs/acme/members/alice", owner).await,
        409,
        "last_owner",
    );
    // The personal workspace is not an org.
    assert_error(
        &api.get("/api/v1/orgs/alice", owner).await,
        404,
        "not_found",
    );

    // A member may leave.
    assert_eq!(
        api.delete("/api/v1/orgs/acme/members/bob", Some(&bob.token))
            .await
            .0,
        204
    );
    assert_error(
        &api.get("/api/v1/orgs/acme", Some(&bob.token)).await,
        404,
        "not_found",
    );

    assert_eq!(api.delete("/api/v1/orgs/acme", owner).await.0, 204);
    assert_error(&api.get("/api/v1/orgs/acme", owner).await, 404, "not_found");
    let left = api.database.list(&Scope::System).await.expect("mocks");
    assert!(left.is_empty(), "the org's mocks went with it: {left:?}");
    let (_, available) = api.get("/api/v1/handles/acme", None).await;
    assert_eq!(available["available"], true, "the handle is free again");
}

#[tokio::test]
async fn owners_change_roles_and_an_org_keeps_an_owner() {
    let api = Api::start().await;
    let alice = api.account("alice").await;
    let bob = api.account("bob").await;
    let carol = api.account("carol").await;
    let owner = Some(alice.token.as_str());
    assert_eq!(
        api.post("/api/v1/orgs", owner, json!({"handle": "acme"}))
            .await
            .0,
        201
    );
    let (status, added) = api
        .post("/api/v1/orgs/acme/members", owner, json!({"handle": "bob"}))
        .await;
    assert_eq!(status, 201, "{added}");

    // Only owners change roles, and only to a role that exists, of a member.
    assert_error(
        &api.put(
            "/api/v1/orgs/acme/members/bob",
            Some(&bob.token),
            json!({"role": "owner"}),
        )
        .await,
        403,
        "forbidden",
    );
    assert_error(
        &api.put(
            "/api/v1/orgs/acme/members/bob",
            owner,
            json!({"role": "admin"}),
        )
        .await,
        400,
        "bad_request",
    );
    assert_error(
        &api.put(
            "/api/v1/orgs/acme/members/carol",
            owner,
            json!({"role": "owner"}),
        )
        .await,
        404,
        "not_found",
    );
    assert_error(
        &api.put(
            "/api/v1/orgs/acme/members/alice",
            owner,
            json!({"role": "member"}),
        )
        .await,
        409,
        "last_owner",
    );
    // carol, an outsider, cannot even see the org.
    assert_error(
        &api.put(
            "/api/v1/orgs/acme/members/bob",
            Some(&carol.token),
            json!({"role": "owner"}),
        )
        .await,
        404,
        "not_found",
    );

    // By user id too: members without a handle have only that.
    let bob_id = added["id"].as_str().expect("id");
    let (status, promoted) = api
        .put(
            &format!("/api/v1/orgs/acme/members/{bob_id}"),
            owner,
            json!({"role": "owner"}),
        )
        .await;
    assert_eq!(
        (status, &promoted["role"]),
        (200, &json!("owner")),
        "{promoted}"
    );
    // bob, now an owner, may hand alice's ownership back to membership.
    let (status, demoted) = api
        .put(
            "/api/v1/orgs/acme/members/alice",
            Some(&bob.token),
            json!({"role": "member"}),
        )
        .await;
    assert_eq!(
        (status, &demoted["role"]),
        (200, &json!("member")),
        "{demoted}"
    );
    let (_, members) = api.get("/api/v1/orgs/acme/members", owner).await;
    let roles: Vec<(&str, &str)> = members
        .as_array()
        .expect("members")
        .iter()
        .map(|m| {
            (
                m["handle"].as_str().expect("handle"),
                m["role"].as_str().expect("role"),
            )
        })
        .collect();
    assert_eq!(roles, [("alice", "member"), ("bob", "owner")]);
    // alice is a member now: she may no longer manage the org.
    assert_error(
        &api.put("/api/v1/orgs/acme", owner, json!({"name": "Mine"}))
            .await,
        403,
        "forbidden",
    );
}
