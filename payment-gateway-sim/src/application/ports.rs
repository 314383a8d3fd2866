//! The ledger port: what the use cases need from storage, and nothing about how it is stored.

use crate::domain::{ChargeOutcome, ChargeParams, IdempotencyKey};
use chrono::{DateTime, Utc};
use std::future::Future;
use uuid::Uuid;

/// A charge to record under its idempotency key.
#[derive(Debug, Clone)]
pub struct NewCharge {
    pub charge_id: Uuid,
    pub idempotency_key: IdempotencyKey,
    pub params: ChargeParams,
    pub outcome: ChargeOutcome,
}

/// One ledger row.
#[derive(Debug, Clone, PartialEq)]
pub struct ChargeRecord {
    pub charge_id: Uuid,
    pub idempotency_key: IdempotencyKey,
    pub params: ChargeParams,
    pub outcome: ChargeOutcome,
    pub created_at: DateTime<Utc>,
    /// How many times this result was replayed to a retry.
    pub replays: i64,
}

/// Counts over the whole ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LedgerSummary {
    pub charges: i64,
    pub succeeded: i64,
    pub declined: i64,
    /// Distinct orders with at least one succeeded charge.
    pub orders_charged: i64,
    /// Distinct orders with more than one succeeded charge (each one a double charge).
    pub orders_charged_more_than_once: i64,
    pub replays: i64,
}

/// A storage failure, split by what the caller should do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    /// The database is unreachable or overloaded; the same call can succeed later (503).
    #[error("ledger unavailable: {0}")]
    Unavailable(String),
    /// Retrying will not help (a bug, a schema mismatch, a corrupt row).
    #[error("ledger failure: {0}")]
    Failed(String),
}

/// The durable ledger. Keys are unique: of concurrent inserts with one key exactly one wins.
pub trait Ledger: Send + Sync + 'static {
    /// Record `charge` unless its key is taken; `None` when it was (nothing is written then).
    fn insert_if_absent(
        &self,
        charge: &NewCharge,
    ) -> impl Future<Output = Result<Option<ChargeRecord>, LedgerError>> + Send;

    /// The charge recorded under `key`.
    fn find_by_key(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<Option<ChargeRecord>, LedgerError>> + Send;

    /// Count one replay of `charge_id`; returns the new count (`None` if there is no such row).
    fn count_replay(
        &self,
        charge_id: Uuid,
    ) -> impl Future<Output = Result<Option<i64>, LedgerError>> + Send;

    /// Every charge of `order_id`, oldest first.
    fn find_by_order(
        &self,
        order_id: Uuid,
    ) -> impl Future<Output = Result<Vec<ChargeRecord>, LedgerError>> + Send;

    fn summary(&self) -> impl Future<Output = Result<LedgerSummary, LedgerError>> + Send;

    /// Whether the ledger answers at all (readiness).
    fn ping(&self) -> impl Future<Output = Result<(), LedgerError>> + Send;
}
