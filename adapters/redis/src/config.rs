//! How to reach Redis and how the queue behaves there.

use std::fmt;
use std::time::Duration;

use moclojer_ports::{PortError, PortResult, QueueSettings};

/// The stream events go to unless told otherwise.
pub const DEFAULT_STREAM: &str = "moclojer:events";

/// The approximate length the stream is trimmed to unless told otherwise.
pub const DEFAULT_MAX_LEN: u64 = 100_000;

/// How long one Redis command may take unless told otherwise.
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(2);

/// The longest `command_timeout` accepted.
const MAX_COMMAND_TIMEOUT: Duration = Duration::from_secs(600);

/// How many connections are kept for blocking reads unless told otherwise.
pub const DEFAULT_BLOCKING_CONNECTIONS: usize = 4;

/// Where the queue lives and how it behaves. Build it with [`RedisConfig::new`] and change
/// the fields you need.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisConfig {
    /// `redis://[user:password@]host[:port][/db]`. May hold a password, so `Debug` hides
    /// everything between the scheme and the host.
    pub url: String,
    /// The stream key the events are appended to. Each group's dead letters go to
    /// `<stream>:dead:<group>`. Default [`DEFAULT_STREAM`].
    pub stream: String,
    /// Approximate bound on the stream's length (`XADD MAXLEN ~`), and on each dead-letter
    /// stream's. Redis trims whole internal nodes, so the length may exceed this by up to a
    /// node (100 entries by default). Entries trimmed before a group handled them are lost
    /// to it: consumers rebuild from the database, so this costs a moment, not correctness.
    /// Default [`DEFAULT_MAX_LEN`].
    pub max_len: u64,
    /// Redelivery and dead-letter settings.
    pub settings: QueueSettings,
    /// The longest one command may take (and one connection attempt); a call that would
    /// wait longer fails with `Timeout`, and a connection that leaves a command unanswered
    /// for twice this long is dropped and made again. Blocking reads get their block time
    /// on top. At most 10 minutes. Default [`DEFAULT_COMMAND_TIMEOUT`].
    pub command_timeout: Duration,
    /// Connections reserved for blocking reads (`XREADGROUP … BLOCK`), which hold their
    /// connection while they wait: at most this many receives wait for new messages at
    /// once; the others poll. Default [`DEFAULT_BLOCKING_CONNECTIONS`].
    pub blocking_connections: usize,
}

impl RedisConfig {
    /// The defaults, on `url`.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            stream: DEFAULT_STREAM.to_owned(),
            max_len: DEFAULT_MAX_LEN,
            settings: QueueSettings::default(),
            command_timeout: DEFAULT_COMMAND_TIMEOUT,
            blocking_connections: DEFAULT_BLOCKING_CONNECTIONS,
        }
    }

    /// The key of `group`'s dead-letter stream.
    pub fn dead_stream(&self, group: &str) -> String {
        dead_stream(&self.stream, group)
    }

    /// Refuses values the queue cannot work with.
    pub(crate) fn check(&self) -> PortResult<()> {
        let problem = if self.stream.is_empty() {
            "the stream name is empty"
        } else if self.max_len == 0 {
            "max_len must be at least 1"
        } else if self.settings.max_deliveries == 0 {
            "max_deliveries must be at least 1"
        } else if self.settings.redeliver_after < Duration::from_millis(1) {
            "redeliver_after must be at least 1 ms"
        } else if self.command_timeout < Duration::from_millis(1) {
            "command_timeout must be at least 1 ms"
        } else if self.command_timeout > MAX_COMMAND_TIMEOUT {
            "command_timeout must be at most 10 minutes"
        } else if self.blocking_connections == 0 {
            "blocking_connections must be at least 1"
        } else {
            return Ok(());
        };
        Err(PortError::invalid(format!("redis queue config: {problem}")))
    }
}

pub(crate) fn dead_stream(stream: &str, group: &str) -> String {
    format!("{stream}:dead:{group}")
}

/// The URL without its credentials, for logs and `Debug`.
pub(crate) fn redacted(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((_, host)) => format!("{scheme}://***@{host}"),
            None => url.to_owned(),
        },
        None => "<unparsable url>".to_owned(),
    }
}

impl fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisConfig")
            .field("url", &redacted(&self.url))
            .field("stream", &self.stream)
            .field("max_len", &self.max_len)
            .field("settings", &self.settings)
            .field("command_timeout", &self.command_timeout)
            .field("blocking_connections", &self.blocking_connections)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_credentials() {
        let config = RedisConfig::new("redis://user:s3cret@example.com:6379/0");
        let shown = format!("{config:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("example.com:6379/0"), "{shown}");
        assert_eq!(redacted("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
        assert_eq!(redacted("nonsense"), "<unparsable url>");
    }

    #[test]
    fn defaults_and_checks() {
        let config = RedisConfig::new("redis://127.0.0.1:6379");
        assert_eq!(config.stream, "moclojer:events");
        assert_eq!(
            config.dead_stream("generator"),
            "moclojer:events:dead:generator"
        );
        assert!(config.check().is_ok());
        for broken in [
            RedisConfig {
                stream: String::new(),
                ..config.clone()
            },
            RedisConfig {
                max_len: 0,
                ..config.clone()
            },
            RedisConfig {
                blocking_connections: 0,
                ..config.clone()
            },
            RedisConfig {
                command_timeout: Duration::ZERO,
                ..config.clone()
            },
            RedisConfig {
                settings: QueueSettings {
                    max_deliveries: 0,
                    ..config.settings
                },
                ..config.clone()
            },
        ] {
            assert_eq!(
                broken.check().map_err(|e| e.kind()),
                Err(moclojer_ports::PortErrorKind::Invalid),
                "{broken:?}"
            );
        }
    }
}
