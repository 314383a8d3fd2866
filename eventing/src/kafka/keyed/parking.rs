//! Durable per-key parking: the port, and the pure encoding of parked headers.
//!
//! Spring Kafka's retry topics let later records of a key overtake a record in retry. We do not:
//! while a record of key K waits on a retry tier, K is *parked* with that record as its *owner*,
//! and later source records of K are stored in the parking table instead of being handled. When
//! the owner settles (handled, or dead-lettered) the parked records are handled in arrival order
//! within K's key slot; one that needs a retry becomes the new owner and the rest stay parked.
//!
//! # Why this is safe
//!
//! - The key is parked (committed in Postgres) *before* its retry record is published: a crash
//!   between the two leaves the owner's source offset unfinished, so the owner is redelivered,
//!   sees the key parked by itself, and is handled (and re-published) again — the key is never
//!   unparked with a record still in flight.
//! - A parked record's offset is finished only after its row committed (`ON CONFLICT DO
//!   NOTHING`, so a redelivery stores nothing twice).
//! - The owner's offset is finished only after the drain ended (every parked row handled and
//!   deleted, or a new owner published and recorded). A crash mid-drain redelivers the owner;
//!   handled rows were deleted one by one, so the drain resumes where it stopped (the row being
//!   handled at the crash is handled again — handlers are idempotent).
//! - A parked record that needs a retry is published to the retry tier *before* the ownership
//!   moves to it; a crash between the two redelivers the old owner, whose drain handles the row
//!   again and publishes it again (a duplicate retry record; the later copy finds the key owned
//!   by someone else or free, and is handled as an idempotent duplicate).
//! - Range assignment puts partition p of the source topic and of every retry tier on the same
//!   instance, and retry records are published to the source partition number, so the instance
//!   that owns a key's source partition also owns its retry records and its in-memory view of
//!   `parked_keys` (loaded per assigned partition on assignment).
//! - A task abandoned at a revocation (still running after `revoke_timeout`) may run while the
//!   next owner of its partition has already loaded `parked_keys`. It stops before its next
//!   write once it sees it is abandoned (and never touches the in-memory view again), and the
//!   store refuses what it could still write in the window before: a transfer moves the key
//!   only from the owner the drain holds (`transfer_key` returns false otherwise, and the drain
//!   stops with its offset unfinished); a record is parked only while its key row exists, under
//!   a share lock that a release waits for (so neither a record behind a released key nor a
//!   key released over a record); a refused release re-reads the key's owner — still ours
//!   means records were parked meanwhile and the drain goes on, anyone else's (or none) is
//!   adopted into the in-memory view.
//! - A record whose in-memory entry says "parked" but whose key row is gone (`park_record`
//!   returns false) drops the stale entry and is handled at once.

use super::handler::RecordPosition;
use crate::error::ErrorKind;
use crate::kafka::ConsumedRecord;
use async_trait::async_trait;

/// A parked key and the record that owns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParkedKey {
    pub key: Vec<u8>,
    /// Source partition of the key.
    pub partition: i32,
    pub owner: RecordPosition,
}

/// A parking store failure. Every failure is retried in place by the runtime.
#[derive(Debug, Clone, thiserror::Error)]
#[error("parking store: {message}")]
pub struct ParkingError {
    pub kind: ErrorKind,
    pub message: String,
}

/// Where parked keys and records live. Implementations must be durable before returning `Ok`.
#[async_trait]
pub trait KeyParking: Send + Sync + std::fmt::Debug + 'static {
    /// Parked keys of `consumer_group` whose source partition is in `partitions`.
    async fn parked_keys(
        &self,
        consumer_group: &str,
        partitions: &[i32],
    ) -> Result<Vec<ParkedKey>, ParkingError>;

    /// Park `key` with `owner` unless it is parked already; returns the owner now recorded.
    async fn park_key(
        &self,
        consumer_group: &str,
        key: &[u8],
        partition: i32,
        owner: &RecordPosition,
    ) -> Result<RecordPosition, ParkingError>;

    /// Store a record behind its key, only while the key is parked (idempotent per position).
    /// True if the record is stored behind the key (now or by an earlier delivery); false if the
    /// key is not parked, and nothing was stored. Atomic with [`KeyParking::release_key`]: a
    /// key is never released with a record stored behind it.
    async fn park_record(
        &self,
        consumer_group: &str,
        record: &ConsumedRecord,
    ) -> Result<bool, ParkingError>;

    /// The earliest parked record of `key`.
    async fn next_parked(
        &self,
        consumer_group: &str,
        key: &[u8],
    ) -> Result<Option<ConsumedRecord>, ParkingError>;

    /// Delete a parked record (it was handled or dead-lettered).
    async fn unpark_record(
        &self,
        consumer_group: &str,
        position: &RecordPosition,
    ) -> Result<(), ParkingError>;

    /// `key` as the store has it now (`None` if not parked).
    async fn parked_key(
        &self,
        consumer_group: &str,
        key: &[u8],
    ) -> Result<Option<ParkedKey>, ParkingError>;

    /// If `owner` still owns `key`, make the parked record at `new_owner` the owner and delete
    /// its row, atomically; true if it did, false (and no change) if `owner` does not own `key`.
    async fn transfer_key(
        &self,
        consumer_group: &str,
        key: &[u8],
        owner: &RecordPosition,
        new_owner: &RecordPosition,
    ) -> Result<bool, ParkingError>;

    /// Unpark `key` if `owner` owns it and no parked record is left; true if it is unparked.
    async fn release_key(
        &self,
        consumer_group: &str,
        key: &[u8],
        owner: &RecordPosition,
    ) -> Result<bool, ParkingError>;
}

/// Headers as bytes: per header, u32 BE name length, name, i32 BE value length, value.
pub fn encode_headers(headers: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, value) in headers {
        let name_len = u32::try_from(name.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&name_len.to_be_bytes());
        out.extend_from_slice(name.as_bytes());
        let value_len = i32::try_from(value.len()).unwrap_or(i32::MAX);
        out.extend_from_slice(&value_len.to_be_bytes());
        out.extend_from_slice(value);
    }
    out
}

/// Inverse of [`encode_headers`]; `None` if the bytes are not in that format.
pub fn decode_headers(mut bytes: &[u8]) -> Option<Vec<(String, Vec<u8>)>> {
    fn take<'a>(bytes: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
        if bytes.len() < n {
            return None;
        }
        let (head, tail) = bytes.split_at(n);
        *bytes = tail;
        Some(head)
    }
    let mut headers = Vec::new();
    while !bytes.is_empty() {
        let name_len = u32::from_be_bytes(take(&mut bytes, 4)?.try_into().ok()?) as usize;
        let name = String::from_utf8(take(&mut bytes, name_len)?.to_vec()).ok()?;
        let value_len =
            usize::try_from(i32::from_be_bytes(take(&mut bytes, 4)?.try_into().ok()?)).ok()?;
        headers.push((name, take(&mut bytes, value_len)?.to_vec()));
    }
    Some(headers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn headers_round_trip(headers in proptest::collection::vec((".{0,12}", proptest::collection::vec(any::<u8>(), 0..20)), 0..6)) {
            prop_assert_eq!(decode_headers(&encode_headers(&headers)), Some(headers));
        }
    }

    #[test]
    fn truncated_headers_are_rejected() {
        let bytes = encode_headers(&[("traceparent".into(), b"00-x".to_vec())]);
        assert_eq!(decode_headers(&bytes[..bytes.len() - 1]), None);
    }
}
