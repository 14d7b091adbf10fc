//! `moclojer-cloud`: every moclojer cloud service in one process.
//!
//! On the embedded defaults (SQLite, an in-process queue, a folder for the generated
//! files, all under `--data-dir`) it needs nothing installed. With `--database-url`,
//! `--redis-url` and `--store` the same process runs on PostgreSQL, Redis and S3.
//!
//! It composes the services' own [`App`]s over one resolver, so they share one database
//! pool, one queue and one store: the api (`http://127.0.0.1:3000/api/v1`, relaying the
//! outbox), the generator, the mock server following the store on a loopback port, the
//! proxy in front of it serving every published mock at
//! `http://<mock>-<handle>.localhost:8080`, and ops verifying each published host through
//! the proxy (mode `local`: `*.localhost` needs no records); and the web interface at
//! `http://127.0.0.1:3000/` once built (`cargo xtask web`). The mock server records every
//! request into the request journal the api lists (SQLite in the data directory by default,
//! Redis with `--redis-url`); stateful mocks keep their state (sequence positions, scenario
//! states, resource records) in this process's memory, or on Redis with `--redis-url`, and
//! the api shows and resets that same state. Each service also runs as its
//! own process (`moclojer-api`, `moclojer-generator`, `moclojer --store`, ...).

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use moclojer_api::{MocksUrl, Supabase};
use moclojer_domain::journal::Retention;
use moclojer_domain::spec::Mode;
use moclojer_domain::{TrustedProxies, Zone};
use moclojer_foss::{EngineOptions, Source, StoreSource};
use moclojer_ports::{DatabasePorts, ObjectStore, StateLimits};
use moclojer_wiring::{
    DatabaseUrl, JournalSettings, JournalUrl, QueueUrl, Resolver, StateSettings, StateUrl, StoreUrl,
};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How often ops reconciles in the all-in-one.
const OPS_RECONCILE: Duration = Duration::from_secs(60);

/// How long the relay waits between looks at an empty outbox: each hop of a publish (api →
/// generator → mock server) waits for it, so it bounds publish-to-live.
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
    pub database: Option<DatabaseUrl>,
    /// Redis instead of the in-process queue.
    pub queue: Option<QueueUrl>,
    /// An object store (`s3://bucket?endpoint=…`, `file:///dir`) instead of
    /// `<data_dir>/store`.
    pub store: Option<StoreUrl>,
    /// The zone of mock hosts.
    pub zone: Zone,
    /// The built web interface served by the api at `/`.
    pub web_dir: Option<PathBuf>,
    /// Supabase sign-in instead of local accounts.
    pub supabase: Option<Supabase>,
    /// Where requests are recorded; by default Redis with [`Self::queue`], else the SQLite
    /// database's file, else this process's memory.
    pub journal_url: Option<JournalUrl>,
    /// What the journal keeps.
    pub journal_retention: Retention,
    /// Where stateful mocks keep their state; by default Redis with [`Self::queue`], else
    /// this process's memory (one state for the mock server and the api).
    pub state_url: Option<StateUrl>,
    /// The bounds on each mock's state.
    pub state_limits: StateLimits,
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
            database: None,
            queue: None,
            store: None,
            zone: Zone::parse("localhost").expect("localhost is a zone"),
            web_dir: None,
            supabase: None,
            journal_url: None,
            journal_retention: Retention::DEFAULT,
            state_url: None,
            state_limits: StateLimits::default(),
        }
    }
}

/// What the services share: the URLs every one of them is given.
struct Shared {
    database: DatabaseUrl,
    store: StoreUrl,
    queue: QueueUrl,
    journal: JournalSettings,
    state: StateSettings,
}

