//! The OpenAPI schemas of what `POST /orders` accepts, written out where utoipa's derive cannot
//! say it: the active ISO 4217 codes, and a unit price's pattern, whose decimals depend on the
//! order's currency. Built from the domain's own constants and currency table, so the document
//! states exactly the limits the server enforces (a test sends the document's own boundaries).
//!
//! The request body is `oneOf` one object schema per minor unit (0, 2, 3, 4 decimal places):
//! each lists its currencies and the matching price pattern. Text fields are 1–64 characters,
//! not blank and without control characters (Rust's `char::is_control` and `str::trim`,
//! spelled out as regex classes); a price is greater than 0, at most 1000000, without sign,
//! exponent or leading zeros, at most 40 characters, with no non-zero digit after the
//! currency's decimal places (zeros after them are accepted: `"1.000"` in EUR is 1.00).

use crate::domain::values::{
    MAX_ITEMS, MAX_PRICE_CHARS, MAX_QUANTITY, MAX_TEXT_CHARS, MAX_UNIT_PRICE, active_currency_codes,
};
use serde_json::json;
use std::collections::BTreeMap;
use utoipa::openapi::schema::{
    AdditionalProperties, ArrayBuilder, ObjectBuilder, OneOfBuilder, Type,
};
use utoipa::openapi::{RefOr, Schema};

use super::dto::CreateOrderRequest;

/// Characters Rust's `char::is_control` refuses (Unicode category Cc).
const CONTROL: &str = r"\u0000-\u001f\u007f-\u009f";
/// Characters `str::trim` removes (Unicode White_Space), control ones included.
const WHITE_SPACE: &str =
    r"\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000";

/// A customer id or SKU: not blank, no control character (the length is `maxLength`).
pub fn text_pattern() -> String {
    format!("^[^{CONTROL}]*[^{WHITE_SPACE}][^{CONTROL}]*$")
}

/// A unit price with `minor_unit` decimal places: (0, [`MAX_UNIT_PRICE`]], canonical digits,
/// zeros only after the minor unit.
pub fn price_pattern(minor_unit: u32) -> String {
    let max = MAX_UNIT_PRICE.to_string();
    let max_digits = max.len();
    // 1 .. 10^(n-1) - 1 with the point's digits; the maximum itself with zeros only.
    let mut alternatives =
        vec![format!("[1-9][0-9]{{0,{}}}", max_digits - 2) + &fraction(minor_unit)];
    alternatives.push(format!(r"{max}(\.0+)?"));
    if minor_unit > 0 {
        // 0.x: a non-zero digit among the first `minor_unit` decimals.
        let small: Vec<String> = (0..minor_unit)
            .map(|zeros| {
                let rest = minor_unit - zeros - 1;
                let tail = if rest == 0 {
                    String::new()
                } else {
                    format!("[0-9]{{0,{rest}}}")
                };
                format!("{}[1-9]{tail}", "0".repeat(zeros as usize))
            })
            .collect();
        alternatives.push(format!(r"0\.({})0*", small.join("|")));
    }
    format!("^({})$", alternatives.join("|"))
}

fn fraction(minor_unit: u32) -> String {
    if minor_unit == 0 {
        r"(\.0+)?".to_string()
    } else {
        format!(r"(\.[0-9]{{1,{minor_unit}}}0*)?")
    }
}

fn text_field(description: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(MAX_TEXT_CHARS))
        .pattern(Some(text_pattern()))
        .description(Some(description))
}

/// The order schema for the currencies with `minor_unit` decimal places.
fn order_in(minor_unit: u32, codes: &[&'static str]) -> Schema {
    let item = ObjectBuilder::new()
        .schema_type(Type::Object)
        .property(
            "sku",
            text_field("Stock keeping unit: 1–64 characters, not blank, no control characters."),
        )
        .required("sku")
        .property(
            "quantity",
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(1))
                .maximum(Some(MAX_QUANTITY))
                .description(Some("Units: 1–10000.")),
        )
        .required("quantity")
        .property(
            "unit_price",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .max_length(Some(MAX_PRICE_CHARS))
                .pattern(Some(price_pattern(minor_unit)))
                .description(Some(format!(
                    "Price of one unit as a decimal string: greater than 0, at most {MAX_UNIT_PRICE}, \
                     at most {minor_unit} decimal places with non-zero digits (more zeros are fine), \
                     no sign, exponent or leading zeros, at most {MAX_PRICE_CHARS} characters. \
                     Never rounded."
                )))
                .examples([price_example(minor_unit)]),
        )
        .required("unit_price")
        .additional_properties(Some(AdditionalProperties::<Schema>::FreeForm(false)));
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .title(Some(format!(
            "Order in a currency with {minor_unit} decimal places"
        )))
        .property(
            "customer_id",
            text_field("The customer's id: 1–64 characters, not blank, no control characters."),
        )
        .required("customer_id")
        .property(
            "currency",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(codes.iter().copied()))
                .description(Some(format!(
                    "Active ISO 4217 code, upper case, of a currency with {minor_unit} decimal places."
                ))),
        )
        .required("currency")
        .property(
            "items",
            ArrayBuilder::new()
                .items(item)
                .min_items(Some(1))
                .max_items(Some(MAX_ITEMS))
                .description(Some("1–100 lines.")),
        )
        .required("items")
        .additional_properties(Some(AdditionalProperties::<Schema>::FreeForm(false)))
        .into()
}

