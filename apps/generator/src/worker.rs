//! The worker: events wake a rebuild, a timer makes up for lost ones.

use std::future::Future;
use std::time::Duration;

use anyhow::Context;
use moclojer_domain::MockId;
use moclojer_ports::{Delivery, EventQueue, MessageId, PortErrorKind};
use tokio::time::Instant;

use crate::{Deps, rebuild, sync};

/// The generator's consumer group.
pub const GROUP: &str = "generator";

/// The most events one step takes from the queue; they all cost one rebuild.
const BATCH: usize = 100;

/// The longest [`run`] waits for events before it looks at its timer again.
const MAX_WAIT: Duration = Duration::from_secs(1);

/// The pause after a failed step, so a broken database or queue is not hammered.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// What one [`try_execute_next`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepOutcome {
    /// Events arrived: one sync ran for the mocks they name, and they were acked.
    Done,
    /// No event was waiting.
    Empty,
}

/// Takes up to a batch of events for `group` (the consumer is named like the group) without
/// waiting; when any arrived, syncs once the mocks they name and acks them. A missing group
/// is created (events published before that are not needed: a rebuild reads everything).
///
/// # Errors
/// When the queue fails, or the sync fails (the events are then not acked, so they come
/// back after the queue's redelivery delay).
pub async fn try_execute_next(
    deps: &Deps,
    queue: &dyn EventQueue,
    group: &str,
) -> anyhow::Result<StepOutcome> {
    let batch = receive(queue, group, Duration::ZERO).await?;
    handle(deps, queue, group, batch).await
}

/// Runs until `stop` completes: a rebuild at start and every `interval` (so a lost event
/// costs one interval, never a missing mock), and one for each batch of events from the
/// [`GROUP`] group. Failures are logged and retried; stopping interrupts only waits, never
/// a rebuild.
///
/// # Errors
/// None today; the signature leaves room for fatal set-up errors.
pub async fn run(
    deps: &Deps,
    queue: &dyn EventQueue,
    interval: Duration,
    stop: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    tokio::pin!(stop);
    if let Err(e) = queue.ensure_group(GROUP).await {
        tracing::warn!(error = %e, "cannot create the consumer group yet; will retry");
    }
    let mut next_rebuild = Instant::now();
    loop {
        if Instant::now() >= next_rebuild {
            match rebuild(deps).await {
                Ok(outcome) => tracing::debug!(?outcome, "periodic rebuild"),
                Err(e) => tracing::warn!(error = format!("{e:#}"), "periodic rebuild failed"),
            }
            next_rebuild = Instant::now() + interval;
        }
        let wait = next_rebuild
            .saturating_duration_since(Instant::now())
            .min(MAX_WAIT);
        let received = tokio::select! {
            () = &mut stop => return Ok(()),
            received = receive(queue, GROUP, wait) => received,
        };
        let failed = match received {
            Ok(batch) if batch.is_empty() => None,
            Ok(batch) => match handle(deps, queue, GROUP, batch).await {
                Ok(_) => {
                    next_rebuild = Instant::now() + interval;
                    None
                }
                Err(e) => Some(e),
            },
            Err(e) => Some(e),
        };
        if let Some(e) = failed {
            tracing::warn!(error = format!("{e:#}"), "generator step failed");
            tokio::select! {
                () = &mut stop => return Ok(()),
                () = tokio::time::sleep(RETRY_AFTER.min(interval)) => {}
            }
        }
    }
}

async fn receive(
    queue: &dyn EventQueue,
    group: &str,
    wait: Duration,
) -> anyhow::Result<Vec<Delivery>> {
    match queue.receive(group, group, BATCH, wait).await {
        Err(e) if e.kind() == PortErrorKind::NotFound => {
            queue
                .ensure_group(group)
                .await
                .with_context(|| format!("create the consumer group {group}"))?;
            Ok(Vec::new())
        }
        received => received.with_context(|| format!("receive events for {group}")),
    }
}

async fn handle(
    deps: &Deps,
    queue: &dyn EventQueue,
    group: &str,
    batch: Vec<Delivery>,
) -> anyhow::Result<StepOutcome> {
    if batch.is_empty() {
        return Ok(StepOutcome::Empty);
    }
    let mut mock_ids: Vec<MockId> = batch
        .iter()
        .filter_map(|d| d.event.kind.mock_id())
        .collect();
    mock_ids.sort_unstable();
    mock_ids.dedup();
    let outcome = sync(deps, &mock_ids).await?;
    let ids: Vec<MessageId> = batch.into_iter().map(|d| d.id).collect();
    queue
        .ack(group, &ids)
        .await
        .with_context(|| format!("ack {} events", ids.len()))?;
    tracing::debug!(
        events = ids.len(),
        mocks = mock_ids.len(),
        ?outcome,
        "synced for events"
    );
    Ok(StepOutcome::Done)
}
