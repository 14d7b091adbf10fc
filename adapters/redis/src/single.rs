//! One pipelined connection with its settings, as the journal and the mocks' state use it:
//! every command fails at once while disconnected and times out after `command_timeout`.

use std::time::Duration;

use fred::clients::{Client, Transaction};
use fred::error::{Error as FredError, ErrorKind};
use fred::interfaces::ClientLike;
use fred::types::config::Options;
use fred::types::{ConnectHandle, CustomCommand, Value};
use moclojer_ports::{PortError, PortResult};

use crate::config::RedisConfig;
use crate::connect::{Recipe, error_receivers, first_connection};
use crate::error::port_error;

/// How much longer than `command_timeout` a call may take before it is abandoned.
pub(crate) const GRACE: Duration = Duration::from_millis(250);

/// A connection; dropping it stops its task.
pub(crate) struct Connection {
    pub(crate) client: Client,
    task: ConnectHandle,
    pub(crate) url: String,
    pub(crate) command_timeout: Duration,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Connection {
    /// Connects as `RedisEventQueue::connect` does, with one client.
    pub(crate) async fn open(config: &RedisConfig) -> PortResult<Self> {
        let recipe = Recipe::of(config)?;
        let url = recipe.url.clone();
        let client = recipe.client();
        let errors = error_receivers(std::slice::from_ref(&client));
        let task = client.connect();
        // From here on, dropping `opened` stops the connection task.
        let opened = Self {
            client,
            task,
            url: url.clone(),
            command_timeout: config.command_timeout,
        };
        first_connection(
            std::slice::from_ref(&opened.client),
            errors,
            &url,
            config.command_timeout,
        )
        .await?;
        Ok(opened)
    }

    /// What every command is sent with: fail at once while disconnected, time out after
    /// `command_timeout`.
    pub(crate) fn options(&self) -> Options {
        Options {
            timeout: Some(self.command_timeout),
            fail_fast: true,
            ..Options::default()
        }
    }

    /// Runs `command args…`, failing at once when the connection is down and after
    /// `command_timeout` when Redis does not answer.
    pub(crate) async fn run(
        &self,
        command: CustomCommand,
        args: Vec<Value>,
    ) -> Result<Value, FredError> {
        let client = self.client.with_options(&self.options());
        let call = client.custom::<Value, Value>(command, args);
        match tokio::time::timeout(self.command_timeout.saturating_add(GRACE), call).await {
            Ok(result) => result,
            Err(_) => Err(FredError::new(ErrorKind::Timeout, "no reply in time")),
        }
    }

    /// Runs `trx` (its commands queued with [`Connection::options`]), all or nothing.
    pub(crate) async fn exec(&self, trx: &Transaction, doing: &str) -> PortResult<()> {
        match tokio::time::timeout(
            self.command_timeout.saturating_add(GRACE),
            trx.exec::<Value>(true),
        )
        .await
        {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(port_error(doing, e)),
            Err(_) => Err(PortError::timeout(format!("redis: {doing}"))),
        }
    }
}
