//! What every consumer handler sees and returns: the owned [`ConsumedRecord`] and the typed
//! [`HandlerError`] (transient / permanent, plus a typed dead-letter reason). The runtime that
//! drives handlers is [`super::keyed`].

use super::keyed::DeadLetterReason;
use crate::error::{CodecError, ErrorKind};
use rdkafka::Message;
use rdkafka::message::{BorrowedMessage, Headers};

/// A record as the handler sees it (owned, so handlers can hold it across awaits).
#[derive(Debug, Clone, PartialEq)]
pub struct ConsumedRecord {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub payload: Option<Vec<u8>>,
    pub headers: Vec<(String, Vec<u8>)>,
    pub timestamp_ms: Option<i64>,
}

impl ConsumedRecord {
    /// Copy a polled message (topic, position, key, value, headers, timestamp).
    pub fn from_message(message: &BorrowedMessage<'_>) -> Self {
        let headers = message
            .headers()
            .map(|hs| {
                hs.iter()
                    .map(|h| (h.key.to_string(), h.value.unwrap_or_default().to_vec()))
                    .collect()
            })
            .unwrap_or_default();
        Self {
            topic: message.topic().to_string(),
            partition: message.partition(),
            offset: message.offset(),
            key: message.key().map(<[u8]>::to_vec),
            payload: message.payload().map(<[u8]>::to_vec),
            headers,
            timestamp_ms: message.timestamp().to_millis(),
        }
    }

    /// The value of the first header named `key`.
    pub fn header(&self, key: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_slice())
    }
}

/// Why a handler could not process a record, and whether a retry can help.
#[derive(Debug, thiserror::Error)]
#[error("{code}: {message}")]
pub struct HandlerError {
    pub kind: ErrorKind,
    pub code: &'static str,
    pub message: String,
    /// Typed dead-letter reason of a permanent failure (`None`: `invalid_event`). Never derived
    /// from the message text.
    pub reason: Option<DeadLetterReason>,
}

impl HandlerError {
    /// A later attempt can succeed (retry tier, or retry in place).
    pub fn transient(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::Transient,
            code,
            message: message.into(),
            reason: None,
        }
    }
    /// The record can never be processed: dead-letter it now, reason `invalid_event`.
    pub fn permanent(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::Permanent,
            code,
            message: message.into(),
            reason: None,
        }
    }
    /// The record is too old to act on: dead-letter it now, reason `expired`.
    pub fn expired(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            reason: Some(DeadLetterReason::Expired),
            ..Self::permanent(code, message)
        }
    }
    /// The dead-letter reason of this failure if it is permanent.
    pub fn dead_letter_reason(&self) -> DeadLetterReason {
        self.reason.unwrap_or(DeadLetterReason::InvalidEvent)
    }
}

impl From<CodecError> for HandlerError {
    fn from(e: CodecError) -> Self {
        Self {
            kind: e.kind(),
            code: e.code(),
            message: e.to_string(),
            reason: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codec_errors_keep_their_classification() {
        let permanent: HandlerError = CodecError::EmptyPayload.into();
        assert_eq!(permanent.kind, ErrorKind::Permanent);
        let transient: HandlerError = CodecError::RegistryUnavailable {
            status: Some(503),
            detail: "down".into(),
        }
        .into();
        assert_eq!(transient.kind, ErrorKind::Transient);
    }
}
