//! `moclojer-cloud`: every moclojer cloud service in one process.
//!
//! On the embedded defaults (SQLite, an in-process queue, a folder for the generated
//! files, all under `--data-dir`) it needs nothing installed. With `--database-url`,
//! `--redis-url` and `--store` the same process runs on PostgreSQL, Redis and S3.
//!
//! What runs: the api (`http://127.0.0.1:3000/api/v1`), the outbox relay, the generator
//! (rebuilding the unified config on every event and on a timer), the mock server
//! following the object store on a loopback port, the proxy in front of it serving every
//! published mock at `http://<mock>-<handle>.localhost:8080`, and ops verifying each
//! published host through the proxy (mode `local`: `*.localhost` needs no records), and the
//! web interface at `http://127.0.0.1:3000/` once built (`cargo xtask web`). Each service
//! also runs as its own process (`moclojer-api`, `moclojer-generator`, `moclojer --store`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use moclojer_api::{AuthMode, DatabaseChoice, DatabasePorts, MocksUrl, Passwords, State, Supabase};
use moclojer_domain::spec::{Limits, Mode};
use moclojer_domain::{TrustedProxies, Zone};
use moclojer_egress::{Egress, EgressConfig};
use moclojer_foss::{
    ConfigEvents, EngineOptions, S3_ACCESS_KEY_VAR, S3_SECRET_KEY_VAR, S3Credentials,
    StoreLocation, open_store, serve_cloud_with_events,
};
use moclojer_generator::Deps;
use moclojer_memory::{InMemoryDns, InMemoryEventQueue};
use moclojer_ports::{EventQueue, ObjectStore, RandomIds, Relay, RelaySettings, SystemClock};
use moclojer_redis::{RedisConfig, RedisEventQueue};
use moclojer_supabase::SupabaseIdentity;
use tokio::net::TcpListener;

/// How often ops reconciles in the all-in-one.
const OPS_RECONCILE: Duration = Duration::from_secs(60);

/// How long the relay waits between looks at an empty outbox.
const RELAY_IDLE: Duration = Duration::from_millis(25);

/// Where and how the all-in-one runs.
#[derive(Debug, Clone)]
pub struct Config {
    /// Everything the embedded defaults keep: `moclojer.sqlite`, `store/`.
    pub data_dir: PathBuf,
    /// Where the api listens.
    pub api_addr: SocketAddr,
    /// Where the mocks are served (`<mock>-<handle>.localhost` on this port).
    pub mocks_addr: SocketAddr,
    /// How often the mock server looks at the store for a new generation.
    pub poll: Duration,
    /// PostgreSQL (or another SQLite file) instead of `<data_dir>/moclojer.sqlite`.
    pub database_url: Option<String>,
    /// Redis instead of the in-process queue.
    pub redis_url: Option<String>,
    /// An object store (`s3://bucket?endpoint=…`, `file:///dir`) instead of
    /// `<data_dir>/store`.
    pub store_url: Option<String>,
    /// The zone of mock hosts.
    pub zone: Zone,
    /// The built web interface served by the api at `/`.
    pub web_dir: Option<PathBuf>,
    /// Supabase sign-in instead of local accounts.
    pub supabase: Option<Supabase>,
}

impl Config {
    /// The embedded defaults under `data_dir`: api on 127.0.0.1:3000, mocks on
    /// 127.0.0.1:8080 under `localhost`, the store polled every 200 ms.
    ///
    /// # Panics
    /// Never: `localhost` is a valid zone.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            api_addr: SocketAddr::from(([127, 0, 0, 1], 3000)),
            mocks_addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            poll: Duration::from_millis(200),
            database_url: None,
            redis_url: None,
            store_url: None,
            zone: Zone::parse("localhost").expect("localhost is a zone"),
            web_dir: None,
            supabase: None,
        }
    }
}

/// The S3 credentials from the environment, if any is set.
fn s3_credentials() -> Option<S3Credentials> {
    let read = |name: &str| std::env::var(name).ok();
    match (read(S3_ACCESS_KEY_VAR), read(S3_SECRET_KEY_VAR)) {
        (None, None) => None,
        (access, secret) => Some(S3Credentials::new(
            access.unwrap_or_default(),
            secret.unwrap_or_default(),
        )),
    }
}

/// The wired services, ready to run.
#[derive(Debug)]
pub struct App {
    data_dir: PathBuf,
    database: DatabaseChoice,
    ports: DatabasePorts,
    store: Arc<dyn ObjectStore>,
    queue: Arc<dyn EventQueue>,
    redis: Option<RedisEventQueue>,
    api_listener: TcpListener,
    /// The proxy's listener: where visitors reach the mocks.
    mocks_listener: TcpListener,
    /// The mock server's own listener, on loopback behind the proxy.
    foss_listener: TcpListener,
    api: Arc<State>,
    zone: Zone,
    poll: Duration,
}

