//! JSON bodies whose rejections are our JSON errors naming the field (axum's are plain text).

use super::error::ApiError;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, StatusCode, header};
use serde::de::DeserializeOwned;

/// A JSON request body: `Content-Type` must be JSON (else 415), the body must fit the limit
/// (else 413) and parse as exactly one `T` (else 400 naming the field).
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

fn is_json_content_type(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case("application/json")
}

/// First backtick-quoted word of a serde message (`unknown field `colour`` → `colour`).
fn quoted_name(message: &str) -> Option<&str> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(&message[start..start + len])
}

/// Turn a serde_json error at JSON path `path` into a 400. Pure.
pub fn json_error(path: &str, err: &serde_json::Error) -> ApiError {
    use serde_json::error::Category;
    let message = err.to_string();
    let at_path = (!path.is_empty() && path != ".").then(|| path.to_owned());
    let (code, field) = match err.classify() {
        Category::Syntax | Category::Io | Category::Eof => ("malformed_json", None),
        Category::Data if message.starts_with("missing field") => (
            "missing_field",
            quoted_name(&message).map(str::to_owned).or(at_path),
        ),
        Category::Data if message.starts_with("unknown field") => (
            "unknown_field",
            quoted_name(&message).map(str::to_owned).or(at_path),
        ),
        Category::Data => ("invalid_value", at_path),
    };
    let message = if code == "malformed_json" {
        format!("the body is not valid JSON: {message}")
    } else {
        message
    };
    ApiError::new(StatusCode::BAD_REQUEST, code, message, field)
}

/// Parse `bytes` as exactly one JSON value of type `T` (trailing data is an error).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize::<_, T>(&mut deserializer)
        .map_err(|e| json_error(&e.path().to_string(), e.inner()))?;
    deserializer.end().map_err(|e| json_error("", &e))?;
    Ok(value)
}

impl<T, S> FromRequest<S> for JsonBody<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json_content_type(req.headers()) {
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
        parse_json(&bytes).map(JsonBody)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        rate: f64,
    }

    fn err(json: &str) -> (StatusCode, String, Option<String>) {
        let e = parse_json::<Body>(json.as_bytes()).expect_err("invalid");
        (e.status, e.body.error.code, e.body.error.field)
    }

    #[test]
    fn serde_errors_name_the_field() {
        let bad = StatusCode::BAD_REQUEST;
        assert_eq!(
            err(r#"{"name":"a","rate":"x"}"#),
            (bad, "invalid_value".into(), Some("rate".into()))
        );
        assert_eq!(
            err(r#"{"name":"a"}"#),
            (bad, "missing_field".into(), Some("rate".into()))
        );
        assert_eq!(
            err(r#"{"name":"a","rate":1,"colour":"red"}"#),
            (bad, "unknown_field".into(), Some("colour".into()))
        );
        assert_eq!(err(r#"{"name":"#).1, "malformed_json");
        assert_eq!(err(r#"{"name":"a","rate":1} x"#).1, "malformed_json");
    }
}
