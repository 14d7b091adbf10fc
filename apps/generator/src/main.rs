//! The `moclojer-generator` binary: flags and environment in, [`App`] out.
//!
//! The database, the object store and the event queue are picked by their URLs' schemes
//! (see the library's `wiring` module): SQLite or PostgreSQL, a folder or S3, Redis or
//! nothing. With Redis it rebuilds on events and relays its outbox there; without, it
//! rebuilds on an interval. `--once` rebuilds once and exits.

use std::time::Duration;

use clap::Parser;
use moclojer_generator::{App, Config, S3_ACCESS_KEY_VAR, S3_SECRET_KEY_VAR, S3Credentials};
use moclojer_telemetry::LogFormat;

/// Rebuilds the live mock configs (moclojer.yml, manifest.json, mocks/) from the database
/// into the object store.
///
/// With --redis-url it hears the events of the other services (consumer group
/// `generator`) and relays its own outbox (config.published) to Redis; it still rebuilds
/// every --interval seconds, so a lost event costs one interval. Without it, nothing tells
/// it about changes, so it rebuilds every --interval seconds. Each rebuild is idempotent and
/// writes only what changed.
#[derive(Debug, Parser)]
#[command(name = "moclojer-generator", version)]
struct Args {
    /// The database: `sqlite:PATH` (the file must exist) or
    /// `postgres://user:password@host:5432/db` (migrated on start).
    #[arg(long, env = "MOCLOJER_DATABASE_URL", value_name = "URL")]
    database_url: String,
    /// The object store: `file:///path/to/dir` or a plain path (created when missing), or
    /// `s3://bucket[/prefix]?endpoint=http://...&region=...` (credentials from
    /// MOCLOJER_S3_ACCESS_KEY and MOCLOJER_S3_SECRET_KEY).
    #[arg(long, env = "MOCLOJER_STORE", value_name = "URL")]
    store: String,
    /// The event queue, `redis://[user:password@]host[:port][/db]`. Without it there is no
    /// queue shared with the other services and the interval alone rebuilds.
    #[arg(long, env = "MOCLOJER_REDIS_URL", value_name = "URL")]
    redis_url: Option<String>,
    /// The Redis stream the services share.
    #[arg(long, env = "MOCLOJER_REDIS_STREAM", value_name = "KEY", default_value = moclojer_redis::DEFAULT_STREAM)]
    redis_stream: String,
    /// Rebuild once (and, with --redis-url, relay the outbox) and exit.
    #[arg(long)]
    once: bool,
    /// Seconds between rebuilds when not --once.
    #[arg(long, env = "MOCLOJER_GENERATOR_INTERVAL", default_value_t = 5)]
    interval: u64,
    /// `text` (default) or `json` (one object per line, for log shipping).
    #[arg(long, env = "MOCLOJER_LOG_FORMAT", default_value = "text")]
    log_format: LogFormat,
    /// Log filter, RUST_LOG syntax.
    #[arg(long, env = "RUST_LOG")]
    log_filter: Option<String>,
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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    moclojer_telemetry::init(args.log_format, args.log_filter.as_deref())?;
    let app = App::build(Config {
        database_url: args.database_url,
        store: args.store,
        s3_credentials: s3_credentials(),
        redis_url: args.redis_url,
        redis_stream: args.redis_stream,
        interval: Duration::from_secs(args.interval.max(1)),
    })
    .await?;
    if args.once {
        let outcome = app.run_once().await?;
        tracing::info!(?outcome, "rebuilt once");
        return Ok(());
    }
    app.run_until_stopped().await
}
