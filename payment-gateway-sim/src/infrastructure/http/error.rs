//! The one error body of the API: an RFC 9457 problem (`application/problem+json`) with the
//! extension members `code` and `field`. The body and its response ([`ApiError`],
//! `Retry-After: 1` on 503) are `service_kit::http`'s,
//! shared by every service; this module holds the gateway's own answers: which status and code
//! each [`LedgerError`] and [`ChargeError`] gets.

use crate::application::{ChargeError, LedgerError};
use crate::domain::FieldError;
use axum::http::StatusCode;

pub use service_kit::http::{ApiError, Problem};

/// An invalid input: 400 naming the field (like Stripe's `invalid_request_error`).
pub fn invalid_field(err: FieldError) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        err.code,
        err.message,
        Some(err.field.to_owned()),
    )
}

impl From<LedgerError> for ApiError {
    fn from(err: LedgerError) -> Self {
        match err {
            LedgerError::Unavailable(detail) => {
                tracing::warn!(error = %detail, "ledger unavailable");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "ledger_unavailable",
                    "the gateway's ledger database is unavailable; nothing was charged, retry later",
                    None,
                )
            }
            LedgerError::Failed(detail) => {
                tracing::error!(error = %detail, "ledger failure");
                ApiError::internal()
            }
        }
    }
}

impl From<ChargeError> for ApiError {
    fn from(err: ChargeError) -> Self {
        match err {
            ChargeError::Outage => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "gateway_outage",
                "the payment gateway is in an outage; nothing was charged",
                None,
            ),
            ChargeError::Unavailable => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "gateway_unavailable",
                "the payment gateway is temporarily unavailable; nothing was charged, retry",
                None,
            ),
            ChargeError::KeyReused { field } => ApiError::new(
                StatusCode::CONFLICT,
                "idempotency_key_reused",
                format!(
                    "this Idempotency-Key was used for a charge with a different {field}; use a new key"
                ),
                Some("Idempotency-Key".into()),
            ),
            ChargeError::Ledger(ledger) => ledger.into(),
        }
    }
}
