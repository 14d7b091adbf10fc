//! The outbox relay over the memory adapters: order, nothing lost while the queue is down,
//! and two relays never publishing the same event while their claims hold.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use moclojer_domain::{Event, EventKind};
use moclojer_memory::{InMemoryDatabase, InMemoryEventQueue};
use moclojer_ports::{
    DeadLetter, Delivery, EventQueue, IdGenerator, MessageId, Outbox, PortError, PortResult,
    RandomIds, Relay, RelaySettings,
};
use moclojer_testkit::Fixture;

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

async fn drain(queue: &dyn EventQueue, group: &str) -> Vec<Event> {
    let mut got = Vec::new();
    loop {
        let batch = queue
            .receive(group, "c", 100, Duration::from_millis(50))
            .await
            .expect("receive");
        if batch.is_empty() {
            return got;
        }
        let ids: Vec<MessageId> = batch.iter().map(|d| d.id.clone()).collect();
        queue.ack(group, &ids).await.expect("ack");
        got.extend(batch.into_iter().map(|d| d.event));
    }
}

#[tokio::test]
async fn a_relay_moves_every_event_in_order() {
    let db = InMemoryDatabase::new();
    let queue = InMemoryEventQueue::default();
    queue.ensure_group("g").await.expect("group");
    let sent = events(250);
    db.append(&sent).await.expect("append");
    let relay = Relay::new(
        Arc::new(db.clone()),
        Arc::new(queue.clone()),
        RelaySettings::named("r1"),
    );
    let mut moved = 0;
    while let n @ 1.. = relay.step().await.expect("step") {
        moved += n;
    }
    assert_eq!(moved, 250);
    assert_eq!(drain(&queue, "g").await, sent, "in order, each once");
    assert!(
        db.pending(10).await.expect("pending").is_empty(),
        "the outbox is empty"
    );
}

/// A queue that refuses publishes while `down`, and counts what it accepted.
#[derive(Debug)]
struct Flaky {
    inner: InMemoryEventQueue,
    down: AtomicBool,
    accepted: AtomicUsize,
}

#[async_trait]
impl EventQueue for Flaky {
    async fn publish(&self, event: &Event) -> PortResult<MessageId> {
        if self.down.load(Ordering::SeqCst) {
            return Err(PortError::unavailable("the queue is down"));
        }
        // Go down after every 7th accepted event, to cut batches in the middle.
        if self.accepted.fetch_add(1, Ordering::SeqCst) % 7 == 6 {
            self.down.store(true, Ordering::SeqCst);
        }
        self.inner.publish(event).await
    }
    async fn ensure_group(&self, group: &str) -> PortResult<()> {
        self.inner.ensure_group(group).await
    }
    async fn receive(
        &self,
        group: &str,
        consumer: &str,
        max: usize,
        wait: Duration,
    ) -> PortResult<Vec<Delivery>> {
        self.inner.receive(group, consumer, max, wait).await
    }
    async fn ack(&self, group: &str, ids: &[MessageId]) -> PortResult<()> {
        self.inner.ack(group, ids).await
    }
    async fn dead_letters(&self, group: &str) -> PortResult<Vec<DeadLetter>> {
        self.inner.dead_letters(group).await
    }
}

#[tokio::test]
async fn nothing_is_lost_while_the_queue_is_down() {
    let db = InMemoryDatabase::new();
    let flaky = Arc::new(Flaky {
        inner: InMemoryEventQueue::default(),
        down: AtomicBool::new(false),
        accepted: AtomicUsize::new(0),
    });
    flaky.ensure_group("g").await.expect("group");
    let sent = events(60);
    db.append(&sent).await.expect("append");
    let relay = Relay::new(
        Arc::new(db.clone()),
        flaky.clone(),
        RelaySettings::named("r1"),
    );
    let mut failures = 0;
    for _ in 0..100 {
        match relay.step().await {
            Ok(0) => break,
            Ok(_) => {}
            Err(_) => {
                failures += 1;
                flaky.down.store(false, Ordering::SeqCst); // the queue comes back
            }
        }
    }
    assert!(failures >= 8, "the queue went down repeatedly ({failures})");
    assert_eq!(
        drain(&flaky.inner, "g").await,
        sent,
        "every event arrived once, in order, despite the failures"
    );
    assert!(db.pending(10).await.expect("pending").is_empty());
}

#[tokio::test]
async fn two_relays_publish_each_event_once() {
    let db = InMemoryDatabase::new();
    let queue = InMemoryEventQueue::default();
    queue.ensure_group("g").await.expect("group");
    let sent = events(500);
    db.append(&sent).await.expect("append");
    let mut tasks = Vec::new();
    for name in ["r1", "r2"] {
        let settings = RelaySettings {
            batch: 7,
            ..RelaySettings::named(name)
        };
        let relay = Relay::new(Arc::new(db.clone()), Arc::new(queue.clone()), settings);
        tasks.push(tokio::spawn(async move {
            let mut moved = 0;
            while let n @ 1.. = relay.step().await.expect("step") {
                moved += n;
                tokio::task::yield_now().await;
            }
            moved
        }));
    }
    let mut total = 0;
    for task in tasks {
        total += task.await.expect("relay task");
    }
    let got = drain(&queue, "g").await;
    let unique: HashSet<_> = got.iter().map(|e| e.id).collect();
    assert_eq!(
        (total, got.len(), unique.len()),
        (500, 500, 500),
        "each event published exactly once"
    );
}
