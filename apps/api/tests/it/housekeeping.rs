//! Housekeeping deletes outbox rows sent long enough ago and expired tokens, and nothing
//! else.

use std::sync::Arc;
use std::time::Duration;

use moclojer_api::housekeeping::Housekeeping;
use moclojer_domain::{Event, EventKind, Timestamp};
use moclojer_ports::{
    Clock as _, DatabasePorts, IdGenerator as _, LocalTokens, RandomIds, SystemClock,
};
use moclojer_sqlite::SqliteDatabase;
use moclojer_testkit::{Fixture, ManualClock, Repos};

#[tokio::test]
async fn housekeeping_deletes_sent_events_and_expired_tokens_only() {
    let database = SqliteDatabase::in_memory().await.expect("database");
    let ports = DatabasePorts::of(&database);
    let fx = Fixture::new();
    let (alice, _) = fx.signed_up(&Repos::from_database(database.clone())).await;

    // Three events, two of them sent.
    let events: Vec<Event> = (0..3)
        .map(|_| {
            fx.event(EventKind::PublicationChanged {
                mock_id: RandomIds.mock_id(),
            })
        })
        .collect();
    ports.outbox.append(&events).await.expect("append");
    let pending = ports.outbox.pending(10).await.expect("pending");
    let sent: Vec<u64> = pending.iter().take(2).map(|e| e.seq).collect();
    ports.outbox.mark_sent(&sent).await.expect("mark sent");

    // One token issued a day ago for an hour (expired), one for ever.
    let yesterday = ManualClock::new(Timestamp::from_unix_millis(
        SystemClock.now().unix_millis() - 24 * 3600 * 1000,
    ));
    let old = LocalTokens::new(
        Arc::clone(&ports.tokens),
        Arc::new(yesterday),
        Arc::new(RandomIds),
    );
    old.issue_personal(alice.id, "expired", Some(Duration::from_secs(3600)))
        .await
        .expect("issue");
    let tokens = LocalTokens::new(
        Arc::clone(&ports.tokens),
        Arc::new(SystemClock),
        Arc::new(RandomIds),
    );
    tokens
        .issue_personal(alice.id, "kept", None)
        .await
        .expect("issue");

    let housekeeping = Housekeeping {
        outbox: Arc::clone(&ports.outbox),
        tokens: tokens.clone(),
        keep_sent: Duration::from_secs(3600),
    };
    assert_eq!(
        housekeeping.once().await,
        (0, 1),
        "nothing was sent an hour ago; the expired token goes"
    );
    moclojer_testkit::past_this_millisecond().await;
    let housekeeping = Housekeeping {
        keep_sent: Duration::ZERO,
        ..housekeeping
    };
    assert_eq!(housekeeping.once().await, (2, 0), "the two sent events go");
    assert_eq!(
        ports.outbox.pending(10).await.expect("pending").len(),
        1,
        "the pending event stays"
    );
    let left = tokens.list_personal(alice.id).await.expect("tokens");
    assert_eq!(
        left.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
        ["kept"]
    );
}
