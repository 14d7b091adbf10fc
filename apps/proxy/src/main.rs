//! The `moclojer-proxy` binary: flags and environment in, [`moclojer_proxy::App`] out,
//! until SIGINT or SIGTERM, then a graceful stop.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use moclojer_domain::{Shard, TrustedProxies, Zone};
use moclojer_proxy::{App, Config, RateLimit, ShardUpstreams};
use moclojer_wiring::LogArgs;

/// pingora allocates and frees buffers on every request; glibc's malloc spent about a
/// fifth of the proxy's time on them (`cargo xtask bench proxy`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The edge proxy in front of the moclojer mock servers (foss).
#[derive(Debug, Parser)]
#[command(name = "moclojer-proxy", version)]
#[command(group = clap::ArgGroup::new("upstream_flags")
    .args(["upstreams", "shard_upstreams"])
    .required(true))]
struct Args {
    /// Where to listen.
    #[arg(long, env = "MOCLOJER_PROXY_ADDR", default_value = "127.0.0.1:8000")]
    addr: SocketAddr,
    /// A foss server to send requests to, `ip:port` or `name:port` (every address the name
    /// resolves to, looked up again every `--resolve-secs`); repeat for several (round
    /// robin).
    #[arg(
        long = "upstream",
        env = "MOCLOJER_UPSTREAMS",
        value_delimiter = ',',
        value_parser = upstream
    )]
    upstreams: Vec<Upstream>,
    /// Instead of `--upstream`, when the mock tier is sharded (`moclojer --shard K/N`): the
    /// foss servers of shard K of N, `K/N=ADDR[,ADDR...]`, each `ip:port` or `name:port` as
    /// for `--upstream`. Repeat it for every shard from 0 to N-1 (in the environment,
    /// separate the groups with `;`). A host's requests go to its shard's servers.
    #[arg(
        long = "shard-upstream",
        env = "MOCLOJER_SHARD_UPSTREAMS",
        value_name = "K/N=ADDR[,ADDR...]",
        value_delimiter = ';',
        value_parser = shard_upstream
    )]
    shard_upstreams: Vec<ShardUpstreams>,
    /// Seconds between lookups of upstream names.
    #[arg(long, env = "MOCLOJER_RESOLVE_SECS", default_value_t = 5)]
    resolve_secs: u64,
    /// The zone mock hosts live under: `<mock>-<handle>.<zone>`.
    #[arg(long, env = "MOCLOJER_ZONE", default_value = "localhost")]
    zone: String,
    /// Milliseconds between health probes (`GET /`, any answer under 500) of each upstream.
    #[arg(long, env = "MOCLOJER_HEALTH_CHECK_MS", default_value_t = 1000)]
    health_check_ms: u64,
    /// Milliseconds to wait for a connection to an upstream.
    #[arg(long, env = "MOCLOJER_CONNECT_TIMEOUT_MS", default_value_t = 1000)]
    connect_timeout_ms: u64,
    /// Seconds to wait for an upstream's answer.
    #[arg(long, env = "MOCLOJER_UPSTREAM_TIMEOUT_SECS", default_value_t = 30)]
    upstream_timeout_secs: u64,
    /// Milliseconds a client has to send a whole request header.
    #[arg(long, env = "MOCLOJER_HEADER_TIMEOUT_MS", default_value_t = 10_000)]
    header_timeout_ms: u64,
    /// Seconds an idle client connection is kept open.
    #[arg(long, env = "MOCLOJER_KEEPALIVE_SECS", default_value_t = 60)]
    keepalive_secs: u64,
    /// Largest request header accepted, in bytes (431 beyond).
    #[arg(long, env = "MOCLOJER_MAX_HEADER_BYTES", default_value_t = 32 * 1024)]
    max_header_bytes: usize,
    /// Largest request body accepted, in bytes (413 beyond).
    #[arg(long, env = "MOCLOJER_MAX_BODY_BYTES", default_value_t = 4 * 1024 * 1024)]
    max_body_bytes: u64,
    /// Requests per second each host may make; 0 turns the limit off.
    #[arg(long, env = "MOCLOJER_RATE_LIMIT", default_value_t = 100.0)]
    rate_limit: f64,
    /// Requests a host may make at once after being idle.
    #[arg(long, env = "MOCLOJER_RATE_BURST", default_value_t = 200)]
    rate_burst: u32,
    /// Seconds a graceful stop waits for requests in flight.
    #[arg(long, env = "MOCLOJER_GRACE_SECS", default_value_t = 10)]
    grace_secs: u64,
    /// Most client connections at once (503 beyond).
    #[arg(long, env = "MOCLOJER_MAX_CONNECTIONS", default_value_t = 10_000)]
    max_connections: usize,
    /// Most connections at once from one client address (IPv6: its /64; 429 beyond); 0,
    /// the default, for none: behind a load balancer every client is the balancer.
    #[arg(long, env = "MOCLOJER_MAX_CONNECTIONS_PER_CLIENT", default_value_t = 0)]
    max_connections_per_client: usize,
    /// Most requests on one client connection; the last is answered `Connection: close`.
    #[arg(
        long,
        env = "MOCLOJER_MAX_REQUESTS_PER_CONNECTION",
        default_value_t = 1_000
    )]
    max_requests_per_connection: usize,
    /// Where to answer `/livez` and `/readyz` for the platform's health checks (a port of
    /// their own, apart from the mock hosts); none by default.
    #[arg(long, env = "MOCLOJER_PROXY_ADMIN_ADDR")]
    admin_addr: Option<SocketAddr>,
    /// Seconds to keep serving after SIGTERM with `/readyz` failing, before the proxy stops
    /// accepting: set it to the balancer's health-check interval.
    #[arg(long, env = "MOCLOJER_DRAIN_DELAY_SECS", default_value_t = 0)]
    drain_delay_secs: u64,
    /// The load balancers or TLS terminators in front (addresses or CIDR ranges, separated
    /// by commas): their `X-Forwarded-For` names the client and their
    /// `X-Forwarded-Proto: https` is kept. None by default: the peer is the client.
    #[arg(long, env = "MOCLOJER_PROXY_TRUSTED_FRONTS", default_value = "")]
    trusted_fronts: TrustedProxies,
    /// Worker threads (default: one per core).
    #[arg(long, env = "MOCLOJER_THREADS")]
    threads: Option<usize>,
    /// The log flags; access lines are on `moclojer_proxy::access`.
    #[command(flatten)]
    log: LogArgs,
}

