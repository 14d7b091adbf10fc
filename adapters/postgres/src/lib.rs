//! PostgreSQL repositories, outbox and token store for moclojer cloud: the database the
//! hosted services share.
//!
//! [`PostgresDatabase`] holds one sqlx connection pool and implements the storage ports of
//! `moclojer-ports` — [`AccountRepository`], [`MockRepository`], [`PublicationRepository`],
//! [`Outbox`], [`TokenStore`] and [`LeaseStore`] — on one PostgreSQL database. It behaves
//! as `moclojer-sqlite` does (same checks, same error kinds, same orderings) and passes the
//! same contract suites. Every write that records events inserts them into the `outbox`
//! table in the same transaction as the change, so a change and its events are committed
//! together or not at all.
//!
//! Many processes may use the database at once, so where the SQLite adapter relies on its
//! single writer, this one relies on PostgreSQL: writes run at READ COMMITTED; uniqueness
//! is guarded by unique indexes (a violation is a `Conflict`); optimistic checks (a mock's
//! revision, a publication's version) sit in the `UPDATE`'s `WHERE`; read-then-write steps
//! lock their row (`FOR UPDATE`); reads of several tables share one snapshot. Relays claim
//! outbox rows with `FOR UPDATE SKIP LOCKED` and leases on the server's clock, so several
//! can run at once; named leases are judged by the server's clock too.
//!
//! [`PostgresDatabase::connect`] applies the embedded migrations (`migrations/*.sql`,
//! compiled into the binary, under a PostgreSQL advisory lock) unless told not to. Queries
//! are checked at run time, so building needs no database. TLS, when the URL asks for it,
//! is rustls with *ring*; there is no OpenSSL.
//!
//! Errors are [`PortError`]s: a server that cannot be reached is `Unavailable` (after at
//! most [`PostgresConfig::acquire_timeout`]), a cancelled statement `Timeout`; the mapping
//! is in `src/error.rs`. The connection URL may carry a password: it is never logged nor
//! put in an error message, and [`PostgresConfig`]'s `Debug` form leaves it out.
//!
//! This crate is *not* a general SQL layer: its schema and rows are private, callers see
//! only domain types and [`PortError`]s. It does not create databases or roles, and it
//! knows nothing about the event queue, HTTP or the apps that use it.
//!
//! [`AccountRepository`]: moclojer_ports::AccountRepository
//! [`MockRepository`]: moclojer_ports::MockRepository
//! [`PublicationRepository`]: moclojer_ports::PublicationRepository
//! [`Outbox`]: moclojer_ports::Outbox
//! [`TokenStore`]: moclojer_ports::TokenStore
//! [`LeaseStore`]: moclojer_ports::LeaseStore
//! [`PortError`]: moclojer_ports::PortError

mod accounts;
mod database;
mod error;
mod lease;
mod mocks;
mod model;
mod outbox;
mod publications;
mod tokens;

pub use database::{PostgresConfig, PostgresDatabase};
