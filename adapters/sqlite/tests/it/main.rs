//! Integration tests of `moclojer-sqlite` against real database files.
//!
//! What is specific to SQLite lives here: files that survive reopening and keep only token
//! digests, migrations, files that are not databases, URLs and paths, in-memory databases.
//! The port contracts, and the checks behind the ports that the SQL adapters share
//! (atomicity of a change and its outbox rows, durability), are `moclojer-testkit`'s
//! suites, run from `contracts.rs`.

mod contracts;
mod files;
mod helpers;
mod journal;
