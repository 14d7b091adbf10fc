//! The accept loop: admits clients under the connection caps, hands each connection to the
//! [`relay`](crate::relay), runs the upstream health check, and stops gracefully.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use moclojer_domain::HEALTH_CHECK_HOST;
use pingora::lb::health_check::HttpHealthCheck;
use pingora::lb::selection::RoundRobin;
use pingora::lb::{Backends, LoadBalancer};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::admin::{self, Health};
use crate::discovery::Upstreams;
use crate::edge::{Edge, EdgeLimits};
use crate::limit::Limiter;
use crate::pool::Pool;
use crate::relay::{self, Relay};
use crate::slots::Slots;
use crate::{Config, ProxyError};

/// Runs the proxy on `listener` until `stop` completes, then shuts down gracefully: no new
/// connections, requests in flight finish within [`Config::grace`] (their connections close
/// after them), idle connections close at once. Returns when every connection is closed.
///
/// Runs on the caller's tokio runtime, which must be multi-threaded; see the crate docs for
/// embedding.
///
/// # Errors
/// [`ProxyError::NoUpstreams`] when the configuration names no upstream.
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
/// [`ProxyError::NoUpstreams`] when the configuration names no upstream.
pub async fn serve_with_admin<F>(
    listener: TcpListener,
    admin: Option<TcpListener>,
    config: Config,
    stop: F,
) -> Result<(), ProxyError>
where
    F: Future<Output = ()> + Send,
{
    if config.upstreams.is_empty() && config.upstream_names.is_empty() {
        return Err(ProxyError::NoUpstreams);
    }
    let mut upstreams =
        LoadBalancer::<RoundRobin>::from_backends(Backends::new(Box::new(Upstreams {
            fixed: config.upstreams.clone(),
            names: config.upstream_names.clone(),
        })));
    if let Err(e) = upstreams.update().await {
        // Nothing resolved yet: requests get 503 until a later round finds an upstream.
        tracing::warn!(error = %e, "no upstream yet");
    }
    if !config.upstream_names.is_empty() {
        upstreams.update_frequency = Some(config.resolve_interval);
    }
    upstreams.set_health_check(health_check(&config));
    upstreams.health_check_frequency = Some(config.health_check_interval);
    upstreams.parallel_health_check = true;
    let upstreams = Arc::new(upstreams);

    let (shutdown_tx, shutdown) = watch::channel(false);
    let health = tokio::spawn({
        let upstreams = Arc::clone(&upstreams);
        let shutdown = shutdown.clone();
        async move { upstreams.run(shutdown, None).await }
    });

    let stopping = Arc::new(AtomicBool::new(false));
    let (admin_closed_tx, admin_closed) = watch::channel(false);
    let admin = admin.map(|admin| {
        let state = Health {
            upstreams: Arc::clone(&upstreams),
            stopping: Arc::clone(&stopping),
        };
        tokio::spawn(admin::serve(admin, state, admin_closed))
    });

    let relay = Arc::new(Relay {
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
        upstreams,
        pool: Pool::default(),
        header_timeout: config.header_timeout,
        keepalive_seconds: config.keepalive_seconds.max(1),
        max_requests_per_connection: config.max_requests_per_connection.max(1),
    });

    let slots = Slots::new(
        config.max_connections,
        config.max_connections_per_client.unwrap_or(usize::MAX),
    );
    let mut connections = JoinSet::new();
    let mut stop = std::pin::pin!(stop);
    // Set once `stop` completes: when to stop accepting.
    let mut drain_until: Option<tokio::time::Instant> = None;
    loop {
        tokio::select! {
            () = &mut stop, if drain_until.is_none() => {
                stopping.store(true, Ordering::Release);
                if config.drain_delay.is_zero() {
                    break;
                }
                tracing::info!(
                    delay = ?config.drain_delay,
                    "proxy stopping: not ready, still serving while balancers notice"
                );
                drain_until = Some(tokio::time::Instant::now() + config.drain_delay);
            }
            () = sleep_until(drain_until), if drain_until.is_some() => break,
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => match slots.admit(peer.ip()) {
                    Ok(slot) => {
                        let connection =
                            relay::connection(Arc::clone(&relay), tcp, Some(peer), shutdown.clone());
                        connections.spawn(async move {
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
                        slots.turn_away(tcp, full);
                    }
                },
                Err(e) => {
                    // Out of descriptors and the like: wait a moment rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }

    drop(listener);
    tracing::info!(
        connections = connections.len(),
        "proxy stopping: draining connections"
    );
    // Wakes connections parked between requests; they close without another request.
    shutdown_tx.send_replace(true);
    let drained = tokio::time::timeout(config.grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            connections = connections.len(),
            "grace period over: closing the remaining connections"
        );
        connections.shutdown().await;
    }
    if health.await.is_err() {
        tracing::warn!("the health check task failed");
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
        .max(std::time::Duration::from_millis(10));
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
