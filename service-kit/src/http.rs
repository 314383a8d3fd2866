//! The JSON error every HTTP API of the pipeline answers with, and the reading of JSON request
//! bodies whose rejections are such errors (axum's own answer in plain text).
//!
//! Every error is `{"error": {"code": ..., "message": ..., "field": ...}}` ([`ErrorBody`]); a 503
//! also carries `Retry-After: 1`. A JSON body is read by a service's [`JsonBodyRules`]:
//!
//! | problem | answer |
//! |---|---|
//! | `Content-Type` not one of the accepted JSON types | 415 `unsupported_media_type`, field `Content-Type` |
//! | body over the router's `DefaultBodyLimit` | 413 `payload_too_large` |
//! | body could not be read | 400 `unreadable_body` |
//! | body is not exactly one `T` | the service's own `json_error(&JsonBodyError)` |
//!
//! The last row stays with each service because the answers are part of its API contract (the
//! order API answers 422 for a wrong shape, the Stripe-like gateway 400); [`JsonBodyError`]
//! tells it what is wrong and where, classified from typed errors (see `json_shape`). Services keep their domain-specific constructors (e.g.
//! an invalid field) as functions next to their `From<TheirError> for ApiError`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

pub use crate::json_shape::{JsonBodyError, parse_json_body};

/// Error envelope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `malformed_json`, `missing_field`, `out_of_range`.
    pub code: String,
    /// Human-readable explanation.
    pub message: String,
    /// The offending input as a JSON path (`items[2].quantity`), query parameter, header or path
    /// parameter; null when the problem is not about one field.
    pub field: Option<String>,
}

/// An error response: status + body (+ `Retry-After: 1` on 503, when retrying can help).
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

    /// A 500 that tells the client nothing of the cause (which the caller logs).
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "the request could not be processed; the error was logged",
            None,
        )
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

/// The `Content-Type`s a JSON body may be sent with (parameters such as `charset` are ignored,
/// case does not matter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonMediaTypes {
    /// `application/json` only.
    ApplicationJson,
    /// `application/json` and every `application/*+json` (e.g. `application/merge-patch+json`).
    AnyJson,
}

impl JsonMediaTypes {
    /// Whether the request's `Content-Type` is one of these. Pure.
    pub fn accepts(self, headers: &HeaderMap) -> bool {
        let Some(value) = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
        else {
            return false;
        };
        let essence = value
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        match self {
            Self::ApplicationJson => essence == "application/json",
            Self::AnyJson => {
                essence == "application/json"
                    || (essence.starts_with("application/") && essence.ends_with("+json"))
            }
        }
    }
}

/// How one service reads JSON request bodies.
#[derive(Debug, Clone, Copy)]
pub struct JsonBodyRules {
    pub media_types: JsonMediaTypes,
    /// The service's answer to a body that is not exactly one `T`, classified by
    /// [`parse_json_body`] from typed errors (never from serde's messages).
    pub json_error: fn(err: &JsonBodyError) -> ApiError,
}

impl JsonBodyRules {
    /// Read the request's body as exactly one `T`: 415, 413 or 400 as in the module table, then
    /// [`Self::parse`].
    pub async fn read<T, S>(&self, req: Request, state: &S) -> Result<T, ApiError>
    where
        T: DeserializeOwned,
        S: Send + Sync,
    {
        if !self.media_types.accepts(req.headers()) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "the body must be JSON, sent with `Content-Type: application/json`",
                Some("Content-Type".into()),
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    "the body is larger than the limit of this endpoint",
                    None,
                )
            } else {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "unreadable_body",
                    format!("the body could not be read: {}", rejection.body_text()),
                    None,
                )
            }
        })?;
        self.parse(&bytes)
    }

    /// Parse `bytes` as exactly one JSON value of type `T` (trailing data is an error), the
    /// failure answered by `json_error`. Pure.
    pub fn parse<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T, ApiError> {
        parse_json_body(bytes).map_err(|e| (self.json_error)(&e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn content_type(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_str(value).expect("a valid header value"),
        );
        headers
    }

    #[test]
    fn media_types_accept_json_by_essence() {
        let plain = JsonMediaTypes::ApplicationJson;
        let any = JsonMediaTypes::AnyJson;
        assert!(plain.accepts(&content_type("Application/JSON; charset=utf-8")));
        assert!(!plain.accepts(&content_type("application/merge-patch+json")));
        assert!(any.accepts(&content_type("application/merge-patch+json")));
        assert!(!any.accepts(&content_type("text/plain")));
        assert!(!any.accepts(&HeaderMap::new()));
    }

    #[test]
    fn error_body_is_the_documented_json() {
        let body = ApiError::internal().body;
        assert_eq!(
            serde_json::to_string(&body).expect("serializable"),
            r#"{"error":{"code":"internal_error","message":"the request could not be processed; the error was logged","field":null}}"#
        );
    }

    #[test]
    fn only_503_says_retry_after() {
        let unavailable = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "down", "x", None);
        assert_eq!(
            unavailable.into_response().headers()[header::RETRY_AFTER],
            "1"
        );
        let internal = ApiError::internal().into_response();
        assert!(internal.headers().get(header::RETRY_AFTER).is_none());
    }
}
