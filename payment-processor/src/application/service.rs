//! The payment of one order, in three steps, each safe to repeat:
//!
//! ```text
//!  OrderCreated ─▶ (a) begin_payment: INSERT payment PENDING with key K (or find it) — committed
//!                  (b) gateway.charge(request, K)          — no transaction open
//!                  (c) settle: ONE transaction — payment status + outbox result event
//!                                              + processed-events row
//! ```
//!
//! Why nothing is doubled: K depends only on the order id, so every repetition of (b) — a
//! redelivery, a retry, a duplicate `OrderCreated` with another event id, a crash between (b)
//! and (c), a second instance after a rebalance — asks the gateway for the same charge, and the
//! gateway charges once per key. (c) moves the payment out of PENDING at most once (`WHERE
//! status = 'PENDING'`), and writes the result event only when it made that move: one charge,
//! one result event. Why nothing is lost: the offset of the record is finished only after (c)
//! committed (or after its hand-off to a retry or dead-letter topic was acknowledged); a crash
//! anywhere before redelivers the record and the steps above make the repetition harmless.
//!
//! The deadline: past `--payment-deadline` a payment is never charged anew. If an earlier
//! attempt may have reached the gateway (its answer was lost), the gateway is asked what it
//! recorded under K: a recorded charge settles the payment as paid (the customer WAS charged),
//! a recorded decline as declined, nothing as expired.

use super::ports::{BegunPayment, Clock, PaymentGateway, PaymentStore};
use super::{GatewayError, ProcessError};
use crate::domain::{
    ChargeRequest, GatewayAnswer, GatewayIdempotencyKey, NextStep, Payment, PaymentDeadline,
    Settlement, next_step,
};
use contracts::OrderCreated;
use std::time::Instant;
use uuid::Uuid;

/// Test-only fault injection: abort the process right after the gateway answered and before
/// step (c), to prove a crash there charges once and emits one result event after restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CrashHook {
    #[default]
    Off,
    AbortAfterGatewayAnswer,
}

/// How one delivery ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProcessOutcome {
    /// Charged (now or by an earlier attempt whose answer was lost): PaymentCompleted written.
    Completed,
    /// Declined by the gateway: PaymentFailed(DECLINED) written.
    Declined,
    /// The payment was settled before: nothing charged, nothing written but the processed row.
    Duplicate,
    /// Another delivery settled the payment between our (a) and (c): nothing written by us.
    SettledConcurrently,
}

/// The payment use case.
#[derive(Debug)]
pub struct PaymentService<S, G, C> {
    store: S,
    gateway: G,
    clock: C,
    deadline: PaymentDeadline,
    crash_hook: CrashHook,
}

impl<S: PaymentStore, G: PaymentGateway, C: Clock> PaymentService<S, G, C> {
    pub fn new(store: S, gateway: G, clock: C, deadline: PaymentDeadline) -> Self {
        Self {
            store,
            gateway,
            clock,
            deadline,
            crash_hook: CrashHook::Off,
        }
    }

    pub fn with_crash_hook(mut self, hook: CrashHook) -> Self {
        self.crash_hook = hook;
        self
    }

    /// Process one delivery of `OrderCreated`.
    pub async fn process_order_created(
        &self,
        event: &OrderCreated,
        traceparent: Option<&str>,
    ) -> Result<ProcessOutcome, ProcessError> {
        let request = ChargeRequest::from_event(event)?;
        let key = GatewayIdempotencyKey::for_order(event.order_id);
        let now = self.clock.now();
        let expired = self.deadline.is_expired(event.occurred_at, now);
        let BegunPayment {
            payment,
            event_already_processed,
        } = self
            .store
            .begin_payment(&request, &key, Uuid::now_v7(), event.event_id, !expired)
            .await?;
        ensure_same_charge(&payment, &request)?;
        match next_step(&payment, expired) {
            NextStep::AlreadySettled => {
                if !event_already_processed {
                    self.store.mark_processed(event.event_id).await?;
                }
                metrics::counter!("payment_processor_payments_total", "result" => "duplicate")
                    .increment(1);
                Ok(ProcessOutcome::Duplicate)
            }
            NextStep::AlreadyExpired => Err(self.expired_error(event)),
            NextStep::Expire => {
                self.store.expire(payment.payment_id).await?;
                metrics::counter!("payment_processor_payments_total", "result" => "expired")
                    .increment(1);
                Err(self.expired_error(event))
            }
            NextStep::LookUpThenExpire => {
                self.look_up_then_expire(&payment, &key, event, traceparent)
                    .await
            }
            NextStep::Charge
                if self
                    .deadline
                    .is_expired(event.occurred_at, self.clock.now()) =>
            {
                // The deadline passed while step (a) waited (group commit, pool): this attempt
                // was counted, so the gateway may know the key — look up, never charge anew.
                self.look_up_then_expire(&payment, &key, event, traceparent)
                    .await
            }
            NextStep::Charge => {
                let answer = self
                    .timed_gateway_call(self.gateway.charge(&request, &key))
                    .await?;
                if self.crash_hook == CrashHook::AbortAfterGatewayAnswer {
                    tracing::error!(order_id = %event.order_id, "test crash hook: aborting after the gateway answered");
                    std::process::abort();
                }
                self.settle(&payment, &answer, event, traceparent).await
            }
        }
    }

