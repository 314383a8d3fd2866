//! The outcome of one charge request, decided from the behaviour settings, the customer id and
//! random draws passed in (so the decision is a pure function).
//!
//! Order of precedence:
//! 1. `outage` on → [`Plan::Outage`] (nothing recorded).
//! 2. Test customers, regardless of rates: `test-unavailable…` → [`Plan::Unavailable`];
//!    `test-decline…` → recorded as declined (`card_declined`); `test-timeout…` → recorded as
//!    succeeded, then the answer is held for `timeout_delay`.
//! 3. Otherwise each fault has its own independent draw: transient failure (nothing recorded),
//!    then timeout (recorded, answer held), then decline (recorded as declined).

use super::Behaviour;
use std::time::Duration;

/// Customers whose charges are always declined with `card_declined`.
pub const TEST_DECLINE_PREFIX: &str = "test-decline";
/// Customers whose charges always fail with 503 before anything is recorded.
pub const TEST_UNAVAILABLE_PREFIX: &str = "test-unavailable";
/// Customers whose charges are recorded, then answered only after `timeout_delay`.
pub const TEST_TIMEOUT_PREFIX: &str = "test-timeout";

/// Uniform draws in `[0, 1)`, one per independent decision.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Draws {
    pub transient_failure: f64,
    pub timeout: f64,
    pub decline: f64,
    /// Picks the decline code: below 0.5 `card_declined`, else `insufficient_funds`.
    pub decline_code: f64,
    /// Scales `jitter`.
    pub jitter: f64,
}

/// Why a charge was declined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeclineCode {
    CardDeclined,
    InsufficientFunds,
}

impl DeclineCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CardDeclined => "card_declined",
            Self::InsufficientFunds => "insufficient_funds",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "card_declined" => Some(Self::CardDeclined),
            "insufficient_funds" => Some(Self::InsufficientFunds),
            _ => None,
        }
    }
}

/// The business result recorded in the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChargeOutcome {
    Succeeded,
    Declined(DeclineCode),
}

impl ChargeOutcome {
    pub fn status(self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded",
            Self::Declined(_) => "declined",
        }
    }

    pub fn decline_code(self) -> Option<DeclineCode> {
        match self {
            Self::Succeeded => None,
            Self::Declined(code) => Some(code),
        }
    }
}

/// What to do with one charge request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// The outage switch is on: 503 `gateway_outage`, nothing recorded.
    Outage,
    /// A transient failure: 503 `gateway_unavailable`, nothing recorded.
    Unavailable,
    /// Record `outcome`; when `hold_answer` is set, answer only after that long (a timeout as
    /// the client sees it: the charge happened, the answer is late).
    Record {
        outcome: ChargeOutcome,
        hold_answer: Option<Duration>,
    },
}

/// Decide the plan for a charge by `customer_id` under `behaviour`.
pub fn decide(behaviour: &Behaviour, customer_id: &str, draws: Draws) -> Plan {
    if behaviour.outage {
        return Plan::Outage;
    }
    if customer_id.starts_with(TEST_UNAVAILABLE_PREFIX) {
        return Plan::Unavailable;
    }
    if customer_id.starts_with(TEST_DECLINE_PREFIX) {
        return Plan::Record {
            outcome: ChargeOutcome::Declined(DeclineCode::CardDeclined),
            hold_answer: None,
        };
    }
    if customer_id.starts_with(TEST_TIMEOUT_PREFIX) {
        return Plan::Record {
            outcome: ChargeOutcome::Succeeded,
            hold_answer: Some(behaviour.timeout_delay),
        };
    }
    if behaviour
        .transient_failure_rate
        .hit(draws.transient_failure)
    {
        return Plan::Unavailable;
    }
    let hold_answer = behaviour
        .timeout_rate
        .hit(draws.timeout)
        .then_some(behaviour.timeout_delay);
    let outcome = if behaviour.decline_rate.hit(draws.decline) {
        ChargeOutcome::Declined(if draws.decline_code < 0.5 {
            DeclineCode::CardDeclined
        } else {
            DeclineCode::InsufficientFunds
        })
    } else {
        ChargeOutcome::Succeeded
    };
    Plan::Record {
        outcome,
        hold_answer,
    }
}

