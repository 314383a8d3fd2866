//! The edges of the relay use case.

use std::future::Future;

use tokio::sync::mpsc;

use crate::domain::ack_tracker::RecordSeq;
use crate::domain::lsn::Lsn;
use crate::domain::outbox_routing::OutboxRecord;
use crate::domain::pgoutput::{PgTimestamp, WalMessage};
use crate::error::RelayError;

/// One event of the replication stream, in stream order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WalEvent {
    /// A replication session started (first connect or reconnect). Everything after `durable`
    /// (the slot's confirmed position) is streamed again; acks of records sent in an earlier
    /// session no longer count.
    SessionStarted { durable: Lsn },
    /// A transaction begins; `final_lsn` is its commit record's LSN.
    Begin {
        final_lsn: Lsn,
        commit_time: PgTimestamp,
    },
    /// A change or schema message inside a transaction (Relation, Insert, Update, Delete,
    /// Truncate, Type, Origin).
    Change(WalMessage),
    /// The open transaction committed; `end_lsn` is the position to acknowledge once handled.
    Commit { end_lsn: Lsn },
    /// A `pg_logical_emit_message` message (the relay's `--heartbeat-mode logical-message`
    /// heartbeat is a non-transactional one).
    LogicalMessage {
        transactional: bool,
        lsn: Lsn,
        prefix: String,
    },
    /// Server keepalive: the WAL has been read up to `wal_end`.
    KeepAlive { wal_end: Lsn },
}

/// A source of replication events that also takes progress reports.
pub trait WalSource: Send {
    /// Wait for the next event, then append it and the ones already waiting behind it, at most
    /// `limit` (at least 1) in all, to `into`, in stream order; how many were appended. `Ok(0)`
    /// when the stream ended normally. An error comes after the events before it (on the next
    /// call). Must be cancel-safe: the relay polls it in a `select!` and may drop the future.
    /// One call per batch, not per event: the relay wakes once for everything waiting.
    fn next_events(
        &mut self,
        into: &mut Vec<WalEvent>,
        limit: usize,
    ) -> impl Future<Output = Result<usize, RelayError>> + Send;

    /// Everything up to `lsn` is durably in Kafka: the source may tell Postgres.
    fn report_flushed(&mut self, lsn: Lsn);

    /// Stop streaming, make `final_lsn` the slot's confirmed position and release the slot.
    fn close(&mut self, final_lsn: Lsn) -> impl Future<Output = Result<(), RelayError>> + Send;
}

/// Which record a [`DeliveryReport`] is about: handed to [`EventSink::enqueue`] with the
/// record and given back unchanged with its outcome. Just the record's sequence number
/// (unique across the relay's replication sessions), so a sink can carry it through the
/// producer as a plain integer, without an allocation per record; the relay keeps everything
/// else about the record itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryTag(pub RecordSeq);

/// The fields of the "event published" debug line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedRecord {
    pub topic: String,
    pub event_id: String,
    pub trace_id: String,
}

/// The outcome of one delivery attempt.
#[derive(Debug)]
pub struct DeliveryReport {
    pub tag: DeliveryTag,
    /// `Ok`: acknowledged by Kafka (acks=all). `Err`: this attempt failed for good (after the
    /// producer's own retries); the record comes back for the relay to re-send.
    pub outcome: Result<(), Box<DeliveryFailure>>,
}

/// A failed attempt and the record to send again.
#[derive(Debug)]
pub struct DeliveryFailure {
    pub error: SinkError,
    pub record: OutboxRecord,
}

/// Where a sink sends its [`DeliveryReport`]s: one per enqueued record. Unbounded as a type,
/// bounded in use: a record has at most one attempt (so one report) outstanding, and the relay
/// keeps at most `--max-in-flight` records unacknowledged.
pub type DeliveryReports = mpsc::UnboundedSender<DeliveryReport>;

/// A record could not be published (yet).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SinkError {
    pub message: String,
}

/// Publishes records to Kafka.
pub trait EventSink: Clone + Send + Sync + 'static {
    /// Hand `record` to the producer. Records are enqueued in call order (so one key's records
    /// keep their order); exactly one [`DeliveryReport`] carrying `tag` follows on the sink's
    /// report channel once the broker acknowledged the record or the attempt failed for good
    /// (after the producer's own retries). Waits (without reordering) while the producer's
    /// queue is full. `Err`: not enqueued (no report follows).
    fn enqueue(
        &self,
        record: &OutboxRecord,
        tag: DeliveryTag,
    ) -> impl Future<Output = Result<(), SinkError>> + Send;
}

/// Makes WAL move in the relay's database while no outbox transaction flows, so the keepalives
/// (or the logical message itself) carry a newer position the slot can advance to once
/// everything before it is acknowledged. It confirms nothing by itself.
pub trait Heartbeat: Clone + Send + Sync + 'static {
    fn emit(&self) -> impl Future<Output = Result<(), RelayError>> + Send;
}
