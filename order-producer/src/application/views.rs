//! Read models returned by queries (not the aggregate: they carry history and timestamps).

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use uuid::Uuid;

/// An order as `GET /orders/{id}` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderView {
    pub id: Uuid,
    pub customer_id: String,
    pub currency: String,
    pub total_amount: Decimal,
    pub status: String,
    pub payment_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub items: Vec<OrderItemView>,
    pub status_history: Vec<StatusHistoryEntry>,
}

/// One order line.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderItemView {
    pub sku: String,
    pub quantity: i32,
    pub unit_price: Decimal,
    pub line_total: Decimal,
}

/// One status transition; the first entry (`from_status: None`) is the creation.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusHistoryEntry {
    pub from_status: Option<String>,
    pub to_status: String,
    pub reason: Option<String>,
    pub event_id: Option<Uuid>,
    pub occurred_at: DateTime<Utc>,
}
