//! Stripe-style idempotency: a key names one charge. A second request with the key replays the
//! first result when it asks for the same charge, and is refused (409) when it asks for another.

use super::ChargeParams;

/// The first field in which `requested` differs from the `recorded` charge of the same key, or
/// `None` when they ask for the same charge. Amounts compare by value: `12.5` equals `12.50`.
pub fn first_difference(recorded: &ChargeParams, requested: &ChargeParams) -> Option<&'static str> {
    if recorded.order_id != requested.order_id {
        Some("order_id")
    } else if recorded.customer_id != requested.customer_id {
        Some("customer_id")
    } else if recorded.amount.value() != requested.amount.value() {
        Some("amount")
    } else if recorded.currency != requested.currency {
        Some("currency")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Amount, Currency, CustomerId};
    use uuid::Uuid;

    fn params(amount: &str) -> ChargeParams {
        ChargeParams {
            order_id: Uuid::nil(),
            customer_id: CustomerId::parse("c").expect("valid"),
            amount: Amount::parse(amount).expect("valid"),
            currency: Currency::parse("EUR").expect("valid"),
        }
    }

    #[test]
    fn same_value_is_the_same_charge() {
        assert_eq!(first_difference(&params("12.5"), &params("12.50")), None);
        assert_eq!(
            first_difference(&params("12.5"), &params("12.51")),
            Some("amount")
        );
        let mut other = params("12.5");
        other.currency = Currency::parse("USD").expect("valid");
        assert_eq!(first_difference(&params("12.5"), &other), Some("currency"));
        other = params("12.5");
        other.order_id = Uuid::new_v4();
        assert_eq!(first_difference(&params("12.5"), &other), Some("order_id"));
    }
}
