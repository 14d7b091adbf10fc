//! Housekeeping the api does on a schedule: outbox rows sent more than [`KEEP_SENT`] ago
//! and expired tokens are deleted, so neither table grows without a bound. Every api
//! replica does it; the deletes are idempotent, so replicas doing it at once is harmless.

use std::sync::Arc;
use std::time::Duration;

use moclojer_ports::{LocalTokens, Outbox};

/// How long a sent outbox row is kept (for inspection) before it is deleted.
pub const KEEP_SENT: Duration = Duration::from_secs(7 * 24 * 3600);

/// How often housekeeping runs.
pub const HOUSEKEEPING_EVERY: Duration = Duration::from_secs(3600);

/// What housekeeping deletes from.
#[derive(Debug, Clone)]
pub struct Housekeeping {
    /// The outbox whose sent rows are deleted.
    pub outbox: Arc<dyn Outbox>,
    /// The tokens whose expired ones are deleted.
    pub tokens: LocalTokens,
    /// How long sent rows are kept.
    pub keep_sent: Duration,
}

impl Housekeeping {
    /// Deletes once; how many sent rows and expired tokens went. A failure is logged and
    /// counts as none: the next round tries again.
    pub async fn once(&self) -> (u64, u64) {
        let sent = self
            .outbox
            .purge_sent(self.keep_sent)
            .await
            .inspect_err(|e| tracing::warn!(error = %e, "housekeeping: sent events not purged"))
            .unwrap_or(0);
        let tokens = self
            .tokens
            .purge_expired()
            .await
            .inspect_err(|e| tracing::warn!(error = %e, "housekeeping: expired tokens not purged"))
            .unwrap_or(0);
        if sent + tokens > 0 {
            tracing::info!(sent_events = sent, expired_tokens = tokens, "housekeeping");
        }
        (sent, tokens)
    }

    /// Runs [`Self::once`] now and then every `every`, until the task is aborted.
    pub fn spawn(self, every: Duration) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                self.once().await;
            }
        })
    }
}
