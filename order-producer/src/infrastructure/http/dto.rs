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
    /// JSON Schema's `integer` includes `2.0` and `2e0`, so the server reads them as 2 too
    /// ([`NumberText`], then [`json_integer`]).
    pub quantity: NumberText,
    pub unit_price: String,
}

/// A JSON value's text, as far as an integer field needs it: integers exactly as sent; other
/// numbers through `f64` (serde_json's reading without `arbitrary_precision`), written back as
/// an integer when integral (`2.0`, `20e-1` → `2`) and as the float otherwise (`1.5`); anything
/// else as a non-number (`"abc"`, `null`, `[…]`). Works with any deserializer, so the typed
/// replay that classifies a rejected body (`service_kit::http::parse_json_body`) reads it
/// too. Known limit: a fraction below `f64`'s precision (`1.0000000000000000001`) reads as
/// its nearest float (1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberText(String);

impl NumberText {
    pub fn new(text: impl Into<String>) -> Self {
        NumberText(text.into())
    }

    pub fn get(&self) -> &str {
        &self.0
    }
}

impl Serialize for NumberText {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0.parse::<i64>() {
            Ok(n) => serializer.serialize_i64(n),
            Err(_) => serializer.serialize_str(&self.0),
        }
    }
}

impl<'de> Deserialize<'de> for NumberText {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NumberTextVisitor)
    }
}

struct NumberTextVisitor;

