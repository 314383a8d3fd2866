//! The consumer runtime: at-least-once processing with offsets stored only after success.
//!
//! For each record, in partition order: the handler runs; on success the offset is *stored*
//! (`enable.auto.offset.store=false`) and librdkafka commits stored offsets in the background
//! (and synchronously on shutdown). On a transient error the same record is retried with
//! exponential backoff — the partition waits, so order is kept. On a permanent error the record
//! is copied to the dead-letter topic with `dlq.*` headers and only then its offset is stored.
//!
//! Crash at any point: the record whose offset was not stored is delivered again after restart,
//! so handlers must be idempotent (a processed-events row in the handler's own transaction).

use super::keyed::DeadLetterReason;
use super::{DeadLetter, KafkaArgs};
use crate::error::{CodecError, ErrorKind};
use async_trait::async_trait;
use rdkafka::Message;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Headers};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// A record as the handler sees it (owned, so handlers can hold it across awaits).
#[derive(Debug, Clone, PartialEq)]
pub struct ConsumedRecord {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub payload: Option<Vec<u8>>,
    pub headers: Vec<(String, Vec<u8>)>,
    pub timestamp_ms: Option<i64>,
}

impl ConsumedRecord {
    pub(crate) fn from_message(message: &BorrowedMessage<'_>) -> Self {
        let headers = message
            .headers()
            .map(|hs| {
                hs.iter()
                    .map(|h| (h.key.to_string(), h.value.unwrap_or_default().to_vec()))
                    .collect()
            })
            .unwrap_or_default();
        Self {
            topic: message.topic().to_string(),
            partition: message.partition(),
            offset: message.offset(),
            key: message.key().map(<[u8]>::to_vec),
            payload: message.payload().map(<[u8]>::to_vec),
            headers,
            timestamp_ms: message.timestamp().to_millis(),
        }
    }

    /// The value of the first header named `key`.
    pub fn header(&self, key: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_slice())
    }
}

/// Why a handler could not process a record, and whether a retry can help.
#[derive(Debug, thiserror::Error)]
#[error("{code}: {message}")]
pub struct HandlerError {
    pub kind: ErrorKind,
    pub code: &'static str,
    pub message: String,
    /// Typed dead-letter reason of a permanent failure (`None`: `invalid_event`). Never derived
    /// from the message text.
    pub reason: Option<DeadLetterReason>,
}

impl HandlerError {
    /// A later attempt can succeed (retry tier, or retry in place).
    pub fn transient(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::Transient,
            code,
            message: message.into(),
            reason: None,
        }
    }
    /// The record can never be processed: dead-letter it now, reason `invalid_event`.
    pub fn permanent(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::Permanent,
            code,
            message: message.into(),
            reason: None,
        }
    }
    /// The record is too old to act on: dead-letter it now, reason `expired`.
    pub fn expired(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            reason: Some(DeadLetterReason::Expired),
            ..Self::permanent(code, message)
        }
    }
    /// The dead-letter reason of this failure if it is permanent.
    pub fn dead_letter_reason(&self) -> DeadLetterReason {
        self.reason.unwrap_or(DeadLetterReason::InvalidEvent)
    }
}

impl From<CodecError> for HandlerError {
    fn from(e: CodecError) -> Self {
        Self {
            kind: e.kind(),
            code: e.code(),
            message: e.to_string(),
            reason: None,
        }
    }
}

/// Business logic for one record. Must be idempotent (records can arrive twice).
#[async_trait]
pub trait RecordHandler: Send + Sync {
    async fn handle(&self, record: &ConsumedRecord) -> Result<(), HandlerError>;
}

/// Exponential backoff between retries of a transient failure. Pure.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryBackoff {
    pub initial: Duration,
    pub max: Duration,
}

impl Default for RetryBackoff {
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(10),
        }
    }
}

impl RetryBackoff {
    /// Delay before retry number `attempt` (1-based): initial * 2^(attempt-1), capped at max.
    pub fn delay(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(20));
        self.initial.saturating_mul(factor).min(self.max)
    }
}

/// A consumer group member running one handler.
pub struct ConsumerRuntime {
    consumer: StreamConsumer,
    dead_letter: DeadLetter,
    backoff: RetryBackoff,
    metric_records: String,
}

impl std::fmt::Debug for ConsumerRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsumerRuntime")
            .field("dead_letter", &self.dead_letter)
            .finish_non_exhaustive()
    }
}

