//! The order status state machine: `PENDING_PAYMENT → PAID | PAYMENT_FAILED`. Both outcomes are
//! terminal; every other transition is an [`IllegalTransition`].

use std::fmt;
use std::str::FromStr;

/// Where an order stands in the payment flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrderStatus {
    /// Created; waiting for the payment processor's result.
    PendingPayment,
    /// Payment captured. Terminal.
    Paid,
    /// Payment declined, expired or abandoned. Terminal.
    PaymentFailed,
}

/// A transition the state machine does not allow, e.g. `PAID → PAYMENT_FAILED`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("illegal order status transition {from} → {to}")]
pub struct IllegalTransition {
    pub from: OrderStatus,
    pub to: OrderStatus,
}

impl OrderStatus {
    /// Every status, for tests and documentation.
    pub const ALL: [OrderStatus; 3] = [
        OrderStatus::PendingPayment,
        OrderStatus::Paid,
        OrderStatus::PaymentFailed,
    ];

    /// The stored / wire name (`PENDING_PAYMENT`, `PAID`, `PAYMENT_FAILED`).
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::PendingPayment => "PENDING_PAYMENT",
            OrderStatus::Paid => "PAID",
            OrderStatus::PaymentFailed => "PAYMENT_FAILED",
        }
    }

    /// No transition leaves a terminal status.
    pub fn is_terminal(self) -> bool {
        !matches!(self, OrderStatus::PendingPayment)
    }

    /// Decide a transition: the new status, or why it is not allowed. Pure.
    pub fn transition_to(self, next: OrderStatus) -> Result<OrderStatus, IllegalTransition> {
        match (self, next) {
            (OrderStatus::PendingPayment, OrderStatus::Paid | OrderStatus::PaymentFailed) => {
                Ok(next)
            }
            (from, to) => Err(IllegalTransition { from, to }),
        }
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stored status name that is not one of ours.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown order status `{0}`")]
pub struct UnknownStatus(pub String);

impl FromStr for OrderStatus {
    type Err = UnknownStatus;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        OrderStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| UnknownStatus(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn pending_payment_can_become_paid_or_failed() {
        assert_eq!(
            OrderStatus::PendingPayment.transition_to(OrderStatus::Paid),
            Ok(OrderStatus::Paid)
        );
        assert_eq!(
            OrderStatus::PendingPayment.transition_to(OrderStatus::PaymentFailed),
            Ok(OrderStatus::PaymentFailed)
        );
    }

    #[test]
    fn terminal_statuses_reject_every_transition() {
        for from in [OrderStatus::Paid, OrderStatus::PaymentFailed] {
            for to in OrderStatus::ALL {
                assert_eq!(
                    from.transition_to(to),
                    Err(IllegalTransition { from, to }),
                    "{from} → {to} must be illegal"
                );
            }
        }
    }

    #[test]
    fn pending_to_pending_is_illegal() {
        assert!(
            OrderStatus::PendingPayment
                .transition_to(OrderStatus::PendingPayment)
                .is_err()
        );
    }

    #[test]
    fn status_names_round_trip() {
        for status in OrderStatus::ALL {
            assert_eq!(status.as_str().parse::<OrderStatus>(), Ok(status));
        }
        assert!("SHIPPED".parse::<OrderStatus>().is_err());
    }

    fn any_status() -> impl Strategy<Value = OrderStatus> {
        prop::sample::select(OrderStatus::ALL.to_vec())
    }

    proptest! {
        /// Apply any sequence of attempted transitions: once the status is terminal it never
        /// changes again, and a failed attempt never changes the status.
        #[test]
        fn no_sequence_of_transitions_leaves_a_terminal_state(
            attempts in prop::collection::vec(any_status(), 0..32)
        ) {
            let mut status = OrderStatus::PendingPayment;
            let mut terminal_since: Option<OrderStatus> = None;
            for next in attempts {
                match status.transition_to(next) {
                    Ok(new_status) => {
                        prop_assert!(!status.is_terminal());
                        status = new_status;
                    }
                    Err(illegal) => prop_assert_eq!(illegal.from, status),
                }
                if let Some(terminal) = terminal_since {
                    prop_assert_eq!(status, terminal);
                } else if status.is_terminal() {
                    terminal_since = Some(status);
                }
            }
        }
    }
}
