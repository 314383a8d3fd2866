//! The domain: the [`order::Order`] aggregate, its [`status::OrderStatus`] state machine and the
//! validated value objects it is built from. Pure: no I/O crate is imported here (no database,
//! broker or HTTP library), so every rule is testable without infrastructure.

pub mod idempotency;
pub mod order;
pub mod status;
pub mod values;

pub use idempotency::IdempotencyKeyRetention;
pub use order::{NewOrder, Order, OrderLine, PaymentOutcome, SettlementRejected, StatusChange};
pub use status::{IllegalTransition, OrderStatus};
pub use values::{Currency, CustomerId, FieldError, Quantity, Sku, UnitPrice};
