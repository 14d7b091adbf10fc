//! How every Redis client of this crate is made and first connected: the same timeouts,
//! reconnect policy and first-connection wait for the event queue and the journal.

use std::time::Duration;

use fred::clients::Client;
use fred::error::{Error as FredError, ErrorKind};
use fred::interfaces::{ClientLike, EventInterface};
use fred::types::config::{
    Config, ConnectionConfig, PerformanceConfig, ReconnectPolicy, Server, UnresponsiveConfig,
};
use moclojer_ports::{PortError, PortResult};
use tokio::time::Instant;

use crate::config::{RedisConfig, redacted};
use crate::error::{kind_of, port_error};

/// Reconnect backoff bounds, in milliseconds.
const RECONNECT_MIN_MS: u32 = 50;
const RECONNECT_MAX_MS: u32 = 2_000;

/// Where a client's connection errors are heard.
pub(crate) type ErrorReceiver = tokio::sync::broadcast::Receiver<(FredError, Option<Server>)>;

/// What a client is made from, checked once: many clients may be made from it.
pub(crate) struct Recipe {
    fred: Config,
    performance: PerformanceConfig,
    connection: ConnectionConfig,
    policy: ReconnectPolicy,
    /// The URL without credentials, for messages.
    pub(crate) url: String,
}

impl Recipe {
    /// The recipe of `config`.
    ///
    /// # Errors
    /// `Invalid` for a URL that does not parse or a config value out of range.
    pub(crate) fn of(config: &RedisConfig) -> PortResult<Self> {
        config.check()?;
        let url = redacted(&config.url);
        let mut fred = Config::from_url(&config.url).map_err(|e| {
            PortError::invalid(format!("redis url {url} does not parse")).with_source(e)
        })?;
        // Keep trying when the first connection fails; calls fail fast meanwhile.
        fred.fail_fast = false;
        let performance = PerformanceConfig {
            default_command_timeout: config.command_timeout,
            ..PerformanceConfig::default()
        };
        let connection = ConnectionConfig {
            connection_timeout: config.command_timeout,
            internal_command_timeout: config.command_timeout,
            // A connection that leaves a command unanswered this long is dropped and made
            // again (a half-open socket would otherwise time out every call until TCP gives
            // up). Blocking reads are exempt while they block.
            unresponsive: UnresponsiveConfig {
                max_timeout: Some(config.command_timeout.saturating_mul(2)),
                interval: (config.command_timeout / 4)
                    .clamp(Duration::from_millis(50), Duration::from_secs(1)),
            },
            ..ConnectionConfig::default()
        };
        let policy = ReconnectPolicy::new_exponential(0, RECONNECT_MIN_MS, RECONNECT_MAX_MS, 2);
        Ok(Self {
            fred,
            performance,
            connection,
            policy,
            url,
        })
    }

    /// A new client, not connected yet.
    pub(crate) fn client(&self) -> Client {
        Client::new(
            self.fred.clone(),
            Some(self.performance.clone()),
            Some(self.connection.clone()),
            Some(self.policy.clone()),
        )
    }
}

/// Waits up to `timeout` for `clients` (whose connection tasks are running, their error
/// receivers taken before) to connect. A retryable failure is logged and the clients go on
/// reconnecting in the background.
///
/// # Errors
/// The first connection error when it is not a retryable one (for example `Internal`
/// when Redis rejects the credentials).
pub(crate) async fn first_connection(
    clients: &[Client],
    mut errors: Vec<ErrorReceiver>,
    url: &str,
    timeout: Duration,
) -> PortResult<()> {
    let deadline = Instant::now() + timeout;
    let first_error = loop {
        if clients.iter().all(ClientLike::is_connected) {
            break None;
        }
        if let Some((error, _)) = errors.iter_mut().find_map(|rx| rx.try_recv().ok()) {
            break Some(error);
        }
        if Instant::now() >= deadline {
            break Some(FredError::new(
                ErrorKind::Timeout,
                "no connection within the command timeout",
            ));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    if let Some(error) = first_error {
        if !kind_of(&error).is_retryable() {
            return Err(port_error(&format!("connect to {url}"), error));
        }
        tracing::warn!(
            redis = %url,
            error = %error,
            "redis is not reachable yet; reconnecting in the background"
        );
    }
    Ok(())
}

/// The error receivers of `clients`, to take before they connect.
pub(crate) fn error_receivers(clients: &[Client]) -> Vec<ErrorReceiver> {
    clients.iter().map(EventInterface::error_rx).collect()
}
