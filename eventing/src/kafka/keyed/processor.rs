//! What happens to one dispatched record, on a Tokio task: park it, or handle it and settle the
//! outcome (finish, hand off to a retry tier or the dead-letter topic, drain the key's parked
//! records). Returns whether the record's offset is *finished*; `Abandoned` leaves it unfinished
//! (its partition was revoked or the runtime is shutting down while a retry was pending).

use super::dead_letter_headers::{DeadLetterCause, DeadLetterReason, dead_letter_headers};
use super::handler::{Delivery, KeyedHandler, RecordPosition};
use super::parking::{KeyParking, ParkedKey};
use super::retry_headers::{delivery_of, retry_headers};
use super::retry_policy::{RetryDecision, RetryPolicy};
use crate::kafka::{ConsumedRecord, HandlerError};
use crate::trace_context::{TRACEPARENT, trace_id};
use backon::{BackoffBuilder, ExponentialBuilder};
use futures::FutureExt;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// The record's partition was revoked (or the runtime stopped) while a retry was pending, or
/// the revocation gave up waiting for the task: its offset stays unfinished.
#[derive(Debug)]
pub(crate) struct Abandoned;

/// The two signals of a record task's partition, set by the revocation (runtime.rs).
#[derive(Debug, Clone)]
pub(crate) struct TaskCancel {
    /// The revocation started: stop *waiting* (backoff of an in-place retry). A task making
    /// progress goes on: the partition is still ours until the revocation returns.
    pub(crate) revoking: CancellationToken,
    /// The revocation stopped waiting for the task (`revoke_timeout`): the partition may now
    /// belong to another member, which loaded the parking state. The task writes nothing more —
    /// no hand-off, no parking write, no change to the in-memory view of parked keys. Cancels
    /// `revoking` too.
    pub(crate) abandoned: CancellationToken,
}

impl TaskCancel {
    pub(crate) fn new() -> Self {
        let abandoned = CancellationToken::new();
        Self {
            revoking: abandoned.child_token(),
            abandoned,
        }
    }

    /// `Err(Abandoned)` once the task is abandoned; checked before every write.
    fn check(&self) -> Result<(), Abandoned> {
        if self.abandoned.is_cancelled() {
            Err(Abandoned)
        } else {
            Ok(())
        }
    }
}

/// How a record finished, for `<prefix>_records_total{outcome}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Processed,
    Retried,
    DeadLettered,
    Parked,
}

impl Outcome {
    fn label(self) -> &'static str {
        match self {
            Outcome::Processed => "processed",
            Outcome::Retried => "retried",
            Outcome::DeadLettered => "dead_lettered",
            Outcome::Parked => "parked",
        }
    }
}

/// The span every line about one record is logged in: its position and the trace id of its
/// `traceparent` header.
fn record_span(record: &ConsumedRecord) -> tracing::Span {
    tracing::info_span!(
        "record",
        topic = %record.topic,
        partition = record.partition,
        offset = record.offset,
        trace_id = record
            .header(TRACEPARENT)
            .and_then(trace_id)
            .unwrap_or_default(),
    )
}

/// Metric names under one prefix.
#[derive(Debug, Clone)]
pub(crate) struct Metrics {
    pub(crate) records: String,
    pub(crate) retries: String,
    pub(crate) dead_letters: String,
    pub(crate) in_flight: String,
    pub(crate) parked_keys: String,
    pub(crate) lag: String,
    pub(crate) assigned: String,
}

