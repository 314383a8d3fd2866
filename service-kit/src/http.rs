//! The error every HTTP API of the pipeline answers with — RFC 9457 problem details — and the
//! reading of JSON request bodies whose rejections are such errors (axum's own answer in plain
//! text).
//!
//! Every error is `application/problem+json` ([`Problem`]):
//!
//! ```json
//! {"type": "about:blank", "title": "Unprocessable Entity", "status": 422,
//!  "detail": "must have at most 2 decimal places (EUR), got 1.001",
//!  "code": "too_many_decimal_places", "field": "items[0].unit_price"}
//! ```
//!
//! `type` is always `about:blank` (the problem is what the status says) and `title` the status'
//! reason phrase; the two extension members carry the specifics: `code`, a stable
//! machine-readable name to branch on, and `field`, the offending input as a JSON path, query
//! parameter, header or path parameter (`null` when the problem is not about one field). A 503
//! also carries `Retry-After: 1`, a 408 `Connection: close`.
//!
//! A JSON body is read by a service's [`JsonBodyRules`]:
//!
//! | problem | answer |
//! |---|---|
//! | `Content-Type` not one of the accepted JSON types | 415 `unsupported_media_type`, field `Content-Type` |
//! | a `charset` other than UTF-8 | 415 `unsupported_charset`, field `Content-Type` |
//! | body over the router's `DefaultBodyLimit` | 413 `payload_too_large` |
//! | body not complete within `--http-body-read-timeout` | 408 `body_read_timeout` |
//! | body could not be read | 400 `unreadable_body` |
//! | body is not exactly one `T` | the service's own `json_error(&JsonBodyError)` |
//!
//! The last row stays with each service because the answers are part of its API contract (the
//! order API answers 422 for a wrong shape, the Stripe-like gateway 400); [`JsonBodyError`]
//! tells it what is wrong and where, classified from typed errors (see `json_shape`). Services keep their domain-specific constructors (e.g.
//! an invalid field) as functions next to their `From<TheirError> for ApiError`.

use crate::server::BodyReadTimeout;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

pub use crate::json_shape::{JsonBodyError, parse_json_body};

/// An RFC 9457 problem details object with our two extension members, `code` and `field`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "openapi",
    schema(example = json!({"type": "about:blank", "title": "Unprocessable Entity", "status": 422,
        "detail": "must be between 1 and 10000, got 0", "code": "out_of_range",
        "field": "items[0].quantity"}))
)]
pub struct Problem {
    /// Always `about:blank`: the problem type is the HTTP status; `code` says more.
    #[serde(rename = "type")]
    #[cfg_attr(feature = "openapi", schema(example = "about:blank"))]
    pub problem_type: String,
    /// The HTTP status' reason phrase, e.g. `Unprocessable Entity`.
    pub title: String,
    /// The HTTP status code of the response.
    #[cfg_attr(feature = "openapi", schema(minimum = 400, maximum = 599))]
    pub status: u16,
    /// Human-readable explanation of this occurrence.
    pub detail: String,
    /// Stable machine-readable code, e.g. `malformed_json`, `missing_field`, `out_of_range`.
    pub code: String,
    /// The offending input as a JSON path (`items[2].quantity`), query parameter, header or path
    /// parameter; null when the problem is not about one field. Always present.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub field: Option<String>,
}

/// An error response: a [`Problem`] with its status (+ `Retry-After: 1` on 503, when retrying can
/// help; `Connection: close` on 408).
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    /// Boxed: errors travel in `Result`s, which stay small.
    pub body: Box<Problem>,
}