impl Shared {
    fn of(config: &Config) -> Self {
        let database = config
            .database
            .clone()
            .unwrap_or_else(|| DatabaseUrl::sqlite_file(config.data_dir.join("moclojer.sqlite")));
        let queue = config.queue.clone().unwrap_or(QueueUrl::Memory);
        let journal = config
            .journal_url
            .clone()
            .unwrap_or_else(|| match (&queue, &database) {
                (QueueUrl::Redis { .. }, _) => JournalUrl::from(&queue),
                (_, DatabaseUrl::SqliteFile(_)) => JournalUrl::Sqlite(database.clone()),
                _ => JournalUrl::Memory,
            });
        let state = config
            .state_url
            .clone()
            .unwrap_or_else(|| StateUrl::from(&queue));
        Self {
            database,
            store: config
                .store
                .clone()
                .unwrap_or_else(|| StoreUrl::Dir(config.data_dir.join("store"))),
            queue,
            journal: JournalSettings {
                url: journal,
                retention: config.journal_retention,
            },
            state: StateSettings {
                url: state,
                limits: config.state_limits,
            },
        }
    }
}

/// The services, built and ready to run.
#[derive(Debug)]
pub struct App {
    data_dir: PathBuf,
    ports: DatabasePorts,
    store: Arc<dyn ObjectStore>,
    web_dir: Option<PathBuf>,
    api: moclojer_api::App,
    generator: moclojer_generator::App,
    ops: moclojer_ops::App,
    foss: moclojer_foss::App,
    proxy: moclojer_proxy::App,
}

impl moclojer_wiring::App for App {
    type Config = Config;