    /// Past the deadline with an attempt that may have reached the gateway: settle with what the
    /// gateway recorded under the key, or expire if it recorded nothing.
    async fn look_up_then_expire(
        &self,
        payment: &Payment,
        key: &GatewayIdempotencyKey,
        event: &OrderCreated,
        traceparent: Option<&str>,
    ) -> Result<ProcessOutcome, ProcessError> {
        match self
            .timed_gateway_call(self.gateway.find_charge(key))
            .await?
        {
            Some(answer) => self.settle(payment, &answer, event, traceparent).await,
            None => {
                self.store.expire(payment.payment_id).await?;
                metrics::counter!("payment_processor_payments_total", "result" => "expired")
                    .increment(1);
                Err(self.expired_error(event))
            }
        }
    }

    async fn timed_gateway_call<T>(
        &self,
        call: impl Future<Output = Result<T, GatewayError>>,
    ) -> Result<T, GatewayError> {
        let started = Instant::now();
        let result = call.await;
        let outcome = match &result {
            Ok(_) => "answered",
            Err(GatewayError::Unavailable(_)) => "unavailable",
            Err(GatewayError::Rejected { .. }) => "rejected",
            Err(GatewayError::Unreadable(_)) => "unreadable",
        };
        metrics::histogram!("payment_processor_gateway_request_duration_seconds", "outcome" => outcome)
            .record(started.elapsed().as_secs_f64());
        result
    }

    async fn settle(
        &self,
        payment: &Payment,
        answer: &GatewayAnswer,
        event: &OrderCreated,
        traceparent: Option<&str>,
    ) -> Result<ProcessOutcome, ProcessError> {
        let settlement = Settlement::from_answer(payment, answer, Uuid::now_v7(), self.clock.now());
        let moved = self
            .store
            .settle(payment.payment_id, &settlement, event.event_id, traceparent)
            .await?;
        let (outcome, label) = match (&settlement, moved) {
            (_, false) => (ProcessOutcome::SettledConcurrently, "settled_concurrently"),
            (Settlement::Completed(_), true) => (ProcessOutcome::Completed, "completed"),
            (Settlement::Declined(_), true) => (ProcessOutcome::Declined, "declined"),
        };
        metrics::counter!("payment_processor_payments_total", "result" => label).increment(1);
        Ok(outcome)
    }

    fn expired_error(&self, event: &OrderCreated) -> ProcessError {
        ProcessError::Expired {
            age_seconds: (self.clock.now() - event.occurred_at).num_seconds(),
            deadline_seconds: self.deadline.0.as_secs(),
        }
    }
}

/// A second `OrderCreated` for an order must ask for the same charge as the first.
fn ensure_same_charge(payment: &Payment, request: &ChargeRequest) -> Result<(), ProcessError> {
    if payment.amount == request.amount
        && payment.currency == request.currency
        && payment.customer_id == request.customer_id
    {
        return Ok(());
    }
    Err(crate::domain::InvalidOrderEvent::ConflictsWithPayment {
        order_id: payment.order_id,
        stored_amount: payment.amount,
        stored_currency: payment.currency.clone(),
        amount: request.amount,
        currency: request.currency.clone(),
    }
    .into())
}
