//! The `moclojer-generator` binary: flags and environment in, [`App`] out.
//!
//! The database, the object store and the event queue are picked by their URLs' schemes
//! (`moclojer-wiring`): SQLite or PostgreSQL, a folder or S3, Redis or nothing. With Redis
//! it rebuilds on events and relays its outbox there; without, it rebuilds on an interval.
//! `--once` rebuilds once and exits.

use std::time::Duration;

use clap::Parser;
use moclojer_generator::{App, Config};
use moclojer_wiring::{App as _, DatabaseArgs, LogArgs, QueueArgs, Resolver, StoreUrl};

/// Publishes the live mocks from the database to the object store (manifest.json, index/,
/// hosts/), writing only what changed.
///
/// With --redis-url it hears the events of the other services (consumer group
/// `generator`), does the work of each (only the mocks it names) and relays its own outbox
/// (config.published) to Redis; it still rebuilds every --interval seconds, so a lost
/// event costs one interval. Without it, nothing tells it about changes, so it rebuilds
/// every --interval seconds. Each rebuild is idempotent and writes only what changed.
#[derive(Debug, Parser)]
#[command(name = "moclojer-generator", version)]
struct Args {
    #[command(flatten)]
    database: DatabaseArgs,
    /// The object store: `file:///path/to/dir` or a plain path (created when missing), or
    /// `s3://bucket[/prefix]?endpoint=http://...&region=...` (credentials from
    /// MOCLOJER_S3_ACCESS_KEY and MOCLOJER_S3_SECRET_KEY).
    #[arg(long, env = "MOCLOJER_STORE", value_name = "URL")]
    store: StoreUrl,
    /// Without a queue, the interval alone rebuilds.
    #[command(flatten)]
    queue: QueueArgs,
    /// Rebuild once (and, with --redis-url, relay the outbox) and exit.
    #[arg(long)]
    once: bool,
    /// Write the unified config of every live mock (one file, each endpoint with its host,
    /// servable by a standalone moclojer) to FILE and exit; nothing is published.
    #[arg(long, value_name = "FILE", conflicts_with = "once")]
    export: Option<std::path::PathBuf>,
    /// Seconds between full rebuilds (the safety net) when not --once. Default: 60 with
    /// --redis-url (events do the work), 5 without.
    #[arg(long, env = "MOCLOJER_GENERATOR_INTERVAL")]
    interval: Option<u64>,
    #[command(flatten)]
    log: LogArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    args.log.init()?;
    let mut config = Config::new(args.database.database_url, args.store, args.queue.queue());
    if let Some(seconds) = args.interval {
        config.interval = Duration::from_secs(seconds.max(1));
    }
    if let Some(path) = &args.export {
        let resolver = Resolver::from_env();
        let exported = match App::build(config, &resolver).await {
            Ok(app) => moclojer_generator::export(app.deps()).await,
            Err(e) => Err(e),
        };
        resolver.close().await;
        let text = exported?;
        std::fs::write(path, &text)
            .map_err(|e| anyhow::anyhow!("write {}: {e}", path.display()))?;
        tracing::info!(file = %path.display(), bytes = text.len(), "exported the live mocks");
        return Ok(());
    }
    if !args.once {
        return moclojer_wiring::run_until_signalled::<App>(config).await;
    }
    let resolver = Resolver::from_env();
    let rebuilt = match App::build(config, &resolver).await {
        Ok(app) => app.run_once().await,
        Err(e) => Err(e),
    };
    resolver.close().await;
    tracing::info!(rebuilt = ?rebuilt?, "rebuilt once");
    Ok(())
}
