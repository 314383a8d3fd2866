//! Validated value objects. Each constructor is the one place its rule lives; a violation is a
//! [`FieldError`] naming the field and the problem, so adapters can report it as is.

use rust_decimal::Decimal;
use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

/// Most characters in a customer id or SKU.
pub const MAX_TEXT_CHARS: usize = 64;
/// Most lines in one order.
pub const MAX_ITEMS: usize = 100;
/// Most units of one line.
pub const MAX_QUANTITY: i64 = 10_000;
/// Highest unit price, in currency units.
pub const MAX_UNIT_PRICE: Decimal = Decimal::from_parts(1_000_000, 0, 0, false, 0);
/// Most digits after the decimal point: the contracts carry money as decimal(19,4).
pub const MAX_PRICE_SCALE: u32 = contracts::MONEY_SCALE;

/// One invalid input field: where (`field`, a JSON path such as `items[2].quantity`), what kind of
/// problem (`code`, stable, machine-readable) and a sentence for humans (`message`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    pub field: String,
    pub code: &'static str,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            code,
            message: message.into(),
        }
    }
}

fn bounded_text(field: &str, value: &str) -> Result<String, FieldError> {
    let chars = value.chars().count();
    if value.trim().is_empty() {
        return Err(FieldError::new(
            field,
            "empty",
            "must not be empty or blank",
        ));
    }
    if chars > MAX_TEXT_CHARS {
        return Err(FieldError::new(
            field,
            "too_long",
            format!("must be at most {MAX_TEXT_CHARS} characters, got {chars}"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(FieldError::new(
            field,
            "invalid_characters",
            "must not contain control characters",
        ));
    }
    Ok(value.to_string())
}

/// The customer's id as the client gives it: 1–64 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CustomerId(String);

impl CustomerId {
    pub fn parse(field: &str, value: &str) -> Result<Self, FieldError> {
        bounded_text(field, value).map(Self)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A product's stock keeping unit: 1–64 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Sku(String);

impl Sku {
    pub fn parse(field: &str, value: &str) -> Result<Self, FieldError> {
        bounded_text(field, value).map(Self)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The embedded list of active ISO 4217 codes (whitespace separated, `#` comments).
const ISO_4217_ACTIVE: &str = include_str!("iso4217_active.txt");

fn active_currency_codes() -> &'static [&'static str] {
    static CODES: OnceLock<Vec<&'static str>> = OnceLock::new();
    CODES.get_or_init(|| {
        let mut codes: Vec<&'static str> = ISO_4217_ACTIVE
            .lines()
            .filter(|line| !line.trim_start().starts_with('#'))
            .flat_map(str::split_whitespace)
            .collect();
        codes.sort_unstable();
        codes
    })
}

/// An active ISO 4217 alphabetic currency code, upper case (e.g. `EUR`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency(&'static str);

impl Currency {
    /// Accepts exactly the three upper-case letters of an active code (`eur` is rejected, so the
    /// client learns the canonical spelling instead of us guessing).
    pub fn parse(field: &str, value: &str) -> Result<Self, FieldError> {
        let codes = active_currency_codes();
        match codes.binary_search(&value) {
            Ok(index) => Ok(Self(codes[index])),
            Err(_) => Err(FieldError::new(
                field,
                "unknown_currency",
                format!(
                    "`{}` is not an active ISO 4217 currency code (three upper-case letters, e.g. EUR)",
                    value.chars().take(16).collect::<String>()
                ),
            )),
        }
    }
    pub fn as_str(&self) -> &'static str {
        self.0
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// Units of one order line: 1 ..= [`MAX_QUANTITY`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Quantity(i32);

impl Quantity {
    pub fn new(field: &str, value: i64) -> Result<Self, FieldError> {
        if !(1..=MAX_QUANTITY).contains(&value) {
            return Err(FieldError::new(
                field,
                "out_of_range",
                format!("must be between 1 and {MAX_QUANTITY}, got {value}"),
            ));
        }
        let units = i32::try_from(value)
            .map_err(|_| FieldError::new(field, "out_of_range", format!("{value} does not fit")))?;
        Ok(Self(units))
    }
    pub fn get(self) -> i32 {
        self.0
    }
}

/// Price of one unit: greater than 0, at most [`MAX_UNIT_PRICE`], at most [`MAX_PRICE_SCALE`]
/// decimal places (the contract's decimal(19,4)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UnitPrice(Decimal);

impl UnitPrice {
    pub fn new(field: &str, value: Decimal) -> Result<Self, FieldError> {
        let value = value.normalize();
        if value <= Decimal::ZERO {
            return Err(FieldError::new(
                field,
                "out_of_range",
                format!("must be greater than 0, got {value}"),
            ));
        }
        if value > MAX_UNIT_PRICE {
            return Err(FieldError::new(
                field,
                "out_of_range",
                format!("must be at most {MAX_UNIT_PRICE}, got {value}"),
            ));
        }
        if value.scale() > MAX_PRICE_SCALE {
            return Err(FieldError::new(
                field,
                "too_many_decimal_places",
                format!("must have at most {MAX_PRICE_SCALE} decimal places, got {value}"),
            ));
        }
        Ok(Self(value))
    }

    /// Parse a decimal string such as `"12.50"` (no exponent, no spaces), then check the range.
    pub fn parse(field: &str, text: &str) -> Result<Self, FieldError> {
        let plain = !text.is_empty()
            && text.len() <= 40
            && text
                .chars()
                .enumerate()
                .all(|(i, c)| c.is_ascii_digit() || c == '.' || (i == 0 && c == '-'));
        let parsed = if plain {
            Decimal::from_str(text).ok()
        } else {
            None
        };
        match parsed {
            Some(value) => Self::new(field, value),
            None => Err(FieldError::new(
                field,
                "invalid_decimal",
                "must be a decimal number as a string, e.g. \"12.50\"",
            )),
        }
    }

    pub fn get(self) -> Decimal {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn currency_accepts_active_codes_only() {
        assert_eq!(
            Currency::parse("currency", "EUR").map(|c| c.as_str()),
            Ok("EUR")
        );
        assert!(Currency::parse("currency", "JPY").is_ok());
        for bad in ["eur", "XXX", "EURO", "", "DEM", "HRK", "XAU", "E U"] {
            let err = Currency::parse("currency", bad).unwrap_err();
            assert_eq!(err.code, "unknown_currency", "{bad}");
        }
    }

    #[test]
    fn text_fields_are_bounded() {
        assert!(CustomerId::parse("customer_id", "c-1").is_ok());
        assert_eq!(
            CustomerId::parse("customer_id", "").unwrap_err().code,
            "empty"
        );
        assert_eq!(
            CustomerId::parse("customer_id", "  ").unwrap_err().code,
            "empty"
        );
        assert!(Sku::parse("sku", &"é".repeat(64)).is_ok());
        assert_eq!(
            Sku::parse("sku", &"x".repeat(65)).unwrap_err().code,
            "too_long"
        );
        assert_eq!(
            Sku::parse("sku", "a\u{0}b").unwrap_err().code,
            "invalid_characters"
        );
    }

    #[test]
    fn quantity_range() {
        assert!(Quantity::new("q", 1).is_ok());
        assert!(Quantity::new("q", MAX_QUANTITY).is_ok());
        for bad in [0, -1, MAX_QUANTITY + 1, i64::MAX, i64::MIN] {
            assert_eq!(Quantity::new("q", bad).unwrap_err().code, "out_of_range");
        }
    }

    #[test]
    fn unit_price_rules() {
        assert_eq!(
            UnitPrice::parse("p", "12.50").unwrap().get().to_string(),
            "12.5"
        );
        assert!(UnitPrice::parse("p", "0.0001").is_ok());
        assert!(UnitPrice::parse("p", "1000000").is_ok());
        assert!(
            UnitPrice::parse("p", "1.23450000").is_ok(),
            "trailing zeros are fine"
        );
        let code = |s: &str| UnitPrice::parse("p", s).unwrap_err().code;
        assert_eq!(code("0"), "out_of_range");
        assert_eq!(code("-1"), "out_of_range");
        assert_eq!(code("1000000.0001"), "out_of_range");
        assert_eq!(code("0.00001"), "too_many_decimal_places");
        for bad in [
            "",
            "abc",
            "1e3",
            " 1",
            "1,5",
            "NaN",
            "--1",
            "1.2.3",
            &"9".repeat(41),
        ] {
            assert_eq!(code(bad), "invalid_decimal", "{bad:?}");
        }
    }
}
