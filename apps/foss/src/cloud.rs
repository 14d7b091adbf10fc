//! Cloud mode: the published index is read from the object store and followed, one
//! engine per host.
//!
//! The generator writes one object per live host (`hosts/<host>/<digest>.yml`, the host's
//! items) and a small index naming them (`moclojer-ports`'s `PublishedIndex`: a root,
//! `manifest.json`, written last, and content-addressed nodes). [`CloudSource::load_generation`]
//! reads the root (a conditional read on its last ETag, so an unchanged index costs one
//! request), then only the index nodes that changed, and so learns which hosts changed.
//! For each changed host of this server's [`Shard`] it fetches that host's object,
//! verifies its size and digest, and builds the host's engine on a blocking thread; only
//! then is that one engine swapped in. Every other host keeps its engine, and with it its
//! rate-limit windows and webhook budget; requests in flight finish on the engine they
//! started on.
//!
//! Whatever goes wrong — the store is unreachable, the root is garbage or older than what
//! is served, an object is missing or does not match — what is serving stays. A host
//! whose new object does not validate keeps its previous engine (its last good revision);
//! a host whose object is not there yet is tried again on the next look. [`follow`] polls
//! on an interval and on demand ([`CloudSource::reload_now`]), backing off while the store
//! is down.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use moclojer_domain::spec::{Limits, Mode};
use moclojer_domain::{Diagnostic, Shard};
use moclojer_ports::{
    HostEntry, ObjectKey, ObjectStore, PortError, PortErrorKind, PublishedError, PublishedIndex,
    Refresh,
};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::engine::{Engine, EngineOptions};
use crate::hosts::HostEngines;
use crate::load::cloud_check;
use crate::server::Readiness;

/// How often [`follow`] looks at the index unless told otherwise.
pub const CLOUD_POLL_INTERVAL: Duration = Duration::from_secs(1);
/// The longest [`follow`] waits between attempts while the store is unreachable.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How long building one batch of engines may take before it is given up (the build keeps
/// its blocking thread until it ends, but its result is thrown away).
pub const BUILD_TIMEOUT: Duration = Duration::from_secs(120);
/// The largest host object accepted, in bytes (the generator writes one mock's items).
pub const MAX_OBJECT_BYTES: usize = 4 * 1024 * 1024;
/// How long after the store was first read a server says it is ready even though some
/// hosts' objects are still missing (a store that lost them waits for the generator's
/// repair; the hosts that are there should not wait with them).
pub const READY_ANYWAY: Duration = Duration::from_secs(30);
/// The shortest polling interval [`follow`] uses, so a zero interval is no busy loop.
const MIN_INTERVAL: Duration = Duration::from_millis(10);
/// How many names a log line lists before it says how many more there are.
const LOGGED_NAMES: usize = 20;
/// How many hosts one build takes at most (a cold start builds its hosts in batches).
const BUILD_BATCH: usize = 1_000;
/// How many host objects are fetched at once.
const FETCH_CONCURRENCY: usize = 16;

/// What one [`CloudSource::load_generation`] did when nothing went wrong.
#[derive(Debug)]
pub enum StoreLook {
    /// Nothing changed since the last look.
    Unchanged,
    /// The store has no index (yet): what is serving stays (at first nothing, so every
    /// host gets 404).
    NoManifest,
    /// Hosts changed.
    Loaded(Loaded),
}

/// What a look swapped in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    /// The generation the index is at.
    pub generation: u64,
    /// How many hosts this server serves now.
    pub hosts: usize,
    /// Hosts whose engine was built and swapped in.
    pub changed: BTreeSet<String>,
    /// Hosts no longer served.
    pub removed: BTreeSet<String>,
    /// Hosts whose new object did not validate and which keep their previous engine.
    pub kept_previous: BTreeSet<String>,
    /// Hosts whose object is not (yet) in the store as the index names it; tried again.
    pub waiting: BTreeSet<String>,
}

