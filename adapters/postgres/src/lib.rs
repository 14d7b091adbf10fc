//! PostgreSQL repositories, outbox and token store for moclojer cloud: the database the
//! hosted services share.
//!
//! [`PostgresDatabase`] is `moclojer-sql`'s [`SqlDatabase`] on [`PostgresBackend`]: it
//! implements the storage ports of `moclojer-ports` — [`AccountRepository`],
//! [`MockRepository`], [`PublicationRepository`], [`Outbox`], [`TokenStore`] and
//! [`LeaseStore`] — on one PostgreSQL database, with the rows, queries and repository
//! logic `moclojer-sql` shares with the SQLite adapter, so it behaves as `moclojer-sqlite`
//! does (same checks, same error kinds, same orderings) and passes the same contract
//! suites. Every write that records events inserts them into the `outbox` table in the
//! same transaction as the change, so a change and its events are committed together or
//! not at all.
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
//! most [`PostgresConfig::acquire_timeout`]), a cancelled statement `Timeout`; what the
//! server's SQLSTATE codes mean is in `src/error.rs`. The connection URL may carry a
//! password: it is never logged nor put in an error message, and [`PostgresConfig`]'s
//! `Debug` form leaves it out.
//!
//! This crate is *not* a general SQL layer: its schema and rows are private, callers see
//! only domain types and [`PortError`]s. It does not create databases or roles, and it
//! knows nothing about the event queue, HTTP or the apps that use it.
//!
//! [`SqlDatabase`]: moclojer_sql::SqlDatabase
//! [`AccountRepository`]: moclojer_ports::AccountRepository
//! [`MockRepository`]: moclojer_ports::MockRepository
//! [`PublicationRepository`]: moclojer_ports::PublicationRepository
//! [`Outbox`]: moclojer_ports::Outbox
//! [`TokenStore`]: moclojer_ports::TokenStore
//! [`LeaseStore`]: moclojer_ports::LeaseStore
//! [`PortError`]: moclojer_ports::PortError

mod backend;
mod database;
mod error;

pub use database::{PostgresBackend, PostgresConfig};

/// moclojer cloud's data in one PostgreSQL database: accounts, mocks with their history,
/// publications, the outbox, the service's own tokens and named leases. Cloning is cheap
/// and shares the connection pool.
///
/// [`PostgresDatabase::connect`] connects and, unless [`PostgresConfig::migrate`] is off,
/// brings the schema up to date; several processes may do this at once (migrations take
/// a PostgreSQL advisory lock). It fails with `Invalid` when the URL is malformed, the
/// server refuses the credentials or the database does not exist; `Unavailable` when the
/// server cannot be reached within [`PostgresConfig::acquire_timeout`]; `Internal` when
/// the schema was migrated by a newer version of this crate, or the migration fails for
/// another reason. [`PostgresDatabase::migrate`] migrates on demand.
pub type PostgresDatabase = moclojer_sql::SqlDatabase<PostgresBackend>;