impl Metrics {
    pub(crate) fn new(prefix: &str) -> Self {
        let m = Self {
            records: format!("{prefix}_records_total"),
            retries: format!("{prefix}_retries_total"),
            dead_letters: format!("{prefix}_dead_letters_total"),
            in_flight: format!("{prefix}_in_flight_records"),
            parked_keys: format!("{prefix}_parked_keys"),
            lag: format!("{prefix}_consumer_lag_records"),
            assigned: format!("{prefix}_assigned_partitions"),
        };
        metrics::describe_counter!(
            m.records.clone(),
            "Records finished, by outcome: processed, retried (handed to a retry tier), dead_lettered, parked (stored behind a parked key)"
        );
        metrics::describe_counter!(
            m.retries.clone(),
            "Records handed to a retry tier, by tier topic"
        );
        metrics::describe_counter!(
            m.dead_letters.clone(),
            "Records dead-lettered, by reason: expired, retries_exhausted, invalid_event"
        );
        metrics::describe_gauge!(
            m.in_flight.clone(),
            "Records received and not finished (queued, held until due, or being handled)"
        );
        metrics::describe_gauge!(
            m.parked_keys.clone(),
            "Keys parked behind a record in retry, on this instance's partitions"
        );
        metrics::describe_gauge!(
            m.lag.clone(),
            "Records between the committed offset and the end of the partition"
        );
        metrics::describe_gauge!(m.assigned.clone(), "Partitions assigned to this consumer");
        m
    }
}

/// Everything a record task needs; shared by all tasks of one runtime.
pub(crate) struct Processor<H> {
    pub(crate) handler: Arc<H>,
    pub(crate) producer: FutureProducer,
    pub(crate) policy: RetryPolicy,
    pub(crate) dead_letter_topic: String,
    /// Partition count of the dead-letter topic (0 until known): dead letters keep their source
    /// partition number when the topic has it, else the producer partitions by key.
    pub(crate) dead_letter_partitions: AtomicI32,
    pub(crate) group: String,
    pub(crate) parking: Option<Arc<dyn KeyParking>>,
    /// In-memory view of `parked_keys` for this instance's partitions, by key.
    pub(crate) parked: Mutex<HashMap<Vec<u8>, ParkedKey>>,
    pub(crate) metrics: Metrics,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Backoff between attempts of an operation retried in place (hand-offs, parking, handlers
/// without retry tiers): 100 ms doubling to 10 s, with jitter, forever.
fn in_place_backoff() -> impl Iterator<Item = Duration> {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(100))
        .with_max_delay(Duration::from_secs(10))
        .with_jitter()
        .without_max_times()
        .build()
}

async fn pause(
    delays: &mut impl Iterator<Item = Duration>,
    cancel: &TaskCancel,
) -> Result<(), Abandoned> {
    let delay = delays.next().unwrap_or(Duration::from_secs(10));
    tokio::select! {
        _ = cancel.revoking.cancelled() => Err(Abandoned),
        _ = tokio::time::sleep(delay) => Ok(()),
    }
}

impl<H: KeyedHandler> Processor<H> {
    fn parked_owner(&self, key: &[u8]) -> Option<RecordPosition> {
        self.parked
            .lock()
            .expect("parked-keys lock is never poisoned (no panics while held)")
            .get(key)
            .map(|p| p.owner.clone())
    }

    /// Record `key` as parked by `owner`, unless the task is abandoned. Checked under the lock:
    /// the revocation cancels `abandoned` before it takes the lock to drop the revoked
    /// partitions' entries, so an abandoned task's entry is either refused or dropped.
    fn set_parked(
        &self,
        cancel: &TaskCancel,
        key: &[u8],
        partition: i32,
        owner: RecordPosition,
    ) -> Result<(), Abandoned> {
        let mut parked = self
            .parked
            .lock()
            .expect("parked-keys lock is never poisoned (no panics while held)");
        cancel.check()?;
        parked.insert(
            key.to_vec(),
            ParkedKey {
                key: key.to_vec(),
                partition,
                owner,
            },
        );
        metrics::gauge!(self.metrics.parked_keys.clone()).set(parked.len() as f64);
        Ok(())
    }

    /// Forget `key`'s parking, unless the task is abandoned (see [`Self::set_parked`]).
    fn unset_parked(&self, cancel: &TaskCancel, key: &[u8]) -> Result<(), Abandoned> {
        let mut parked = self
            .parked
            .lock()
            .expect("parked-keys lock is never poisoned (no panics while held)");
        cancel.check()?;
        parked.remove(key);
        metrics::gauge!(self.metrics.parked_keys.clone()).set(parked.len() as f64);
        Ok(())
    }

