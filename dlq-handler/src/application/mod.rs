//! The use case over ports: one dead letter → its order failed (or left alone, or kept).

pub mod ports;
mod service;

pub use service::{DeadLetter, DeadLetterService, Handled, ServiceError};
