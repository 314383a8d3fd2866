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

/// The record's partition was revoked (or the runtime stopped) while a retry was pending.
#[derive(Debug)]
pub(crate) struct Abandoned;

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
    cancel: &CancellationToken,
) -> Result<(), Abandoned> {
    let delay = delays.next().unwrap_or(Duration::from_secs(10));
    tokio::select! {
        _ = cancel.cancelled() => Err(Abandoned),
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

    fn set_parked(&self, key: &[u8], partition: i32, owner: RecordPosition) {
        let mut parked = self
            .parked
            .lock()
            .expect("parked-keys lock is never poisoned (no panics while held)");
        parked.insert(
            key.to_vec(),
            ParkedKey {
                key: key.to_vec(),
                partition,
                owner,
            },
        );
        metrics::gauge!(self.metrics.parked_keys.clone()).set(parked.len() as f64);
    }

    fn unset_parked(&self, key: &[u8]) {
        let mut parked = self
            .parked
            .lock()
            .expect("parked-keys lock is never poisoned (no panics while held)");
        parked.remove(key);
        metrics::gauge!(self.metrics.parked_keys.clone()).set(parked.len() as f64);
    }

    /// Process one dispatched record; true if its offset is finished.
    pub(crate) async fn process(
        &self,
        record: &ConsumedRecord,
        cancel: &CancellationToken,
    ) -> bool {
        match self.process_record(record, cancel).await {
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
        cancel: &CancellationToken,
    ) -> Result<Outcome, Abandoned> {
        let from_retry = self.policy.is_retry_topic(&record.topic);
        let delivery = delivery_of(record, from_retry);
        if !from_retry
            && let (Some(parking), Some(key)) = (&self.parking, record.key.as_deref())
            && let Some(owner) = self.parked_owner(key)
            && owner != delivery.original
        {
            self.retry_in_place(cancel, "park record", || {
                parking.park_record(&self.group, record)
            })
            .await?;
            tracing::debug!(topic = %record.topic, partition = record.partition, offset = record.offset,
                owner_topic = %owner.topic, owner_offset = owner.offset, "record parked behind its key's record in retry");
            return Ok(Outcome::Parked);
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
                        self.set_parked(key, partition, owner);
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

    /// Retry `op` with backoff until it succeeds; give up only when `cancel` fires.
    async fn retry_in_place<T, E: std::fmt::Display, F, Fut>(
        &self,
        cancel: &CancellationToken,
        what: &str,
        mut op: F,
    ) -> Result<T, Abandoned>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let mut delays = in_place_backoff();
        loop {
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
        cancel: &CancellationToken,
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
        cancel: &CancellationToken,
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
        cancel: &CancellationToken,
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
        cancel: &CancellationToken,
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
        cancel: &CancellationToken,
    ) -> Result<(), Abandoned> {
        loop {
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
                    self.unset_parked(key);
                }
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
            let mut result = self.call_handler(&parked, &delivery).await;
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
                        result = self.call_handler(&parked, &delivery).await;
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
                        self.retry_in_place(cancel, "transfer key", || {
                            parking.transfer_key(&self.group, key, &delivery.original)
                        })
                        .await?;
                        self.set_parked(
                            key,
                            delivery.original.partition,
                            delivery.original.clone(),
                        );
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
