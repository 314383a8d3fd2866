//! The payment domain, pure: what a charge request is, when a payment is due or expired, and
//! what each answer of the gateway means for the payment and its result event. No I/O crate is
//! in this module's dependency graph (`scripts/check_layers.py` enforces it).

mod charge;
mod deadline;
mod payment;
mod settlement;

pub use charge::{ChargeRequest, InvalidOrderEvent, MAX_CUSTOMER_ID_LEN};
pub use deadline::PaymentDeadline;
pub use payment::{GatewayIdempotencyKey, Payment, PaymentStatus};
pub use settlement::{GatewayAnswer, NextStep, Settlement, next_step};
