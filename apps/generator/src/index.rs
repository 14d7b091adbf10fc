//! The store side of the generator: the [`Published`] index it holds and writes, and the
//! two ways it is brought in line with the database.
//!
//! - [`sync_mocks`] does the work of an event: for the mocks it names, one read of each
//!   (mock, publication and, when live, the live revision), their objects written when
//!   their digest is new, and one index write for all of them.
//! - [`sync_all`] is the safety net, at start and on the timer: one query lists every
//!   live mock with its live revision, and only the hosts whose revision differs from the
//!   index (or that the index has and the database no longer has) are read and written.
//!
//! A host's object is named by its digest (`hosts/<host>/<sha256>.yml`), so a new
//! revision never overwrites what a mock server may be reading; what the new generation no
//! longer references is deleted after [`GRACE`]. Every [`SWEEP_EVERY`] (and at start) the
//! store is listed once: objects nobody references are scheduled for deletion, and objects
//! the index references but the store lost are written again.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use moclojer_domain::{Event, EventKind, MockId, Revision};
use moclojer_ports::{
    HOSTS_PREFIX, HostEntry, INDEX_PREFIX, LiveMock, MANIFEST_KEY, ObjectKey, PortErrorKind,
    PublishedError, PublishedIndex, Refresh, Scope, Written,
};
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::Deps;
use crate::items::{items_with_host, render};

/// How long an object no longer referenced stays, so a mock server that read the previous
/// generation a moment ago still finds what it names.
pub const GRACE: Duration = Duration::from_secs(60);

/// How often the store is listed to collect garbage and repair losses.
pub const SWEEP_EVERY: Duration = Duration::from_secs(600);

/// What the generator holds of the store between syncs. Cheap to clone (shared).
#[derive(Debug, Clone)]
pub struct Published {
    state: Arc<Mutex<State>>,
    grace: Duration,
}

#[derive(Debug, Default)]
struct State {
    /// The index as last read or written; `None` until the store was read.
    index: Option<PublishedIndex>,
    /// The host each live mock has in the index.
    hosts: HashMap<MockId, String>,
    /// Objects no longer referenced, with when they may go.
    doomed: BTreeMap<ObjectKey, Instant>,
    /// When the store was last listed.
    swept: Option<Instant>,
}

impl Default for Published {
    fn default() -> Self {
        Self::with_grace(GRACE)
    }
}

impl Published {
    /// Nothing held yet; unreferenced objects go after [`GRACE`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Nothing held yet; unreferenced objects go after `grace` (tests use zero).
    pub fn with_grace(grace: Duration) -> Self {
        Self {
            state: Arc::new(Mutex::new(State::default())),
            grace,
        }
    }

    /// Forgets what was read, so the next sync reads the store again and lists it (a new
    /// writer taking over).
    pub async fn forget(&self) {
        *self.state.lock().await = State::default();
    }
}

/// What a sync did to the store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Synced {
    /// The generation the store holds.
    pub(crate) generation: u64,
    /// How many hosts the index lists.
    pub(crate) hosts: usize,
    /// Whether a new generation was written.
    pub(crate) changed: bool,
}

/// One host's wanted state: its mock's live revision and its object.
struct Wanted {
    mock_id: MockId,
    host: String,
    entry: HostEntry,
    object: Vec<u8>,
}

/// Brings the index in line with the mocks `mock_ids` (and nothing else).
pub(crate) async fn sync_mocks(deps: &Deps, mock_ids: &[MockId]) -> anyhow::Result<Synced> {
    let mut state = deps.published.state.lock().await;
    if state.index.is_none() {
        drop(state);
        return sync_all(deps).await;
    }
    let mut changes: BTreeMap<String, Option<Wanted>> = BTreeMap::new();
    for &mock_id in mock_ids {
        let known = state.hosts.get(&mock_id).cloned();
        let wanted = wanted_for(deps, mock_id).await?;
        if let Some(old) = known.filter(|h| wanted.as_ref().is_none_or(|w| &w.host != h)) {
            changes.entry(old).or_insert(None);
        }
        if let Some(wanted) = wanted {
            changes.insert(wanted.host.clone(), Some(wanted));
        }
    }
    apply(deps, &mut state, changes).await
}