/// Why a look at the store did not move to a new generation. In every case what is
/// serving stays as it was.
#[derive(Debug, thiserror::Error)]
pub enum CloudError {
    /// The store could not be read; [`follow`] retries with backoff.
    #[error("cannot read {key} from the object store: {error}")]
    Store {
        /// The object being read.
        key: ObjectKey,
        /// What the store said.
        #[source]
        error: PortError,
    },
    /// The index root is not one; ignored until it changes.
    #[error("the index is refused: {0}")]
    Manifest(String),
    /// The index's generation is not newer than the one serving; ignored until it changes.
    #[error("the index's generation {generation} is not newer than {current}, the one serving")]
    Stale {
        /// The index's generation.
        generation: u64,
        /// The generation serving.
        current: u64,
    },
    /// An index node is missing or does not match: a writer may be between its writes.
    /// Retried on the next poll.
    #[error("generation {generation} is not complete in the store yet: {reason}")]
    Incomplete {
        /// The index's generation.
        generation: u64,
        /// What does not match.
        reason: String,
    },
    /// Building the engines did not finish (it took longer than the build timeout, or the
    /// task failed); retried on the next poll.
    #[error("the engines of generation {generation} could not be built: {reason}")]
    Build {
        /// The index's generation.
        generation: u64,
        /// Why.
        reason: String,
    },
}

impl CloudError {
    /// Whether the store itself failed (as opposed to what it holds), which calls for a
    /// retry with backoff.
    pub fn is_store_failure(&self) -> bool {
        matches!(self, Self::Store { .. })
    }
}

impl From<PublishedError> for CloudError {
    fn from(error: PublishedError) -> Self {
        match error {
            PublishedError::Store { key, error } => Self::Store { key, error },
            e @ PublishedError::Malformed { .. } => Self::Manifest(e.to_string()),
            PublishedError::Stale {
                generation,
                current,
            } => Self::Stale {
                generation,
                current,
            },
            PublishedError::Incomplete { generation, reason } => {
                Self::Incomplete { generation, reason }
            }
        }
    }
}

/// `options` as cloud mode uses them: [`Mode::Cloud`] and no spec folder, so no tenant can
/// read local files.
pub fn cloud_options(options: &EngineOptions) -> EngineOptions {
    EngineOptions {
        mode: Mode::Cloud,
        spec_dir: None,
        ..options.clone()
    }
}

/// The object store a cloud-mode server follows, and what it has taken from it so far.
#[derive(Debug)]
pub struct CloudSource {
    store: Arc<dyn ObjectStore>,
    hosts: Arc<HostEngines>,
    options: Arc<EngineOptions>,
    limits: Limits,
    shard: Shard,
    build_timeout: Duration,
    reload_now: Arc<Notify>,
    index: PublishedIndex,
    /// The entry each served host's engine was built from (or refused for good).
    served: HashMap<String, HostEntry>,
    /// Hosts of this shard whose engine is not yet what the index names.
    pending: BTreeSet<String>,
    /// Consecutive looks that found something incomplete.
    incomplete_streak: u32,
    /// Whether the last look found no index (to log the change, not every poll).
    absent: bool,
    /// Told once the store has been read: [`follow`] sets it after the first look that
    /// found everything it names.
    readiness: Option<Readiness>,
}

/// One host's object, fetched and verified.
struct Fetched {
    host: String,
    entry: HostEntry,
    bytes: Bytes,
}

/// What building one host's engine gave.
enum Built {
    Engine(Box<Engine>),
    Refused(Vec<Diagnostic>),
}

impl CloudSource {
    /// A source on `store` filling `hosts`, every engine built with `options` made cloud
    /// ([`cloud_options`]) and within `limits`; all hosts, nothing loaded yet.
    pub fn new(
        store: Arc<dyn ObjectStore>,
        hosts: Arc<HostEngines>,
        options: &EngineOptions,
        limits: Limits,
    ) -> Self {
        Self {
            store,
            hosts,
            options: Arc::new(cloud_options(options)),
            limits,
            shard: Shard::ALL,
            build_timeout: BUILD_TIMEOUT,
            reload_now: Arc::new(Notify::new()),
            index: PublishedIndex::new(),
            served: HashMap::new(),
            pending: BTreeSet::new(),
            incomplete_streak: 0,
            absent: false,
            readiness: None,
        }
    }

    /// The same source serving only the hosts of `shard`.
    #[must_use]
    pub fn with_shard(mut self, shard: Shard) -> Self {
        self.shard = shard;
        self
    }

    /// The same source, setting `readiness` once [`follow`] has read the store.
    #[must_use]
    pub fn with_readiness(mut self, readiness: Readiness) -> Self {
        self.readiness = Some(readiness);
        self
    }

