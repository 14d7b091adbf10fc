//! The `EventQueue` contract.

use std::sync::Arc;
use std::time::Duration;

use moclojer_domain::{Event, EventKind};
use moclojer_ports::{
    Delivery, EventQueue, IdGenerator, MessageId, PortErrorKind::*, QueueSettings, RandomIds,
};

use crate::{Fixture, expect_kind, unique_suffix};

/// The settings a queue under test must be built with: quick redelivery, three attempts.
pub const CONTRACT_QUEUE_SETTINGS: QueueSettings = QueueSettings {
    redeliver_after: Duration::from_millis(300),
    max_deliveries: 3,
};

const WAIT: Duration = Duration::from_secs(5);

fn kinds(fx: &Fixture, n: usize) -> Vec<Event> {
    (0..n)
        .map(|_| {
            fx.event(EventKind::PublicationChanged {
                mock_id: RandomIds.mock_id(),
            })
        })
        .collect()
}

/// Runs every rule of `EventQueue` against `queue`, which must have been built with
/// [`CONTRACT_QUEUE_SETTINGS`]. Group names are unique to the run.
///
/// # Panics
/// At the first rule the implementation breaks.
pub async fn event_queue_contract(queue: Arc<dyn EventQueue>) {
    let fx = Fixture::new();
    let suffix = unique_suffix();
    let g1 = format!("generator-{suffix}");
    let g2 = format!("ops-{suffix}");

    groups_are_created_and_bad_names_refused(&queue, &suffix, &g1, &g2).await;
    let (events, got) = every_group_gets_every_event_in_order(&fx, &queue, &g1, &g2).await;
    acked_messages_are_done_and_an_unacked_one_comes_back(&queue, &g1, &events, &got).await;
    a_waiting_receive_gets_a_new_event(&fx, &queue, &g1).await;
    a_poison_message_ends_in_the_dead_letters(&fx, &queue, &g1, &g2).await;
}

/// Unknown groups are not found; bad group and consumer names, and receiving zero
/// messages, are invalid; the groups `g1` and `g2` are created.
async fn groups_are_created_and_bad_names_refused(
    queue: &Arc<dyn EventQueue>,
    suffix: &str,
    g1: &str,
    g2: &str,
) {
    expect_kind(
        queue
            .receive(&format!("nobody-{suffix}"), "c1", 1, Duration::ZERO)
            .await,
        NotFound,
        "receiving from an unknown group",
    );
    expect_kind(
        queue.ack(&format!("nobody-{suffix}"), &[]).await,
        NotFound,
        "acking in an unknown group",
    );
    expect_kind(
        queue.dead_letters(&format!("nobody-{suffix}")).await,
        NotFound,
        "dead letters of an unknown group",
    );
    expect_kind(
        queue.ensure_group("Bad Name").await,
        Invalid,
        "a bad group name",
    );
    queue.ensure_group(g1).await.expect("create a group");
    queue.ensure_group(g2).await.expect("create a second group");
    expect_kind(
        queue.receive(g1, "bad consumer", 1, Duration::ZERO).await,
        Invalid,
        "a bad consumer name",
    );
    expect_kind(
        queue.receive(g1, "c1", 0, Duration::ZERO).await,
        Invalid,
        "receiving zero messages",
    );
}

/// Published events fan out to every group, in order, as first attempts (creating an
/// existing group changes nothing); `g2` acks its copies. The events, and `g1`'s
/// deliveries of them, still unacked.
async fn every_group_gets_every_event_in_order(
    fx: &Fixture,
    queue: &Arc<dyn EventQueue>,
    g1: &str,
    g2: &str,
) -> (Vec<Event>, Vec<Delivery>) {
    let events = kinds(fx, 3);
    for event in &events {
        queue.publish(event).await.expect("publish");
    }
    queue
        .ensure_group(g1)
        .await
        .expect("creating an existing group changes nothing");
    let got = receive_n(queue, g1, "c1", 3).await;
    assert_eq!(
        got.iter().map(|d| &d.event).collect::<Vec<_>>(),
        events.iter().collect::<Vec<_>>(),
        "a group gets every event in order"
    );
    assert!(
        got.iter().all(|d| d.attempt == 1),
        "first deliveries are attempt 1"
    );
    let other = receive_n(queue, g2, "c1", 3).await;
    assert_eq!(
        other.iter().map(|d| &d.event).collect::<Vec<_>>(),
        events.iter().collect::<Vec<_>>(),
        "every group gets every event"
    );
    ack(queue, g2, &other).await;
    (events, got)
}

