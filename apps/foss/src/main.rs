//! `moclojer`: the mock server from a file, a drop-in for the original moclojer.
//!
//! `moclojer -c moclojer.yml` serves the spec on port 8000 and reloads it when the file
//! changes; a change that does not validate is reported and the running spec stays.
//!
//! `moclojer --store URL` is the cloud mode: it follows the unified config the generator
//! writes to an object store (`file:///dir` or `s3://bucket?endpoint=...`), routed by host,
//! keeping the last good generation; outbound calls default to `--egress strict`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use arc_swap::ArcSwap;
use clap::Parser;
use moclojer_domain::TrustedProxies;
use moclojer_domain::spec::{Limits, Mode};
use moclojer_egress::{AllowRule, Egress, EgressConfig, Policy};
use moclojer_foss::{
    ConfigEvents, EngineOptions, MAX_UNIFIED_BYTES, S3_ACCESS_KEY_VAR, S3_SECRET_KEY_VAR,
    S3Credentials, SpecFiles, StoreLocation, load_files, open_store, serve,
    serve_cloud_with_events, watch,
};
use moclojer_redis::{RedisConfig, RedisEventQueue};
use moclojer_telemetry::LogFormat;

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
    /// Cloud mode: follow the unified config in an object store, `file:///path/to/dir` or
    /// `s3://bucket[/prefix]?endpoint=http://...&region=...` (credentials from
    /// MOCLOJER_S3_ACCESS_KEY and MOCLOJER_S3_SECRET_KEY).
    #[arg(
        long,
        env = "MOCLOJER_STORE",
        value_name = "URL",
        value_parser = StoreLocation::parse,
        conflicts_with_all = ["config", "mocks"]
    )]
    store: Option<StoreLocation>,
    /// Cloud mode: how often the store's manifest is looked at, in milliseconds.
    #[arg(
        long = "poll-ms",
        env = "MOCLOJER_POLL_MS",
        default_value_t = 1000,
        value_parser = clap::value_parser!(u64).range(10..)
    )]
    poll_ms: u64,
    /// Cloud mode: `redis://host:port` to reload as soon as the generator announces a new
    /// config (`config.published`), not only at the next poll.
    #[arg(long, env = "MOCLOJER_REDIS_URL", requires = "store")]
    redis_url: Option<String>,
    /// Cloud mode with --redis-url: the stream the generator's events go to.
    #[arg(long, env = "MOCLOJER_REDIS_STREAM", requires = "redis_url")]
    redis_stream: Option<String>,
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
    /// Log format: `text` (also `default`, `println`) or `json`.
    #[arg(
        short = 'f',
        long = "format",
        visible_alias = "log-format",
        short_alias = 'l',
        env = "MOCLOJER_LOG_FORMAT",
        default_value = "text"
    )]
    format: String,
    /// Log filter, RUST_LOG syntax.
    #[arg(long, env = "RUST_LOG")]
    log_filter: Option<String>,
    /// Outbound calls (webhooks, external bodies by URL): `open` lets a spec call services on
    /// this machine and network; `strict` refuses loopback, private and metadata addresses.
    /// Default: `open` from a file, `strict` with --store.
    #[arg(long, env = "MOCLOJER_EGRESS")]
    egress: Option<Policy>,
    /// Destinations allowed even under `--egress strict` (host, *.suffix, or CIDR); repeatable.
    #[arg(long = "egress-allow", value_name = "RULE")]
    egress_allow: Vec<AllowRule>,
    /// Largest spec file accepted, in bytes; the budgets for values and items grow with it.
    /// Default: 1 MiB from a file, 64 MiB (the unified config) with --store.
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
}

fn log_format(raw: &str) -> anyhow::Result<LogFormat> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "default" | "println" => Ok(LogFormat::Text),
        other => other.parse().map_err(anyhow::Error::from),
    }
}

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

/// The S3 credentials from the environment, if any is set.
fn s3_credentials() -> Option<S3Credentials> {
    #[allow(
        clippy::disallowed_methods,
        reason = "the binary's edge reads the environment"
    )]
    let read = |name: &str| std::env::var(name).ok();
    match (read(S3_ACCESS_KEY_VAR), read(S3_SECRET_KEY_VAR)) {
        (None, None) => None,
        (access, secret) => Some(S3Credentials::new(
            access.unwrap_or_default(),
            secret.unwrap_or_default(),
        )),
    }
}

