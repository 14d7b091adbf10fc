//! The mock server as a process: its [`Config`] (where it listens, what it serves from)
//! and the [`App`] that runs it.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use arc_swap::ArcSwap;
use moclojer_domain::Shard;
use moclojer_domain::spec::{Limits, Mode};
use moclojer_ports::{ObjectStore, check_group_name};
use moclojer_wiring::{JournalSettings, QueueUrl, Resolver, StateSettings, StoreUrl};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::admin::{Admin, serve_admin};
use crate::cloud::{CLOUD_POLL_INTERVAL, CloudSource, MAX_OBJECT_BYTES};
use crate::engine::EngineOptions;
use crate::hosted::{ConfigEvents, serve_cloud_with};
use crate::hosts::HostEngines;
use crate::journal::{JOURNAL_CHANNEL, Recorder, STANDALONE_JOURNAL_HOST};
use crate::load::{SpecFiles, load_files};
use crate::server::{ServeOptions, serve_with};
use crate::watch::watch;

/// What the mock server serves.
#[derive(Debug, Clone)]
pub enum Source {
    /// Standalone: a spec file (and an OpenAPI mocks file), reloaded when it changes.
    Files(SpecFiles),
    /// Cloud mode: the published index in an object store, followed, one engine per host.
    Store(Box<StoreSource>),
}

/// Where a cloud-mode server follows its config.
#[derive(Debug, Clone)]
pub struct StoreSource {
    /// The object store the generator writes to.
    pub store: StoreUrl,
    /// How often the index is looked at.
    pub poll: Duration,
    /// Which hosts this server serves (all by default).
    pub shard: Shard,
    /// Where `config.published` is heard, to reload at once, and this replica's consumer
    /// group there (every replica needs its own).
    pub events: Option<(QueueUrl, String)>,
}

impl StoreSource {
    /// `store`, polled every second, every host, without events.
    pub fn new(store: StoreUrl) -> Self {
        Self {
            store,
            poll: CLOUD_POLL_INTERVAL,
            shard: Shard::ALL,
            events: None,
        }
    }
}

/// How the mock server runs.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where it listens.
    pub addr: SocketAddr,
    /// What it serves.
    pub source: Source,
    /// How endpoints behave; in cloud mode, the mode is cloud whatever this says.
    pub options: EngineOptions,
    /// The largest spec accepted, in bytes; `None` for the mode's default (1 MiB from a
    /// file, [`MAX_OBJECT_BYTES`] for one host's object from a store).
    pub max_spec_bytes: Option<usize>,
    /// Where the requests served are recorded; none by default.
    pub journal: Option<JournalSettings>,
    /// Standalone: where the admin listener (the journal's `GET`/`DELETE /requests`)
    /// listens; it needs [`Self::journal`].
    pub admin_addr: Option<SocketAddr>,
    /// Where stateful mocks keep their state (sequence positions, scenario states,
    /// resource records), opened through the resolver so the apps of one process share
    /// it; `None` keeps [`EngineOptions::state`] (this process's memory by default).
    pub state: Option<StateSettings>,
}

impl Config {
    /// Serves `source` on `addr` with the default options.
    pub fn new(addr: SocketAddr, source: Source) -> Self {
        Self {
            addr,
            source,
            options: EngineOptions::default(),
            max_spec_bytes: None,
            journal: None,
            admin_addr: None,
            state: None,
        }
    }
}

/// What the server was built to serve.
enum Served {
    Files {
        files: SpecFiles,
        engine: crate::SharedEngine,
    },
    Store {
        store: Arc<dyn ObjectStore>,
        poll: Duration,
        shard: Shard,
        events: Option<ConfigEvents>,
    },
}

/// The wired mock server.
pub struct App {
    listener: TcpListener,
    served: Served,
    options: EngineOptions,
    limits: Limits,
    recording: Option<Recording>,
}

/// The journal's recorder and writer, and the admin listener when there is one.
struct Recording {
    recorder: Recorder,
    writer: JoinHandle<()>,
    admin: Option<(TcpListener, Admin)>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("listener", &self.listener)
            .finish_non_exhaustive()
    }
}

impl moclojer_wiring::App for App {
    type Config = Config;

    /// Opens the state, loads the spec files (refusing a spec that does not validate) or
    /// opens the store and the queue, then binds the address.
    async fn build(config: Config, resolver: &Resolver) -> anyhow::Result<Self> {
        let journal = config.journal.clone();
        let admin_addr = config.admin_addr;
        let mut options = config.options;
        if let Some(settings) = &config.state {
            options.state = resolver.state(&settings.url, settings.limits).await?;
            tracing::info!(
                state = %settings.url,
                max_records = settings.limits.max_records,
                max_bytes = settings.limits.max_bytes,
                "stateful mocks keep their state"
            );
        }
        let (served, options, limits) = match config.source {
            Source::Files(files) => {
                let limits = Limits::for_bytes(
                    config
                        .max_spec_bytes
                        .unwrap_or(moclojer_domain::MAX_SPEC_BYTES),
                );
                let options = EngineOptions {
                    spec_dir: files.config.parent().map(PathBuf::from),
                    ..options
                };
                let engine = load_files(&files, options.clone(), &limits)
                    .with_context(|| format!("load {}", files.config.display()))?;
                for warning in engine.warnings() {
                    tracing::warn!(file = %files.config.display(), "{warning}");
                }
                let engine = Arc::new(ArcSwap::from_pointee(engine));
                (Served::Files { files, engine }, options, limits)
            }
            Source::Store(source) => {
                let limits = Limits::for_bytes(config.max_spec_bytes.unwrap_or(MAX_OBJECT_BYTES));
                let served = Served::Store {
                    store: resolver.store(&source.store).await?,
                    poll: source.poll,
                    shard: source.shard,
                    events: config_events(resolver, source.events).await?,
                };
                let options = EngineOptions {
                    mode: Mode::Cloud,
                    ..options
                };
                (served, options, limits)
            }
        };
        let recording = recording(journal.as_ref(), admin_addr, &served, resolver).await?;
        let listener = TcpListener::bind(config.addr)
            .await
            .with_context(|| format!("listen on {} (the mocks)", config.addr))?;
        Ok(Self {
            listener,
            served,
            options,
            limits,
            recording,
        })
    }

