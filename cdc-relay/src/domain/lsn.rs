//! WAL positions: [`Lsn`], a byte offset into the Postgres write-ahead log.
//!
//! Displayed and parsed in Postgres' own `X/X` notation (high and low 32 bits in uppercase hex,
//! e.g. `16/B374D848`), so values can be compared by eye with `pg_replication_slots` and
//! `pg_current_wal_lsn()`. Parsing accepts upper- or lowercase hex of 1 to 8 digits per half and
//! nothing else (no sign, no spaces), so `Display` and `FromStr` round-trip every value.

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

/// A log sequence number: a position in the write-ahead log. Ordered like the WAL itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Lsn(pub u64);

impl Lsn {
    /// The invalid / "no position" LSN (`0/0`).
    pub const ZERO: Lsn = Lsn(0);

    /// The raw 64-bit position.
    pub const fn as_u64(self) -> u64 {
        self.0
    }
}

impl From<u64> for Lsn {
    fn from(value: u64) -> Self {
        Lsn(value)
    }
}

impl From<Lsn> for u64 {
    fn from(lsn: Lsn) -> Self {
        lsn.0
    }
}

impl fmt::Display for Lsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:X}/{:X}", self.0 >> 32, self.0 & 0xFFFF_FFFF)
    }
}

/// A string that is not an LSN in Postgres' `X/X` notation.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error(
    "invalid LSN {input:?}: expected two hex numbers of 1 to 8 digits joined by '/', like 16/B374D848"
)]
pub struct ParseLsnError {
    input: String,
}

impl FromStr for Lsn {
    type Err = ParseLsnError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || ParseLsnError {
            input: s.to_owned(),
        };
        let (high, low) = s.split_once('/').ok_or_else(invalid)?;
        let high = parse_half(high).ok_or_else(invalid)?;
        let low = parse_half(low).ok_or_else(invalid)?;
        Ok(Lsn((u64::from(high) << 32) | u64::from(low)))
    }
}

/// One half of an LSN: 1 to 8 hex digits, nothing else (`from_str_radix` alone would accept `+`).
fn parse_half(half: &str) -> Option<u32> {
    let well_formed = (1..=8).contains(&half.len()) && half.bytes().all(|b| b.is_ascii_hexdigit());
    if !well_formed {
        return None;
    }
    u32::from_str_radix(half, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn displays_like_postgres() {
        assert_eq!(Lsn(0).to_string(), "0/0");
        assert_eq!(Lsn(0x16_B374_D848).to_string(), "16/B374D848");
        assert_eq!(Lsn(0x0000_0001_0000_00FF).to_string(), "1/FF");
        assert_eq!(Lsn(u64::MAX).to_string(), "FFFFFFFF/FFFFFFFF");
    }

    #[test]
    fn parses_padded_unpadded_and_lowercase() {
        let expected = Lsn(0x16_B374_D848);
        assert_eq!("16/B374D848".parse::<Lsn>(), Ok(expected));
        assert_eq!("00000016/b374d848".parse::<Lsn>(), Ok(expected));
    }

    #[test]
    fn rejects_malformed_text() {
        for bad in [
            "",
            "/",
            "1/",
            "/1",
            "1",
            "1/2/3",
            "+1/2",
            "1/-2",
            " 1/2",
            "1/2 ",
            "123456789/0",
            "g/0",
        ] {
            assert!(bad.parse::<Lsn>().is_err(), "{bad:?} should not parse");
        }
    }

    proptest! {
        #[test]
        fn display_then_parse_round_trips(raw in any::<u64>()) {
            prop_assert_eq!(Lsn(raw).to_string().parse::<Lsn>(), Ok(Lsn(raw)));
        }

        #[test]
        fn parse_never_panics(text in ".{0,24}") {
            let _ = text.parse::<Lsn>();
        }
    }
}
