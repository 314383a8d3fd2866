//! [`EventSink`] over an rdkafka `ThreadedProducer` — the only place that touches the producer.
//!
//! Dataflow: [`KafkaSink::enqueue`] hands a record to librdkafka (which copies key, payload and
//! headers) with its [`DeliveryTag`] (a record number) as the message's opaque pointer value: no
//! allocation per record. librdkafka's broker threads
//! batch and send; the producer's polling thread runs [`ReportingContext::delivery`] once per
//! record, which turns the outcome into one [`DeliveryReport`] on the relay's report channel (a
//! failed record is copied back out of librdkafka so the relay can re-send it). No task, future
//! or channel per record: the relay applies reports in batches.
//!
//! Defaults: enable.idempotence=true, acks=all, linger.ms=2 and compression.type=lz4 (batches of
//! a few milliseconds' worth of records instead of one request per record under load; the Java
//! producer's own default linger is 5 ms. Measured in the relay benchmark, same runs: linger 0
//! costs 40-70 % more CPU per event on a backlog and takes ~2 ms off the median commit -> ack at
//! steady rates; linger 1 takes ~1 ms off and costs ~18 % more CPU), batch.size=256 KiB, and
//! message.timeout.ms=0 —
//! librdkafka retries, in order, for as long as the brokers are away, so a broker outage never
//! reorders a key; the relay's own re-send path is left for per-record failures. Memory:
//! queue.buffering.max.kbytes=16384 bounds what librdkafka holds (16 MiB; the relay's
//! `--max-in-flight` bounds it first in records). `--kafka-option` overrides any of them.

use std::time::Duration;

use eventing::kafka::KafkaArgs;
use rdkafka::ClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use std::sync::Arc;

use crate::application::ports::{
    DeliveryFailure, DeliveryReport, DeliveryReports, DeliveryTag, EventSink, SinkError,
};
use crate::domain::ack_tracker::RecordSeq;
use crate::domain::outbox_routing::OutboxRecord;
use crate::error::RelayError;

/// Pause before re-trying an enqueue while librdkafka's local queue is full.
const QUEUE_FULL_PAUSE: Duration = Duration::from_millis(5);

/// The Kafka producer adapter. Cheap to clone (shared producer).
#[derive(Clone)]
pub struct KafkaSink {
    producer: Arc<ThreadedProducer<ReportingContext>>,
}

impl std::fmt::Debug for KafkaSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaSink").finish_non_exhaustive()
    }
}

/// See the module doc. Public for the benchmark's producer-only baseline, which must send with
/// exactly the relay's settings.
pub const PRODUCER_DEFAULTS: [(&str, &str); 8] = [
    ("enable.idempotence", "true"),
    ("acks", "all"),
    ("linger.ms", "2"),
    ("compression.type", "lz4"),
    ("batch.size", "262144"),
    ("message.timeout.ms", "0"),
    ("queue.buffering.max.kbytes", "16384"),
    // The Java client's (Kafka Connect's, Debezium's) key hashing, not librdkafka's CRC32.
    (
        eventing::kafka::JAVA_COMPATIBLE_PARTITIONER.0,
        eventing::kafka::JAVA_COMPATIBLE_PARTITIONER.1,
    ),
];

/// Turns librdkafka's delivery callbacks into [`DeliveryReport`]s.
struct ReportingContext {
    reports: DeliveryReports,
}

impl ClientContext for ReportingContext {}

impl ProducerContext for ReportingContext {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, tag: usize) {
        let outcome = match result {
            Ok(_) => Ok(()),
            Err((error, message)) => Err(Box::new(DeliveryFailure {
                error: SinkError {
                    message: error.to_string(),
                },
                record: OutboxRecord {
                    topic: message.topic().to_owned(),
                    key: message.key().map(<[u8]>::to_vec),
                    payload: message.payload().map(<[u8]>::to_vec).unwrap_or_default(),
                    headers: message
                        .headers()
                        .map(|headers| {
                            headers
                                .iter()
                                .map(|h| (h.key.to_owned(), h.value.unwrap_or_default().to_vec()))
                                .collect()
                        })
                        .unwrap_or_default(),
                    event_id: String::new(),
                },
            })),
        };
        // The relay gone (shutting down): nobody waits for the outcome.
        let tag = DeliveryTag(RecordSeq(tag as u64));
        let _ = self.reports.send(DeliveryReport { tag, outcome });
    }
}

impl KafkaSink {
    /// A producer whose delivery outcomes go to `reports`.
    pub fn new(kafka: &KafkaArgs, reports: DeliveryReports) -> Result<Self, RelayError> {
        let producer = kafka
            .client_config(&PRODUCER_DEFAULTS)
            .create_with_context(ReportingContext { reports })
            .map_err(|e| RelayError::Kafka(format!("creating the producer: {e}")))?;
        Ok(KafkaSink {
            producer: Arc::new(producer),
        })
    }

    /// Whether a broker answers a metadata request (readiness).
    pub async fn check_connected(&self) -> Result<(), String> {
        let producer = Arc::clone(&self.producer);
        tokio::task::spawn_blocking(move || {
            producer
                .client()
                .fetch_metadata(None, Duration::from_secs(2))
                .map(|_| ())
                .map_err(|e| format!("Kafka unreachable: {e}"))
        })
        .await
        .map_err(|e| format!("metadata check panicked: {e}"))?
    }

    /// Wait for everything enqueued to be delivered (bounded).
    pub fn flush(&self, timeout: Duration) {
        if let Err(error) = self.producer.flush(timeout) {
            tracing::warn!(%error, "producer flush on shutdown");
        }
    }
}

/// The tag as librdkafka's opaque value. Record numbers count records sent since the relay
/// started, far below `usize::MAX` on the 64-bit targets librdkafka's producer runs on.
fn opaque(DeliveryTag(RecordSeq(seq)): DeliveryTag) -> usize {
    seq as usize
}

impl EventSink for KafkaSink {
    async fn enqueue(&self, record: &OutboxRecord, tag: DeliveryTag) -> Result<(), SinkError> {
        let headers = record.headers.iter().fold(
            OwnedHeaders::new_with_capacity(record.headers.len()),
            |h, (key, value)| {
                h.insert(Header {
                    key,
                    value: Some(value),
                })
            },
        );
        let mut pending = BaseRecord::<[u8], [u8], _>::with_opaque_to(&record.topic, opaque(tag))
            .payload(&record.payload)
            .headers(headers);
        if let Some(key) = &record.key {
            pending = pending.key(key);
        }
        loop {
            match self.producer.send(pending) {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    pending = back;
                    tokio::time::sleep(QUEUE_FULL_PAUSE).await;
                }
                Err((error, _)) => {
                    return Err(SinkError {
                        message: error.to_string(),
                    });
                }
            }
        }
    }
}
