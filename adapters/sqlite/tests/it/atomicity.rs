//! A change and its outbox rows are committed together or not at all.

use moclojer_domain::{EventKind, Revision};
use moclojer_ports::{MockRepository, Outbox, PortErrorKind, PublicationRepository, Scope};

use crate::helpers::{TempDb, World, counts, event, mock, raw, spec, t};

#[tokio::test]
async fn a_mock_whose_host_is_taken_leaves_no_trace() {
    let file = TempDb::new();
    let db = file.connect().await;
    let world = World::create(&db).await;
    let hello = mock(1, &world.alice_ws, "hello");
    world.create_mock(&db, &hello, 1).await;
    let before = counts(&file.path()).await;
    let pending = db.pending(100).await.unwrap();

    // same name in the same workspace: same host, another id
    let twin = mock(2, &world.alice_ws, "hello");
    assert_eq!(twin.host, hello.host);
    let changed = event(
        2,
        EventKind::MockChanged {
            mock_id: twin.id,
            revision: twin.revision,
        },
    );
    let err = db
        .create(&world.alice_scope(), &twin, &[changed])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), PortErrorKind::Conflict, "{err}");

    assert_eq!(counts(&file.path()).await, before);
    assert_eq!(db.pending(100).await.unwrap(), pending);
    let system = Scope::System;
    for kind in [
        MockRepository::get(&db, &system, twin.id)
            .await
            .map(|_| ())
            .unwrap_err()
            .kind(),
        db.revisions(&system, twin.id)
            .await
            .map(|_| ())
            .unwrap_err()
            .kind(),
        PublicationRepository::get(&db, &system, twin.id)
            .await
            .map(|_| ())
            .unwrap_err()
            .kind(),
    ] {
        assert_eq!(kind, PortErrorKind::NotFound);
    }
    // the same mock again (same id) is a conflict too, and changes nothing
    let err = db
        .create(&world.alice_scope(), &hello, &[])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), PortErrorKind::Conflict, "{err}");
    assert_eq!(counts(&file.path()).await, before);
}

#[tokio::test]
async fn a_stale_update_changes_neither_the_mock_nor_the_outbox() {
    let file = TempDb::new();
    let db = file.connect().await;
    let world = World::create(&db).await;
    let scope = world.alice_scope();
    let mut hello = mock(1, &world.alice_ws, "hello");
    world.create_mock(&db, &hello, 1).await;
    hello
        .edit(spec("- v2"), Some(Revision::FIRST), t(200))
        .unwrap();
    db.update(&scope, &hello, Revision::FIRST, &[])
        .await
        .unwrap();
    let before = counts(&file.path()).await;
    let pending = db.pending(100).await.unwrap();

    // an editor that still saw revision 1
    let mut stale = hello.clone();
    stale.revision = Revision::FIRST;
    stale
        .edit(spec("- stale"), Some(Revision::FIRST), t(300))
        .unwrap();
    let changed = event(
        2,
        EventKind::MockChanged {
            mock_id: stale.id,
            revision: stale.revision,
        },
    );
    let err = db
        .update(&scope, &stale, Revision::FIRST, &[changed])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), PortErrorKind::Conflict, "{err}");

    assert_eq!(
        MockRepository::get(&db, &scope, hello.id).await.unwrap(),
        hello
    );
    assert_eq!(db.revisions(&scope, hello.id).await.unwrap().len(), 2);
    assert_eq!(db.pending(100).await.unwrap(), pending);
    assert_eq!(counts(&file.path()).await, before);
}

#[tokio::test]
async fn a_failure_after_the_first_statement_rolls_everything_back() {
    let file = TempDb::new();
    let db = file.connect().await;
    let world = World::create(&db).await;
    let scope = world.alice_scope();
    let mut hello = mock(1, &world.alice_ws, "hello");
    world.create_mock(&db, &hello, 1).await;

    // Plant a revision 2 behind the adapter's back: the update's `UPDATE mocks` succeeds,
    // then its history insert fails.
    let pool = raw(&file.path()).await;
    sqlx::query("INSERT INTO mock_revisions (mock_id, revision, content, created_at) VALUES (?1, 2, 'planted', 0)")
        .bind(hello.id.to_string())
        .execute(&pool)
        .await
        .unwrap();
    let before = counts(&file.path()).await;
    let stored = hello.clone();
    hello
        .edit(spec("- v2"), Some(Revision::FIRST), t(200))
        .unwrap();
    let changed = event(
        2,
        EventKind::MockChanged {
            mock_id: hello.id,
            revision: hello.revision,
        },
    );
    assert!(
        db.update(&scope, &hello, Revision::FIRST, &[changed])
            .await
            .is_err()
    );
    assert_eq!(
        MockRepository::get(&db, &scope, hello.id).await.unwrap(),
        stored
    );
    assert_eq!(counts(&file.path()).await, before);

    // Make the outbox refuse `mock.deleted` events: the delete runs, then recording its
    // event fails, and the mock must still be there.
    sqlx::query(
        "CREATE TRIGGER refuse_deleted BEFORE INSERT ON outbox
         WHEN NEW.payload LIKE '%\"mock.deleted\"%'
         BEGIN SELECT RAISE(ABORT, 'refused by the test'); END",
    )
    .execute(&pool)
    .await
    .unwrap();
    let deleted = event(
        3,
        EventKind::MockDeleted {
            mock_id: stored.id,
            host: stored.host.clone(),
        },
    );
    assert!(
        db.delete(&scope, stored.id, std::slice::from_ref(&deleted))
            .await
            .is_err()
    );
    assert_eq!(
        MockRepository::get(&db, &scope, stored.id).await.unwrap(),
        stored
    );
    assert_eq!(counts(&file.path()).await, before);

    sqlx::query("DROP TRIGGER refuse_deleted")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    assert_eq!(
        db.delete(&scope, stored.id, std::slice::from_ref(&deleted))
            .await
            .unwrap(),
        stored
    );
    let after = counts(&file.path()).await;
    assert_eq!(
        (after.mocks, after.revisions, after.publications),
        (0, 0, 0)
    );
    let pending = db.pending(100).await.unwrap();
    assert_eq!(pending.last().map(|e| &e.event), Some(&deleted));
}

#[tokio::test]
async fn concurrent_saves_of_one_version_let_exactly_one_win() {
    let file = TempDb::new();
    let db = file.connect().await;
    let world = World::create(&db).await;
    let hello = mock(1, &world.acme, "hello");
    world.create_mock(&db, &hello, 1).await;
    let publication = PublicationRepository::get(&db, &Scope::System, hello.id)
        .await
        .unwrap();

    let tasks: Vec<_> = (0..6_u128)
        .map(|n| {
            let db = db.clone();
            let mut attempt = publication.clone();
            tokio::spawn(async move {
                attempt.dns_requested(t(1000 + 10 * n as i64)).unwrap();
                let changed = event(
                    10 + n,
                    EventKind::PublicationChanged {
                        mock_id: attempt.mock_id,
                    },
                );
                db.save(&Scope::System, &attempt, &[changed]).await
            })
        })
        .collect();
    let mut won = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(saved) => {
                won += 1;
                assert_eq!(saved.version, 1);
            }
            Err(err) => assert_eq!(err.kind(), PortErrorKind::Conflict, "{err}"),
        }
    }
    assert_eq!(won, 1);
    let pending = db.pending(100).await.unwrap();
    let publication_events = pending
        .iter()
        .filter(|e| matches!(e.event.kind, EventKind::PublicationChanged { .. }))
        .count();
    assert_eq!(publication_events, 1, "only the winner's event is recorded");
}
