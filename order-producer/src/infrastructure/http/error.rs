//! The one error body of the API: `{"error": {"code": ..., "message": ..., "field": ...}}`.

use crate::application::ServiceError;
use crate::domain::FieldError;
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use eventing::ErrorKind;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Error envelope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `out_of_range`, `unknown_currency`, `malformed_json`.
    pub code: String,
    /// Human-readable explanation.
    pub message: String,
    /// The offending input as a JSON path (`items[2].quantity`), header or path parameter; null
    /// when the problem is not about one field.
    pub field: Option<String>,
}

/// An error response: status + body (+ `Retry-After` when retrying can help).
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

    /// An invalid field: 422.
    pub fn invalid_field(err: FieldError) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            err.code,
            err.message,
            Some(err.field),
        )
    }

    pub fn service_unavailable(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "service_unavailable",
            message,
            None,
        )
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "the request could not be processed; the error was logged",
            None,
        )
    }
}

impl From<ServiceError> for ApiError {
    fn from(err: ServiceError) -> Self {
        match err {
            ServiceError::InvalidInput(field) => ApiError::invalid_field(field),
            ServiceError::IdempotencyKeyReused { key } => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
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
            ServiceError::Store(store) if store.kind() == ErrorKind::Transient => {
                tracing::warn!(error = %store, "storage unavailable");
                ApiError::service_unavailable(
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
