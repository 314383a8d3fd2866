//! Typed access to the fields of a resolved Avro record, with errors that name the field.

use crate::error::CodecError;
use apache_avro::types::Value;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use std::collections::HashMap;
use uuid::Uuid;

/// The fields of one record, taken out by name.
pub(crate) struct RecordFields(HashMap<String, Value>);

fn wrong(field: &'static str, expected: &str, got: &Value) -> CodecError {
    CodecError::InvalidField {
        field,
        reason: format!("expected {expected}, got {got:?}"),
    }
}

impl RecordFields {
    pub(crate) fn new(value: Value) -> Result<Self, CodecError> {
        match value {
            Value::Record(fields) => Ok(Self(fields.into_iter().collect())),
            other => Err(CodecError::InvalidPayload(format!(
                "expected a record, got {other:?}"
            ))),
        }
    }

    fn take(&mut self, field: &'static str) -> Result<Value, CodecError> {
        self.0.remove(field).ok_or(CodecError::InvalidField {
            field,
            reason: "missing".into(),
        })
    }

    pub(crate) fn uuid(&mut self, field: &'static str) -> Result<Uuid, CodecError> {
        match self.take(field)? {
            Value::Uuid(u) => Ok(u),
            Value::String(s) => Uuid::parse_str(&s).map_err(|e| CodecError::InvalidField {
                field,
                reason: e.to_string(),
            }),
            other => Err(wrong(field, "uuid", &other)),
        }
    }

    pub(crate) fn optional_uuid(
        &mut self,
        field: &'static str,
    ) -> Result<Option<Uuid>, CodecError> {
        match self.take(field)? {
            Value::Union(_, inner) => match *inner {
                Value::Null => Ok(None),
                Value::Uuid(u) => Ok(Some(u)),
                other => Err(wrong(field, "null or uuid", &other)),
            },
            Value::Null => Ok(None),
            Value::Uuid(u) => Ok(Some(u)),
            other => Err(wrong(field, "null or uuid", &other)),
        }
    }

    pub(crate) fn string(&mut self, field: &'static str) -> Result<String, CodecError> {
        match self.take(field)? {
            Value::String(s) => Ok(s),
            other => Err(wrong(field, "string", &other)),
        }
    }

    pub(crate) fn int(&mut self, field: &'static str) -> Result<i32, CodecError> {
        match self.take(field)? {
            Value::Int(i) => Ok(i),
            other => Err(wrong(field, "int", &other)),
        }
    }

    pub(crate) fn timestamp(&mut self, field: &'static str) -> Result<DateTime<Utc>, CodecError> {
        match self.take(field)? {
            Value::TimestampMillis(ms) | Value::Long(ms) => {
                super::logical_types::millis_to_datetime(field, ms)
            }
            other => Err(wrong(field, "timestamp-millis", &other)),
        }
    }

    pub(crate) fn money(&mut self, field: &'static str) -> Result<Decimal, CodecError> {
        match self.take(field)? {
            Value::Decimal(d) => super::logical_types::money_from_avro(field, &d),
            other => Err(wrong(field, "decimal", &other)),
        }
    }

    pub(crate) fn enum_symbol(&mut self, field: &'static str) -> Result<String, CodecError> {
        match self.take(field)? {
            Value::Enum(_, symbol) => Ok(symbol),
            other => Err(wrong(field, "enum", &other)),
        }
    }

    pub(crate) fn array(&mut self, field: &'static str) -> Result<Vec<Value>, CodecError> {
        match self.take(field)? {
            Value::Array(items) => Ok(items),
            other => Err(wrong(field, "array", &other)),
        }
    }
}

pub(crate) fn millis(at: DateTime<Utc>) -> Value {
    Value::TimestampMillis(at.timestamp_millis())
}
