//! The generator's integration tests: rebuilds and syncs over the in-memory adapters (and
//! over SQLite and a folder for the binary's wiring), read back through the published
//! index as a fresh reader sees it; and the process on PostgreSQL, Redis and S3 when the
//! test servers are given.

mod export;
mod helpers;
mod incremental;
mod rebuild;
mod services;
mod wiring;
mod worker;