impl ConsumerRuntime {
    /// Join `group_id` and subscribe to `topics`. Metrics are named `<metrics_prefix>_consumed_records_total`.
    pub fn new(
        kafka: &KafkaArgs,
        group_id: &str,
        topics: &[&str],
        dead_letter: DeadLetter,
        metrics_prefix: &str,
    ) -> Result<Self, KafkaError> {
        let consumer: StreamConsumer = kafka
            .client_config(&[
                ("group.id", group_id),
                ("enable.auto.commit", "true"),
                ("auto.commit.interval.ms", "1000"),
                ("enable.auto.offset.store", "false"),
                ("auto.offset.reset", "earliest"),
                ("enable.partition.eof", "false"),
                ("session.timeout.ms", "10000"),
                ("isolation.level", "read_committed"),
            ])
            .create()?;
        consumer.subscribe(topics)?;
        Ok(Self {
            consumer,
            dead_letter,
            backoff: RetryBackoff::default(),
            metric_records: format!("{metrics_prefix}_consumed_records_total"),
        })
    }

    /// Replace the default retry backoff.
    pub fn with_backoff(mut self, backoff: RetryBackoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Consume until `cancel` fires; then commit what was stored and leave the group.
    pub async fn run<H: RecordHandler>(
        self,
        handler: &H,
        cancel: CancellationToken,
    ) -> Result<(), KafkaError> {
        loop {
            let message = tokio::select! {
                _ = cancel.cancelled() => break,
                received = self.consumer.recv() => received,
            };
            let message = match message {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!(error = %e, "kafka consume error; retrying");
                    continue;
                }
            };
            let record = ConsumedRecord::from_message(&message);
            if !self.process(handler, &record, &cancel).await {
                break; // cancelled while retrying: the offset stays unstored, the record comes back
            }
            self.consumer.store_offset_from_message(&message)?;
        }
        match self.consumer.commit_consumer_state(CommitMode::Sync) {
            Ok(())
            | Err(KafkaError::ConsumerCommit(rdkafka::error::RDKafkaErrorCode::NoOffset)) => {}
            Err(e) => {
                tracing::warn!(error = %e, "final offset commit failed; records may be redelivered")
            }
        }
        self.consumer.unsubscribe();
        Ok(())
    }

    /// Run the handler until it succeeds or the record is dead-lettered; false if cancelled.
    async fn process<H: RecordHandler>(
        &self,
        handler: &H,
        record: &ConsumedRecord,
        cancel: &CancellationToken,
    ) -> bool {
        let mut attempt = 0u32;
        loop {
            let outcome = match handler.handle(record).await {
                Ok(()) => {
                    metrics::counter!(self.metric_records.clone(), "outcome" => "processed")
                        .increment(1);
                    return true;
                }
                Err(e) if e.kind == ErrorKind::Permanent => {
                    match self.dead_letter.publish(record, e.code, &e.message).await {
                        Ok(()) => {
                            tracing::warn!(topic = %record.topic, partition = record.partition, offset = record.offset,
                            code = e.code, error = %e.message, dlq = self.dead_letter.topic(), "record dead-lettered");
                            metrics::counter!(self.metric_records.clone(), "outcome" => "dead_lettered").increment(1);
                            return true;
                        }
                        Err(dlq_error) => format!("dead-letter publish failed: {dlq_error}"),
                    }
                }
                Err(e) => e.to_string(),
            };
            attempt += 1;
            let delay = self.backoff.delay(attempt);
            metrics::counter!(self.metric_records.clone(), "outcome" => "retried").increment(1);
            tracing::warn!(topic = %record.topic, offset = record.offset, attempt, ?delay, error = %outcome, "transient failure; retrying");
            tokio::select! {
                _ = cancel.cancelled() => return false,
                _ = tokio::time::sleep(delay) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let b = RetryBackoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(1),
        };
        assert_eq!(b.delay(1), Duration::from_millis(100));
        assert_eq!(b.delay(2), Duration::from_millis(200));
        assert_eq!(b.delay(4), Duration::from_millis(800));
        assert_eq!(b.delay(5), Duration::from_secs(1));
        assert_eq!(b.delay(u32::MAX), Duration::from_secs(1));
    }

    #[test]
    fn codec_errors_keep_their_classification() {
        let permanent: HandlerError = CodecError::EmptyPayload.into();
        assert_eq!(permanent.kind, ErrorKind::Permanent);
        let transient: HandlerError = CodecError::RegistryUnavailable("down".into()).into();
        assert_eq!(transient.kind, ErrorKind::Transient);
    }
}
