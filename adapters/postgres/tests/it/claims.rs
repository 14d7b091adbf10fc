//! Relays claiming outbox rows at once: no position is handed to two relays while their
//! leases hold; a dead relay's claims expire and are taken over.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use moclojer_domain::{Event, EventKind};
use moclojer_ports::{IdGenerator, Outbox, PortErrorKind, RandomIds};
use moclojer_testkit::Fixture;
use tokio::sync::Barrier;

use crate::helpers::{PATIENCE, TestDb, kind};

const RELAYS: usize = 4;
const EVENTS: usize = 500;
const LONG_LEASE: Duration = Duration::from_secs(600);

fn events(n: usize) -> Vec<Event> {
    let fx = Fixture::new();
    (0..n)
        .map(|_| {
            fx.event(EventKind::PublicationChanged {
                mock_id: RandomIds.mock_id(),
            })
        })
        .collect()
}

async fn seqs_pending(db: &impl Outbox) -> BTreeSet<u64> {
    db.pending(usize::MAX)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.seq)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn four_relays_claiming_at_once_never_share_a_position() {
    let Some(pg) = TestDb::create().await else {
        return;
    };
    let db = moclojer_postgres::PostgresDatabase::connect(&moclojer_postgres::PostgresConfig {
        max_connections: 8,
        ..pg.config()
    })
    .await
    .unwrap();
    let sent = events(EVENTS);
    db.append(&sent).await.unwrap();
    let all = seqs_pending(&db).await;
    assert_eq!(all.len(), EVENTS);

    // Round 1: each relay claims once, all at the same moment, without marking anything
    // sent. Their claims must be disjoint and, as 4 × 150 > 500, cover everything.
    let barrier = Arc::new(Barrier::new(RELAYS));
    let tasks: Vec<_> = (0..RELAYS)
        .map(|r| {
            let db = db.clone();
            let barrier = Arc::clone(&barrier);
            tokio::spawn(async move {
                barrier.wait().await;
                db.claim(&format!("relay-{r}"), 150, LONG_LEASE).await
            })
        })
        .collect();
    let mut owner: BTreeMap<u64, usize> = BTreeMap::new();
    for (r, task) in tasks.into_iter().enumerate() {
        let claimed = tokio::time::timeout(PATIENCE, task)
            .await
            .expect("a claim never waits for another relay")
            .unwrap()
            .unwrap();
        assert!(
            claimed.windows(2).all(|w| w[0].seq < w[1].seq),
            "a claim is oldest first"
        );
        for entry in claimed {
            if let Some(other) = owner.insert(entry.seq, r) {
                panic!("seq {} handed to relay {other} and relay {r}", entry.seq);
            }
        }
    }
    assert_eq!(owner.keys().copied().collect::<BTreeSet<_>>(), all);
    // While the leases hold, nobody else gets anything; each relay gets its own back.
    assert!(
        db.claim("latecomer", 1000, LONG_LEASE)
            .await
            .unwrap()
            .is_empty()
    );
    for r in 0..RELAYS {
        let again: BTreeSet<u64> = db
            .claim(&format!("relay-{r}"), 1000, LONG_LEASE)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.seq)
            .collect();
        let mine: BTreeSet<u64> = owner
            .iter()
            .filter(|(_, o)| **o == r)
            .map(|(s, _)| *s)
            .collect();
        assert_eq!(again, mine, "relay-{r} renews exactly its own claims");
    }
    db.mark_sent(&all.iter().copied().collect::<Vec<_>>())
        .await
        .unwrap();
    assert!(db.pending(10).await.unwrap().is_empty());

    // Round 2: relays loop claim → "publish" → mark sent over 500 new events, in small
    // batches; every position is handed out exactly once overall.
    let second = events(EVENTS);
    db.append(&second).await.unwrap();
    let all = seqs_pending(&db).await;
    let barrier = Arc::new(Barrier::new(RELAYS));
    let tasks: Vec<_> = (0..RELAYS)
        .map(|r| {
            let db = db.clone();
            let barrier = Arc::clone(&barrier);
            tokio::spawn(async move {
                barrier.wait().await;
                let mut handed = Vec::new();
                loop {
                    let batch = db
                        .claim(&format!("relay-{r}"), 7, LONG_LEASE)
                        .await
                        .unwrap();
                    if batch.is_empty() {
                        return handed;
                    }
                    let seqs: Vec<u64> = batch.iter().map(|e| e.seq).collect();
                    tokio::task::yield_now().await;
                    db.mark_sent(&seqs).await.unwrap();
                    handed.extend(seqs);
                }
            })
        })
        .collect();
    let mut handed_out = Vec::new();
    let mut per_relay = Vec::new();
    for task in tasks {
        let handed = tokio::time::timeout(PATIENCE, task)
            .await
            .expect("relays finish")
            .unwrap();
        per_relay.push(handed.len());
        handed_out.extend(handed);
    }
    let distinct: BTreeSet<u64> = handed_out.iter().copied().collect();
    assert_eq!(
        handed_out.len(),
        distinct.len(),
        "no position was handed out twice"
    );
    assert_eq!(distinct, all, "every position was handed out");
    assert!(db.pending(10).await.unwrap().is_empty());
    assert_eq!(per_relay.iter().sum::<usize>(), EVENTS);
    assert!(
        per_relay.iter().filter(|n| **n > 0).count() >= 2,
        "the relays shared the work: {per_relay:?}"
    );
}

