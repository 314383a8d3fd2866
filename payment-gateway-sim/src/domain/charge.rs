//! Charge request validation: every field is checked exactly, nothing is rounded or trimmed.

use rust_decimal::Decimal;
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

/// An invalid input, naming the field (JSON field or header) it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The JSON field (`amount`) or header (`Idempotency-Key`).
    pub field: &'static str,
    /// Stable machine-readable code, e.g. `invalid_amount`.
    pub code: &'static str,
    pub message: String,
}

impl FieldError {
    fn new(field: &'static str, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for FieldError {}

/// Most characters of an `Idempotency-Key`.
pub const MAX_IDEMPOTENCY_KEY_CHARS: usize = 255;
/// Most characters of a `customer_id`.
pub const MAX_CUSTOMER_ID_CHARS: usize = 200;
/// Most digits before the decimal point of an amount.
const MAX_AMOUNT_INTEGER_DIGITS: usize = 15;
/// Most digits after the decimal point of an amount (the ledger keeps exactly these).
const MAX_AMOUNT_FRACTION_DIGITS: usize = 4;

/// The `Idempotency-Key` header: 1 to 255 visible ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let ok = !raw.is_empty()
            && raw.len() <= MAX_IDEMPOTENCY_KEY_CHARS
            && raw.bytes().all(|b| b.is_ascii_graphic());
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(FieldError::new(
                "Idempotency-Key",
                "invalid_idempotency_key",
                format!(
                    "Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY_CHARS} visible ASCII characters"
                ),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Who pays: 1 to 200 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerId(String);

impl CustomerId {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let chars = raw.chars().count();
        if chars == 0 || chars > MAX_CUSTOMER_ID_CHARS || raw.chars().any(char::is_control) {
            return Err(FieldError::new(
                "customer_id",
                "invalid_customer_id",
                format!(
                    "customer_id must be 1 to {MAX_CUSTOMER_ID_CHARS} characters without control characters"
                ),
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A positive amount with at most 15 integer and 4 fraction digits, written `123.45`: no sign,
/// exponent, spaces or bare `.`. Kept exactly as written (`12.50` stays `12.50`); compared by
/// value (`12.5` equals `12.50`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Amount(Decimal);

impl Amount {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let invalid = |why: &str| {
            FieldError::new(
                "amount",
                "invalid_amount",
                format!(
                    "amount must be a decimal string greater than 0 with at most \
                     {MAX_AMOUNT_INTEGER_DIGITS} integer and {MAX_AMOUNT_FRACTION_DIGITS} fraction digits, \
                     like \"12.50\": {why}"
                ),
            )
        };
        let (integer, fraction) = match raw.split_once('.') {
            Some((i, f)) => (i, Some(f)),
            None => (raw, None),
        };
        if integer.is_empty() || !integer.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid("digits are needed before the decimal point"));
        }
        if integer.len() > MAX_AMOUNT_INTEGER_DIGITS {
            return Err(invalid("too many integer digits"));
        }
        if let Some(fraction) = fraction {
            if fraction.is_empty() || !fraction.bytes().all(|b| b.is_ascii_digit()) {
                return Err(invalid("digits are needed after the decimal point"));
            }
            if fraction.len() > MAX_AMOUNT_FRACTION_DIGITS {
                return Err(invalid("too many fraction digits (no rounding is done)"));
            }
        }
        let value = Decimal::from_str(raw).map_err(|e| invalid(&e.to_string()))?;
        if value <= Decimal::ZERO {
            return Err(invalid("it is not greater than 0"));
        }
        Ok(Self(value))
    }

    /// A value read back from the ledger (which only holds validated amounts).
    pub fn from_ledger(value: Decimal) -> Self {
        Self(value)
    }

    pub fn value(&self) -> Decimal {
        self.0
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Three uppercase ASCII letters (ISO 4217 shape; the simulator accepts any such code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Currency([u8; 3]);

impl Currency {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        match raw.as_bytes() {
            [a, b, c] if [a, b, c].iter().all(|x| x.is_ascii_uppercase()) => Ok(Self([*a, *b, *c])),
            _ => Err(FieldError::new(
                "currency",
                "invalid_currency",
                "currency must be 3 uppercase ASCII letters, like \"EUR\"",
            )),
        }
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("built from 3 ASCII uppercase letters")
    }
}

/// What a charge is about; two requests with one idempotency key must agree on all of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeParams {
    pub order_id: Uuid,
    pub customer_id: CustomerId,
    pub amount: Amount,
    pub currency: Currency,
}

/// A validated `POST /v1/charges`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeRequest {
    pub idempotency_key: IdempotencyKey,
    pub params: ChargeParams,
}

impl ChargeRequest {
    /// Validate the raw header and body fields; the first invalid field is reported.
    pub fn parse(
        idempotency_key: Option<&str>,
        order_id: &str,
        customer_id: &str,
        amount: &str,
        currency: &str,
    ) -> Result<Self, FieldError> {
        let idempotency_key = match idempotency_key {
            Some(key) => IdempotencyKey::parse(key)?,
            None => {
                return Err(FieldError::new(
                    "Idempotency-Key",
                    "missing_idempotency_key",
                    "the Idempotency-Key header is required",
                ));
            }
        };
        let order_id = Uuid::try_parse(order_id).map_err(|e| {
            FieldError::new(
                "order_id",
                "invalid_order_id",
                format!("order_id must be a UUID: {e}"),
            )
        })?;
        Ok(Self {
            idempotency_key,
            params: ChargeParams {
                order_id,
                customer_id: CustomerId::parse(customer_id)?,
                amount: Amount::parse(amount)?,
                currency: Currency::parse(currency)?,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn amounts_are_exact_positive_decimals() {
        for ok in ["12.50", "0.0001", "1", "999999999999999.9999", "007"] {
            assert!(Amount::parse(ok).is_ok(), "{ok} rejected");
        }
        assert_eq!(
            Amount::parse("12.50").map(|a| a.to_string()),
            Ok("12.50".into())
        );
        for bad in [
            "0",
            "0.0000",
            "-1",
            "1.00001",
            "abc",
            "",
            ".5",
            "5.",
            "+5",
            "1e3",
            " 1",
            "1 ",
            "1,5",
            "1000000000000000",
            "1.2.3",
        ] {
            let err = Amount::parse(bad).expect_err(bad);
            assert_eq!(err.field, "amount");
        }
    }

    #[test]
    fn currency_is_three_uppercase_letters() {
        assert_eq!(
            Currency::parse("EUR").map(|c| c.as_str().to_owned()),
            Ok("EUR".into())
        );
        for bad in ["eur", "EU", "EURO", "E1R", "ÉUR", ""] {
            assert_eq!(Currency::parse(bad).expect_err(bad).field, "currency");
        }
    }

    #[test]
    fn idempotency_key_and_customer_bounds() {
        assert!(IdempotencyKey::parse(&"k".repeat(255)).is_ok());
        assert!(IdempotencyKey::parse(&"k".repeat(256)).is_err());
        assert!(IdempotencyKey::parse("").is_err());
        assert!(IdempotencyKey::parse("a b").is_err());
        assert!(CustomerId::parse(&"é".repeat(200)).is_ok());
        assert!(CustomerId::parse(&"é".repeat(201)).is_err());
        assert!(CustomerId::parse("").is_err());
        assert!(CustomerId::parse("a\nb").is_err());
    }

    #[test]
    fn the_first_invalid_field_is_named() {
        let order = Uuid::new_v4().to_string();
        let err = |key: Option<&str>, order: &str, amount: &str, currency: &str| {
            ChargeRequest::parse(key, order, "c", amount, currency)
                .expect_err("invalid")
                .field
        };
        assert_eq!(err(None, &order, "1", "EUR"), "Idempotency-Key");
        assert_eq!(err(Some("k"), "not-a-uuid", "1", "EUR"), "order_id");
        assert_eq!(err(Some("k"), &order, "0", "EUR"), "amount");
        assert_eq!(err(Some("k"), &order, "1", "eur"), "currency");
    }

    proptest! {
        #[test]
        fn valid_amounts_round_trip_exactly(int in 0u64..=999_999_999_999_999, frac in 0u32..10_000, digits in 0usize..=4) {
            let text = if digits == 0 {
                int.to_string()
            } else {
                let f = format!("{frac:04}");
                format!("{int}.{}", &f[..digits])
            };
            match Amount::parse(&text) {
                Ok(amount) => {
                    prop_assert!(amount.value() > Decimal::ZERO);
                    prop_assert_eq!(amount.to_string(), text);
                }
                Err(e) => {
                    prop_assert_eq!(Decimal::from_str(&text).ok(), Some(Decimal::ZERO));
                    prop_assert_eq!(e.field, "amount");
                }
            }
        }

        #[test]
        fn more_than_four_fraction_digits_is_never_rounded(int in 0u64..1000, frac in "[0-9]{5,8}") {
            let text = format!("{int}.{frac}");
            prop_assert!(Amount::parse(&text).is_err());
        }

        #[test]
        fn arbitrary_strings_never_panic(raw in ".{0,40}") {
            let _ = Amount::parse(&raw);
            let _ = Currency::parse(&raw);
            let _ = CustomerId::parse(&raw);
            let _ = IdempotencyKey::parse(&raw);
        }
    }
}
