//! The event queue: at-least-once delivery to consumer groups.

use std::fmt::{self, Debug};
use std::time::Duration;

use async_trait::async_trait;
use moclojer_domain::Event;

use crate::{PortError, PortResult};

/// A message's id in the queue.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageId(pub String);

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A message handed to a consumer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Ack with this id.
    pub id: MessageId,
    /// The event.
    pub event: Event,
    /// 1 on first delivery, one more on each redelivery.
    pub attempt: u32,
}

/// A message given up on after too many deliveries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// Its id in the queue.
    pub id: MessageId,
    /// The event.
    pub event: Event,
    /// How many times it was delivered.
    pub attempts: u32,
}

/// How a queue redelivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueSettings {
    /// A delivered message not acked for this long is handed out again.
    pub redeliver_after: Duration,
    /// A message delivered this many times without an ack goes to the dead letters
    /// instead of being delivered once more.
    pub max_deliveries: u32,
}

impl Default for QueueSettings {
    fn default() -> Self {
        Self {
            redeliver_after: Duration::from_secs(60),
            max_deliveries: 5,
        }
    }
}

/// Checks a consumer group or consumer name: 1 to 64 of `[a-z0-9_-]`.
///
/// # Errors
/// `Invalid` otherwise.
pub fn check_group_name(name: &str) -> PortResult<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(PortError::invalid(format!(
            "{name:?} is not a group or consumer name"
        )))
    }
}

/// Publish events; consume them in named groups with acknowledgement.
///
/// Each group receives every event published after the group was created (fan-out across
/// groups); within a group each event goes to one consumer at a time. Delivery is
/// at-least-once: a message not acked within `QueueSettings::redeliver_after` is handed out
/// again, to any consumer of the group, with `attempt` one higher, until it has been
/// delivered `max_deliveries` times; then it is moved to the group's dead letters.
#[async_trait]
pub trait EventQueue: Debug + Send + Sync + 'static {
    /// Appends `event` to the queue.
    ///
    /// # Errors
    /// `Unavailable` or `Timeout` when the queue cannot be reached.
    async fn publish(&self, event: &Event) -> PortResult<MessageId>;

    /// Creates `group` if it does not exist. Creating an existing group changes nothing.
    ///
    /// # Errors
    /// `Invalid` for a bad group name.
    async fn ensure_group(&self, group: &str) -> PortResult<()>;

    /// Up to `max` messages for `consumer` in `group`: first those due for redelivery, then
    /// new ones, waiting up to `wait` when there are none (an empty result is not an error).
    ///
    /// # Errors
    /// `NotFound` when the group does not exist; `Invalid` for a bad name or `max == 0`.
    async fn receive(
        &self,
        group: &str,
        consumer: &str,
        max: usize,
        wait: Duration,
    ) -> PortResult<Vec<Delivery>>;

    /// Acknowledges handled messages: they are never delivered to `group` again. Unknown
    /// or already acked ids are ignored.
    ///
    /// # Errors
    /// `NotFound` when the group does not exist.
    async fn ack(&self, group: &str, ids: &[MessageId]) -> PortResult<()>;

    /// The group's dead letters, oldest first.
    ///
    /// # Errors
    /// `NotFound` when the group does not exist.
    async fn dead_letters(&self, group: &str) -> PortResult<Vec<DeadLetter>>;
}
