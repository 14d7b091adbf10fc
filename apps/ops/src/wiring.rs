//! The one place that picks adapters for the ops process: the database by URL, Redis for
//! events, the DNS provider (Cloudflare, DigitalOcean, or in memory for development) and
//! the PaaS (DigitalOcean App Platform, or none).

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use moclojer_cloudflare::{CloudflareConfig, CloudflareDns};
use moclojer_digitalocean::{DigitalOceanApps, DigitalOceanConfig, DigitalOceanDns};
use moclojer_egress::{Egress, EgressConfig};
use moclojer_memory::{InMemoryDns, InMemoryEventQueue};
use moclojer_ports::{
    DnsProvider, EventQueue, HttpClient, LeaseStore, MockRepository, Outbox, PaasProvider,
    PublicationRepository, RandomIds, Relay, RelaySettings, SystemClock,
};
use moclojer_postgres::{PostgresConfig, PostgresDatabase};
use moclojer_redis::{RedisConfig, RedisEventQueue};
use moclojer_sqlite::{SqliteConfig, SqliteDatabase};

use crate::{Deps, Settings, Verifier, run};

/// Which DNS provider.
#[derive(Debug, Clone)]
pub enum DnsChoice {
    /// Records kept in this process (development; nothing resolves).
    Memory,
    /// Cloudflare: zone id and API token.
    Cloudflare(CloudflareConfig),
    /// DigitalOcean's Domains API for the zone.
    DigitalOcean(DigitalOceanConfig),
}

/// How the ops process runs.
#[derive(Debug, Clone)]
pub struct Config {
    /// `sqlite:PATH` or `postgres://…`.
    pub database_url: String,
    /// Events from Redis (the `ops` group); without it, reconcile alone.
    pub redis_url: Option<String>,
    /// The Redis stream, when not the default.
    pub redis_stream: Option<String>,
    /// Where records go.
    pub dns: DnsChoice,
    /// DigitalOcean App Platform app whose domains ops manages (with `paas_config`).
    pub paas_app_id: Option<String>,
    /// The DigitalOcean API settings for App Platform.
    pub paas_config: Option<DigitalOceanConfig>,
    /// What to make and how hard to try.
    pub settings: Settings,
    /// Probes go to `<scheme>://<host>[:port]/`.
    pub probe_scheme: String,
    /// The probe port, when not the scheme's default.
    pub probe_port: Option<u16>,
    /// How often the reconcile runs.
    pub reconcile_every: Duration,
    /// This instance's name, for the reconcile lease.
    pub instance: String,
}

enum Database {
    Sqlite(SqliteDatabase),
    Postgres(PostgresDatabase),
}

/// The wired ops process.
#[derive(Debug)]
pub struct App {
    deps: Deps,
    queue: Arc<dyn EventQueue>,
    outbox: Arc<dyn Outbox>,
    relays: bool,
    instance: String,
    every: Duration,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Sqlite(_) => "Database::Sqlite",
            Self::Postgres(_) => "Database::Postgres",
        })
    }
}

/// The database ports ops uses.
type DatabasePorts = (
    Arc<dyn MockRepository>,
    Arc<dyn PublicationRepository>,
    Arc<dyn Outbox>,
    Arc<dyn LeaseStore>,
);

fn ports<D>(db: &D) -> DatabasePorts
where
    D: MockRepository + PublicationRepository + Outbox + LeaseStore + Clone,
{
    (
        Arc::new(db.clone()),
        Arc::new(db.clone()),
        Arc::new(db.clone()),
        Arc::new(db.clone()),
    )
}