    /// Make the in-memory view of `key` match the store (after the store refused a release or
    /// a transfer: the view was stale); returns the owner the store has.
    async fn resync_parked(
        &self,
        parking: &dyn KeyParking,
        key: &[u8],
        cancel: &TaskCancel,
    ) -> Result<Option<RecordPosition>, Abandoned> {
        let now = self
            .retry_in_place(cancel, "read key owner", || {
                parking.parked_key(&self.group, key)
            })
            .await?;
        match now {
            Some(p) => {
                let owner = p.owner.clone();
                self.set_parked(cancel, key, p.partition, p.owner)?;
                Ok(Some(owner))
            }
            None => {
                self.unset_parked(cancel, key)?;
                Ok(None)
            }
        }
    }

    /// Process one dispatched record; true if its offset is finished.
    ///
    /// Runs in a `record` span (topic, partition, offset and the `traceparent` header's
    /// `trace_id`), so every line the handler and the runtime log for it carries the trace id.
    pub(crate) async fn process(&self, record: &ConsumedRecord, cancel: &TaskCancel) -> bool {
        let span = record_span(record);
        let result = async {
            let result = self.process_record(record, cancel).await;
            if let Ok(outcome) = &result {
                tracing::debug!(outcome = outcome.label(), "record finished");
            }
            result
        }
        .instrument(span)
        .await;
        match result {
            Ok(outcome) => {
                metrics::counter!(self.metrics.records.clone(), "outcome" => outcome.label())
                    .increment(1);
                true
            }
            Err(Abandoned) => {
                tracing::warn!(topic = %record.topic, partition = record.partition, offset = record.offset,
                    "record abandoned unfinished (partition revoked or shutting down); it will be redelivered");
                false
            }
        }
    }

    async fn process_record(
        &self,
        record: &ConsumedRecord,
        cancel: &TaskCancel,
    ) -> Result<Outcome, Abandoned> {
        let from_retry = self.policy.is_retry_topic(&record.topic);
        let delivery = delivery_of(record, from_retry);
        if !from_retry
            && let (Some(parking), Some(key)) = (&self.parking, record.key.as_deref())
            && let Some(owner) = self.parked_owner(key)
            && owner != delivery.original
        {
            let stored = self
                .retry_in_place(cancel, "park record", || {
                    parking.park_record(&self.group, record)
                })
                .await?;
            if stored {
                tracing::debug!(topic = %record.topic, partition = record.partition, offset = record.offset,
                    owner_topic = %owner.topic, owner_offset = owner.offset, "record parked behind its key's record in retry");
                return Ok(Outcome::Parked);
            }
            // The key row is gone (released by a drain this view did not see, e.g. one
            // abandoned at a revocation): the entry is stale. Storing the record would leave it
            // behind no key, never drained; the key is free, so handle the record now.
            tracing::warn!(topic = %record.topic, partition = record.partition, offset = record.offset,
                owner_topic = %owner.topic, owner_offset = owner.offset, "key no longer parked in the store; stale entry dropped, record handled");
            self.unset_parked(cancel, key)?;
        }
        let mut result = self.call_handler(record, &delivery).await;
        let mut delays = in_place_backoff();
        loop {
            let error = match result {
                Ok(()) => {
                    self.release_if_owner(record, &delivery, cancel).await?;
                    return Ok(Outcome::Processed);
                }
                Err(error) => error,
            };
            match self
                .policy
                .decide(error.kind, error.reason, delivery.attempt)
            {
                RetryDecision::RetryInPlace => {
                    tracing::warn!(topic = %record.topic, offset = record.offset, code = error.code, error = %error.message,
                        "transient failure; retrying in place");
                    pause(&mut delays, cancel).await?;
                    result = self.call_handler(record, &delivery).await;
                }
                RetryDecision::Retry { tier, attempt } => {
                    if let (Some(parking), Some(key)) = (&self.parking, record.key.as_deref()) {
                        // Park BEFORE publishing: see parking.rs, "Why this is safe".
                        let partition = delivery.original.partition;
                        let owner = self
                            .retry_in_place(cancel, "park key", || {
                                parking.park_key(&self.group, key, partition, &delivery.original)
                            })
                            .await?;
                        self.set_parked(cancel, key, partition, owner)?;
                    }
                    self.publish_retry(record, &delivery, tier, attempt, &error, cancel)
                        .await?;
                    return Ok(Outcome::Retried);
                }
                RetryDecision::DeadLetter { reason } => {
                    self.dead_letter(record, &delivery, &error, reason, cancel)
                        .await?;
                    self.release_if_owner(record, &delivery, cancel).await?;
                    return Ok(Outcome::DeadLettered);
                }
            }
        }
    }