/// The live state of `mock_id`: `None` when it is gone, disabled or not live.
async fn wanted_for(deps: &Deps, mock_id: MockId) -> anyhow::Result<Option<Wanted>> {
    let mock = match deps.mocks.get(&Scope::System, mock_id).await {
        Ok(mock) => mock,
        Err(e) if e.kind() == PortErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("read mock {mock_id}")),
    };
    let publication = match deps.publications.get(&Scope::System, mock_id).await {
        Ok(publication) => publication,
        Err(e) if e.kind() == PortErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("read the publication of {mock_id}")),
    };
    let Some(revision) = publication.live_revision.filter(|_| publication.is_live()) else {
        return Ok(None);
    };
    if !mock.enabled {
        return Ok(None);
    }
    object_of(deps, mock_id, mock.host.as_str(), revision).await
}

/// The object of revision `revision` of `mock_id`, served on `host`; `None` when the
/// revision is gone (the mock was deleted meanwhile) or no longer reads.
async fn object_of(
    deps: &Deps,
    mock_id: MockId,
    host: &str,
    revision: Revision,
) -> anyhow::Result<Option<Wanted>> {
    match deps.mocks.revision(&Scope::System, mock_id, revision).await {
        Ok(found) => Ok(wanted(mock_id, host, revision, found.content.as_str())),
        Err(e) if e.kind() == PortErrorKind::NotFound => {
            tracing::debug!(%mock_id, %revision, "live revision gone; the mock was deleted");
            Ok(None)
        }
        Err(e) => Err(e).with_context(|| format!("read revision {revision} of mock {mock_id}")),
    }
}

/// How many live revisions one read of the database asks for.
const REVISIONS_PER_READ: usize = 1_000;

/// The objects of the live mocks `mocks`, their revisions read [`REVISIONS_PER_READ`] at a
/// time; a mock whose revision is gone (deleted meanwhile) or no longer reads is left out.
async fn objects_of(deps: &Deps, mocks: &[&LiveMock]) -> anyhow::Result<Vec<Wanted>> {
    let mut objects = Vec::with_capacity(mocks.len());
    for chunk in mocks.chunks(REVISIONS_PER_READ) {
        let named: Vec<(MockId, Revision)> =
            chunk.iter().map(|m| (m.mock_id, m.revision)).collect();
        let contents: HashMap<(MockId, Revision), String> = deps
            .mocks
            .revisions_at(&Scope::System, &named)
            .await
            .with_context(|| format!("read {} live revisions", named.len()))?
            .into_iter()
            .map(|r| ((r.mock_id, r.revision), r.content.as_str().to_owned()))
            .collect();
        for mock in chunk {
            let Some(content) = contents.get(&(mock.mock_id, mock.revision)) else {
                tracing::debug!(mock_id = %mock.mock_id, revision = %mock.revision, "live revision gone; the mock was deleted");
                continue;
            };
            objects.extend(wanted(mock.mock_id, &mock.host, mock.revision, content));
        }
    }
    Ok(objects)
}

/// The wanted state of `host` served by revision `revision` (`content`) of `mock_id`;
/// `None` when the content no longer reads.
fn wanted(mock_id: MockId, host: &str, revision: Revision, content: &str) -> Option<Wanted> {
    match items_with_host(content, host) {
        Ok(items) => {
            let object = render(&items).into_bytes();
            Some(Wanted {
                mock_id,
                host: host.to_owned(),
                entry: HostEntry::of(revision.get(), &object),
                object,
            })
        }
        Err(error) => {
            tracing::error!(%mock_id, host, %revision, error = ?error, "the live revision no longer reads; the mock is left out");
            None
        }
    }
}

