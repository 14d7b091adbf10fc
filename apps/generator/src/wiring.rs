//! The one place that picks adapters: SQLite for the database, a folder for the store, and
//! an in-process queue.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use moclojer_domain::spec::Limits;
use moclojer_fs::FsObjectStore;
use moclojer_memory::InMemoryEventQueue;
use moclojer_ports::{RandomIds, SystemClock};
use moclojer_sqlite::{SqliteConfig, SqliteDatabase};

use crate::{Deps, Outcome, rebuild, run};

/// How the generator process runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The SQLite database: `sqlite:PATH` (an existing file) or any URL `moclojer-sqlite`
    /// takes.
    pub database: String,
    /// The folder of the object store.
    pub store_dir: PathBuf,
    /// How often to rebuild without being told to.
    pub interval: Duration,
}

/// The wired generator.
#[derive(Debug)]
pub struct App {
    deps: Deps,
    database: SqliteDatabase,
    queue: InMemoryEventQueue,
    interval: Duration,
}

impl App {
    /// Opens the database and the store.
    ///
    /// # Errors
    /// When either cannot be opened.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let database = SqliteDatabase::connect(&SqliteConfig::new(config.database.clone()))
            .await
            .with_context(|| format!("open the database {}", config.database))?;
        let store = FsObjectStore::open(&config.store_dir)
            .with_context(|| format!("open the object store {}", config.store_dir.display()))?;
        let deps = Deps {
            mocks: Arc::new(database.clone()),
            publications: Arc::new(database.clone()),
            outbox: Arc::new(database.clone()),
            store: Arc::new(store),
            clock: Arc::new(SystemClock),
            ids: Arc::new(RandomIds),
            limits: Limits::default(),
        };
        Ok(Self {
            deps,
            database,
            queue: InMemoryEventQueue::default(),
            interval: config.interval,
        })
    }

    /// The dependencies, as wired.
    pub fn deps(&self) -> &Deps {
        &self.deps
    }

    /// One rebuild, then the database is closed.
    ///
    /// # Errors
    /// As [`rebuild`].
    pub async fn run_once(self) -> anyhow::Result<Outcome> {
        let outcome = rebuild(&self.deps).await;
        self.database.close().await;
        outcome
    }

    /// Rebuilds every interval until Ctrl-C or SIGTERM. This process has no queue shared
    /// with the api (its in-process queue hears nobody), so it works by the interval alone.
    ///
    /// # Errors
    /// When the shutdown signals cannot be installed.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("install the SIGTERM handler")?;
        let stop = async move {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        };
        tracing::info!(interval = ?self.interval, "generator running");
        let result = run(&self.deps, &self.queue, self.interval, stop).await;
        tracing::info!("stopping");
        self.database.close().await;
        result
    }
}
