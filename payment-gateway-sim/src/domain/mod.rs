//! The pure core of the simulator: what a valid charge request is, which outcome a charge gets
//! from the behaviour settings and random draws handed in, and when two requests with one
//! idempotency key are "the same". No I/O, no clock, no randomness of its own: every function
//! here is a decision, unit- and property-tested without a database.

mod behaviour;
mod charge;
mod decision;
mod idempotency;

pub use behaviour::{Behaviour, BehaviourPatch, Rate};
pub use charge::{
    Amount, ChargeParams, ChargeRequest, Currency, CustomerId, FieldError, IdempotencyKey,
    MAX_CUSTOMER_ID_CHARS, MAX_IDEMPOTENCY_KEY_CHARS,
};
pub use decision::{
    ChargeOutcome, DeclineCode, Draws, Plan, TEST_DECLINE_PREFIX, TEST_TIMEOUT_PREFIX,
    TEST_UNAVAILABLE_PREFIX, decide, latency,
};
pub use idempotency::first_difference;
