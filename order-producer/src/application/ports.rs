//! The ports the use cases need. Adapters: `infrastructure::postgres` (repository + outbox) and
//! the system clock / id generator below; tests add in-memory or failing ones.
//!
//! Unit of work: [`OrderRepository::session`] checks out a connection, [`RepositorySession::begin`]
//! opens a transaction ([`UnitOfWork`]); everything written through it — order rows, status
//! history, idempotency record, processed-event marker and outbox rows — commits or rolls back
//! together. Dropping a unit of work without [`UnitOfWork::commit`] rolls it back.

use super::error::StoreError;
use super::service::PlacedOrder;
use super::views::OrderView;
use crate::domain::{Order, StatusChange};
use chrono::{DateTime, Utc};
use contracts::OrderCreated;
use std::future::Future;
use uuid::Uuid;

/// Current time.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

/// New unique ids (orders, events).
pub trait IdGenerator: Send + Sync + 'static {
    fn new_id(&self) -> Uuid;
}

/// The wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// UUIDv7: time-ordered, so new orders land at the end of the primary-key index.
#[derive(Debug, Clone, Copy, Default)]
pub struct UuidV7Ids;

impl IdGenerator for UuidV7Ids {
    fn new_id(&self) -> Uuid {
        Uuid::now_v7()
    }
}

/// Storage of orders and everything committed with them.
pub trait OrderRepository: Send + Sync + 'static {
    type Session: RepositorySession;
    /// A connection from the pool.
    fn session(&self) -> impl Future<Output = Result<Self::Session, StoreError>> + Send;
    /// Make [`UnitOfWork::append_outbox`] possible without a network call (see
    /// [`OutboxPort::prepare`]). Called BEFORE a session is taken: whatever it waits for, it
    /// waits without a pooled connection or a transaction.
    fn prepare_outbox(&self) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// One checked-out connection: reads, and transactions.
pub trait RepositorySession: Send {
    type UnitOfWork<'a>: UnitOfWork
    where
        Self: 'a;
    fn begin(&mut self) -> impl Future<Output = Result<Self::UnitOfWork<'_>, StoreError>> + Send;
    /// The read model of one order, or `None`.
    fn find_order_view(
        &mut self,
        order_id: Uuid,
    ) -> impl Future<Output = Result<Option<OrderView>, StoreError>> + Send;
    /// A round trip to the database (readiness).
    fn ping(&mut self) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Delete at most `limit` idempotency keys created before `expired_before`, in one short
    /// statement of its own (no surrounding unit of work); returns how many were deleted. Keys
    /// being claimed at that moment may be skipped.
    fn delete_expired_idempotency_keys(
        &mut self,
        expired_before: DateTime<Utc>,
        limit: u32,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
}

/// The result of claiming an idempotency key.
#[derive(Debug, Clone, PartialEq)]
pub enum IdempotencyClaim {
    /// The key is new (or its earlier use expired) and now reserved by this transaction (concurrent claims wait for it).
    Claimed,
    /// The key was used before: its request hash and the response given then.
    Existing {
        request_hash: String,
        response: PlacedOrder,
    },
}

/// A payment result that was received but not applied, kept for audit.
#[derive(Debug, Clone, PartialEq)]
pub struct IgnoredResult<'a> {
    pub consumer_group: &'a str,
    pub event_id: Uuid,
    pub event_type: &'a str,
    pub order_id: Uuid,
    pub reason: &'static str,
    pub detail: String,
    pub received_at: DateTime<Utc>,
}

/// One open transaction.
pub trait UnitOfWork: Send {
    /// Reserve `key` for this request, or return what it was used for before. A key created
    /// before `expired_before` counts as unused: it is taken over (as created `at`), and the
    /// earlier use is forgotten.
    fn claim_idempotency_key(
        &mut self,
        key: &str,
        request_hash: &str,
        at: DateTime<Utc>,
        expired_before: DateTime<Utc>,
    ) -> impl Future<Output = Result<IdempotencyClaim, StoreError>> + Send;
    /// Store the response for a claimed key.
    fn store_idempotent_response(
        &mut self,
        key: &str,
        response: &PlacedOrder,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Insert a new order with its lines and the first status-history entry.
    fn insert_order(
        &mut self,
        order: &Order,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Write outbox rows for `events` through the outbox port (same transaction).
    fn append_outbox(
        &mut self,
        events: &[OrderCreated],
        traceparent: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Load an order and lock it until the end of the transaction.
    fn load_order_for_update(
        &mut self,
        order_id: Uuid,
    ) -> impl Future<Output = Result<Option<Order>, StoreError>> + Send;
    /// Persist a status change of `order` and its history entry.
    fn save_status_change(
        &mut self,
        order: &Order,
        change: &StatusChange,
        caused_by: Uuid,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Mark an event as processed by `consumer_group`; `false` when it already was.
    fn mark_event_processed(
        &mut self,
        consumer_group: &str,
        event_id: Uuid,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Record a payment result that was not applied, and why.
    fn record_ignored_result(
        &mut self,
        ignored: &IgnoredResult<'_>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn commit(self) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// The outbox port: writes the events as outbox rows inside the transaction `Tx` of the
/// repository adapter. The Postgres adapter encodes with the Avro codec, inserts and deletes the
/// rows (see the crate docs); a test adapter can fail on purpose.
///
/// No network call inside the transaction: [`Self::prepare`] (outside it) does whatever needs
/// the network — the schema registry — so that [`Self::append`] only encodes and writes.
pub trait OutboxPort<Tx: ?Sized + Sync>: Send + Sync + 'static {
    /// Resolve what encoding needs (the writer schema id; a registry call only while it is not
    /// cached). Fails fast with a transient error while the registry is unreachable.
    fn prepare(&self) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Encode (no network call) and write the events in `tx`.
    fn append(
        &self,
        tx: &Tx,
        events: &[OrderCreated],
        traceparent: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}