/// Brings the whole index in line with the database: one query for the live set, reads
/// only for hosts whose revision differs. Reads the store first when nothing is held, and
/// sweeps it when due.
pub(crate) async fn sync_all(deps: &Deps) -> anyhow::Result<Synced> {
    let mut state = deps.published.state.lock().await;
    if state.index.is_none() {
        let index = load(deps, &mut state.doomed).await?;
        state.index = Some(index);
    }
    let live = deps
        .publications
        .live(&Scope::System)
        .await
        .context("list the live mocks")?;
    let changes = differences(deps, &state, &live).await?;
    state.hosts = live.iter().map(|m| (m.mock_id, m.host.clone())).collect();
    let mut synced = apply(deps, &mut state, changes).await?;
    let due = state.swept.is_none_or(|at| at.elapsed() >= SWEEP_EVERY);
    if due && let Some(repaired) = sweep(deps, &mut state, &live).await? {
        announce(deps, &repaired).await?;
        synced.generation = repaired.generation;
        synced.changed = true;
    }
    Ok(synced)
}

/// The index as the store holds it, or an empty one. A store whose nodes are missing
/// gets every host written again, in a generation after the one it names.
async fn load(
    deps: &Deps,
    doomed: &mut BTreeMap<ObjectKey, Instant>,
) -> anyhow::Result<PublishedIndex> {
    let mut index = PublishedIndex::new();
    match index.refresh(deps.store.as_ref()).await {
        Ok(Refresh::Absent | Refresh::Unchanged | Refresh::Changed { .. }) => Ok(index),
        Err(PublishedError::Incomplete { generation, reason }) => {
            tracing::warn!(generation, "{reason}; the index will be written again");
            Ok(PublishedIndex::after(generation))
        }
        Err(e @ PublishedError::Malformed { .. }) => match first_layout(deps).await? {
            Some(generation) => {
                tracing::info!(
                    generation,
                    "the store holds the first layout (one unified config); publishing every host in the index layout after it"
                );
                schedule_first_layout(deps, doomed).await?;
                Ok(PublishedIndex::after(generation))
            }
            None => Err(e).context(format!(
                "{MANIFEST_KEY} is not an index root; the generation cannot be continued"
            )),
        },
        Err(e) => Err(e).context("read the published index"),
    }
}

/// The keys of the first layout: the unified config and the per-mock files.
const FIRST_LAYOUT_CONFIG: &str = "moclojer.yml";
const FIRST_LAYOUT_MOCKS: &str = "mocks/";

/// The generation of the root when it is a manifest of the first layout (a unified config:
/// `generation`, `key`, `checksum`, no `layout`), so an upgraded generator continues after it
/// and the mock servers, which refuse a generation that is not newer, take the new one.
async fn first_layout(deps: &Deps) -> anyhow::Result<Option<u64>> {
    let key = ObjectKey::parse(MANIFEST_KEY).context("the root's key")?;
    let object = deps
        .store
        .get(&key)
        .await
        .with_context(|| format!("read {MANIFEST_KEY}"))?;
    let Ok(serde_json::Value::Object(root)) = serde_json::from_slice(&object.bytes) else {
        return Ok(None);
    };
    let first = !root.contains_key("layout")
        && root.get("key").is_some_and(serde_json::Value::is_string)
        && root
            .get("checksum")
            .is_some_and(serde_json::Value::is_string);
    Ok(root
        .get("generation")
        .and_then(serde_json::Value::as_u64)
        .filter(|_| first))
}

/// Schedules the first layout's objects for deletion (after the grace, as any other).
async fn schedule_first_layout(
    deps: &Deps,
    doomed: &mut BTreeMap<ObjectKey, Instant>,
) -> anyhow::Result<()> {
    let due = Instant::now() + deps.published.grace;
    for prefix in [FIRST_LAYOUT_CONFIG, FIRST_LAYOUT_MOCKS] {
        for meta in deps
            .store
            .list(prefix)
            .await
            .with_context(|| format!("list {prefix}"))?
        {
            doomed.entry(meta.key).or_insert(due);
        }
    }
    Ok(())
}

