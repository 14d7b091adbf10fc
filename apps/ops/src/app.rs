//! ops as a process: its [`Config`], the DNS provider and PaaS it is told to use, and the
//! [`App`] that runs it.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use moclojer_cloudflare::{CloudflareConfig, CloudflareDns};
use moclojer_digitalocean::{DigitalOceanApps, DigitalOceanConfig, DigitalOceanDns};
use moclojer_egress::{Egress, EgressConfig};
use moclojer_memory::InMemoryDns;
use moclojer_ports::{
    DnsProvider, EventQueue, HttpClient, PaasProvider, RandomIds, Relay, RelaySettings, SystemClock,
};
use moclojer_wiring::{DatabaseUrl, QueueUrl, Resolver};

use crate::{Deps, Settings, Verifier, run};

/// Which DNS provider.
#[derive(Debug, Clone)]
pub enum DnsChoice {
    /// Records kept in this process (development, and names that resolve by themselves).
    Memory,
    /// Cloudflare: zone id and API token.
    Cloudflare(CloudflareConfig),
    /// DigitalOcean's Domains API for the zone.
    DigitalOcean(DigitalOceanConfig),
}

/// How the ops process runs.
#[derive(Debug, Clone)]
pub struct Config {
    /// The database of mocks and publications.
    pub database: DatabaseUrl,
    /// Events as the `ops` group; without a queue, the reconcile alone.
    pub queue: Option<QueueUrl>,
    /// Whether this process relays its own outbox (the status events it records) to the
    /// queue; the all-in-one leaves that to the api's relay.
    pub relay_outbox: bool,
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

/// The wired ops process.
#[derive(Debug)]
pub struct App {
    deps: Deps,
    queue: Arc<dyn EventQueue>,
    relay: Option<Relay>,
    instance: String,
    every: Duration,
}

impl moclojer_wiring::App for App {
    type Config = Config;

    /// Opens the database and the queue, and builds the provider clients.
    async fn build(config: Config, resolver: &Resolver) -> anyhow::Result<Self> {
        let database = resolver.database(&config.database).await?;
        let ports = database.ports();
        let queue = resolver
            .queue(config.queue.as_ref().unwrap_or(&QueueUrl::Memory))
            .await?;
        let relay = (config.relay_outbox && config.queue.is_some()).then(|| {
            Relay::new(
                Arc::clone(&ports.outbox),
                Arc::clone(&queue),
                RelaySettings::named(format!("ops-{}", config.instance)),
            )
        });
        // Provider APIs are public services: the strict guard.
        let api_http: Arc<dyn HttpClient> =
            Arc::new(Egress::new(EgressConfig::strict()).context("set up the egress guard")?);
        let dns = dns_provider(&config, &api_http)?;
        let paas = paas_provider(&config, &api_http)?;
        // Probes go to our own proxy, which may be on a private address.
        let probe_http: Arc<dyn HttpClient> =
            Arc::new(Egress::new(EgressConfig::open()).context("set up the probe client")?);
        Ok(Self {
            deps: Deps {
                mocks: Arc::clone(&ports.mocks),
                publications: Arc::clone(&ports.publications),
                dns,
                paas,
                verifier: Verifier::new(probe_http, config.probe_scheme, config.probe_port),
                leases: Arc::clone(&ports.leases),
                clock: Arc::new(SystemClock),
                ids: Arc::new(RandomIds),
                settings: config.settings,
            },
            queue,
            relay,
            instance: config.instance,
            every: config.reconcile_every,
        })
    }

    /// Runs until `stop`: events (with a relay of the status events ops records, when it
    /// relays) and the periodic reconcile.
    async fn run(self, stop: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let relaying = self.relay.clone().map(Relay::spawn);
        tracing::info!(instance = %self.instance, mode = ?self.deps.settings.mode, "ops running");
        run(
            &self.deps,
            self.queue.as_ref(),
            &self.instance,
            self.every,
            stop,
        )
        .await;
        if let Some(relaying) = relaying {
            relaying.stop().await;
        }
        Ok(())
    }
}

impl App {
    /// The wired dependencies.
    pub fn deps(&self) -> &Deps {
        &self.deps
    }
}

fn dns_provider(
    config: &Config,
    api_http: &Arc<dyn HttpClient>,
) -> anyhow::Result<Arc<dyn DnsProvider>> {
    Ok(match &config.dns {
        DnsChoice::Memory => Arc::new(InMemoryDns::new()),
        DnsChoice::Cloudflare(cf) => Arc::new(
            CloudflareDns::new(cf.clone(), Arc::clone(api_http)).context("configure Cloudflare")?,
        ),
        DnsChoice::DigitalOcean(digital) => Arc::new(
            DigitalOceanDns::new(Arc::clone(api_http), digital, config.settings.zone.as_str())
                .context("configure DigitalOcean DNS")?,
        ),
    })
}

fn paas_provider(
    config: &Config,
    api_http: &Arc<dyn HttpClient>,
) -> anyhow::Result<Option<Arc<dyn PaasProvider>>> {
    match (&config.paas_app_id, &config.paas_config) {
        (Some(app), Some(digital)) => Ok(Some(Arc::new(
            DigitalOceanApps::new(Arc::clone(api_http), digital, app)
                .context("configure App Platform")?,
        ))),
        (None, _) => Ok(None),
        (Some(_), None) => bail!("an App Platform app needs a DigitalOcean token"),
    }
}