    /// Run the handler; a panic is a permanent failure (`handler_panicked`), not a stuck key.
    async fn call_handler(
        &self,
        record: &ConsumedRecord,
        delivery: &Delivery,
    ) -> Result<(), HandlerError> {
        match AssertUnwindSafe(self.handler.handle(record, delivery))
            .catch_unwind()
            .await
        {
            Ok(result) => result,
            Err(_) => Err(HandlerError::permanent(
                "handler_panicked",
                "the handler panicked",
            )),
        }
    }

    /// Retry `op` with backoff until it succeeds; give up when the revocation starts (while
    /// waiting) or the task is abandoned (before every attempt: every hand-off and parking
    /// operation goes through here, so an abandoned task writes nothing more).
    async fn retry_in_place<T, E: std::fmt::Display, F, Fut>(
        &self,
        cancel: &TaskCancel,
        what: &str,
        mut op: F,
    ) -> Result<T, Abandoned>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let mut delays = in_place_backoff();
        loop {
            cancel.check()?;
            match op().await {
                Ok(value) => return Ok(value),
                Err(e) => {
                    tracing::warn!(operation = what, error = %e, "failed; retrying in place");
                    pause(&mut delays, cancel).await?;
                }
            }
        }
    }

    /// Publish and wait for the broker's acknowledgement (idempotent producer, acks=all),
    /// retrying in place until acknowledged.
    async fn publish(
        &self,
        topic: &str,
        partition: Option<i32>,
        record: &ConsumedRecord,
        headers: &[(String, Vec<u8>)],
        cancel: &TaskCancel,
    ) -> Result<(), Abandoned> {
        self.retry_in_place(cancel, "hand-off publish", || async {
            let mut owned = OwnedHeaders::new_with_capacity(headers.len());
            for (key, value) in headers {
                owned = owned.insert(Header {
                    key,
                    value: Some(value),
                });
            }
            let mut out = FutureRecord::<[u8], [u8]>::to(topic).headers(owned);
            if let Some(partition) = partition {
                out = out.partition(partition);
            }
            if let Some(key) = record.key.as_deref() {
                out = out.key(key);
            }
            if let Some(payload) = record.payload.as_deref() {
                out = out.payload(payload);
            }
            self.producer
                .send(out, Duration::from_secs(30))
                .await
                .map(|_| ())
                .map_err(|(e, _)| format!("{topic}: {e}"))
        })
        .await
    }

    async fn publish_retry(
        &self,
        record: &ConsumedRecord,
        delivery: &Delivery,
        tier: usize,
        attempt: u32,
        error: &HandlerError,
        cancel: &TaskCancel,
    ) -> Result<(), Abandoned> {
        let topic = &self.policy.tiers[tier].topic;
        let delay = self.policy.delay(tier, rand::random::<f64>());
        let due = now_ms().saturating_add(i64::try_from(delay.as_millis()).unwrap_or(i64::MAX));
        let headers = retry_headers(record, delivery, attempt, due, error.kind, error.code);
        // The source partition number: range assignment then keeps the retry record on the
        // instance that owns the key (retry topics have the source's partition count).
        self.publish(
            topic,
            Some(delivery.original.partition),
            record,
            &headers,
            cancel,
        )
        .await?;
        metrics::counter!(self.metrics.retries.clone(), "tier" => topic.clone()).increment(1);
        tracing::info!(topic = %record.topic, offset = record.offset, retry_topic = %topic, attempt, ?delay,
            code = error.code, error = %error.message, "transient failure; handed to a retry tier");
        Ok(())
    }

