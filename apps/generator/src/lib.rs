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
//! The store layout (keys and the manifest) is defined once, in `moclojer-ports`
//! (`CONFIG_KEY`, `mock_key`, `Manifest`, `MANIFEST_KEY`), where the mock server reads it
//! too. The manifest is written after the config it describes, so a reader that trusts it
//! only sees complete configs; its generation grows by one when the config or its hosts
//! change and stays put otherwise.
//!
//! Events only wake it ([`try_execute_next`] coalesces a batch into one rebuild), and
//! [`run`] also rebuilds on a fixed interval.
//!
//! [`App`] is the process: it opens what its [`Config`]'s URLs name through the shared
//! resolver (SQLite or PostgreSQL, a folder or S3, Redis or no queue) and, with a queue,
//! reads the events as the [`GROUP`] consumer group and runs the outbox relay next to the
//! worker, so its `config.published` events reach the other services.
//!
//! What it deliberately is not: a lease holder. One generator writes a store at a time;
//! fencing between several (a lease and a generation check in the database) is not here yet.

mod app;
mod output;
mod publish;
mod worker;

use std::sync::Arc;

use anyhow::Context;
use moclojer_domain::spec::{DestinationPolicy, Limits};
use moclojer_ports::{
    Clock, IdGenerator, MockRepository, ObjectStore, Outbox, PublicationRepository,
};

pub use app::{App, Config};
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
    /// The outbound destinations a mock may name (the egress guard's strict policy).
    pub destinations: Arc<dyn DestinationPolicy + Send + Sync>,
}

/// What one [`rebuild`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rebuilt {
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
pub async fn rebuild(deps: &Deps) -> anyhow::Result<Rebuilt> {
    let settled = publish::settle(deps)
        .await
        .context("settle pending publications")?;
    let live = output::live_mocks(deps)
        .await
        .context("read the live mocks")?;
    let written = output::write(deps, &live)
        .await
        .context("write the object store")?;
    Ok(Rebuilt {
        generation: written.generation,
        hosts: live.len(),
        changed: written.changed,
        published: settled.published,
        invalid: settled.invalid,
    })
}