fn price_example(minor_unit: u32) -> &'static str {
    match minor_unit {
        0 => "1500",
        2 => "19.99",
        3 => "1.250",
        _ => "0.5",
    }
}

/// The `POST /orders` body schema.
pub fn create_order_request_schema() -> RefOr<Schema> {
    let mut by_minor_unit: BTreeMap<u32, Vec<&'static str>> = BTreeMap::new();
    for currency in active_currency_codes() {
        by_minor_unit
            .entry(currency.minor_unit())
            .or_default()
            .push(currency.as_str());
    }
    let mut one_of = OneOfBuilder::new().description(Some(
        "An order. Which decimals a unit price may have depends on the currency \
         (ISO 4217 minor unit: JPY 0, EUR 2, KWD 3, CLF 4), hence one schema per minor unit. \
         Unknown fields are rejected.",
    ));
    for (minor_unit, codes) in &by_minor_unit {
        one_of = one_of.item(order_in(*minor_unit, codes));
    }
    one_of
        .examples([json!({"customer_id": "customer-42", "currency": "EUR",
            "items": [{"sku": "SKU-1", "quantity": 2, "unit_price": "19.99"}]})])
        .into()
}

impl utoipa::PartialSchema for CreateOrderRequest {
    fn schema() -> RefOr<Schema> {
        create_order_request_schema()
    }
}

impl utoipa::ToSchema for CreateOrderRequest {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Currency, CustomerId, UnitPrice};

    /// The server's verdict on a price text in a currency with `minor_unit` decimals.
    fn server_accepts(text: &str, code: &str) -> bool {
        UnitPrice::parse("p", text, Currency::parse("c", code).expect("active")).is_ok()
    }

    fn matches(pattern: &str, text: &str) -> bool {
        // The document's regexes are ECMA-262 subsets that Rust's regex crate reads the same.
        regex::Regex::new(pattern)
            .expect("a valid pattern")
            .is_match(text)
    }

    #[test]
    fn the_price_pattern_is_the_server_rule() {
        let samples = [
            "0",
            "0.0",
            "0.00",
            "0.000",
            "0.0000",
            "0.00000",
            "0.01",
            "0.001",
            "0.0001",
            "0.1",
            "0.5",
            "1",
            "1.",
            ".5",
            "01",
            "1.0",
            "1.00",
            "1.000",
            "1.0000000",
            "1.5",
            "1.50",
            "1.05",
            "1.005",
            "1.0005",
            "1.00050",
            "1.00005",
            "12.34",
            "999999",
            "999999.99",
            "999999.999",
            "1000000",
            "1000000.0",
            "1000000.00",
            "1000000.01",
            "1000001",
            "9999999",
            "10000000",
            "-1",
            "+1",
            "1e3",
            " 1",
            "1 ",
            "1,5",
            "١",
        ];
        for code in ["JPY", "EUR", "KWD", "CLF"] {
            let minor_unit = Currency::parse("c", code).expect("active").minor_unit();
            let pattern = price_pattern(minor_unit);
            for text in samples {
                assert_eq!(
                    matches(&pattern, text),
                    server_accepts(text, code),
                    "{code} {text:?} against {pattern}"
                );
            }
        }
    }

    #[test]
    fn every_active_currency_is_listed_once_with_its_price_pattern() {
        let schema = serde_json::to_value(create_order_request_schema()).expect("serializable");
        let mut listed = Vec::new();
        for branch in schema["oneOf"].as_array().expect("oneOf") {
            let pattern =
                branch["properties"]["items"]["items"]["properties"]["unit_price"]["pattern"]
                    .as_str()
                    .expect("a price pattern");
            for code in branch["properties"]["currency"]["enum"]
                .as_array()
                .expect("enum")
            {
                let currency = Currency::parse("c", code.as_str().expect("code")).expect("active");
                assert_eq!(pattern, price_pattern(currency.minor_unit()), "{code}");
                listed.push(currency.as_str());
            }
            assert_eq!(branch["additionalProperties"], false);
        }
        let mut active: Vec<&str> = active_currency_codes().map(|c| c.as_str()).collect();
        listed.sort_unstable();
        active.sort_unstable();
        assert_eq!(listed, active);
    }

    #[test]
    fn the_text_pattern_is_the_server_rule() {
        let pattern = text_pattern();
        for text in [
            "c",
            " c ",
            "é",
            "\u{a0}",
            " ",
            "\t",
            "a\u{7}b",
            "a\u{85}b",
            "\u{3000}x",
            "\u{200b}",
            "a\u{9f}",
            "\u{2028}",
        ] {
            assert_eq!(
                matches(&pattern, text),
                CustomerId::parse("c", text).is_ok(),
                "{text:?}"
            );
        }
    }
}