    async fn dead_letter(
        &self,
        record: &ConsumedRecord,
        delivery: &Delivery,
        error: &HandlerError,
        reason: DeadLetterReason,
        cancel: &TaskCancel,
    ) -> Result<(), Abandoned> {
        let cause = DeadLetterCause {
            kind: error.kind,
            code: error.code,
            message: &error.message,
            reason,
        };
        let headers = dead_letter_headers(record, delivery, &self.group, &cause);
        let partitions = self.dead_letter_partitions.load(Ordering::Relaxed);
        let partition =
            (delivery.original.partition < partitions).then_some(delivery.original.partition);
        self.publish(&self.dead_letter_topic, partition, record, &headers, cancel)
            .await?;
        metrics::counter!(self.metrics.dead_letters.clone(), "reason" => reason.as_str())
            .increment(1);
        tracing::warn!(topic = %record.topic, partition = record.partition, offset = record.offset,
            reason = reason.as_str(), code = error.code, error = %error.message, dlq = %self.dead_letter_topic,
            "record dead-lettered");
        Ok(())
    }

    /// If `delivery`'s record owns its key's parking, drain the key (see parking.rs).
    async fn release_if_owner(
        &self,
        record: &ConsumedRecord,
        delivery: &Delivery,
        cancel: &TaskCancel,
    ) -> Result<(), Abandoned> {
        let (Some(parking), Some(key)) = (&self.parking, record.key.as_deref()) else {
            return Ok(());
        };
        if self.parked_owner(key).as_ref() != Some(&delivery.original) {
            return Ok(());
        }
        self.drain(parking.as_ref(), key, delivery.original.clone(), cancel)
            .await
    }

    /// Handle the parked records of `key` in order, within the key slot the owner holds.
    async fn drain(
        &self,
        parking: &dyn KeyParking,
        key: &[u8],
        owner: RecordPosition,
        cancel: &TaskCancel,
    ) -> Result<(), Abandoned> {
        loop {
            // An abandoned drain stops here, before it handles another row; every write below
            // goes through `retry_in_place`, which checks again.
            cancel.check()?;
            let next = self
                .retry_in_place(cancel, "load parked record", || {
                    parking.next_parked(&self.group, key)
                })
                .await?;
            let Some(parked) = next else {
                let released = self
                    .retry_in_place(cancel, "release key", || {
                        parking.release_key(&self.group, key, &owner)
                    })
                    .await?;
                if released {
                    self.unset_parked(cancel, key)?;
                    return Ok(());
                }
                // Refused: the view was stale. Still ours means a record was parked since
                // `next_parked` (drain it, or it waits behind a key nobody releases); someone
                // else's, or none, is what the in-memory view must now say.
                let now = self.resync_parked(parking, key, cancel).await?;
                if now.as_ref() == Some(&owner) {
                    continue;
                }
                tracing::warn!(owner_topic = %owner.topic, owner_offset = owner.offset, now = ?now,
                    "key's parking changed under its drain; in-memory view resynchronized");
                return Ok(());
            };
            let delivery = Delivery {
                attempt: 0,
                replay: true,
                original: RecordPosition::of(&parked),
                original_timestamp_ms: parked.timestamp_ms,
            };
            if delivery.original == owner {
                // The owner's own row (left by an interrupted transfer): nothing to replay.
                self.retry_in_place(cancel, "unpark record", || {
                    parking.unpark_record(&self.group, &delivery.original)
                })
                .await?;
                continue;
            }
            // Its own span: the parked record's trace id, not the owner's.
            let mut result = self
                .call_handler(&parked, &delivery)
                .instrument(record_span(&parked))
                .await;
            let mut delays = in_place_backoff();
            let outcome = loop {
                let error = match result {
                    Ok(()) => break Outcome::Processed,
                    Err(error) => error,
                };
                match self
                    .policy
                    .decide(error.kind, error.reason, delivery.attempt)
                {
                    RetryDecision::RetryInPlace => {
                        pause(&mut delays, cancel).await?;
                        result = self
                            .call_handler(&parked, &delivery)
                            .instrument(record_span(&parked))
                            .await;
                    }
                    RetryDecision::DeadLetter { reason } => {
                        self.dead_letter(&parked, &delivery, &error, reason, cancel)
                            .await?;
                        break Outcome::DeadLettered;
                    }
                    RetryDecision::Retry { tier, attempt } => {
                        // Publish BEFORE moving ownership: see parking.rs, "Why this is safe".
                        self.publish_retry(&parked, &delivery, tier, attempt, &error, cancel)
                            .await?;
                        let moved = self
                            .retry_in_place(cancel, "transfer key", || {
                                parking.transfer_key(&self.group, key, &owner, &delivery.original)
                            })
                            .await?;
                        if !moved {
                            // `owner` no longer owns the key: another drain moved or released
                            // it. Stop, offset unfinished: the redelivered owner finds the
                            // key as the store has it. (The retry record just published is
                            // handled as an idempotent duplicate.)
                            tracing::warn!(owner_topic = %owner.topic, owner_offset = owner.offset,
                                "key's ownership moved under its drain; drain stopped");
                            self.resync_parked(parking, key, cancel).await?;
                            return Err(Abandoned);
                        }
                        self.set_parked(
                            cancel,
                            key,
                            delivery.original.partition,
                            delivery.original.clone(),
                        )?;
                        metrics::counter!(self.metrics.records.clone(), "outcome" => Outcome::Retried.label()).increment(1);
                        return Ok(());
                    }
                }
            };
            self.retry_in_place(cancel, "unpark record", || {
                parking.unpark_record(&self.group, &delivery.original)
            })
            .await?;
            metrics::counter!(self.metrics.records.clone(), "outcome" => outcome.label())
                .increment(1);
        }
    }
}

