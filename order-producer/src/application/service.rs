//! The use cases. Each write use case is one transaction (one [`UnitOfWork`]).

use super::error::{ServiceError, StoreError};
use super::ports::{
    Clock, IdGenerator, IdempotencyClaim, IgnoredResult, OrderRepository, RepositorySession,
    UnitOfWork,
};
use super::views::OrderView;
use crate::domain::{
    Currency, CustomerId, IdempotencyKeyRetention, NewOrder, Order, OrderLine, OrderStatus,
    PaymentOutcome,
};
use chrono::{DateTime, Utc};
use contracts::{PaymentCompleted, PaymentFailed};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt::Write as _;
use std::num::NonZeroU32;
use uuid::Uuid;

/// Metric: payment results not applied, by reason.
pub const METRIC_PAYMENT_RESULTS_IGNORED: &str = "order_producer_payment_results_ignored_total";
/// Metric: payment results applied, by resulting status.
pub const METRIC_PAYMENT_RESULTS_APPLIED: &str = "order_producer_payment_results_applied_total";
/// Metric: redelivered payment results (already processed; no-ops).
pub const METRIC_PAYMENT_RESULTS_DUPLICATE: &str = "order_producer_payment_results_duplicate_total";
/// Metric: orders created (not counting idempotent replays).
pub const METRIC_ORDERS_CREATED: &str = "order_producer_orders_created_total";
/// Metric: idempotent replays of an earlier response.
pub const METRIC_IDEMPOTENT_REPLAYS: &str = "order_producer_idempotent_replays_total";
/// Metric: expired idempotency keys deleted by the cleanup.
pub const METRIC_IDEMPOTENCY_KEYS_EXPIRED: &str = "order_producer_idempotency_keys_expired_total";

/// A validated request to place an order.
#[derive(Debug, Clone)]
pub struct PlaceOrderCommand {
    pub customer_id: CustomerId,
    pub currency: Currency,
    pub lines: Vec<OrderLine>,
}

impl PlaceOrderCommand {
    /// SHA-256 over a canonical rendering of the request (so `"10.5"` and `"10.50"` are the
    /// same request): what an idempotency key is bound to.
    pub fn request_hash(&self) -> String {
        let mut canonical = String::new();
        let _ = write!(
            canonical,
            "{}\u{1f}{}",
            self.customer_id.as_str(),
            self.currency.as_str()
        );
        for line in &self.lines {
            let _ = write!(
                canonical,
                "\u{1e}{}\u{1f}{}\u{1f}{}",
                line.sku.as_str(),
                line.quantity.get(),
                line.unit_price.get().normalize()
            );
        }
        Sha256::digest(canonical.as_bytes()).iter().fold(
            String::with_capacity(64),
            |mut hex, byte| {
                let _ = write!(hex, "{byte:02x}");
                hex
            },
        )
    }
}

/// The answer to a successful `place_order`; stored with the idempotency key and replayed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlacedOrder {
    pub order_id: Uuid,
    pub status: String,
    pub total_amount: Decimal,
    pub currency: String,
    pub created_at: DateTime<Utc>,
}

/// `place_order`'s result: a new order, or the replay of an earlier one.
#[derive(Debug, Clone, PartialEq)]
pub struct PlaceOrderOutcome {
    pub order: PlacedOrder,
    pub replayed: bool,
}

/// A payment result consumed from the payment topic.
#[derive(Debug, Clone, PartialEq)]
pub enum PaymentResult {
    Completed(PaymentCompleted),
    Failed(PaymentFailed),
}

impl PaymentResult {
    pub fn event_id(&self) -> Uuid {
        match self {
            PaymentResult::Completed(e) => e.event_id,
            PaymentResult::Failed(e) => e.event_id,
        }
    }
    pub fn order_id(&self) -> Uuid {
        match self {
            PaymentResult::Completed(e) => e.order_id,
            PaymentResult::Failed(e) => e.order_id,
        }
    }
    /// When the payment service produced the result.
    pub fn occurred_at(&self) -> DateTime<Utc> {
        match self {
            PaymentResult::Completed(e) => e.occurred_at,
            PaymentResult::Failed(e) => e.occurred_at,
        }
    }
    pub fn event_type(&self) -> &'static str {
        match self {
            PaymentResult::Completed(_) => "PaymentCompleted",
            PaymentResult::Failed(_) => "PaymentFailed",
        }
    }
    fn outcome(&self) -> PaymentOutcome {
        match self {
            PaymentResult::Completed(e) => PaymentOutcome::Completed {
                payment_id: e.payment_id,
                amount: e.amount,
                currency: e.currency.clone(),
            },
            PaymentResult::Failed(e) => PaymentOutcome::Failed {
                payment_id: e.payment_id,
                amount: e.amount,
                currency: e.currency.clone(),
                reason: format!("{}: {}", e.reason.symbol(), e.detail),
            },
        }
    }
}

