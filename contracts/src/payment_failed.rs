//! `PaymentFailed` and `FailureReason` — contract `schemas/payment_failed.avsc`.

use super::logical_types::{
    money, money_to_avro, optional_uuid_string, timestamp_millis, uuid_string,
};
use super::value_access::{RecordFields, millis};
use super::{AvroEvent, derived_schema};
use crate::error::CodecError;
use apache_avro::{AvroSchema, types::Value};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Why a payment failed. Readers meeting a symbol they do not know read `Unknown`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, AvroSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[avro(
    namespace = "orderpipeline.events",
    doc = "Why the payment failed. Readers that meet a symbol they do not know read UNKNOWN."
)]
pub enum FailureReason {
    Declined,
    Expired,
    RetriesExhausted,
    InvalidEvent,
    #[default]
    Unknown,
}

impl FailureReason {
    const ALL: [FailureReason; 5] = [
        FailureReason::Declined,
        FailureReason::Expired,
        FailureReason::RetriesExhausted,
        FailureReason::InvalidEvent,
        FailureReason::Unknown,
    ];

    /// The Avro symbol.
    pub fn symbol(self) -> &'static str {
        match self {
            FailureReason::Declined => "DECLINED",
            FailureReason::Expired => "EXPIRED",
            FailureReason::RetriesExhausted => "RETRIES_EXHAUSTED",
            FailureReason::InvalidEvent => "INVALID_EVENT",
            FailureReason::Unknown => "UNKNOWN",
        }
    }

    /// The reason for an Avro symbol; unknown symbols read as `Unknown` (the enum default).
    pub fn from_symbol(symbol: &str) -> Self {
        Self::ALL
            .into_iter()
            .find(|r| r.symbol() == symbol)
            .unwrap_or(FailureReason::Unknown)
    }

    fn index(self) -> u32 {
        Self::ALL
            .iter()
            .position(|r| *r == self)
            .unwrap_or(Self::ALL.len() - 1) as u32
    }
}

/// An order could not be paid.
#[derive(Debug, Clone, PartialEq, AvroSchema)]
#[avro(
    namespace = "orderpipeline.events",
    doc = "An order could not be paid. Emitted by the payment processor (declined) or by the dead-letter handler (expired, retries exhausted, invalid event)."
)]
pub struct PaymentFailed {
    #[avro(
        with = uuid_string,
        doc = "Unique id of this event (also the outbox row id and the Kafka header 'id'); consumers de-duplicate on it."
    )]
    pub event_id: Uuid,
    #[avro(
        with = timestamp_millis,
        doc = "When the failure was decided, UTC milliseconds since the Unix epoch."
    )]
    pub occurred_at: DateTime<Utc>,
    #[avro(
        with = optional_uuid_string,
        default = "null",
        doc = "Id of the payment attempt, or null when the failure happened before a payment existed (e.g. an invalid event)."
    )]
    pub payment_id: Option<Uuid>,
    #[avro(
        with = uuid_string,
        doc = "Id of the order that could not be paid; also the Kafka record key."
    )]
    pub order_id: Uuid,
    #[avro(doc = "Id of the customer of the order.")]
    pub customer_id: String,
    #[avro(with = money, doc = "Amount that was to be paid, in currency units.")]
    pub amount: Decimal,
    #[avro(doc = "ISO 4217 alphabetic currency code, upper case.")]
    pub currency: String,
    #[avro(doc = "Machine-readable failure category.")]
    pub reason: FailureReason,
    #[avro(
        doc = "Human-readable explanation (gateway message, last error); never contains card data or secrets."
    )]
    pub detail: String,
}

impl AvroEvent for PaymentFailed {
    const FULL_NAME: &'static str = "orderpipeline.events.PaymentFailed";
    const SCHEMA_TEXT: &'static str = include_str!("../../schemas/payment_failed.avsc");
    derived_schema!(PaymentFailed);

    fn to_avro_value(&self) -> Result<Value, CodecError> {
        let payment_id = match self.payment_id {
            None => Value::Union(0, Box::new(Value::Null)),
            Some(id) => Value::Union(1, Box::new(Value::Uuid(id))),
        };
        Ok(Value::Record(vec![
            ("event_id".into(), Value::Uuid(self.event_id)),
            ("occurred_at".into(), millis(self.occurred_at)),
            ("payment_id".into(), payment_id),
            ("order_id".into(), Value::Uuid(self.order_id)),
            (
                "customer_id".into(),
                Value::String(self.customer_id.clone()),
            ),
            (
                "amount".into(),
                Value::Decimal(money_to_avro("amount", self.amount)?),
            ),
            ("currency".into(), Value::String(self.currency.clone())),
            (
                "reason".into(),
                Value::Enum(self.reason.index(), self.reason.symbol().to_string()),
            ),
            ("detail".into(), Value::String(self.detail.clone())),
        ]))
    }

    fn from_avro_value(value: Value) -> Result<Self, CodecError> {
        let mut f = RecordFields::new(value)?;
        Ok(Self {
            event_id: f.uuid("event_id")?,
            occurred_at: f.timestamp("occurred_at")?,
            payment_id: f.optional_uuid("payment_id")?,
            order_id: f.uuid("order_id")?,
            customer_id: f.string("customer_id")?,
            amount: f.money("amount")?,
            currency: f.string("currency")?,
            reason: FailureReason::from_symbol(&f.enum_symbol("reason")?),
            detail: f.string("detail")?,
        })
    }
}
