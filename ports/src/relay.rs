//! The outbox relay: moves events from a database's outbox to the event queue.
//!
//! It is orchestration over two ports, with no technology of its own, so every app (and
//! the all-in-one) can run it next to whatever database and queue it was given. Several
//! relays may run at once: each claims a batch for a lease ([`Outbox::claim`]), publishes it
//! in order, and marks sent exactly what the queue accepted. A relay that dies leaves its
//! claims to expire; a crash between publishing and marking only repeats events, which
//! consumers tolerate (delivery is at least once).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::{EventQueue, Outbox, PortResult};

/// How a relay works.
#[derive(Debug, Clone)]
pub struct RelaySettings {
    /// This relay's name in claims; unique per running relay (e.g. host and process id).
    pub name: String,
    /// Most events claimed per step.
    pub batch: usize,
    /// How long a claim holds before another relay may take it over.
    pub lease: Duration,
    /// Pause when there was nothing to relay.
    pub idle: Duration,
    /// Longest pause after repeated failures (the pause doubles from `idle`).
    pub max_backoff: Duration,
}

impl RelaySettings {
    /// Defaults for `name`: batches of 100, a 30 s lease, 200 ms idle, up to 10 s backoff.
    pub fn named(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            batch: 100,
            lease: Duration::from_secs(30),
            idle: Duration::from_millis(200),
            max_backoff: Duration::from_secs(10),
        }
    }
}

/// Moves events from `outbox` to `queue`.
#[derive(Debug, Clone)]
pub struct Relay {
    outbox: Arc<dyn Outbox>,
    queue: Arc<dyn EventQueue>,
    settings: RelaySettings,
}

impl Relay {
    /// A relay between `outbox` and `queue`.
    pub fn new(
        outbox: Arc<dyn Outbox>,
        queue: Arc<dyn EventQueue>,
        settings: RelaySettings,
    ) -> Self {
        Self {
            outbox,
            queue,
            settings,
        }
    }

    /// Claims one batch, publishes it in order, and marks sent what the queue accepted.
    /// Returns how many events were relayed.
    ///
    /// # Errors
    /// The first error of the outbox or the queue. Events published before it are marked
    /// sent; the others stay claimed until the lease ends, then are tried again.
    pub async fn step(&self) -> PortResult<usize> {
        let batch = self
            .outbox
            .claim(
                &self.settings.name,
                self.settings.batch,
                self.settings.lease,
            )
            .await?;
        let mut sent = Vec::with_capacity(batch.len());
        let mut failure = None;
        for entry in &batch {
            match self.queue.publish(&entry.event).await {
                Ok(_) => sent.push(entry.seq),
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        if !sent.is_empty() {
            self.outbox.mark_sent(&sent).await?;
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(sent.len()),
        }
    }

    /// Steps until one finds nothing, or `max_steps` steps; returns how many events went to
    /// the queue (for a process that relays once and exits).
    ///
    /// # Errors
    /// The first error of a step.
    pub async fn drain(&self, max_steps: usize) -> PortResult<usize> {
        let mut relayed = 0;
        for _ in 0..max_steps {
            match self.step().await? {
                0 => break,
                n => relayed += n,
            }
        }
        Ok(relayed)
    }

    /// [`Self::run`] on a task of its own, until the returned handle is stopped.
    pub fn spawn(self) -> RunningRelay {
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(self.run(async move {
            stopped.await.ok();
        }));
        RunningRelay { stop, task }
    }

    /// Relays until `stop` resolves: steps back to back while there is work, pauses when
    /// there is none, and backs off (doubling up to `max_backoff`) while the outbox or the
    /// queue is failing, so nothing is lost while Redis, say, is down.
    pub async fn run(self, stop: impl std::future::Future<Output = ()>) {
        tokio::pin!(stop);
        let mut backoff = self.settings.idle;
        loop {
            let pause = match self.step().await {
                Ok(n) if n > 0 => {
                    backoff = self.settings.idle;
                    Duration::ZERO
                }
                Ok(_) => self.settings.idle,
                Err(e) => {
                    tracing::warn!(relay = %self.settings.name, error = %e, retry_in_ms = backoff.as_millis() as u64, "relay step failed");
                    let pause = backoff;
                    backoff = (backoff * 2).min(self.settings.max_backoff);
                    pause
                }
            };
            tokio::select! {
                () = &mut stop => return,
                () = tokio::time::sleep(pause) => {}
            }
        }
    }
}

/// A relay running on a task of its own ([`Relay::spawn`]).
#[derive(Debug)]
pub struct RunningRelay {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl RunningRelay {
    /// Stops the relay and waits for its step under way.
    pub async fn stop(self) {
        drop(self.stop);
        if let Err(e) = self.task.await {
            tracing::warn!(error = %e, "the outbox relay ended abnormally");
        }
    }
}