/// What `apply_payment_result` did.
#[derive(Debug, Clone, PartialEq)]
pub enum ApplyOutcome {
    /// The order moved to `status`.
    Applied { status: OrderStatus },
    /// This event was processed before by this consumer group: nothing changed.
    Duplicate,
    /// Recorded in the ignored-results table, order unchanged.
    Ignored { reason: &'static str },
}

/// The order use cases.
#[derive(Debug)]
pub struct OrderService<R, C, G> {
    repository: R,
    clock: C,
    ids: G,
    idempotency_key_retention: IdempotencyKeyRetention,
    unknown_order_grace: chrono::Duration,
}

/// How long a payment result for an order this service cannot see yet is retried before it
/// is ignored as `unknown_order` (see [`OrderService::with_unknown_order_grace`]).
pub const DEFAULT_UNKNOWN_ORDER_GRACE: std::time::Duration = std::time::Duration::from_secs(120);

impl<R: OrderRepository, C: Clock, G: IdGenerator> OrderService<R, C, G> {
    /// A service keeping idempotency keys for the default retention (24 hours).
    pub fn new(repository: R, clock: C, ids: G) -> Self {
        Self {
            repository,
            clock,
            ids,
            idempotency_key_retention: IdempotencyKeyRetention::default(),
            unknown_order_grace: chrono::Duration::from_std(DEFAULT_UNKNOWN_ORDER_GRACE)
                .unwrap_or(chrono::Duration::zero()),
        }
    }

    /// Retry a result whose order is not visible for up to `grace` after the result occurred
    /// (then ignore it as `unknown_order`). Logical decoding hands a commit to the relay as soon
    /// as its WAL is flushed, which can be before the committing session made it visible to
    /// others: on a loaded machine the payment result can come back first (seen in `make
    /// demo` at 200 orders/s). Ignoring it would leave a charged order PENDING for good.
    pub fn with_unknown_order_grace(mut self, grace: std::time::Duration) -> Self {
        self.unknown_order_grace =
            chrono::Duration::from_std(grace).unwrap_or(chrono::Duration::MAX);
        self
    }

    /// Keep idempotency keys for `retention` instead of the default.
    pub fn with_idempotency_key_retention(mut self, retention: IdempotencyKeyRetention) -> Self {
        self.idempotency_key_retention = retention;
        self
    }

    pub fn idempotency_key_retention(&self) -> IdempotencyKeyRetention {
        self.idempotency_key_retention
    }

    pub fn repository(&self) -> &R {
        &self.repository
    }

    /// Place an order. In ONE transaction: claim the idempotency key (if any), insert the order,
    /// its lines and first history entry, write the `OrderCreated` outbox row, store the response
    /// for the key. Either all of it commits or none of it. No network call inside the
    /// transaction: the outbox is prepared (schema id resolved) before a connection is taken, so
    /// a registry outage fails the request fast (transient) without holding the pool.
    ///
    /// A retry with the same key and the same request returns the first response; with a
    /// different request it fails with [`ServiceError::IdempotencyKeyReused`]. Only within the
    /// idempotency-key retention: once a key is older than that it is ignored (deleted or not),
    /// and a retry with it places a NEW order.
    pub async fn place_order(
        &self,
        command: PlaceOrderCommand,
        idempotency_key: Option<&str>,
        traceparent: &str,
    ) -> Result<PlaceOrderOutcome, ServiceError> {
        let now = self.clock.now();
        let request_hash = command.request_hash();
        let mut order = Order::place(NewOrder {
            order_id: self.ids.new_id(),
            event_id: self.ids.new_id(),
            customer_id: command.customer_id,
            currency: command.currency,
            lines: command.lines,
            placed_at: now,
        })?;

        // Anything that may need the network (the schema registry) happens here, before a
        // pooled connection is taken and the transaction opens.
        self.repository.prepare_outbox().await?;
        let mut session = self.repository.session().await?;
        let mut uow = session.begin().await?;
        if let Some(key) = idempotency_key {
            let expired_before = self.idempotency_key_retention.expired_before(now);
            match uow
                .claim_idempotency_key(key, &request_hash, now, expired_before)
                .await?
            {
                IdempotencyClaim::Claimed => {}
                IdempotencyClaim::Existing {
                    request_hash: stored_hash,
                    response,
                } => {
                    // Nothing was written in this transaction; dropping it rolls back.
                    return if stored_hash == request_hash {
                        metrics::counter!(METRIC_IDEMPOTENT_REPLAYS).increment(1);
                        Ok(PlaceOrderOutcome {
                            order: response,
                            replayed: true,
                        })
                    } else {
                        Err(ServiceError::IdempotencyKeyReused {
                            key: key.to_string(),
                        })
                    };
                }
            }
        }
        uow.insert_order(&order).await?;
        let events = order.drain_events();
        uow.append_outbox(&events, traceparent).await?;
        let placed = PlacedOrder {
            order_id: order.id(),
            status: order.status().as_str().to_string(),
            total_amount: order.total(),
            currency: order.currency().as_str().to_string(),
            created_at: order.created_at(),
        };
        if let Some(key) = idempotency_key {
            uow.store_idempotent_response(key, &placed).await?;
        }
        uow.commit().await?;
        metrics::counter!(METRIC_ORDERS_CREATED).increment(1);
        Ok(PlaceOrderOutcome {
            order: placed,
            replayed: false,
        })
    }

