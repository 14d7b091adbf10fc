//! `moclojer`: the mock server from a file, a drop-in for the original moclojer.
//!
//! `moclojer -c moclojer.yml` serves the spec on port 8000 and reloads it when the file
//! changes; a change that does not validate is reported and the running spec stays.
//!
//! `moclojer --store URL` is the cloud mode: it follows the published index the generator
//! writes to an object store (`file:///dir`, a path, or `s3://bucket?endpoint=...`), one
//! engine per host, reloading only the hosts that changed and keeping each host's last
//! good revision; `--shard K/N` serves only the hosts of shard K of N. Outbound calls
//! default to `--egress strict`. What stateful mocks remember (sequence positions, scenario
//! states, resource records) is kept in memory standalone, and in cloud mode on
//! `--state-url` (by default the `--redis-url` server), shared by every replica.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use moclojer_domain::TrustedProxies;
use moclojer_domain::spec::Mode;
use moclojer_egress::{AllowRule, Egress, EgressConfig, Policy};
use moclojer_foss::{App, Config, EngineOptions, Source, SpecFiles, StoreSource};
use moclojer_wiring::{
    JournalArgs, JournalSettings, JournalUrl, LogArgs, QueueArgs, StateArgs, StoreUrl,
};

/// Serve moclojer mocks from a file, or (cloud mode) from an object store.
#[derive(Debug, Parser)]
#[command(name = "moclojer", version, about)]
struct Args {
    /// The spec: moclojer YAML, JSON or EDN (`.edn`), or an OpenAPI document with --mocks.
    /// Default: $CONFIG, then ./moclojer.yml, then $XDG_CONFIG_HOME/moclojer.yml.
    #[arg(short = 'c', long = "config", env = "CONFIG")]
    config: Option<PathBuf>,
    /// OpenAPI mode: responses by operationId.
    #[arg(short = 'm', long = "mocks", env = "MOCKS")]
    mocks: Option<PathBuf>,
    /// Cloud mode: follow the published mocks in an object store, `file:///path/to/dir`, a
    /// path, or `s3://bucket[/prefix]?endpoint=http://...&region=...` (credentials from
    /// MOCLOJER_S3_ACCESS_KEY and MOCLOJER_S3_SECRET_KEY).
    #[arg(
        long,
        env = "MOCLOJER_STORE",
        value_name = "URL",
        conflicts_with_all = ["config", "mocks"]
    )]
    store: Option<StoreUrl>,
    /// Cloud mode: serve only the hosts of shard K of N (`K/N`, 0 ≤ K < N; rendezvous
    /// hashing of the host, as the proxy's --shard-upstream routes them). Default: all.
    #[arg(long, env = "MOCLOJER_SHARD", value_name = "K/N", requires = "store")]
    shard: Option<moclojer_domain::Shard>,
    /// Cloud mode: how often the store's index is looked at, in milliseconds.
    #[arg(
        long = "poll-ms",
        env = "MOCLOJER_POLL_MS",
        default_value_t = 1000,
        value_parser = clap::value_parser!(u64).range(10..)
    )]
    poll_ms: u64,
    /// Cloud mode: a queue to reload as soon as the generator announces a new config
    /// (`config.published`), not only at the next poll.
    #[command(flatten)]
    queue: QueueArgs,
    /// Cloud mode with --redis-url: this replica's name, for its own consumer group
    /// (`foss-<name>`; 1 to 59 of `[a-z0-9_-]`). Default: a random one per start.
    #[arg(long, env = "MOCLOJER_INSTANCE", requires = "redis_url")]
    instance: Option<String>,
    /// Port to listen on.
    #[arg(short = 'p', long, env = "PORT", default_value_t = 8000)]
    port: u16,
    /// Address to listen on.
    #[arg(long, env = "HOST", default_value = "0.0.0.0")]
    host: std::net::IpAddr,
    #[command(flatten)]
    log: LogArgs,
    /// Outbound calls (webhooks, external bodies by URL): `open` lets a spec call services on
    /// this machine and network; `strict` refuses loopback, private and metadata addresses.
    /// Default: `open` from a file, `strict` with --store.
    #[arg(long, env = "MOCLOJER_EGRESS")]
    egress: Option<Policy>,
    /// Destinations allowed even under `--egress strict` (host, *.suffix, or CIDR); repeatable.
    #[arg(long = "egress-allow", value_name = "RULE")]
    egress_allow: Vec<AllowRule>,
    /// Largest spec file accepted, in bytes; the budgets for values and items grow with it.
    /// Default: 1 MiB from a file, 4 MiB (one host's object) with --store.
    #[arg(long, env = "MOCLOJER_MAX_SPEC_BYTES")]
    max_spec_bytes: Option<usize>,
    /// Answer cross-origin requests permissively (default) or not at all.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    cors: bool,
    /// Proxies in front (addresses or CIDR ranges, separated by commas) whose `X-Real-IP`
    /// names the client, for per-client rate limits; `moclojer-proxy` sets it. None by
    /// default: the socket's peer is the client.
    #[arg(long, env = "MOCLOJER_TRUSTED_PROXIES", default_value = "")]
    trusted_proxies: TrustedProxies,
    /// The request journal: standalone, `--journal N` keeps the last N requests in memory
    /// (off by default); in cloud mode every host's requests go to --journal-url (default:
    /// the --redis-url's server), for the api to list.
    #[command(flatten)]
    journal: JournalArgs,
    /// Standalone with --journal: where the admin listener serves `GET /requests` and
    /// `DELETE /requests` (e.g. 127.0.0.1:9001). Never the mock port.
    #[arg(long, env = "MOCLOJER_ADMIN_ADDR", value_name = "ADDR")]
    admin_addr: Option<SocketAddr>,
    /// What sequences, scenarios and resources remember, per host: standalone in this
    /// process's memory; in cloud mode on --state-url (default: the --redis-url's server),
    /// shared by every replica and the api. --state-records and --state-bytes bound each
    /// host's records either way.
    #[command(flatten)]
    state: StateArgs,
}

