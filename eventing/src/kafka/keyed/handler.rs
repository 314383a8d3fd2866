//! The handler contract of the keyed runtime.

use crate::kafka::{ConsumedRecord, HandlerError};
use async_trait::async_trait;

/// A record's position in Kafka.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RecordPosition {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
}

impl RecordPosition {
    /// Where `record` was read.
    pub fn of(record: &ConsumedRecord) -> Self {
        Self {
            topic: record.topic.clone(),
            partition: record.partition,
            offset: record.offset,
        }
    }
}

/// How this delivery of a record came about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// 0 for the first delivery (from the source topic, or a replay from parking); `N` for the
    /// `N`-th retry.
    pub attempt: u32,
    /// The record had been parked behind an earlier record of its key and is replayed from the
    /// parking table now that the earlier record settled.
    pub replay: bool,
    /// Where the record first arrived (its source topic), also on a retry tier.
    pub original: RecordPosition,
    /// Timestamp of the source record, epoch millis.
    pub original_timestamp_ms: Option<i64>,
}

/// Business logic for one record.
///
/// Must be idempotent: a record can be delivered again after a crash, a rebalance, or a retry
/// whose hand-off was acknowledged but not recorded. Records of one key are never handled
/// concurrently and arrive in offset order (also across retries when parking is on).
///
/// Return `Ok` only once the effects are durable (the handler's transaction committed): the
/// runtime then finishes the offset. Return [`HandlerError::transient`] when a later attempt can
/// succeed, [`HandlerError::permanent`] (or [`HandlerError::expired`]) when it never can.
#[async_trait]
pub trait KeyedHandler: Send + Sync + 'static {
    async fn handle(
        &self,
        record: &ConsumedRecord,
        delivery: &Delivery,
    ) -> Result<(), HandlerError>;
}
