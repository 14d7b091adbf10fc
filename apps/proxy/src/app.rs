//! The proxy as a service like the others: [`App::build`] binds its listeners as the
//! [`Config`] says, [`App::run`] serves on them until a stop.

use std::future::Future;
use std::net::SocketAddr;

use anyhow::Context as _;
use moclojer_wiring::Resolver;
use tokio::net::TcpListener;

use crate::Config;
use crate::server::serve_with_admin;

/// The proxy, its listeners bound: the proxy's own, and the admin endpoints' when
/// [`Config::admin_addr`] is set.
#[derive(Debug)]
pub struct App {
    config: Config,
    listener: TcpListener,
    addr: SocketAddr,
    admin: Option<(TcpListener, SocketAddr)>,
}

impl moclojer_wiring::App for App {
    type Config = Config;

    /// Checks that the configuration names upstreams ([`Config::check`]), then binds
    /// [`Config::addr`] and, when set, [`Config::admin_addr`]. The proxy opens nothing
    /// through the resolver: it holds no database, store or queue.
    ///
    /// # Errors
    /// [`ProxyError::NoUpstreams`](crate::ProxyError::NoUpstreams) when the configuration
    /// names no upstream, another [`ProxyError`](crate::ProxyError) when its shard groups
    /// do not cover each shard exactly once; an address that cannot be bound.
    async fn build(config: Config, _resolver: &Resolver) -> anyhow::Result<Self> {
        config.check()?;
        let listener = TcpListener::bind(config.addr)
            .await
            .with_context(|| format!("listen on {}", config.addr))?;
        let addr = listener.local_addr()?;
        // On the binary's target, as when the binary bound them itself.
        tracing::info!(
            target: "moclojer_proxy",
            upstreams = ?config.upstreams,
            upstream_names = ?config.upstream_names,
            shard_upstreams = ?config.shard_upstreams,
            zone = %config.zone,
            "moclojer-proxy listening on http://{addr}"
        );
        let admin = match config.admin_addr {
            Some(admin_addr) => {
                let admin = TcpListener::bind(admin_addr)
                    .await
                    .with_context(|| format!("listen on {admin_addr} (admin)"))?;
                let bound = admin.local_addr()?;
                tracing::info!(
                    target: "moclojer_proxy",
                    "moclojer-proxy health checks on http://{bound}/readyz"
                );
                Some((admin, bound))
            }
            None => None,
        };
        Ok(Self {
            config,
            listener,
            addr,
            admin,
        })
    }

    /// Serves until `stop` completes, then stops gracefully, as [`serve`](crate::serve)
    /// does; with admin endpoints, `/readyz` fails at once and the proxy keeps serving for
    /// [`Config::drain_delay`] before it stops accepting. Runs on the caller's tokio runtime,
    /// which must be multi-threaded.
    ///
    /// # Errors
    /// When the proxy cannot run (see [`ProxyError`](crate::ProxyError)).
    async fn run(self, stop: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let admin = self.admin.map(|(listener, _)| listener);
        serve_with_admin(self.listener, admin, self.config, stop).await?;
        Ok(())
    }
}

impl App {
    /// Where the proxy listens for the mock hosts.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where the admin endpoints (`/livez`, `/readyz`) listen, when configured.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().map(|(_, addr)| *addr)
    }
}