    /// Makes the data directory, then builds every service over `resolver`: the database
    /// is opened (and migrated) once, the store and the queue too, and every address is
    /// bound.
    async fn build(config: Config, resolver: &Resolver) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("create the data directory {}", config.data_dir.display()))?;
        let shared = Shared::of(&config);
        let ports = resolver.database(&shared.database).await?.ports().clone();
        let store = resolver.store(&shared.store).await?;
        let foss = moclojer_foss::App::build(foss_config(&config, &shared), resolver).await?;
        let proxy = moclojer_proxy::App::build(
            moclojer_proxy::Config {
                addr: config.mocks_addr,
                zone: config.zone.clone(),
                ..moclojer_proxy::Config::new(vec![foss.local_addr()?])
            },
            resolver,
        )
        .await?;
        let mocks_port = proxy.addr().port();
        let api =
            moclojer_api::App::build(api_config(&config, &shared, mocks_port), resolver).await?;
        let ops =
            moclojer_ops::App::build(ops_config(&config, &shared, mocks_port), resolver).await?;
        let generator = moclojer_generator::App::build(
            moclojer_generator::Config {
                relay_outbox: false, // the api's relay moves every outbox row
                ..moclojer_generator::Config::new(
                    shared.database.clone(),
                    shared.store.clone(),
                    Some(shared.queue.clone()),
                )
            },
            resolver,
        )
        .await?;
        Ok(Self {
            data_dir: config.data_dir,
            ports,
            store,
            web_dir: config.web_dir,
            api,
            generator,
            ops,
            foss,
            proxy,
        })
    }

    /// Runs every service until `stop` completes, then stops them all and waits for each.
    async fn run(self, stop: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let api_addr = self.api_addr();
        tracing::info!(
            data_dir = %self.data_dir.display(),
            "api on http://{api_addr}/api/v1 (docs at /api/v1/docs); mocks on http://<mock>-<handle>.localhost:{}",
            self.mocks_addr().port()
        );
        match &self.web_dir {
            Some(dir) if dir.join("index.html").is_file() => {
                tracing::info!(web_dir = %dir.display(), "web interface on http://{api_addr}/");
            }
            _ => tracing::warn!(
                missing = "web",
                "the web interface is not built (`cargo xtask web`); the all-in-one runs what exists"
            ),
        }
        let (stopping, stopped) = watch::channel(());
        let until_stopped = move || {
            let mut stopped = stopped.clone();
            async move {
                stopped.changed().await.ok();
            }
        };
        let services = [
            ("the mock server", spawn(self.foss, until_stopped())),
            ("the api", spawn(self.api, until_stopped())),
            ("the generator", spawn(self.generator, until_stopped())),
            ("ops", spawn(self.ops, until_stopped())),
            ("the proxy", spawn(self.proxy, until_stopped())),
        ];
        stop.await;
        drop(stopping);
        let mut first_error = None;
        for (name, service) in services {
            let result = service
                .await
                .with_context(|| format!("{name} task"))
                .and_then(|served| served.with_context(|| format!("{name} stopped")));
            if let Err(e) = result {
                tracing::warn!(error = format!("{e:#}"), "{name} failed");
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

impl App {
    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The database's ports.
    pub fn ports(&self) -> &DatabasePorts {
        &self.ports
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
        self.api.local_addr().expect("bound")
    }

    /// Where the mocks answer (the proxy).
    pub fn mocks_addr(&self) -> SocketAddr {
        self.proxy.addr()
    }
}

/// Runs `app` on a task of its own until `stop`.
fn spawn<A: moclojer_wiring::App>(
    app: A,
    stop: impl Future<Output = ()> + Send + 'static,
) -> JoinHandle<anyhow::Result<()>> {
    tokio::spawn(app.run(stop))
}

/// The mock server behind the proxy, on loopback: it follows the shared store, reloads at
/// once on `config.published` (group `foss`), and believes the proxy's `X-Real-IP` (only
/// the proxy reaches it), so per-client rate limits count each client.
fn foss_config(config: &Config, shared: &Shared) -> moclojer_foss::Config {
    let source = Source::Store(Box::new(StoreSource {
        poll: config.poll,
        events: Some((shared.queue.clone(), "foss".to_owned())),
        ..StoreSource::new(shared.store.clone())
    }));
    moclojer_foss::Config {
        options: EngineOptions {
            mode: Mode::Cloud,
            trusted_proxies: TrustedProxies::loopback(),
            ..EngineOptions::default()
        },
        max_spec_bytes: None, // one host's object, at most MAX_OBJECT_BYTES
        journal: Some(shared.journal.clone()),
        state: Some(shared.state.clone()),
        ..moclojer_foss::Config::new(SocketAddr::from(([127, 0, 0, 1], 0)), source)
    }
}

/// The api, relaying the one outbox to the shared queue.
fn api_config(config: &Config, shared: &Shared, mocks_port: u16) -> moclojer_api::Config {
    moclojer_api::Config {
        addr: config.api_addr,
        queue: Some(shared.queue.clone()),
        relay_idle: RELAY_IDLE,
        zone: config.zone.clone(),
        mocks_url: MocksUrl {
            scheme: "http".to_owned(),
            port: (mocks_port != 80).then_some(mocks_port),
        },
        supabase: config.supabase.clone(),
        web_dir: config.web_dir.clone(),
        journal: Some(shared.journal.clone()),
        state: Some(shared.state.clone()),
        ..moclojer_api::Config::new(shared.database.clone())
    }
}

/// ops on the embedded defaults: `*.localhost` resolves by itself, so no records are made
/// (mode `local`); each published host is verified through the proxy, and its DNS status
/// becomes `published`.
fn ops_config(config: &Config, shared: &Shared, mocks_port: u16) -> moclojer_ops::Config {
    let mut settings = moclojer_ops::Settings::new(config.zone.clone(), "localhost");
    settings.mode = moclojer_ops::Mode::Local;
    settings.verify_delay = Duration::from_millis(100);
    settings.verify_max_delay = Duration::from_secs(2);
    moclojer_ops::Config {
        database: shared.database.clone(),
        queue: Some(shared.queue.clone()),
        relay_outbox: false, // the api's relay moves every outbox row
        dns: moclojer_ops::DnsChoice::Memory,
        paas_app_id: None,
        paas_config: None,
        settings,
        probe_scheme: "http".to_owned(),
        probe_port: Some(mocks_port),
        reconcile_every: OPS_RECONCILE,
        instance: "cloud".to_owned(),
    }
}
