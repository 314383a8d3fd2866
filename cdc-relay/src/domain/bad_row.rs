//! A row the relay cannot route becomes an error record for the error topic (`cdc.errors`): the
//! raw row as JSON plus where it came from and why it failed, so nothing is dropped silently.

use serde_json::{Map, Value, json};

use crate::domain::lsn::Lsn;
use crate::domain::outbox_routing::OutboxRecord;

/// Header carrying the error code (e.g. `null_payload`).
pub const ERROR_CODE_HEADER: &str = "error.code";
/// Header carrying the LSN of the row's WAL record.
pub const LSN_HEADER: &str = "lsn";

/// What is known about a row that could not be routed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRow {
    pub lsn: Lsn,
    /// `schema.table`.
    pub table: String,
    /// Stable error code (`RoutingError::code` / `RowError::code`).
    pub code: &'static str,
    pub message: String,
    /// The row's columns in table order, text values (lossy UTF-8), `None` for NULL.
    pub columns: Vec<(String, Option<String>)>,
}

/// The error-topic record for `bad`: JSON payload
/// `{"lsn", "table", "error_code", "error_message", "row": {column: value-or-null}}`, headers
/// `error.code` and `lsn`, no key.
pub fn bad_row_to_record(bad: &BadRow, error_topic: &str) -> OutboxRecord {
    let row: Map<String, Value> = bad
        .columns
        .iter()
        .map(|(name, value)| {
            (
                name.clone(),
                value.clone().map_or(Value::Null, Value::String),
            )
        })
        .collect();
    let payload = json!({
        "lsn": bad.lsn.to_string(),
        "table": bad.table,
        "error_code": bad.code,
        "error_message": bad.message,
        "row": row,
    });
    OutboxRecord {
        topic: error_topic.to_owned(),
        key: None,
        payload: payload.to_string().into_bytes(),
        headers: vec![
            (ERROR_CODE_HEADER.to_owned(), bad.code.as_bytes().to_vec()),
            (LSN_HEADER.to_owned(), bad.lsn.to_string().into_bytes()),
        ],
        event_id: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_row_record_carries_lsn_table_code_and_raw_row() {
        let bad = BadRow {
            lsn: Lsn(0x1_0000_0010),
            table: "public.outbox".into(),
            code: "null_payload",
            message: "payload column \"payload\" is NULL".into(),
            columns: vec![("id".into(), Some("e-1".into())), ("payload".into(), None)],
        };
        let record = bad_row_to_record(&bad, "cdc.errors");
        assert_eq!(record.topic, "cdc.errors");
        assert_eq!(record.key, None);
        assert_eq!(
            record.headers,
            vec![
                ("error.code".to_owned(), b"null_payload".to_vec()),
                ("lsn".to_owned(), b"1/10".to_vec()),
            ]
        );
        let json: Value = serde_json::from_slice(&record.payload).expect("payload is JSON");
        assert_eq!(json["lsn"], "1/10");
        assert_eq!(json["table"], "public.outbox");
        assert_eq!(json["error_code"], "null_payload");
        assert_eq!(json["row"]["id"], "e-1");
        assert_eq!(json["row"]["payload"], Value::Null);
    }
}
