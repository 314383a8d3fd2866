//! Group commit: many concurrent payments share one statement for step (a) and one
//! transaction for step (c), so the database commits far fewer times than there are events.
//!
//! ```text
//!  payment tasks ─▶ begin jobs  ─▶ worker: whatever is queued (≤ max batch) ─▶ ONE INSERT … ON
//!                                   CONFLICT over unnest(arrays) ─▶ each task gets its own row
//!  payment tasks ─▶ settle jobs ─▶ worker: ONE transaction: UPDATE … WHERE status = 'PENDING'
//!                                   RETURNING moved ids; outbox rows of the moved ones;
//!                                   processed-events rows; COMMIT ─▶ each task: moved or not
//! ```
//!
//! No timer: a worker takes what is queued when it is free (like `linger.ms=0`), so an idle
//! service answers at once and a busy one batches what arrived while the previous batch ran.
//!
//! The per-event guarantees of the three steps hold for every single event, because a batch
//! is exactly the per-event statements applied to several rows at once, in one transaction:
//! * a task learns its outcome only after the batch COMMITTED; a failed batch answers every task
//!   with the error (nothing of it is visible), and the runtime retries each record;
//! * one payment appears at most once per batch (later duplicates wait for the next batch), so
//!   `WHERE status = 'PENDING'` still moves each payment once and writes one result event;
//! * a batch the database rejects as a whole (a permanent error, e.g. one bad row) is replayed
//!   event by event, so one poison row cannot fail its neighbours.

use super::store::{PgPaymentStore, SettlementRow, payment_from_row, pg_error, pool_error};
use crate::application::StoreError;
use crate::application::ports::{BegunPayment, PaymentStore};
use crate::domain::{ChargeRequest, GatewayIdempotencyKey, Settlement};
use contracts::ErrorKind;
use eventing::outbox::{OutboxMessage, write_outbox_batch};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use tokio::sync::{Mutex, mpsc, oneshot};
use uuid::Uuid;

const BEGIN_PAYMENTS_BATCH: &str = include_str!("sql/begin_payments_batch.sql");
const SETTLE_PAYMENTS_BATCH: &str = include_str!("sql/settle_payments_batch.sql");
const INSERT_PROCESSED_EVENTS_BATCH: &str = include_str!("sql/insert_processed_events_batch.sql");

/// Batch limits.
#[derive(Debug, Clone, Copy)]
pub struct GroupCommitSettings {
    /// Most events per statement / transaction (1: every event on its own).
    pub max_batch: usize,
    /// Batches in flight at once per step (each holds one pooled connection).
    pub workers: usize,
}

struct BeginJob {
    request: ChargeRequest,
    key: GatewayIdempotencyKey,
    payment_id: Uuid,
    event_id: Uuid,
    counts_as_attempt: bool,
    reply: oneshot::Sender<Result<BegunPayment, StoreError>>,
}

struct SettleJob {
    row: SettlementRow,
    message: OutboxMessage,
    reply: oneshot::Sender<Result<bool, StoreError>>,
}

/// [`PaymentStore`] with steps (a) and (c) group-committed; the rare steps (expire, mark a
/// duplicate processed) go straight to the per-event store.
#[derive(Clone)]
pub struct GroupCommitStore {
    inner: PgPaymentStore,
    begins: mpsc::Sender<BeginJob>,
    settles: mpsc::Sender<SettleJob>,
}

impl std::fmt::Debug for GroupCommitStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCommitStore")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

fn stopped() -> StoreError {
    StoreError::Unavailable("the group-commit workers stopped (shutting down)".into())
}

/// The same error for every job of a failed batch (a `StoreError` is not `Clone`).
fn copy_error(err: &StoreError) -> StoreError {
    match err {
        StoreError::Unavailable(m) => StoreError::Unavailable(m.clone()),
        other => StoreError::Rejected(other.to_string()),
    }
}