#[cfg(test)]
mod tests {
    //! The processor's parking paths against the REAL parking store (`PgKeyParking` on the
    //! local stack's payments database, `make up`). Each test owns a fresh consumer group, so
    //! its parked keys and records are its own; tests run in parallel and repeatedly.
    use super::*;
    use crate::kafka::keyed::parking::ParkingError;
    use crate::kafka::keyed::parking_postgres::{PARKED_KEYS_TABLES_DDL, PgKeyParking};
    use crate::kafka::keyed::retry_policy::RetryTier;
    use async_trait::async_trait;
    use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
    use std::str::FromStr;

    /// Records the payloads it handled; fails transiently at offset 9, else succeeds.
    #[derive(Debug, Default)]
    struct Handled(Mutex<Vec<String>>);

    #[async_trait]
    impl KeyedHandler for Handled {
        async fn handle(&self, record: &ConsumedRecord, _: &Delivery) -> Result<(), HandlerError> {
            let payload = record.payload.clone().unwrap_or_default();
            self.0
                .lock()
                .unwrap()
                .push(String::from_utf8(payload).unwrap());
            if record.offset == 9 {
                return Err(HandlerError::transient("down", "test: dependency down"));
            }
            Ok(())
        }
    }

    async fn store() -> PgKeyParking {
        let url = std::env::var("PAYMENTS_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://pipeline:pipeline@127.0.0.1:54329/payments".into());
        let config = tokio_postgres::Config::from_str(&url).expect("valid URL");
        let manager = Manager::from_config(
            config,
            tokio_postgres::NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager).max_size(2).build().unwrap();
        let mut client = pool.get().await.unwrap_or_else(|e| {
            panic!("Postgres unreachable ({e}): start the local stack with `make up`")
        });
        // The shipped DDL, serialized across parallel tests (CREATE IF NOT EXISTS can race).
        let tx = client.transaction().await.unwrap();
        tx.batch_execute(&format!(
            "SELECT pg_advisory_xact_lock(7041920); {PARKED_KEYS_TABLES_DDL}"
        ))
        .await
        .unwrap();
        tx.commit().await.unwrap();
        PgKeyParking::new(pool)
    }

    fn group() -> String {
        format!("processor-test-{}", uuid::Uuid::new_v4().simple())
    }

    fn record(offset: i64) -> ConsumedRecord {
        ConsumedRecord {
            topic: "src".into(),
            partition: 0,
            offset,
            key: Some(b"K".to_vec()),
            payload: Some(format!("K-{offset}").into_bytes()),
            headers: Vec::new(),
            timestamp_ms: None,
        }
    }

    fn at(offset: i64) -> RecordPosition {
        RecordPosition::of(&record(offset))
    }

    fn parked_by(offset: i64) -> ParkedKey {
        ParkedKey {
            key: b"K".to_vec(),
            partition: 0,
            owner: at(offset),
        }
    }