/// How long to wait before answering: `latency + jitter × draw` (draw in `[0, 1)`).
pub fn latency(behaviour: &Behaviour, jitter_draw: f64) -> Duration {
    let draw = if jitter_draw.is_finite() {
        jitter_draw.clamp(0.0, 1.0)
    } else {
        0.0
    };
    behaviour
        .latency
        .saturating_add(behaviour.jitter.mul_f64(draw))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{BehaviourPatch, Rate};
    use proptest::prelude::*;

    fn draws(value: f64) -> Draws {
        Draws {
            transient_failure: value,
            timeout: value,
            decline: value,
            decline_code: value,
            jitter: value,
        }
    }

    fn with_rates(transient: f64, timeout: f64, decline: f64) -> Behaviour {
        BehaviourPatch {
            transient_failure_rate: Some(transient),
            timeout_rate: Some(timeout),
            decline_rate: Some(decline),
            ..BehaviourPatch::default()
        }
        .apply(Behaviour::default())
        .expect("rates in range")
    }

    #[test]
    fn test_customers_ignore_the_rates() {
        let always_fail = with_rates(1.0, 1.0, 1.0);
        let never_fail = Behaviour::default();
        for behaviour in [always_fail, never_fail] {
            assert_eq!(
                decide(&behaviour, "test-unavailable-7", draws(0.9)),
                Plan::Unavailable
            );
            assert_eq!(
                decide(&behaviour, "test-decline", draws(0.9)),
                Plan::Record {
                    outcome: ChargeOutcome::Declined(DeclineCode::CardDeclined),
                    hold_answer: None
                }
            );
            assert_eq!(
                decide(&behaviour, "test-timeout-x", draws(0.0)),
                Plan::Record {
                    outcome: ChargeOutcome::Succeeded,
                    hold_answer: Some(Duration::from_secs(30))
                }
            );
        }
    }

    #[test]
    fn the_outage_switch_beats_everything() {
        let behaviour = Behaviour {
            outage: true,
            ..Behaviour::default()
        };
        for customer in ["c", "test-decline", "test-timeout", "test-unavailable"] {
            assert_eq!(decide(&behaviour, customer, draws(0.5)), Plan::Outage);
        }
    }

    #[test]
    fn decline_codes_split_on_the_code_draw() {
        let behaviour = with_rates(0.0, 0.0, 1.0);
        let mut d = draws(0.0);
        d.decline_code = 0.2;
        assert_eq!(
            decide(&behaviour, "c", d),
            Plan::Record {
                outcome: ChargeOutcome::Declined(DeclineCode::CardDeclined),
                hold_answer: None
            }
        );
        d.decline_code = 0.7;
        assert_eq!(
            decide(&behaviour, "c", d),
            Plan::Record {
                outcome: ChargeOutcome::Declined(DeclineCode::InsufficientFunds),
                hold_answer: None
            }
        );
    }

    #[test]
    fn latency_adds_scaled_jitter() {
        let behaviour = Behaviour {
            latency: Duration::from_millis(20),
            jitter: Duration::from_millis(10),
            ..Behaviour::default()
        };
        assert_eq!(latency(&behaviour, 0.0), Duration::from_millis(20));
        assert_eq!(latency(&behaviour, 0.5), Duration::from_millis(25));
        assert_eq!(latency(&behaviour, f64::NAN), Duration::from_millis(20));
    }

    proptest! {
        #[test]
        fn rates_map_draws_to_outcomes(
            transient in 0.0f64..=1.0, timeout in 0.0f64..=1.0, decline in 0.0f64..=1.0,
            d_transient in 0.0f64..1.0, d_timeout in 0.0f64..1.0, d_decline in 0.0f64..1.0,
            d_code in 0.0f64..1.0, customer in "[a-z]{1,10}",
        ) {
            let behaviour = with_rates(transient, timeout, decline);
            let plan = decide(&behaviour, &customer, Draws {
                transient_failure: d_transient, timeout: d_timeout, decline: d_decline,
                decline_code: d_code, jitter: 0.0,
            });
            if d_transient < transient {
                prop_assert_eq!(plan, Plan::Unavailable);
            } else {
                let Plan::Record { outcome, hold_answer } = plan else {
                    return Err(TestCaseError::fail("expected a recorded charge"));
                };
                prop_assert_eq!(hold_answer.is_some(), d_timeout < timeout);
                prop_assert_eq!(outcome != ChargeOutcome::Succeeded, d_decline < decline);
            }
        }

        #[test]
        fn zero_rates_always_succeed_at_once(d in 0.0f64..1.0, customer in "[a-z]{1,10}") {
            prop_assert_eq!(
                decide(&Behaviour::default(), &customer, draws(d)),
                Plan::Record { outcome: ChargeOutcome::Succeeded, hold_answer: None }
            );
        }

        #[test]
        fn latency_stays_within_bounds(ms in 0u64..10_000, jitter in 0u64..10_000, d in 0.0f64..1.0) {
            let behaviour = Behaviour {
                latency: Duration::from_millis(ms),
                jitter: Duration::from_millis(jitter),
                ..Behaviour::default()
            };
            let wait = latency(&behaviour, d);
            prop_assert!(wait >= behaviour.latency);
            prop_assert!(wait <= behaviour.latency + behaviour.jitter);
        }
    }

    #[test]
    fn full_rates_always_hit() {
        assert!(Rate::new("r", 1.0).expect("in range").hit(0.999_999));
        assert!(!Rate::ZERO.hit(0.0));
    }
}