impl App {
    /// Opens (and migrates) the database, opens the object store and the queue, and binds
    /// both addresses.
    ///
    /// # Errors
    /// When the data directory cannot be made, a dependency cannot be opened, or an
    /// address cannot be bound.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let data_dir = config.data_dir;
        std::fs::create_dir_all(&data_dir)
            .with_context(|| format!("create the data directory {}", data_dir.display()))?;
        let database_url = config
            .database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite:{}", data_dir.join("moclojer.sqlite").display()));
        let database = DatabaseChoice::open(&database_url)
            .await
            .with_context(|| format!("open the database in {}", data_dir.display()))?;
        let ports = database.ports();
        let location = match &config.store_url {
            Some(url) => StoreLocation::parse(url).context("--store")?,
            None => StoreLocation::Dir(data_dir.join("store")),
        };
        let store = open_store(&location, s3_credentials())
            .await
            .with_context(|| format!("open the object store ({location})"))?;
        let (queue, redis): (Arc<dyn EventQueue>, _) = match &config.redis_url {
            None => (Arc::new(InMemoryEventQueue::default()), None),
            Some(url) => {
                let redis = RedisEventQueue::connect(&RedisConfig::new(url.clone()))
                    .await
                    .context("connect to Redis")?;
                (Arc::new(redis.clone()), Some(redis))
            }
        };
        let api_listener = TcpListener::bind(config.api_addr)
            .await
            .with_context(|| format!("listen on {} (the api)", config.api_addr))?;
        let mocks_listener = TcpListener::bind(config.mocks_addr)
            .await
            .with_context(|| format!("listen on {} (the mocks)", config.mocks_addr))?;
        let foss_listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .context("listen for the mock server behind the proxy")?;
        let mocks_port = mocks_listener
            .local_addr()
            .context("the mocks address")?
            .port();
        let auth = match &config.supabase {
            None => AuthMode::Local,
            Some(supabase) => AuthMode::External(Arc::new(
                SupabaseIdentity::new(supabase.tokens.clone())
                    .context("configure Supabase sign-in")?,
            )),
        };
        let mut api = State::over(
            ports.clone(),
            auth,
            config.zone.clone(),
            MocksUrl {
                scheme: "http".to_owned(),
                port: (mocks_port != 80).then_some(mocks_port),
            },
            Passwords::default(),
            Arc::new(SystemClock),
        );
        api.web_dir.clone_from(&config.web_dir);
        api.supabase_browser = config.supabase.and_then(|s| s.browser);
        Ok(Self {
            data_dir,
            database,
            ports,
            store,
            queue,
            redis,
            api_listener,
            mocks_listener,
            foss_listener,
            api: Arc::new(api),
            zone: config.zone,
            poll: config.poll,
        })
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The database's ports.
    pub fn ports(&self) -> &DatabasePorts {
        &self.ports
    }

    /// Closes the database (for tests that only build the app).
    pub async fn close(&self) {
        self.database.close().await;
    }

    /// The object store.
    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// Where the api answers.
    ///
    /// # Panics
    /// Never for a bound listener.
    pub fn api_addr(&self) -> SocketAddr {
        self.api_listener.local_addr().expect("bound")
    }

    /// Where the mocks answer.
    ///
    /// # Panics
    /// Never for a bound listener.
    pub fn mocks_addr(&self) -> SocketAddr {
        self.mocks_listener.local_addr().expect("bound")
    }