/// `./moclojer.yml` when it exists, else `$XDG_CONFIG_HOME/moclojer.yml` (or
/// `~/.config/moclojer.yml`) when that exists, else `./moclojer.yml`.
fn default_config() -> PathBuf {
    let local = PathBuf::from("moclojer.yml");
    if local.exists() {
        return local;
    }
    #[allow(
        clippy::disallowed_methods,
        reason = "the binary's edge reads the environment"
    )]
    let xdg = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".config")));
    xdg.map(|dir| dir.join("moclojer.yml"))
        .filter(|p| p.exists())
        .unwrap_or(local)
}

/// What the flags ask the server to serve.
fn source(args: &Args) -> Source {
    let Some(store) = args.store.clone() else {
        return Source::Files(SpecFiles {
            config: args.config.clone().unwrap_or_else(default_config),
            mocks: args.mocks.clone(),
        });
    };
    let events = args.queue.queue().map(|url| {
        let instance = args
            .instance
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string()[..12].to_owned());
        (url, format!("foss-{instance}"))
    });
    Source::Store(Box::new(StoreSource {
        poll: Duration::from_millis(args.poll_ms),
        shard: args.shard.unwrap_or_default(),
        events,
        ..StoreSource::new(store)
    }))
}

fn config(args: &Args) -> anyhow::Result<Config> {
    let cloud = args.store.is_some();
    if args.queue.redis_url.is_some() && !cloud {
        anyhow::bail!("--redis-url is for cloud mode: it needs --store");
    }
    if args.state.state_url.is_some() && !cloud {
        anyhow::bail!(
            "--state-url is for cloud mode: it needs --store (a standalone server keeps its state in memory)"
        );
    }
    let default_policy = if cloud { Policy::Strict } else { Policy::Open };
    let egress = Egress::new(EgressConfig {
        policy: args.egress.unwrap_or(default_policy),
        allow: args.egress_allow.clone(),
        ..EgressConfig::open()
    })
    .context("set up the egress guard")?;
    Ok(Config {
        options: EngineOptions {
            mode: if cloud { Mode::Cloud } else { Mode::Standalone },
            cors: args.cors,
            egress: Some(egress),
            trusted_proxies: args.trusted_proxies.clone(),
            ..EngineOptions::default()
        },
        max_spec_bytes: args.max_spec_bytes,
        journal: journal(args),
        admin_addr: args.admin_addr,
        state: Some(args.state.settings_or(args.queue.queue().as_ref())),
        ..Config::new(SocketAddr::new(args.host, args.port), source(args))
    })
}

/// Where requests are recorded: standalone only with `--journal N` (in memory unless
/// --journal-url says otherwise); in cloud mode on --journal-url or the queue's server.
fn journal(args: &Args) -> Option<JournalSettings> {
    if args.store.is_some() {
        return args.journal.settings_or(args.queue.queue().as_ref());
    }
    args.journal.journal_records?;
    Some(JournalSettings {
        url: args
            .journal
            .journal_url
            .clone()
            .unwrap_or(JournalUrl::Memory),
        retention: args.journal.retention(),
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    args.log.init()?;
    moclojer_wiring::run_until_signalled::<App>(config(&args)?).await
}

#[cfg(test)]
mod tests {
    use moclojer_ports::StateLimits;
    use moclojer_wiring::{StateSettings, StateUrl};

    use super::*;

    fn config_of(argv: &[&str]) -> anyhow::Result<Config> {
        config(&Args::try_parse_from(argv).expect("the flags parse"))
    }

    #[test]
    fn the_state_is_in_memory_standalone_and_on_the_queues_server_in_cloud_mode() {
        let standalone = config_of(&["moclojer", "--state-records", "5"]).unwrap();
        assert_eq!(
            standalone.state,
            Some(StateSettings {
                url: StateUrl::Memory,
                limits: StateLimits {
                    max_records: 5,
                    ..StateLimits::default()
                },
            })
        );
        let refused = config_of(&["moclojer", "--state-url", "redis://127.0.0.1:6379"])
            .unwrap_err()
            .to_string();
        assert!(
            refused.contains("--state-url is for cloud mode"),
            "{refused}"
        );

        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().display().to_string();
        let cloud = config_of(&[
            "moclojer",
            "--store",
            &store,
            "--redis-url",
            "redis://127.0.0.1:6379",
            "--redis-stream",
            "s",
            "--state-bytes",
            "2048",
        ])
        .unwrap();
        let state = cloud.state.expect("a state");
        assert_eq!(
            state.url,
            StateUrl::Redis {
                url: "redis://127.0.0.1:6379".to_owned(),
                prefix: Some("s:".to_owned()),
            }
        );
        assert_eq!(state.limits.max_bytes, 2048);
        let alone = config_of(&["moclojer", "--store", &store]).unwrap();
        assert_eq!(alone.state.expect("a state").url, StateUrl::Memory);
    }
}
