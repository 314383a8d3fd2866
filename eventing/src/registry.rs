//! The two calls the codec makes to a Confluent-compatible schema registry (Apicurio's
//! `/apis/ccompat/v7`, Confluent Schema Registry, Redpanda, Karapace), over `reqwest`:
//!
//! | call | request | answer |
//! |---|---|---|
//! | register a writer schema (idempotent: an identical schema gets its existing id) | `POST {url}/subjects/{subject}/versions` `{"schema": …, "schemaType": "AVRO"}` | `{"id": n}` |
//! | a writer schema by id (decoding) | `GET {url}/schemas/ids/{id}` | `{"schema": "…"}` |
//!
//! Why our own client and not `schema_registry_converter`: that crate reports a failed call as
//! a string (the HTTP status only inside its message) plus one `retriable` flag that is true
//! for 502/503 and transport errors only, so a 500, 504 or 429 looked permanent and would have
//! dead-lettered good records. Here every failure is classified from typed facts — the transport
//! error or the HTTP status ([`classify_status`]) — never from message text.
//!
//! Credentials may be given in the URL (`https://user:password@host/...`); reqwest sends them
//! as basic auth. No error detail includes the URL.

use crate::error::CodecError;
use reqwest::{Client, Response, StatusCode, Url};
use serde::Deserialize;
use std::time::Duration;

/// Media type of the Confluent REST API.
const REGISTRY_MEDIA_TYPE: &str = "application/vnd.schemaregistry.v1+json";

/// What a registry answer other than 2xx means for the caller. Pure decision over the status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusClass {
    /// 404: the schema id (or subject) does not exist. For a schema id read from a record this
    /// is the record's fault: dead-letter it.
    NotFound,
    /// 408, 425, 429, 5xx, and 401/403: the registry (or our credentials for it) is the
    /// problem, not the request; the same request can succeed later.
    Unavailable,
    /// Any other status (400, 409 incompatible schema, 422 invalid schema, ...): the request
    /// itself is wrong and fails the same way again.
    Rejected,
}

/// Classify a non-success HTTP status of the registry.
pub fn classify_status(status: StatusCode) -> StatusClass {
    match status {
        StatusCode::NOT_FOUND => StatusClass::NotFound,
        StatusCode::UNAUTHORIZED
        | StatusCode::FORBIDDEN
        | StatusCode::REQUEST_TIMEOUT
        | StatusCode::TOO_EARLY
        | StatusCode::TOO_MANY_REQUESTS => StatusClass::Unavailable,
        s if s.is_server_error() => StatusClass::Unavailable,
        _ => StatusClass::Rejected,
    }
}

/// The registry's error body (`{"error_code": 40403, "message": "Schema not found"}`), for the
/// error detail only: classification never reads it.
#[derive(Debug, Default, Deserialize)]
struct ErrorBody {
    error_code: Option<i64>,
    message: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Registered {
    id: u32,
}

#[derive(Debug, Deserialize)]
struct SchemaById {
    schema: String,
}

/// A client for one registry URL. Cheap to clone (reqwest's connection pool is shared).
#[derive(Clone)]
pub(crate) struct RegistryClient {
    http: Client,
    base: Url,
}

impl std::fmt::Debug for RegistryClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryClient").finish_non_exhaustive()
    }
}

impl RegistryClient {
    /// `url`: the API's base (e.g. `http://127.0.0.1:8081/apis/ccompat/v7`); `timeout` bounds
    /// every call, connecting included.
    pub(crate) fn new(url: &str, timeout: Duration) -> Result<Self, CodecError> {
        let base = Url::parse(url.trim_end_matches('/')).map_err(|e| {
            CodecError::RegistrySettings(format!("the schema registry URL does not parse: {e}"))
        })?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(CodecError::RegistrySettings(format!(
                "the schema registry URL must be http(s)://host[:port][/path], not a {} URL",
                base.scheme()
            )));
        }
        let http = Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .map_err(|e| CodecError::RegistrySettings(error_chain(&e)))?;
        Ok(Self { http, base })
    }

    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .expect("checked in `new`: the base URL is http(s), so it can be a base")
            .pop_if_empty()
            .extend(segments);
        url
    }

    /// Register `schema_text` under `subject`; its id (the existing one if it was registered
    /// before).
    pub(crate) async fn register(
        &self,
        subject: &str,
        schema_text: &str,
    ) -> Result<u32, CodecError> {
        let body = serde_json::json!({"schema": schema_text, "schemaType": "AVRO"});
        let request = self
            .http
            .post(self.url(&["subjects", subject, "versions"]))
            .header(reqwest::header::CONTENT_TYPE, REGISTRY_MEDIA_TYPE)
            .header(reqwest::header::ACCEPT, REGISTRY_MEDIA_TYPE)
            .body(body.to_string());
        let what = format!("registering {subject}");
        let response = request.send().await.map_err(|e| transport(&what, &e))?;
        let response =
            success(response, &what)
                .await
                .map_err(|(class, status, detail)| match class {
                    StatusClass::Unavailable => CodecError::RegistryUnavailable {
                        status: Some(status),
                        detail,
                    },
                    StatusClass::NotFound | StatusClass::Rejected => {
                        CodecError::RegistryRejected { status, detail }
                    }
                })?;
        let registered: Registered = response.json().await.map_err(|e| unreadable(&what, &e))?;
        Ok(registered.id)
    }

    /// The schema text registered under `id`.
    pub(crate) async fn schema_by_id(&self, id: u32) -> Result<String, CodecError> {
        let request = self
            .http
            .get(self.url(&["schemas", "ids", &id.to_string()]))
            .header(reqwest::header::ACCEPT, REGISTRY_MEDIA_TYPE);
        let what = format!("looking up schema id {id}");
        let response = request.send().await.map_err(|e| transport(&what, &e))?;
        let response =
            success(response, &what)
                .await
                .map_err(|(class, status, detail)| match class {
                    StatusClass::NotFound => CodecError::UnknownSchemaId { id },
                    StatusClass::Unavailable => CodecError::RegistryUnavailable {
                        status: Some(status),
                        detail,
                    },
                    StatusClass::Rejected => CodecError::RegistryRejected { status, detail },
                })?;
        let found: SchemaById = response.json().await.map_err(|e| unreadable(&what, &e))?;
        Ok(found.schema)
    }
}

