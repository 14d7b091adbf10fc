//! The generator's integration tests: rebuilds over the in-memory adapters (and over
//! SQLite and a folder for the binary's wiring), read back through the store; and the
//! process on PostgreSQL, Redis and S3 when the test servers are given.

mod helpers;
mod rebuild;
mod services;
mod wiring;
mod worker;