/// What must change for the index to list exactly `live`.
async fn differences(
    deps: &Deps,
    state: &State,
    live: &[LiveMock],
) -> anyhow::Result<BTreeMap<String, Option<Wanted>>> {
    let index = state.index.as_ref().context("the index is read first")?;
    let mut changes = BTreeMap::new();
    let wanted_hosts: BTreeSet<&str> = live.iter().map(|m| m.host.as_str()).collect();
    for (host, _) in index.entries() {
        if !wanted_hosts.contains(host) {
            changes.insert(host.to_owned(), None);
        }
    }
    let differing: Vec<&LiveMock> = live
        .iter()
        .filter(|m| index.get(&m.host).map(|e| e.revision) != Some(m.revision.get()))
        .collect();
    // A host whose revision no longer reads is left out, as one that is not live.
    for mock in &differing {
        changes.insert(mock.host.clone(), None);
    }
    for wanted in objects_of(deps, &differing).await? {
        changes.insert(wanted.host.clone(), Some(wanted));
    }
    Ok(changes)
}

/// Writes the objects of `changes` that the store lacks, then the index, records
/// `config.published` when a generation was written, and deletes what is due.
async fn apply(
    deps: &Deps,
    state: &mut State,
    changes: BTreeMap<String, Option<Wanted>>,
) -> anyhow::Result<Synced> {
    let index = state.index.as_mut().context("the index is read first")?;
    let mut entries = Vec::with_capacity(changes.len());
    let mut replaced = Vec::new();
    let mut puts = Vec::new();
    let mut object_bytes = 0u64;
    for (host, wanted) in changes {
        let held = index.get(&host).cloned();
        match wanted {
            Some(wanted) => {
                // The host is this mock's now, even when its entry is unchanged (a mock
                // deleted and created again under the same name): an event about the one
                // that had it before must not take it down, and this one's must.
                state
                    .hosts
                    .retain(|mock_id, h| *h != host || *mock_id == wanted.mock_id);
                state.hosts.insert(wanted.mock_id, host.clone());
                if held.as_ref() == Some(&wanted.entry) {
                    continue;
                }
                object_bytes += wanted.object.len() as u64;
                puts.push((wanted.entry.object_key(&host)?, wanted.object));
                entries.push((host.clone(), Some(wanted.entry)));
            }
            None if held.is_none() => continue,
            None => {
                state.hosts.retain(|_, h| *h != host);
                entries.push((host.clone(), None));
            }
        }
        if let Some(held) = held {
            replaced.push(held.object_key(&host)?);
        }
    }
    put_all(deps, puts).await?;
    let started = Instant::now();
    let written = index
        .write(deps.store.as_ref(), entries)
        .await
        .context("write the published index")?;
    let synced = Synced {
        generation: written.generation,
        hosts: index.len(),
        changed: written.changed,
    };
    if written.changed {
        announce(deps, &written).await?;
        tracing::info!(
            generation = written.generation,
            hosts = synced.hosts,
            index_bytes = written.bytes,
            object_bytes,
            took_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            "published"
        );
        let due = Instant::now() + deps.published.grace;
        for key in replaced.into_iter().chain(written.unreferenced) {
            state.doomed.entry(key).or_insert(due);
        }
    }
    delete_due(deps, state).await?;
    Ok(synced)
}

/// How many objects are written to the store at once.
const PUTS_AT_ONCE: usize = 16;

/// Writes `puts` to the store, [`PUTS_AT_ONCE`] at a time; the first failure stops it.
async fn put_all(deps: &Deps, puts: Vec<(ObjectKey, Vec<u8>)>) -> anyhow::Result<()> {
    let mut pending = puts.into_iter();
    let mut writing = tokio::task::JoinSet::new();
    loop {
        while writing.len() < PUTS_AT_ONCE {
            let Some((key, object)) = pending.next() else {
                break;
            };
            let store = Arc::clone(&deps.store);
            writing.spawn(async move {
                store
                    .put(&key, Bytes::from(object))
                    .await
                    .with_context(|| format!("write {key}"))
            });
        }
        match writing.join_next().await {
            Some(done) => {
                done.context("a store write stopped")??;
            }
            None => return Ok(()),
        }
    }
}