    /// The same source with another build timeout (default [`BUILD_TIMEOUT`]).
    #[must_use]
    pub fn with_build_timeout(mut self, timeout: Duration) -> Self {
        self.build_timeout = timeout;
        self
    }

    /// A trigger for [`follow`]: `notify_one` makes it look at the store now rather than at
    /// the next tick (for a `config.published` consumer). A trigger while a look is under
    /// way is kept for after it.
    pub fn reload_now(&self) -> Arc<Notify> {
        Arc::clone(&self.reload_now)
    }

    /// The engines this source fills.
    pub fn hosts(&self) -> &Arc<HostEngines> {
        &self.hosts
    }

    /// The options every engine is built with.
    pub fn options(&self) -> &Arc<EngineOptions> {
        &self.options
    }

    /// The generation of the index read, if any was.
    pub fn generation(&self) -> Option<u64> {
        Some(self.index.generation()).filter(|g| *g > 0)
    }

    /// Looks at the store once and swaps in the engine of every host of this shard whose
    /// entry changed (and of those still waiting from an earlier look).
    ///
    /// Every outcome but a store failure is logged here; a store failure is returned for
    /// the caller to log and retry.
    ///
    /// # Errors
    /// A [`CloudError`] when the index could not be read; what is serving is untouched.
    pub async fn load_generation(&mut self) -> Result<StoreLook, CloudError> {
        let result = self.look().await;
        self.log(&result);
        result
    }

    async fn look(&mut self) -> Result<StoreLook, CloudError> {
        match self.index.refresh(self.store.as_ref()).await? {
            Refresh::Absent => {
                self.note_absent();
                return Ok(StoreLook::NoManifest);
            }
            Refresh::Unchanged if self.pending.is_empty() => {
                self.absent = false;
                return Ok(StoreLook::Unchanged);
            }
            Refresh::Unchanged => {}
            Refresh::Changed { changes, .. } => {
                let shard = self.shard;
                self.pending.extend(
                    changes
                        .into_iter()
                        .map(|c| c.host)
                        .filter(|h| shard.holds(h)),
                );
            }
        }
        self.absent = false;
        self.converge().await.map(StoreLook::Loaded)
    }

    fn note_absent(&mut self) {
        if !self.absent {
            if self.served.is_empty() {
                tracing::info!(
                    "no index in the object store yet; serving no routes until one appears"
                );
            } else {
                tracing::warn!(
                    serving = self.generation(),
                    "the index is gone from the object store; still serving what was read"
                );
            }
        }
        self.absent = true;
    }

    /// Brings the engines of the pending hosts in line with the index.
    async fn converge(&mut self) -> Result<Loaded, CloudError> {
        let generation = self.index.generation();
        let mut loaded = Loaded {
            generation,
            hosts: 0,
            changed: BTreeSet::new(),
            removed: BTreeSet::new(),
            kept_previous: BTreeSet::new(),
            waiting: BTreeSet::new(),
        };
        let mut wanted = Vec::new();
        for host in std::mem::take(&mut self.pending) {
            match self.index.get(&host).cloned() {
                None => {
                    self.served.remove(&host);
                    if self.hosts.remove(&host).is_some() {
                        loaded.removed.insert(host);
                    }
                }
                Some(entry) if self.served.get(&host) == Some(&entry) => {}
                Some(entry) => wanted.push((host, entry)),
            }
        }
        // In batches, each fetched, built and swapped in on its own, so a cold start with
        // many hosts serves the first ones early and one slow batch costs only itself.
        let mut batches = wanted
            .chunks(BUILD_BATCH)
            .map(<[_]>::to_vec)
            .collect::<Vec<_>>();
        batches.reverse();
        while let Some(batch) = batches.pop() {
            let tried: Vec<String> = batch.iter().map(|(host, _)| host.clone()).collect();
            let built = match self.fetch(batch, &mut loaded).await {
                Ok(fetched) => self.build(fetched, generation).await,
                Err(e) => Err(e),
            };
            match built {
                Ok(built) => self.install(built, &mut loaded),
                Err(e) => {
                    // Nothing of this batch or the next was swapped in: tried again.
                    self.pending.extend(tried);
                    self.pending
                        .extend(batches.into_iter().flatten().map(|(host, _)| host));
                    self.pending.extend(loaded.waiting.iter().cloned());
                    return Err(e);
                }
            }
        }
        self.pending.extend(loaded.waiting.iter().cloned());
        loaded.hosts = self.hosts.len();
        Ok(loaded)
    }

