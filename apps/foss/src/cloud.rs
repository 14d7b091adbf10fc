//! Cloud mode: the unified config is read from the object store and followed.
//!
//! The generator writes the unified config (`moclojer.yml`, a list of items each with its
//! `host`) and then a small `Manifest` (`manifest.json`, defined in `moclojer-ports`) naming it with its generation,
//! size and SHA-256. [`CloudSource::load_generation`] reads the manifest (a conditional read
//! on its last ETag, so an unchanged manifest costs little), checks it, fetches the config it
//! names, verifies size and checksum, and builds the new engine with [`reload_unified`] on a
//! blocking thread, so parsing never stalls request handling. Only then is the engine
//! swapped in; requests in flight finish on the old one.
//!
//! Whatever goes wrong — the store is unreachable, the manifest is garbage or older than
//! what is served, the config is half written or does not parse — the current generation
//! keeps serving. A tenant whose part of a new generation does not validate keeps its
//! previous endpoints while the others get their update. [`follow`] polls on an interval
//! and on demand ([`CloudSource::reload_now`]), backing off while the store is down.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use moclojer_domain::Diagnostic;
use moclojer_domain::spec::Limits;
use moclojer_ports::{
    ETag, MANIFEST_KEY, Manifest, ManifestError, Object, ObjectKey, ObjectStore, PortError,
    PortErrorKind,
};
use tokio::sync::Notify;

use crate::engine::EngineOptions;
use crate::hosted::cloud_options;
use crate::load::reload_unified;
use crate::server::{Readiness, SharedEngine};

/// How often [`follow`] looks at the manifest unless told otherwise.
pub const CLOUD_POLL_INTERVAL: Duration = Duration::from_secs(1);
/// The longest [`follow`] waits between attempts while the store is unreachable.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How long building one generation may take before it is given up (the build keeps its
/// blocking thread until it ends, but its result is thrown away).
pub const BUILD_TIMEOUT: Duration = Duration::from_secs(120);
/// The shortest polling interval [`follow`] uses, so a zero interval is no busy loop.
const MIN_INTERVAL: Duration = Duration::from_millis(10);
/// How many names a log line lists before it says how many more there are.
const LOGGED_NAMES: usize = 20;

/// What one [`CloudSource::load_generation`] did when nothing went wrong.
#[derive(Debug)]
pub enum StoreLook {
    /// The manifest has not changed since it was last handled.
    Unchanged,
    /// The store has no manifest (yet): the engine serving stays (at first, one with no
    /// routes, so every host gets 404).
    NoManifest,
    /// A new generation is serving.
    Loaded(Loaded),
}

/// A generation that was swapped in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    /// Its number.
    pub generation: u64,
    /// How many hosts its manifest lists.
    pub hosts: usize,
    /// How many endpoints the new engine serves.
    pub endpoints: usize,
    /// Hosts whose part did not validate and which keep their previous endpoints.
    pub kept_previous: BTreeSet<String>,
}

/// Why a look at the store did not swap in a new generation. In every case the engine
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
    /// The manifest is not one; ignored until it changes.
    #[error("the manifest is refused: {0}")]
    Manifest(#[source] ManifestError),
    /// The manifest's generation is not newer than the one serving; ignored until it
    /// changes.
    #[error("the manifest's generation {generation} is not newer than {current}, the one serving")]
    Stale {
        /// The manifest's generation.
        generation: u64,
        /// The generation serving.
        current: u64,
    },
    /// The config is larger than the limits allow; ignored until the manifest changes.
    #[error(
        "generation {generation}'s config has {bytes} bytes; at most {max} are accepted (see --max-spec-bytes)"
    )]
    TooLarge {
        /// The manifest's generation.
        generation: u64,
        /// The size the manifest gives.
        bytes: u64,
        /// The limit.
        max: usize,
    },
    /// The config object is missing or does not match the manifest: a writer may be
    /// between its two writes. Retried on the next poll.
    #[error("generation {generation} is not complete in the store yet: {reason}")]
    Incomplete {
        /// The manifest's generation.
        generation: u64,
        /// What does not match.
        reason: String,
    },
    /// The config does not parse as a whole (one tenant's bad part does not count: that
    /// tenant keeps its previous endpoints). Ignored until the manifest changes.
    #[error("generation {generation}'s config is refused with {} error(s)", count_errors(.diagnostics))]
    Invalid {
        /// The manifest's generation.
        generation: u64,
        /// What is wrong.
        diagnostics: Vec<Diagnostic>,
    },
    /// Building the engine did not finish (it took longer than the build timeout, or the
    /// task failed). Ignored until the manifest changes.
    #[error("generation {generation} could not be built: {reason}")]
    Build {
        /// The manifest's generation.
        generation: u64,
        /// Why.
        reason: String,
    },
}

