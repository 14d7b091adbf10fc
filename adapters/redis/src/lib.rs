//! The moclojer event queue on Redis Streams: [`RedisEventQueue`], configured by
//! [`RedisConfig`]; and the request journal shared by a server's replicas:
//! [`RedisJournal`].
//!
//! One stream (default `moclojer:events`) holds the events as JSON, trimmed to about
//! `max_len` entries; each service reads it through its own consumer group, so every group
//! sees every event published after it was created, and within a group each event goes to
//! one consumer at a time. Delivery is at-least-once: a message not acknowledged within
//! `QueueSettings::redeliver_after` is reclaimed (`XAUTOCLAIM`) and handed out again with
//! its attempt number, until it has been delivered `max_deliveries` times; then it moves to
//! the group's dead-letter stream, `<stream>:dead:<group>`. The semantics are those of
//! `moclojer-memory`'s queue, and both keep the `EventQueue` contract of
//! `moclojer-testkit`.
//!
//! Blocking reads (`XREADGROUP … BLOCK`) hold their connection while they wait, so they
//! run on a small pool of connections of their own and never stall the other calls. Every
//! command has a timeout; while Redis is down calls fail at once with `Unavailable`, and
//! the connections come back by themselves when it returns.
//!
//! This crate is not a general Redis client, not a cache and not a source of truth: events
//! are hints (consumers rebuild from the database), so a trimmed, duplicated or lost event
//! costs a moment, never correctness. It needs Redis 6.2 or later (`XAUTOCLAIM`) and does
//! not speak TLS, Redis Cluster or Sentinel.
//!
//! [`RedisJournal`] keeps each host's request records in a stream of their own,
//! `moclojer:journal:{host}`, as JSON: trimmed to exactly `max_records` on every append and
//! expiring `max_age` after the last one, so every server on the same Redis lists the same
//! records. It keeps the `RequestJournal` contract of `moclojer-testkit`, like
//! `moclojer-memory`'s journal.
//!
//! [`RedisMockState`] keeps what stateful mocks remember (sequence positions, scenario
//! states, resource records), per host, in keys that share one hash tag; every call is one
//! Lua script, so replicas on the same Redis see one state and never half of a write. It
//! keeps the `MockState` contract of `moclojer-testkit`, like `moclojer-memory`'s.

mod config;
mod connect;
mod error;
mod journal;
mod queue;
mod reply;
mod single;
mod state;

pub use config::{
    DEFAULT_BLOCKING_CONNECTIONS, DEFAULT_COMMAND_TIMEOUT, DEFAULT_MAX_LEN, DEFAULT_STREAM,
    RedisConfig,
};
pub use journal::{DEFAULT_JOURNAL_PREFIX, RedisJournal};
pub use queue::RedisEventQueue;
pub use state::{DEFAULT_STATE_PREFIX, RedisMockState};
