//! The database file: what survives reopening, migrations, and files that are not ours.

use moclojer_domain::{EventKind, Handle, Revision};
use moclojer_ports::{
    AccountRepository, MockRepository, Outbox, PortErrorKind, PublicationRepository, Scope,
};
use moclojer_sqlite::{SqliteConfig, SqliteDatabase};

use crate::helpers::{TempDb, World, event, mock, raw, spec, t, user};

#[tokio::test]
async fn data_survives_closing_and_reopening_the_file() {
    let file = TempDb::new();
    let db = file.connect().await;
    let world = World::create(&db).await;
    let alice = world.alice_scope();

    let mut hello = mock(1, &world.alice_ws, "hello");
    world.create_mock(&db, &hello, 1).await;
    let first = hello.current_revision();
    assert!(
        hello
            .edit(
                spec("- endpoint: {path: /v2}"),
                Some(Revision::FIRST),
                t(200)
            )
            .unwrap()
    );
    db.update(&alice, &hello, Revision::FIRST, &[])
        .await
        .unwrap();
    let mut publication = PublicationRepository::get(&db, &alice, hello.id)
        .await
        .unwrap();
    publication.request_publish(hello.revision, t(300)).unwrap();
    let requested = event(2, EventKind::PublicationChanged { mock_id: hello.id });
    let saved = db
        .save(&Scope::System, &publication, &[requested])
        .await
        .unwrap();
    assert_eq!(saved.version, 1);
    let pending = db.pending(10).await.unwrap();
    assert_eq!(pending.len(), 2);
    db.mark_sent(&[pending[0].seq]).await.unwrap();
    db.close().await;
    drop(db);

    let db = SqliteDatabase::open(&file.path()).await.unwrap();
    let record = db.find_user_by_email(&world.alice.email).await.unwrap();
    assert_eq!(record.user, world.alice);
    assert_eq!(
        record.password_hash.as_deref(),
        Some("$argon2id$v=19$alice")
    );
    assert_eq!(db.get_user(world.bob.id).await.unwrap(), world.bob);
    assert_eq!(
        db.find_user_by_handle(&Handle::parse("bob").unwrap())
            .await
            .unwrap(),
        world.bob
    );
    assert_eq!(
        db.list_workspaces(&alice).await.unwrap(),
        [world.alice_ws.clone(), world.acme.clone()]
    );
    assert_eq!(
        db.get_workspace(&world.bob_scope(), world.acme.id)
            .await
            .unwrap(),
        world.acme
    );
    assert_eq!(
        MockRepository::get(&db, &alice, hello.id).await.unwrap(),
        hello
    );
    assert_eq!(
        db.revisions(&alice, hello.id).await.unwrap(),
        [hello.current_revision(), first]
    );
    assert_eq!(
        PublicationRepository::get(&db, &alice, hello.id)
            .await
            .unwrap(),
        saved
    );
    assert_eq!(db.pending(10).await.unwrap(), pending[1..]);
    db.close().await;
}

#[tokio::test]
async fn migrations_run_once_however_often_the_file_is_opened() {
    let file = TempDb::new();
    let first = file.connect().await;
    first
        .create_user(&user(1, "alice@example.com"), None)
        .await
        .unwrap();
    // a second pool on the same file while the first is open, then a third after both close
    let second = file.connect().await;
    assert_eq!(
        second
            .get_user(crate::helpers::user_id(1))
            .await
            .unwrap()
            .email
            .as_str(),
        "alice@example.com"
    );
    first.close().await;
    second.close().await;
    let third = SqliteDatabase::open(&file.path()).await.unwrap();
    third
        .create_user(&user(2, "bob@example.com"), None)
        .await
        .unwrap();
    third.close().await;

    let pool = raw(&file.path()).await;
    let applied: Vec<(i64, bool)> =
        sqlx::query_as("SELECT version, success FROM _sqlx_migrations ORDER BY version")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(
        applied,
        [(1, true), (2, true)],
        "each migration applied once"
    );
    let journal: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(journal, "wal");
    pool.close().await;
}

#[tokio::test]
async fn a_file_that_is_not_a_database_is_refused_clearly() {
    let file = TempDb::new();
    let garbage = "this is a text file, not a SQLite database\n".repeat(200);
    std::fs::write(file.path(), &garbage).unwrap();

    for result in [
        SqliteDatabase::connect(&SqliteConfig::new(file.url())).await,
        SqliteDatabase::open(&file.path()).await,
    ] {
        let err = result.unwrap_err();
        assert_eq!(err.kind(), PortErrorKind::Internal, "{err}");
        assert!(
            err.to_string().contains("is not a SQLite database"),
            "{err}"
        );
        assert!(
            err.to_string().contains(&file.path().display().to_string()),
            "the message names the file: {err}"
        );
    }
    assert_eq!(
        std::fs::read_to_string(file.path()).unwrap(),
        garbage,
        "the file is left alone"
    );
}

#[tokio::test]
async fn a_file_that_cannot_be_created_is_unavailable() {
    let file = TempDb::new();
    let missing_dir = file.path().join("no-such-folder").join("db.sqlite");
    let err = SqliteDatabase::open(&missing_dir).await.unwrap_err();
    assert_eq!(err.kind(), PortErrorKind::Unavailable, "{err}");
}

#[tokio::test]
async fn a_url_without_create_mode_needs_the_file() {
    let file = TempDb::new();
    let url = format!("sqlite://{}", file.path().display());
    let err = SqliteDatabase::connect(&SqliteConfig::new(url))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), PortErrorKind::Unavailable, "{err}");
    assert!(!file.path().exists());
}

#[tokio::test]
async fn malformed_urls_are_invalid() {
    for url in ["", "   ", "sqlite://x.db?mode=sideways"] {
        let err = SqliteDatabase::connect(&SqliteConfig::new(url))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), PortErrorKind::Invalid, "{url:?}: {err}");
    }
}

#[tokio::test]
async fn plain_paths_are_created() {
    let file = TempDb::new();
    let db = SqliteDatabase::connect(&SqliteConfig::new(file.path().display().to_string()))
        .await
        .unwrap();
    db.create_user(&user(1, "alice@example.com"), None)
        .await
        .unwrap();
    db.close().await;
    assert!(file.path().exists());
}

#[tokio::test]
async fn in_memory_databases_are_separate_and_work_across_calls() {
    let one = SqliteDatabase::in_memory().await.unwrap();
    let two = SqliteDatabase::in_memory().await.unwrap();
    let world = World::create(&one).await;
    let hello = mock(1, &world.acme, "hello");
    world.create_mock(&one, &hello, 1).await;
    // concurrent calls queue on the single connection instead of failing
    let clones: Vec<_> = (0..8).map(|_| one.clone()).collect();
    let scope = world.bob_scope();
    let handles: Vec<_> = clones
        .into_iter()
        .map(|db| {
            tokio::spawn(async move { MockRepository::list(&db, &scope).await.unwrap().len() })
        })
        .collect();
    for handle in handles {
        assert_eq!(handle.await.unwrap(), 1);
    }
    assert_eq!(
        two.get_user(world.alice.id).await.unwrap_err().kind(),
        PortErrorKind::NotFound
    );
    assert!(two.pending(10).await.unwrap().is_empty());
}

#[tokio::test]
async fn calls_after_close_are_unavailable() {
    let file = TempDb::new();
    let db = file.connect().await;
    db.close().await;
    let err = db.get_user(crate::helpers::user_id(1)).await.unwrap_err();
    assert_eq!(err.kind(), PortErrorKind::Unavailable, "{err}");
    assert!(err.is_retryable());
}
