//! A charge request: the part of an `OrderCreated` the gateway needs, validated. An event that
//! fails validation is poison (it can never be charged): a typed [`InvalidOrderEvent`], which the
//! consumer turns into a dead letter with reason `invalid_event`.

use contracts::{MONEY_SCALE, OrderCreated};
use rust_decimal::Decimal;
use uuid::Uuid;

/// Longest customer id the payments table stores.
pub const MAX_CUSTOMER_ID_LEN: usize = 200;

/// Why an `OrderCreated` cannot be charged, whatever happens later.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidOrderEvent {
    #[error("total_amount {0} is not positive")]
    NonPositiveAmount(Decimal),
    #[error("total_amount {0} has more than {MONEY_SCALE} decimals")]
    TooManyDecimals(Decimal),
    #[error("currency `{0}` is not an ISO 4217 alphabetic code (three upper-case letters)")]
    InvalidCurrency(String),
    #[error("customer_id is empty or longer than {MAX_CUSTOMER_ID_LEN} characters")]
    InvalidCustomerId,
    #[error(
        "order {order_id} already has a payment of {stored_amount} {stored_currency}; this event asks for {amount} {currency}"
    )]
    ConflictsWithPayment {
        order_id: Uuid,
        stored_amount: Decimal,
        stored_currency: String,
        amount: Decimal,
        currency: String,
    },
}

impl InvalidOrderEvent {
    /// Short stable name for metrics and dead-letter headers.
    pub fn code(&self) -> &'static str {
        match self {
            InvalidOrderEvent::NonPositiveAmount(_) => "non_positive_amount",
            InvalidOrderEvent::TooManyDecimals(_) => "too_many_decimals",
            InvalidOrderEvent::InvalidCurrency(_) => "invalid_currency",
            InvalidOrderEvent::InvalidCustomerId => "invalid_customer_id",
            InvalidOrderEvent::ConflictsWithPayment { .. } => "conflicts_with_payment",
        }
    }
}

/// What the gateway is asked to charge for one order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeRequest {
    pub order_id: Uuid,
    pub customer_id: String,
    pub amount: Decimal,
    pub currency: String,
}

impl ChargeRequest {
    /// Validate the event's payment fields. Amounts are never rounded: more decimals than the
    /// contract's scale is an error, not a silent change of what the customer pays.
    pub fn from_event(event: &OrderCreated) -> Result<Self, InvalidOrderEvent> {
        let amount = event.total_amount;
        if amount <= Decimal::ZERO {
            return Err(InvalidOrderEvent::NonPositiveAmount(amount));
        }
        if amount.normalize().scale() > MONEY_SCALE {
            return Err(InvalidOrderEvent::TooManyDecimals(amount));
        }
        let currency = &event.currency;
        if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(InvalidOrderEvent::InvalidCurrency(currency.clone()));
        }
        let customer = &event.customer_id;
        if customer.trim().is_empty() || customer.chars().count() > MAX_CUSTOMER_ID_LEN {
            return Err(InvalidOrderEvent::InvalidCustomerId);
        }
        Ok(Self {
            order_id: event.order_id,
            customer_id: customer.clone(),
            amount,
            currency: currency.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use proptest::prelude::*;

    fn event(amount: Decimal, currency: &str, customer: &str) -> OrderCreated {
        OrderCreated {
            event_id: Uuid::new_v4(),
            occurred_at: Utc::now(),
            order_id: Uuid::new_v4(),
            customer_id: customer.into(),
            total_amount: amount,
            currency: currency.into(),
            items: vec![],
        }
    }

    #[test]
    fn a_valid_event_becomes_a_charge_request() {
        let e = event(Decimal::new(1250, 2), "EUR", "c-1");
        let r = ChargeRequest::from_event(&e).expect("valid");
        assert_eq!(r.amount, Decimal::new(1250, 2));
        assert_eq!(r.order_id, e.order_id);
    }

    #[test]
    fn invalid_fields_are_typed_errors() {
        let cases = [
            (event(Decimal::ZERO, "EUR", "c"), "non_positive_amount"),
            (
                event(Decimal::new(-1, 0), "EUR", "c"),
                "non_positive_amount",
            ),
            (event(Decimal::new(1, 5), "EUR", "c"), "too_many_decimals"),
            (event(Decimal::ONE, "eur", "c"), "invalid_currency"),
            (event(Decimal::ONE, "EURO", "c"), "invalid_currency"),
            (event(Decimal::ONE, "EUR", " "), "invalid_customer_id"),
            (
                event(Decimal::ONE, "EUR", &"x".repeat(201)),
                "invalid_customer_id",
            ),
        ];
        for (e, code) in cases {
            assert_eq!(
                ChargeRequest::from_event(&e).expect_err("invalid").code(),
                code
            );
        }
    }

    #[test]
    fn trailing_zeros_beyond_the_scale_are_not_extra_decimals() {
        // 1.50000 is 1.5: no information is lost, so it is not rejected.
        let e = event(Decimal::new(150_000, 5), "EUR", "c");
        assert!(ChargeRequest::from_event(&e).is_ok());
    }

    proptest! {
        #[test]
        fn accepted_amounts_are_positive_and_never_changed(units in 1i64..10_000_000_000, scale in 0u32..=4) {
            let amount = Decimal::new(units, scale);
            let r = ChargeRequest::from_event(&event(amount, "USD", "c")).expect("valid");
            prop_assert_eq!(r.amount, amount);
        }
    }
}
