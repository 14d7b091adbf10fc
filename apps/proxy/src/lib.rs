//! The moclojer cloud edge proxy: pingora in front of the foss mock servers.
//!
//! It takes the mock hosts, `<mock>-<handle>.<zone>`, and sends each request to one of a pool
//! of foss upstreams (round robin over the ones an active HTTP health check finds up: a
//! `GET /` for a reserved host answered under 500 in time; a request whose connection
//! attempt fails goes to the next upstream). When the mock tier is sharded
//! ([`Config::shard_upstreams`]), there is such a pool per shard, and a request goes to the
//! pool of its host's shard, the domain's [`shard_of`](moclojer_domain::shard_of); a shard
//! with no upstream up gets 503s for its hosts alone. Everything else it
//! answers itself, with a small JSON body and no upstream detail:
//!
//! - no `Host`, several, or a malformed one → 400; a host outside the zone or not shaped
//!   `<mock>-<handle>` → 404. `X-Forwarded-Host` is never used for routing, and never passed
//!   on;
//! - `Content-Length` together with `Transfer-Encoding` → 400 (request smuggling guard);
//!   a request that cannot be parsed at all → 400 too, and the connection closes;
//! - a header over [`Config::max_header_bytes`] → 431; a body over [`Config::max_body_bytes`]
//!   → 413, declared or streamed;
//! - a client that has not sent a whole request header within [`Config::header_timeout`] is
//!   disconnected (slowloris guard), while others are served;
//! - more than [`RateLimit`] allows for one host → 429 with `Retry-After`, counted per
//!   canonical host, so a rotating `X-Forwarded-For` changes nothing and one host's 429s
//!   never affect another;
//! - a connection over [`Config::max_connections`] → 503, or over
//!   [`Config::max_connections_per_client`] → 429, answered and closed before pingora sees
//!   it; after [`Config::max_requests_per_connection`] requests a connection is closed.
//!
//! The upstream sees the client's `Host`, `X-Forwarded-For` with the peer's address
//! appended, `X-Real-IP` with the client's address (which the mock server uses for its
//! per-client rate limits when it trusts the proxy), and `X-Forwarded-Proto: http`. Behind
//! a load balancer or TLS terminator listed in [`Config::trusted_fronts`], the client is
//! the rightmost address of that front's `X-Forwarded-For` not itself trusted, and its
//! `X-Forwarded-Proto: https` is kept; from anyone else those headers are the client's own
//! claims, and the peer is the client. Every request is logged on the
//! `moclojer_proxy::access` target (host, method, path, status, upstream, client, duration).
//!
//! # Running it, and embedding it
//!
//! [`App`] is the proxy as a service: [`App::build`] binds [`Config::addr`] (and
//! [`Config::admin_addr`], the platform's health checks, `/livez` and `/readyz`, on a
//! listener of their own), and [`App::run`] serves on the caller's tokio runtime
//! (multi-threaded) until a stop future completes, then shuts down gracefully: it stops
//! accepting, lets requests in flight finish (closing their connections after them; idle
//! kept-alive connections close at once), and after [`Config::grace`] drops whatever is
//! left. With the admin listener, a stop fails `/readyz` first and keeps serving for
//! [`Config::drain_delay`]. The binary `moclojer-proxy` wraps it with flags. [`serve`] runs
//! the proxy, without admin endpoints, on a listener the caller has bound; the all-in-one
//! runs it so beside the embedded foss:
//!
//! ```ignore
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8000").await?;
//! let config = moclojer_proxy::Config::new(vec![foss_address]);
//! let proxy = tokio::spawn(moclojer_proxy::serve(listener, config, async move {
//!     stop.cancelled().await; // any future: a token, a oneshot, ctrl-c
//! }));
//! ```
//!
//! It does not use pingora's `Server` (its own runtimes, threads and Unix signal handling)
//! nor its `HttpProxy`: the accept loop here hands each connection to a forwarder built on
//! pingora's HTTP/1 sessions, with a pool of upstream connections, and the health check
//! runs as a task. So it needs no thread of its own, binds to port 0 in tests, stops on
//! any future, and spends about two thirds of `HttpProxy`'s CPU per request.
//!
//! Plain HTTP/1.1 only: TLS, if any, ends before it.