impl App {
    /// Opens the database and Redis, and builds the provider clients.
    ///
    /// # Errors
    /// When a dependency cannot be reached or a setting is refused.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let url = config.database_url.as_str();
        let database = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Database::Postgres(
                PostgresDatabase::connect(&PostgresConfig::new(url))
                    .await
                    .context("connect to PostgreSQL")?,
            )
        } else if url.starts_with("sqlite:") {
            Database::Sqlite(
                SqliteDatabase::connect(&SqliteConfig::new(url))
                    .await
                    .context("open the SQLite database")?,
            )
        } else {
            bail!("the database URL must start with sqlite: or postgres://");
        };
        let (mocks, publications, outbox, leases) = match &database {
            Database::Sqlite(db) => ports(db),
            Database::Postgres(db) => ports(db),
        };
        // Provider APIs are public services: the strict guard.
        let api_http: Arc<dyn HttpClient> =
            Arc::new(Egress::new(EgressConfig::strict()).context("set up the egress guard")?);
        let dns: Arc<dyn DnsProvider> = match config.dns {
            DnsChoice::Memory => Arc::new(InMemoryDns::new()),
            DnsChoice::Cloudflare(cf) => Arc::new(
                CloudflareDns::new(cf, Arc::clone(&api_http)).context("configure Cloudflare")?,
            ),
            DnsChoice::DigitalOcean(digital) => Arc::new(
                DigitalOceanDns::new(
                    Arc::clone(&api_http),
                    &digital,
                    config.settings.zone.as_str(),
                )
                .context("configure DigitalOcean DNS")?,
            ),
        };
        let paas: Option<Arc<dyn PaasProvider>> = match (config.paas_app_id, config.paas_config) {
            (Some(app), Some(digital)) => Some(Arc::new(
                DigitalOceanApps::new(Arc::clone(&api_http), &digital, &app)
                    .context("configure App Platform")?,
            )),
            (None, _) => None,
            (Some(_), None) => bail!("an App Platform app needs a DigitalOcean token"),
        };
        // Probes go to our own proxy, which may be on a private address.
        let probe_http: Arc<dyn HttpClient> =
            Arc::new(Egress::new(EgressConfig::open()).context("set up the probe client")?);
        let (queue, relays): (Arc<dyn EventQueue>, bool) = match &config.redis_url {
            None => (Arc::new(InMemoryEventQueue::default()), false),
            Some(url) => {
                let mut redis = RedisConfig::new(url.clone());
                if let Some(stream) = &config.redis_stream {
                    redis.stream.clone_from(stream);
                }
                (
                    Arc::new(
                        RedisEventQueue::connect(&redis)
                            .await
                            .context("connect to Redis")?,
                    ),
                    true,
                )
            }
        };
        Ok(Self {
            deps: Deps {
                mocks,
                publications,
                dns,
                paas,
                verifier: Verifier::new(probe_http, config.probe_scheme, config.probe_port),
                leases,
                clock: Arc::new(SystemClock),
                ids: Arc::new(RandomIds),
                settings: config.settings,
            },
            queue,
            outbox,
            relays,
            instance: config.instance,
            every: config.reconcile_every,
        })
    }

    /// The wired dependencies.
    pub fn deps(&self) -> &Deps {
        &self.deps
    }

    /// Runs until `stop`: events (when Redis is configured, with a relay of the status
    /// events ops records) and the periodic reconcile.
    pub async fn run(self, stop: impl std::future::Future<Output = ()>) {
        let stopping = Arc::new(tokio::sync::Notify::new());
        let relaying = self.relays.then(|| {
            let relay = Relay::new(
                Arc::clone(&self.outbox),
                Arc::clone(&self.queue),
                RelaySettings::named(format!("ops-{}", self.instance)),
            );
            let stopping = Arc::clone(&stopping);
            tokio::spawn(relay.run(async move { stopping.notified().await }))
        });
        tracing::info!(instance = %self.instance, mode = ?self.deps.settings.mode, "ops running");
        run(
            &self.deps,
            self.queue.as_ref(),
            &self.instance,
            self.every,
            stop,
        )
        .await;
        stopping.notify_waiters();
        if let Some(relaying) = relaying {
            relaying.await.ok();
        }
    }
}
