//! Request and response bodies of the HTTP API, and the request → command conversion (which
//! applies the domain's value-object rules field by field).

use crate::application::{OrderView, PlaceOrderCommand, PlacedOrder};
use crate::domain::values::{MAX_ITEMS, MAX_QUANTITY, MAX_TEXT_CHARS};
use crate::domain::{Currency, CustomerId, FieldError, OrderLine, Quantity, Sku, UnitPrice};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// `POST /orders` body. Unknown fields are rejected.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"customer_id": "customer-42", "currency": "EUR",
    "items": [{"sku": "SKU-1", "quantity": 2, "unit_price": "19.99"}]}))]
pub struct CreateOrderRequest {
    /// The customer's id: 1–64 characters.
    #[schema(min_length = 1, max_length = 64)]
    pub customer_id: String,
    /// Active ISO 4217 code, upper case (e.g. `EUR`).
    #[schema(min_length = 3, max_length = 3, example = "EUR")]
    pub currency: String,
    /// 1–100 lines.
    #[schema(min_items = 1, max_items = 100)]
    pub items: Vec<OrderItemRequest>,
}

/// One line of `POST /orders`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderItemRequest {
    /// Stock keeping unit: 1–64 characters.
    #[schema(min_length = 1, max_length = 64)]
    pub sku: String,
    /// Units: 1–10000.
    #[schema(minimum = 1, maximum = 10000)]
    pub quantity: i64,
    /// Price of one unit as a decimal string: > 0, ≤ 1000000, at most 4 decimal places.
    #[schema(example = "19.99", pattern = r"^\d+(\.\d{1,4})?$")]
    pub unit_price: String,
}

const _: () = assert!(MAX_TEXT_CHARS == 64 && MAX_ITEMS == 100 && MAX_QUANTITY == 10_000);

impl CreateOrderRequest {
    /// Validate every field (the first problem is reported, with its JSON path).
    pub fn into_command(self) -> Result<PlaceOrderCommand, FieldError> {
        let customer_id = CustomerId::parse("customer_id", &self.customer_id)?;
        let currency = Currency::parse("currency", &self.currency)?;
        if self.items.is_empty() {
            return Err(FieldError::new(
                "items",
                "empty",
                "must contain at least one item",
            ));
        }
        if self.items.len() > MAX_ITEMS {
            return Err(FieldError::new(
                "items",
                "too_many_items",
                format!(
                    "must contain at most {MAX_ITEMS} items, got {}",
                    self.items.len()
                ),
            ));
        }
        let lines = self
            .items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                Ok(OrderLine {
                    sku: Sku::parse(&format!("items[{i}].sku"), &item.sku)?,
                    quantity: Quantity::new(&format!("items[{i}].quantity"), item.quantity)?,
                    unit_price: UnitPrice::parse(
                        &format!("items[{i}].unit_price"),
                        &item.unit_price,
                    )?,
                })
            })
            .collect::<Result<Vec<_>, FieldError>>()?;
        Ok(PlaceOrderCommand {
            customer_id,
            currency,
            lines,
        })
    }
}

/// Money as a string with 2–4 decimals (`"21.00"`, `"0.0001"`).
pub fn money_string(amount: Decimal) -> String {
    let mut normalized = amount.round_dp(4).normalize();
    if normalized.scale() < 2 {
        normalized.rescale(2);
    }
    normalized.to_string()
}

/// `201 Created` body of `POST /orders` (and its idempotent replays).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CreateOrderResponse {
    pub order_id: Uuid,
    /// Always `PENDING_PAYMENT` for a new order.
    pub status: String,
    /// Sum of quantity × unit_price, decimal string.
    #[schema(example = "39.98")]
    pub total_amount: String,
    pub currency: String,
    pub created_at: DateTime<Utc>,
}

impl From<&PlacedOrder> for CreateOrderResponse {
    fn from(placed: &PlacedOrder) -> Self {
        Self {
            order_id: placed.order_id,
            status: placed.status.clone(),
            total_amount: money_string(placed.total_amount),
            currency: placed.currency.clone(),
            created_at: placed.created_at,
        }
    }
}

/// `GET /orders/{id}` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OrderResponse {
    pub order_id: Uuid,
    pub customer_id: String,
    pub currency: String,
    #[schema(example = "39.98")]
    pub total_amount: String,
    /// `PENDING_PAYMENT`, `PAID` or `PAYMENT_FAILED`.
    pub status: String,
    pub payment_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub items: Vec<OrderItemResponse>,
    /// Every status the order went through, oldest first.
    pub status_history: Vec<StatusHistoryResponse>,
}

/// One line of an order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OrderItemResponse {
    pub sku: String,
    pub quantity: i32,
    pub unit_price: String,
    pub line_total: String,
}

/// One status transition (`from_status` is null for the creation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StatusHistoryResponse {
    pub from_status: Option<String>,
    pub to_status: String,
    pub reason: Option<String>,
    /// The event that caused the transition (OrderCreated, PaymentCompleted, PaymentFailed).
    pub event_id: Option<Uuid>,
    pub occurred_at: DateTime<Utc>,
}

impl From<OrderView> for OrderResponse {
    fn from(view: OrderView) -> Self {
        Self {
            order_id: view.id,
            customer_id: view.customer_id,
            currency: view.currency,
            total_amount: money_string(view.total_amount),
            status: view.status,
            payment_id: view.payment_id,
            created_at: view.created_at,
            updated_at: view.updated_at,
            items: view
                .items
                .into_iter()
                .map(|item| OrderItemResponse {
                    sku: item.sku,
                    quantity: item.quantity,
                    unit_price: money_string(item.unit_price),
                    line_total: money_string(item.line_total),
                })
                .collect(),
            status_history: view
                .status_history
                .into_iter()
                .map(|entry| StatusHistoryResponse {
                    from_status: entry.from_status,
                    to_status: entry.to_status,
                    reason: entry.reason,
                    event_id: entry.event_id,
                    occurred_at: entry.occurred_at,
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn money_is_rendered_with_two_to_four_decimals() {
        let s = |v: &str| money_string(Decimal::from_str(v).unwrap());
        assert_eq!(s("21"), "21.00");
        assert_eq!(s("21.0000"), "21.00");
        assert_eq!(s("10.125"), "10.125");
        assert_eq!(s("0.0001"), "0.0001");
    }

    #[test]
    fn too_many_items_is_reported_before_item_errors() {
        let request = CreateOrderRequest {
            customer_id: "c".into(),
            currency: "EUR".into(),
            items: (0..=MAX_ITEMS)
                .map(|_| OrderItemRequest {
                    sku: String::new(),
                    quantity: 0,
                    unit_price: "x".into(),
                })
                .collect(),
        };
        assert_eq!(request.into_command().unwrap_err().code, "too_many_items");
    }
}
