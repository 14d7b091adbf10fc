//! The worker: events handled as they come, a reconcile at start and on a timer.

use std::future::Future;
use std::time::Duration;

use moclojer_ports::{EventQueue, MessageId, PortErrorKind};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::{Deps, handle, reconcile};

/// The ops consumer group.
pub const GROUP: &str = "ops";

/// The name of the lease that one ops instance holds while it reconciles.
pub const RECONCILE_LEASE: &str = "ops-reconcile";

/// The most events taken at once; they are handled concurrently.
const BATCH: usize = 32;

/// The longest wait for events before the timer is looked at again.
const MAX_WAIT: Duration = Duration::from_secs(1);

/// The pause after a failed step.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// Runs until `stop`: a reconcile at start and every `interval` (when this instance, named
/// `holder`, gets the lease), and every event of the [`GROUP`] group handled and acked.
/// An event whose handling fails is not acked: the queue hands it out again later.
pub async fn run(
    deps: &Deps,
    queue: &dyn EventQueue,
    holder: &str,
    interval: Duration,
    stop: impl Future<Output = ()>,
) {
    tokio::pin!(stop);
    let lease_ttl = interval.saturating_mul(3).max(Duration::from_secs(30));
    let mut next_reconcile = Instant::now();
    let mut group_ready = false;
    loop {
        if Instant::now() >= next_reconcile {
            let reconciling = reconcile(deps, holder, lease_ttl);
            let result = tokio::select! {
                result = reconciling => result,
                () = &mut stop => return,
            };
            match result {
                Ok(outcome) if outcome.reconciled => {
                    tracing::info!(?outcome, "reconciled");
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = format!("{e:#}"), "reconcile failed"),
            }
            next_reconcile = Instant::now() + interval;
        }
        if !group_ready {
            match queue.ensure_group(GROUP).await {
                Ok(()) => group_ready = true,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot make the ops group; retrying");
                    tokio::select! {
                        () = tokio::time::sleep(RETRY_AFTER) => continue,
                        () = &mut stop => return,
                    }
                }
            }
        }
        let wait = next_reconcile
            .saturating_duration_since(Instant::now())
            .min(MAX_WAIT);
        let received = tokio::select! {
            received = queue.receive(GROUP, GROUP, BATCH, wait) => received,
            () = &mut stop => return,
        };
        let batch = match received {
            Ok(batch) => batch,
            Err(e) => {
                if e.kind() == PortErrorKind::NotFound {
                    group_ready = false;
                }
                tracing::warn!(error = %e, "cannot receive events; retrying");
                tokio::select! {
                    () = tokio::time::sleep(RETRY_AFTER) => continue,
                    () = &mut stop => return,
                }
            }
        };
        if batch.is_empty() {
            continue;
        }
        // Stopping abandons the batch unacked: it comes back to whoever runs next, and
        // every step is idempotent.
        let mut tasks = JoinSet::new();
        for delivery in batch {
            let deps = deps.clone();
            tasks.spawn(async move {
                let result = handle(&deps, &delivery.event).await;
                (delivery.id, delivery.event.kind.name(), result)
            });
        }
        let mut handled: Vec<MessageId> = Vec::new();
        loop {
            let next = tokio::select! {
                next = tasks.join_next() => next,
                () = &mut stop => {
                    tasks.abort_all();
                    return;
                }
            };
            let Some(done) = next else { break };
            match done {
                Ok((id, _, Ok(_))) => handled.push(id),
                Ok((_, kind, Err(e))) => {
                    tracing::warn!(
                        event = kind,
                        error = format!("{e:#}"),
                        "event not handled; it will come back"
                    );
                }
                Err(e) => tracing::warn!(error = %e, "an event task failed"),
            }
        }
        if let Err(e) = queue.ack(GROUP, &handled).await {
            tracing::warn!(error = %e, "cannot ack handled events; they will be handled again");
        }
    }
}