/// An `--upstream`: an address, or a name to resolve.
#[derive(Debug, Clone)]
enum Upstream {
    Address(SocketAddr),
    Name(String),
}

fn upstream(raw: &str) -> Result<Upstream, String> {
    if let Ok(address) = raw.parse() {
        return Ok(Upstream::Address(address));
    }
    match raw.rsplit_once(':') {
        Some((host, port))
            if !host.is_empty()
                && port.parse::<u16>().is_ok_and(|p| p > 0)
                && host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_')) =>
        {
            Ok(Upstream::Name(raw.to_owned()))
        }
        _ => Err(format!("`{raw}` is neither ip:port nor name:port")),
    }
}

/// A `--shard-upstream`: `K/N=ADDR[,ADDR...]`.
fn shard_upstream(raw: &str) -> Result<ShardUpstreams, String> {
    let Some((shard, addresses)) = raw.split_once('=') else {
        return Err(format!(
            "`{raw}` is not K/N=ADDR[,ADDR...], such as 0/2=foss-0:8080"
        ));
    };
    let shard: Shard = shard.parse().map_err(|e| format!("`{raw}`: {e}"))?;
    let mut group = ShardUpstreams::new(shard, Vec::new());
    for address in addresses
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
    {
        match upstream(address).map_err(|e| format!("shard {shard}: {e}"))? {
            Upstream::Address(address) => group.upstreams.push(address),
            Upstream::Name(name) => group.upstream_names.push(name),
        }
    }
    if group.upstreams.is_empty() && group.upstream_names.is_empty() {
        return Err(format!(
            "shard {shard} lists no upstream: write {shard}=ADDR[,ADDR...]"
        ));
    }
    Ok(group)
}

