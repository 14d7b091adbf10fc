//! Cloud mode's serving: the per-host engines that follow the object store ([`follow`]),
//! the listener for `config.published` ([`listen_for_configs`]) and the server, together
//! ([`serve_cloud`]). Which store, and how it is opened, is the wiring's
//! (`moclojer-wiring`'s `StoreUrl` and resolver).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use moclojer_domain::EventKind;
use moclojer_ports::{EventQueue, PortError};
use tokio::net::TcpListener;
use tokio::sync::Notify;

use crate::cloud::{CloudSource, follow};
use crate::server::{Readiness, ServeOptions, Serving, serve_ready};

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

/// Serves on `listener` the hosts `source` fills, following its store every `interval`
/// (see [`follow`]) and, with `events`, as soon as `config.published` is heard, until
/// `shutdown` completes; then requests in flight finish as in
/// [`serve`](crate::server::serve). Until the store has an index every host gets 404. The
/// proxy's health check ([`Readiness`]) is answered 503 until the store has been read and
/// every host it names for this shard is serving.
///
/// # Errors
/// Never in practice (as [`serve`](crate::server::serve)).
pub async fn serve_cloud(
    listener: TcpListener,
    source: CloudSource,
    interval: Duration,
    events: Option<ConfigEvents>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let settings = ServeOptions::default();
    serve_cloud_with(listener, source, interval, events, settings, shutdown).await
}

/// [`serve_cloud`] with explicit connection settings (a request journal among them).
///
/// # Errors
/// Never in practice (as [`serve`](crate::server::serve)).
pub async fn serve_cloud_with(
    listener: TcpListener,
    source: CloudSource,
    interval: Duration,
    events: Option<ConfigEvents>,
    settings: ServeOptions,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let readiness = Readiness::not_yet();
    let serving = Serving::PerHost {
        hosts: Arc::clone(source.hosts()),
        options: Arc::clone(source.options()),
    };
    let source = source.with_readiness(readiness.clone());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = move || {
        let mut stop = stop_rx.clone();
        async move {
            stop.wait_for(|stopped| *stopped).await.ok();
        }
    };
    let listening = events
        .map(|events| tokio::spawn(listen_for_configs(events, source.reload_now(), stopped())));
    let follower = tokio::spawn(follow(source, interval, stopped()));
    let served = serve_ready(listener, serving, settings, readiness, shutdown).await;
    stop_tx.send(true).ok();
    if let Err(e) = follower.await {
        tracing::warn!(error = %e, "the store follower ended abnormally");
    }
    if let Some(listening) = listening {
        listening.await.ok();
    }
    served
}