    /// Swaps in what a batch built; a refused host keeps its previous engine.
    fn install(&mut self, built: Vec<(Fetched, Built)>, loaded: &mut Loaded) {
        for (fetched, built) in built {
            match built {
                Built::Engine(engine) => {
                    self.hosts.insert(&fetched.host, Arc::from(engine));
                    loaded.changed.insert(fetched.host.clone());
                }
                Built::Refused(diagnostics) => {
                    for d in diagnostics
                        .iter()
                        .filter(|d| d.is_error())
                        .take(LOGGED_NAMES)
                    {
                        tracing::warn!(host = %fetched.host, revision = fetched.entry.revision, "refused: {d}");
                    }
                    loaded.kept_previous.insert(fetched.host.clone());
                }
            }
            self.served.insert(fetched.host, fetched.entry);
        }
    }

    /// The objects of `wanted`, a few at a time; a host whose object is missing or does
    /// not match its entry goes to `loaded.waiting`.
    async fn fetch(
        &self,
        wanted: Vec<(String, HostEntry)>,
        loaded: &mut Loaded,
    ) -> Result<Vec<Fetched>, CloudError> {
        let store = self.store.as_ref();
        let mut reads =
            futures_util::stream::iter(wanted.into_iter().map(|(host, entry)| async move {
                let read = fetch_object(store, &host, &entry).await;
                (host, entry, read)
            }))
            .buffer_unordered(FETCH_CONCURRENCY);
        let mut fetched = Vec::new();
        let mut failure = None;
        while let Some((host, entry, read)) = reads.next().await {
            match read {
                Ok(bytes) => fetched.push(Fetched { host, entry, bytes }),
                Err(FetchError::Waiting(reason)) => {
                    tracing::debug!(host, "{reason}");
                    loaded.waiting.insert(host);
                }
                Err(FetchError::Store(e)) => {
                    loaded.waiting.insert(host);
                    failure.get_or_insert(e);
                }
            }
        }
        drop(reads);
        if let Some(e) = failure {
            return Err(e);
        }
        Ok(fetched)
    }

    /// Builds every fetched host's engine on one blocking thread.
    async fn build(
        &self,
        fetched: Vec<Fetched>,
        generation: u64,
    ) -> Result<Vec<(Fetched, Built)>, CloudError> {
        if fetched.is_empty() {
            return Ok(Vec::new());
        }
        let options = Arc::clone(&self.options);
        let limits = self.limits;
        let hosts: Vec<String> = fetched.iter().map(|f| f.host.clone()).collect();
        let task = tokio::task::spawn_blocking(move || {
            fetched
                .into_iter()
                .map(|f| {
                    let built = build_host(&f.host, f.entry.revision, &f.bytes, &options, &limits);
                    (f, built)
                })
                .collect::<Vec<_>>()
        });
        match tokio::time::timeout(self.build_timeout, task).await {
            Ok(Ok(built)) => Ok(built),
            Ok(Err(e)) => Err(CloudError::Build {
                generation,
                reason: format!("the build task failed: {e} ({})", names(&hosts)),
            }),
            Err(_) => Err(CloudError::Build {
                generation,
                reason: format!(
                    "it took longer than {:?} ({})",
                    self.build_timeout,
                    names(&hosts)
                ),
            }),
        }
    }