#[tokio::test]
async fn a_dead_relays_claims_expire_and_are_taken_over() {
    let Some(pg) = TestDb::create().await else {
        return;
    };
    let db = pg.connect().await;
    let sent = events(10);
    db.append(&sent).await.unwrap();

    let dead = db
        .claim("dead", 4, Duration::from_millis(400))
        .await
        .unwrap();
    assert_eq!(
        dead.iter().map(|e| &e.event).collect::<Vec<_>>(),
        sent[..4].iter().collect::<Vec<_>>(),
        "oldest first, events intact"
    );
    // another relay gets the rest, not the dead relay's
    let live = db.claim("live", 100, LONG_LEASE).await.unwrap();
    assert_eq!(
        live.iter().map(|e| &e.event).collect::<Vec<_>>(),
        sent[4..].iter().collect::<Vec<_>>()
    );
    // pending lists everything, claimed or not
    assert_eq!(db.pending(100).await.unwrap().len(), 10);
    db.mark_sent(&live.iter().map(|e| e.seq).collect::<Vec<_>>())
        .await
        .unwrap();
    assert!(db.claim("live", 100, LONG_LEASE).await.unwrap().is_empty());

    // after the lease, the dead relay's events go to the live one
    tokio::time::sleep(Duration::from_millis(600)).await;
    let taken = db.claim("live", 100, LONG_LEASE).await.unwrap();
    assert_eq!(taken, dead);
    // and the dead relay, back, no longer gets them
    assert!(db.claim("dead", 100, LONG_LEASE).await.unwrap().is_empty());

    // a zero lease expires at once: anyone may take the events again
    db.append(&events(1)).await.unwrap();
    let zero = db.claim("brief", 10, Duration::ZERO).await.unwrap();
    assert_eq!(zero.len(), 1);
    let again = db.claim("other", 10, Duration::ZERO).await.unwrap();
    assert_eq!(again, zero);
    // an absurd lease is cut, not an error
    db.claim("forever", 10, Duration::MAX).await.unwrap();
}

#[tokio::test]
async fn bad_claims_are_invalid() {
    let Some(pg) = TestDb::create().await else {
        return;
    };
    let db = pg.connect().await;
    db.append(&events(1)).await.unwrap();
    assert_eq!(
        kind(db.claim("", 10, LONG_LEASE).await),
        PortErrorKind::Invalid
    );
    assert_eq!(
        kind(db.claim("r", 0, LONG_LEASE).await),
        PortErrorKind::Invalid
    );
    assert_eq!(db.claim("r", 10, LONG_LEASE).await.unwrap().len(), 1);
}

#[tokio::test]
async fn payloads_are_stored_as_json_with_server_timestamps() {
    let Some(pg) = TestDb::create().await else {
        return;
    };
    let db = pg.connect().await;
    let sent = events(2);
    db.append(&sent).await.unwrap();
    db.claim("r1", 1, LONG_LEASE).await.unwrap();
    let pool = pg.raw().await;
    let rows: Vec<(String, Option<String>, bool)> = sqlx::query_as(
        "SELECT payload->>'type', claimed_by, claimed_until > now() + interval '500 seconds'
         FROM outbox ORDER BY seq",
    )
    .fetch_all(&pool)
    .await
    .unwrap()
    .into_iter()
    .map(
        |(kind, by, until): (String, Option<String>, Option<bool>)| {
            (kind, by, until.unwrap_or(false))
        },
    )
    .collect();
    assert_eq!(
        rows,
        [
            (
                "publication.changed".to_owned(),
                Some("r1".to_owned()),
                true
            ),
            ("publication.changed".to_owned(), None, false),
        ]
    );
    pool.close().await;
}
