//! [`EventSink`] over an rdkafka `FutureProducer` — the only place that touches the producer.
//!
//! Defaults: enable.idempotence=true, acks=all, linger.ms=0 (librdkafka batches by load, no
//! fixed timer), and message.timeout.ms=0 — librdkafka retries, in order, for as long as the
//! brokers are away, so a broker outage never reorders a key; the relay's own re-send path is
//! left for per-record failures. `--kafka-option` overrides any of them.

use std::time::Duration;

use eventing::kafka::KafkaArgs;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};

use crate::application::ports::{Delivery, EventSink, SinkError};
use crate::domain::outbox_routing::OutboxRecord;
use crate::error::RelayError;

/// Pause before re-trying an enqueue while librdkafka's local queue is full.
const QUEUE_FULL_PAUSE: Duration = Duration::from_millis(5);

/// The Kafka producer adapter. Cheap to clone (shared producer).
#[derive(Clone)]
pub struct KafkaSink {
    producer: FutureProducer,
}

impl std::fmt::Debug for KafkaSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaSink").finish_non_exhaustive()
    }
}

/// See the module doc.
const PRODUCER_DEFAULTS: [(&str, &str); 5] = [
    ("enable.idempotence", "true"),
    ("acks", "all"),
    ("linger.ms", "0"),
    ("message.timeout.ms", "0"),
    // The Java client's (Kafka Connect's, Debezium's) key hashing, not librdkafka's CRC32.
    (
        eventing::kafka::JAVA_COMPATIBLE_PARTITIONER.0,
        eventing::kafka::JAVA_COMPATIBLE_PARTITIONER.1,
    ),
];

impl KafkaSink {
    pub fn new(kafka: &KafkaArgs) -> Result<Self, RelayError> {
        let producer = kafka
            .client_config(&PRODUCER_DEFAULTS)
            .create()
            .map_err(|e| RelayError::Kafka(format!("creating the producer: {e}")))?;
        Ok(KafkaSink { producer })
    }

    /// Whether a broker answers a metadata request (readiness).
    pub async fn check_connected(&self) -> Result<(), String> {
        let producer = self.producer.clone();
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

impl EventSink for KafkaSink {
    async fn enqueue(&self, record: &OutboxRecord) -> Result<Delivery, SinkError> {
        let headers = record.headers.iter().fold(
            OwnedHeaders::new_with_capacity(record.headers.len()),
            |h, (key, value)| {
                h.insert(Header {
                    key,
                    value: Some(value),
                })
            },
        );
        loop {
            let mut future_record = FutureRecord::<[u8], [u8]>::to(&record.topic)
                .payload(&record.payload)
                .headers(headers.clone());
            if let Some(key) = &record.key {
                future_record = future_record.key(key);
            }
            match self.producer.send_result(future_record) {
                Ok(delivery) => {
                    return Ok(Box::pin(async move {
                        match delivery.await {
                            Ok(Ok(_)) => Ok(()),
                            Ok(Err((error, _message))) => Err(SinkError {
                                message: error.to_string(),
                            }),
                            Err(_canceled) => Err(SinkError {
                                message: "producer dropped the delivery".into(),
                            }),
                        }
                    }));
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
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
