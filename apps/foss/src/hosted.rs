//! Cloud mode's serving: the engine that follows the object store ([`follow`]), the
//! listener for `config.published` ([`listen_for_configs`]) and the server, together
//! ([`serve_cloud`]). Which store, and how it is opened, is the wiring's
//! (`moclojer-wiring`'s `StoreUrl` and resolver).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use moclojer_domain::EventKind;
use moclojer_domain::spec::{Limits, Mode, Spec};
use moclojer_ports::{EventQueue, ObjectStore, PortError};
use tokio::net::TcpListener;
use tokio::sync::Notify;

use crate::cloud::{CloudSource, follow};
use crate::engine::{Engine, EngineOptions};
use crate::server::{Readiness, ServeOptions, SharedEngine, serve_ready};

/// An engine with no routes: what a cloud server serves until the store has a manifest
/// (every host gets 404).
///
/// # Panics
/// Never: an empty spec always builds.
pub fn empty_engine(options: &EngineOptions) -> SharedEngine {
    let options = cloud_options(options);
    #[allow(clippy::expect_used, reason = "an empty spec has nothing to refuse")]
    let engine = Engine::build(Spec::default(), options).expect("an empty spec builds");
    Arc::new(ArcSwap::from_pointee(engine))
}

/// `options` as cloud mode uses them: [`Mode::Cloud`] and no spec folder, so no tenant can
/// read local files.
pub fn cloud_options(options: &EngineOptions) -> EngineOptions {
    EngineOptions {
        mode: Mode::Cloud,
        spec_dir: None,
        ..options.clone()
    }
}

/// Where a mock server hears `config.published`: a queue and its own consumer group.
/// Every replica needs its own group, since every replica must reload.
#[derive(Debug, Clone)]
pub struct ConfigEvents {
    /// The queue the generator's events reach.
    pub queue: Arc<dyn EventQueue>,
    /// This replica's consumer group (1 to 64 of `[a-z0-9_-]`).
    pub group: String,
}

/// How long one wait for events lasts before the listener looks at `stop` again.
const EVENT_WAIT: Duration = Duration::from_secs(1);

/// Wakes `trigger` whenever `config.published` arrives, until `stop`; acks everything it
/// hears. A queue that fails is retried every few seconds: polling keeps the mock server
/// current meanwhile.
pub async fn listen_for_configs(
    events: ConfigEvents,
    trigger: Arc<Notify>,
    stop: impl Future<Output = ()>,
) {
    tokio::pin!(stop);
    let ConfigEvents { queue, group } = events;
    loop {
        let step = async {
            queue.ensure_group(&group).await?;
            let batch = queue.receive(&group, &group, 64, EVENT_WAIT).await?;
            if batch
                .iter()
                .any(|d| matches!(d.event.kind, EventKind::ConfigPublished { .. }))
            {
                trigger.notify_one();
            }
            let ids: Vec<_> = batch.into_iter().map(|d| d.id).collect();
            if !ids.is_empty() {
                queue.ack(&group, &ids).await?;
            }
            Ok::<(), PortError>(())
        };
        let failed = tokio::select! {
            result = step => result.err(),
            () = &mut stop => return,
        };
        if let Some(e) = failed {
            tracing::warn!(error = %e, group, "cannot hear config events; polling meanwhile");
            tokio::select! {
                () = tokio::time::sleep(Duration::from_secs(3)) => {}
                () = &mut stop => return,
            }
        }
    }
}

/// Serves on `listener` what `store` holds, following it every `interval` (see
/// [`follow`]), until `shutdown` completes; then requests in flight finish as in
/// [`serve`](crate::server::serve). Until the store has a manifest every host gets 404.
/// The proxy's health check ([`Readiness`]) is answered 503 until the store has been read
/// once.
///
/// # Errors
/// Never in practice (as [`serve`](crate::server::serve)).
pub async fn serve_cloud(
    listener: TcpListener,
    store: Arc<dyn ObjectStore>,
    options: EngineOptions,
    limits: Limits,
    interval: Duration,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    serve_cloud_with_events(listener, store, options, limits, interval, None, shutdown).await
}

/// [`serve_cloud`], also reloading as soon as `events` hears `config.published`.
///
/// # Errors
/// As [`serve`](crate::server::serve).
pub async fn serve_cloud_with_events(
    listener: TcpListener,
    store: Arc<dyn ObjectStore>,
    options: EngineOptions,
    limits: Limits,
    interval: Duration,
    events: Option<ConfigEvents>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let options = cloud_options(&options);
    let engine = empty_engine(&options);
    let stop = Arc::new(Notify::new());
    let readiness = Readiness::not_yet();
    let source = CloudSource::new(store).with_readiness(readiness.clone());
    let stop_listening = Arc::new(Notify::new());
    let listening = events.map(|events| {
        let trigger = source.reload_now();
        let stop = Arc::clone(&stop_listening);
        tokio::spawn(listen_for_configs(events, trigger, async move {
            stop.notified().await;
        }))
    });
    let follower = tokio::spawn(follow(
        source,
        Arc::clone(&engine),
        options,
        limits,
        interval,
        {
            let stop = Arc::clone(&stop);
            async move { stop.notified().await }
        },
    ));
    let served = serve_ready(
        listener,
        engine,
        ServeOptions::default(),
        readiness,
        shutdown,
    )
    .await;
    stop.notify_one();
    stop_listening.notify_one();
    if let Err(e) = follower.await {
        tracing::warn!(error = %e, "the store follower ended abnormally");
    }
    if let Some(listening) = listening {
        listening.await.ok();
    }
    served
}
