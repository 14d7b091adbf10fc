//! In-memory implementations of every moclojer port.
//!
//! These are real implementations, not test doubles: the mock server and local development
//! run on them, and they pass the same contract suites (`moclojer-testkit`) as the
//! PostgreSQL, SQLite, Redis, S3 and file-system adapters. What they deliberately are not:
//! durable. Everything is gone when the process ends.
//!
//! - [`InMemoryDatabase`]: accounts, mocks, publications, the outbox and the service's own
//!   tokens, behind one lock so that a change and its events are recorded together. Its
//!   [`TokenStore`] keeps SHA-256 digests only; the local identity is
//!   [`LocalTokens`] over it. It is also a [`LeaseStore`], on the clock it was made with;
//! - [`InMemoryEventQueue`]: consumer groups with acknowledgement, redelivery and dead
//!   letters;
//! - [`InMemoryMockState`]: what stateful mocks remember (sequences, scenarios, resource
//!   records), per host;
//! - [`InMemoryObjectStore`], [`InMemoryDns`], [`InMemoryPaas`].
//!
//! [`TokenStore`]: moclojer_ports::TokenStore
//! [`LocalTokens`]: moclojer_ports::LocalTokens
//! [`LeaseStore`]: moclojer_ports::LeaseStore

mod database;
mod dns;
mod journal;
mod object_store;
mod queue;
mod state;

pub use database::InMemoryDatabase;
pub use dns::{InMemoryDns, InMemoryPaas};
pub use journal::{InMemoryJournal, MAX_JOURNAL_HOSTS};
pub use object_store::InMemoryObjectStore;
pub use queue::InMemoryEventQueue;
pub use state::InMemoryMockState;

/// Locks a mutex, recovering from poisoning: every critical section here leaves the state
/// consistent before it can panic, so the data behind a poisoned lock is still good.
fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
