//! `moclojer-generator`: rebuilds what the mock server serves from the database.
//!
//! The generator is level-triggered: every [`rebuild`] reads the whole state with
//! `Scope::System` and derives the store from it, never patching the previous output, so a
//! duplicated, reordered or lost event costs at most one rebuild or one interval.
//! A rebuild:
//!
//! 1. settles the publications that are `publishing`: the requested revision is checked
//!    ([`moclojer_domain::spec::check`], cloud mode) and the publication is marked
//!    `published` or `invalid` with diagnostics that point into the author's text;
//! 2. takes the live set: mocks that are enabled and whose publication is live, each with
//!    the content of its *live* revision (not the draft), so an invalid edit keeps the last
//!    good version served;
//! 3. writes the store (layout below): a file per mock, the unified
//!    [`CONFIG_KEY`] and then the [`MANIFEST_KEY`], only when something changed, and records
//!    a `config.published` event in the outbox.
//!
//! The store layout:
//!
//! - [`CONFIG_KEY`] (`moclojer.yml`): the unified config, a JSON array (JSON is YAML, so
//!   the original moclojer reads it too) of every live mock's items, mocks by host, items
//!   in the author's order, one item per line. Each `endpoint` and `websocket` map has
//!   `host` set to its mock's host, first among its keys; a `host` the author wrote is
//!   replaced, never trusted.
//! - `mocks/<workspace-id>/<mock-id>.yml` ([`mock_key`]): the same items for one mock, in
//!   the same form; files of mocks no longer live are removed.
//! - [`MANIFEST_KEY`] (`manifest.json`): a [`Manifest`] (generation, key, checksum, bytes,
//!   hosts with their live revision), written after the config, so a reader that trusts
//!   it only sees complete configs. The generation grows by one when the config or its
//!   hosts change and stays put otherwise.
//!
//! Events only wake it ([`try_execute_next`] coalesces a batch into one rebuild), and
//! [`run`] also rebuilds on a fixed interval.
//!
//! [`App`] is the process: it picks the adapters by the schemes of its URLs (SQLite or
//! PostgreSQL, a folder or S3, Redis or no queue; see [`Config`]) and, with Redis, reads the
//! events as the [`GROUP`] consumer group and runs the outbox relay next to the worker, so
//! its `config.published` events reach the other services.
//!
//! What it deliberately is not: a lease holder. One generator writes a store at a time;
//! fencing between several (a lease and a generation check in the database) is not here yet.

mod publish;
mod store;
mod wiring;
mod worker;

use std::sync::Arc;

use anyhow::Context;
use moclojer_domain::spec::Limits;
use moclojer_ports::{
    Clock, IdGenerator, MockRepository, ObjectStore, Outbox, PublicationRepository,
};

pub use store::{CONFIG_KEY, MANIFEST_KEY, MOCKS_PREFIX, Manifest, mock_key};
pub use wiring::{
    App, Config, DatabaseLocation, S3_ACCESS_KEY_VAR, S3_SECRET_KEY_VAR, S3Credentials,
    StoreLocation, check_redis_url,
};
pub use worker::{GROUP, StepOutcome, run, try_execute_next};

/// What the generator needs from the world.
#[derive(Debug, Clone)]
pub struct Deps {
    /// Mocks and their revisions (read with `Scope::System`).
    pub mocks: Arc<dyn MockRepository>,
    /// Publications (read and settled with `Scope::System`).
    pub publications: Arc<dyn PublicationRepository>,
    /// Where `config.published` events go.
    pub outbox: Arc<dyn Outbox>,
    /// Where the generated files go.
    pub store: Arc<dyn ObjectStore>,
    /// The time publications and events carry.
    pub clock: Arc<dyn Clock>,
    /// Ids of the events it records.
    pub ids: Arc<dyn IdGenerator>,
    /// Bounds for reading a mock's spec.
    pub limits: Limits,
}

/// What one [`rebuild`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// The store's generation after the rebuild (0 only if nothing was ever written).
    pub generation: u64,
    /// How many hosts the unified config serves.
    pub hosts: usize,
    /// Whether a new generation was written.
    pub changed: bool,
    /// Publications marked published by this rebuild.
    pub published: usize,
    /// Publications marked invalid by this rebuild.
    pub invalid: usize,
}

/// Settles pending publications, then brings the store in line with what is live.
/// Idempotent: a rebuild of an unchanged state writes nothing.
///
/// # Errors
/// When the database or the object store fails (the next rebuild starts over), or the
/// stored manifest is not one this generator can read.
pub async fn rebuild(deps: &Deps) -> anyhow::Result<Outcome> {
    let settled = publish::settle(deps)
        .await
        .context("settle pending publications")?;
    let live = store::live_mocks(deps)
        .await
        .context("read the live mocks")?;
    let written = store::write(deps, &live)
        .await
        .context("write the object store")?;
    Ok(Outcome {
        generation: written.generation,
        hosts: live.len(),
        changed: written.changed,
        published: settled.published,
        invalid: settled.invalid,
    })
}