    /// The order with its lines and status history.
    pub async fn get_order(&self, order_id: Uuid) -> Result<OrderView, ServiceError> {
        let mut session = self.repository.session().await?;
        session
            .find_order_view(order_id)
            .await?
            .ok_or(ServiceError::OrderNotFound(order_id))
    }

    /// Delete every idempotency key past the retention, `batch_size` rows per statement (short
    /// locks, small WAL bursts), until a batch comes back short; returns how many were deleted.
    /// Each batch is counted in `order_producer_idempotency_keys_expired_total` as soon as it is
    /// deleted, so an error half-way loses no count; the caller retries later.
    pub async fn delete_expired_idempotency_keys(
        &self,
        batch_size: NonZeroU32,
    ) -> Result<u64, StoreError> {
        let expired_before = self
            .idempotency_key_retention
            .expired_before(self.clock.now());
        let mut session = self.repository.session().await?;
        let mut total = 0;
        loop {
            let deleted = session
                .delete_expired_idempotency_keys(expired_before, batch_size.get())
                .await?;
            metrics::counter!(METRIC_IDEMPOTENCY_KEYS_EXPIRED).increment(deleted);
            total += deleted;
            if deleted < u64::from(batch_size.get()) {
                return Ok(total);
            }
        }
    }

    /// Is the database reachable?
    pub async fn check_ready(&self) -> Result<(), StoreError> {
        self.repository.session().await?.ping().await
    }

    /// Apply one payment result, in ONE transaction with the processed-event marker
    /// `(consumer_group, event_id)`:
    /// * already processed → [`ApplyOutcome::Duplicate`], nothing changes;
    /// * unknown order within the grace ([`Self::with_unknown_order_grace`]) →
    ///   [`ServiceError::OrderNotVisibleYet`] (transient, nothing committed);
    /// * unknown order after it, terminal order (e.g. a late `PaymentFailed` after `PAID`), amount or
    ///   currency mismatch → recorded in the ignored-results table, counted in
    ///   `order_producer_payment_results_ignored_total{reason}`, order unchanged;
    /// * otherwise the order's status changes and a history entry is written.
    ///
    /// Metrics are counted only after the commit. A transient error means nothing was
    /// committed: the caller retries (and must not store the Kafka offset).
    pub async fn apply_payment_result(
        &self,
        consumer_group: &str,
        result: &PaymentResult,
    ) -> Result<ApplyOutcome, ServiceError> {
        let now = self.clock.now();
        let mut session = self.repository.session().await?;
        let mut uow = session.begin().await?;
        if !uow
            .mark_event_processed(consumer_group, result.event_id(), now)
            .await?
        {
            metrics::counter!(METRIC_PAYMENT_RESULTS_DUPLICATE).increment(1);
            return Ok(ApplyOutcome::Duplicate);
        }
        let ignored = |reason: &'static str, detail: String| IgnoredResult {
            consumer_group,
            event_id: result.event_id(),
            event_type: result.event_type(),
            order_id: result.order_id(),
            reason,
            detail,
            received_at: now,
        };
        let outcome = match uow.load_order_for_update(result.order_id()).await? {
            None if now.signed_duration_since(result.occurred_at()) < self.unknown_order_grace => {
                // Nothing committed: the transaction (with its processed-event marker) is
                // rolled back when `uow` drops; the runtime retries the record in place.
                return Err(ServiceError::OrderNotVisibleYet(result.order_id()));
            }
            None => {
                let record = ignored("unknown_order", "no order with this id".to_string());
                uow.record_ignored_result(&record).await?;
                ApplyOutcome::Ignored {
                    reason: record.reason,
                }
            }
            Some(mut order) => match order.settle(&result.outcome(), now) {
                Ok(change) => {
                    uow.save_status_change(&order, &change, result.event_id())
                        .await?;
                    ApplyOutcome::Applied { status: change.to }
                }
                Err(rejected) => {
                    let record = ignored(rejected.reason(), rejected.to_string());
                    uow.record_ignored_result(&record).await?;
                    ApplyOutcome::Ignored {
                        reason: record.reason,
                    }
                }
            },
        };
        uow.commit().await?;
        match &outcome {
            ApplyOutcome::Applied { status } => {
                metrics::counter!(METRIC_PAYMENT_RESULTS_APPLIED, "status" => status.as_str())
                    .increment(1);
            }
            ApplyOutcome::Ignored { reason } => {
                tracing::warn!(
                    event_id = %result.event_id(),
                    order_id = %result.order_id(),
                    event_type = result.event_type(),
                    reason,
                    "payment result ignored"
                );
                metrics::counter!(METRIC_PAYMENT_RESULTS_IGNORED, "reason" => *reason).increment(1);
            }
            ApplyOutcome::Duplicate => {}
        }
        Ok(outcome)
    }
}
