//! Orgs: owners manage, members work on mocks, outsiders see nothing.

use moclojer_domain::{Email, Event, Handle, MockId, Role, User, UserId, Workspace, WorkspaceId};
use moclojer_ports::{AccountRepository, MockRepository, PortResult, Scope, UserRecord};
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

/// Accounts whose next org save first lets another request land: `interleave` runs on
/// the inner repository between this request's read and its write.
#[derive(Debug)]
struct Interleaved {
    inner: std::sync::Arc<dyn AccountRepository>,
    pending: std::sync::Mutex<Option<Workspace>>,
}

#[async_trait::async_trait]
impl AccountRepository for Interleaved {
    async fn create_user(&self, user: &User, hash: Option<&str>) -> PortResult<()> {
        self.inner.create_user(user, hash).await
    }
    async fn get_user(&self, id: UserId) -> PortResult<User> {
        self.inner.get_user(id).await
    }
    async fn find_user_by_email(&self, email: &Email) -> PortResult<UserRecord> {
        self.inner.find_user_by_email(email).await
    }
    async fn find_user_by_handle(&self, handle: &Handle) -> PortResult<User> {
        self.inner.find_user_by_handle(handle).await
    }
    async fn handle_available(&self, handle: &Handle) -> PortResult<bool> {
        self.inner.handle_available(handle).await
    }
    async fn create_personal_workspace(&self, user: &User, ws: &Workspace) -> PortResult<()> {
        self.inner.create_personal_workspace(user, ws).await
    }
    async fn create_org(&self, ws: &Workspace, events: &[Event]) -> PortResult<()> {
        self.inner.create_org(ws, events).await
    }
    async fn get_workspace(&self, scope: &Scope, id: WorkspaceId) -> PortResult<Workspace> {
        self.inner.get_workspace(scope, id).await
    }
    async fn find_workspace(&self, scope: &Scope, handle: &Handle) -> PortResult<Workspace> {
        self.inner.find_workspace(scope, handle).await
    }
    async fn list_workspaces(&self, scope: &Scope) -> PortResult<Vec<Workspace>> {
        self.inner.list_workspaces(scope).await
    }
    async fn save_workspace(
        &self,
        scope: &Scope,
        ws: &Workspace,
        read: &Workspace,
    ) -> PortResult<()> {
        let landed = self.pending.lock().expect("lock").take();
        if let Some(other) = landed {
            let current = self.inner.get_workspace(&Scope::System, other.id).await?;
            self.inner
                .save_workspace(&Scope::System, &other, &current)
                .await?;
        }
        self.inner.save_workspace(scope, ws, read).await
    }
    async fn delete_org(
        &self,
        scope: &Scope,
        id: WorkspaceId,
        mocks: &[MockId],
        events: &[Event],
    ) -> PortResult<()> {
        self.inner.delete_org(scope, id, mocks, events).await
    }
}

#[tokio::test]
async fn an_owner_demoted_while_their_request_runs_cannot_write_their_role_back() {
    let interleaved =
        std::sync::Arc::new(std::sync::OnceLock::<std::sync::Arc<Interleaved>>::new());
    let hook = std::sync::Arc::clone(&interleaved);
    let api = Api::start_full(moclojer_api::AuthMode::Local, move |state| {
        let wrapper = std::sync::Arc::new(Interleaved {
            inner: std::sync::Arc::clone(&state.accounts),
            pending: std::sync::Mutex::new(None),
        });
        hook.set(std::sync::Arc::clone(&wrapper)).expect("once");
        state.accounts = wrapper;
    })
    .await;
    let alice = api.account("alice").await;
    let bob = api.account("bob").await;
    api.account("carol").await;
    let (alices, bobs) = (Some(alice.token.as_str()), Some(bob.token.as_str()));
    assert_eq!(
        api.post("/api/v1/orgs", alices, json!({"handle": "acme"}))
            .await
            .0,
        201
    );
    let added = api
        .post(
            "/api/v1/orgs/acme/members",
            alices,
            json!({"handle": "bob", "role": "owner"}),
        )
        .await;
    assert_eq!(added.0, 201, "{}", added.1);

    // While bob's request to add carol as an owner runs, alice demotes bob.
    let wrapper = interleaved.get().expect("the wrapper");
    let mut demoted = wrapper
        .inner
        .find_workspace(&Scope::System, &Handle::parse("acme").expect("handle"))
        .await
        .expect("acme");
    let alice_id = UserId::parse(&alice.id).expect("id");
    let bob_id = UserId::parse(&bob.id).expect("id");
    demoted
        .set_role(alice_id, bob_id, Role::Member)
        .expect("domain allows");
    *wrapper.pending.lock().expect("lock") = Some(demoted);
    let stale = api
        .post(
            "/api/v1/orgs/acme/members",
            bobs,
            json!({"handle": "carol", "role": "owner"}),
        )
        .await;
    assert_error(&stale, 409, "org_changed");

    let (_, org) = api.get("/api/v1/orgs/acme", alices).await;
    let role_of = |handle: &str| {
        org["members"]
            .as_array()
            .and_then(|m| m.iter().find(|m| m["handle"] == handle))
            .map(|m| m["role"].clone())
    };
    assert_eq!(
        role_of("bob"),
        Some(json!("member")),
        "bob stays demoted: {org}"
    );
    assert_eq!(role_of("carol"), None, "carol was not added: {org}");
    // Retried on a fresh read, bob is no owner any more.
    let retried = api
        .post(
            "/api/v1/orgs/acme/members",
            bobs,
            json!({"handle": "carol"}),
        )
        .await;
    assert_error(&retried, 403, "forbidden");
}