/// Take what is queued, up to `max`, after waiting for the first job. `None`: channel closed.
async fn next_batch<J>(rx: &Mutex<mpsc::Receiver<J>>, max: usize) -> Option<Vec<J>> {
    let mut rx = rx.lock().await;
    let first = rx.recv().await?;
    let mut batch = vec![first];
    while batch.len() < max {
        match rx.try_recv() {
            Ok(job) => batch.push(job),
            Err(_) => break,
        }
    }
    Some(batch)
}

/// Split `jobs` into runs in which `id` is distinct, keeping arrival order.
fn distinct_runs<J>(jobs: Vec<J>, id: impl Fn(&J) -> Uuid) -> Vec<Vec<J>> {
    let mut runs: Vec<(HashSet<Uuid>, Vec<J>)> = Vec::new();
    for job in jobs {
        let key = id(&job);
        match runs.iter_mut().find(|(seen, _)| !seen.contains(&key)) {
            Some((seen, run)) => {
                seen.insert(key);
                run.push(job);
            }
            None => runs.push((HashSet::from([key]), vec![job])),
        }
    }
    runs.into_iter().map(|(_, run)| run).collect()
}

impl GroupCommitStore {
    /// Start the workers on the current Tokio runtime; they stop when the store is dropped.
    pub fn start(inner: PgPaymentStore, settings: GroupCommitSettings) -> Self {
        let max = settings.max_batch.max(1);
        let (begins, begin_rx) = mpsc::channel::<BeginJob>(max * settings.workers.max(1) * 4);
        let (settles, settle_rx) = mpsc::channel::<SettleJob>(max * settings.workers.max(1) * 4);
        let begin_rx = Arc::new(Mutex::new(begin_rx));
        let settle_rx = Arc::new(Mutex::new(settle_rx));
        for _ in 0..settings.workers.max(1) {
            let (store, rx) = (inner.clone(), Arc::clone(&begin_rx));
            tokio::spawn(async move {
                while let Some(batch) = next_batch(&rx, max).await {
                    for run in distinct_runs(batch, |j| j.request.order_id) {
                        run_begin_batch(&store, run).await;
                    }
                }
            });
            let (store, rx) = (inner.clone(), Arc::clone(&settle_rx));
            tokio::spawn(async move {
                while let Some(batch) = next_batch(&rx, max).await {
                    for run in distinct_runs(batch, |j| j.row.payment_id) {
                        run_settle_batch(&store, run).await;
                    }
                }
            });
        }
        Self {
            inner,
            begins,
            settles,
        }
    }
}

async fn run_begin_batch(store: &PgPaymentStore, jobs: Vec<BeginJob>) {
    if jobs.len() == 1 {
        for job in jobs {
            let result = store
                .begin_payment(
                    &job.request,
                    &job.key,
                    job.payment_id,
                    job.event_id,
                    job.counts_as_attempt,
                )
                .await;
            let _ = job.reply.send(result);
        }
        return;
    }
    match begin_batch(store, &jobs).await {
        Ok(mut rows) => {
            for job in jobs {
                let result = rows.remove(&job.request.order_id).unwrap_or_else(|| {
                    Err(StoreError::Corrupt(format!(
                        "the batch returned no payment for order {}",
                        job.request.order_id
                    )))
                });
                let _ = job.reply.send(result);
            }
        }
        Err(err) if err.kind() == ErrorKind::Permanent => {
            // One bad row must not fail its neighbours: replay one by one.
            tracing::warn!(error = %err, batch = jobs.len(), "begin batch rejected; replaying event by event");
            for job in jobs {
                let result = store
                    .begin_payment(
                        &job.request,
                        &job.key,
                        job.payment_id,
                        job.event_id,
                        job.counts_as_attempt,
                    )
                    .await;
                let _ = job.reply.send(result);
            }
        }
        Err(err) => {
            for job in jobs {
                let _ = job.reply.send(Err(copy_error(&err)));
            }
        }
    }
}

