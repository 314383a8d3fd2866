//! Headers of a record handed to a retry tier, and how a delivery is read back from them. Pure.
//!
//! A retry record keeps the key, the value and every original header (traceparent included),
//! minus the hop headers of an earlier retry (`retry_topic-*`, `retry.*`), which are replaced.
//! It adds Spring Kafka's retry-topic headers, encoded as Spring writes them, so Spring tooling
//! and people who know it read them as usual:
//!
//! | header | value |
//! |---|---|
//! | `retry_topic-attempts` | delivery number of the retry record (1 = first delivery, so retry `k` carries `k + 1`), 4-byte big-endian int |
//! | `retry_topic-backoff-timestamp` | due time, epoch millis, big-endian two's complement of minimal length (Java `BigInteger.toByteArray`) |
//! | `retry_topic-original-timestamp` | timestamp of the source record, same encoding |
//!
//! plus ours, as UTF-8 text for people reading them with `kcat`: `retry.original-topic`,
//! `retry.original-partition`, `retry.original-offset` (where the record first arrived — the
//! source topic, also after several tiers), `retry.error-class` (`transient`/`permanent`) and
//! `retry.error-code`. Readers accept any big-endian integer of 1 to 8 bytes (Spring reads both
//! the 4-byte and the `BigInteger` form).

use super::handler::{Delivery, RecordPosition};
use crate::error::ErrorKind;
use crate::kafka::ConsumedRecord;

pub const ATTEMPTS: &str = "retry_topic-attempts";
pub const BACKOFF_TIMESTAMP: &str = "retry_topic-backoff-timestamp";
pub const ORIGINAL_TIMESTAMP: &str = "retry_topic-original-timestamp";
pub const ORIGINAL_TOPIC: &str = "retry.original-topic";
pub const ORIGINAL_PARTITION: &str = "retry.original-partition";
pub const ORIGINAL_OFFSET: &str = "retry.original-offset";
pub const ERROR_CLASS: &str = "retry.error-class";
pub const ERROR_CODE: &str = "retry.error-code";

/// Headers added by a retry or dead-letter hop; stripped before a new hop adds its own.
pub fn is_hop_header(name: &str) -> bool {
    name.starts_with("retry_topic-")
        || name.starts_with("retry.")
        || name.starts_with("kafka_dlt-")
        || name.starts_with("dlq.")
}

/// `transient` / `permanent`.
pub fn error_class(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::Transient => "transient",
        ErrorKind::Permanent => "permanent",
    }
}

/// Java `BigInteger.valueOf(v).toByteArray()`: minimal big-endian two's complement.
pub fn encode_big_integer(v: i64) -> Vec<u8> {
    let bytes = v.to_be_bytes();
    let mut start = 0;
    while start < 7 {
        let (b, next) = (bytes[start], bytes[start + 1]);
        let redundant = (b == 0x00 && next & 0x80 == 0) || (b == 0xff && next & 0x80 != 0);
        if !redundant {
            break;
        }
        start += 1;
    }
    bytes[start..].to_vec()
}

/// A big-endian two's complement integer of 1 to 8 bytes.
pub fn decode_be_int(bytes: &[u8]) -> Option<i64> {
    if bytes.is_empty() || bytes.len() > 8 {
        return None;
    }
    let fill = if bytes[0] & 0x80 != 0 { 0xff } else { 0x00 };
    let mut full = [fill; 8];
    full[8 - bytes.len()..].copy_from_slice(bytes);
    Some(i64::from_be_bytes(full))
}

fn text<T: std::str::FromStr>(record: &ConsumedRecord, name: &str) -> Option<T> {
    std::str::from_utf8(record.header(name)?).ok()?.parse().ok()
}

/// How the handler should see `record`: attempt 0 at its own position for a source record; the
/// attempt and original position from the headers for a record on a retry tier.
pub fn delivery_of(record: &ConsumedRecord, from_retry_topic: bool) -> Delivery {
    let own = Delivery {
        attempt: 0,
        replay: false,
        original: RecordPosition::of(record),
        original_timestamp_ms: record.timestamp_ms,
    };
    if !from_retry_topic {
        return own;
    }
    let attempt = record
        .header(ATTEMPTS)
        .and_then(decode_be_int)
        .map_or(1, |deliveries| {
            deliveries.saturating_sub(1).clamp(0, i64::from(u32::MAX)) as u32
        });
    let original = match (
        text::<String>(record, ORIGINAL_TOPIC),
        text::<i32>(record, ORIGINAL_PARTITION),
        text::<i64>(record, ORIGINAL_OFFSET),
    ) {
        (Some(topic), Some(partition), Some(offset)) => RecordPosition {
            topic,
            partition,
            offset,
        },
        _ => own.original,
    };
    Delivery {
        attempt,
        replay: false,
        original,
        original_timestamp_ms: record
            .header(ORIGINAL_TIMESTAMP)
            .and_then(decode_be_int)
            .or(record.timestamp_ms),
    }
}

