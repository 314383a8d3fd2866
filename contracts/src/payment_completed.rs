//! `PaymentCompleted` — contract `schemas/payment_completed.avsc`.

use super::logical_types::{money, money_to_avro, timestamp_millis, uuid_string};
use super::value_access::{RecordFields, millis};
use super::{AvroEvent, derived_schema};
use crate::error::CodecError;
use apache_avro::{AvroSchema, types::Value};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use uuid::Uuid;

/// The payment gateway captured the amount of an order.
#[derive(Debug, Clone, PartialEq, AvroSchema)]
#[avro(
    namespace = "orderpipeline.events",
    doc = "The payment gateway captured the amount of an order. Emitted by the payment processor (aggregatetype 'payment')."
)]
pub struct PaymentCompleted {
    #[avro(
        with = uuid_string,
        doc = "Unique id of this event (also the outbox row id and the Kafka header 'id'); consumers de-duplicate on it."
    )]
    pub event_id: Uuid,
    #[avro(
        with = timestamp_millis,
        doc = "When the payment completed, UTC milliseconds since the Unix epoch."
    )]
    pub occurred_at: DateTime<Utc>,
    #[avro(with = uuid_string, doc = "Id of the payment in the payment service.")]
    pub payment_id: Uuid,
    #[avro(
        with = uuid_string,
        doc = "Id of the order that was paid; also the Kafka record key."
    )]
    pub order_id: Uuid,
    #[avro(doc = "Id of the customer who paid.")]
    pub customer_id: String,
    #[avro(with = money, doc = "Amount captured, in currency units.")]
    pub amount: Decimal,
    #[avro(doc = "ISO 4217 alphabetic currency code, upper case.")]
    pub currency: String,
    #[avro(doc = "The gateway's reference for the capture, for reconciliation.")]
    pub gateway_reference: String,
}

impl AvroEvent for PaymentCompleted {
    const FULL_NAME: &'static str = "orderpipeline.events.PaymentCompleted";
    const SCHEMA_TEXT: &'static str = include_str!("../../schemas/payment_completed.avsc");
    derived_schema!(PaymentCompleted);

    fn to_avro_value(&self) -> Result<Value, CodecError> {
        Ok(Value::Record(vec![
            ("event_id".into(), Value::Uuid(self.event_id)),
            ("occurred_at".into(), millis(self.occurred_at)),
            ("payment_id".into(), Value::Uuid(self.payment_id)),
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
                "gateway_reference".into(),
                Value::String(self.gateway_reference.clone()),
            ),
        ]))
    }

    fn from_avro_value(value: Value) -> Result<Self, CodecError> {
        let mut f = RecordFields::new(value)?;
        Ok(Self {
            event_id: f.uuid("event_id")?,
            occurred_at: f.timestamp("occurred_at")?,
            payment_id: f.uuid("payment_id")?,
            order_id: f.uuid("order_id")?,
            customer_id: f.string("customer_id")?,
            amount: f.money("amount")?,
            currency: f.string("currency")?,
            gateway_reference: f.string("gateway_reference")?,
        })
    }
}