    /// A processor of `group` over `parking` whose in-memory view says K is parked by `view`
    /// (if any). Its producer points at a closed port: these paths must not publish.
    fn processor(
        group: &str,
        parking: Arc<dyn KeyParking>,
        view: Option<i64>,
    ) -> Processor<Handled> {
        let producer: FutureProducer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", "127.0.0.1:9")
            .create()
            .unwrap();
        let parked = view
            .map(|offset| (b"K".to_vec(), parked_by(offset)))
            .into_iter()
            .collect();
        Processor {
            handler: Arc::new(Handled::default()),
            producer,
            policy: RetryPolicy {
                tiers: vec![RetryTier {
                    topic: "r1".into(),
                    delay: Duration::from_secs(1),
                }],
                max_attempts: 3,
                jitter: 0.0,
            },
            dead_letter_topic: "dlq".into(),
            dead_letter_partitions: AtomicI32::new(0),
            group: group.into(),
            parking: Some(parking),
            parked: Mutex::new(parked),
            metrics: Metrics::new("test"),
        }
    }

    fn view(p: &Processor<Handled>) -> Option<RecordPosition> {
        p.parked_owner(b"K")
    }

    fn handled(p: &Processor<Handled>) -> Vec<String> {
        p.handler.0.lock().unwrap().clone()
    }

    /// K parked by offset `owner` in the store, with `records` parked behind it.
    async fn parked(parking: &PgKeyParking, group: &str, owner: i64, records: &[i64]) {
        let got = parking.park_key(group, b"K", 0, &at(owner)).await.unwrap();
        assert_eq!(got, at(owner));
        for offset in records {
            assert!(parking.park_record(group, &record(*offset)).await.unwrap());
        }
    }

    #[tokio::test]
    async fn an_abandoned_drain_handles_and_writes_nothing() {
        let (parking, g) = (Arc::new(store().await), group());
        parked(&parking, &g, 1, &[2]).await;
        let p = processor(&g, parking.clone(), Some(1));
        let cancel = TaskCancel::new();
        cancel.abandoned.cancel();
        assert!(p.drain(&*parking, b"K", at(1), &cancel).await.is_err());
        assert!(handled(&p).is_empty());
        assert_eq!(
            parking.parked_key(&g, b"K").await.unwrap(),
            Some(parked_by(1)),
            "the key stays parked by its owner"
        );
        assert_eq!(
            parking.next_parked(&g, b"K").await.unwrap(),
            Some(record(2)),
            "the row stays for the next owner"
        );
        assert_eq!(view(&p), Some(at(1)), "the in-memory view is not touched");
    }

    #[tokio::test]
    async fn an_abandoned_task_stores_no_record_behind_a_key() {
        let (parking, g) = (Arc::new(store().await), group());
        parked(&parking, &g, 1, &[]).await;
        let p = processor(&g, parking.clone(), Some(1));
        let cancel = TaskCancel::new();
        cancel.abandoned.cancel();
        assert!(p.process_record(&record(2), &cancel).await.is_err());
        assert_eq!(parking.next_parked(&g, b"K").await.unwrap(), None);
        assert_eq!(
            parking.parked_key(&g, b"K").await.unwrap(),
            Some(parked_by(1))
        );
    }

    #[tokio::test]
    async fn an_abandoned_task_neither_parks_nor_publishes_after_its_handler_failed() {
        let (parking, g) = (Arc::new(store().await), group());
        let p = processor(&g, parking.clone(), None);
        let cancel = TaskCancel::new();
        cancel.abandoned.cancel();
        // Offset 9 fails transiently: without the abandonment it would park K, then publish.
        assert!(p.process_record(&record(9), &cancel).await.is_err());
        assert_eq!(handled(&p), vec!["K-9"]);
        assert_eq!(parking.parked_key(&g, b"K").await.unwrap(), None);
        assert_eq!(view(&p), None);
    }

