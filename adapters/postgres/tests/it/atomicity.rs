//! A change and its outbox rows are committed together or not at all, and concurrent
//! writers of one thing get one winner and clean refusals.

use std::collections::HashSet;

use moclojer_domain::{EventKind, Handle, Revision, Workspace};
use moclojer_ports::{AccountRepository, MockRepository, Outbox, PortErrorKind, Scope};

use moclojer_testkit::contracts::sql::TableCounts;

use crate::helpers::{TestDb, World, event, kind, mock, mock_id, spec, t, user, workspace_id};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_updates_of_one_revision_let_exactly_one_win() {
    let Some(pg) = TestDb::create().await else {
        return;
    };
    let db = pg.connect().await;
    let world = World::create(&db).await;
    let hello = mock(1, &world.alice_ws, "hello");
    world.create_mock(&db, &hello, 1).await;
    let scope = world.alice_scope();

    let tasks: Vec<_> = (0..8_u128)
        .map(|n| {
            let db = db.clone();
            let mut edited = hello.clone();
            tokio::spawn(async move {
                edited
                    .edit(spec(&format!("- edit {n}")), Some(Revision::FIRST), t(200))
                    .unwrap();
                let changed = event(
                    10 + n,
                    EventKind::MockChanged {
                        mock_id: edited.id,
                        revision: edited.revision,
                    },
                );
                db.update(&scope, &edited, Revision::FIRST, &[changed])
                    .await
                    .map(|()| edited)
            })
        })
        .collect();
    let mut winners = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            Ok(edited) => winners.push(edited),
            Err(err) => assert_eq!(err.kind(), PortErrorKind::Conflict, "{err}"),
        }
    }
    assert_eq!(winners.len(), 1);
    let stored = MockRepository::get(&db, &scope, hello.id).await.unwrap();
    assert_eq!(stored, winners[0]);
    let history = db.revisions(&scope, hello.id).await.unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[0].content, winners[0].content);
    let changed = db
        .pending(100)
        .await
        .unwrap()
        .iter()
        .filter(|e| matches!(e.event.kind, EventKind::MockChanged { .. }))
        .count();
    assert_eq!(changed, 2, "the create's event and the winner's");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_of_one_host_let_exactly_one_win() {
    let Some(pg) = TestDb::create().await else {
        return;
    };
    let db = pg.connect().await;
    let world = World::create(&db).await;
    let scope = world.alice_scope();

    let tasks: Vec<_> = (0..8_u128)
        .map(|n| {
            let db = db.clone();
            // different ids, one host
            let twin = mock(10 + n, &world.alice_ws, "popular");
            tokio::spawn(async move {
                let changed = event(
                    10 + n,
                    EventKind::MockChanged {
                        mock_id: twin.id,
                        revision: twin.revision,
                    },
                );
                db.create(&scope, &twin, &[changed]).await
            })
        })
        .collect();
    let mut won = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(()) => won += 1,
            Err(err) => assert_eq!(err.kind(), PortErrorKind::Conflict, "{err}"),
        }
    }
    assert_eq!(won, 1);
    let counts = TableCounts::of(&pg).await;
    assert_eq!(
        (
            counts.mocks,
            counts.revisions,
            counts.publications,
            counts.outbox
        ),
        (1, 1, 1, 1)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_deletes_report_the_mock_once() {
    let Some(pg) = TestDb::create().await else {
        return;
    };
    let db = pg.connect().await;
    let world = World::create(&db).await;
    let hello = mock(1, &world.alice_ws, "hello");
    world.create_mock(&db, &hello, 1).await;
    let scope = world.alice_scope();

    let tasks: Vec<_> = (0..6_u128)
        .map(|n| {
            let db = db.clone();
            let deleted = event(
                10 + n,
                EventKind::MockDeleted {
                    mock_id: hello.id,
                    host: hello.host.clone(),
                },
            );
            tokio::spawn(async move { db.delete(&scope, hello.id, &[deleted]).await })
        })
        .collect();
    let mut won = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(mock) => {
                won += 1;
                assert_eq!(mock, hello);
            }
            Err(err) => assert_eq!(err.kind(), PortErrorKind::NotFound, "{err}"),
        }
    }
    assert_eq!(won, 1);
    let deleted = db
        .pending(100)
        .await
        .unwrap()
        .iter()
        .filter(|e| matches!(e.event.kind, EventKind::MockDeleted { .. }))
        .count();
    assert_eq!(deleted, 1, "one mock.deleted event");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn users_racing_for_one_handle_get_one_winner() {
    let Some(pg) = TestDb::create().await else {
        return;
    };
    let db = pg.connect().await;
    let contenders: Vec<_> = (0..6_u128)
        .map(|n| user(n + 1, &format!("u{n}@example.com")))
        .collect();
    for contender in &contenders {
        db.create_user(contender, None).await.unwrap();
    }
    let tasks: Vec<_> = contenders
        .into_iter()
        .zip(0_u128..)
        .map(|(mut contender, n)| {
            let db = db.clone();
            tokio::spawn(async move {
                contender
                    .choose_handle(Handle::parse("wanted").unwrap())
                    .unwrap();
                let personal = Workspace::personal(workspace_id(n + 1), &contender, t(20)).unwrap();
                db.create_personal_workspace(&contender, &personal)
                    .await
                    .map(|()| contender.id)
            })
        })
        .collect();
    let mut winners = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            Ok(id) => winners.push(id),
            Err(err) => assert_eq!(err.kind(), PortErrorKind::Conflict, "{err}"),
        }
    }
    assert_eq!(winners.len(), 1);
    let owner = db
        .find_user_by_handle(&Handle::parse("wanted").unwrap())
        .await
        .unwrap();
    assert_eq!(owner.id, winners[0]);
    let counts = TableCounts::of(&pg).await;
    assert_eq!((counts.workspaces, counts.members), (1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_user_choosing_two_handles_at_once_gets_one() {
    let Some(pg) = TestDb::create().await else {
        return;
    };
    let db = pg.connect().await;
    let carol = user(3, "carol@example.com");
    db.create_user(&carol, None).await.unwrap();
    let tasks: Vec<_> = ["carol", "carolina", "caro", "cc"]
        .into_iter()
        .zip(0_u128..)
        .map(|(handle, n)| {
            let db = db.clone();
            let mut carol = carol.clone();
            tokio::spawn(async move {
                carol.choose_handle(Handle::parse(handle).unwrap()).unwrap();
                let personal = Workspace::personal(workspace_id(n + 1), &carol, t(20)).unwrap();
                db.create_personal_workspace(&carol, &personal).await
            })
        })
        .collect();
    let mut won = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(()) => won += 1,
            Err(err) => assert_eq!(err.kind(), PortErrorKind::Conflict, "{err}"),
        }
    }
    assert_eq!(won, 1);
    let stored = db.get_user(carol.id).await.unwrap();
    let handle = stored.handle.expect("a handle");
    let listed = db.list_workspaces(&Scope::User(carol.id)).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        listed[0].handle, handle,
        "the handle and the workspace agree"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deleting_an_org_while_a_mock_is_added_never_loses_a_mock_silently() {
    let Some(pg) = TestDb::create().await else {
        return;
    };
    let db = pg.connect().await;
    for round in 0..10_u128 {
        let world_db = db.clone();
        let owner = user(100 + round, &format!("o{round}@example.com"));
        world_db.create_user(&owner, None).await.unwrap();
        let org = Workspace::org(
            workspace_id(100 + round),
            Handle::parse(&format!("org{round}")).unwrap(),
            Some("Org"),
            owner.id,
            t(30),
        )
        .unwrap();
        db.create_org(&org, &[]).await.unwrap();
        let scope = Scope::User(owner.id);
        let late = mock(100 + round, &org, "late");
        let adder = {
            let db = db.clone();
            let late = late.clone();
            tokio::spawn(async move { db.create(&scope, &late, &[]).await })
        };
        let deleter = {
            let db = db.clone();
            let id = org.id;
            tokio::spawn(async move { db.delete_org(&scope, id, &[], &[]).await })
        };
        let added = adder.await.unwrap();
        let deleted = deleter.await.unwrap();
        match (&added, &deleted) {
            // the mock came first: the delete saw it and refused
            (Ok(()), Err(err)) => {
                assert_eq!(err.kind(), PortErrorKind::Conflict, "{err}");
                assert!(MockRepository::get(&db, &scope, late.id).await.is_ok());
            }
            // the delete came first: the mock had nowhere to go
            (Err(err), Ok(())) => {
                assert_eq!(err.kind(), PortErrorKind::NotFound, "{err}");
                assert_eq!(
                    kind(MockRepository::get(&db, &Scope::System, late.id).await),
                    PortErrorKind::NotFound
                );
            }
            other => panic!("round {round}: exactly one must win, got {other:?}"),
        }
    }
    // nothing dangles: every mock has its workspace, every publication its mock
    let pool = pg.raw().await;
    let orphans: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM mocks m WHERE NOT EXISTS
             (SELECT 1 FROM workspaces w WHERE w.id = m.workspace_id)",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(orphans, 0);
    pool.close().await;
}

#[tokio::test]
async fn a_refused_org_leaves_no_outbox_rows() {
    let Some(pg) = TestDb::create().await else {
        return;
    };
    let db = pg.connect().await;
    let world = World::create(&db).await;
    let before = TableCounts::of(&pg).await;
    // a member who is not a user: NotFound, and the event is not recorded
    let mut ghostly = Workspace::org(
        workspace_id(20),
        Handle::parse("ghosts").unwrap(),
        Some("Ghosts"),
        world.alice.id,
        t(30),
    )
    .unwrap();
    ghostly
        .add_member(
            world.alice.id,
            crate::helpers::user_id(77),
            moclojer_domain::Role::Member,
        )
        .unwrap();
    let lost = event(
        1,
        EventKind::DomainRemoved {
            host: mock(1, &world.alice_ws, "x").host,
        },
    );
    assert_eq!(
        kind(db.create_org(&ghostly, std::slice::from_ref(&lost)).await),
        PortErrorKind::NotFound
    );
    // deleting an org whose mocks changed: Conflict, nothing recorded or deleted
    let kept = mock(2, &world.acme, "kept");
    world.create_mock(&db, &kept, 2).await;
    let before_delete = TableCounts::of(&pg).await;
    assert_eq!(
        kind(
            db.delete_org(
                &world.alice_scope(),
                world.acme.id,
                &[mock_id(99)],
                std::slice::from_ref(&lost),
            )
            .await
        ),
        PortErrorKind::Conflict
    );
    assert_eq!(TableCounts::of(&pg).await, before_delete);
    assert_eq!(before_delete.outbox, before.outbox + 1);
    let seen: HashSet<_> = db
        .pending(100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event.id)
        .collect();
    assert!(!seen.contains(&lost.id));
}
