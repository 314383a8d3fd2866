//! Schema functions and conversions for the logical types our contracts use.

use crate::error::CodecError;
use apache_avro::{
    Decimal as AvroDecimal, Schema,
    schema::{DecimalSchema, InnerDecimalSchema, Name, NamespaceRef, UnionSchema, UuidSchema},
};
use chrono::{DateTime, TimeZone, Utc};
use rust_decimal::Decimal;
use std::collections::HashSet;

/// Digits of every money amount in the contracts.
pub const MONEY_PRECISION: u32 = 19;
/// Digits after the decimal point of every money amount in the contracts.
pub const MONEY_SCALE: u32 = 4;

pub(crate) fn uuid_string(_: &mut HashSet<Name>, _: NamespaceRef) -> Schema {
    Schema::Uuid(UuidSchema::String)
}

pub(crate) fn optional_uuid_string(names: &mut HashSet<Name>, ns: NamespaceRef) -> Schema {
    let variants = vec![Schema::Null, uuid_string(names, ns)];
    Schema::Union(
        UnionSchema::new(variants).expect("null and uuid string are distinct union branches"),
    )
}

pub(crate) fn timestamp_millis(_: &mut HashSet<Name>, _: NamespaceRef) -> Schema {
    Schema::TimestampMillis
}

pub(crate) fn money(_: &mut HashSet<Name>, _: NamespaceRef) -> Schema {
    Schema::Decimal(DecimalSchema {
        precision: MONEY_PRECISION as usize,
        scale: MONEY_SCALE as usize,
        inner: InnerDecimalSchema::Bytes,
    })
}

/// Money as the Avro decimal(19,4): the unscaled value in big-endian two's complement.
pub(crate) fn money_to_avro(
    field: &'static str,
    amount: Decimal,
) -> Result<AvroDecimal, CodecError> {
    let mut scaled = amount;
    scaled.rescale(MONEY_SCALE);
    if scaled != amount {
        return Err(CodecError::InvalidField {
            field,
            reason: format!("{amount} has more than {MONEY_SCALE} decimal places"),
        });
    }
    let unscaled = scaled.mantissa();
    if unscaled.unsigned_abs() >= 10u128.pow(MONEY_PRECISION) {
        return Err(CodecError::InvalidField {
            field,
            reason: format!("{amount} needs more than {MONEY_PRECISION} digits"),
        });
    }
    let bytes = unscaled.to_be_bytes();
    Ok(AvroDecimal::from(&bytes[bytes.len() - MONEY_BYTES..]))
}

/// Bytes of every encoded money amount: the fewest that hold any 19-digit value.
///
/// The Avro spec allows the minimal two's complement, but apache-avro (0.22) refuses, when it
/// resolves a writer schema against a reader schema, any bytes-backed decimal shorter than its
/// precision could need. So we always write 9 bytes, and [`widen_decimals`] pads what other
/// writers (e.g. Java's minimal encoding) sent before resolution.
pub(crate) const MONEY_BYTES: usize = 9;

/// Sign-extend every decimal in a decoded value to 16 bytes (see [`MONEY_BYTES`]).
pub fn widen_decimals(value: apache_avro::types::Value) -> apache_avro::types::Value {
    use apache_avro::types::Value;
    match value {
        Value::Decimal(d) => match <Vec<u8>>::try_from(&d) {
            Ok(bytes) if bytes.len() < 16 => {
                let sign = if bytes.first().is_some_and(|b| b & 0x80 != 0) {
                    0xFF
                } else {
                    0x00
                };
                let mut wide = vec![sign; 16 - bytes.len()];
                wide.extend_from_slice(&bytes);
                Value::Decimal(AvroDecimal::from(wide))
            }
            _ => Value::Decimal(d),
        },
        Value::Record(fields) => Value::Record(
            fields
                .into_iter()
                .map(|(k, v)| (k, widen_decimals(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(widen_decimals).collect()),
        Value::Union(i, inner) => Value::Union(i, Box::new(widen_decimals(*inner))),
        Value::Map(m) => Value::Map(m.into_iter().map(|(k, v)| (k, widen_decimals(v))).collect()),
        other => other,
    }
}

pub(crate) fn money_from_avro(
    field: &'static str,
    decimal: &AvroDecimal,
) -> Result<Decimal, CodecError> {
    let invalid = |reason: String| CodecError::InvalidField { field, reason };
    let bytes = <Vec<u8>>::try_from(decimal).map_err(|e| invalid(e.to_string()))?;
    if bytes.is_empty() || bytes.len() > 16 {
        return Err(invalid(format!("decimal of {} bytes", bytes.len())));
    }
    let sign = if bytes[0] & 0x80 != 0 { 0xFF } else { 0x00 };
    let mut wide = [sign; 16];
    wide[16 - bytes.len()..].copy_from_slice(&bytes);
    let unscaled = i128::from_be_bytes(wide);
    Decimal::try_from_i128_with_scale(unscaled, MONEY_SCALE).map_err(|e| invalid(e.to_string()))
}

pub(crate) fn millis_to_datetime(
    field: &'static str,
    millis: i64,
) -> Result<DateTime<Utc>, CodecError> {
    Utc.timestamp_millis_opt(millis)
        .single()
        .ok_or_else(|| CodecError::InvalidField {
            field,
            reason: format!("{millis} ms is not a representable timestamp"),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::str::FromStr;

    #[test]
    fn known_encodings_match_the_avro_spec() {
        // 1.0000 -> unscaled 10000 = 0x2710, sign-extended to 9 bytes
        let d = money_to_avro("x", Decimal::from_str("1").unwrap()).unwrap();
        assert_eq!(
            <Vec<u8>>::try_from(&d).unwrap(),
            vec![0, 0, 0, 0, 0, 0, 0, 0x27, 0x10]
        );
        // -0.0001 -> unscaled -1 = 0xFF...
        let d = money_to_avro("x", Decimal::from_str("-0.0001").unwrap()).unwrap();
        assert_eq!(<Vec<u8>>::try_from(&d).unwrap(), vec![0xFF; 9]);
        // A minimal encoding from another writer reads back the same after widening.
        let minimal = apache_avro::types::Value::Decimal(AvroDecimal::from(vec![0x00, 0x80]));
        match widen_decimals(minimal) {
            apache_avro::types::Value::Decimal(d) => {
                assert_eq!(
                    money_from_avro("x", &d).unwrap(),
                    Decimal::from_str("0.0128").unwrap()
                )
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn too_many_decimals_or_digits_are_rejected() {
        assert!(money_to_avro("x", Decimal::from_str("1.00001").unwrap()).is_err());
        assert!(money_to_avro("x", Decimal::from_str("1000000000000000").unwrap()).is_err());
        assert!(money_to_avro("x", Decimal::from_str("999999999999999.9999").unwrap()).is_ok());
    }

    proptest! {
        #[test]
        fn money_round_trips(unscaled in -(10i64.pow(18))..10i64.pow(18)) {
            let amount = Decimal::new(unscaled, MONEY_SCALE);
            let avro = money_to_avro("x", amount).unwrap();
            prop_assert_eq!(money_from_avro("x", &avro).unwrap(), amount);
        }
    }
}
