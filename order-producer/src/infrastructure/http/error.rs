//! The one error body of the API: an RFC 9457 problem (`application/problem+json`) with our
//! extension members `code` and `field`. The body and its response ([`ApiError`], `Retry-After`
//! on 503) are `service_kit::http`'s, shared by every service; this module holds the order API's
//! own answers: which status and code each [`ServiceError`] gets.

use crate::application::ServiceError;
use crate::domain::FieldError;
use axum::http::StatusCode;
use eventing::ErrorKind;

pub use service_kit::http::{ApiError, Problem};

/// An invalid field: 422.
pub fn invalid_field(err: FieldError) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        err.code,
        err.message,
        Some(err.field),
    )
}

/// The database (or schema registry) is down: 503, retry later.
pub fn service_unavailable(message: impl Into<String>) -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "service_unavailable",
        message,
        None,
    )
}

impl From<ServiceError> for ApiError {
    fn from(err: ServiceError) -> Self {
        match err {
            ServiceError::InvalidInput(field) => invalid_field(field),
            // 409: the request itself is valid; it conflicts with what the key already holds.
            ServiceError::IdempotencyKeyReused { key } => ApiError::new(
                StatusCode::CONFLICT,
                "idempotency_key_reused",
                format!(
                    "Idempotency-Key `{key}` was already used for a different request; use a new key"
                ),
                Some("Idempotency-Key".into()),
            ),
            ServiceError::OrderNotFound(id) => ApiError::new(
                StatusCode::NOT_FOUND,
                "order_not_found",
                format!("no order with id {id}"),
                Some("id".into()),
            ),
            // Only the payment-result consumer meets it; never an HTTP request.
            ServiceError::OrderNotVisibleYet(id) => ApiError::new(
                StatusCode::NOT_FOUND,
                "order_not_found",
                format!("no order with id {id}"),
                Some("id".into()),
            ),
            ServiceError::Store(store) if store.kind() == ErrorKind::Transient => {
                tracing::warn!(error = %store, "storage unavailable");
                service_unavailable(
                    "the order database (or schema registry) is unavailable; nothing was stored, retry later",
                )
            }
            ServiceError::Store(store) => {
                tracing::error!(error = %store, "storage failure");
                ApiError::internal()
            }
        }
    }
}