mod admin;
mod app;
mod deadline;
mod discovery;
mod edge;
mod forward;
mod limit;
mod pool;
mod server;
mod shards;
mod slots;

use std::net::SocketAddr;
use std::time::Duration;

use moclojer_domain::{Shard, TrustedProxies, Zone};

pub use app::App;
pub use limit::RateLimit;
pub use server::serve;
pub use shards::ShardUpstreams;

/// Everything the proxy needs; [`Config::new`] gives the defaults.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where [`App`] listens for the mock hosts; [`serve`] is given its listener instead.
    pub addr: SocketAddr,
    /// Where [`App`] answers `/livez` and `/readyz` for the platform's health checks, on a
    /// listener of its own; none (the default) for no admin endpoints.
    pub admin_addr: Option<SocketAddr>,
    /// The zone mock hosts live under: `<mock>-<handle>.<zone>`.
    pub zone: Zone,
    /// The foss servers requests go to, by address. With [`Config::upstream_names`], at
    /// least one, unless [`Config::shard_upstreams`] is set.
    pub upstreams: Vec<SocketAddr>,
    /// The foss servers requests go to, by `host:port` name (a platform's service name):
    /// each address a name resolves to is one upstream, looked up again every
    /// [`Config::resolve_interval`].
    pub upstream_names: Vec<String>,
    /// The foss servers by shard, when the mock tier is sharded (replicas started with
    /// `moclojer --shard K/N`): a group for every shard `0/N` to `N-1/N`, each exactly once,
    /// with an upstream; a request goes to the group of
    /// [`shard_of`](moclojer_domain::shard_of)`(host, N)`. Each group is load-balanced and
    /// health-checked on its own. Empty (the default): one group, [`Config::upstreams`] and
    /// [`Config::upstream_names`], serves every host; when set, those two stay empty.
    pub shard_upstreams: Vec<ShardUpstreams>,
    /// How often upstream names ([`Config::upstream_names`], and those of
    /// [`Config::shard_upstreams`]) are resolved again.
    pub resolve_interval: Duration,
    /// How often each upstream is probed (`GET /`, any answer under 500 within
    /// `connect_timeout` or the interval, whichever is shorter); a failed probe takes it out
    /// of the rotation, a successful one puts it back.
    pub health_check_interval: Duration,
    /// Longest wait for a connection to an upstream (and for a health probe).
    pub connect_timeout: Duration,
    /// Longest wait for an upstream to answer (between reads of its response).
    pub upstream_timeout: Duration,
    /// How long a client has to send a whole request header.
    pub header_timeout: Duration,
    /// How long an idle kept-alive client connection stays open, in seconds.
    pub keepalive_seconds: u64,
    /// Largest request header (request line and fields) accepted, in bytes; larger → 431.
    /// pingora itself reads at most 1 MiB of header.
    pub max_header_bytes: usize,
    /// Largest request body accepted, in bytes; larger → 413.
    pub max_body_bytes: u64,
    /// The per-host request rate limit, or none.
    pub rate_limit: Option<RateLimit>,
    /// How long a graceful stop waits for requests in flight.
    pub grace: Duration,
    /// Most client connections held at once; more are answered 503 and closed. Keep it
    /// under half the process's descriptor limit: a client connection may hold an upstream
    /// connection too.
    pub max_connections: usize,
    /// Most client connections held at once from one client (an IPv4 address or an IPv6
    /// /64); more are answered 429 and closed. `None` (the default): behind a load balancer
    /// (App Platform, Cloudflare) every connection comes from a few balancer addresses.
    pub max_connections_per_client: Option<usize>,
    /// Most requests on one client connection; the last is answered with
    /// `Connection: close`.
    pub max_requests_per_connection: usize,
    /// How long the proxy keeps serving after a stop begins, with `/readyz` failing, so a
    /// load balancer takes it out of rotation before it stops accepting. Zero (the
    /// default) stops accepting at once.
    pub drain_delay: Duration,
    /// Load balancers or TLS terminators in front of the proxy whose `X-Forwarded-For` and
    /// `X-Forwarded-Proto` are believed. None by default.
    pub trusted_fronts: TrustedProxies,
}