async fn begin_batch(
    store: &PgPaymentStore,
    jobs: &[BeginJob],
) -> Result<HashMap<Uuid, Result<BegunPayment, StoreError>>, StoreError> {
    let payment_ids: Vec<Uuid> = jobs.iter().map(|j| j.payment_id).collect();
    let order_ids: Vec<Uuid> = jobs.iter().map(|j| j.request.order_id).collect();
    let customers: Vec<&str> = jobs
        .iter()
        .map(|j| j.request.customer_id.as_str())
        .collect();
    let amounts: Vec<rust_decimal::Decimal> = jobs.iter().map(|j| j.request.amount).collect();
    let currencies: Vec<&str> = jobs.iter().map(|j| j.request.currency.as_str()).collect();
    let keys: Vec<&str> = jobs.iter().map(|j| j.key.as_str()).collect();
    let counts: Vec<bool> = jobs.iter().map(|j| j.counts_as_attempt).collect();
    let event_ids: Vec<Uuid> = jobs.iter().map(|j| j.event_id).collect();
    let client = store.pool().get().await.map_err(pool_error)?;
    let statement = client
        .prepare_cached(BEGIN_PAYMENTS_BATCH)
        .await
        .map_err(pg_error)?;
    let rows = client
        .query(
            &statement,
            &[
                &payment_ids,
                &order_ids,
                &customers,
                &amounts,
                &currencies,
                &keys,
                &counts,
                &store.consumer_group(),
                &event_ids,
            ],
        )
        .await
        .map_err(pg_error)?;
    let counted: HashMap<Uuid, bool> = jobs
        .iter()
        .map(|j| (j.request.order_id, j.counts_as_attempt))
        .collect();
    let mut by_order = HashMap::with_capacity(rows.len());
    for row in &rows {
        let order_id: Uuid = row
            .try_get("order_id")
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let begun = payment_from_row(row, counted.get(&order_id).copied().unwrap_or(false))
            .and_then(|payment| {
                Ok(BegunPayment {
                    payment,
                    event_already_processed: row
                        .try_get("processed")
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                })
            });
        by_order.insert(order_id, begun);
    }
    Ok(by_order)
}

async fn run_settle_batch(store: &PgPaymentStore, jobs: Vec<SettleJob>) {
    if jobs.len() == 1 {
        for job in jobs {
            let _ = job
                .reply
                .send(store.settle_encoded(&job.row, &job.message).await);
        }
        return;
    }
    match settle_batch(store, &jobs).await {
        Ok(moved) => {
            for job in jobs {
                let _ = job.reply.send(Ok(moved.contains(&job.row.payment_id)));
            }
        }
        Err(err) if err.kind() == ErrorKind::Permanent => {
            tracing::warn!(error = %err, batch = jobs.len(), "settle batch rejected; replaying event by event");
            for job in jobs {
                let _ = job
                    .reply
                    .send(store.settle_encoded(&job.row, &job.message).await);
            }
        }
        Err(err) => {
            for job in jobs {
                let _ = job.reply.send(Err(copy_error(&err)));
            }
        }
    }
}

