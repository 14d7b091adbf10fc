//! `moclojer-cloud`: every moclojer cloud service in one process, on the embedded defaults
//! (SQLite, an in-process queue, a folder for generated files).
//!
//! What runs today: the database (opened and migrated) and the object store. The api, the
//! generator, the mock server and the web interface join as they are built; `run` says
//! which are not there yet. It is not a production deployment: each service also runs as
//! its own process on PostgreSQL, Redis and S3.

use std::path::{Path, PathBuf};

use anyhow::Context;
use moclojer_fs::FsObjectStore;
use moclojer_sqlite::SqliteDatabase;

/// Where and how the all-in-one runs.
#[derive(Debug, Clone)]
pub struct Config {
    /// Everything the embedded defaults keep: `moclojer.sqlite`, `store/`.
    pub data_dir: PathBuf,
}

/// The wired, running services.
#[derive(Debug)]
pub struct App {
    data_dir: PathBuf,
    database: SqliteDatabase,
    store: FsObjectStore,
}

impl App {
    /// Opens (and migrates) the database and the object store under `config.data_dir`.
    ///
    /// # Errors
    /// When the data directory cannot be made or the database cannot be opened.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let data_dir = config.data_dir;
        std::fs::create_dir_all(&data_dir)
            .with_context(|| format!("create the data directory {}", data_dir.display()))?;
        let db_path = data_dir.join("moclojer.sqlite");
        let database = SqliteDatabase::open(&db_path)
            .await
            .with_context(|| format!("open the database {}", db_path.display()))?;
        let store_path = data_dir.join("store");
        let store = FsObjectStore::open(&store_path)
            .with_context(|| format!("open the object store {}", store_path.display()))?;
        Ok(Self {
            data_dir,
            database,
            store,
        })
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The embedded database.
    pub fn database(&self) -> &SqliteDatabase {
        &self.database
    }

    /// The embedded object store.
    pub fn store(&self) -> &FsObjectStore {
        &self.store
    }

    /// Reports what runs and waits for Ctrl-C or SIGTERM, then closes the database.
    ///
    /// # Errors
    /// When the shutdown signals cannot be installed.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        tracing::info!(data_dir = %self.data_dir.display(), "database and object store ready");
        tracing::warn!(
            missing = "api, generator, foss (mock server), ops, proxy, web",
            "these services are not built yet; the all-in-one runs what exists"
        );
        shutdown_signal().await?;
        tracing::info!("stopping");
        self.database.close().await;
        Ok(())
    }
}

async fn shutdown_signal() -> anyhow::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("install the SIGTERM handler")?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result.context("wait for Ctrl-C"),
        _ = term.recv() => Ok(()),
    }
}