impl Config {
    /// The defaults, for these upstreams: listening on 127.0.0.1:8000 with no admin
    /// endpoints, zone `localhost`, a health check every second, a 1 s connect timeout,
    /// 30 s upstream timeout, 10 s header timeout, 60 s keep-alive, 32 KiB of header,
    /// 4 MiB of body, 100 requests/s per host with bursts of 200, 10 s of grace, 10,000
    /// connections (none per client) and 1,000 requests per connection.
    pub fn new(upstreams: Vec<SocketAddr>) -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 8000)),
            admin_addr: None,
            #[allow(clippy::expect_used, reason = "a constant, valid zone")]
            zone: Zone::parse("localhost").expect("localhost is a zone"),
            upstreams,
            upstream_names: Vec::new(),
            shard_upstreams: Vec::new(),
            resolve_interval: Duration::from_secs(5),
            health_check_interval: Duration::from_secs(1),
            connect_timeout: Duration::from_secs(1),
            upstream_timeout: Duration::from_secs(30),
            header_timeout: Duration::from_secs(10),
            keepalive_seconds: 60,
            max_header_bytes: 32 * 1024,
            max_body_bytes: 4 * 1024 * 1024,
            rate_limit: Some(RateLimit::default()),
            grace: Duration::from_secs(10),
            max_connections: 10_000,
            max_connections_per_client: None,
            max_requests_per_connection: 1_000,
            drain_delay: Duration::ZERO,
            trusted_fronts: TrustedProxies::none(),
        }
    }

    /// Checks that the configuration names upstreams the proxy can run on: for every host
    /// ([`Config::upstreams`], [`Config::upstream_names`]) or per shard
    /// ([`Config::shard_upstreams`]), not both. `App::build` and [`serve`] check it too.
    ///
    /// # Errors
    /// [`ProxyError::NoUpstreams`] when no upstream is named;
    /// [`ProxyError::UpstreamsAndShards`], [`ProxyError::ShardCounts`],
    /// [`ProxyError::ShardRepeated`] or [`ProxyError::ShardWithoutUpstream`] when the shard
    /// groups do not cover each shard of one count exactly once.
    pub fn check(&self) -> Result<(), ProxyError> {
        shards::check(self)
    }
}

/// Why the proxy could not run.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// [`Config::upstreams`], [`Config::upstream_names`] and [`Config::shard_upstreams`] are
    /// all empty.
    #[error("the proxy needs at least one upstream")]
    NoUpstreams,
    /// Upstreams for every host and upstreams per shard were both given.
    #[error("give upstreams for every host or upstreams per shard, not both")]
    UpstreamsAndShards,
    /// Two shard groups name different numbers of shards.
    #[error("the shard groups disagree on the number of shards: {first} and {other}")]
    ShardCounts {
        /// The first group's shard.
        first: Shard,
        /// A group's shard with another count.
        other: Shard,
    },
    /// A shard has two groups; its upstreams belong in one.
    #[error("shard {0} is given twice: list all its upstreams in one group")]
    ShardRepeated(Shard),
    /// A shard has no group, or a group that names no upstream: its hosts could not be
    /// served.
    #[error("shard {0} has no upstream")]
    ShardWithoutUpstream(Shard),
    /// The listener failed.
    #[error("listener: {0}")]
    Io(#[from] std::io::Error),
}