    fn log(&mut self, result: &Result<StoreLook, CloudError>) {
        let current = self.generation();
        let incomplete = match result {
            Err(CloudError::Incomplete { .. }) => true,
            Ok(StoreLook::Loaded(loaded)) => !loaded.waiting.is_empty(),
            _ => false,
        };
        if incomplete {
            self.incomplete_streak = self.incomplete_streak.saturating_add(1);
        } else {
            self.incomplete_streak = 0;
        }
        // A writer between its writes is normal for a moment; something that stays
        // incomplete is worth a warning now and then, not every second.
        let loud = self.incomplete_streak == 1 || self.incomplete_streak.is_multiple_of(60);
        match result {
            Ok(StoreLook::Loaded(loaded)) => {
                if !loaded.changed.is_empty()
                    || !loaded.removed.is_empty()
                    || !loaded.kept_previous.is_empty()
                {
                    tracing::info!(
                        generation = loaded.generation,
                        hosts = loaded.hosts,
                        changed = %names(&loaded.changed.iter().cloned().collect::<Vec<_>>()),
                        removed = %names(&loaded.removed.iter().cloned().collect::<Vec<_>>()),
                        kept_previous = %names(&loaded.kept_previous.iter().cloned().collect::<Vec<_>>()),
                        "serving a new generation"
                    );
                }
                if !loaded.waiting.is_empty() && loud {
                    tracing::warn!(
                        generation = loaded.generation,
                        waiting = %names(&loaded.waiting.iter().cloned().collect::<Vec<_>>()),
                        attempts = self.incomplete_streak,
                        "objects not in the store yet; retrying on the next poll"
                    );
                }
            }
            Err(e @ CloudError::Incomplete { .. }) if loud => {
                tracing::warn!(
                    serving = current,
                    attempts = self.incomplete_streak,
                    "{e}; still serving what was read, retrying on the next poll"
                );
            }
            Err(e @ CloudError::Incomplete { .. }) => {
                tracing::debug!(serving = current, attempts = self.incomplete_streak, "{e}");
            }
            Err(CloudError::Store { .. }) => {}
            Err(e @ CloudError::Stale { .. }) => {
                tracing::warn!(serving = current, "{e}; ignored");
            }
            Err(e) => {
                tracing::error!(serving = current, "{e}; still serving what was read");
            }
            Ok(_) => {}
        }
    }

    /// Whether everything the index names for this shard is serving (nothing waits).
    fn settled(&self) -> bool {
        self.pending.is_empty()
    }
}

/// Why a host's object could not be taken.
enum FetchError {
    /// It is missing, too large or does not match its entry: try again later.
    Waiting(String),
    /// The store failed.
    Store(CloudError),
}

async fn fetch_object(
    store: &dyn ObjectStore,
    host: &str,
    entry: &HostEntry,
) -> Result<Bytes, FetchError> {
    let key = entry
        .object_key(host)
        .map_err(|e| FetchError::Waiting(e.to_string()))?;
    if entry.bytes > MAX_OBJECT_BYTES as u64 {
        return Err(FetchError::Waiting(format!(
            "{key} has {} bytes; at most {MAX_OBJECT_BYTES} are accepted",
            entry.bytes
        )));
    }
    let object = match store.get(&key).await {
        Ok(object) => object,
        Err(e) if e.kind() == PortErrorKind::NotFound => {
            return Err(FetchError::Waiting(format!("there is no object at {key}")));
        }
        Err(error) => return Err(FetchError::Store(CloudError::Store { key, error })),
    };
    entry
        .verify(&object.bytes)
        .map_err(|e| FetchError::Waiting(format!("{key}: {e}")))?;
    Ok(object.bytes)
}

/// Builds the engine of `host` from its object: checked with the hosted service's one
/// check (destinations judged by `options.egress`, the guard the calls would go through);
/// every item must be for `host`.
fn build_host(
    host: &str,
    revision: u64,
    bytes: &[u8],
    options: &Arc<EngineOptions>,
    limits: &Limits,
) -> Built {
    let refuse = |message: String| Built::Refused(vec![Diagnostic::error(1, 1, message)]);
    let Ok(text) = std::str::from_utf8(bytes) else {
        return refuse("the object is not UTF-8".to_owned());
    };
    let spec = match cloud_check(options, limits).check(text) {
        Ok((spec, _warnings)) => spec,
        Err(diagnostics) => return Built::Refused(diagnostics),
    };
    let foreign = spec
        .endpoints
        .iter()
        .map(|e| e.host.as_deref())
        .chain(spec.websockets.iter().map(|w| w.host.as_deref()))
        .chain(spec.resources.iter().map(|r| r.host.as_deref()))
        .find(|h| !h.is_some_and(|h| h.eq_ignore_ascii_case(host)));
    if let Some(other) = foreign {
        return refuse(format!(
            "an item of {host}'s object is for {}",
            other.unwrap_or("no host")
        ));
    }
    match Engine::build_shared(spec, Arc::clone(options)) {
        Ok(engine) => Built::Engine(Box::new(engine.with_revision(revision))),
        Err(diagnostics) => Built::Refused(diagnostics),
    }
}

