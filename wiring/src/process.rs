//! What every service process shares at its edge: the log flags, the database and queue
//! flags, and the stop signal.

use moclojer_telemetry::LogFormat;

use std::time::Duration;

use moclojer_domain::journal::Retention;

use crate::{DatabaseUrl, JournalUrl, QueueUrl};

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

/// Where requests are recorded and what of them is kept: the mock server's and the api's
/// settings must agree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalSettings {
    /// The journal.
    pub url: JournalUrl,
    /// What it keeps.
    pub retention: Retention,
}

/// The request journal's flags, the same for the mock server (which records) and the api
/// (which lists): they must agree on the retention.
#[derive(Debug, Clone, clap::Args)]
pub struct JournalArgs {
    /// Where the requests mocks receive are recorded: `redis://host:6379` (shared by every
    /// replica and the api), `sqlite:PATH` or `memory://`. Default: the --redis-url's
    /// server when there is one.
    #[arg(
        long,
        env = "MOCLOJER_JOURNAL_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    pub journal_url: Option<JournalUrl>,
    /// The last N requests of each mock are kept (default 1,000). The standalone server
    /// records only when this is given, in memory.
    #[arg(
        long = "journal",
        env = "MOCLOJER_JOURNAL",
        value_name = "N",
        value_parser = clap::value_parser!(u32).range(1..=100_000)
    )]
    pub journal_records: Option<u32>,
    /// Requests older than this many hours are forgotten.
    #[arg(
        long,
        env = "MOCLOJER_JOURNAL_HOURS",
        value_name = "HOURS",
        default_value_t = 168,
        value_parser = clap::value_parser!(u32).range(1..=8_760)
    )]
    pub journal_hours: u32,
}

impl JournalArgs {
    /// What the journal keeps: `--journal` records (1,000 by default) per mock for
    /// `--journal-hours`.
    pub fn retention(&self) -> Retention {
        Retention {
            max_records: self
                .journal_records
                .map_or(Retention::DEFAULT.max_records, |n| n as usize),
            max_age: Duration::from_secs(u64::from(self.journal_hours.max(1)) * 3_600),
        }
    }

    /// The journal URL given, else the one on `queue`'s server, with the retention.
    pub fn settings_or(&self, queue: Option<&QueueUrl>) -> Option<JournalSettings> {
        let url = self
            .journal_url
            .clone()
            .or_else(|| queue.map(JournalUrl::from))?;
        Some(JournalSettings {
            url,
            retention: self.retention(),
        })
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
