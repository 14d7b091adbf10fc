//! `moclojer`: the mock server from a file, a drop-in for the original moclojer.
//!
//! `moclojer -c moclojer.yml` serves the spec on port 8000 and reloads it when the file
//! changes; a change that does not validate is reported and the running spec stays.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use arc_swap::ArcSwap;
use clap::Parser;
use moclojer_domain::spec::{Limits, Mode};
use moclojer_egress::{AllowRule, Egress, EgressConfig, Policy};
use moclojer_foss::{EngineOptions, SpecFiles, load_files, serve, watch};
use moclojer_telemetry::LogFormat;

/// Serve moclojer mocks from a file.
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
    #[arg(long, env = "MOCLOJER_EGRESS", default_value = "open")]
    egress: Policy,
    /// Destinations allowed even under `--egress strict` (host, *.suffix, or CIDR); repeatable.
    #[arg(long = "egress-allow", value_name = "RULE")]
    egress_allow: Vec<AllowRule>,
    /// Largest spec file accepted, in bytes; the budgets for values and items grow with it.
    #[arg(long, env = "MOCLOJER_MAX_SPEC_BYTES", default_value_t = moclojer_domain::MAX_SPEC_BYTES)]
    max_spec_bytes: usize,
    /// Answer cross-origin requests permissively (default) or not at all.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    cors: bool,
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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    moclojer_telemetry::init(log_format(&args.format)?, args.log_filter.as_deref())?;
    let files = SpecFiles {
        config: args.config.unwrap_or_else(default_config),
        mocks: args.mocks,
    };
    let egress = Egress::new(EgressConfig {
        policy: args.egress,
        allow: args.egress_allow,
        ..EgressConfig::open()
    })
    .context("set up the egress guard")?;
    let options = EngineOptions {
        mode: Mode::Standalone,
        cors: args.cors,
        spec_dir: files.config.parent().map(PathBuf::from),
        egress: Some(egress),
        ..EngineOptions::default()
    };
    let limits = Limits::for_bytes(args.max_spec_bytes);
    let engine = load_files(&files, options.clone(), &limits)
        .with_context(|| format!("load {}", files.config.display()))?;
    for warning in engine.warnings() {
        tracing::warn!(file = %files.config.display(), "{warning}");
    }
    let endpoints = engine.endpoint_count();
    let shared = Arc::new(ArcSwap::from_pointee(engine));

    let address = SocketAddr::new(args.host, args.port);
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("listen on {address}"))?;
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
