//! The SQL core of moclojer cloud's database adapters: what `moclojer-sqlite` and
//! `moclojer-postgres` share, written once.
//!
//! [`SqlDatabase`] implements the storage ports of `moclojer-ports` —
//! [`AccountRepository`], [`MockRepository`], [`PublicationRepository`], [`Outbox`],
//! [`TokenStore`] and [`LeaseStore`] — on one SQL database: the rows and their mapping to
//! domain values, the queries, and the repository logic (what a scope sees, the checks
//! before a write, the events recorded in the same transaction, which error kind a refusal
//! is). Each adapter brings a [`Backend`]: its sqlx driver, its [`Dialect`] (how
//! transactions begin, whether rows can be locked), its connection set-up and migrations,
//! the outbox's claim and event statements, its lease store, and what its error codes
//! mean. Its public database type is `SqlDatabase<ItsBackend>`.
//!
//! Statements are [`Query`]s: SQL text with `$1`-style parameters, which both drivers take,
//! and the values bound to them. They run on any connection that is [`Exec`], and rows are
//! read by column name through [`Columns`]; the bounds that tie a sqlx driver to those
//! types are stated once, on their blanket implementations. Queries are checked at run
//! time, so building needs no database.
//!
//! This crate is *not* a general SQL layer: its schema and rows are private, callers see
//! only domain types and [`PortError`]s.
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
mod dialect;
mod error;
mod lease;
mod mocks;
mod model;
mod outbox;
mod publications;
mod query;
mod tokens;

pub use database::{Backend, Embedded, SqlDatabase, migrator};
pub use dialect::{Dialect, Lock};
pub use error::{db, from_migrate, from_sqlx};
pub use query::{Arg, Binds, Columns, Exec, Query};
