//! The database file: what survives reopening, migrations, and files that are not ours.
//! (That data survives reopening is the shared check `data_survives_reconnecting`, run
//! from `contracts.rs`.)

use std::sync::Arc;
use std::time::Duration;

use moclojer_domain::Role;
use moclojer_ports::{
    AccountRepository, Identity, LocalTokens, MockRepository, Outbox, PortErrorKind, RandomIds,
    Scope, TOKEN_PREFIX, TokenIssuer, TokenKind, TokenStore,
};
use moclojer_sqlite::{SqliteConfig, SqliteDatabase};
use moclojer_testkit::{Fixture, ManualClock, Repos, expect_kind, save_org};

use crate::helpers::{TempDb, raw};

/// `LocalTokens` over `db`, reading time from `clock`.
fn local_tokens(db: &SqliteDatabase, clock: &ManualClock) -> LocalTokens {
    LocalTokens::new(
        Arc::new(db.clone()),
        Arc::new(clock.clone()),
        Arc::new(RandomIds),
    )
}

#[tokio::test]
async fn tokens_survive_closing_and_reopening_the_file() {
    let file = TempDb::new();
    let fx = Fixture::new();
    let clock = ManualClock::new(fx.now);
    let db = file.connect().await;
    let repos = Repos::from_database(db.clone());
    let (alice, _) = fx.signed_up(&repos).await;
    let (bob, _) = fx.signed_up(&repos).await;
    let tokens = local_tokens(&db, &clock);
    let session = tokens
        .issue(alice.id, Duration::from_secs(3600))
        .await
        .unwrap();
    let revoked = tokens
        .issue(alice.id, Duration::from_secs(3600))
        .await
        .unwrap();
    let ci = tokens.issue_personal(bob.id, "ci", None).await.unwrap();
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
        alice.id
    );
    assert_eq!(
        tokens.authenticate(&ci.token).await.unwrap().user_id,
        bob.id
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
        tokens.list_personal(bob.id).await.unwrap(),
        std::slice::from_ref(&ci.record)
    );
    assert_eq!(
        db.list_tokens(alice.id, TokenKind::Session).await.unwrap(),
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
async fn migrations_run_once_however_often_the_file_is_opened() {
    let file = TempDb::new();
    let fx = Fixture::new();
    let first = file.connect().await;
    let alice = fx.user();
    first.create_user(&alice, None).await.unwrap();
    // a second pool on the same file while the first is open, then a third after both close
    let second = file.connect().await;
    assert_eq!(second.get_user(alice.id).await.unwrap(), alice);
    first.close().await;
    second.close().await;
    let third = SqliteDatabase::open(&file.path()).await.unwrap();
    third.create_user(&fx.user(), None).await.unwrap();
    third.close().await;

    let pool = raw(&file.path()).await;
    let applied: Vec<(i64, bool)> =
        sqlx::query_as("SELECT version, success FROM _sqlx_migrations ORDER BY version")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(
        applied,
        [(1, true), (2, true), (3, true), (4, true), (5, true)],
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
        let connected = SqliteDatabase::connect(&SqliteConfig::new(url)).await;
        expect_kind(connected, PortErrorKind::Invalid, url);
    }
}

#[tokio::test]
async fn plain_paths_are_created() {
    let file = TempDb::new();
    let db = SqliteDatabase::connect(&SqliteConfig::new(file.path().display().to_string()))
        .await
        .unwrap();
    db.create_user(&Fixture::new().user(), None).await.unwrap();
    db.close().await;
    assert!(file.path().exists());
}

#[tokio::test]
async fn in_memory_databases_are_separate_and_work_across_calls() {
    let one = SqliteDatabase::in_memory().await.unwrap();
    let two = SqliteDatabase::in_memory().await.unwrap();
    let fx = Fixture::new();
    let repos = Repos::from_database(one.clone());
    let (alice, _) = fx.signed_up(&repos).await;
    let (bob, _) = fx.signed_up(&repos).await;
    let mut acme = fx.org(&repos, &alice).await;
    acme.add_member(alice.id, bob.id, Role::Member).unwrap();
    save_org(&one, &Scope::User(alice.id), &acme).await.unwrap();
    fx.stored_mock(&repos, &Scope::User(alice.id), &acme, "hello")
        .await;
    // concurrent calls queue on the single connection instead of failing
    let clones: Vec<_> = (0..8).map(|_| one.clone()).collect();
    let scope = Scope::User(bob.id);
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
        two.get_user(alice.id).await.unwrap_err().kind(),
        PortErrorKind::NotFound
    );
    assert!(two.pending(10).await.unwrap().is_empty());
}
