//! The transactional outbox: events recorded with the change that caused them, waiting to
//! be relayed to the event queue.

use std::fmt::Debug;
use std::time::Duration;

use async_trait::async_trait;
use moclojer_domain::Event;

use crate::PortResult;

/// An event waiting in the outbox, with its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    /// Increasing in the order events were recorded.
    pub seq: u64,
    /// The event.
    pub event: Event,
}

/// The outbox of a database. Repository writes append to it in their own transaction; a
/// relay reads what is pending, publishes it, and marks it sent.
#[async_trait]
pub trait Outbox: Debug + Send + Sync + 'static {
    /// Records `events` that are not tied to a repository write (e.g. `config.published`).
    async fn append(&self, events: &[Event]) -> PortResult<()>;

    /// Up to `limit` events not yet marked sent, oldest first, claimed or not (for
    /// inspection and monitoring; relays use [`Self::claim`]).
    async fn pending(&self, limit: usize) -> PortResult<Vec<OutboxEntry>>;

    /// Claims up to `limit` pending events for `relay`, oldest first, skipping those
    /// another relay claimed less than `lease` ago; the claim lasts `lease`. Several relays
    /// can run at once without publishing the same event twice while their claims hold; a
    /// relay that dies leaves its claims to expire, and another takes them over.
    /// Claiming again as the same relay renews its own claims.
    ///
    /// # Errors
    /// `Invalid` for an empty relay name or a zero `limit`.
    async fn claim(
        &self,
        relay: &str,
        limit: usize,
        lease: Duration,
    ) -> PortResult<Vec<OutboxEntry>>;

    /// Marks entries as sent; they are no longer pending. Unknown or already sent
    /// positions are ignored, so a relay that retries is harmless.
    async fn mark_sent(&self, seqs: &[u64]) -> PortResult<()>;

    /// Deletes the entries sent more than `older_than` ago; returns how many. Pending
    /// entries are never deleted. An outbox that forgets entries as soon as they are sent
    /// (the in-memory one) has none to delete.
    async fn purge_sent(&self, older_than: Duration) -> PortResult<u64>;
}
