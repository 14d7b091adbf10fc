//! The connection: an unreachable server, bad configuration, timeouts, migrations, and
//! sessions. (That data survives reconnecting is the shared check
//! `data_survives_reconnecting`, run from `contracts.rs`.)

use std::time::{Duration, Instant};

use moclojer_domain::{EventKind, Revision};
use moclojer_ports::{AccountRepository, MockRepository, Outbox, PortErrorKind};
use moclojer_postgres::{PostgresConfig, PostgresDatabase};
use sqlx::postgres::PgPoolOptions;

use moclojer_testkit::contracts::sql::TableCounts;

use crate::helpers::{TestDb, World, event, mock, spec, t, user, user_id};

const SECRET: &str = "s3cr3t-pa55word";

/// The error and its whole cause chain, as a log line would show them.
fn shown(err: &moclojer_ports::PortError) -> String {
    let mut text = format!("{err} {err:?}");
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(&format!(" / {cause} {cause:?}"));
        source = cause.source();
    }
    text
}

#[tokio::test]
async fn an_unreachable_server_is_unavailable_without_hanging() {
    // nothing listens on port 1; 192.0.2.0/24 is reserved for documentation
    for url in [
        format!("postgres://postgres:{SECRET}@127.0.0.1:1/test"),
        format!("postgres://postgres:{SECRET}@192.0.2.1:5432/test?connect_timeout=1"),
    ] {
        let config = PostgresConfig {
            acquire_timeout: Duration::from_millis(500),
            ..PostgresConfig::new(url)
        };
        let started = Instant::now();
        let result =
            tokio::time::timeout(Duration::from_secs(10), PostgresDatabase::connect(&config))
                .await
                .expect("connect gives up by itself");
        let err = result.expect_err("nothing to connect to");
        assert_eq!(err.kind(), PortErrorKind::Unavailable, "{err}");
        assert!(err.is_retryable());
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "gave up after {:?}",
            started.elapsed()
        );
        assert!(!shown(&err).contains(SECRET), "{}", shown(&err));
        assert!(!format!("{config:?}").contains(SECRET));
    }
}

#[tokio::test]
async fn bad_configuration_is_invalid_and_keeps_the_password_secret() {
    let Some(pg) = TestDb::create().await else {
        return;
    };
    let mut url = url::Url::parse(pg.url()).unwrap();
    url.set_password(Some(SECRET)).unwrap();

    // a database that does not exist
    let mut missing = url.clone();
    missing.set_path("/moclojer_no_such_database");
    // a role that does not exist
    let mut stranger = url.clone();
    stranger.set_username("moclojer_no_such_role").unwrap();
    for url in [missing, stranger] {
        let config = PostgresConfig {
            acquire_timeout: Duration::from_secs(2),
            ..PostgresConfig::new(url.as_str())
        };
        let err = PostgresDatabase::connect(&config).await.unwrap_err();
        assert_eq!(err.kind(), PortErrorKind::Invalid, "{url}: {err}");
        assert!(!shown(&err).contains(SECRET), "{}", shown(&err));
    }
    for url in [
        "",
        "  ",
        "mysql://localhost/x",
        "postgres://host:notaport/db",
    ] {
        let err = PostgresDatabase::connect(&PostgresConfig::new(url))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), PortErrorKind::Invalid, "{url:?}: {err}");
    }
}

#[tokio::test]
async fn sessions_the_server_ends_are_replaced() {
    let Some(pg) = TestDb::create().await else {
        return;
    };
    let db = pg.connect().await;
    let world = World::create(&db).await;
    // warm the pool, then have the server end every session of this database but ours
    for _ in 0..3 {
        db.get_user(world.alice.id).await.unwrap();
    }
    let admin = pg.raw().await;
    let ended: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM (
             SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = $1 AND pid <> pg_backend_pid()) ended",
    )
    .bind(pg.name())
    .fetch_one(&admin)
    .await
    .unwrap();
    assert!(ended >= 1);
    admin.close().await;
    // the pool notices and opens new sessions
    assert_eq!(db.get_user(world.alice.id).await.unwrap(), world.alice);
    db.close().await;
}

