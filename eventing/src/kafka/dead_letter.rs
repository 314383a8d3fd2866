//! Dead-lettering: a record that can never be processed is copied, bytes unchanged, to a
//! dead-letter topic with headers saying where it came from and why it failed.

use super::ConsumedRecord;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use std::time::Duration;

/// Publishes poison records to one dead-letter topic.
#[derive(Clone)]
pub struct DeadLetter {
    producer: FutureProducer,
    topic: String,
}

impl std::fmt::Debug for DeadLetter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeadLetter")
            .field("topic", &self.topic)
            .finish_non_exhaustive()
    }
}

/// Headers of a dead letter: the original headers, then `dlq.*` headers with the origin and the
/// error. Pure, so it is unit-tested.
pub fn dead_letter_headers(
    record: &ConsumedRecord,
    error_code: &str,
    error_message: &str,
) -> Vec<(String, Vec<u8>)> {
    let mut headers = record.headers.clone();
    headers.push((
        "dlq.original.topic".into(),
        record.topic.clone().into_bytes(),
    ));
    headers.push((
        "dlq.original.partition".into(),
        record.partition.to_string().into_bytes(),
    ));
    headers.push((
        "dlq.original.offset".into(),
        record.offset.to_string().into_bytes(),
    ));
    headers.push(("dlq.error.code".into(), error_code.as_bytes().to_vec()));
    headers.push((
        "dlq.error.message".into(),
        error_message.as_bytes().to_vec(),
    ));
    headers
}

impl DeadLetter {
    pub fn new(producer: FutureProducer, topic: impl Into<String>) -> Self {
        Self {
            producer,
            topic: topic.into(),
        }
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Publish and wait for the broker's acknowledgement.
    pub async fn publish(
        &self,
        record: &ConsumedRecord,
        error_code: &str,
        error_message: &str,
    ) -> Result<(), String> {
        let mut headers = OwnedHeaders::new();
        for (key, value) in dead_letter_headers(record, error_code, error_message) {
            headers = headers.insert(Header {
                key: &key,
                value: Some(&value),
            });
        }
        let mut out = FutureRecord::<[u8], [u8]>::to(&self.topic).headers(headers);
        if let Some(key) = record.key.as_deref() {
            out = out.key(key);
        }
        if let Some(payload) = record.payload.as_deref() {
            out = out.payload(payload);
        }
        self.producer
            .send(out, Duration::from_secs(10))
            .await
            .map(|_| ())
            .map_err(|(e, _)| e.to_string())
    }
}
