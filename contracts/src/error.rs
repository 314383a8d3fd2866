//! The codec's typed errors and the workspace's one error classification (transient vs
//! permanent) that every consumer uses to choose between "retry" and "dead-letter".

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
    #[error("schema registry unavailable: {0}")]
    RegistryUnavailable(String),
    #[error("schema registry rejected the request: {0}")]
    RegistryRejected(String),
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
            CodecError::RegistryUnavailable(_) => ErrorKind::Transient,
            _ => ErrorKind::Permanent,
        }
    }

    /// Short stable name, used in metrics labels and dead-letter headers.
    pub fn code(&self) -> &'static str {
        match self {
            CodecError::EmptyPayload => "empty_payload",
            CodecError::WrongMagicByte { .. } => "wrong_magic_byte",
            CodecError::TruncatedHeader { .. } => "truncated_header",
            CodecError::UnknownSchemaId { .. } => "unknown_schema_id",
            CodecError::RegistryUnavailable(_) => "registry_unavailable",
            CodecError::RegistryRejected(_) => "registry_rejected",
            CodecError::InvalidWriterSchema { .. } => "invalid_writer_schema",
            CodecError::UnexpectedRecordType { .. } => "unexpected_record_type",
            CodecError::IncompatibleSchema { .. } => "incompatible_schema",
            CodecError::InvalidPayload(_) => "invalid_payload",
            CodecError::InvalidField { .. } => "invalid_field",
            CodecError::Encode(_) => "encode_failed",
        }
    }
}
