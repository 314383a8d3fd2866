//! What a dead letter means for its order, and which dead letters an operator selects. Pure: no
//! I/O crate in this module's dependency graph.

mod selection;
mod verdict;

pub use selection::{Listed, Selection, parse_position};
pub use verdict::{Decision, LedgerAnswer, PaymentState, decide, failure_reason, idempotency_key};
