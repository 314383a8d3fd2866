//! `OrderCreated` — contract `schemas/order_created.avsc`.

use super::logical_types::{money, money_to_avro, timestamp_millis, uuid_string};
use super::value_access::{RecordFields, millis};
use super::{AvroEvent, derived_schema};
use crate::error::CodecError;
use apache_avro::{AvroSchema, types::Value};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use uuid::Uuid;

/// A customer placed an order; payment is now expected.
#[derive(Debug, Clone, PartialEq, AvroSchema)]
#[avro(
    namespace = "orderpipeline.events",
    doc = "A customer placed an order; payment is now expected. Emitted once per order by the order service (aggregatetype 'order')."
)]
pub struct OrderCreated {
    #[avro(
        with = uuid_string,
        doc = "Unique id of this event (also the outbox row id and the Kafka header 'id'); consumers de-duplicate on it."
    )]
    pub event_id: Uuid,
    #[avro(
        with = timestamp_millis,
        doc = "When the order was placed, UTC milliseconds since the Unix epoch."
    )]
    pub occurred_at: DateTime<Utc>,
    #[avro(
        with = uuid_string,
        doc = "Id of the order; also the Kafka record key, so all events of one order keep their order."
    )]
    pub order_id: Uuid,
    #[avro(doc = "Id of the customer who placed the order, as given by the client.")]
    pub customer_id: String,
    #[avro(
        with = money,
        doc = "Sum of quantity x unit_price over all items, in currency units (not minor units)."
    )]
    pub total_amount: Decimal,
    #[avro(doc = "ISO 4217 alphabetic currency code, upper case (e.g. EUR).")]
    pub currency: String,
    #[avro(doc = "The ordered lines, in the order the client sent them; at least one.")]
    pub items: Vec<LineItem>,
}

/// One line of an order.
#[derive(Debug, Clone, PartialEq, AvroSchema)]
#[avro(namespace = "orderpipeline.events", doc = "One line of an order.")]
pub struct LineItem {
    #[avro(doc = "Stock keeping unit of the product.")]
    pub sku: String,
    #[avro(doc = "How many units were ordered; at least 1.")]
    pub quantity: i32,
    #[avro(
        with = money,
        doc = "Price of one unit in the order's currency, in currency units."
    )]
    pub unit_price: Decimal,
}

impl LineItem {
    fn to_avro_value(&self) -> Result<Value, CodecError> {
        Ok(Value::Record(vec![
            ("sku".into(), Value::String(self.sku.clone())),
            ("quantity".into(), Value::Int(self.quantity)),
            (
                "unit_price".into(),
                Value::Decimal(money_to_avro("items.unit_price", self.unit_price)?),
            ),
        ]))
    }

    fn from_avro_value(value: Value) -> Result<Self, CodecError> {
        let mut f = RecordFields::new(value)?;
        Ok(Self {
            sku: f.string("sku")?,
            quantity: f.int("quantity")?,
            unit_price: f.money("unit_price")?,
        })
    }
}

impl OrderCreated {
    fn try_to_avro_value(&self) -> Result<Value, CodecError> {
        let items = self
            .items
            .iter()
            .map(LineItem::to_avro_value)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Value::Record(vec![
            ("event_id".into(), Value::Uuid(self.event_id)),
            ("occurred_at".into(), millis(self.occurred_at)),
            ("order_id".into(), Value::Uuid(self.order_id)),
            (
                "customer_id".into(),
                Value::String(self.customer_id.clone()),
            ),
            (
                "total_amount".into(),
                Value::Decimal(money_to_avro("total_amount", self.total_amount)?),
            ),
            ("currency".into(), Value::String(self.currency.clone())),
            ("items".into(), Value::Array(items)),
        ]))
    }
}

impl AvroEvent for OrderCreated {
    const FULL_NAME: &'static str = "orderpipeline.events.OrderCreated";
    const SCHEMA_TEXT: &'static str = include_str!("../../schemas/order_created.avsc");
    derived_schema!(OrderCreated);

    fn to_avro_value(&self) -> Result<Value, CodecError> {
        self.try_to_avro_value()
    }

    fn from_avro_value(value: Value) -> Result<Self, CodecError> {
        let mut f = RecordFields::new(value)?;
        Ok(Self {
            event_id: f.uuid("event_id")?,
            occurred_at: f.timestamp("occurred_at")?,
            order_id: f.uuid("order_id")?,
            customer_id: f.string("customer_id")?,
            total_amount: f.money("total_amount")?,
            currency: f.string("currency")?,
            items: f
                .array("items")?
                .into_iter()
                .map(LineItem::from_avro_value)
                .collect::<Result<_, _>>()?,
        })
    }
}