/// Records `config.published` for the generation `written`.
async fn announce(deps: &Deps, written: &Written) -> anyhow::Result<()> {
    let event = Event::new(
        deps.ids.event_id(),
        deps.clock.now(),
        EventKind::ConfigPublished {
            generation: written.generation,
            key: MANIFEST_KEY.to_owned(),
            checksum: written.checksum.clone(),
        },
    );
    deps.outbox
        .append(&[event])
        .await
        .context("record config.published")
}

/// Deletes the objects whose grace is over and which the index still does not reference.
async fn delete_due(deps: &Deps, state: &mut State) -> anyhow::Result<()> {
    let now = Instant::now();
    if !state.doomed.values().any(|due| *due <= now) {
        return Ok(());
    }
    let due: Vec<ObjectKey> = state
        .doomed
        .iter()
        .filter(|(_, due)| **due <= now)
        .map(|(key, _)| key.clone())
        .collect();
    for key in due {
        let referenced = state.index.as_ref().is_some_and(|i| i.references(&key));
        if !referenced {
            deps.store
                .delete(&key)
                .await
                .with_context(|| format!("delete {key}"))?;
            tracing::debug!(%key, "deleted an object no longer referenced");
        }
        state.doomed.remove(&key);
    }
    Ok(())
}

/// Lists the store once: schedules what nobody references for deletion and writes again
/// what the index references but the store lost; when index nodes or the root were lost,
/// the index is written again as a new generation, returned.
async fn sweep(
    deps: &Deps,
    state: &mut State,
    live: &[LiveMock],
) -> anyhow::Result<Option<Written>> {
    state.swept = Some(Instant::now());
    let mut present = BTreeSet::new();
    for prefix in [HOSTS_PREFIX, INDEX_PREFIX] {
        let listed = deps
            .store
            .list(prefix)
            .await
            .with_context(|| format!("list {prefix}"))?;
        present.extend(listed.into_iter().map(|meta| meta.key));
    }
    let index = state.index.as_mut().context("the index is read first")?;
    let referenced = index.referenced();
    let due = Instant::now() + deps.published.grace;
    for key in present.iter().filter(|k| !referenced.contains(*k)) {
        state.doomed.entry(key.clone()).or_insert(due);
    }
    let lost: HashMap<String, HostEntry> = index
        .entries()
        .filter(|(host, entry)| {
            entry
                .object_key(host)
                .is_ok_and(|key| !present.contains(&key))
        })
        .map(|(host, entry)| (host.to_owned(), entry.clone()))
        .collect();
    let lost_mocks: Vec<&LiveMock> = live.iter().filter(|m| lost.contains_key(&m.host)).collect();
    let mut puts = Vec::new();
    for wanted in objects_of(deps, &lost_mocks).await? {
        // Rendered differently now, the next sync writes the new object.
        if lost.get(&wanted.host) == Some(&wanted.entry) {
            tracing::warn!(
                host = wanted.host,
                "the store lost a host's object; writing it again"
            );
            puts.push((wanted.entry.object_key(&wanted.host)?, wanted.object));
        }
    }
    put_all(deps, puts).await?;
    let root = ObjectKey::parse(MANIFEST_KEY).context("the root's key")?;
    let root_lost = match deps.store.head(&root).await {
        Ok(_) => false,
        Err(e) if e.kind() == PortErrorKind::NotFound => true,
        Err(e) => return Err(e).context(format!("look at {MANIFEST_KEY}")),
    };
    let nodes_lost = referenced
        .iter()
        .filter(|k| k.as_str().starts_with(INDEX_PREFIX))
        .any(|k| !present.contains(k));
    if !nodes_lost && !root_lost {
        return Ok(None);
    }
    tracing::warn!(
        root_lost,
        nodes_lost,
        "the store lost parts of the index; writing it again"
    );
    let written = index
        .rewrite(deps.store.as_ref())
        .await
        .context("write the published index again")?;
    tracing::info!(generation = written.generation, "index repaired");
    Ok(Some(written))
}