    /// Runs every service until `stop` completes.
    ///
    /// # Errors
    /// When the api or the mock server fails to serve.
    pub async fn run(self, stop: impl std::future::Future<Output = ()>) -> anyhow::Result<()> {
        let stopping = Arc::new(tokio::sync::Notify::new());
        let stopped = |n: &Arc<tokio::sync::Notify>| {
            let n = Arc::clone(n);
            async move { n.notified().await }
        };
        // A short idle poll: the outbox is one indexed query away, and each hop (api →
        // generator → mock server) waits for it, so it bounds publish-to-live.
        let relay = Relay::new(
            Arc::clone(&self.ports.outbox),
            Arc::clone(&self.queue),
            RelaySettings {
                idle: RELAY_IDLE,
                ..RelaySettings::named("cloud")
            },
        );
        let relaying = tokio::spawn(relay.run(stopped(&stopping)));
        let deps = Deps {
            mocks: Arc::clone(&self.ports.mocks),
            publications: Arc::clone(&self.ports.publications),
            outbox: Arc::clone(&self.ports.outbox),
            store: Arc::clone(&self.store),
            clock: Arc::new(SystemClock),
            ids: Arc::new(RandomIds),
            limits: Limits::default(),
        };
        let generating = {
            let queue = Arc::clone(&self.queue);
            let stop = stopped(&stopping);
            tokio::spawn(async move {
                moclojer_generator::run(&deps, queue.as_ref(), Duration::from_secs(5), stop).await
            })
        };
        let api_addr = self.api_listener.local_addr()?;
        let mocks_addr = self.mocks_listener.local_addr()?;
        let foss_addr = self.foss_listener.local_addr()?;
        let operating = {
            let deps = self.ops_deps(mocks_addr.port())?;
            let queue = Arc::clone(&self.queue);
            let stop = stopped(&stopping);
            tokio::spawn(async move {
                moclojer_ops::run(&deps, queue.as_ref(), "cloud", OPS_RECONCILE, stop).await;
            })
        };
        let proxying = {
            let config = moclojer_proxy::Config {
                zone: self.zone.clone(),
                ..moclojer_proxy::Config::new(vec![foss_addr])
            };
            tokio::spawn(moclojer_proxy::serve(
                self.mocks_listener,
                config,
                stopped(&stopping),
            ))
        };
        let serving_api = {
            let endpoint = moclojer_api::endpoint(Arc::clone(&self.api));
            tokio::spawn(moclojer_api::serve(
                self.api_listener,
                endpoint,
                stopped(&stopping),
            ))
        };
        tracing::info!(
            data_dir = %self.data_dir.display(),
            "api on http://{api_addr}/api/v1 (docs at /api/v1/docs); mocks on http://<mock>-<handle>.localhost:{}",
            mocks_addr.port()
        );
        match &self.api.web_dir {
            Some(dir) if dir.join("index.html").is_file() => {
                tracing::info!(web_dir = %dir.display(), "web interface on http://{api_addr}/");
            }
            _ => tracing::warn!(
                missing = "web",
                "the web interface is not built (`cargo xtask web`); the all-in-one runs what exists"
            ),
        }
        let options = EngineOptions {
            mode: Mode::Cloud,
            // Only the proxy above reaches the mock server, on loopback: its `X-Real-IP`
            // names the client for per-client rate limits.
            trusted_proxies: TrustedProxies::loopback(),
            ..EngineOptions::default()
        };
        // The mock server reloads as soon as the generator announces a config, and polls.
        let events = ConfigEvents {
            queue: Arc::clone(&self.queue),
            group: "foss".to_owned(),
        };
        let served = serve_cloud_with_events(
            self.foss_listener,
            Arc::clone(&self.store),
            options,
            Limits::for_bytes(64 << 20),
            self.poll,
            Some(events),
            stop,
        )
        .await;
        stopping.notify_waiters();
        let api = serving_api.await;
        let proxied = proxying.await;
        operating.await.ok();
        relaying.await.ok();
        match generating.await {
            Ok(Err(e)) => tracing::warn!(error = %e, "the generator stopped with an error"),
            Err(e) => tracing::warn!(error = %e, "the generator task failed"),
            Ok(Ok(())) => {}
        }
        if let Some(redis) = &self.redis {
            redis.close().await;
        }
        self.database.close().await;
        served.context("serve the mocks")?;
        proxied
            .context("the proxy task")?
            .context("serve the proxy")?;
        api.context("the api task")?.context("serve the api")
    }

    /// ops on the embedded defaults: `*.localhost` resolves by itself, so no records are
    /// made (mode `local`); each published host is verified through the proxy, and its
    /// DNS status becomes `published`.
    fn ops_deps(&self, mocks_port: u16) -> anyhow::Result<moclojer_ops::Deps> {
        let mut settings = moclojer_ops::Settings::new(self.zone.clone(), "localhost");
        settings.mode = moclojer_ops::Mode::Local;
        settings.verify_delay = Duration::from_millis(100);
        settings.verify_max_delay = Duration::from_secs(2);
        let probes = Egress::new(EgressConfig::open()).context("set up the probe client")?;
        Ok(moclojer_ops::Deps {
            mocks: Arc::clone(&self.ports.mocks),
            publications: Arc::clone(&self.ports.publications),
            dns: Arc::new(InMemoryDns::new()),
            paas: None,
            verifier: moclojer_ops::Verifier::new(Arc::new(probes), "http", Some(mocks_port)),
            leases: Arc::clone(&self.ports.leases),
            clock: Arc::new(SystemClock),
            ids: Arc::new(RandomIds),
            settings,
        })
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