fn count_errors(diagnostics: &[Diagnostic]) -> usize {
    diagnostics.iter().filter(|d| d.is_error()).count()
}

impl CloudError {
    /// Whether the store itself failed (as opposed to what it holds), which calls for a
    /// retry with backoff.
    pub fn is_store_failure(&self) -> bool {
        matches!(self, Self::Store { .. })
    }
}

/// The object store a cloud-mode server follows, and what it has taken from it so far.
#[derive(Debug)]
pub struct CloudSource {
    store: Arc<dyn ObjectStore>,
    manifest_key: ObjectKey,
    build_timeout: Duration,
    reload_now: Arc<Notify>,
    /// The manifest version whose handling is final (loaded, or refused for good); `None`
    /// until one is.
    seen: Option<ETag>,
    /// The manifest of the generation serving.
    current: Option<Manifest>,
    /// Consecutive polls that found the newest generation incomplete.
    incomplete_streak: u32,
    /// Whether the last look found no manifest (to log the change, not every poll).
    absent: bool,
    /// Told once the store has been read: [`follow`] sets it after the first look that
    /// was not a store failure.
    readiness: Option<Readiness>,
}

/// What the store has at the manifest's key.
#[derive(Debug)]
enum ManifestRead {
    Changed(Object),
    Unchanged,
    Absent,
}

impl CloudSource {
    /// A source on `store` with the manifest at [`MANIFEST_KEY`], nothing loaded yet.
    pub fn new(store: Arc<dyn ObjectStore>) -> Self {
        let manifest_key = ObjectKey::parse(MANIFEST_KEY).expect("the manifest key is valid");
        Self {
            store,
            manifest_key,
            build_timeout: BUILD_TIMEOUT,
            reload_now: Arc::new(Notify::new()),
            seen: None,
            current: None,
            incomplete_streak: 0,
            absent: false,
            readiness: None,
        }
    }

    /// The same source, setting `readiness` once [`follow`] has read the store.
    #[must_use]
    pub fn with_readiness(mut self, readiness: Readiness) -> Self {
        self.readiness = Some(readiness);
        self
    }

