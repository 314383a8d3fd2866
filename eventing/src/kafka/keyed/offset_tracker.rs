//! Which offset of each partition may be committed, given which records have finished.
//!
//! # Why this is safe
//!
//! Kafka's committed offset of a partition means "every record before this one is done": after a
//! restart or a rebalance the group resumes there. Records of a partition are *received* in
//! offset order but *finish* in any order (records of different keys run concurrently), so the
//! tracker only ever promises what is true:
//!
//! - [`OffsetTracker::committable`] is the lowest offset received and not yet finished, or one
//!   past the highest offset received when all are finished. It never passes an unfinished
//!   record: a slow record holds its partition's commit while later ones finish around it.
//! - It never goes backwards (offsets are received in increasing order and a finished record
//!   never becomes unfinished).
//! - Offsets need not be contiguous (compaction, transaction markers): only received offsets are
//!   tracked, so a gap never blocks progress.
//!
//! A crash redelivers everything from the committed offset, including records that had already
//! finished beyond it: delivery is **at-least-once** and handlers are idempotent.
//!
//! # Protocol
//!
//! ```text
//! received(tp, offset)      in offset order per partition (as polled)
//! finished(tp, offset)      any order, once per received offset
//! committable(tp)           → offset to commit (Kafka's "next offset to read")
//! revoke(tp)                drop the partition's state (its unfinished records are redelivered
//!                           to the next owner from the last commit)
//! ```

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::Arc;

/// A partition of a topic.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    pub topic: Arc<str>,
    pub partition: i32,
}

impl TopicPartition {
    pub fn new(topic: &str, partition: i32) -> Self {
        Self {
            topic: Arc::from(topic),
            partition,
        }
    }
}

impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}[{}]", self.topic, self.partition)
    }
}

/// Misuse of the tracker's protocol; the runtime logs it and ignores the call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrackerError {
    #[error("offset {offset} of {tp} received after {highest}: offsets must increase")]
    OffsetWentBackwards {
        tp: TopicPartition,
        offset: i64,
        highest: i64,
    },
    #[error("offset {offset} of {tp} is not in flight")]
    NotInFlight { tp: TopicPartition, offset: i64 },
}

#[derive(Debug, Default)]
struct PartitionOffsets {
    /// One past the highest offset received; `None` until the first record.
    next: Option<i64>,
    /// Received and not finished.
    unfinished: BTreeSet<i64>,
}

/// Per-partition received/finished bookkeeping. Pure: no I/O, no clock.
#[derive(Debug, Default)]
pub struct OffsetTracker {
    partitions: HashMap<TopicPartition, PartitionOffsets>,
    in_flight: usize,
}

impl OffsetTracker {
    pub fn new() -> Self {
        Self::default()
    }

    /// A record was polled.
    pub fn received(&mut self, tp: &TopicPartition, offset: i64) -> Result<(), TrackerError> {
        let state = self.partitions.entry(tp.clone()).or_default();
        if let Some(next) = state.next
            && offset < next
        {
            return Err(TrackerError::OffsetWentBackwards {
                tp: tp.clone(),
                offset,
                highest: next - 1,
            });
        }
        state.next = Some(offset + 1);
        state.unfinished.insert(offset);
        self.in_flight += 1;
        Ok(())
    }

    /// The record is done (handled, handed off, or parked durably).
    pub fn finished(&mut self, tp: &TopicPartition, offset: i64) -> Result<(), TrackerError> {
        let removed = self
            .partitions
            .get_mut(tp)
            .is_some_and(|state| state.unfinished.remove(&offset));
        if !removed {
            return Err(TrackerError::NotInFlight {
                tp: tp.clone(),
                offset,
            });
        }
        self.in_flight -= 1;
        Ok(())
    }

    /// The offset to commit for `tp`: the lowest unfinished offset, or one past the highest
    /// received. `None` before the first record of the partition.
    pub fn committable(&self, tp: &TopicPartition) -> Option<i64> {
        let state = self.partitions.get(tp)?;
        state.unfinished.first().copied().or(state.next)
    }

