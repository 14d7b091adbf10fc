//! Hot reload for standalone mode: the spec files are polled, and a change that validates
//! replaces the running engine; one that does not is reported and the running one stays.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use moclojer_domain::spec::Limits;

use crate::engine::EngineOptions;
use crate::load::{SpecFiles, load_files};
use crate::server::SharedEngine;

/// How often the files are looked at.
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// Files up to this size are also compared by content, since two writes within the file
/// system's timestamp granularity can leave the same time and size.
const HASHED_UP_TO: u64 = 4 * 1024 * 1024;

type Stamp = Option<(SystemTime, u64, u64)>;

fn stamp(path: &Path) -> Stamp {
    use std::hash::{Hash, Hasher};
    let meta = std::fs::metadata(path).ok()?;
    let mut digest = 0;
    if meta.len() <= HASHED_UP_TO
        && let Ok(bytes) = std::fs::read(path)
    {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        bytes.hash(&mut hasher);
        digest = hasher.finish();
    }
    Some((
        meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
        meta.len(),
        digest,
    ))
}

fn stamps(files: &SpecFiles) -> (Stamp, Stamp) {
    (stamp(&files.config), files.mocks.as_deref().and_then(stamp))
}

/// Watches `files` until the task is dropped, reloading `engine` on every change. The
/// files' state is taken when this is called (not when the future first runs), so a change
/// made between loading and spawning the watcher is not missed.
pub fn watch(
    files: SpecFiles,
    engine: SharedEngine,
    options: EngineOptions,
    limits: Limits,
) -> impl std::future::Future<Output = ()> + Send {
    let seen = stamps(&files);
    watch_from(seen, files, engine, options, limits)
}

async fn watch_from(
    mut seen: (Stamp, Stamp),
    files: SpecFiles,
    engine: SharedEngine,
    options: EngineOptions,
    limits: Limits,
) {
    let mut ticker = tokio::time::interval(POLL_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let now = stamps(&files);
        if now == seen {
            continue;
        }
        // Let a writer finish: wait until the stamp holds still for one interval.
        tokio::time::sleep(POLL_INTERVAL).await;
        let settled = stamps(&files);
        if settled != now {
            continue;
        }
        seen = settled;
        reload(&files, &engine, &options, &limits).await;
    }
}

/// Rebuilds from the files now and swaps the engine if the spec validates. Returns
/// whether it did.
pub async fn reload(
    files: &SpecFiles,
    engine: &SharedEngine,
    options: &EngineOptions,
    limits: &Limits,
) -> bool {
    let (files_c, options_c, limits_c) = (files.clone(), options.clone(), *limits);
    let built =
        tokio::task::spawn_blocking(move || load_files(&files_c, options_c, &limits_c)).await;
    match built {
        Ok(Ok(new)) => {
            // The same spec keeps its state; a changed one is a new revision, which starts
            // its sequences, scenarios and resources afresh.
            let previous = engine.load();
            let revision = if previous.spec() == new.spec() {
                previous.revision()
            } else {
                previous.revision() + 1
            };
            let new = new.with_revision(revision);
            for warning in new.warnings() {
                tracing::warn!(file = %files.config.display(), "{warning}");
            }
            tracing::info!(file = %files.config.display(), endpoints = new.endpoint_count(), "reloaded");
            engine.store(Arc::new(new));
            true
        }
        Ok(Err(e)) => {
            tracing::error!(file = %files.config.display(), "reload refused; still serving the previous spec: {e}");
            false
        }
        Err(e) => {
            tracing::error!(error = %e, "reload task failed; still serving the previous spec");
            false
        }
    }
}
