//! The generator's integration tests: rebuilds over the in-memory adapters (and over
//! SQLite and a folder for the binary's wiring), read back through the store.

mod helpers;
mod rebuild;
mod wiring;
mod worker;