impl ApiError {
    pub fn new(
        status: StatusCode,
        code: impl Into<String>,
        detail: impl Into<String>,
        field: Option<String>,
    ) -> Self {
        Self {
            status,
            body: Box::new(Problem {
                problem_type: "about:blank".into(),
                title: status.canonical_reason().unwrap_or("Error").into(),
                status: status.as_u16(),
                detail: detail.into(),
                code: code.into(),
                field,
            }),
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

    /// The request body did not arrive within `--http-body-read-timeout`: 408, and the server
    /// closes the connection (the rest of the body may still be on its way).
    pub fn body_read_timeout() -> Self {
        Self::new(
            StatusCode::REQUEST_TIMEOUT,
            "body_read_timeout",
            "the request body did not arrive in time; send it promptly after the headers",
            None,
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status;
        let mut response = (status, Json(self.body)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if status == StatusCode::REQUEST_TIMEOUT {
            headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}

/// The `Content-Type`s a JSON body may be sent with (case does not matter; the only parameter
/// that matters is `charset`, which must be absent or UTF-8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonMediaTypes {
    /// `application/json` only.
    ApplicationJson,
    /// `application/json` and every `application/*+json` (e.g. `application/merge-patch+json`).
    AnyJson,
}

/// Why a `Content-Type` is not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaTypeProblem {
    /// Absent, or not JSON.
    NotJson,
    /// JSON, but with a `charset` other than UTF-8 (the body would be misread).
    Charset(String),
}

impl JsonMediaTypes {
    /// Whether the request's `Content-Type` is one of these with no charset or UTF-8. Pure.
    pub fn check(self, headers: &HeaderMap) -> Result<(), MediaTypeProblem> {
        let value = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .ok_or(MediaTypeProblem::NotJson)?;
        let mut parts = value.split(';');
        let essence = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        let json = match self {
            Self::ApplicationJson => essence == "application/json",
            Self::AnyJson => {
                essence == "application/json"
                    || (essence.starts_with("application/")
                        && essence.ends_with("+json")
                        && essence.len() > "application/+json".len())
            }
        };
        if !json {
            return Err(MediaTypeProblem::NotJson);
        }
        for parameter in parts {
            let Some((name, value)) = parameter.split_once('=') else {
                continue;
            };
            if name.trim().eq_ignore_ascii_case("charset") {
                let charset = value.trim().trim_matches('"');
                if !charset.eq_ignore_ascii_case("utf-8") {
                    return Err(MediaTypeProblem::Charset(
                        charset.chars().take(40).collect(),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Whether the request's `Content-Type` is accepted ([`Self::check`]). Pure.
    pub fn accepts(self, headers: &HeaderMap) -> bool {
        self.check(headers).is_ok()
    }
}

/// Whether `err` or any error in its `source()` chain is a `T`. Pure.
fn caused_by<T: std::error::Error + 'static>(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(err);
    while let Some(e) = current {
        if e.is::<T>() {
            return true;
        }
        current = e.source();
    }
    false
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
    /// Read the request's body as exactly one `T`: 415, 413, 408 or 400 as in the module table,
    /// then [`Self::parse`].
    pub async fn read<T, S>(&self, req: Request, state: &S) -> Result<T, ApiError>
    where
        T: DeserializeOwned,
        S: Send + Sync,
    {
        match self.media_types.check(req.headers()) {
            Ok(()) => {}
            Err(MediaTypeProblem::NotJson) => {
                return Err(ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    "the body must be JSON, sent with `Content-Type: application/json`",
                    Some("Content-Type".into()),
                ));
            }
            Err(MediaTypeProblem::Charset(charset)) => {
                return Err(ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_charset",
                    format!(
                        "the body must be UTF-8 (JSON's encoding); charset `{charset}` is not accepted"
                    ),
                    Some("Content-Type".into()),
                ));
            }
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    "the body is larger than the limit of this endpoint",
                    None,
                )
            } else if caused_by::<BodyReadTimeout>(&rejection) {
                ApiError::body_read_timeout()
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
        assert!(plain.accepts(&content_type("application/json;charset=\"UTF-8\"")));
        assert!(!plain.accepts(&content_type("application/merge-patch+json")));
        assert!(any.accepts(&content_type("application/merge-patch+json")));
        assert!(!any.accepts(&content_type("application/+json")));
        assert!(!any.accepts(&content_type("text/plain")));
        assert!(!any.accepts(&HeaderMap::new()));
    }

    #[test]
    fn a_charset_other_than_utf8_is_refused_not_misread() {
        let any = JsonMediaTypes::AnyJson;
        for (value, charset) in [
            ("application/json; charset=utf-16", "utf-16"),
            ("application/json; Charset=\"UTF-16LE\"", "UTF-16LE"),
            ("application/json;charset=iso-8859-1", "iso-8859-1"),
            ("application/json; charset=utf8", "utf8"),
        ] {
            assert_eq!(
                any.check(&content_type(value)),
                Err(MediaTypeProblem::Charset(charset.into())),
                "{value}"
            );
        }
        assert_eq!(
            any.check(&content_type("application/json; version=2")),
            Ok(())
        );
    }

    #[test]
    fn error_body_is_an_rfc_9457_problem() {
        let response = ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "out_of_range",
            "must be between 1 and 10000, got 0",
            Some("items[0].quantity".into()),
        )
        .into_response();
        assert_eq!(response.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
        let body = ApiError::internal().body;
        assert_eq!(
            serde_json::to_value(&body).expect("serializable"),
            serde_json::json!({
                "type": "about:blank",
                "title": "Internal Server Error",
                "status": 500,
                "detail": "the request could not be processed; the error was logged",
                "code": "internal_error",
                "field": null
            })
        );
    }

    #[test]
    fn only_503_says_retry_after_and_408_closes() {
        let unavailable = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "down", "x", None);
        assert_eq!(
            unavailable.into_response().headers()[header::RETRY_AFTER],
            "1"
        );
        let internal = ApiError::internal().into_response();
        assert!(internal.headers().get(header::RETRY_AFTER).is_none());
        assert!(internal.headers().get(header::CONNECTION).is_none());
        let timeout = ApiError::body_read_timeout().into_response();
        assert_eq!(timeout.status(), StatusCode::REQUEST_TIMEOUT);
        assert_eq!(timeout.headers()[header::CONNECTION], "close");
    }

    #[test]
    fn a_body_read_timeout_is_found_in_the_error_chain() {
        let inner: Box<dyn std::error::Error + Send + Sync> = Box::new(BodyReadTimeout);
        let wrapped = axum::Error::new(axum::Error::new(inner));
        assert!(caused_by::<BodyReadTimeout>(&wrapped));
        let other = axum::Error::new(std::io::Error::other("reset"));
        assert!(!caused_by::<BodyReadTimeout>(&other));
    }
}
