//! Test support for moclojer: one contract suite per port, and the fixtures they use.
//!
//! A contract suite is an async function that takes an implementation of a port and
//! panics, with a message naming the broken rule, if it does not behave as the port's docs
//! say. Every adapter runs the same suites from its own tests: `moclojer-memory` through
//! this crate's tests, the others (SQLite, file system, PostgreSQL, Redis, S3, ...) from
//! theirs, with this crate as a dev-dependency.
//!
//! [`services`] names the real servers (PostgreSQL, Redis, S3) tests run against, and gives
//! each test a database, stream or bucket of its own.
//!
//! This crate is for tests only; no app depends on it outside `[dev-dependencies]`.

pub mod contracts;
pub mod documents;
pub mod fakes;
mod fixtures;
pub mod services;

pub use fixtures::{
    Fixture, ManualClock, Repos, expect_kind, past_this_millisecond, request_record, save_org,
    unique_suffix,
};
