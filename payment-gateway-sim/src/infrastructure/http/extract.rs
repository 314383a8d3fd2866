//! JSON bodies whose rejections are our JSON errors naming the field (axum's are plain text).
//! The reading of a JSON body (415 / 413 / 400) is `service_kit::http::JsonBodyRules`'s; the
//! gateway's answers to a body of the wrong shape ([`json_error`]: always 400) are here.

use super::error::ApiError;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;
use service_kit::http::{JsonBodyError, JsonBodyRules, JsonMediaTypes};

/// A JSON request body: `Content-Type` must be `application/json` (else 415), the body must fit
/// the limit (else 413) and parse as exactly one `T` (else 400 naming the field).
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

/// How the gateway reads JSON bodies.
const JSON_BODY_RULES: JsonBodyRules = JsonBodyRules {
    media_types: JsonMediaTypes::ApplicationJson,
    json_error,
};

/// Our answer to a body that is not exactly one `T` (classified by
/// `service_kit::http::parse_json_body` from typed errors): always a 400. Pure.
pub fn json_error(err: &JsonBodyError) -> ApiError {
    let at = |path: &str| (!path.is_empty()).then(|| path.to_owned());
    let (code, message, field) = match err {
        JsonBodyError::Syntax { message } | JsonBodyError::Eof { message } => (
            "malformed_json",
            format!("the body is not valid JSON: {message}"),
            None,
        ),
        JsonBodyError::MissingField { path, message } => {
            ("missing_field", message.clone(), at(path))
        }
        JsonBodyError::UnknownField { path, message } => {
            ("unknown_field", message.clone(), at(path))
        }
        JsonBodyError::InvalidValue { path, message } => {
            ("invalid_value", message.clone(), at(path))
        }
    };
    ApiError::new(StatusCode::BAD_REQUEST, code, message, field)
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
        (e.status, e.body.code, e.body.field)
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