    /// The same source with the manifest at `key`.
    #[must_use]
    pub fn with_manifest_key(mut self, key: ObjectKey) -> Self {
        self.manifest_key = key;
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

    /// The generation serving, if any was loaded.
    pub fn generation(&self) -> Option<u64> {
        self.current.as_ref().map(|m| m.generation)
    }

    /// The manifest of the generation serving, if any was loaded.
    pub fn manifest(&self) -> Option<&Manifest> {
        self.current.as_ref()
    }

    /// Looks at the store once and, when it holds a newer complete generation, builds it
    /// and stores it in `engine`. The engine is built with [`cloud_options`] (cloud mode, no
    /// spec folder, whatever `options` say) and within `limits` (a config larger than
    /// `limits.max_bytes` is refused before it is downloaded).
    ///
    /// Every outcome but a store failure is logged here; a store failure is returned for
    /// the caller to log and retry.
    ///
    /// # Errors
    /// A [`CloudError`] when no new generation was swapped in for a reason worth knowing;
    /// the engine serving is untouched.
    pub async fn load_generation(
        &mut self,
        engine: &SharedEngine,
        options: &EngineOptions,
        limits: &Limits,
    ) -> Result<StoreLook, CloudError> {
        let object = match self.read_manifest().await? {
            ManifestRead::Changed(object) => object,
            ManifestRead::Unchanged => return Ok(StoreLook::Unchanged),
            ManifestRead::Absent => return Ok(StoreLook::NoManifest),
        };
        let result = self
            .consider(object.bytes.as_ref(), engine, options, limits)
            .await;
        let last_word = match &result {
            Ok(_) => true,
            Err(CloudError::Store { .. } | CloudError::Incomplete { .. }) => false,
            Err(_) => true,
        };
        if last_word {
            // This manifest version is handled for good: look again only when it changes.
            self.seen = Some(object.etag);
        }
        self.log(&result);
        result
    }

    /// The manifest as the store has it now, compared with [`Self::seen`].
    async fn read_manifest(&mut self) -> Result<ManifestRead, CloudError> {
        let key = &self.manifest_key;
        let read = match &self.seen {
            Some(etag) => self.store.get_if_changed(key, etag).await,
            None => self.store.get(key).await.map(Some),
        };
        match read {
            Ok(Some(object)) => {
                self.absent = false;
                Ok(ManifestRead::Changed(object))
            }
            Ok(None) => {
                self.absent = false;
                Ok(ManifestRead::Unchanged)
            }
            Err(e) if e.kind() == PortErrorKind::NotFound => {
                if !self.absent {
                    if self.current.is_some() {
                        tracing::warn!(
                            manifest = %key,
                            serving = self.generation(),
                            "the manifest is gone from the object store; still serving the current generation"
                        );
                    } else {
                        tracing::info!(manifest = %key, "no manifest in the object store yet; serving no routes until one appears");
                    }
                }
                self.absent = true;
                Ok(ManifestRead::Absent)
            }
            Err(error) => Err(CloudError::Store {
                key: key.clone(),
                error,
            }),
        }
    }

    async fn consider(
        &mut self,
        manifest: &[u8],
        engine: &SharedEngine,
        options: &EngineOptions,
        limits: &Limits,
    ) -> Result<StoreLook, CloudError> {
        let manifest = Manifest::parse(manifest).map_err(CloudError::Manifest)?;
        let generation = manifest.generation;
        if let Some(current) = self.generation()
            && generation <= current
        {
            return Err(CloudError::Stale {
                generation,
                current,
            });
        }
        if manifest.bytes > limits.max_bytes as u64 {
            return Err(CloudError::TooLarge {
                generation,
                bytes: manifest.bytes,
                max: limits.max_bytes,
            });
        }
        let text = self.fetch_config(&manifest).await?;
        let previous = engine.load_full();
        let options = cloud_options(options);
        let limits = *limits;
        let build = tokio::task::spawn_blocking(move || {
            let text = std::str::from_utf8(&text).map_err(|e| {
                vec![Diagnostic::error(
                    1,
                    1,
                    format!("the config is not UTF-8: {e}"),
                )]
            })?;
            reload_unified(Some(&previous), text, options, &limits)
        });
        let report = match tokio::time::timeout(self.build_timeout, build).await {
            Err(_) => {
                return Err(CloudError::Build {
                    generation,
                    reason: format!("it took longer than {:?}", self.build_timeout),
                });
            }
            Ok(Err(e)) => {
                return Err(CloudError::Build {
                    generation,
                    reason: format!("the build task failed: {e}"),
                });
            }
            Ok(Ok(Err(diagnostics))) => {
                return Err(CloudError::Invalid {
                    generation,
                    diagnostics,
                });
            }
            Ok(Ok(Ok(report))) => report,
        };
        for d in report
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .take(LOGGED_NAMES)
        {
            tracing::warn!(generation, "refused item: {d}");
        }
        let loaded = Loaded {
            generation,
            hosts: manifest.hosts.len(),
            endpoints: report.engine.endpoint_count(),
            kept_previous: report.kept_previous,
        };
        engine.store(Arc::new(report.engine));
        let (changed, removed) = changes(self.current.as_ref(), &manifest);
        tracing::info!(
            generation,
            hosts = loaded.hosts,
            endpoints = loaded.endpoints,
            changed = %names(&changed),
            removed = %names(&removed),
            kept_previous = %names(&loaded.kept_previous.iter().map(String::as_str).collect::<Vec<_>>()),
            "serving a new generation"
        );
        self.current = Some(manifest);
        Ok(StoreLook::Loaded(loaded))
    }

    /// The config the manifest names, checked against its size and checksum.
    async fn fetch_config(&self, manifest: &Manifest) -> Result<bytes::Bytes, CloudError> {
        let generation = manifest.generation;
        let incomplete = |reason: String| CloudError::Incomplete { generation, reason };
        let store_error = |error: PortError| {
            if error.kind() == PortErrorKind::NotFound {
                incomplete(format!("there is no object at {}", manifest.key))
            } else {
                CloudError::Store {
                    key: manifest.key.clone(),
                    error,
                }
            }
        };
        // The size first, so a config that is not the one announced is not downloaded.
        let meta = self.store.head(&manifest.key).await.map_err(store_error)?;
        if meta.size != manifest.bytes {
            return Err(incomplete(format!(
                "{} has {} bytes, the manifest says {}",
                manifest.key, meta.size, manifest.bytes
            )));
        }
        let object = self.store.get(&manifest.key).await.map_err(store_error)?;
        manifest.verify(&object.bytes).map_err(incomplete)?;
        Ok(object.bytes)
    }

    fn log(&mut self, result: &Result<StoreLook, CloudError>) {
        let current = self.generation();
        match result {
            Err(e @ CloudError::Incomplete { .. }) => {
                self.incomplete_streak = self.incomplete_streak.saturating_add(1);
                // A writer between its two writes is normal for a moment; a config that
                // stays incomplete is worth a warning now and then, not every second.
                if self.incomplete_streak == 1 || self.incomplete_streak.is_multiple_of(60) {
                    tracing::warn!(
                        serving = current,
                        attempts = self.incomplete_streak,
                        "{e}; still serving the current generation, retrying on the next poll"
                    );
                } else {
                    tracing::debug!(serving = current, attempts = self.incomplete_streak, "{e}");
                }
                return;
            }
            Err(CloudError::Store { .. }) => return,
            Err(e @ CloudError::Invalid { diagnostics, .. }) => {
                tracing::error!(
                    serving = current,
                    "{e}; still serving the current generation"
                );
                for d in diagnostics
                    .iter()
                    .filter(|d| d.is_error())
                    .take(LOGGED_NAMES)
                {
                    tracing::error!("  {d}");
                }
            }
            Err(e @ CloudError::Stale { .. }) => {
                tracing::warn!(serving = current, "{e}; ignored");
            }
            Err(e) => {
                tracing::error!(
                    serving = current,
                    "{e}; still serving the current generation"
                );
            }
            Ok(_) => {}
        }
        self.incomplete_streak = 0;
    }
}

/// The hosts whose revision is new or changed, and those no longer listed.
fn changes<'a>(previous: Option<&'a Manifest>, next: &'a Manifest) -> (Vec<&'a str>, Vec<&'a str>) {
    static NONE: BTreeMap<String, u64> = BTreeMap::new();
    let before = previous.map_or(&NONE, |m| &m.hosts);
    let changed = next
        .hosts
        .iter()
        .filter(|(host, revision)| before.get(*host) != Some(revision))
        .map(|(host, _)| host.as_str())
        .collect();
    let removed = before
        .keys()
        .filter(|host| !next.hosts.contains_key(*host))
        .map(String::as_str)
        .collect();
    (changed, removed)
}