    /// Committable offsets of every tracked partition.
    pub fn all_committable(&self) -> Vec<(TopicPartition, i64)> {
        let mut out: Vec<_> = self
            .partitions
            .keys()
            .filter_map(|tp| self.committable(tp).map(|o| (tp.clone(), o)))
            .collect();
        out.sort();
        out
    }

    /// Whether `offset` of `tp` is received and not finished.
    pub fn is_unfinished(&self, tp: &TopicPartition, offset: i64) -> bool {
        self.partitions
            .get(tp)
            .is_some_and(|s| s.unfinished.contains(&offset))
    }

    /// Records received and not finished, over all partitions.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Drop the state of a revoked partition.
    pub fn revoke(&mut self, tp: &TopicPartition) {
        if let Some(state) = self.partitions.remove(tp) {
            self.in_flight -= state.unfinished.len();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn tp() -> TopicPartition {
        TopicPartition::new("t", 0)
    }

    #[test]
    fn slow_record_holds_the_commit_while_later_ones_finish() {
        let mut t = OffsetTracker::new();
        for o in 10..15 {
            t.received(&tp(), o).expect("in order");
        }
        assert_eq!(t.committable(&tp()), Some(10));
        for o in [11, 12, 14] {
            t.finished(&tp(), o).expect("in flight");
        }
        assert_eq!(t.committable(&tp()), Some(10));
        t.finished(&tp(), 10).expect("in flight");
        assert_eq!(t.committable(&tp()), Some(13));
        t.finished(&tp(), 13).expect("in flight");
        assert_eq!(t.committable(&tp()), Some(15));
        assert_eq!(t.in_flight(), 0);
    }

    #[test]
    fn gaps_in_offsets_do_not_block() {
        let mut t = OffsetTracker::new();
        t.received(&tp(), 3).expect("ok");
        t.received(&tp(), 7).expect("ok");
        t.finished(&tp(), 3).expect("ok");
        assert_eq!(t.committable(&tp()), Some(7));
        t.finished(&tp(), 7).expect("ok");
        assert_eq!(t.committable(&tp()), Some(8));
    }

    #[test]
    fn misuse_is_reported() {
        let mut t = OffsetTracker::new();
        t.received(&tp(), 5).expect("ok");
        assert!(t.received(&tp(), 5).is_err());
        assert!(t.finished(&tp(), 6).is_err());
        t.finished(&tp(), 5).expect("ok");
        assert!(t.finished(&tp(), 5).is_err(), "finished twice");
    }

    #[test]
    fn revoke_drops_the_partition_and_its_in_flight_count() {
        let mut t = OffsetTracker::new();
        t.received(&tp(), 1).expect("ok");
        t.received(&TopicPartition::new("t", 1), 1).expect("ok");
        t.revoke(&tp());
        assert_eq!(t.in_flight(), 1);
        assert_eq!(t.committable(&tp()), None);
    }

    proptest! {
        /// For any order of completions: never past an unfinished record, monotonic, and at the
        /// end once everything finished.
        #[test]
        fn committable_never_passes_an_unfinished_record(
            gaps in proptest::collection::vec(1i64..4, 1..60),
            order_seed in proptest::collection::vec(any::<proptest::sample::Index>(), 60),
        ) {
            let mut t = OffsetTracker::new();
            let mut offsets = Vec::new();
            let mut o = 0;
            for g in gaps { o += g; offsets.push(o); t.received(&tp(), o).expect("increasing"); }
            let mut pending = offsets.clone();
            let mut last = t.committable(&tp()).expect("received");
            for idx in order_seed.iter().cycle().take(offsets.len()) {
                let i = idx.index(pending.len());
                let done = pending.swap_remove(i);
                t.finished(&tp(), done).expect("in flight");
                let c = t.committable(&tp()).expect("received");
                prop_assert!(c >= last, "went backwards: {} -> {}", last, c);
                prop_assert!(pending.iter().all(|&p| p >= c), "passed an unfinished record");
                last = c;
            }
            prop_assert_eq!(t.committable(&tp()), Some(o + 1));
            prop_assert_eq!(t.in_flight(), 0);
        }
    }
}
