//! An in-process event queue with consumer groups, acknowledgement, redelivery and dead
//! letters: the same semantics as the Redis Streams adapter.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use moclojer_domain::Event;
use moclojer_ports::{
    DeadLetter, Delivery, EventQueue, MessageId, PortError, PortResult, QueueSettings,
    check_group_name,
};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::lock;

#[derive(Debug)]
struct Pending {
    delivered_at: Instant,
    attempts: u32,
}

#[derive(Debug)]
struct Group {
    /// The first sequence number this group has not been handed yet.
    next: u64,
    pending: BTreeMap<u64, Pending>,
    dead: Vec<DeadLetter>,
}

#[derive(Debug, Default)]
struct State {
    messages: BTreeMap<u64, Event>,
    next_seq: u64,
    groups: BTreeMap<String, Group>,
}

/// An event queue in memory. Cloning shares the queue.
#[derive(Debug, Clone)]
pub struct InMemoryEventQueue {
    state: Arc<Mutex<State>>,
    published: Arc<Notify>,
    settings: QueueSettings,
}

impl Default for InMemoryEventQueue {
    fn default() -> Self {
        Self::new(QueueSettings::default())
    }
}

fn message_id(seq: u64) -> MessageId {
    MessageId(format!("mem-{seq}"))
}

fn parse_message_id(id: &MessageId) -> Option<u64> {
    id.0.strip_prefix("mem-")?.parse().ok()
}

impl State {
    /// Drops messages no group can be handed again, so memory is bounded by the backlog.
    fn compact(&mut self) {
        let low = self
            .groups
            .values()
            .map(|g| {
                g.pending
                    .keys()
                    .next()
                    .copied()
                    .unwrap_or(g.next)
                    .min(g.next)
            })
            .min()
            .unwrap_or(self.next_seq + 1);
        self.messages = self.messages.split_off(&low);
    }
}

impl InMemoryEventQueue {
    /// An empty queue redelivering as `settings` says.
    pub fn new(settings: QueueSettings) -> Self {
        Self {
            state: Arc::default(),
            published: Arc::default(),
            settings,
        }
    }

    /// Hands out what is due now, without waiting.
    fn take(&self, group: &str, max: usize) -> PortResult<Vec<Delivery>> {
        let mut guard = lock(&self.state);
        let state = &mut *guard;
        let entry = state
            .groups
            .get_mut(group)
            .ok_or_else(|| PortError::not_found(format!("no consumer group {group:?}")))?;
        let now = Instant::now();
        let mut out = Vec::new();

        // Redeliveries first: messages not acked in time.
        let due: Vec<u64> = entry
            .pending
            .iter()
            .filter(|(_, p)| now.duration_since(p.delivered_at) >= self.settings.redeliver_after)
            .map(|(seq, _)| *seq)
            .collect();
        for seq in due {
            if out.len() == max {
                break;
            }
            let Some(pending) = entry.pending.get_mut(&seq) else {
                continue;
            };
            let Some(event) = state.messages.get(&seq) else {
                entry.pending.remove(&seq);
                continue;
            };
            if pending.attempts >= self.settings.max_deliveries {
                let attempts = pending.attempts;
                entry.pending.remove(&seq);
                entry.dead.push(DeadLetter {
                    id: message_id(seq),
                    event: event.clone(),
                    attempts,
                });
                continue;
            }
            pending.attempts += 1;
            pending.delivered_at = now;
            out.push(Delivery {
                id: message_id(seq),
                event: event.clone(),
                attempt: pending.attempts,
            });
        }

        // Then new messages.
        while out.len() < max {
            let Some((&seq, event)) = state.messages.range(entry.next..).next() else {
                break;
            };
            entry.next = seq + 1;
            entry.pending.insert(
                seq,
                Pending {
                    delivered_at: now,
                    attempts: 1,
                },
            );
            out.push(Delivery {
                id: message_id(seq),
                event: event.clone(),
                attempt: 1,
            });
        }
        Ok(out)
    }
}

#[async_trait]
impl EventQueue for InMemoryEventQueue {
    async fn publish(&self, event: &Event) -> PortResult<MessageId> {
        let seq = {
            let mut state = lock(&self.state);
            state.next_seq += 1;
            let seq = state.next_seq;
            state.messages.insert(seq, event.clone());
            state.compact();
            seq
        };
        self.published.notify_waiters();
        Ok(message_id(seq))
    }

    async fn ensure_group(&self, group: &str) -> PortResult<()> {
        check_group_name(group)?;
        let mut state = lock(&self.state);
        let next = state.next_seq + 1;
        state
            .groups
            .entry(group.to_owned())
            .or_insert_with(|| Group {
                next,
                pending: BTreeMap::new(),
                dead: Vec::new(),
            });
        Ok(())
    }

    async fn receive(
        &self,
        group: &str,
        consumer: &str,
        max: usize,
        wait: Duration,
    ) -> PortResult<Vec<Delivery>> {
        check_group_name(group)?;
        check_group_name(consumer)?;
        if max == 0 {
            return Err(PortError::invalid("receive at least one message"));
        }
        let deadline = Instant::now() + wait;
        loop {
            // Register interest before looking, so a publish in between is not missed.
            let notified = self.published.notified();
            let found = self.take(group, max)?;
            if !found.is_empty() {
                return Ok(found);
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(found);
            }
            // Wake for a publish, or when the earliest pending message falls due.
            let next_due = {
                let state = lock(&self.state);
                state.groups.get(group).and_then(|g| {
                    g.pending
                        .values()
                        .map(|p| p.delivered_at + self.settings.redeliver_after)
                        .min()
                })
            };
            let until = next_due.map_or(deadline, |due| due.min(deadline)).max(now);
            // Either a publish or the deadline: look again either way.
            tokio::time::timeout_at(until, notified).await.ok();
        }
    }

    async fn ack(&self, group: &str, ids: &[MessageId]) -> PortResult<()> {
        let mut state = lock(&self.state);
        let entry = state
            .groups
            .get_mut(group)
            .ok_or_else(|| PortError::not_found(format!("no consumer group {group:?}")))?;
        for seq in ids.iter().filter_map(parse_message_id) {
            entry.pending.remove(&seq);
        }
        state.compact();
        Ok(())
    }

    async fn dead_letters(&self, group: &str) -> PortResult<Vec<DeadLetter>> {
        let state = lock(&self.state);
        state
            .groups
            .get(group)
            .map(|g| g.dead.clone())
            .ok_or_else(|| PortError::not_found(format!("no consumer group {group:?}")))
    }
}