/// A bounded, log-safe list of names: `["a", "b"] and 3 more`.
fn names(list: &[String]) -> String {
    let shown: Vec<&str> = list.iter().take(LOGGED_NAMES).map(String::as_str).collect();
    let mut text = format!("{shown:?}");
    if list.len() > shown.len() {
        text.push_str(&format!(" and {} more", list.len() - shown.len()));
    }
    text
}

/// Follows the store until `stop` completes: looks at it at once, then every `interval`
/// and whenever [`CloudSource::reload_now`] is notified (see
/// [`CloudSource::load_generation`]). While the store cannot be read the engines keep
/// serving and the wait doubles, up to [`MAX_BACKOFF`]; the first good read brings it back
/// to `interval`. While objects are missing it looks again after `interval` at most. The
/// readiness it was given is set once the store was read and every host of the shard is
/// serving, or [`READY_ANYWAY`] after the first read. It never panics on what the store
/// holds or says.
pub async fn follow(mut source: CloudSource, interval: Duration, stop: impl Future<Output = ()>) {
    let interval = interval.max(MIN_INTERVAL);
    let ceiling = MAX_BACKOFF.max(interval);
    let trigger = source.reload_now();
    let mut delay = interval;
    let mut failing = false;
    let mut first_read: Option<Instant> = None;
    tokio::pin!(stop);
    loop {
        let started = Instant::now();
        let result = tokio::select! {
            result = source.load_generation() => result,
            () = &mut stop => return,
        };
        match result {
            Err(e) if e.is_store_failure() => {
                delay = if failing {
                    delay.saturating_mul(2).min(ceiling)
                } else {
                    interval.saturating_mul(2).min(ceiling)
                };
                failing = true;
                tracing::warn!(
                    serving = source.generation(),
                    retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                    "{e}; still serving what was read"
                );
            }
            result => {
                let complete =
                    source.settled() && !matches!(result, Err(CloudError::Incomplete { .. }));
                let read_at = *first_read.get_or_insert_with(Instant::now);
                if let Some(readiness) = &source.readiness
                    && !readiness.is_ready()
                    && (complete || read_at.elapsed() >= READY_ANYWAY)
                {
                    readiness.set_ready();
                    if complete {
                        tracing::info!(
                            serving = source.generation(),
                            hosts = source.hosts.len(),
                            took_ms =
                                u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                            "ready: the store was read"
                        );
                    } else {
                        tracing::warn!(
                            serving = source.generation(),
                            hosts = source.hosts.len(),
                            waiting = %names(&source.pending.iter().cloned().collect::<Vec<_>>()),
                            "ready, though some hosts' objects are still missing from the store"
                        );
                    }
                }
                if failing {
                    tracing::info!(
                        serving = source.generation(),
                        "the object store is reachable again"
                    );
                }
                failing = false;
                delay = interval;
            }
        }
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = trigger.notified() => {}
            () = &mut stop => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_bounded_and_escaped() {
        let many: Vec<String> = (0..25).map(|i| format!("h{i}")).collect();
        assert!(names(&many).ends_with(" and 5 more"));
        assert_eq!(
            names(&["a\nb".to_owned()]),
            r#"["a\nb"]"#,
            "names are escaped"
        );
    }

    fn options() -> Arc<EngineOptions> {
        Arc::new(cloud_options(&EngineOptions::default()))
    }

    #[test]
    fn a_host_object_builds_only_with_its_own_host() {
        let limits = Limits::default();
        let own = br#"[{"endpoint":{"host":"a-b.test","path":"/x"}}]"#;
        assert!(matches!(
            build_host("a-b.test", 1, own, &options(), &limits),
            Built::Engine(_)
        ));
        for (bytes, expected) in [
            (
                &br#"[{"endpoint":{"host":"c-d.test","path":"/x"}}]"#[..],
                "is for c-d.test",
            ),
            (&br#"[{"endpoint":{"path":"/x"}}]"#[..], "host"),
            (&b"\xff"[..], "not UTF-8"),
            (
                &br#"[{"endpoint":{"host":"a-b.test","path":"/x","response":{"status":99999}}}]"#[..],
                "status",
            ),
        ] {
            let Built::Refused(diagnostics) = build_host("a-b.test", 1, bytes, &options(), &limits)
            else {
                panic!("{bytes:?} was built");
            };
            let text = format!("{diagnostics:?}");
            assert!(text.contains(expected), "{text}");
        }
    }
}
