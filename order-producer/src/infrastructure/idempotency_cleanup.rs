//! The background task that keeps `idempotency_keys` bounded: at start-up and then every
//! interval it runs [`OrderService::delete_expired_idempotency_keys`] (batched deletes of keys
//! past the retention) until the shutdown token is cancelled.
//!
//! Correctness never depends on this task: a claim ignores an expired key whether or not it was
//! deleted (see `claim_idempotency_key.sql`). The task only reclaims space, so a failure (database
//! down, statement timeout) is logged and retried at the next interval; it never stops the
//! service.

use crate::application::OrderService;
use crate::application::ports::{Clock, IdGenerator, OrderRepository};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

/// When and how much the cleanup deletes.
#[derive(Debug, Clone, Copy)]
pub struct IdempotencyCleanupSettings {
    /// Pause between two runs (the first run is at start-up).
    pub interval: Duration,
    /// Most rows per DELETE statement.
    pub batch_size: NonZeroU32,
}

/// Run the cleanup every `settings.interval` until `cancel` is cancelled (also mid-run: a batch
/// in flight is abandoned, which deletes nothing or one whole batch).
pub async fn run_idempotency_key_cleanup<R, C, G>(
    service: Arc<OrderService<R, C, G>>,
    settings: IdempotencyCleanupSettings,
    cancel: CancellationToken,
) where
    R: OrderRepository,
    C: Clock,
    G: IdGenerator,
{
    tracing::info!(
        retention_hours = service.idempotency_key_retention().hours(),
        interval = ?settings.interval,
        batch_size = settings.batch_size.get(),
        "idempotency key cleanup started"
    );
    let mut ticks = tokio::time::interval(settings.interval);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            () = cancel.cancelled() => break,
            _ = ticks.tick() => {}
        }
        tokio::select! {
            biased;
            () = cancel.cancelled() => break,
            outcome = service.delete_expired_idempotency_keys(settings.batch_size) => match outcome {
                Ok(0) => tracing::debug!("no expired idempotency keys"),
                Ok(deleted) => tracing::info!(deleted, "expired idempotency keys deleted"),
                Err(e) => tracing::warn!(
                    error = %e,
                    kind = ?e.kind(),
                    retry_in = ?settings.interval,
                    "idempotency key cleanup failed; retrying at the next interval"
                ),
            },
        }
    }
    tracing::info!("idempotency key cleanup stopped");
}
