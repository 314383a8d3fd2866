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

/// The embedded list of active ISO 4217 codes with their minor units (lines `<minor unit>
/// <code> <code> ...`, `#` comments).
const ISO_4217_ACTIVE: &str = include_str!("iso4217_active.txt");

/// Every active code with its minor unit, sorted by code.
fn active_currencies() -> &'static [(&'static str, u32)] {
    static CODES: OnceLock<Vec<(&'static str, u32)>> = OnceLock::new();
    CODES.get_or_init(|| {
        let mut codes: Vec<(&'static str, u32)> = ISO_4217_ACTIVE
            .lines()
            .filter(|line| !line.trim_start().starts_with('#') && !line.trim().is_empty())
            .flat_map(|line| {
                let mut words = line.split_whitespace();
                let minor_unit: u32 = words
                    .next()
                    .and_then(|w| w.parse().ok())
                    .expect("each line of iso4217_active.txt starts with a minor unit");
                words.map(move |code| (code, minor_unit))
            })
            .collect();
        codes.sort_unstable();
        codes
    })
}

/// Every active code with its minor unit, sorted by code (for documents such as the OpenAPI
/// schema).
pub fn active_currency_codes() -> impl Iterator<Item = Currency> {
    active_currencies()
        .iter()
        .map(|&(code, minor_unit)| Currency { code, minor_unit })
}

/// An active ISO 4217 alphabetic currency code, upper case (e.g. `EUR`), with its minor unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency {
    code: &'static str,
    minor_unit: u32,
}

impl Currency {
    /// Accepts exactly the three upper-case letters of an active code (`eur` is rejected, so the
    /// client learns the canonical spelling instead of us guessing).
    pub fn parse(field: &str, value: &str) -> Result<Self, FieldError> {
        let codes = active_currencies();
        match codes.binary_search_by(|(code, _)| (*code).cmp(value)) {
            Ok(index) => Ok(Self {
                code: codes[index].0,
                minor_unit: codes[index].1,
            }),
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
        self.code
    }

    /// Decimal places of an amount in this currency (ISO 4217 "minor unit": JPY 0, EUR 2,
    /// KWD 3, CLF 4).
    pub fn minor_unit(&self) -> u32 {
        self.minor_unit
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code)
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

/// Price of one unit, exact: greater than 0, at most [`MAX_UNIT_PRICE`], a whole number of the
/// currency's minor units. Never rounded: an amount that would need rounding is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UnitPrice(Decimal);

/// Longest unit price text (digits, point and trailing zeros).
pub const MAX_PRICE_CHARS: usize = 40;

impl UnitPrice {
    /// A price read back from storage: greater than 0, at most [`MAX_UNIT_PRICE`], at most
    /// [`MAX_PRICE_SCALE`] decimal places (the column's and the contract's decimal(19,4)).
    pub fn new(field: &str, value: Decimal) -> Result<Self, FieldError> {
        let value = value.normalize();
        if value <= Decimal::ZERO || value > MAX_UNIT_PRICE {
            return Err(FieldError::new(
                field,
                "out_of_range",
                format!("must be greater than 0 and at most {MAX_UNIT_PRICE}, got {value}"),
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

    /// Parse a client's decimal string in `currency`, deciding from the text itself (never from
    /// a rounded number):
    ///
    /// - `invalid_decimal`: not `<digits>[.<digits>]` (no sign other than a leading `-`, no
    ///   exponent, no spaces, no leading zeros such as `01.5`, no `.5` or `5.`), or longer than
    ///   [`MAX_PRICE_CHARS`];
    /// - `out_of_range`: 0 or less, or more than [`MAX_UNIT_PRICE`];
    /// - `too_many_decimal_places`: a non-zero digit after the currency's minor unit
    ///   (`"1.001"` in EUR, `"1.5"` in JPY). Zeros after it are fine: `"1.000"` in EUR is
    ///   exactly 1.00.
    pub fn parse(field: &str, text: &str, currency: Currency) -> Result<Self, FieldError> {
        let invalid = || {
            FieldError::new(
                field,
                "invalid_decimal",
                format!(
                    "must be a decimal number as a string of at most {MAX_PRICE_CHARS} characters, without exponent, sign or leading zeros, e.g. \"12.50\""
                ),
            )
        };
        if text.is_empty() || text.len() > MAX_PRICE_CHARS {
            return Err(invalid());
        }
        let (negative, unsigned) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (integer, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
        let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        let leading_zero = integer.len() > 1 && integer.starts_with('0');
        if !all_digits(integer) || (unsigned.contains('.') && !all_digits(fraction)) || leading_zero
        {
            return Err(invalid());
        }
        let significant = fraction.trim_end_matches('0');
        let zero = integer.bytes().all(|b| b == b'0') && significant.is_empty();
        // Same length, no leading zeros: text order is numeric order.
        let max = MAX_UNIT_PRICE.to_string();
        let too_large = integer.len() > max.len()
            || (integer.len() == max.len()
                && (integer > max.as_str() || (integer == max && !significant.is_empty())));
        if negative || zero || too_large {
            return Err(FieldError::new(
                field,
                "out_of_range",
                format!("must be greater than 0 and at most {MAX_UNIT_PRICE}, got {text}"),
            ));
        }
        let minor_unit = currency.minor_unit();
        if significant.len() > minor_unit as usize {
            return Err(FieldError::new(
                field,
                "too_many_decimal_places",
                format!(
                    "{currency} amounts have {minor_unit} decimal places (ISO 4217 minor unit); {text} is not a whole number of minor units, and amounts are never rounded"
                ),
            ));
        }
        let exact = Decimal::from_str(&format!("{integer}.{significant}"))
            .map_err(|_| invalid())?
            .normalize();
        Ok(Self(exact))
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
    fn currencies_know_their_minor_unit() {
        let unit = |code: &str| Currency::parse("currency", code).unwrap().minor_unit();
        assert_eq!(
            [unit("JPY"), unit("EUR"), unit("KWD"), unit("CLF")],
            [0, 2, 3, 4]
        );
        assert!(active_currency_codes().count() > 150);
        assert!(
            active_currency_codes().all(|c| c.minor_unit() <= MAX_PRICE_SCALE),
            "every amount must fit the storage and contract scale"
        );
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

    fn price(text: &str, currency: &str) -> Result<UnitPrice, FieldError> {
        UnitPrice::parse("p", text, Currency::parse("c", currency).unwrap())
    }

    #[test]
    fn unit_price_rules() {
        assert_eq!(price("12.50", "EUR").unwrap().get().to_string(), "12.5");
        assert!(price("0.01", "EUR").is_ok());
        assert!(price("1000000", "EUR").is_ok());
        assert!(price("1000000.00", "EUR").is_ok());
        assert!(price("0.0001", "CLF").is_ok());
        let code = |s: &str, c: &str| price(s, c).unwrap_err().code;
        assert_eq!(code("0", "EUR"), "out_of_range");
        assert_eq!(code("0.000", "EUR"), "out_of_range");
        assert_eq!(code("-1", "EUR"), "out_of_range");
        assert_eq!(code("-0", "EUR"), "out_of_range");
        assert_eq!(code("1000000.01", "EUR"), "out_of_range");
        assert_eq!(code("10000000", "JPY"), "out_of_range");
        assert_eq!(code("9999999", "JPY"), "out_of_range");
        for bad in [
            "", "abc", "1e3", " 1", "1 ", "1,5", "NaN", "--1", "+1", "1.2.3", ".5", "5.", "01",
            "00.5", "-.5", "0x10", "١",
        ] {
            assert_eq!(code(bad, "EUR"), "invalid_decimal", "{bad:?}");
        }
        assert_eq!(code(&"9".repeat(41), "EUR"), "invalid_decimal");
    }

    #[test]
    fn amounts_are_exact_in_the_currency_minor_unit_and_never_rounded() {
        let code = |s: &str, c: &str| price(s, c).unwrap_err().code;
        // The examples: silently rounded before.
        assert_eq!(
            code("0.00009999999999999999999999999999", "EUR"),
            "too_many_decimal_places"
        );
        assert_eq!(code("1.00001", "EUR"), "too_many_decimal_places");
        assert_eq!(code("1.001", "EUR"), "too_many_decimal_places");
        assert_eq!(code("1.5", "JPY"), "too_many_decimal_places");
        assert_eq!(code("1.0001", "KWD"), "too_many_decimal_places");
        assert_eq!(code("0.00001", "CLF"), "too_many_decimal_places");
        // Zeros after the minor unit change nothing: the value is exact.
        assert_eq!(price("1.00000", "EUR").unwrap().get(), Decimal::ONE);
        assert_eq!(
            price("1500.000000000000000000000000000000000", "JPY")
                .unwrap()
                .get(),
            Decimal::from(1500)
        );
        assert_eq!(price("1.500", "KWD").unwrap().get().to_string(), "1.5");
        let cases = [
            ("19.99", "EUR"),
            ("1.234", "KWD"),
            ("0.0001", "UYW"),
            ("7", "JPY"),
        ];
        for (text, currency) in cases {
            let parsed = price(text, currency).unwrap().get();
            assert_eq!(parsed, Decimal::from_str(text).unwrap(), "{text}");
        }
    }

    proptest::proptest! {
        /// Whatever the text, a price is either refused or exactly the number written.
        #[test]
        fn a_parsed_price_equals_its_text(
            integer in 0u32..2_000_000,
            fraction in "[0-9]{0,12}",
            currency in proptest::sample::select(vec!["JPY", "EUR", "KWD", "CLF"]),
        ) {
            let text = if fraction.is_empty() {
                integer.to_string()
            } else {
                format!("{integer}.{fraction}")
            };
            if let Ok(price) = price(&text, currency) {
                let written = Decimal::from_str(&text).unwrap();
                proptest::prop_assert_eq!(price.get(), written);
                let unit = Currency::parse("c", currency).unwrap().minor_unit();
                proptest::prop_assert!(price.get().normalize().scale() <= unit);
            }
        }
    }
}
