//! The decision for one dead-lettered `OrderCreated`, from the payment the payments table holds
//! for its order and, only when the gateway may have charged it, the gateway's ledger:
//!
//! ```text
//! payment row           ledger (asked only here)   decision
//! ─────────────────     ────────────────────────   ───────────────────────────────────────────
//! SUCCEEDED                                        already settled (paid meanwhile): nothing
//! DECLINED / FAILED                                already settled (failure already announced)
//! missing / EXPIRED                                fail: close as FAILED + PaymentFailed(reason)
//! PENDING, 0 attempts                              fail (the gateway never saw the key)
//! PENDING, attempts > 0  not charged / declined    fail
//! PENDING, attempts > 0  charged                   keep for an operator (a replay settles it PAID)
//! ```
//!
//! An EXPIRED row needs no ledger look-up: the processor asked the ledger before expiring it.

use contracts::FailureReason;
use uuid::Uuid;

/// The failure reason the processor gave in the dead letter's `dlq.reason` header; anything
/// else (missing, unknown) is `Unknown` — the order still fails, the detail says why.
pub fn failure_reason(header: Option<&str>) -> FailureReason {
    match header {
        Some("expired") => FailureReason::Expired,
        Some("retries_exhausted") => FailureReason::RetriesExhausted,
        Some("invalid_event") => FailureReason::InvalidEvent,
        _ => FailureReason::Unknown,
    }
}

/// The gateway idempotency key of an order's payment: the payment-processor's
/// (`GatewayIdempotencyKey::for_order`), so a row this service inserts blocks the same key.
pub fn idempotency_key(order_id: Uuid) -> String {
    format!("order-{order_id}-payment")
}

/// The order's payment as the payments table holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentState {
    Missing,
    Pending { attempts: i32 },
    Succeeded,
    Declined,
    Expired,
    Failed,
}

impl PaymentState {
    /// From the row's `status` and `attempts`; `None` for a status this service does not know.
    pub fn parse(status: &str, attempts: i32) -> Option<Self> {
        Some(match status {
            "PENDING" => PaymentState::Pending { attempts },
            "SUCCEEDED" => PaymentState::Succeeded,
            "DECLINED" => PaymentState::Declined,
            "EXPIRED" => PaymentState::Expired,
            "FAILED" => PaymentState::Failed,
            _ => return None,
        })
    }
}

/// What the gateway's ledger recorded for the order's idempotency key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LedgerAnswer {
    NotCharged,
    Charged,
    Declined,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Close the payment as FAILED (inserting it when missing) and announce PaymentFailed.
    Fail,
    /// Nothing to write: paid meanwhile, or its failure was already announced.
    AlreadySettled(&'static str),
    /// The gateway may have charged it: ask its ledger (outside any transaction), then decide.
    AskLedger,
    /// Charged although dead-lettered: keep the dead letter for an operator; never fail it.
    KeepCharged,
}

/// Decide; `ledger` is `None` until the ledger was asked.
pub fn decide(state: PaymentState, ledger: Option<LedgerAnswer>) -> Decision {
    match state {
        PaymentState::Succeeded => Decision::AlreadySettled("paid"),
        PaymentState::Declined => Decision::AlreadySettled("declined"),
        PaymentState::Failed => Decision::AlreadySettled("failed"),
        PaymentState::Missing | PaymentState::Expired | PaymentState::Pending { attempts: 0 } => {
            Decision::Fail
        }
        PaymentState::Pending { .. } => match ledger {
            None => Decision::AskLedger,
            Some(LedgerAnswer::NotCharged | LedgerAnswer::Declined) => Decision::Fail,
            Some(LedgerAnswer::Charged) => Decision::KeepCharged,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_come_from_the_header() {
        assert_eq!(failure_reason(Some("expired")), FailureReason::Expired);
        assert_eq!(
            failure_reason(Some("retries_exhausted")),
            FailureReason::RetriesExhausted
        );
        assert_eq!(
            failure_reason(Some("invalid_event")),
            FailureReason::InvalidEvent
        );
        assert_eq!(
            failure_reason(Some("handler_panicked")),
            FailureReason::Unknown
        );
        assert_eq!(failure_reason(None), FailureReason::Unknown);
    }

    #[test]
    fn a_paid_or_already_failed_order_gets_no_failure() {
        for state in [
            PaymentState::Succeeded,
            PaymentState::Declined,
            PaymentState::Failed,
        ] {
            for ledger in [None, Some(LedgerAnswer::Charged)] {
                assert!(matches!(decide(state, ledger), Decision::AlreadySettled(_)));
            }
        }
    }

    #[test]
    fn the_ledger_is_asked_only_when_the_gateway_may_know_the_key() {
        assert_eq!(decide(PaymentState::Missing, None), Decision::Fail);
        assert_eq!(decide(PaymentState::Expired, None), Decision::Fail);
        assert_eq!(
            decide(PaymentState::Pending { attempts: 0 }, None),
            Decision::Fail
        );
        assert_eq!(
            decide(PaymentState::Pending { attempts: 2 }, None),
            Decision::AskLedger
        );
    }

    #[test]
    fn a_charge_in_the_ledger_is_never_failed() {
        let pending = PaymentState::Pending { attempts: 3 };
        assert_eq!(
            decide(pending, Some(LedgerAnswer::Charged)),
            Decision::KeepCharged
        );
        assert_eq!(
            decide(pending, Some(LedgerAnswer::NotCharged)),
            Decision::Fail
        );
        assert_eq!(
            decide(pending, Some(LedgerAnswer::Declined)),
            Decision::Fail
        );
    }

    #[test]
    fn statuses_parse_and_unknown_ones_do_not() {
        assert_eq!(
            PaymentState::parse("PENDING", 4),
            Some(PaymentState::Pending { attempts: 4 })
        );
        assert_eq!(PaymentState::parse("FAILED", 0), Some(PaymentState::Failed));
        assert_eq!(PaymentState::parse("REFUNDED", 0), None);
    }

    #[test]
    fn the_key_is_the_processors() {
        let id = Uuid::nil();
        assert_eq!(
            idempotency_key(id),
            "order-00000000-0000-0000-0000-000000000000-payment"
        );
    }
}
