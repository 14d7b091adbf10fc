//! The scope rule and the orderings, as PostgreSQL sees them: a user sees only the workspaces
//! they are a member of, and those workspaces' mocks and publications.

use moclojer_domain::{Handle, Role, Workspace};
use moclojer_ports::{
    AccountRepository, MockRepository, PortErrorKind, PublicationRepository, Scope,
};

use crate::helpers::{TestDb, World, kind, mock, t, user, user_id, workspace_id};

#[tokio::test]
async fn users_see_only_their_workspaces_and_what_is_in_them() {
    let Some(pg) = TestDb::create().await else {
        return;
    };
    let db = pg.connect().await;
    let world = World::create(&db).await;
    let (alice, bob) = (world.alice_scope(), world.bob_scope());
    let private = mock(1, &world.alice_ws, "private");
    let shared = mock(2, &world.acme, "shared");
    world.create_mock(&db, &private, 1).await;
    world.create_mock(&db, &shared, 2).await;
    let stranger = Scope::User(user_id(99));

    // Bob sees acme and its mock, not Alice's personal workspace or its mock
    assert_eq!(
        db.list_workspaces(&bob).await.unwrap(),
        [world.bob_ws.clone(), world.acme.clone()]
    );
    assert_eq!(
        kind(db.get_workspace(&bob, world.alice_ws.id).await),
        PortErrorKind::NotFound
    );
    assert_eq!(
        kind(db.find_workspace(&bob, &world.alice_ws.handle).await),
        PortErrorKind::NotFound
    );
    assert_eq!(
        MockRepository::list(&db, &bob).await.unwrap(),
        std::slice::from_ref(&shared)
    );
    assert_eq!(
        kind(MockRepository::get(&db, &bob, private.id).await),
        PortErrorKind::NotFound
    );
    assert_eq!(
        kind(db.find_by_host(&bob, &private.host).await),
        PortErrorKind::NotFound
    );
    assert_eq!(
        kind(db.list_in_workspace(&bob, world.alice_ws.id).await),
        PortErrorKind::NotFound
    );
    assert_eq!(
        kind(db.revisions(&bob, private.id).await),
        PortErrorKind::NotFound
    );
    assert_eq!(
        kind(PublicationRepository::get(&db, &bob, private.id).await),
        PortErrorKind::NotFound
    );
    let bobs_publications = PublicationRepository::list(&db, &bob).await.unwrap();
    assert_eq!(
        bobs_publications
            .iter()
            .map(|p| p.mock_id)
            .collect::<Vec<_>>(),
        [shared.id]
    );
    assert_eq!(
        kind(
            db.create(&bob, &mock(3, &world.alice_ws, "sneaky"), &[])
                .await
        ),
        PortErrorKind::NotFound
    );

    // a stranger sees nothing; the system sees everything, mocks by host
    assert!(db.list_workspaces(&stranger).await.unwrap().is_empty());
    assert!(
        MockRepository::list(&db, &stranger)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        MockRepository::list(&db, &Scope::System).await.unwrap(),
        [private.clone(), shared.clone()]
    );
    assert_eq!(
        db.list_workspaces(&Scope::System)
            .await
            .unwrap()
            .iter()
            .map(|w| w.handle.as_str())
            .collect::<Vec<_>>(),
        ["alice", "bob", "acme"]
    );
    assert_eq!(
        db.find_by_host(&alice, &private.host).await.unwrap(),
        private
    );
}

