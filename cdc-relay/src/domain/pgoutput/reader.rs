//! A bounds-checked cursor over one pgoutput message: every read either returns the value or a
//! [`DecodeError`] naming the message, the field and the byte offset. Nothing here indexes a slice
//! directly, so no input can make it panic.

use super::DecodeError;
use crate::domain::lsn::Lsn;

/// Reads big-endian fields from one message, front to back.
#[derive(Debug)]
pub(super) struct Reader<'a> {
    bytes: &'a [u8],
    /// Offset of the next unread byte in `bytes` (always `<= bytes.len()`).
    offset: usize,
    /// Message type name, for errors ("Relation", "Insert", ...).
    message: &'static str,
}

impl<'a> Reader<'a> {
    /// A reader over a whole message, positioned after its one-byte type tag.
    pub(super) fn after_tag(bytes: &'a [u8], message: &'static str) -> Self {
        Reader {
            bytes,
            offset: bytes.len().min(1),
            message,
        }
    }

    fn rest(&self) -> &'a [u8] {
        self.bytes.get(self.offset..).unwrap_or_default()
    }

    fn truncated(&self, field: &'static str, needed: usize) -> DecodeError {
        DecodeError::Truncated {
            message: self.message,
            field,
            offset: self.offset,
            needed,
            remaining: self.rest().len(),
        }
    }

    /// The next `len` bytes.
    pub(super) fn take(
        &mut self,
        len: usize,
        field: &'static str,
    ) -> Result<&'a [u8], DecodeError> {
        let (head, _) = self
            .rest()
            .split_at_checked(len)
            .ok_or_else(|| self.truncated(field, len))?;
        self.offset += len;
        Ok(head)
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], DecodeError> {
        let (head, _) = self
            .rest()
            .split_first_chunk::<N>()
            .ok_or_else(|| self.truncated(field, N))?;
        self.offset += N;
        Ok(*head)
    }

    pub(super) fn u8(&mut self, field: &'static str) -> Result<u8, DecodeError> {
        self.array::<1>(field).map(|[byte]| byte)
    }

    pub(super) fn i16(&mut self, field: &'static str) -> Result<i16, DecodeError> {
        self.array(field).map(i16::from_be_bytes)
    }

    pub(super) fn i32(&mut self, field: &'static str) -> Result<i32, DecodeError> {
        self.array(field).map(i32::from_be_bytes)
    }

    /// An `Int32` that Postgres means as unsigned (OIDs, xids).
    pub(super) fn u32(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        self.array(field).map(u32::from_be_bytes)
    }

    pub(super) fn i64(&mut self, field: &'static str) -> Result<i64, DecodeError> {
        self.array(field).map(i64::from_be_bytes)
    }

    pub(super) fn lsn(&mut self, field: &'static str) -> Result<Lsn, DecodeError> {
        self.array(field).map(|raw| Lsn(u64::from_be_bytes(raw)))
    }

    /// A non-negative count or length; negative values are typed errors, not huge `usize`s.
    fn non_negative(&self, field: &'static str, value: i64) -> Result<usize, DecodeError> {
        usize::try_from(value).map_err(|_| DecodeError::NegativeLength {
            message: self.message,
            field,
            value,
        })
    }

    /// An `Int16` count (columns).
    pub(super) fn count_i16(&mut self, field: &'static str) -> Result<usize, DecodeError> {
        let value = self.i16(field)?;
        self.non_negative(field, value.into())
    }

    /// An `Int32` count (relations of a Truncate).
    pub(super) fn count_i32(&mut self, field: &'static str) -> Result<usize, DecodeError> {
        let value = self.i32(field)?;
        self.non_negative(field, value.into())
    }

    /// `Int32` length followed by that many bytes.
    pub(super) fn length_prefixed(&mut self, field: &'static str) -> Result<&'a [u8], DecodeError> {
        let len = self.count_i32(field)?;
        self.take(len, field)
    }

    /// A NUL-terminated UTF-8 string (identifiers and prefixes are sent in the client encoding,
    /// which the replication connection sets to UTF8).
    pub(super) fn cstring(&mut self, field: &'static str) -> Result<String, DecodeError> {
        let missing_nul = DecodeError::MissingNulTerminator {
            message: self.message,
            field,
            offset: self.offset,
        };
        let rest = self.rest();
        let nul = rest
            .iter()
            .position(|&b| b == 0)
            .ok_or(missing_nul.clone())?;
        let text = rest.get(..nul).ok_or(missing_nul)?;
        let text = std::str::from_utf8(text).map_err(|_| DecodeError::InvalidUtf8 {
            message: self.message,
            field,
            offset: self.offset,
        })?;
        self.offset += nul + 1;
        Ok(text.to_owned())
    }

    /// Bytes left unread; callers use it to cap pre-allocation by what the input can hold.
    pub(super) fn remaining(&self) -> usize {
        self.rest().len()
    }

    /// The message name, for errors raised by callers.
    pub(super) fn message(&self) -> &'static str {
        self.message
    }

    /// Succeeds only if every byte was consumed: a v1 message has no optional tail, so leftovers
    /// mean we are reading a different protocol version or a corrupt message.
    pub(super) fn finish(self) -> Result<(), DecodeError> {
        match self.remaining() {
            0 => Ok(()),
            count => Err(DecodeError::TrailingBytes {
                message: self.message,
                count,
            }),
        }
    }
}
