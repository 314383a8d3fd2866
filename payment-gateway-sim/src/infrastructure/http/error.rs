//! The one error body of the API: `{"error": {"code": ..., "message": ..., "field": ...}}`.

use crate::application::{ChargeError, LedgerError};
use crate::domain::FieldError;
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

/// Error envelope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `invalid_amount`, `idempotency_key_reused`.
    pub code: String,
    pub message: String,
    /// The offending JSON field, query parameter or header; null when not about one field.
    pub field: Option<String>,
}

/// An error response: status + body (+ `Retry-After: 1` on 503).
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: ErrorBody,
}

impl ApiError {
    pub fn new(
        status: StatusCode,
        code: impl Into<String>,
        message: impl Into<String>,
        field: Option<String>,
    ) -> Self {
        Self {
            status,
            body: ErrorBody {
                error: ErrorDetail {
                    code: code.into(),
                    message: message.into(),
                    field,
                },
            },
        }
    }

    /// An invalid input: 400 naming the field (like Stripe's `invalid_request_error`).
    pub fn invalid_field(err: FieldError) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            err.code,
            err.message,
            Some(err.field.to_owned()),
        )
    }
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
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal_error",
                    "the request could not be processed; the error was logged",
                    None,
                )
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

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let retry = self.status == StatusCode::SERVICE_UNAVAILABLE;
        let mut response = (self.status, Json(self.body)).into_response();
        if retry {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}
