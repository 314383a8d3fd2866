//! Request and response bodies of the HTTP API, and the request → command conversion (which
//! applies the domain's value-object rules field by field).

use crate::application::{OrderView, PlaceOrderCommand, PlacedOrder};
use crate::domain::values::MAX_ITEMS;
use crate::domain::{Currency, CustomerId, FieldError, OrderLine, Quantity, Sku, UnitPrice};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// `POST /orders` body. Unknown fields are rejected. Its OpenAPI schema is written out in
/// [`super::schema`] (utoipa's derive cannot say that a price's decimals depend on the currency).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateOrderRequest {
    pub customer_id: String,
    pub currency: String,
    pub items: Vec<OrderItemRequest>,
}

/// One line of `POST /orders`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderItemRequest {
    pub sku: String,
    pub quantity: i64,
    pub unit_price: String,
}

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
                        currency,
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

/// Money as a decimal string with the currency's decimal places (ISO 4217 minor unit): EUR
/// `"21.00"`, JPY `"1500"`, KWD `"1.500"`. Never rounded: an amount with more decimals (none is
/// accepted, but the column holds 4) keeps them. A code no longer active gets 2.
pub fn money_string(amount: Decimal, currency: &str) -> String {
    let minor_unit = Currency::parse("currency", currency).map_or(2, |c| c.minor_unit());
    let mut normalized = amount.normalize();
    if normalized.scale() < minor_unit {
        normalized.rescale(minor_unit);
    }
    normalized.to_string()
}

/// `201 Created` body of `POST /orders` (and its idempotent replays).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CreateOrderResponse {
    pub order_id: Uuid,
    /// Always `PENDING_PAYMENT` for a new order.
    pub status: String,
    /// Sum of quantity × unit_price: a decimal string with the currency's decimal places
    /// (EUR `"39.98"`, JPY `"1500"`).
    #[schema(example = "39.98", pattern = r"^[0-9]+(\.[0-9]+)?$")]
    pub total_amount: String,
    /// ISO 4217 code.
    #[schema(example = "EUR")]
    pub currency: String,
    pub created_at: DateTime<Utc>,
}

impl From<&PlacedOrder> for CreateOrderResponse {
    fn from(placed: &PlacedOrder) -> Self {
        Self {
            order_id: placed.order_id,
            status: placed.status.clone(),
            total_amount: money_string(placed.total_amount, &placed.currency),
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
    /// ISO 4217 code.
    #[schema(example = "EUR")]
    pub currency: String,
    /// Sum of the line totals, with the currency's decimal places.
    #[schema(example = "39.98", pattern = r"^[0-9]+(\.[0-9]+)?$")]
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
    #[schema(minimum = 1, maximum = 10000)]
    pub quantity: i32,
    /// With the currency's decimal places.
    #[schema(example = "19.99", pattern = r"^[0-9]+(\.[0-9]+)?$")]
    pub unit_price: String,
    /// quantity × unit_price, with the currency's decimal places.
    #[schema(example = "39.98", pattern = r"^[0-9]+(\.[0-9]+)?$")]
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
        let currency = view.currency;
        let money = |amount: Decimal| money_string(amount, &currency);
        Self {
            order_id: view.id,
            customer_id: view.customer_id,
            total_amount: money(view.total_amount),
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
                    unit_price: money(item.unit_price),
                    line_total: money(item.line_total),
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
            currency,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn money_is_rendered_with_the_currency_decimals_and_never_rounded() {
        let s = |v: &str, c: &str| money_string(Decimal::from_str(v).unwrap(), c);
        assert_eq!(s("21", "EUR"), "21.00");
        assert_eq!(s("21.0000", "EUR"), "21.00");
        assert_eq!(s("1500.0000", "JPY"), "1500");
        assert_eq!(s("1.5", "KWD"), "1.500");
        assert_eq!(s("0.0001", "CLF"), "0.0001");
        assert_eq!(s("10.125", "EUR"), "10.125", "stored decimals are kept");
        assert_eq!(s("3", "DEM"), "3.00");
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
