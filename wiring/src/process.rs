//! What every service process shares at its edge: the log flags, the database and queue
//! flags, and the stop signal.

use moclojer_telemetry::LogFormat;

use crate::{DatabaseUrl, QueueUrl};

/// The database flag of a service that needs one.
#[derive(Debug, Clone, clap::Args)]
pub struct DatabaseArgs {
    /// The database: `sqlite:PATH` (made when missing), `postgres://user:password@host:5432/db`
    /// (migrated on start) or `memory://`.
    #[arg(
        long,
        env = "MOCLOJER_DATABASE_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    pub database_url: DatabaseUrl,
}

/// The event-queue flags every service takes: without them there is no queue shared with
/// the other services.
#[derive(Debug, Clone, clap::Args)]
pub struct QueueArgs {
    /// The event queue the services share: `redis://[user:password@]host[:port][/db]`.
    #[arg(
        long,
        env = "MOCLOJER_REDIS_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    pub redis_url: Option<QueueUrl>,
    /// The Redis stream every service of one deployment uses (the adapter's default when
    /// unset).
    #[arg(
        long,
        env = "MOCLOJER_REDIS_STREAM",
        value_name = "KEY",
        requires = "redis_url"
    )]
    pub redis_stream: Option<String>,
}

impl QueueArgs {
    /// The queue the flags name, on their stream.
    pub fn queue(&self) -> Option<QueueUrl> {
        self.redis_url
            .clone()
            .map(|url| url.with_stream(self.redis_stream.clone()))
    }
}

/// The log flags every binary takes: the format and the filter.
#[derive(Debug, Clone, clap::Args)]
pub struct LogArgs {
    /// `text` (readable lines; also `default`, `println`) or `json` (one object per line,
    /// for log shipping).
    #[arg(
        short = 'f',
        long = "log-format",
        visible_alias = "format",
        short_alias = 'l',
        env = "MOCLOJER_LOG_FORMAT",
        default_value = "text",
        value_parser = parse_log_format
    )]
    pub log_format: LogFormat,
    /// Log filter, RUST_LOG syntax (default `info`).
    #[arg(long, env = "RUST_LOG")]
    pub log_filter: Option<String>,
}

impl LogArgs {
    /// Sets up logging for the process, once.
    ///
    /// # Errors
    /// When the filter does not parse or logging was set up already.
    pub fn init(&self) -> anyhow::Result<()> {
        moclojer_telemetry::init(self.log_format, self.log_filter.as_deref())
    }
}

/// A log format by name; `default` and `println` (the original moclojer's names) mean
/// text.
fn parse_log_format(raw: &str) -> Result<LogFormat, String> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "default" | "println" => Ok(LogFormat::Text),
        other => other.parse().map_err(|e| format!("{e}")),
    }
}

/// Completes at the first SIGINT (Ctrl-C) or SIGTERM, saying so in the log. When SIGTERM
/// cannot be listened for, Ctrl-C alone stops the process (and the log says that too).
pub async fn stop_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for SIGTERM; stop with Ctrl-C");
            tokio::signal::ctrl_c().await.ok();
        }
    }
    tracing::info!("stopping: finishing what is under way");
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Args {
        #[command(flatten)]
        log: LogArgs,
    }

    #[test]
    fn log_flags_take_every_name_they_had() {
        for argv in [
            &["x", "--log-format", "json"][..],
            &["x", "--format", "json"],
            &["x", "-f", "json"],
            &["x", "-l", "JSON"],
        ] {
            let args = Args::try_parse_from(argv).unwrap();
            assert_eq!(args.log.log_format, LogFormat::Json, "{argv:?}");
        }
        for name in ["default", "println", "text"] {
            let args = Args::try_parse_from(["x", "-f", name]).unwrap();
            assert_eq!(args.log.log_format, LogFormat::Text, "{name}");
        }
        let err = Args::try_parse_from(["x", "-f", "xml"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a log format"), "{err}");
    }
}
