//! The Confluent wire format, pure: `[0x00][schema id: u32 big-endian][Avro binary datum]`.
//!
//! Framing never touches the network; resolving the schema id is the registry's job
//! (see [`crate::codec`]).

use crate::error::CodecError;

/// First byte of every Confluent-framed record.
pub const MAGIC_BYTE: u8 = 0;
/// Magic byte + 4-byte schema id.
pub const HEADER_LEN: usize = 5;

/// Prefix an Avro datum with the Confluent header.
pub fn frame(schema_id: u32, datum: &[u8]) -> Vec<u8> {
    let mut framed = Vec::with_capacity(HEADER_LEN + datum.len());
    framed.push(MAGIC_BYTE);
    framed.extend_from_slice(&schema_id.to_be_bytes());
    framed.extend_from_slice(datum);
    framed
}

/// Split a framed record into its schema id and Avro datum.
pub fn unframe(bytes: &[u8]) -> Result<(u32, &[u8]), CodecError> {
    let (&magic, _) = bytes.split_first().ok_or(CodecError::EmptyPayload)?;
    if magic != MAGIC_BYTE {
        return Err(CodecError::WrongMagicByte { found: magic });
    }
    let (header, datum) = bytes
        .split_at_checked(HEADER_LEN)
        .ok_or(CodecError::TruncatedHeader { len: bytes.len() })?;
    let id_bytes: [u8; 4] = header[1..]
        .try_into()
        .map_err(|_| CodecError::TruncatedHeader { len: bytes.len() })?;
    Ok((u32::from_be_bytes(id_bytes), datum))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn frame_then_unframe_gives_back_id_and_datum() {
        let framed = frame(42, b"abc");
        assert_eq!(framed, [0, 0, 0, 0, 42, b'a', b'b', b'c']);
        assert_eq!(unframe(&framed).unwrap(), (42, &b"abc"[..]));
    }

    #[test]
    fn empty_wrong_magic_and_short_header_are_typed_errors() {
        assert!(matches!(unframe(&[]), Err(CodecError::EmptyPayload)));
        assert!(matches!(
            unframe(&[1, 0, 0, 0, 1]),
            Err(CodecError::WrongMagicByte { found: 1 })
        ));
        assert!(matches!(
            unframe(&[0, 0, 1]),
            Err(CodecError::TruncatedHeader { len: 3 })
        ));
    }

    proptest! {
        #[test]
        fn unframe_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = unframe(&bytes);
        }

        #[test]
        fn round_trip(id in any::<u32>(), datum in proptest::collection::vec(any::<u8>(), 0..64)) {
            let framed = frame(id, &datum);
            prop_assert_eq!(unframe(&framed).unwrap(), (id, &datum[..]));
        }
    }
}
