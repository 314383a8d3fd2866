//! Headers of a dead letter. Pure.
//!
//! A dead letter keeps the key and value bytes unchanged and the original headers (traceparent
//! included; hop headers of earlier retries are dropped), then adds Spring Kafka's names, with
//! Spring's encodings, so Spring tooling and people who know it read them as usual:
//!
//! | header | value |
//! |---|---|
//! | `kafka_dlt-original-topic` | UTF-8 |
//! | `kafka_dlt-original-partition` | 4-byte big-endian int (as Spring) |
//! | `kafka_dlt-original-offset` | 8-byte big-endian long (as Spring) |
//! | `kafka_dlt-original-timestamp` | 8-byte big-endian long, epoch millis (as Spring); absent if the record had none |
//! | `kafka_dlt-original-consumer-group` | UTF-8 |
//! | `kafka_dlt-exception-fqcn` | `eventing::HandlerError/<code>` (Spring: the Java class name; we add the code) |
//! | `kafka_dlt-exception-message` | UTF-8 |
//! | `retry_topic-attempts` | deliveries made (1 = failed on the first delivery), 4-byte big-endian int |
//!
//! and ours, as UTF-8: `dlq.error-class` (`transient`/`permanent`), `dlq.reason`
//! ([`DeadLetterReason`]), `dlq.error-code`.
//!
//! The *original* position is where the record first arrived — the source topic — also for a
//! record dead-lettered from a retry tier (Spring names the retry topic there; we name the source
//! because that is where an operator replays from).

use super::handler::Delivery;
use super::retry_headers::{self, error_class, is_hop_header};
use crate::error::ErrorKind;
use crate::kafka::ConsumedRecord;

pub const ORIGINAL_TOPIC: &str = "kafka_dlt-original-topic";
pub const ORIGINAL_PARTITION: &str = "kafka_dlt-original-partition";
pub const ORIGINAL_OFFSET: &str = "kafka_dlt-original-offset";
pub const ORIGINAL_TIMESTAMP: &str = "kafka_dlt-original-timestamp";
pub const ORIGINAL_CONSUMER_GROUP: &str = "kafka_dlt-original-consumer-group";
pub const EXCEPTION_FQCN: &str = "kafka_dlt-exception-fqcn";
pub const EXCEPTION_MESSAGE: &str = "kafka_dlt-exception-message";
pub const ERROR_CLASS: &str = "dlq.error-class";
pub const REASON: &str = "dlq.reason";
pub const ERROR_CODE: &str = "dlq.error-code";

/// Why a record was dead-lettered (`dlq.reason`, and the `reason` label of
/// `<prefix>_dead_letters_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeadLetterReason {
    /// The handler said the record is too old to act on.
    Expired,
    /// Transient failures on every retry tier.
    RetriesExhausted,
    /// The record itself is bad (a permanent failure without a more specific reason).
    InvalidEvent,
}

impl DeadLetterReason {
    pub fn as_str(self) -> &'static str {
        match self {
            DeadLetterReason::Expired => "expired",
            DeadLetterReason::RetriesExhausted => "retries_exhausted",
            DeadLetterReason::InvalidEvent => "invalid_event",
        }
    }
}

/// The failure being dead-lettered.
#[derive(Debug, Clone, Copy)]
pub struct DeadLetterCause<'a> {
    pub kind: ErrorKind,
    pub code: &'a str,
    pub message: &'a str,
    pub reason: DeadLetterReason,
}