/// When a record on a retry tier is due (epoch millis); `None` for records without the header.
pub fn due_at_ms(record: &ConsumedRecord) -> Option<i64> {
    record.header(BACKOFF_TIMESTAMP).and_then(decode_be_int)
}

/// Headers of the retry record that carries `record` (delivered as `delivery`) as retry number
/// `attempt`, due at `due_ms`, after a failure of class `kind` with `code`.
pub fn retry_headers(
    record: &ConsumedRecord,
    delivery: &Delivery,
    attempt: u32,
    due_ms: i64,
    kind: ErrorKind,
    code: &str,
) -> Vec<(String, Vec<u8>)> {
    let mut headers: Vec<(String, Vec<u8>)> = record
        .headers
        .iter()
        .filter(|(name, _)| !is_hop_header(name))
        .cloned()
        .collect();
    let deliveries = i32::try_from(attempt.saturating_add(1)).unwrap_or(i32::MAX);
    headers.push((ATTEMPTS.into(), deliveries.to_be_bytes().to_vec()));
    headers.push((BACKOFF_TIMESTAMP.into(), encode_big_integer(due_ms)));
    if let Some(ts) = delivery.original_timestamp_ms {
        headers.push((ORIGINAL_TIMESTAMP.into(), encode_big_integer(ts)));
    }
    let o = &delivery.original;
    headers.push((ORIGINAL_TOPIC.into(), o.topic.clone().into_bytes()));
    headers.push((
        ORIGINAL_PARTITION.into(),
        o.partition.to_string().into_bytes(),
    ));
    headers.push((ORIGINAL_OFFSET.into(), o.offset.to_string().into_bytes()));
    headers.push((ERROR_CLASS.into(), error_class(kind).as_bytes().to_vec()));
    headers.push((ERROR_CODE.into(), code.as_bytes().to_vec()));
    headers
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn source() -> ConsumedRecord {
        ConsumedRecord {
            topic: "payments".into(),
            partition: 3,
            offset: 42,
            key: Some(b"order-1".to_vec()),
            payload: Some(b"v".to_vec()),
            headers: vec![("traceparent".into(), b"00-abc-01".to_vec())],
            timestamp_ms: Some(1_700_000_000_000),
        }
    }

    #[test]
    fn big_integer_matches_java() {
        assert_eq!(encode_big_integer(0), vec![0x00]);
        assert_eq!(encode_big_integer(127), vec![0x7f]);
        assert_eq!(encode_big_integer(128), vec![0x00, 0x80]);
        assert_eq!(encode_big_integer(-1), vec![0xff]);
        assert_eq!(encode_big_integer(-129), vec![0xff, 0x7f]);
        assert_eq!(
            encode_big_integer(1_700_000_000_000),
            vec![0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00]
        );
    }

    #[test]
    fn retry_record_round_trips_its_delivery() {
        let record = source();
        let first = delivery_of(&record, false);
        assert_eq!(first.attempt, 0);
        let headers = retry_headers(
            &record,
            &first,
            1,
            1_700_000_005_000,
            ErrorKind::Transient,
            "db_down",
        );
        assert_eq!(headers[0], ("traceparent".into(), b"00-abc-01".to_vec()));
        let on_retry = ConsumedRecord {
            topic: "payments.retry.5s".into(),
            offset: 7,
            headers,
            timestamp_ms: Some(1_700_000_000_100),
            ..record
        };
        assert_eq!(on_retry.header(ATTEMPTS), Some(&[0, 0, 0, 2][..]));
        assert_eq!(due_at_ms(&on_retry), Some(1_700_000_005_000));
        let again = delivery_of(&on_retry, true);
        assert_eq!(again.attempt, 1);
        assert_eq!(again.original, first.original);
        assert_eq!(again.original_timestamp_ms, Some(1_700_000_000_000));
        assert_eq!(on_retry.header(ERROR_CLASS), Some(&b"transient"[..]));
        // A second hop replaces the hop headers instead of piling them up.
        let next = retry_headers(
            &on_retry,
            &again,
            2,
            1_700_000_035_000,
            ErrorKind::Transient,
            "db_down",
        );
        assert_eq!(next.iter().filter(|(k, _)| k == ATTEMPTS).count(), 1);
        assert_eq!(
            next.iter()
                .find(|(k, _)| k == ORIGINAL_OFFSET)
                .map(|(_, v)| v.as_slice()),
            Some(&b"42"[..])
        );
    }

    proptest! {
        #[test]
        fn big_integer_round_trips(v in any::<i64>()) {
            prop_assert_eq!(decode_be_int(&encode_big_integer(v)), Some(v));
            prop_assert_eq!(decode_be_int(&v.to_be_bytes()), Some(v));
        }
    }
}
