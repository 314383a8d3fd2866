//! The application layer: the order use cases ([`OrderService`]) over ports ([`ports`]). It owns
//! the transaction boundaries (what is committed together) but no I/O library: adapters in
//! `infrastructure` implement the ports.

pub mod error;
pub mod ports;
pub mod service;
pub mod views;

pub use error::{ServiceError, StoreError};
pub use service::{ApplyOutcome, OrderService, PaymentResult, PlaceOrderCommand, PlacedOrder};
pub use views::{OrderView, StatusHistoryEntry};