fn config(args: &Args) -> anyhow::Result<Config> {
    let addresses = args.upstreams.iter().filter_map(|u| match u {
        Upstream::Address(address) => Some(*address),
        Upstream::Name(_) => None,
    });
    let mut config = Config::new(addresses.collect());
    config.addr = args.addr;
    config.admin_addr = args.admin_addr;
    config.upstream_names = args
        .upstreams
        .iter()
        .filter_map(|u| match u {
            Upstream::Name(name) => Some(name.clone()),
            Upstream::Address(_) => None,
        })
        .collect();
    config.resolve_interval = Duration::from_secs(args.resolve_secs.max(1));
    config.zone = Zone::parse(&args.zone).context("--zone")?;
    config.health_check_interval = Duration::from_millis(args.health_check_ms.max(10));
    config.connect_timeout = Duration::from_millis(args.connect_timeout_ms.max(1));
    config.upstream_timeout = Duration::from_secs(args.upstream_timeout_secs.max(1));
    config.header_timeout = Duration::from_millis(args.header_timeout_ms.max(1));
    config.keepalive_seconds = args.keepalive_secs;
    config.max_header_bytes = args.max_header_bytes;
    config.max_body_bytes = args.max_body_bytes;
    config.rate_limit = (args.rate_limit > 0.0).then(|| RateLimit {
        per_second: args.rate_limit,
        burst: args.rate_burst.max(1),
        ..RateLimit::default()
    });
    config.grace = Duration::from_secs(args.grace_secs);
    config.max_connections = args.max_connections.max(1);
    config.max_connections_per_client =
        (args.max_connections_per_client > 0).then_some(args.max_connections_per_client);
    config.max_requests_per_connection = args.max_requests_per_connection.max(1);
    config.drain_delay = Duration::from_secs(args.drain_delay_secs);
    config.trusted_fronts = args.trusted_fronts.clone();
    config.shard_upstreams = args.shard_upstreams.clone();
    config.check().context("--shard-upstream")?;
    Ok(config)
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    args.log.init().context("logging")?;
    let config = config(&args)?;
    runtime(args.threads)?.block_on(moclojer_wiring::run_until_signalled::<App>(config))
}

