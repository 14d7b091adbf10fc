//! What every service process shares at its edge: the log flags, the database, queue,
//! journal and state flags, and the stop signal.

use moclojer_telemetry::LogFormat;

use std::time::Duration;

use moclojer_domain::journal::Retention;
use moclojer_ports::StateLimits;

use crate::{DatabaseUrl, JournalUrl, QueueUrl, StateUrl};

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

/// Where stateful mocks keep their state and how much of it each host may hold: the mock
/// servers' and the api's settings must name the same place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateSettings {
    /// The state.
    pub url: StateUrl,
    /// The bounds on each host's state.
    pub limits: StateLimits,
}

/// The flags of stateful mocks' state (sequence positions, scenario states, resource
/// records), the same for the mock server (which keeps it) and the api (which shows and
/// resets it).
#[derive(Debug, Clone, clap::Args)]
pub struct StateArgs {
    /// Where stateful mocks keep their state (sequence positions, scenario states, resource
    /// records): `redis://host:6379` (shared by every mock server replica and the api) or
    /// `memory://` (this process). Default: the --redis-url's server when there is one,
    /// else a mock server's own memory (and an api on its own has no state to show).
    #[arg(
        long,
        env = "MOCLOJER_STATE_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    pub state_url: Option<StateUrl>,
    /// The most resource records one mock's state holds; a write past it answers 507.
    #[arg(
        long,
        env = "MOCLOJER_STATE_RECORDS",
        value_name = "N",
        default_value_t = StateLimits::default().max_records,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub state_records: u64,
    /// The most bytes of resource records (their JSON text) one mock's state holds; a
    /// write past it answers 507.
    #[arg(
        long,
        env = "MOCLOJER_STATE_BYTES",
        value_name = "BYTES",
        default_value_t = StateLimits::default().max_bytes,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub state_bytes: u64,
}

impl StateArgs {
    /// The bounds `--state-records` and `--state-bytes` set.
    pub fn limits(&self) -> StateLimits {
        StateLimits {
            max_records: self.state_records,
            max_bytes: self.state_bytes,
        }
    }

    /// The state URL given, else the one on `queue`'s server, else this process's memory,
    /// with the limits: where a mock server keeps its state.
    pub fn settings_or(&self, queue: Option<&QueueUrl>) -> StateSettings {
        self.shared_or(queue).unwrap_or(StateSettings {
            url: StateUrl::Memory,
            limits: self.limits(),
        })
    }

    /// The state URL given, else the one on `queue`'s server, with the limits; `None`
    /// without either: a process that only shows the state (the api on its own) has no
    /// mock server sharing its memory.
    pub fn shared_or(&self, queue: Option<&QueueUrl>) -> Option<StateSettings> {
        let url = self
            .state_url
            .clone()
            .or_else(|| queue.map(StateUrl::from))?;
        Some(StateSettings {
            url,
            limits: self.limits(),
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

    #[derive(Debug, Parser)]
    struct StateCli {
        #[command(flatten)]
        queue: QueueArgs,
        #[command(flatten)]
        state: StateArgs,
    }

    #[test]
    fn the_state_defaults_to_the_queues_server_else_memory_with_the_issues_limits() {
        let parse = |argv: &[&str]| StateCli::try_parse_from(argv).unwrap();
        let alone = parse(&["x"]);
        assert_eq!(
            alone.state.settings_or(alone.queue.queue().as_ref()),
            StateSettings {
                url: StateUrl::Memory,
                limits: StateLimits {
                    max_records: 10_000,
                    max_bytes: 10 * 1024 * 1024
                },
            }
        );
        assert_eq!(alone.state.shared_or(None), None, "the api alone has none");

        let queued = parse(&[
            "x",
            "--redis-url",
            "redis://127.0.0.1:6379",
            "--redis-stream",
            "s",
            "--state-records",
            "5",
            "--state-bytes",
            "1024",
        ]);
        let settings = queued.state.settings_or(queued.queue.queue().as_ref());
        assert_eq!(
            settings.url,
            StateUrl::Redis {
                url: "redis://127.0.0.1:6379".to_owned(),
                prefix: Some("s:".to_owned())
            }
        );
        assert_eq!(
            (settings.limits.max_records, settings.limits.max_bytes),
            (5, 1024)
        );

        let given = parse(&[
            "x",
            "--redis-url",
            "redis://127.0.0.1:6379",
            "--state-url",
            "memory://",
        ]);
        assert_eq!(
            given.state.shared_or(given.queue.queue().as_ref()),
            Some(StateSettings {
                url: StateUrl::Memory,
                limits: StateLimits::default()
            })
        );
        for argv in [
            &["x", "--state-records", "0"][..],
            &["x", "--state-bytes", "0"],
            &["x", "--state-url", "postgres://u:hunter2@db/x"],
        ] {
            let err = StateCli::try_parse_from(argv).unwrap_err().to_string();
            assert!(!err.contains("hunter2"), "{err}");
        }
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
