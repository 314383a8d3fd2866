//! What a dead letter means for its order. Pure: no I/O crate in this module's dependency graph.

mod verdict;

pub use verdict::{Decision, LedgerAnswer, PaymentState, decide, failure_reason, idempotency_key};