/// A multi-threaded runtime with `threads` workers, by default one per core.
fn runtime(threads: Option<usize>) -> anyhow::Result<tokio::runtime::Runtime> {
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = threads {
        runtime.worker_threads(threads.max(1));
    }
    runtime.enable_all().build().context("tokio runtime")
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::{Args, Upstream, config, shard_upstream, upstream};

    #[test]
    fn upstreams_are_addresses_or_names_with_a_port() {
        assert!(matches!(
            upstream("127.0.0.1:8001"),
            Ok(Upstream::Address(_))
        ));
        assert!(matches!(upstream("[::1]:8001"), Ok(Upstream::Address(_))));
        assert!(matches!(upstream("foss:8080"), Ok(Upstream::Name(n)) if n == "foss:8080"));
        assert!(matches!(
            upstream("foss.internal:8080"),
            Ok(Upstream::Name(_))
        ));
        for bad in [
            "foss",
            "foss:",
            ":8080",
            "foss:http",
            "foss:0",
            "foss:70000",
            "a b:80",
        ] {
            assert!(upstream(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_shard_upstream_is_a_shard_and_its_addresses_or_names() {
        let group = shard_upstream("1/2=127.0.0.1:8001, foss-1:8080,[::1]:8002").unwrap();
        assert_eq!(group.shard.to_string(), "1/2");
        assert_eq!(
            group.upstreams,
            [
                "127.0.0.1:8001".parse().unwrap(),
                "[::1]:8002".parse().unwrap()
            ]
        );
        assert_eq!(group.upstream_names, ["foss-1:8080"]);

        for (bad, says) in [
            ("0/2", "is not K/N=ADDR"),
            ("foss-0:8080", "is not K/N=ADDR"),
            ("3/2=foss:8080", "there is no shard 3/2"),
            ("0/0=foss:8080", "at least 1"),
            ("a/b=foss:8080", "is not a shard"),
            ("0/2=", "shard 0/2 lists no upstream"),
            ("0/2=,", "shard 0/2 lists no upstream"),
            (
                "0/2=foss",
                "shard 0/2: `foss` is neither ip:port nor name:port",
            ),
            ("0/2=foss:8080,foss:0", "`foss:0` is neither"),
        ] {
            let error = shard_upstream(bad).expect_err(bad);
            assert!(error.contains(says), "{bad}: {error}");
        }
    }

    fn parse(flags: &[&str]) -> Result<Args, clap::Error> {
        Args::try_parse_from(std::iter::once("moclojer-proxy").chain(flags.iter().copied()))
    }

    #[test]
    fn shard_upstreams_replace_upstreams_and_cover_every_shard() {
        let args = parse(&[
            "--shard-upstream",
            "1/2=foss-1:8080",
            "--shard-upstream",
            "0/2=127.0.0.1:8001,127.0.0.1:8002",
        ])
        .unwrap();
        let config = config(&args).unwrap();
        assert!(config.upstreams.is_empty() && config.upstream_names.is_empty());
        let shards: Vec<String> = config
            .shard_upstreams
            .iter()
            .map(|group| group.shard.to_string())
            .collect();
        assert_eq!(shards, ["1/2", "0/2"]);

        // Groups separated by `;`, as in the environment variable.
        let args = parse(&["--shard-upstream", "0/2=foss-0:8080; 1/2=foss-1:8080"]).unwrap();
        assert_eq!(config_of(&args).shard_upstreams.len(), 2);

        // `--upstream` alone is one group for every host, as before.
        let args = parse(&["--upstream", "127.0.0.1:8001,foss:8080"]).unwrap();
        let single = config_of(&args);
        assert!(single.shard_upstreams.is_empty());
        assert_eq!(single.upstream_names, ["foss:8080"]);
    }

    fn config_of(args: &Args) -> moclojer_proxy::Config {
        config(args).unwrap()
    }

    #[test]
    fn upstream_flags_that_cannot_serve_every_host_are_refused_at_startup() {
        let missing = parse(&[
            "--shard-upstream",
            "0/3=foss-0:8080",
            "--shard-upstream",
            "2/3=foss-2:8080",
        ])
        .unwrap();
        let error = format!("{:#}", config(&missing).unwrap_err());
        assert!(error.contains("shard 1/3 has no upstream"), "{error}");

        let disagree = parse(&["--shard-upstream", "0/2=a:1;1/3=b:1"]).unwrap();
        let error = format!("{:#}", config(&disagree).unwrap_err());
        assert!(error.contains("disagree"), "{error}");

        let twice = parse(&["--shard-upstream", "0/1=a:1;0/1=b:1"]).unwrap();
        let error = format!("{:#}", config(&twice).unwrap_err());
        assert!(error.contains("shard 0/1 is given twice"), "{error}");

        let both = parse(&["--upstream", "a:1", "--shard-upstream", "0/1=b:1"]);
        assert!(both.is_err(), "{both:?}");
        let neither = parse(&["--zone", "localhost"]);
        assert!(neither.is_err(), "{neither:?}");
        let malformed = parse(&["--shard-upstream", "0/2"]);
        assert!(
            malformed
                .unwrap_err()
                .to_string()
                .contains("is not K/N=ADDR"),
        );
    }
}
