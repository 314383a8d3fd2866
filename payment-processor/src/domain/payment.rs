//! The payment of one order and its status machine:
//!
//! ```text
//!   PENDING ──gateway: charged──▶ SUCCEEDED
//!      │ └────gateway: declined─▶ DECLINED
//!      ├──────deadline passed, gateway never charged──▶ EXPIRED
//!      └──────dead-lettered, closed by dlq-handler────▶ FAILED   (also from EXPIRED)
//! ```
//!
//! Every transition leaves PENDING exactly once (the store updates `WHERE status = 'PENDING'`),
//! which is why an order gets exactly one result event however often its `OrderCreated` is
//! delivered or processed concurrently.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use uuid::Uuid;

/// Where a payment is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentStatus {
    Pending,
    Succeeded,
    Declined,
    Expired,
    /// Closed by dlq-handler with its PaymentFailed (retries exhausted, expired, invalid).
    Failed,
}

impl PaymentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::Pending => "PENDING",
            PaymentStatus::Succeeded => "SUCCEEDED",
            PaymentStatus::Declined => "DECLINED",
            PaymentStatus::Expired => "EXPIRED",
            PaymentStatus::Failed => "FAILED",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "PENDING" => Some(PaymentStatus::Pending),
            "SUCCEEDED" => Some(PaymentStatus::Succeeded),
            "DECLINED" => Some(PaymentStatus::Declined),
            "EXPIRED" => Some(PaymentStatus::Expired),
            "FAILED" => Some(PaymentStatus::Failed),
            _ => None,
        }
    }

    /// No further transition: the result (or the dead letter) has been decided.
    pub fn is_terminal(self) -> bool {
        self != PaymentStatus::Pending
    }
}

/// The idempotency key the gateway sees for an order's payment: derived from the order id
/// alone, so every attempt — after a retry, a redelivery, a crash, on any instance — asks the
/// gateway for the SAME charge, and the gateway charges at most once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayIdempotencyKey(String);

impl GatewayIdempotencyKey {
    pub fn for_order(order_id: Uuid) -> Self {
        Self(format!("order-{order_id}-payment"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A payment as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Payment {
    pub payment_id: Uuid,
    pub order_id: Uuid,
    pub customer_id: String,
    pub amount: Decimal,
    pub currency: String,
    pub status: PaymentStatus,
    pub idempotency_key: GatewayIdempotencyKey,
    /// Gateway calls begun before this delivery (0: the gateway has never seen this order).
    pub attempts_before: i32,
    pub gateway_reference: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_names_round_trip() {
        for s in [
            PaymentStatus::Pending,
            PaymentStatus::Succeeded,
            PaymentStatus::Declined,
            PaymentStatus::Expired,
        ] {
            assert_eq!(PaymentStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(PaymentStatus::parse("paid"), None);
        assert!(!PaymentStatus::Pending.is_terminal());
        assert!(PaymentStatus::Expired.is_terminal());
    }

    #[test]
    fn the_key_depends_on_the_order_only() {
        let order = Uuid::new_v4();
        assert_eq!(
            GatewayIdempotencyKey::for_order(order),
            GatewayIdempotencyKey::for_order(order)
        );
        assert_ne!(
            GatewayIdempotencyKey::for_order(order),
            GatewayIdempotencyKey::for_order(Uuid::new_v4())
        );
    }
}
