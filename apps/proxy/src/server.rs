//! The accept loop: admits clients under the connection caps, hands each connection to the
//! [`forwarder`](crate::forward), runs the upstream health checks (one per
//! [group](crate::shards)), and stops gracefully.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use moclojer_domain::Shard;
use moclojer_ports::HEALTH_CHECK_HOST;
use pingora::lb::health_check::HttpHealthCheck;
use pingora::lb::selection::RoundRobin;
use pingora::lb::{Backends, LoadBalancer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::admin::{self, Health};
use crate::discovery::Upstreams;
use crate::edge::{Edge, EdgeLimits};
use crate::forward::{Forwarder, serve_client};
use crate::limit::Limiter;
use crate::pool::Pool;
use crate::shards::{Group, Groups};
use crate::slots::Slots;
use crate::{Config, ProxyError};

/// Runs the proxy on `listener` until `stop` completes, then shuts down gracefully: no new
/// connections, requests in flight finish within [`Config::grace`] (their connections close
/// after them), idle connections close at once. Returns when every connection is closed.
/// [`Config::addr`] and [`Config::admin_addr`] play no part: the caller has bound the
/// listener, and there are no admin endpoints (an [`App`](crate::App) has them).
///
/// Runs on the caller's tokio runtime, which must be multi-threaded; see the crate docs for
/// embedding.
///
/// # Errors
/// [`ProxyError::NoUpstreams`] when the configuration names no upstream, another
/// [`ProxyError`] when its shard groups do not cover each shard exactly once
/// ([`Config::check`]).
pub async fn serve<F>(listener: TcpListener, config: Config, stop: F) -> Result<(), ProxyError>
where
    F: Future<Output = ()> + Send,
{
    serve_with_admin(listener, None, config, stop).await
}

/// [`serve`], with the admin endpoints (`/livez`, `/readyz`) on `admin` when given. On
/// `stop`, `/readyz` fails at once and the proxy keeps serving for
/// [`Config::drain_delay`] before it stops accepting; the admin listener closes last.
///
/// # Errors
/// As [`serve`].
pub(crate) async fn serve_with_admin(
    listener: TcpListener,
    admin: Option<TcpListener>,
    config: Config,
    stop: impl Future<Output = ()>,
) -> Result<(), ProxyError> {
    config.check()?;
    let groups = Arc::new(groups(&config).await);

    let (shutdown_tx, shutdown) = watch::channel(false);
    let mut health = JoinSet::new();
    for group in groups.iter() {
        let upstreams = Arc::clone(&group.upstreams);
        let shutdown = shutdown.clone();
        health.spawn(async move { upstreams.run(shutdown, None).await });
    }

    let stopping = Arc::new(AtomicBool::new(false));
    let (admin_closed_tx, admin_closed) = watch::channel(false);
    let admin = admin.map(|admin| {
        let state = Health {
            groups: Arc::clone(&groups),
            stopping: Arc::clone(&stopping),
        };
        tokio::spawn(admin::serve(admin, state, admin_closed))
    });

    let mut connections = Connections {
        forwarder: Arc::new(forwarder(&config, groups)),
        slots: Slots::new(
            config.max_connections,
            config.max_connections_per_client.unwrap_or(usize::MAX),
        ),
        shutdown,
        tasks: JoinSet::new(),
    };
    connections
        .accept_until_stopped(&listener, stop, &stopping, config.drain_delay)
        .await;
    drop(listener);
    connections.drain(&shutdown_tx, config.grace).await;

    while let Some(checked) = health.join_next().await {
        if checked.is_err() {
            tracing::warn!("a health check task failed");
        }
    }
    admin_closed_tx.send_replace(true);
    if let Some(admin) = admin
        && admin.await.is_err()
    {
        tracing::warn!("the admin listener failed");
    }
    tracing::info!("proxy stopped");
    Ok(())
}

/// The upstream groups: the one for every host, or one per shard.
async fn groups(config: &Config) -> Groups {
    if config.shard_upstreams.is_empty() {
        let every_host = Upstreams {
            fixed: config.upstreams.clone(),
            names: config.upstream_names.clone(),
        };
        return Groups::new(vec![group(config, None, every_host).await]);
    }
    let mut groups = Vec::with_capacity(config.shard_upstreams.len());
    for shard in &config.shard_upstreams {
        let upstreams = Upstreams {
            fixed: shard.upstreams.clone(),
            names: shard.upstream_names.clone(),
        };
        groups.push(group(config, Some(shard.shard), upstreams).await);
    }
    Groups::new(groups)
}

/// One group's upstreams, looked up once now (names again every
/// [`Config::resolve_interval`]) and health-checked every [`Config::health_check_interval`]
/// once running.
async fn group(config: &Config, shard: Option<Shard>, found: Upstreams) -> Group {
    let named = !found.names.is_empty();
    let mut upstreams = LoadBalancer::<RoundRobin>::from_backends(Backends::new(Box::new(found)));
    if let Err(e) = upstreams.update().await {
        // Nothing resolved yet: requests get 503 until a later round finds an upstream.
        match shard {
            Some(shard) => tracing::warn!(%shard, error = %e, "no upstream of the shard yet"),
            None => tracing::warn!(error = %e, "no upstream yet"),
        }
    }
    if named {
        upstreams.update_frequency = Some(config.resolve_interval);
    }
    upstreams.set_health_check(health_check(config));
    upstreams.health_check_frequency = Some(config.health_check_interval);
    upstreams.parallel_health_check = true;
    Group {
        shard,
        upstreams: Arc::new(upstreams),
    }
}

/// What every client connection forwards requests with, as `config` says.
fn forwarder(config: &Config, groups: Arc<Groups>) -> Forwarder {
    Forwarder {
        edge: Edge::new(
            config.zone.clone(),
            config.rate_limit.map(Limiter::new),
            config.trusted_fronts.clone(),
            EdgeLimits {
                max_header_bytes: config.max_header_bytes,
                max_body_bytes: config.max_body_bytes,
                connect_timeout: config.connect_timeout,
                read_timeout: config.upstream_timeout,
            },
        ),
        groups,
        pool: Pool::default(),
        header_timeout: config.header_timeout,
        keepalive_seconds: config.keepalive_seconds.max(1),
        max_requests_per_connection: config.max_requests_per_connection.max(1),
    }
}

/// The client connections: admitted under the caps, each served on a task of its own.
struct Connections {
    forwarder: Arc<Forwarder>,
    slots: Slots,
    /// Turns true once the proxy stops accepting.
    shutdown: watch::Receiver<bool>,
    /// One per open connection.
    tasks: JoinSet<()>,
}

impl Connections {
    /// Accepts connections until `stop` completes and [`Config::drain_delay`] has passed
    /// after it; `stopping` is set as soon as `stop` completes.
    async fn accept_until_stopped(
        &mut self,
        listener: &TcpListener,
        stop: impl Future<Output = ()>,
        stopping: &AtomicBool,
        drain_delay: Duration,
    ) {
        let mut stop = std::pin::pin!(stop);
        // Set once `stop` completes: when to stop accepting.
        let mut drain_until: Option<tokio::time::Instant> = None;
        loop {
            tokio::select! {
                () = &mut stop, if drain_until.is_none() => {
                    stopping.store(true, Ordering::Release);
                    if drain_delay.is_zero() {
                        break;
                    }
                    tracing::info!(
                        delay = ?drain_delay,
                        "proxy stopping: not ready, still serving while balancers notice"
                    );
                    drain_until = Some(tokio::time::Instant::now() + drain_delay);
                }
                () = sleep_until(drain_until), if drain_until.is_some() => break,
                accepted = listener.accept() => match accepted {
                    Ok((tcp, peer)) => self.admit(tcp, peer),
                    Err(e) => {
                        // Out of descriptors and the like: wait a moment rather than spin.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
                Some(_) = self.tasks.join_next(), if !self.tasks.is_empty() => {}
            }
        }
    }

    /// Serves a just-accepted connection on a task of its own, or turns it away when the
    /// caps are reached.
    fn admit(&mut self, tcp: TcpStream, peer: SocketAddr) {
        match self.slots.admit(peer.ip()) {
            Ok(slot) => {
                let connection = serve_client(
                    Arc::clone(&self.forwarder),
                    tcp,
                    Some(peer),
                    self.shutdown.clone(),
                );
                self.tasks.spawn(async move {
                    connection.await;
                    // Its place under the caps is free once it has closed.
                    drop(slot);
                });
            }
            Err(full) => {
                tracing::info!(
                    target: "moclojer_proxy::access",
                    client = %peer.ip(),
                    limit = ?full,
                    "connection turned away"
                );
                self.slots.turn_away(tcp, full);
            }
        }
    }

    /// Once no longer accepting: wakes connections parked between requests, which close
    /// without another request, and waits up to `grace` for the others; then drops the
    /// remaining ones.
    async fn drain(&mut self, shutdown: &watch::Sender<bool>, grace: Duration) {
        tracing::info!(
            connections = self.tasks.len(),
            "proxy stopping: draining connections"
        );
        shutdown.send_replace(true);
        let drained = tokio::time::timeout(grace, async {
            while self.tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                connections = self.tasks.len(),
                "grace period over: closing the remaining connections"
            );
            self.tasks.shutdown().await;
        }
    }
}

/// Completes at `at`, or never.
async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// An HTTP health check: an upstream is up when it answers `GET /` for the reserved
/// [`HEALTH_CHECK_HOST`] with any status under 500 within the timeout. foss answers that
/// host itself: 200 when ready, 503 while it has not read its configuration yet (another
/// server answers it 404, and counts as up). A TCP connect alone would keep a server that
/// accepts but no longer answers (stuck, overloaded) in the rotation.
fn health_check(config: &Config) -> Box<HttpHealthCheck> {
    let mut probe = HttpHealthCheck::new(HEALTH_CHECK_HOST, false);
    let timeout = config
        .connect_timeout
        .min(config.health_check_interval)
        .max(Duration::from_millis(10));
    probe.peer_template.options.connection_timeout = Some(timeout);
    probe.peer_template.options.read_timeout = Some(timeout);
    probe.peer_template.options.total_connection_timeout = Some(timeout);
    probe.validator = Some(Box::new(|response| {
        if response.status.as_u16() < 500 {
            Ok(())
        } else {
            pingora::Error::e_explain(
                pingora::ErrorType::HTTPStatus(response.status.as_u16()),
                "the upstream answered the health check with a server error",
            )
        }
    }));
    Box::new(probe)
}
