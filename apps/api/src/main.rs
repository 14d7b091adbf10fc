//! The `moclojer-api` binary: flags and environment in, [`App`] out.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use moclojer_api::{App, Config, MocksUrl, SupabaseArgs};
use moclojer_domain::Zone;
use moclojer_telemetry::LogFormat;

/// The moclojer cloud REST api (`/api/v1`), its OpenAPI document and docs UI.
#[derive(Debug, Parser)]
#[command(name = "moclojer-api", version)]
struct Args {
    /// Where to listen.
    #[arg(long, env = "MOCLOJER_API_ADDR", default_value = "127.0.0.1:3000")]
    addr: SocketAddr,
    /// `sqlite:PATH` or `postgres://user@host/db`.
    #[arg(long, env = "MOCLOJER_DATABASE_URL")]
    database_url: String,
    /// `redis://host:port`: the outbox is relayed there for the generator and ops.
    #[arg(long, env = "MOCLOJER_REDIS_URL")]
    redis_url: Option<String>,
    /// The Redis stream the events go to; every service of one deployment uses the same.
    #[arg(long, env = "MOCLOJER_REDIS_STREAM", requires = "redis_url")]
    redis_stream: Option<String>,
    /// The zone mock hosts live under: `<mock>-<handle>.<zone>`.
    #[arg(long, env = "MOCLOJER_ZONE", default_value = "localhost")]
    zone: String,
    /// Where mocks answer, for the URLs the api shows: `http://:8080`, `https://`.
    #[arg(long, env = "MOCLOJER_MOCKS_URL", default_value = "http://:8080")]
    mocks_url: String,
    /// Days a session token lasts.
    #[arg(long, env = "MOCLOJER_SESSION_DAYS", default_value_t = 30)]
    session_days: u64,
    #[command(flatten)]
    supabase: SupabaseArgs,
    /// The built web interface (`web/dist`) to serve at `/`; none when unset.
    #[arg(long, env = "MOCLOJER_WEB_DIR")]
    web_dir: Option<std::path::PathBuf>,
    /// `text` (default) or `json` (one object per line, for log shipping).
    #[arg(long, env = "MOCLOJER_LOG_FORMAT", default_value = "text")]
    log_format: LogFormat,
    /// Log filter, RUST_LOG syntax.
    #[arg(long, env = "RUST_LOG")]
    log_filter: Option<String>,
}

/// Reads `scheme://[host][:port]`; only the scheme and port matter.
fn mocks_url(raw: &str) -> anyhow::Result<MocksUrl> {
    let (scheme, rest) = raw
        .split_once("://")
        .context("--mocks-url is scheme://[:port], e.g. http://:8080")?;
    if scheme != "http" && scheme != "https" {
        anyhow::bail!("--mocks-url's scheme is http or https");
    }
    let port = match rest.trim_end_matches('/').rsplit_once(':') {
        Some((_, port)) => Some(port.parse().context("--mocks-url's port")?),
        None => None,
    };
    Ok(MocksUrl {
        scheme: scheme.to_owned(),
        port,
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    moclojer_telemetry::init(args.log_format, args.log_filter.as_deref())?;
    let config = Config {
        addr: args.addr,
        redis_url: args.redis_url.clone(),
        redis_stream: args.redis_stream.clone(),
        zone: Zone::parse(&args.zone).map_err(|e| anyhow::anyhow!("--zone: {e}"))?,
        mocks_url: mocks_url(&args.mocks_url)?,
        session_ttl: Duration::from_secs(args.session_days.clamp(1, 365) * 24 * 3600),
        supabase: args.supabase.resolve()?,
        web_dir: args.web_dir.clone(),
        ..Config::new(args.database_url.clone())
    };
    let app = App::build(config).await?;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("install the SIGTERM handler")?;
    app.run(async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        tracing::info!("stopping");
    })
    .await
}
