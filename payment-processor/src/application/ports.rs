//! The ports the use case needs. Adapters: `infrastructure::postgres::PgPaymentStore`,
//! `infrastructure::gateway::HttpPaymentGateway`.

use super::{GatewayError, StoreError};
use crate::domain::{ChargeRequest, GatewayAnswer, GatewayIdempotencyKey, Payment, Settlement};
use chrono::{DateTime, Utc};
use std::future::Future;
use uuid::Uuid;

/// What the store knows when a delivery begins.
#[derive(Debug, Clone, PartialEq)]
pub struct BegunPayment {
    pub payment: Payment,
    /// This event id has a processed-events row of this consumer group already.
    pub event_already_processed: bool,
}

/// The payments database.
pub trait PaymentStore: Send + Sync {
    /// Step (a), one statement, committed before the gateway is called: insert the order's
    /// payment as PENDING with `key` (or find the existing one) and, while it is PENDING and
    /// `counts_as_attempt`, count one more gateway attempt. Returns the row as it was BEFORE
    /// this attempt was counted.
    fn begin_payment(
        &self,
        request: &ChargeRequest,
        key: &GatewayIdempotencyKey,
        new_payment_id: Uuid,
        event_id: Uuid,
        counts_as_attempt: bool,
    ) -> impl Future<Output = Result<BegunPayment, StoreError>> + Send;

    /// Step (c), ONE transaction: move the payment from PENDING to the settlement's status,
    /// write the result event to the outbox (only if this call made the transition) and the
    /// processed-events row. Returns whether this call made the transition.
    fn settle(
        &self,
        payment_id: Uuid,
        settlement: &Settlement,
        event_id: Uuid,
        traceparent: Option<&str>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// PENDING → EXPIRED (no event: the dead letter carries the failure). Idempotent.
    fn expire(&self, payment_id: Uuid) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Record that `event_id` was processed (a duplicate of a settled payment).
    fn mark_processed(&self, event_id: Uuid)
    -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// The payment gateway.
pub trait PaymentGateway: Send + Sync {
    /// Charge once per key: the same key with the same request returns the first answer.
    fn charge(
        &self,
        request: &ChargeRequest,
        key: &GatewayIdempotencyKey,
    ) -> impl Future<Output = Result<GatewayAnswer, GatewayError>> + Send;

    /// What the gateway recorded for `key`, without charging (None: it never charged or
    /// declined under this key).
    fn find_charge(
        &self,
        key: &GatewayIdempotencyKey,
    ) -> impl Future<Output = Result<Option<GatewayAnswer>, GatewayError>> + Send;
}

/// Time and ids, injected so the use case is deterministic under test.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}
