//! `moclojer-cloud`: every moclojer cloud service in one process, on the embedded defaults
//! (SQLite, an in-process queue, a folder for generated files).
//!
//! What runs today: the database (opened and migrated), the outbox relay (SQLite outbox →
//! in-process queue), the generator (rebuilding the unified config on every event and on a
//! timer) and the mock server following the object store, serving every published mock at
//! `http://<mock>-<handle>.localhost:8080`. The api and the web interface join as they are
//! built; until then mocks are created through the repositories (as the tests do). It is not
//! a production deployment: each service also runs as its own process on PostgreSQL, Redis
//! and S3.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use moclojer_domain::spec::{Limits, Mode};
use moclojer_foss::{EngineOptions, serve_cloud};
use moclojer_fs::FsObjectStore;
use moclojer_generator::Deps;
use moclojer_memory::InMemoryEventQueue;
use moclojer_ports::{RandomIds, Relay, RelaySettings, SystemClock};
use moclojer_sqlite::SqliteDatabase;
use tokio::net::TcpListener;

/// Where and how the all-in-one runs.
#[derive(Debug, Clone)]
pub struct Config {
    /// Everything the embedded defaults keep: `moclojer.sqlite`, `store/`.
    pub data_dir: PathBuf,
    /// Where the mocks are served (`<mock>-<handle>.localhost` on this port).
    pub mocks_addr: SocketAddr,
    /// How often the mock server looks at the store for a new generation.
    pub poll: Duration,
}

impl Config {
    /// The defaults under `data_dir`: mocks on 127.0.0.1:8080, polled every 200 ms.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            mocks_addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            poll: Duration::from_millis(200),
        }
    }
}

/// The wired services, ready to run.
#[derive(Debug)]
pub struct App {
    data_dir: PathBuf,
    database: SqliteDatabase,
    store: FsObjectStore,
    queue: InMemoryEventQueue,
    listener: TcpListener,
    mocks_addr: SocketAddr,
    poll: Duration,
}

impl App {
    /// Opens (and migrates) the database and the object store under `config.data_dir`, and
    /// binds the mocks' address.
    ///
    /// # Errors
    /// When the data directory cannot be made, the database cannot be opened, or the
    /// address cannot be bound.
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
        let listener = TcpListener::bind(config.mocks_addr)
            .await
            .with_context(|| format!("listen on {}", config.mocks_addr))?;
        let mocks_addr = listener.local_addr().context("read the mocks address")?;
        Ok(Self {
            data_dir,
            database,
            store,
            queue: InMemoryEventQueue::default(),
            listener,
            mocks_addr,
            poll: config.poll,
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

    /// Where the mocks answer.
    pub fn mocks_addr(&self) -> SocketAddr {
        self.mocks_addr
    }

    /// Runs the relay, the generator and the mock server until `stop` completes.
    ///
    /// # Errors
    /// When the mock server fails to serve.
    pub async fn run(self, stop: impl std::future::Future<Output = ()>) -> anyhow::Result<()> {
        let stopping = Arc::new(tokio::sync::Notify::new());
        let stopped = |n: &Arc<tokio::sync::Notify>| {
            let n = Arc::clone(n);
            async move { n.notified().await }
        };
        let queue = Arc::new(self.queue.clone());
        let relay = Relay::new(
            Arc::new(self.database.clone()),
            queue.clone(),
            RelaySettings::named("cloud"),
        );
        let relaying = tokio::spawn(relay.run(stopped(&stopping)));
        let deps = Deps {
            mocks: Arc::new(self.database.clone()),
            publications: Arc::new(self.database.clone()),
            outbox: Arc::new(self.database.clone()),
            store: Arc::new(self.store.clone()),
            clock: Arc::new(SystemClock),
            ids: Arc::new(RandomIds),
            limits: Limits::default(),
        };
        let generating = {
            let queue = queue.clone();
            let stop = stopped(&stopping);
            tokio::spawn(async move {
                moclojer_generator::run(&deps, queue.as_ref(), Duration::from_secs(5), stop).await
            })
        };
        let options = EngineOptions {
            mode: Mode::Cloud,
            ..EngineOptions::default()
        };
        tracing::info!(
            data_dir = %self.data_dir.display(),
            "mocks on http://<mock>-<handle>.localhost:{}",
            self.mocks_addr.port()
        );
        tracing::warn!(
            missing = "api, ops, proxy, web",
            "these services are not built yet; the all-in-one runs what exists"
        );
        let store: Arc<dyn moclojer_ports::ObjectStore> = Arc::new(self.store.clone());
        let served = serve_cloud(
            self.listener,
            store,
            options,
            Limits::for_bytes(64 << 20),
            self.poll,
            stop,
        )
        .await;
        stopping.notify_waiters();
        relaying.await.ok();
        match generating.await {
            Ok(Err(e)) => tracing::warn!(error = %e, "the generator stopped with an error"),
            Err(e) => tracing::warn!(error = %e, "the generator task failed"),
            Ok(Ok(())) => {}
        }
        self.database.close().await;
        served.context("serve the mocks")
    }

    /// [`Self::run`] until Ctrl-C or SIGTERM.
    ///
    /// # Errors
    /// When the shutdown signals cannot be installed, or serving fails.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("install the SIGTERM handler")?;
        self.run(async move {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            tracing::info!("stopping");
        })
        .await
    }
}
