//! SQLite repositories, outbox and token store for moclojer cloud: the embedded default
//! database.
//!
//! [`SqliteDatabase`] is `moclojer-sql`'s [`SqlDatabase`] on [`SqliteBackend`]: it
//! implements the storage ports of `moclojer-ports` — [`AccountRepository`],
//! [`MockRepository`], [`PublicationRepository`], [`Outbox`], [`TokenStore`] and
//! [`LeaseStore`] — on a single SQLite file, with the rows, queries and repository logic
//! `moclojer-sql` shares with the PostgreSQL adapter. Every write that records events
//! inserts them into the `outbox` table in the same transaction as the change, so a change
//! and its events are committed together or not at all. Tokens are kept as SHA-256 digests
//! only.
//!
//! What is SQLite's own lives here: [`SqliteDatabase::connect`] applies the embedded
//! migrations (`migrations/*.sql`, compiled into the binary) and sets WAL mode,
//! `foreign_keys = ON` and a busy timeout; writes take the database's write lock at once
//! (`BEGIN IMMEDIATE`), which is what keeps their reads true until they write; outbox
//! claims and named leases are judged by this process's clock; result codes are mapped to
//! port errors in `src/error.rs`. Queries are checked at run time, so building needs no
//! database.
//!
//! [`SqliteJournal`] keeps the all-in-one server's [`RequestJournal`] in the same file: one
//! JSON row per request, each host pruned to its retention as records are appended.
//!
//! This crate is *not* a general SQL layer: its schema and rows are private, callers see
//! only domain types and [`PortError`]s. It is not the Postgres adapter either, and it knows
//! nothing about the event queue, HTTP or the apps that use it.
//!
//! [`SqlDatabase`]: moclojer_sql::SqlDatabase
//! [`AccountRepository`]: moclojer_ports::AccountRepository
//! [`MockRepository`]: moclojer_ports::MockRepository
//! [`PublicationRepository`]: moclojer_ports::PublicationRepository
//! [`Outbox`]: moclojer_ports::Outbox
//! [`TokenStore`]: moclojer_ports::TokenStore
//! [`LeaseStore`]: moclojer_ports::LeaseStore
//! [`RequestJournal`]: moclojer_ports::RequestJournal
//! [`PortError`]: moclojer_ports::PortError

mod backend;
mod database;
mod error;
mod journal;

pub use database::{SqliteBackend, SqliteConfig};
pub use journal::SqliteJournal;

/// moclojer cloud's data in one SQLite database: accounts, mocks with their history,
/// publications, the outbox, the service's own tokens and named leases. Cloning is cheap
/// and shares the connection pool.
///
/// Open one with [`SqliteDatabase::connect`] (a URL or a path), [`SqliteDatabase::open`]
/// (a path) or [`SqliteDatabase::in_memory`]; each brings the schema up to date.
/// `connect` and `open` fail with `Invalid` when the URL is malformed, `Unavailable` when
/// the file cannot be opened or created, and `Internal` when the file is not a SQLite
/// database, is corrupt, or was migrated by a newer version of this crate.
pub type SqliteDatabase = moclojer_sql::SqlDatabase<SqliteBackend>;