#[tokio::test]
async fn a_statement_stuck_behind_a_lock_times_out() {
    let Some(pg) = TestDb::create().await else {
        return;
    };
    let db = PostgresDatabase::connect(&PostgresConfig {
        statement_timeout: Some(Duration::from_millis(300)),
        ..pg.config()
    })
    .await
    .unwrap();
    let world = World::create(&db).await;
    let scope = world.alice_scope();
    let mut hello = mock(1, &world.alice_ws, "hello");
    world.create_mock(&db, &hello, 1).await;
    let before = TableCounts::of(&pg).await;

    // another session holds the mock's row
    let raw = pg.raw().await;
    let mut holder = raw.begin().await.unwrap();
    sqlx::query("SELECT id FROM mocks WHERE id = $1 FOR UPDATE")
        .bind(hello.id.to_string())
        .execute(&mut *holder)
        .await
        .unwrap();

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
    let started = Instant::now();
    let err = db
        .update(
            &scope,
            &hello,
            Revision::FIRST,
            std::slice::from_ref(&changed),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), PortErrorKind::Timeout, "{err}");
    assert!(err.is_retryable());
    assert!(started.elapsed() < Duration::from_secs(5));
    let err = db.delete(&scope, hello.id, &[]).await.unwrap_err();
    assert_eq!(err.kind(), PortErrorKind::Timeout, "{err}");

    holder.rollback().await.unwrap();
    raw.close().await;
    assert_eq!(
        MockRepository::get(&db, &scope, hello.id).await.unwrap(),
        stored
    );
    assert_eq!(
        TableCounts::of(&pg).await,
        before,
        "the timed-out writes left nothing"
    );
    // once the lock is gone, the same call goes through
    db.update(&scope, &hello, Revision::FIRST, &[changed])
        .await
        .unwrap();
}

#[tokio::test]
async fn migrations_run_once_however_often_and_however_many_connect() {
    let Some(pg) = TestDb::create().await else {
        return;
    };
    // several processes starting at once on an empty database
    let connects: Vec<_> = (0..4)
        .map(|_| {
            let config = pg.config();
            tokio::spawn(async move { PostgresDatabase::connect(&config).await })
        })
        .collect();
    let mut pools = Vec::new();
    for connect in connects {
        pools.push(connect.await.unwrap().unwrap());
    }
    pools[0]
        .create_user(&user(1, "alice@example.com"), None)
        .await
        .unwrap();
    assert_eq!(
        pools[3].get_user(user_id(1)).await.unwrap().email.as_str(),
        "alice@example.com"
    );
    pools[1].migrate().await.unwrap();
    for pool in &pools {
        pool.close().await;
    }

    let raw = pg.raw().await;
    let applied: Vec<(i64, bool)> =
        sqlx::query_as("SELECT version, success FROM _sqlx_migrations ORDER BY version")
            .fetch_all(&raw)
            .await
            .unwrap();
    assert_eq!(applied, [(1, true), (2, true), (3, true)]);
    raw.close().await;
}

#[tokio::test]
async fn without_migrations_the_schema_is_left_alone_until_asked() {
    let Some(pg) = TestDb::create().await else {
        return;
    };
    let db = PostgresDatabase::connect(&PostgresConfig {
        migrate: false,
        ..pg.config()
    })
    .await
    .unwrap();
    let err = db.pending(10).await.unwrap_err();
    assert_eq!(err.kind(), PortErrorKind::Internal, "no tables yet: {err}");
    db.migrate().await.unwrap();
    assert!(db.pending(10).await.unwrap().is_empty());
    db.close().await;
}

#[tokio::test]
async fn a_schema_from_a_newer_version_is_refused() {
    let Some(pg) = TestDb::create().await else {
        return;
    };
    pg.connect().await.close().await;
    let raw = pg.raw().await;
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
         VALUES (99, 'from the future', true, '\\x00'::bytea, 0)",
    )
    .execute(&raw)
    .await
    .unwrap();
    raw.close().await;
    let err = PostgresDatabase::connect(&pg.config()).await.unwrap_err();
    assert_eq!(err.kind(), PortErrorKind::Internal, "{err}");
    assert!(err.to_string().contains("newer version"), "{err}");
}

#[tokio::test]
async fn sessions_carry_the_application_name() {
    let Some(pg) = TestDb::create().await else {
        return;
    };
    let db = PostgresDatabase::connect(&PostgresConfig {
        max_connections: 2,
        ..pg.config()
    })
    .await
    .unwrap();
    // The adapter's sessions show up under its application name (for the DBA's views).
    let admin = PgPoolOptions::new()
        .max_connections(1)
        .connect(pg.url())
        .await
        .unwrap();
    let names: Vec<Option<String>> = sqlx::query_scalar(
        "SELECT application_name FROM pg_stat_activity
         WHERE datname = $1 AND pid <> pg_backend_pid()",
    )
    .bind(pg.name())
    .fetch_all(&admin)
    .await
    .unwrap();
    assert!(
        names.iter().any(|n| n.as_deref() == Some("moclojer")),
        "{names:?}"
    );
    admin.close().await;
    db.close().await;
}