/// Step (c) for distinct payments in ONE transaction; returns the payments it moved.
async fn settle_batch(
    store: &PgPaymentStore,
    jobs: &[SettleJob],
) -> Result<HashSet<Uuid>, StoreError> {
    let payment_ids: Vec<Uuid> = jobs.iter().map(|j| j.row.payment_id).collect();
    let statuses: Vec<&str> = jobs.iter().map(|j| j.row.status).collect();
    let references: Vec<Option<&str>> = jobs
        .iter()
        .map(|j| j.row.gateway_reference.as_deref())
        .collect();
    let reasons: Vec<Option<&str>> = jobs.iter().map(|j| j.row.failure_reason).collect();
    let details: Vec<Option<&str>> = jobs
        .iter()
        .map(|j| j.row.failure_detail.as_deref())
        .collect();
    let event_ids: Vec<Uuid> = jobs.iter().map(|j| j.row.event_id).collect();
    let mut client = store.pool().get().await.map_err(pool_error)?;
    let tx = client.transaction().await.map_err(pg_error)?;
    let update = tx
        .prepare_cached(SETTLE_PAYMENTS_BATCH)
        .await
        .map_err(pg_error)?;
    let moved: HashSet<Uuid> = tx
        .query(
            &update,
            &[&payment_ids, &statuses, &references, &reasons, &details],
        )
        .await
        .map_err(pg_error)?
        .iter()
        .map(|row| row.try_get::<_, Uuid>(0))
        .collect::<Result<_, _>>()
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let messages: Vec<OutboxMessage> = jobs
        .iter()
        .filter(|j| moved.contains(&j.row.payment_id))
        .map(|j| j.message.clone())
        .collect();
    write_outbox_batch(&tx, &messages).await.map_err(pg_error)?;
    let processed = tx
        .prepare_cached(INSERT_PROCESSED_EVENTS_BATCH)
        .await
        .map_err(pg_error)?;
    tx.execute(&processed, &[&store.consumer_group(), &event_ids])
        .await
        .map_err(pg_error)?;
    tx.commit().await.map_err(pg_error)?;
    Ok(moved)
}

impl PaymentStore for GroupCommitStore {
    async fn begin_payment(
        &self,
        request: &ChargeRequest,
        key: &GatewayIdempotencyKey,
        new_payment_id: Uuid,
        event_id: Uuid,
        counts_as_attempt: bool,
    ) -> Result<BegunPayment, StoreError> {
        let (reply, answer) = oneshot::channel();
        let job = BeginJob {
            request: request.clone(),
            key: key.clone(),
            payment_id: new_payment_id,
            event_id,
            counts_as_attempt,
            reply,
        };
        self.begins.send(job).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    async fn settle(
        &self,
        payment_id: Uuid,
        settlement: &Settlement,
        event_id: Uuid,
        traceparent: Option<&str>,
    ) -> Result<bool, StoreError> {
        // Encoding may ask the registry: done here, before any transaction.
        let message = self.inner.encode(settlement, traceparent).await?;
        let (reply, answer) = oneshot::channel();
        let job = SettleJob {
            row: SettlementRow::new(payment_id, settlement, event_id),
            message,
            reply,
        };
        self.settles.send(job).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    async fn expire(&self, payment_id: Uuid) -> Result<(), StoreError> {
        self.inner.expire(payment_id).await
    }

    async fn mark_processed(&self, event_id: Uuid) -> Result<(), StoreError> {
        self.inner.mark_processed(event_id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn runs_are_distinct_and_keep_every_job_in_order(ids in proptest::collection::vec(0u8..6, 0..40)) {
            let jobs: Vec<(usize, Uuid)> = ids
                .iter()
                .enumerate()
                .map(|(i, b)| (i, Uuid::from_u128(u128::from(*b))))
                .collect();
            let runs = distinct_runs(jobs.clone(), |j| j.1);
            let mut all: Vec<(usize, Uuid)> = runs.iter().flatten().copied().collect();
            for run in &runs {
                let distinct: HashSet<Uuid> = run.iter().map(|j| j.1).collect();
                prop_assert_eq!(distinct.len(), run.len());
                prop_assert!(run.windows(2).all(|w| w[0].0 < w[1].0));
            }
            // per id, the jobs keep their arrival order across runs
            for id in ids.iter().map(|b| Uuid::from_u128(u128::from(*b))) {
                let order: Vec<usize> = runs.iter().flatten().filter(|j| j.1 == id).map(|j| j.0).collect();
                prop_assert!(order.windows(2).all(|w| w[0] < w[1]));
            }
            all.sort();
            prop_assert_eq!(all, jobs);
        }
    }
}
