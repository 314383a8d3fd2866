//! Decisions, pure: what to do with an `OrderCreated` given its stored payment, and what a
//! gateway answer settles.

use super::payment::{Payment, PaymentStatus};
use chrono::{DateTime, Utc};
use contracts::{FailureReason, PaymentCompleted, PaymentFailed};
use uuid::Uuid;

/// What the gateway said about a charge (a definite answer; failures are errors, not answers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GatewayAnswer {
    Charged { reference: String },
    Declined { code: String },
}

/// What to do with a delivery of `OrderCreated`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextStep {
    /// The payment was settled before (a redelivery, or a duplicate event for the same order):
    /// record this event as processed, emit nothing, charge nothing.
    AlreadySettled,
    /// The payment expired before: dead-letter again (idempotent downstream), charge nothing.
    AlreadyExpired,
    /// Charge through the gateway with the payment's idempotency key.
    Charge,
    /// Past the deadline and the gateway never saw the order: expire without charging.
    Expire,
    /// Past the deadline but an earlier attempt may have reached the gateway (its answer was
    /// lost): ask the gateway what it recorded for the key — never charge anew.
    LookUpThenExpire,
}

/// Decide the next step. `expired`: the event is past the payment deadline.
pub fn next_step(payment: &Payment, expired: bool) -> NextStep {
    match payment.status {
        PaymentStatus::Succeeded | PaymentStatus::Declined | PaymentStatus::Failed => {
            NextStep::AlreadySettled
        }
        PaymentStatus::Expired => NextStep::AlreadyExpired,
        PaymentStatus::Pending if !expired => NextStep::Charge,
        PaymentStatus::Pending if payment.attempts_before == 0 => NextStep::Expire,
        PaymentStatus::Pending => NextStep::LookUpThenExpire,
    }
}

/// A payment's terminal state with the result event that announces it.
#[derive(Debug, Clone, PartialEq)]
pub enum Settlement {
    Completed(PaymentCompleted),
    Declined(PaymentFailed),
}

impl Settlement {
    /// The settlement a gateway answer means for `payment`.
    pub fn from_answer(
        payment: &Payment,
        answer: &GatewayAnswer,
        event_id: Uuid,
        now: DateTime<Utc>,
    ) -> Self {
        match answer {
            GatewayAnswer::Charged { reference } => Settlement::Completed(PaymentCompleted {
                event_id,
                occurred_at: now,
                payment_id: payment.payment_id,
                order_id: payment.order_id,
                customer_id: payment.customer_id.clone(),
                amount: payment.amount,
                currency: payment.currency.clone(),
                gateway_reference: reference.clone(),
            }),
            GatewayAnswer::Declined { code } => Settlement::Declined(PaymentFailed {
                event_id,
                occurred_at: now,
                payment_id: Some(payment.payment_id),
                order_id: payment.order_id,
                customer_id: payment.customer_id.clone(),
                amount: payment.amount,
                currency: payment.currency.clone(),
                reason: FailureReason::Declined,
                detail: format!("declined by the payment gateway: {code}"),
            }),
        }
    }

    pub fn status(&self) -> PaymentStatus {
        match self {
            Settlement::Completed(_) => PaymentStatus::Succeeded,
            Settlement::Declined(_) => PaymentStatus::Declined,
        }
    }

    /// Gateway reference (charged) or failure reason (declined), as stored on the payment.
    pub fn gateway_reference(&self) -> Option<&str> {
        match self {
            Settlement::Completed(e) => Some(&e.gateway_reference),
            Settlement::Declined(_) => None,
        }
    }

    pub fn failure(&self) -> Option<(&'static str, &str)> {
        match self {
            Settlement::Completed(_) => None,
            Settlement::Declined(e) => Some((e.reason.symbol(), &e.detail)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::GatewayIdempotencyKey;
    use rust_decimal::Decimal;

    fn payment(status: PaymentStatus, attempts_before: i32) -> Payment {
        let order_id = Uuid::new_v4();
        Payment {
            payment_id: Uuid::new_v4(),
            order_id,
            customer_id: "c".into(),
            amount: Decimal::new(1000, 2),
            currency: "EUR".into(),
            status,
            idempotency_key: GatewayIdempotencyKey::for_order(order_id),
            attempts_before,
            gateway_reference: None,
            created_at: Utc::now(),
        }
    }

    #[test]
    fn settled_payments_are_never_charged_again() {
        for expired in [false, true] {
            for status in [
                PaymentStatus::Succeeded,
                PaymentStatus::Declined,
                PaymentStatus::Failed,
            ] {
                assert_eq!(
                    next_step(&payment(status, 1), expired),
                    NextStep::AlreadySettled
                );
            }
            assert_eq!(
                next_step(&payment(PaymentStatus::Expired, 0), expired),
                NextStep::AlreadyExpired
            );
        }
    }

    #[test]
    fn an_expired_payment_is_never_charged_anew() {
        assert_eq!(
            next_step(&payment(PaymentStatus::Pending, 0), false),
            NextStep::Charge
        );
        assert_eq!(
            next_step(&payment(PaymentStatus::Pending, 3), false),
            NextStep::Charge
        );
        assert_eq!(
            next_step(&payment(PaymentStatus::Pending, 0), true),
            NextStep::Expire
        );
        assert_eq!(
            next_step(&payment(PaymentStatus::Pending, 2), true),
            NextStep::LookUpThenExpire
        );
    }

    #[test]
    fn answers_settle_with_the_matching_event() {
        let p = payment(PaymentStatus::Pending, 0);
        let id = Uuid::new_v4();
        let charged = Settlement::from_answer(
            &p,
            &GatewayAnswer::Charged {
                reference: "ch_1".into(),
            },
            id,
            Utc::now(),
        );
        assert_eq!(charged.status(), PaymentStatus::Succeeded);
        assert_eq!(charged.gateway_reference(), Some("ch_1"));
        let Settlement::Completed(event) = charged else {
            panic!("completed")
        };
        assert_eq!(
            (event.event_id, event.amount, event.order_id),
            (id, p.amount, p.order_id)
        );

        let declined = Settlement::from_answer(
            &p,
            &GatewayAnswer::Declined {
                code: "card_declined".into(),
            },
            id,
            Utc::now(),
        );
        assert_eq!(declined.status(), PaymentStatus::Declined);
        assert_eq!(declined.failure().map(|f| f.0), Some("DECLINED"));
    }
}
