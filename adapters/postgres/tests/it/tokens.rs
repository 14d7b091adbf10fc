//! Tokens on PostgreSQL: concurrent inserts of one digest, and what is stored. (That
//! tokens go with their user is the shared check `tokens_go_with_their_user`, run from
//! `contracts.rs`.)

use std::sync::Arc;
use std::time::Duration;

use moclojer_ports::{
    AccountRepository, LocalTokens, PortErrorKind, RandomIds, TokenDigest, TokenId, TokenKind,
    TokenRecord, TokenStore,
};
use moclojer_postgres::PostgresDatabase;
use moclojer_testkit::ManualClock;
use uuid::Uuid;

use crate::helpers::{TestDb, World, t, user};

fn local_tokens(db: &PostgresDatabase, clock: &ManualClock) -> LocalTokens {
    LocalTokens::new(
        Arc::new(db.clone()),
        Arc::new(clock.clone()),
        Arc::new(RandomIds),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_inserts_of_one_digest_let_exactly_one_win() {
    let Some(pg) = TestDb::create().await else {
        return;
    };
    let db = pg.connect().await;
    let world = World::create(&db).await;
    let digest = TokenDigest::of("one secret, many writers");

    let tasks: Vec<_> = (0..8_u128)
        .map(|n| {
            let db = db.clone();
            let record = TokenRecord {
                id: TokenId::from_uuid(Uuid::from_u128(0x4000 + n)),
                user_id: world.alice.id,
                kind: TokenKind::Personal,
                name: format!("writer {n}"),
                digest,
                created_at: t(1_000),
                expires_at: None,
            };
            tokio::spawn(async move { db.insert_token(&record).await })
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
    let stored = db
        .list_tokens(world.alice.id, TokenKind::Personal)
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(db.find_token(&digest).await.unwrap(), stored[0]);
    db.close().await;
}

#[tokio::test]
async fn only_digests_are_stored() {
    let Some(pg) = TestDb::create().await else {
        return;
    };
    let db = pg.connect().await;
    let clock = ManualClock::new(t(1_000));
    let lone = user(7, "lone@example.com");
    db.create_user(&lone, None).await.unwrap();
    let tokens = local_tokens(&db, &clock);
    let issued = tokens
        .issue_personal(lone.id, "ci", Some(Duration::from_secs(60)))
        .await
        .unwrap();

    let raw = pg.raw().await;
    let (digest, created_at, expires_at): (Vec<u8>, i64, Option<i64>) =
        sqlx::query_as("SELECT digest, created_at, expires_at FROM tokens")
            .fetch_one(&raw)
            .await
            .unwrap();
    assert_eq!(digest, issued.record.digest.as_bytes());
    assert_eq!((created_at, expires_at), (1_000, Some(61_000)));
    let holds_the_secret: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM tokens
                        WHERE position($1 in id || user_id || kind || name) > 0
                           OR position(convert_to($1, 'UTF8') in digest) > 0)",
    )
    .bind(&issued.token)
    .fetch_one(&raw)
    .await
    .unwrap();
    assert!(!holds_the_secret, "the token's text is not stored");

    raw.close().await;
    db.close().await;
}
