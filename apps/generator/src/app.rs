//! The generator as a process: its [`Config`] and the [`App`] that runs it.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use moclojer_domain::spec::Limits;
use moclojer_egress::{Egress, EgressConfig};
use moclojer_ports::{EventQueue, RandomIds, Relay, RelaySettings, SystemClock};
use moclojer_wiring::{DatabaseUrl, QueueUrl, Resolver, StoreUrl};

use crate::{Deps, Rebuilt, rebuild, run};

/// The most relay steps [`App::run_once`] takes to empty the outbox (a step moves up to a
/// batch).
const ONCE_MAX_RELAY_STEPS: usize = 1_000;

/// How often a generator that hears events rebuilds everything anyway.
pub const REBUILD_WITH_EVENTS: Duration = Duration::from_secs(60);

/// How often a generator without a queue rebuilds: its only way to see changes.
pub const REBUILD_WITHOUT_EVENTS: Duration = Duration::from_secs(5);

/// How the generator process runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The database the mocks and publications are read from.
    pub database: DatabaseUrl,
    /// The object store the generated configs are written to.
    pub store: StoreUrl,
    /// The queue the other services' events come from (as the [`GROUP`](crate::GROUP)
    /// consumer group); `None` for none, and the interval alone rebuilds.
    pub queue: Option<QueueUrl>,
    /// Whether this process relays its own outbox (the `config.published` it records) to
    /// the queue; the all-in-one leaves that to the api's relay.
    pub relay_outbox: bool,
    /// How often to rebuild without being told to.
    pub interval: Duration,
}

impl Config {
    /// A generator on `database` and `store`, hearing and relaying to `queue` when given.
    /// It rebuilds everything (the safety net) every minute when it hears events, every 5
    /// seconds when the interval is all it has.
    pub fn new(database: DatabaseUrl, store: StoreUrl, queue: Option<QueueUrl>) -> Self {
        let interval = if queue.is_some() {
            REBUILD_WITH_EVENTS
        } else {
            REBUILD_WITHOUT_EVENTS
        };
        Self {
            database,
            store,
            relay_outbox: queue.is_some(),
            queue,
            interval,
        }
    }
}

/// The wired generator.
#[derive(Debug)]
pub struct App {
    deps: Deps,
    queue: Arc<dyn EventQueue>,
    hears_events: bool,
    /// The outbox relay to the queue, when this process relays.
    relay: Option<Relay>,
    interval: Duration,
}

impl moclojer_wiring::App for App {
    type Config = Config;

    /// Opens the database (migrated), the object store and, when configured, the queue;
    /// an unreachable Redis is not an error (the queue reconnects in the background).
    async fn build(config: Config, resolver: &Resolver) -> anyhow::Result<Self> {
        let database = resolver.database(&config.database).await?;
        let store = resolver.store(&config.store).await?;
        let queue = resolver
            .queue(config.queue.as_ref().unwrap_or(&QueueUrl::Memory))
            .await?;
        let ports = database.ports();
        let ids = Arc::new(RandomIds);
        let relay = config.relay_outbox.then(|| {
            let name = format!(
                "generator-{}-{}",
                std::process::id(),
                moclojer_ports::IdGenerator::event_id(ids.as_ref())
            );
            Relay::new(
                Arc::clone(&ports.outbox),
                Arc::clone(&queue),
                RelaySettings::named(name),
            )
        });
        tracing::info!(
            database = %config.database,
            store = %config.store,
            queue = %config.queue.as_ref().map_or_else(|| "none (interval only)".to_owned(), ToString::to_string),
            "generator wired"
        );
        Ok(Self {
            deps: Deps {
                mocks: Arc::clone(&ports.mocks),
                publications: Arc::clone(&ports.publications),
                outbox: Arc::clone(&ports.outbox),
                store,
                clock: Arc::new(SystemClock),
                ids,
                limits: Limits::default(),
                destinations: Arc::new(
                    Egress::new(EgressConfig::strict()).context("set up the egress guard")?,
                ),
                published: crate::Published::new(),
            },
            queue,
            hears_events: config.queue.is_some(),
            relay,
            interval: config.interval,
        })
    }

    /// Runs the worker ([`run`]: a rebuild at start, on every batch of events, and every
    /// interval) and, when this process relays, the outbox relay next to it.
    async fn run(self, stop: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let relaying = self.relay.clone().map(Relay::spawn);
        tracing::info!(
            interval = ?self.interval,
            events = self.hears_events,
            "generator running"
        );
        let result = run(&self.deps, self.queue.as_ref(), self.interval, stop).await;
        if let Some(relaying) = relaying {
            relaying.stop().await;
        }
        result
    }
}

impl App {
    /// The dependencies, as wired.
    pub fn deps(&self) -> &Deps {
        &self.deps
    }

    /// Whether events come from a queue shared with the other services.
    pub fn hears_events(&self) -> bool {
        self.hears_events
    }

    /// One rebuild; when this process relays, the outbox is then relayed until it is
    /// empty, so the `config.published` it recorded reaches the queue.
    ///
    /// # Errors
    /// As [`rebuild`], or when the relay fails.
    pub async fn run_once(self) -> anyhow::Result<Rebuilt> {
        let rebuilt = rebuild(&self.deps).await?;
        if let Some(relay) = &self.relay {
            let relayed = relay.drain(ONCE_MAX_RELAY_STEPS).await?;
            tracing::debug!(relayed, "outbox relayed");
        }
        Ok(rebuilt)
    }
}
