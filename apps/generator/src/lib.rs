//! `moclojer-generator`: publishes what the mock servers serve, from the database to the
//! object store, in proportion to what changed.
//!
//! Events name the mocks they touch; [`sync`] settles those that are `publishing` (the
//! requested revision is checked with [`moclojer_domain::spec::CloudCheck`] and marked
//! `published` or `invalid`, with diagnostics that point into the author's text), renders
//! the live revision of each (not the draft, so an invalid edit keeps the last good one
//! served) and writes its host's object and the published index (`moclojer-ports`'s
//! `PublishedIndex`: a root, index nodes, one object per host, all but the root named by
//! their digest). A publish writes one object and about three small nodes whatever the
//! number of live mocks, and records a `config.published` event in the outbox.
//!
//! [`rebuild`] is the level-triggered safety net, at start and on the timer: it settles
//! every pending publication and compares the live revisions (one query) with the index,
//! reading and writing only the hosts that differ. Now and then it also lists the store,
//! collecting objects nobody references and writing again what the store lost.
//!
//! [`App`] is the process: it opens what its [`Config`]'s URLs name through the shared
//! resolver (SQLite or PostgreSQL, a folder or S3, Redis or no queue) and, with a queue,
//! reads the events as the [`GROUP`] consumer group and runs the outbox relay next to the
//! worker, so its `config.published` events reach the other services.
//!
//! What it deliberately is not: a lease holder. One generator writes a store at a time;
//! fencing between several (a lease and a generation check in the database) is not here yet.

mod app;
mod export;
mod index;
mod items;
mod publish;
mod worker;

use std::sync::Arc;

use anyhow::Context;
use moclojer_domain::MockId;
use moclojer_domain::spec::{DestinationPolicy, Limits};
use moclojer_ports::{
    Clock, IdGenerator, MockRepository, ObjectStore, Outbox, PublicationRepository,
};

pub use app::{App, Config, REBUILD_WITH_EVENTS, REBUILD_WITHOUT_EVENTS};
pub use export::export;
pub use index::{GRACE, Published, SWEEP_EVERY};
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
    /// What this generator holds of the store between syncs.
    pub published: Published,
}

/// What one [`rebuild`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rebuilt {
    /// The store's generation after the rebuild (0 only if nothing was ever written).
    pub generation: u64,
    /// How many hosts the index lists.
    pub hosts: usize,
    /// Whether a new generation was written.
    pub changed: bool,
    /// Publications marked published by this rebuild.
    pub published: usize,
    /// Publications marked invalid by this rebuild.
    pub invalid: usize,
}

impl Rebuilt {
    fn of(settled: publish::Settled, synced: index::Synced) -> Self {
        Self {
            generation: synced.generation,
            hosts: synced.hosts,
            changed: synced.changed,
            published: settled.published,
            invalid: settled.invalid,
        }
    }
}

/// Settles every pending publication, then brings the store in line with what is live,
/// reading and writing only what differs. Idempotent: a rebuild of an unchanged state
/// writes nothing.
///
/// # Errors
/// When the database or the object store fails (the next rebuild starts over), or the
/// stored index root is not one this generator can continue.
pub async fn rebuild(deps: &Deps) -> anyhow::Result<Rebuilt> {
    let settled = publish::settle(deps)
        .await
        .context("settle pending publications")?;
    let synced = index::sync_all(deps)
        .await
        .context("write the object store")?;
    Ok(Rebuilt::of(settled, synced))
}

/// Does the work of events naming `mock_ids`: settles those that are pending and brings
/// their hosts in the store in line with the database (a full [`rebuild`] when the store
/// was not read yet).
///
/// # Errors
/// As [`rebuild`].
pub async fn sync(deps: &Deps, mock_ids: &[MockId]) -> anyhow::Result<Rebuilt> {
    let settled = publish::settle_mocks(deps, mock_ids)
        .await
        .context("settle pending publications")?;
    let synced = index::sync_mocks(deps, mock_ids)
        .await
        .context("write the object store")?;
    Ok(Rebuilt::of(settled, synced))
}