/// A bounded, log-safe list of names: `["a", "b"] and 3 more`.
fn names(list: &[&str]) -> String {
    let shown: Vec<&str> = list.iter().take(LOGGED_NAMES).copied().collect();
    let mut text = format!("{shown:?}");
    if list.len() > shown.len() {
        text.push_str(&format!(" and {} more", list.len() - shown.len()));
    }
    text
}

/// Follows the store until `stop` completes: looks at it at once, then every `interval`
/// and whenever [`CloudSource::reload_now`] is notified, swapping in each new complete
/// generation (see [`CloudSource::load_generation`]). While the store cannot be read the
/// engine keeps serving and the wait doubles, up to [`MAX_BACKOFF`]; the first good read
/// brings it back to `interval`. It never panics on what the store holds or says.
pub async fn follow(
    mut source: CloudSource,
    engine: SharedEngine,
    options: EngineOptions,
    limits: Limits,
    interval: Duration,
    stop: impl Future<Output = ()>,
) {
    let interval = interval.max(MIN_INTERVAL);
    let ceiling = MAX_BACKOFF.max(interval);
    let trigger = source.reload_now();
    let mut delay = interval;
    let mut failing = false;
    tokio::pin!(stop);
    loop {
        let result = tokio::select! {
            result = source.load_generation(&engine, &options, &limits) => result,
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
                    "{e}; still serving the current generation"
                );
            }
            _ => {
                if let Some(readiness) = &source.readiness
                    && !readiness.is_ready()
                {
                    readiness.set_ready();
                    tracing::info!(serving = source.generation(), "ready: the store was read");
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

    const SUM: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn changes_name_new_changed_and_removed_hosts() {
        let with = |hosts: &[(&str, u64)]| Manifest {
            generation: 1,
            key: ObjectKey::parse("moclojer.yml").expect("key"),
            checksum: SUM.to_owned(),
            bytes: 0,
            hosts: hosts.iter().map(|(h, r)| ((*h).to_owned(), *r)).collect(),
        };
        let before = with(&[("a", 1), ("b", 1), ("c", 1)]);
        let after = with(&[("a", 1), ("b", 2), ("d", 1)]);
        assert_eq!(changes(Some(&before), &after), (vec!["b", "d"], vec!["c"]));
        assert_eq!(changes(None, &before), (vec!["a", "b", "c"], vec![]));
        let many: Vec<String> = (0..25).map(|i| format!("h{i}")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        assert!(names(&many).ends_with(" and 5 more"));
        assert_eq!(names(&["a\nb"]), r#"["a\nb"]"#, "names are escaped");
    }
}