#[tokio::test]
async fn handles_are_one_namespace_for_users_and_orgs() {
    let Some(pg) = TestDb::create().await else {
        return;
    };
    let db = pg.connect().await;
    let world = World::create(&db).await;
    for taken in ["alice", "acme"] {
        assert!(
            !db.handle_available(&Handle::parse(taken).unwrap())
                .await
                .unwrap()
        );
    }
    assert!(
        db.handle_available(&Handle::parse("carol").unwrap())
            .await
            .unwrap()
    );
    // an org cannot take a user's handle, a user cannot take an org's
    let clash = Workspace::org(
        workspace_id(9),
        Handle::parse("alice").unwrap(),
        None,
        world.alice.id,
        t(40),
    )
    .unwrap();
    assert_eq!(
        kind(db.create_org(&clash, &[]).await),
        PortErrorKind::Conflict
    );
    let mut carol = user(3, "carol@example.com");
    db.create_user(&carol, None).await.unwrap();
    carol.choose_handle(Handle::parse("acme").unwrap()).unwrap();
    let carols = Workspace::personal(workspace_id(10), &carol, t(50)).unwrap();
    assert_eq!(
        kind(db.create_personal_workspace(&carol, &carols).await),
        PortErrorKind::Conflict
    );
    // the failed attempt did not give Carol the handle
    assert_eq!(db.get_user(carol.id).await.unwrap().handle, None);
    assert_eq!(
        kind(
            db.find_user_by_handle(&Handle::parse("acme").unwrap())
                .await
        ),
        PortErrorKind::NotFound
    );
    // a second personal workspace for Alice is a conflict
    let again = Workspace::personal(workspace_id(11), &world.alice, t(60)).unwrap();
    assert_eq!(
        kind(db.create_personal_workspace(&world.alice, &again).await),
        PortErrorKind::Conflict
    );
    // e-mail addresses are unique
    assert_eq!(
        kind(db.create_user(&user(4, "alice@example.com"), None).await),
        PortErrorKind::Conflict
    );
}

#[tokio::test]
async fn org_members_are_stored_in_order_and_replaced_whole() {
    let Some(pg) = TestDb::create().await else {
        return;
    };
    let db = pg.connect().await;
    let world = World::create(&db).await;
    let carol = user(3, "carol@example.com");
    db.create_user(&carol, None).await.unwrap();

    let mut acme = world.acme.clone();
    acme.add_member(world.alice.id, carol.id, Role::Owner)
        .unwrap();
    acme.remove_member(world.alice.id, world.bob.id).unwrap();
    acme.rename(world.alice.id, "Acme Corp").unwrap();
    db.save_workspace(&world.alice_scope(), &acme)
        .await
        .unwrap();
    assert_eq!(
        db.get_workspace(&Scope::System, acme.id).await.unwrap(),
        acme
    );
    // Bob is out now
    assert_eq!(
        kind(db.get_workspace(&world.bob_scope(), acme.id).await),
        PortErrorKind::NotFound
    );
    // a member who is not a user
    let mut ghostly = acme.clone();
    ghostly
        .add_member(world.alice.id, user_id(77), Role::Member)
        .unwrap();
    assert_eq!(
        kind(db.save_workspace(&world.alice_scope(), &ghostly).await),
        PortErrorKind::NotFound
    );
    assert_eq!(
        db.get_workspace(&Scope::System, acme.id).await.unwrap(),
        acme
    );
}

#[tokio::test]
async fn orderings_are_byte_orderings() {
    let Some(pg) = TestDb::create().await else {
        return;
    };
    let db = pg.connect().await;
    let world = World::create(&db).await;
    // dashes sort before digits and letters, digits before letters, whatever the locale
    let names = ["b", "a-b", "ab", "a0", "a-c-d", "a"];
    for (n, name) in (10_u128..).zip(names) {
        world
            .create_mock(&db, &mock(n, &world.alice_ws, name), n)
            .await;
    }
    let hosts: Vec<String> = MockRepository::list(&db, &world.alice_scope())
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.host.as_str().to_owned())
        .collect();
    let mut expected = hosts.clone();
    expected.sort();
    assert_eq!(hosts, expected);
    assert_eq!(
        hosts.first().map(String::as_str),
        Some("a-alice.localhost"),
        "{hosts:?}"
    );
    let in_workspace: Vec<String> = db
        .list_in_workspace(&world.alice_scope(), world.alice_ws.id)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.host.as_str().to_owned())
        .collect();
    assert_eq!(in_workspace, expected);
    // publications by mock id, as text
    let ids: Vec<String> = PublicationRepository::list(&db, &Scope::System)
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.mock_id.to_string())
        .collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted);
    assert_eq!(ids.len(), names.len());
    // orgs after the personal workspace, then by handle
    for (n, handle) in (20_u128..).zip(["zeta", "a1", "beta"]) {
        let org = Workspace::org(
            workspace_id(n),
            Handle::parse(handle).unwrap(),
            Some("Org"),
            world.alice.id,
            t(40),
        )
        .unwrap();
        db.create_org(&org, &[]).await.unwrap();
    }
    let handles: Vec<String> = db
        .list_workspaces(&world.alice_scope())
        .await
        .unwrap()
        .into_iter()
        .map(|w| w.handle.as_str().to_owned())
        .collect();
    assert_eq!(handles, ["alice", "a1", "acme", "beta", "zeta"]);
}
