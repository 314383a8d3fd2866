//! The edges of the relay use case.

use std::future::Future;
use std::pin::Pin;

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
    /// The next event; `Ok(None)` when the stream ended normally. Must be cancel-safe: the
    /// relay polls it in a `select!` and may drop the future.
    fn next_event(&mut self) -> impl Future<Output = Result<Option<WalEvent>, RelayError>> + Send;

    /// Everything up to `lsn` is durably in Kafka: the source may tell Postgres.
    fn report_flushed(&mut self, lsn: Lsn);

    /// Stop streaming, make `final_lsn` the slot's confirmed position and release the slot.
    fn close(&mut self, final_lsn: Lsn) -> impl Future<Output = Result<(), RelayError>> + Send;
}

/// Resolves when Kafka acknowledged (or finally rejected) one record.
pub type Delivery = Pin<Box<dyn Future<Output = Result<(), SinkError>> + Send>>;

/// A record could not be published (yet).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SinkError {
    pub message: String,
}

/// Publishes records to Kafka.
pub trait EventSink: Clone + Send + Sync + 'static {
    /// Hand `record` to the producer. Records are enqueued in call order (so one key's records
    /// keep their order); the returned [`Delivery`] resolves when the broker acknowledged the
    /// record, after the producer's own retries. Waits (without reordering) while the
    /// producer's queue is full.
    fn enqueue(
        &self,
        record: &OutboxRecord,
    ) -> impl Future<Output = Result<Delivery, SinkError>> + Send;
}

/// Makes WAL move in the relay's database while no outbox transaction flows, so the keepalives
/// (or the logical message itself) carry a newer position the slot can advance to once
/// everything before it is acknowledged. It confirms nothing by itself.
pub trait Heartbeat: Clone + Send + Sync + 'static {
    fn emit(&self) -> impl Future<Output = Result<(), RelayError>> + Send;
}
