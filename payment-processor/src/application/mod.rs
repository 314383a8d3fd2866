//! Use cases over ports: [`PaymentService::process_order_created`] is the whole payment of one
//! order — (a) record the payment, (b) charge with its idempotency key, (c) settle in one
//! transaction. The ports ([`ports`]) are implemented in `infrastructure/`.

mod error;
pub mod ports;
mod service;

pub use error::{GatewayError, ProcessError, StoreError};
pub use service::{CrashHook, PaymentService, ProcessOutcome};
