//! Errors of the use cases, each classified [`ErrorKind::Transient`] (retry may help: database
//! or registry unreachable) or [`ErrorKind::Permanent`] (the input or stored data is wrong).

use crate::domain::FieldError;
use contracts::{CodecError, ErrorKind};
use uuid::Uuid;

/// A failure of a storage port (repository, outbox).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached or aborted the transaction for a retryable reason
    /// (connection lost, pool timeout, serialization failure, shutdown).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The database rejected the statement (constraint violation, bad SQL): retrying the same
    /// operation fails again.
    #[error("database rejected the operation: {0}")]
    Rejected(String),
    /// A stored value could not be read back into the domain.
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    /// An outbox payload could not be encoded (registry down is transient, a bad value is not).
    #[error("outbox event could not be encoded: {0}")]
    Encoding(#[from] CodecError),
}

impl StoreError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            StoreError::Unavailable(_) => ErrorKind::Transient,
            StoreError::Encoding(codec) => codec.kind(),
            StoreError::Rejected(_) | StoreError::Corrupt(_) => ErrorKind::Permanent,
        }
    }
}

/// What a use case can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("invalid input: {0}")]
    InvalidInput(#[from] FieldError),
    #[error("idempotency key `{key}` was already used with a different request")]
    IdempotencyKeyReused { key: String },
    #[error("order {0} not found")]
    OrderNotFound(Uuid),
    /// A payment result for an order not (yet) visible here, within the grace period.
    #[error("order {0} is not visible yet; the payment result is retried")]
    OrderNotVisibleYet(Uuid),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ServiceError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            ServiceError::Store(store) => store.kind(),
            ServiceError::OrderNotVisibleYet(_) => ErrorKind::Transient,
            _ => ErrorKind::Permanent,
        }
    }
}
