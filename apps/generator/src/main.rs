//! The `moclojer-generator` binary: flags and environment in, [`App`] out.
//!
//! It is the embedded-default wiring (SQLite and a folder); the process hears no events of
//! its own, so it rebuilds on an interval, or once with `--once`.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use moclojer_generator::{App, Config};
use moclojer_telemetry::LogFormat;

/// Rebuilds the live mock configs (moclojer.yml, manifest.json, mocks/) from the database
/// into the object store.
///
/// This binary reads a SQLite database and writes a local folder. It has no event queue
/// shared with the api, so it rebuilds every --interval seconds (each rebuild is
/// idempotent and writes only what changed), or once with --once.
#[derive(Debug, Parser)]
#[command(name = "moclojer-generator", version)]
struct Args {
    /// The database, `sqlite:PATH` (the file must exist).
    #[arg(long, env = "MOCLOJER_DATABASE_URL")]
    database: String,
    /// The object store's folder (created when missing).
    #[arg(long, env = "MOCLOJER_STORE_DIR")]
    store_dir: PathBuf,
    /// Rebuild once and exit.
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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    moclojer_telemetry::init(args.log_format, args.log_filter.as_deref())?;
    let app = App::build(Config {
        database: args.database,
        store_dir: args.store_dir,
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