/// The response if it is a success; else its class, status and a detail for the error message.
async fn success(response: Response, what: &str) -> Result<Response, (StatusClass, u16, String)> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let body: ErrorBody = response.json().await.unwrap_or_default();
    let detail = match (body.error_code, body.message) {
        (Some(code), Some(message)) => format!("{what}: {message} (error code {code})"),
        (None, Some(message)) => format!("{what}: {message}"),
        (Some(code), None) => format!("{what}: error code {code}"),
        (None, None) => format!("{what}: HTTP {status}"),
    };
    Err((classify_status(status), status.as_u16(), detail))
}

/// The request could not be sent or its answer not received (refused, timed out, reset).
fn transport(what: &str, err: &reqwest::Error) -> CodecError {
    CodecError::RegistryUnavailable {
        status: None,
        detail: format!("{what}: {}", error_chain(err)),
    }
}

/// A 2xx whose body is not the documented JSON: the registry (or a proxy in front of it)
/// misbehaves; that is the environment's fault, not the record's.
fn unreadable(what: &str, err: &reqwest::Error) -> CodecError {
    CodecError::RegistryUnavailable {
        status: None,
        detail: format!("{what}: unreadable answer: {}", error_chain(err)),
    }
}

/// `err: cause: cause …`, without the URL (it may hold credentials).
fn error_chain(err: &reqwest::Error) -> String {
    let mut text = match err.url() {
        Some(_) => {
            // `without_url` needs an owned error; describe the kind instead of cloning.
            if err.is_timeout() {
                "timed out".to_string()
            } else if err.is_connect() {
                "could not connect".to_string()
            } else if err.is_decode() {
                "could not decode the answer".to_string()
            } else if err.is_body() {
                "could not read the answer".to_string()
            } else {
                "request failed".to_string()
            }
        }
        None => err.to_string(),
    };
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_is_its_own_class() {
        assert_eq!(
            classify_status(StatusCode::NOT_FOUND),
            StatusClass::NotFound
        );
    }

    #[test]
    fn server_errors_throttling_timeouts_and_credentials_are_unavailable() {
        for status in [500, 502, 503, 504, 429, 408, 425, 401, 403] {
            let status = StatusCode::from_u16(status).expect("a valid status");
            assert_eq!(
                classify_status(status),
                StatusClass::Unavailable,
                "{status}"
            );
        }
    }

    #[test]
    fn other_client_errors_are_rejections() {
        for status in [400, 405, 409, 415, 422, 300] {
            let status = StatusCode::from_u16(status).expect("a valid status");
            assert_eq!(classify_status(status), StatusClass::Rejected, "{status}");
        }
    }

    #[test]
    fn urls_must_be_http_bases() {
        let timeout = Duration::from_secs(1);
        assert!(matches!(
            RegistryClient::new("not a url", timeout),
            Err(CodecError::RegistrySettings(_))
        ));
        assert!(matches!(
            RegistryClient::new("mailto:registry@example.invalid", timeout),
            Err(CodecError::RegistrySettings(_))
        ));
        let client = RegistryClient::new("http://127.0.0.1:8081/apis/ccompat/v7/", timeout)
            .expect("a valid URL");
        assert_eq!(
            client.url(&["subjects", "a.B", "versions"]).as_str(),
            "http://127.0.0.1:8081/apis/ccompat/v7/subjects/a.B/versions"
        );
        assert_eq!(
            client.url(&["schemas", "ids", "7"]).as_str(),
            "http://127.0.0.1:8081/apis/ccompat/v7/schemas/ids/7"
        );
    }
}
