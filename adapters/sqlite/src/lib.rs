//! SQLite repositories, outbox and token store for moclojer cloud: the embedded default
//! database.
//!
//! [`SqliteDatabase`] holds one sqlx connection pool and implements the storage ports of
//! `moclojer-ports` — [`AccountRepository`], [`MockRepository`], [`PublicationRepository`],
//! [`Outbox`], [`TokenStore`] and [`LeaseStore`] — on a single SQLite file. Every write that records events
//! inserts them into the `outbox` table in the same transaction as the change, so a change
//! and its events are committed together or not at all. Tokens are kept as SHA-256 digests
//! only.
//!
//! [`SqliteDatabase::connect`] applies the embedded migrations (`migrations/*.sql`, compiled
//! into the binary) and sets WAL mode, `foreign_keys = ON` and a busy timeout. Queries are
//! checked at run time, so building needs no database.
//!
//! This crate is *not* a general SQL layer: its schema and rows are private, callers see
//! only domain types and [`PortError`]s. It is not the Postgres adapter either, and it knows
//! nothing about the event queue, HTTP or the apps that use it.
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

pub use database::{SqliteConfig, SqliteDatabase};
