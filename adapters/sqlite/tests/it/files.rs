//! The database file: what survives reopening, migrations, and files that are not ours.

use std::sync::Arc;
use std::time::Duration;

use moclojer_domain::{EventKind, Handle, Revision};
use moclojer_ports::{
    AccountRepository, Identity, LocalTokens, MockRepository, Outbox, PortErrorKind,
    PublicationRepository, RandomIds, Scope, TOKEN_PREFIX, TokenIssuer, TokenKind, TokenStore,
};
use moclojer_sqlite::{SqliteConfig, SqliteDatabase};
use moclojer_testkit::ManualClock;

use crate::helpers::{TempDb, World, event, mock, raw, spec, t, user};

/// `LocalTokens` over `db`, reading time from `clock`.
fn local_tokens(db: &SqliteDatabase, clock: &ManualClock) -> LocalTokens {
    LocalTokens::new(
        Arc::new(db.clone()),
        Arc::new(clock.clone()),
        Arc::new(RandomIds),
    )
}

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
async fn tokens_survive_closing_and_reopening_the_file() {
    let file = TempDb::new();
    let clock = ManualClock::new(t(1_000));
    let db = file.connect().await;
    let world = World::create(&db).await;
    let tokens = local_tokens(&db, &clock);
    let session = tokens
        .issue(world.alice.id, Duration::from_secs(3600))
        .await
        .unwrap();
    let revoked = tokens
        .issue(world.alice.id, Duration::from_secs(3600))
        .await
        .unwrap();
    let ci = tokens
        .issue_personal(world.bob.id, "ci", None)
        .await
        .unwrap();
    tokens.revoke(&revoked.token).await.unwrap();
    db.close().await;
    drop(db);

    // Only digests are kept: the kept tokens' digests are in the files, no token's secret
    // is, in any form it could be written (text or bytes).
    let mut bytes = std::fs::read(file.path()).unwrap();
    let mut wal = file.path().into_os_string();
    wal.push("-wal");
    if let Ok(more) = std::fs::read(&wal) {
        bytes.extend(more);
    }
    let contains = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    for kept in [&session, &ci] {
        assert!(contains(kept.record.digest.as_bytes()), "a kept digest");
    }
    for issued in [&session, &revoked, &ci] {
        let secret = issued.token.strip_prefix(TOKEN_PREFIX).unwrap();
        assert!(!contains(secret.as_bytes()), "a token's secret as text");
        let raw_secret: Vec<u8> = (0..secret.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&secret[i..i + 2], 16).unwrap())
            .collect();
        assert!(!contains(&raw_secret), "a token's secret as bytes");
    }

    let db = SqliteDatabase::open(&file.path()).await.unwrap();
    clock.advance(Duration::from_secs(60));
    let tokens = local_tokens(&db, &clock);
    assert_eq!(
        tokens.authenticate(&session.token).await.unwrap().user_id,
        world.alice.id
    );
    assert_eq!(
        tokens.authenticate(&ci.token).await.unwrap().user_id,
        world.bob.id
    );
    assert_eq!(
        tokens
            .authenticate(&revoked.token)
            .await
            .unwrap_err()
            .kind(),
        PortErrorKind::Unauthenticated,
        "a revoked token stays revoked"
    );
    assert_eq!(
        db.find_token(&session.record.digest).await.unwrap(),
        session.record
    );
    assert_eq!(
        tokens.list_personal(world.bob.id).await.unwrap(),
        std::slice::from_ref(&ci.record)
    );
    assert_eq!(
        db.list_tokens(world.alice.id, TokenKind::Session)
            .await
            .unwrap(),
        std::slice::from_ref(&session.record)
    );
    // The session expires on the reopened database's clock as it would have before.
    clock.advance(Duration::from_secs(3540));
    assert_eq!(
        tokens
            .authenticate(&session.token)
            .await
            .unwrap_err()
            .kind(),
        PortErrorKind::Unauthenticated
    );
    assert_eq!(tokens.purge_expired().await.unwrap(), 1);
    db.close().await;
}

#[tokio::test]
async fn tokens_go_with_their_user() {
    let file = TempDb::new();
    let clock = ManualClock::new(t(1_000));
    let db = file.connect().await;
    let lone = user(7, "lone@example.com");
    db.create_user(&lone, None).await.unwrap();
    let tokens = local_tokens(&db, &clock);
    let issued = tokens.issue_personal(lone.id, "ci", None).await.unwrap();

    // No port deletes users yet; the schema already drops their tokens with them.
    let pool = raw(&file.path()).await;
    sqlx::query("DELETE FROM users WHERE id = ?1")
        .bind(lone.id.to_string())
        .execute(&pool)
        .await
        .unwrap();
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tokens")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(left, 0);
    pool.close().await;
    assert_eq!(
        tokens.authenticate(&issued.token).await.unwrap_err().kind(),
        PortErrorKind::Unauthenticated
    );
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
        [(1, true), (2, true), (3, true), (4, true)],
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
