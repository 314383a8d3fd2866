//! What the use case needs from the outside world.

use crate::domain::{LedgerAnswer, PaymentState};
use async_trait::async_trait;
use contracts::{FailureReason, OrderCreated};
use uuid::Uuid;

/// Why a store or ledger call failed. Every failure here is retried (the record stays
/// unfinished): nothing about a dead letter is decided on a half-known state.
#[derive(Debug, thiserror::Error)]
pub enum PortError {
    #[error("payments database: {0}")]
    Database(String),
    #[error("event encoding (schema registry): {0}")]
    Encoding(String),
    #[error("gateway ledger: {0}")]
    Ledger(String),
}

/// The failure to announce for one dead-lettered `OrderCreated`.
#[derive(Debug, Clone)]
pub struct FailureToWrite {
    pub order: OrderCreated,
    pub reason: FailureReason,
    pub detail: String,
    pub traceparent: Option<String>,
}

/// What [`PaymentsStore::fail_order`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailOutcome {
    /// The payment was closed as FAILED and PaymentFailed written, in one transaction.
    Failed { payment_id: Uuid },
    /// This dead letter (by the event id of its `OrderCreated`) was handled before.
    AlreadyProcessed,
    /// The payment left PENDING/EXPIRED (paid or failed) before the transaction locked it.
    SettledMeanwhile,
}

/// A dead letter that cannot become a PaymentFailed, kept for an operator.
#[derive(Debug, Clone)]
pub struct KeptDeadLetter {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    /// `undecodable` (order id unreadable) or `charged_at_gateway`.
    pub cause: &'static str,
    pub detail: String,
    pub dlq_reason: Option<String>,
    pub order_id: Option<Uuid>,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(String, Vec<u8>)>,
}

#[async_trait]
pub trait PaymentsStore: Send + Sync {
    /// The order's payment as the payments table holds it now.
    async fn payment_state(&self, order_id: Uuid) -> Result<PaymentState, PortError>;
    /// In ONE transaction: record the dead letter processed (consumer group + the event id of
    /// its `OrderCreated`; a second call is `AlreadyProcessed`), close the payment as FAILED
    /// only if it is missing (inserted), PENDING or EXPIRED, and write `PaymentFailed` to the
    /// payments outbox only if it closed it.
    async fn fail_order(&self, failure: &FailureToWrite) -> Result<FailOutcome, PortError>;
    /// Keep a dead letter (idempotent by topic/partition/offset); `true` if newly kept.
    async fn keep(&self, kept: &KeptDeadLetter) -> Result<bool, PortError>;
}

#[async_trait]
pub trait ChargeLedger: Send + Sync {
    /// What the gateway recorded for this idempotency key.
    async fn look_up(&self, idempotency_key: &str) -> Result<LedgerAnswer, PortError>;
}