    #[tokio::test]
    async fn a_stale_parked_entry_is_dropped_and_the_record_handled() {
        // The view says K is parked by offset 1; the store has released it (nothing parked).
        let (parking, g) = (Arc::new(store().await), group());
        let p = processor(&g, parking.clone(), Some(1));
        let outcome = p.process_record(&record(2), &TaskCancel::new()).await;
        assert_eq!(outcome.ok(), Some(Outcome::Processed));
        assert_eq!(handled(&p), vec!["K-2"]);
        assert_eq!(
            parking.next_parked(&g, b"K").await.unwrap(),
            None,
            "no row behind a missing key"
        );
        assert_eq!(view(&p), None, "stale entry dropped");
    }

    /// The real store, with another member parking a record behind K (a real write) just
    /// before this member's next release of K — the race the release must survive.
    #[derive(Debug)]
    struct ParkedDuringRelease {
        store: Arc<PgKeyParking>,
        record: Mutex<Option<ConsumedRecord>>,
    }

    #[async_trait]
    impl KeyParking for ParkedDuringRelease {
        async fn parked_keys(
            &self,
            group: &str,
            partitions: &[i32],
        ) -> Result<Vec<ParkedKey>, ParkingError> {
            self.store.parked_keys(group, partitions).await
        }
        async fn park_key(
            &self,
            group: &str,
            key: &[u8],
            partition: i32,
            owner: &RecordPosition,
        ) -> Result<RecordPosition, ParkingError> {
            self.store.park_key(group, key, partition, owner).await
        }
        async fn park_record(
            &self,
            group: &str,
            record: &ConsumedRecord,
        ) -> Result<bool, ParkingError> {
            self.store.park_record(group, record).await
        }
        async fn parked_key(
            &self,
            group: &str,
            key: &[u8],
        ) -> Result<Option<ParkedKey>, ParkingError> {
            self.store.parked_key(group, key).await
        }
        async fn next_parked(
            &self,
            group: &str,
            key: &[u8],
        ) -> Result<Option<ConsumedRecord>, ParkingError> {
            self.store.next_parked(group, key).await
        }
        async fn unpark_record(
            &self,
            group: &str,
            at: &RecordPosition,
        ) -> Result<(), ParkingError> {
            self.store.unpark_record(group, at).await
        }
        async fn transfer_key(
            &self,
            group: &str,
            key: &[u8],
            owner: &RecordPosition,
            new_owner: &RecordPosition,
        ) -> Result<bool, ParkingError> {
            self.store.transfer_key(group, key, owner, new_owner).await
        }
        async fn release_key(
            &self,
            group: &str,
            key: &[u8],
            owner: &RecordPosition,
        ) -> Result<bool, ParkingError> {
            let racing = self.record.lock().unwrap().take();
            if let Some(record) = racing {
                assert!(self.store.park_record(group, &record).await?);
            }
            self.store.release_key(group, key, owner).await
        }
    }

    #[tokio::test]
    async fn a_record_parked_during_the_release_is_drained_before_the_key_goes() {
        let (store, g) = (Arc::new(store().await), group());
        parked(&store, &g, 1, &[]).await;
        let parking = Arc::new(ParkedDuringRelease {
            store: store.clone(),
            record: Mutex::new(Some(record(3))),
        });
        let p = processor(&g, parking.clone(), Some(1));
        p.drain(&*parking, b"K", at(1), &TaskCancel::new())
            .await
            .unwrap();
        assert_eq!(handled(&p), vec!["K-3"], "the racing record was handled");
        assert_eq!(
            store.parked_key(&g, b"K").await.unwrap(),
            None,
            "K released"
        );
        assert_eq!(store.next_parked(&g, b"K").await.unwrap(), None);
        assert_eq!(view(&p), None);
    }

    #[tokio::test]
    async fn a_refused_release_adopts_the_owner_the_store_has() {
        // Another drain moved K to offset 5; this view still says offset 1.
        let (parking, g) = (Arc::new(store().await), group());
        parked(&parking, &g, 5, &[]).await;
        let p = processor(&g, parking.clone(), Some(1));
        p.drain(&*parking, b"K", at(1), &TaskCancel::new())
            .await
            .unwrap();
        assert_eq!(view(&p), Some(at(5)));
        assert_eq!(
            parking.parked_key(&g, b"K").await.unwrap(),
            Some(parked_by(5)),
            "store unchanged"
        );
    }
}