/// Of `got` (the deliveries of `events` in `g1`), the acked ones are done; the unacked
/// one comes back after its time, to another consumer, as a second attempt; acking
/// twice is harmless.
async fn acked_messages_are_done_and_an_unacked_one_comes_back(
    queue: &Arc<dyn EventQueue>,
    g1: &str,
    events: &[Event],
    got: &[Delivery],
) {
    ack(queue, g1, &got[..2]).await;
    let nothing_yet = queue
        .receive(g1, "c2", 10, Duration::from_millis(50))
        .await
        .expect("receive");
    assert!(
        nothing_yet.is_empty(),
        "nothing is redelivered before its time: {nothing_yet:?}"
    );
    let again = queue.receive(g1, "c2", 10, WAIT).await.expect("receive");
    assert_eq!(
        again.len(),
        1,
        "only the unacked message comes back: {again:?}"
    );
    assert_eq!(
        again[0].event, events[2],
        "the unacked message is redelivered"
    );
    assert_eq!(again[0].attempt, 2, "a redelivery counts its attempt");
    ack(queue, g1, &again).await;
    let done = queue
        .receive(g1, "c1", 10, Duration::from_millis(600))
        .await
        .expect("receive");
    assert!(done.is_empty(), "acked messages never come back: {done:?}");
    queue
        .ack(g1, &again.iter().map(|d| d.id.clone()).collect::<Vec<_>>())
        .await
        .expect("acking twice is harmless");
}

/// A receive waits for an event published while it waits, and gets it.
async fn a_waiting_receive_gets_a_new_event(fx: &Fixture, queue: &Arc<dyn EventQueue>, g1: &str) {
    let late = kinds(fx, 1).remove(0);
    let publisher = {
        let queue = Arc::clone(queue);
        let late = late.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            queue.publish(&late).await
        })
    };
    let waited = queue.receive(g1, "c1", 10, WAIT).await.expect("receive");
    publisher.await.expect("publisher task").expect("publish");
    assert_eq!(
        waited.iter().map(|d| &d.event).collect::<Vec<_>>(),
        vec![&late],
        "a waiting receive gets a new event"
    );
    ack(queue, g1, &waited).await;
}

/// A poison message is delivered max_deliveries times, then ends in `g1`'s dead letters
/// (not `g2`'s) and is not delivered again; later messages flow past it.
async fn a_poison_message_ends_in_the_dead_letters(
    fx: &Fixture,
    queue: &Arc<dyn EventQueue>,
    g1: &str,
    g2: &str,
) {
    let poison = kinds(fx, 1).remove(0);
    let poison_id = queue.publish(&poison).await.expect("publish");
    let mut attempts = Vec::new();
    let started = tokio::time::Instant::now();
    while started.elapsed() < Duration::from_secs(20) {
        let got = queue
            .receive(g1, "c1", 1, Duration::from_millis(500))
            .await
            .expect("receive");
        match got.first() {
            Some(d) if d.event == poison => attempts.push(d.attempt),
            Some(d) => panic!("unexpected delivery {d:?}"),
            None if attempts.len() as u32 >= CONTRACT_QUEUE_SETTINGS.max_deliveries => break,
            None => {}
        }
    }
    assert_eq!(
        attempts,
        [1, 2, 3],
        "a message is delivered max_deliveries times"
    );
    let after = kinds(fx, 1).remove(0);
    queue.publish(&after).await.expect("publish");
    let flowing = receive_n(queue, g1, "c1", 1).await;
    assert_eq!(
        flowing[0].event, after,
        "later messages flow past a poison one"
    );
    ack(queue, g1, &flowing).await;
    let dead = queue.dead_letters(g1).await.expect("dead letters");
    assert_eq!(
        dead.len(),
        1,
        "the poison message is a dead letter: {dead:?}"
    );
    assert_eq!(
        (&dead[0].id, &dead[0].event, dead[0].attempts),
        (&poison_id, &poison, 3)
    );
    assert!(
        queue
            .dead_letters(g2)
            .await
            .expect("dead letters")
            .is_empty(),
        "dead letters are per group"
    );
    let none = queue
        .receive(g1, "c1", 10, Duration::from_millis(500))
        .await
        .expect("receive");
    assert!(
        none.is_empty(),
        "a dead letter is not delivered again: {none:?}"
    );
}

async fn receive_n(
    queue: &Arc<dyn EventQueue>,
    group: &str,
    consumer: &str,
    n: usize,
) -> Vec<Delivery> {
    let mut got = Vec::new();
    let started = tokio::time::Instant::now();
    while got.len() < n && started.elapsed() < WAIT {
        got.extend(
            queue
                .receive(group, consumer, n - got.len(), WAIT)
                .await
                .expect("receive"),
        );
    }
    assert_eq!(
        got.len(),
        n,
        "expected {n} deliveries in {group}, got {got:?}"
    );
    got
}

async fn ack(queue: &Arc<dyn EventQueue>, group: &str, deliveries: &[Delivery]) {
    let ids: Vec<MessageId> = deliveries.iter().map(|d| d.id.clone()).collect();
    queue.ack(group, &ids).await.expect("ack");
}

/// The default settings are sane: redelivery after a minute, five attempts.
#[cfg(test)]
mod tests {
    #[test]
    fn defaults() {
        let settings = moclojer_ports::QueueSettings::default();
        assert_eq!(settings.max_deliveries, 5);
        assert!(settings.redeliver_after > super::CONTRACT_QUEUE_SETTINGS.redeliver_after);
    }
}
