//! The `moclojer-cloud` binary: flags and environment in, `App` out.

use std::path::PathBuf;

use clap::Parser;
use moclojer_cloud::{App, Config};
use moclojer_telemetry::LogFormat;

/// Every moclojer cloud service in one process, on the embedded defaults.
#[derive(Debug, Parser)]
#[command(name = "moclojer-cloud", version)]
struct Args {
    /// Where the embedded defaults keep their data.
    #[arg(long, env = "MOCLOJER_DATA_DIR", default_value = ".moclojer")]
    data_dir: PathBuf,
    /// `text` (default) or `json` (one object per line, for log shipping).
    #[arg(long, env = "MOCLOJER_LOG_FORMAT", default_value = "text")]
    log_format: LogFormat,
    /// Where the mocks answer, as `<mock>-<handle>.localhost:<port>`.
    #[arg(long, env = "MOCLOJER_MOCKS_ADDR", default_value = "127.0.0.1:8080")]
    mocks_addr: std::net::SocketAddr,
    /// Log filter, RUST_LOG syntax.
    #[arg(long, env = "RUST_LOG")]
    log_filter: Option<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    moclojer_telemetry::init(args.log_format, args.log_filter.as_deref())?;
    let config = Config {
        mocks_addr: args.mocks_addr,
        ..Config::new(args.data_dir)
    };
    let app = App::build(config).await?;
    app.run_until_stopped().await
}