/// Headers of the dead letter of `record`, delivered as `delivery` to `consumer_group`.
pub fn dead_letter_headers(
    record: &ConsumedRecord,
    delivery: &Delivery,
    consumer_group: &str,
    cause: &DeadLetterCause<'_>,
) -> Vec<(String, Vec<u8>)> {
    let mut headers: Vec<(String, Vec<u8>)> = record
        .headers
        .iter()
        .filter(|(name, _)| !is_hop_header(name))
        .cloned()
        .collect();
    let o = &delivery.original;
    headers.push((ORIGINAL_TOPIC.into(), o.topic.clone().into_bytes()));
    headers.push((
        ORIGINAL_PARTITION.into(),
        o.partition.to_be_bytes().to_vec(),
    ));
    headers.push((ORIGINAL_OFFSET.into(), o.offset.to_be_bytes().to_vec()));
    if let Some(ts) = delivery.original_timestamp_ms {
        headers.push((ORIGINAL_TIMESTAMP.into(), ts.to_be_bytes().to_vec()));
    }
    headers.push((
        ORIGINAL_CONSUMER_GROUP.into(),
        consumer_group.as_bytes().to_vec(),
    ));
    headers.push((
        EXCEPTION_FQCN.into(),
        format!("eventing::HandlerError/{}", cause.code).into_bytes(),
    ));
    headers.push((EXCEPTION_MESSAGE.into(), cause.message.as_bytes().to_vec()));
    let deliveries = i32::try_from(delivery.attempt.saturating_add(1)).unwrap_or(i32::MAX);
    headers.push((
        retry_headers::ATTEMPTS.into(),
        deliveries.to_be_bytes().to_vec(),
    ));
    headers.push((
        ERROR_CLASS.into(),
        error_class(cause.kind).as_bytes().to_vec(),
    ));
    headers.push((REASON.into(), cause.reason.as_str().as_bytes().to_vec()));
    headers.push((ERROR_CODE.into(), cause.code.as_bytes().to_vec()));
    headers
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kafka::keyed::handler::RecordPosition;

    #[test]
    fn dead_letter_from_a_retry_tier_names_the_source_position() {
        let record = ConsumedRecord {
            topic: "payments.retry.30s".into(),
            partition: 2,
            offset: 9,
            key: Some(b"k".to_vec()),
            payload: Some(b"v".to_vec()),
            headers: vec![
                ("traceparent".into(), b"00-t-01".to_vec()),
                (retry_headers::ATTEMPTS.into(), vec![0, 0, 0, 4]),
                (retry_headers::ORIGINAL_OFFSET.into(), b"77".to_vec()),
            ],
            timestamp_ms: Some(5),
        };
        let delivery = Delivery {
            attempt: 3,
            replay: false,
            original: RecordPosition {
                topic: "payments".into(),
                partition: 2,
                offset: 77,
            },
            original_timestamp_ms: Some(1_000),
        };
        let cause = DeadLetterCause {
            kind: ErrorKind::Transient,
            code: "gateway_timeout",
            message: "gateway did not answer",
            reason: DeadLetterReason::RetriesExhausted,
        };
        let headers = dead_letter_headers(&record, &delivery, "payment-processor", &cause);
        let get = |name: &str| {
            let found: Vec<_> = headers.iter().filter(|(k, _)| k == name).collect();
            assert_eq!(found.len(), 1, "exactly one {name}");
            found[0].1.clone()
        };
        assert_eq!(headers[0].0, "traceparent");
        assert_eq!(get(ORIGINAL_TOPIC), b"payments");
        assert_eq!(get(ORIGINAL_PARTITION), vec![0, 0, 0, 2]);
        assert_eq!(get(ORIGINAL_OFFSET), 77i64.to_be_bytes());
        assert_eq!(get(ORIGINAL_TIMESTAMP), 1_000i64.to_be_bytes());
        assert_eq!(get(ORIGINAL_CONSUMER_GROUP), b"payment-processor");
        assert_eq!(
            get(EXCEPTION_FQCN),
            b"eventing::HandlerError/gateway_timeout"
        );
        assert_eq!(get(EXCEPTION_MESSAGE), b"gateway did not answer");
        assert_eq!(get(retry_headers::ATTEMPTS), vec![0, 0, 0, 4]);
        assert_eq!(get(ERROR_CLASS), b"transient");
        assert_eq!(get(REASON), b"retries_exhausted");
        assert_eq!(get(ERROR_CODE), b"gateway_timeout");
        assert!(
            headers
                .iter()
                .all(|(k, _)| k != retry_headers::ORIGINAL_OFFSET)
        );
    }
}