impl<'de> serde::de::Visitor<'de> for NumberTextVisitor {
    type Value = NumberText;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_u64<E>(self, n: u64) -> Result<NumberText, E> {
        Ok(NumberText(n.to_string()))
    }
    fn visit_i64<E>(self, n: i64) -> Result<NumberText, E> {
        Ok(NumberText(n.to_string()))
    }
    fn visit_u128<E>(self, n: u128) -> Result<NumberText, E> {
        Ok(NumberText(n.to_string()))
    }
    fn visit_i128<E>(self, n: i128) -> Result<NumberText, E> {
        Ok(NumberText(n.to_string()))
    }
    fn visit_f64<E>(self, f: f64) -> Result<NumberText, E> {
        // Below 2^63 an integral float converts exactly; beyond, the digits saturate later.
        if f.is_finite() && f.fract() == 0.0 && f.abs() < 9.0e18 {
            #[allow(clippy::cast_possible_truncation)]
            let n = f as i64;
            Ok(NumberText(n.to_string()))
        } else {
            Ok(NumberText(format!("{f}")))
        }
    }
    fn visit_str<E>(self, text: &str) -> Result<NumberText, E> {
        Ok(NumberText(format!("{text:?}")))
    }
    fn visit_bool<E>(self, b: bool) -> Result<NumberText, E> {
        Ok(NumberText(b.to_string()))
    }
    fn visit_unit<E>(self) -> Result<NumberText, E> {
        Ok(NumberText("null".into()))
    }
    fn visit_none<E>(self) -> Result<NumberText, E> {
        Ok(NumberText("null".into()))
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<NumberText, A::Error> {
        while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
        Ok(NumberText("[…]".into()))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<NumberText, A::Error> {
        while map
            .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
            .is_some()
        {}
        Ok(NumberText("{…}".into()))
    }
}

/// The value of a JSON number text if it is an integer (`2`, `-2`, `2.0`, `2e0`, `20e-1`),
/// saturated to `i64`; `None` for a fraction (`1.5`, `1.0000000000000000001`) or a value that
/// is not a number. Exact: decided from the digits, not from a float. Pure.
pub fn json_integer(text: &str) -> Option<i64> {
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(at) => (&unsigned[..at], Some(&unsigned[at + 1..])),
        None => (unsigned, None),
    };
    let (integer, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits_only = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if integer.is_empty()
        || !digits_only(integer)
        || !digits_only(fraction)
        || (mantissa.contains('.') && fraction.is_empty())
    {
        return None;
    }
    let exponent: i64 = match exponent {
        None => 0,
        Some(e) => {
            let unsigned_exponent = e.trim_start_matches(['+', '-']);
            if unsigned_exponent.is_empty() || !digits_only(unsigned_exponent) {
                return None;
            }
            // Beyond i64: only the sign matters (huge, or a fraction unless the digits are 0).
            e.parse().unwrap_or(if e.starts_with('-') {
                i64::MIN / 2
            } else {
                i64::MAX / 2
            })
        }
    };
    let all = format!("{integer}{fraction}");
    let significant = all.trim_start_matches('0');
    let trimmed = significant.trim_end_matches('0');
    if trimmed.is_empty() {
        return Some(0);
    }
    let trailing_zeros = (significant.len() - trimmed.len()) as i64;
    let exponent = exponent - fraction.len() as i64 + trailing_zeros;
    if exponent < 0 {
        return None;
    }
    let magnitude = if trimmed.len() as i64 + exponent > 18 {
        i64::MAX
    } else {
        let exponent = u32::try_from(exponent).expect("at most 18 here");
        trimmed
            .parse::<i64>()
            .expect("at most 18 digits")
            .saturating_mul(10i64.pow(exponent))
    };
    Some(if negative { -magnitude } else { magnitude })
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
                    quantity: {
                        let field = format!("items[{i}].quantity");
                        let text = item.quantity.get();
                        let units = json_integer(text).ok_or_else(|| {
                            FieldError::new(
                                field.clone(),
                                "invalid_type",
                                format!(
                                    "must be an integer, got {}",
                                    text.chars().take(40).collect::<String>()
                                ),
                            )
                        })?;
                        Quantity::new(&field, units)?
                    },
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
    fn json_integers_are_decided_from_their_digits() {
        for (text, value) in [
            ("2", Some(2)),
            ("-2", Some(-2)),
            ("0", Some(0)),
            ("-0.0", Some(0)),
            ("2.0", Some(2)),
            ("2.000", Some(2)),
            ("2e0", Some(2)),
            ("2E+3", Some(2000)),
            ("20e-1", Some(2)),
            ("0.2e1", Some(2)),
            ("1e30", Some(i64::MAX)),
            ("-1e30", Some(-i64::MAX)),
            ("0e999999999999999999999", Some(0)),
            ("1e999999999999999999999", Some(i64::MAX)),
            ("1.5", None),
            ("1.0000000000000000001", None),
            ("2e-1", None),
            ("1e-999999999999999999999", None),
            ("\"2\"", None),
            ("true", None),
            ("null", None),
            ("[1]", None),
            ("{}", None),
        ] {
            assert_eq!(json_integer(text), value, "{text}");
        }
    }

    #[test]
    fn number_text_reads_integers_exactly_and_other_values_as_non_integers() {
        for (json, text) in [
            ("2", "2"),
            ("2.0", "2"),
            ("20e-1", "2"),
            ("-3", "-3"),
            ("1.5", "1.5"),
            ("\"7\"", "\"7\""),
            ("null", "null"),
            ("[1]", "[…]"),
        ] {
            let read: NumberText = serde_json::from_str(json).expect("any JSON value");
            assert_eq!(read.get(), text, "{json}");
            assert_eq!(
                json_integer(read.get()).is_some(),
                text.parse::<i64>().is_ok()
            );
        }
    }

    #[test]
    fn too_many_items_is_reported_before_item_errors() {
        let request = CreateOrderRequest {
            customer_id: "c".into(),
            currency: "EUR".into(),
            items: (0..=MAX_ITEMS)
                .map(|_| OrderItemRequest {
                    sku: String::new(),
                    quantity: NumberText::new("0"),
                    unit_price: "x".into(),
                })
                .collect(),
        };
        assert_eq!(request.into_command().unwrap_err().code, "too_many_items");
    }
}
