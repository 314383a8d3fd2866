//! Extractors whose rejections are our problem details (axum's defaults answer in plain text). The
//! reading of a JSON body (415 / 413 / 400) is `service_kit::http::JsonBodyRules`'s; the order
//! API's answers to a body of the wrong shape ([`json_error`]: 422 naming the JSON path) and its
//! path and header extractors are here.

use super::error::ApiError;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use serde::de::DeserializeOwned;
use service_kit::http::{JsonBodyError, JsonBodyRules, JsonMediaTypes};
use uuid::Uuid;

/// A JSON request body: `Content-Type` must be JSON, `application/*+json` included (else 415),
/// the body must fit the limit (else 413) and parse as `T` (else 400 for bad syntax, 422 for
/// wrong shape), with the field named as a JSON path.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

/// How the order API reads JSON bodies.
const JSON_BODY_RULES: JsonBodyRules = JsonBodyRules {
    media_types: JsonMediaTypes::AnyJson,
    json_error,
};

/// Our answer to a body that is not exactly one order request (classified by
/// `service_kit::http::parse_json_body` from typed errors). Pure.
pub fn json_error(err: &JsonBodyError) -> ApiError {
    let at = |path: &str| (!path.is_empty()).then(|| path.to_string());
    match err {
        JsonBodyError::Syntax { message } => ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            format!("the body is not valid JSON: {message}"),
            None,
        ),
        JsonBodyError::Eof { message } => ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            format!("the body is not complete JSON: {message}"),
            None,
        ),
        JsonBodyError::MissingField { path, message } => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "missing_field",
            message.clone(),
            at(path),
        ),
        JsonBodyError::UnknownField { path, message } => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_field",
            message.clone(),
            at(path),
        ),
        JsonBodyError::InvalidValue { path, message } => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_type",
            message.clone(),
            at(path),
        ),
    }
}

/// Parse `bytes` as exactly one JSON value of type `T` (trailing data is an error).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    JSON_BODY_RULES.parse(bytes)
}

impl<T, S> FromRequest<S> for JsonBody<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        JSON_BODY_RULES.read(req, state).await.map(JsonBody)
    }
}

/// The `{id}` path parameter as an order id: a UUID in its hyphenated form, any case (400
/// otherwise; the simple, braced and URN forms are refused as the document says).
#[derive(Debug, Clone, Copy)]
pub struct OrderIdPath(pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for OrderIdPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let invalid = |detail: String| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_order_id",
                format!("the order id must be a UUID: {detail}"),
                Some("id".into()),
            )
        };
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|rejection| invalid(rejection.body_text()))?;
        if raw.len() != 36 {
            return Err(invalid(format!(
                "expected 36 characters (8-4-4-4-12 hex digits), got {}",
                raw.chars().count()
            )));
        }
        Uuid::try_parse(&raw)
            .map(OrderIdPath)
            .map_err(|e| invalid(e.to_string()))
    }
}

/// Most characters of an `Idempotency-Key`.
pub const MAX_IDEMPOTENCY_KEY_CHARS: usize = 255;

/// The `Idempotency-Key` header: absent, or 1–255 visible ASCII characters.
pub fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let invalid = || {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_header",
            format!(
                "Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY_CHARS} visible ASCII characters"
            ),
            Some("Idempotency-Key".into()),
        )
    };
    let text = value.to_str().map_err(|_| invalid())?;
    let ok = !text.is_empty()
        && text.len() <= MAX_IDEMPOTENCY_KEY_CHARS
        && text.bytes().all(|b| b.is_ascii_graphic());
    if ok {
        Ok(Some(text.to_string()))
    } else {
        Err(invalid())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Item {
        sku: String,
        quantity: i64,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        items: Vec<Item>,
    }

    fn err(json: &str) -> (StatusCode, String, Option<String>) {
        let e = parse_json::<Body>(json.as_bytes()).unwrap_err();
        (e.status, e.body.code, e.body.field)
    }

    #[test]
    fn serde_errors_name_the_field() {
        assert_eq!(
            err(r#"{"name":"a","items":[{"sku":"s","quantity":"x"}]}"#),
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_type".into(),
                Some("items[0].quantity".into())
            )
        );
        assert_eq!(
            err(r#"{"name":"a","items":[{"sku":"s"}]}"#),
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                "missing_field".into(),
                Some("items[0].quantity".into())
            )
        );
        assert_eq!(
            err(r#"{"items":[]}"#),
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                "missing_field".into(),
                Some("name".into())
            )
        );
        assert_eq!(
            err(r#"{"name":"a","items":[{"sku":"s","quantity":1,"colour":"red"}]}"#),
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                "unknown_field".into(),
                Some("items[0].colour".into())
            )
        );
        assert_eq!(err(r#"{"name":"#).1, "malformed_json");
        assert_eq!(
            err(r#"{"name":"a","items":[]} trailing"#).1,
            "malformed_json"
        );
        assert_eq!(err("[]").1, "invalid_type");
    }
}
