//! Name resolution behind a trait, so tests can answer with any address without touching DNS.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;

/// A boxed, sendable future, as returned by [`Resolver::resolve`].
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Turns a host name into socket addresses. The guard calls it once per new connection,
/// checks every address it returns, and connects only to those addresses.
///
/// It is never called for IP-literal hosts, nor for `localhost` and `*.localhost`, which
/// always mean the loopback addresses.
pub trait Resolver: Send + Sync + fmt::Debug {
    /// Every address of `host` (a name, never an IP literal). `port` is the port to put in
    /// the answers; the guard passes 0 and the URL's port is used to connect.
    ///
    /// # Errors
    /// Any lookup failure. An empty answer is allowed; the guard refuses it.
    fn resolve(&self, host: &str, port: u16) -> BoxFuture<'_, io::Result<Vec<SocketAddr>>>;
}

/// The operating system's resolver (`getaddrinfo`, through [`tokio::net::lookup_host`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemResolver;

impl Resolver for SystemResolver {
    fn resolve(&self, host: &str, port: u16) -> BoxFuture<'_, io::Result<Vec<SocketAddr>>> {
        let host = host.to_owned();
        Box::pin(async move {
            let addrs = tokio::net::lookup_host((host.as_str(), port)).await?;
            Ok(addrs.collect())
        })
    }
}
