//! The codec's typed errors and the workspace's one error classification (transient vs
//! permanent) that every service uses to choose between "retry" and "dead-letter" (or "503" and
//! "4xx"). Every crate names this one [`ErrorKind`] (re-exported by `eventing` and `cdc-relay`);
//! each error type decides its kind from its own variants — from SQLSTATEs, HTTP status codes,
//! transport errors — never from message text.

use thiserror::Error;

/// Whether retrying the same operation later can succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The environment failed (registry, broker or database unreachable, timeouts): retry.
    Transient,
    /// The input itself is bad (garbage bytes, unknown schema, invalid value): retrying the same
    /// bytes can never succeed, so the record goes to a dead-letter topic.
    Permanent,
}

/// Everything that can go wrong while framing, encoding or decoding an event.
#[derive(Debug, Error)]
pub enum CodecError {
    #[error("empty record value: expected a Confluent-framed Avro payload")]
    EmptyPayload,
    #[error("wrong magic byte {found:#04x}: expected 0x00 (Confluent wire format)")]
    WrongMagicByte { found: u8 },
    #[error("payload of {len} bytes is too short for the 5-byte Confluent header")]
    TruncatedHeader { len: usize },
    #[error("schema id {id} is unknown to the schema registry")]
    UnknownSchemaId { id: u32 },
    /// The registry could not be asked or could not answer now: transport failure (refused,
    /// timed out, reset), HTTP 408/429/5xx, 401/403 (credentials are the environment's fault,
    /// not the record's), an unreadable answer; or a look-up that failed within the last
    /// moments (the codec fails fast instead of queueing on a registry that is down).
    #[error("schema registry unavailable{}: {detail}", http_status(*status))]
    RegistryUnavailable { status: Option<u16>, detail: String },
    /// The registry answered that the request itself is wrong (HTTP 4xx other than the above,
    /// e.g. 409 incompatible schema, 422 invalid schema): sending it again fails again.
    #[error("schema registry rejected the request{}: {detail}", http_status(Some(*status)))]
    RegistryRejected { status: u16, detail: String },
    /// The registry settings are unusable (e.g. the URL does not parse).
    #[error("schema registry settings: {0}")]
    RegistrySettings(String),
    /// Encoding without a network call was asked for a schema whose id is not known yet: the
    /// caller must register it first (outside any transaction). Retrying after that succeeds.
    #[error("the writer schema of {subject} is not registered yet (register it before encoding)")]
    SchemaNotRegistered { subject: String },
    #[error("schema {id} is not valid Avro: {reason}")]
    InvalidWriterSchema { id: u32, reason: String },
    #[error("record was written as {writer} but {expected} was expected")]
    UnexpectedRecordType { writer: String, expected: String },
    #[error("writer schema {writer} cannot be read as {reader}: {reason}")]
    IncompatibleSchema {
        writer: String,
        reader: String,
        reason: String,
    },
    #[error("Avro payload could not be decoded: {0}")]
    InvalidPayload(String),
    #[error("field `{field}` is invalid: {reason}")]
    InvalidField { field: &'static str, reason: String },
    #[error("event could not be encoded: {0}")]
    Encode(String),
}

impl CodecError {
    /// Transient errors are worth a retry; permanent ones are poison for this record.
    pub fn kind(&self) -> ErrorKind {
        match self {
            CodecError::RegistryUnavailable { .. } | CodecError::SchemaNotRegistered { .. } => {
                ErrorKind::Transient
            }
            CodecError::EmptyPayload
            | CodecError::WrongMagicByte { .. }
            | CodecError::TruncatedHeader { .. }
            | CodecError::UnknownSchemaId { .. }
            | CodecError::RegistryRejected { .. }
            | CodecError::RegistrySettings(_)
            | CodecError::InvalidWriterSchema { .. }
            | CodecError::UnexpectedRecordType { .. }
            | CodecError::IncompatibleSchema { .. }
            | CodecError::InvalidPayload(_)
            | CodecError::InvalidField { .. }
            | CodecError::Encode(_) => ErrorKind::Permanent,
        }
    }

    /// Short stable name, used in metrics labels and dead-letter headers.
    pub fn code(&self) -> &'static str {
        match self {
            CodecError::EmptyPayload => "empty_payload",
            CodecError::WrongMagicByte { .. } => "wrong_magic_byte",
            CodecError::TruncatedHeader { .. } => "truncated_header",
            CodecError::UnknownSchemaId { .. } => "unknown_schema_id",
            CodecError::RegistryUnavailable { .. } => "registry_unavailable",
            CodecError::RegistryRejected { .. } => "registry_rejected",
            CodecError::RegistrySettings(_) => "registry_settings",
            CodecError::SchemaNotRegistered { .. } => "schema_not_registered",
            CodecError::InvalidWriterSchema { .. } => "invalid_writer_schema",
            CodecError::UnexpectedRecordType { .. } => "unexpected_record_type",
            CodecError::IncompatibleSchema { .. } => "incompatible_schema",
            CodecError::InvalidPayload(_) => "invalid_payload",
            CodecError::InvalidField { .. } => "invalid_field",
            CodecError::Encode(_) => "encode_failed",
        }
    }
}

/// ` (HTTP 503)` when there is a status, nothing otherwise.
fn http_status(status: Option<u16>) -> String {
    status.map(|s| format!(" (HTTP {s})")).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_outages_and_missing_registrations_are_transient() {
        let unavailable = CodecError::RegistryUnavailable {
            status: Some(503),
            detail: "down".into(),
        };
        assert_eq!(unavailable.kind(), ErrorKind::Transient);
        assert_eq!(
            unavailable.to_string(),
            "schema registry unavailable (HTTP 503): down"
        );
        let refused = CodecError::RegistryUnavailable {
            status: None,
            detail: "connection refused".into(),
        };
        assert_eq!(refused.kind(), ErrorKind::Transient);
        assert_eq!(
            refused.to_string(),
            "schema registry unavailable: connection refused"
        );
        let unregistered = CodecError::SchemaNotRegistered {
            subject: "x.Y".into(),
        };
        assert_eq!(unregistered.kind(), ErrorKind::Transient);
        assert_eq!(unregistered.code(), "schema_not_registered");
    }

    #[test]
    fn rejections_and_bad_bytes_are_permanent() {
        let rejected = CodecError::RegistryRejected {
            status: 409,
            detail: "incompatible".into(),
        };
        assert_eq!(rejected.kind(), ErrorKind::Permanent);
        assert_eq!(rejected.code(), "registry_rejected");
        assert_eq!(
            CodecError::UnknownSchemaId { id: 7 }.kind(),
            ErrorKind::Permanent
        );
        assert_eq!(CodecError::EmptyPayload.kind(), ErrorKind::Permanent);
        assert_eq!(
            CodecError::RegistrySettings("bad url".into()).kind(),
            ErrorKind::Permanent
        );
    }
}