    /// Serves until `stop`; then requests in flight finish.
    async fn run(self, stop: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let bound = self
            .listener
            .local_addr()
            .context("read the bound address")?;
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let stopped = move || {
            let mut stop = stop_rx.clone();
            async move {
                stop.wait_for(|stopped| *stopped).await.ok();
            }
        };
        tokio::spawn(async move {
            stop.await;
            stop_tx.send(true).ok();
        });
        let mut settings = ServeOptions::default();
        let mut writer = None;
        let mut admin_task = None;
        if let Some(recording) = self.recording {
            settings.journal = Some(recording.recorder);
            writer = Some(recording.writer);
            if let Some((listener, admin)) = recording.admin {
                let admin = admin.with_webhooks(self.options.webhooks.clone());
                tracing::info!(
                    "request journal on http://{}/requests",
                    listener.local_addr().context("read the admin address")?
                );
                admin_task = Some(tokio::spawn(serve_admin(listener, admin, stopped())));
            }
        }
        let served = match self.served {
            Served::Files { files, engine } => {
                tracing::info!(
                    file = %files.config.display(),
                    endpoints = engine.load().endpoint_count(),
                    "listening on http://{bound}"
                );
                let watcher =
                    tokio::spawn(watch(files, Arc::clone(&engine), self.options, self.limits));
                let served = serve_with(self.listener, engine, settings, stopped()).await;
                watcher.abort();
                served
            }
            Served::Store {
                store,
                poll,
                shard,
                events,
            } => {
                tracing::info!(%shard, "cloud mode: listening on http://{bound}");
                let source = CloudSource::new(
                    store,
                    Arc::new(HostEngines::new()),
                    &self.options,
                    self.limits,
                )
                .with_shard(shard);
                serve_cloud_with(self.listener, source, poll, events, settings, stopped()).await
            }
        };
        if let Some(admin) = admin_task {
            admin.await.ok();
        }
        if let Some(writer) = writer {
            // Every recorder is gone with the server: the writer ends once it has written.
            writer.await.ok();
        }
        served.context("serve")
    }
}

/// The journal's recorder (and the admin listener) `config` asks for.
async fn recording(
    journal: Option<&JournalSettings>,
    admin_addr: Option<SocketAddr>,
    served: &Served,
    resolver: &Resolver,
) -> anyhow::Result<Option<Recording>> {
    let standalone = matches!(served, Served::Files { .. });
    let Some(settings) = journal else {
        if admin_addr.is_some() {
            anyhow::bail!(
                "the admin listener serves the request journal: turn it on with --journal N"
            );
        }
        return Ok(None);
    };
    let journal = resolver.journal(&settings.url, settings.retention).await?;
    let (recorder, writer) = if standalone {
        Recorder::start_standalone(Arc::clone(&journal), JOURNAL_CHANNEL)
    } else {
        Recorder::start(Arc::clone(&journal), JOURNAL_CHANNEL)
    };
    let admin = match admin_addr {
        None => None,
        Some(_) if !standalone => anyhow::bail!(
            "the admin listener is the standalone server's; in cloud mode the api lists requests"
        ),
        Some(addr) => {
            let listener = TcpListener::bind(addr)
                .await
                .with_context(|| format!("listen on {addr} (the admin listener)"))?;
            Some((
                listener,
                Admin::new(journal, STANDALONE_JOURNAL_HOST).with_recorder(recorder.clone()),
            ))
        }
    };
    tracing::info!(journal = %settings.url, records = settings.retention.max_records, "recording requests");
    Ok(Some(Recording {
        recorder,
        writer,
        admin,
    }))
}

impl App {
    /// Where the admin listener answers, when there is one.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        let (listener, _) = self.recording.as_ref()?.admin.as_ref()?;
        listener.local_addr().ok()
    }

    /// Where the mocks answer.
    ///
    /// # Errors
    /// When the socket has no address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }
}

/// The queue and group a replica hears `config.published` on.
async fn config_events(
    resolver: &Resolver,
    events: Option<(QueueUrl, String)>,
) -> anyhow::Result<Option<ConfigEvents>> {
    let Some((url, group)) = events else {
        return Ok(None);
    };
    check_group_name(&group).context("the consumer group")?;
    let queue = resolver.queue(&url).await?;
    tracing::info!(group, queue = %url, "reloading on config.published");
    Ok(Some(ConfigEvents { queue, group }))
}
