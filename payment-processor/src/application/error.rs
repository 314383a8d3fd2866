//! The use case's errors, each classified with the workspace's [`ErrorKind`] from its type —
//! never from message text. Transient → retry topic; permanent → dead letter (`invalid_event`);
//! [`ProcessError::Expired`] → dead letter (`expired`).

use crate::domain::InvalidOrderEvent;
use contracts::{CodecError, ErrorKind};

/// A failure of the payment store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Connection lost, pool timeout, serialization failure, shutdown: retry later.
    #[error("payments database unavailable: {0}")]
    Unavailable(String),
    /// The database rejected the statement: retrying fails again.
    #[error("payments database rejected the operation: {0}")]
    Rejected(String),
    /// A stored row could not be read back.
    #[error("stored payment is invalid: {0}")]
    Corrupt(String),
    /// A result event could not be encoded (registry down is transient, a bad value is not).
    #[error("result event could not be encoded: {0}")]
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

/// A failed gateway call. The classification comes from what happened on the wire (status code,
/// timeout, refused connection), decided in the HTTP adapter.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// 5xx, 429, timeout, connection refused or reset: the same call may succeed later (the
    /// idempotency key makes repeating it safe).
    #[error("payment gateway unavailable: {0}")]
    Unavailable(String),
    /// 4xx other than 402/429 (e.g. the key reused with other parameters, a request the gateway
    /// calls invalid): repeating it fails again.
    #[error("payment gateway rejected the request ({status}): {message}")]
    Rejected { status: u16, message: String },
    /// A 2xx whose body is not what the gateway's API promises.
    #[error("payment gateway answered something unreadable: {0}")]
    Unreadable(String),
}

impl GatewayError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            GatewayError::Unavailable(_) | GatewayError::Unreadable(_) => ErrorKind::Transient,
            GatewayError::Rejected { .. } => ErrorKind::Permanent,
        }
    }
}

/// Why an `OrderCreated` could not be processed now.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("invalid OrderCreated: {0}")]
    Invalid(#[from] InvalidOrderEvent),
    #[error(
        "payment deadline passed: order placed {age_seconds} s ago, deadline {deadline_seconds} s; not charged"
    )]
    Expired {
        age_seconds: i64,
        deadline_seconds: u64,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Gateway(#[from] GatewayError),
}

impl ProcessError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            ProcessError::Invalid(_) | ProcessError::Expired { .. } => ErrorKind::Permanent,
            ProcessError::Store(e) => e.kind(),
            ProcessError::Gateway(e) => e.kind(),
        }
    }

    /// Short stable name for metrics and dead-letter headers.
    pub fn code(&self) -> &'static str {
        match self {
            ProcessError::Invalid(e) => e.code(),
            ProcessError::Expired { .. } => "payment_deadline_passed",
            ProcessError::Store(StoreError::Encoding(e)) => e.code(),
            ProcessError::Store(StoreError::Unavailable(_)) => "database_unavailable",
            ProcessError::Store(_) => "database_rejected",
            ProcessError::Gateway(GatewayError::Unavailable(_)) => "gateway_unavailable",
            ProcessError::Gateway(GatewayError::Rejected { .. }) => "gateway_rejected",
            ProcessError::Gateway(GatewayError::Unreadable(_)) => "gateway_unreadable",
        }
    }
}
