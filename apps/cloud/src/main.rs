//! The `moclojer-cloud` binary: flags and environment in, `App` out.

use std::path::PathBuf;

use clap::Parser;
use moclojer_api::SupabaseArgs;
use moclojer_cloud::{App, Config};
use moclojer_domain::Zone;
use moclojer_wiring::{DatabaseUrl, JournalArgs, LogArgs, QueueArgs, StateArgs, StoreUrl};

/// Every moclojer cloud service in one process: on the embedded defaults (SQLite, an
/// in-process queue, a folder store, all under --data-dir), or on PostgreSQL, Redis and S3.
#[derive(Debug, Parser)]
#[command(name = "moclojer-cloud", version)]
struct Args {
    /// Where the embedded defaults keep their data.
    #[arg(long, env = "MOCLOJER_DATA_DIR", default_value = ".moclojer")]
    data_dir: PathBuf,
    /// Where the api answers (`/api/v1`, docs at `/api/v1/docs`).
    #[arg(long, env = "MOCLOJER_API_ADDR", default_value = "127.0.0.1:3000")]
    api_addr: std::net::SocketAddr,
    /// Where the mocks answer, as `<mock>-<handle>.localhost:<port>`.
    #[arg(long, env = "MOCLOJER_MOCKS_ADDR", default_value = "127.0.0.1:8080")]
    mocks_addr: std::net::SocketAddr,
    /// `postgres://…` (or `sqlite:PATH`) instead of the data directory's SQLite file.
    #[arg(long, env = "MOCLOJER_DATABASE_URL", hide_env_values = true)]
    database_url: Option<DatabaseUrl>,
    /// A Redis queue instead of the in-process one.
    #[command(flatten)]
    queue: QueueArgs,
    /// `s3://bucket[/prefix]?endpoint=…&region=…` (credentials from MOCLOJER_S3_ACCESS_KEY
    /// and MOCLOJER_S3_SECRET_KEY), `file:///dir` or a path, instead of the data
    /// directory's store.
    #[arg(long = "store", alias = "s3-url", env = "MOCLOJER_STORE")]
    store: Option<StoreUrl>,
    /// The zone of mock hosts: `<mock>-<handle>.<zone>`.
    #[arg(long, env = "MOCLOJER_ZONE", default_value = "localhost")]
    zone: String,
    /// The built web interface served at `/` (`cargo xtask web` builds it); when it is
    /// missing, `/` says how to build it.
    #[arg(long, env = "MOCLOJER_WEB_DIR", default_value = "web/dist")]
    web_dir: PathBuf,
    #[command(flatten)]
    supabase: SupabaseArgs,
    #[command(flatten)]
    log: LogArgs,
    /// The request journal (default: Redis with --redis-url, else the SQLite database's
    /// file, else in this process).
    #[command(flatten)]
    journal: JournalArgs,
    /// What stateful mocks remember (default: Redis with --redis-url, else in this
    /// process), shared by the mock server and the api.
    #[command(flatten)]
    state: StateArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    args.log.init()?;
    let config = Config {
        api_addr: args.api_addr,
        mocks_addr: args.mocks_addr,
        database: args.database_url,
        queue: args.queue.queue(),
        store: args.store,
        web_dir: Some(args.web_dir),
        supabase: args.supabase.resolve()?,
        journal_url: args.journal.journal_url.clone(),
        journal_retention: args.journal.retention(),
        state_url: args.state.state_url.clone(),
        state_limits: args.state.limits(),
        zone: Zone::parse(&args.zone).map_err(|e| anyhow::anyhow!("--zone: {e}"))?,
        ..Config::new(args.data_dir)
    };
    moclojer_wiring::run_until_signalled::<App>(config).await
}