async fn bind(args: &Args) -> anyhow::Result<tokio::net::TcpListener> {
    let address = SocketAddr::new(args.host, args.port);
    tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("listen on {address}"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    moclojer_telemetry::init(log_format(&args.format)?, args.log_filter.as_deref())?;
    let cloud = args.store.is_some();
    let default_policy = if cloud { Policy::Strict } else { Policy::Open };
    let egress = Egress::new(EgressConfig {
        policy: args.egress.unwrap_or(default_policy),
        allow: args.egress_allow.clone(),
        ..EgressConfig::open()
    })
    .context("set up the egress guard")?;
    let options = EngineOptions {
        mode: if cloud { Mode::Cloud } else { Mode::Standalone },
        cors: args.cors,
        egress: Some(egress),
        trusted_proxies: args.trusted_proxies.clone(),
        ..EngineOptions::default()
    };
    match &args.store {
        Some(location) => run_cloud(&args, location, options).await,
        None => run_standalone(&args, options).await,
    }
}

async fn run_cloud(
    args: &Args,
    location: &StoreLocation,
    options: EngineOptions,
) -> anyhow::Result<()> {
    let limits = Limits::for_bytes(args.max_spec_bytes.unwrap_or(MAX_UNIFIED_BYTES));
    let store = open_store(location, s3_credentials())
        .await
        .with_context(|| format!("open the object store ({location})"))?;
    let listener = bind(args).await?;
    let bound = listener.local_addr().context("read the bound address")?;
    tracing::info!(store = %location, "cloud mode: listening on http://{bound}");
    let interval = Duration::from_millis(args.poll_ms);
    let events = match &args.redis_url {
        None => None,
        Some(url) => {
            let mut redis = RedisConfig::new(url.clone());
            if let Some(stream) = &args.redis_stream {
                redis.stream.clone_from(stream);
            }
            let queue = RedisEventQueue::connect(&redis)
                .await
                .context("connect to Redis")?;
            let instance = args
                .instance
                .clone()
                .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string()[..12].to_owned());
            let group = format!("foss-{instance}");
            moclojer_ports::check_group_name(&group).context("--instance")?;
            tracing::info!(group, "reloading on config.published from Redis");
            Some(ConfigEvents {
                queue: Arc::new(queue),
                group,
            })
        }
    };
    serve_cloud_with_events(
        listener,
        store,
        options,
        limits,
        interval,
        events,
        shutdown_signal(),
    )
    .await
    .context("serve")
}

async fn run_standalone(args: &Args, options: EngineOptions) -> anyhow::Result<()> {
    let files = SpecFiles {
        config: args.config.clone().unwrap_or_else(default_config),
        mocks: args.mocks.clone(),
    };
    let options = EngineOptions {
        spec_dir: files.config.parent().map(PathBuf::from),
        ..options
    };
    let limits = Limits::for_bytes(
        args.max_spec_bytes
            .unwrap_or(moclojer_domain::MAX_SPEC_BYTES),
    );
    let engine = load_files(&files, options.clone(), &limits)
        .with_context(|| format!("load {}", files.config.display()))?;
    for warning in engine.warnings() {
        tracing::warn!(file = %files.config.display(), "{warning}");
    }
    let endpoints = engine.endpoint_count();
    let shared = Arc::new(ArcSwap::from_pointee(engine));

    let listener = bind(args).await?;
    let bound = listener.local_addr().context("read the bound address")?;
    tracing::info!(file = %files.config.display(), endpoints, "listening on http://{bound}");

    let watcher = tokio::spawn(watch(files, Arc::clone(&shared), options, limits));
    serve(listener, shared, shutdown_signal())
        .await
        .context("serve")?;
    watcher.abort();
    Ok(())
}

async fn shutdown_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(term) => term,
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for SIGTERM; stop with Ctrl-C");
            std::future::pending::<()>().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down: finishing requests in flight");
}
