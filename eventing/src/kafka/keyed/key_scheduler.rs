//! Which record may run next: one at a time per key, in arrival order, different keys at once.
//!
//! # Why this is safe
//!
//! - A key has at most one record *dispatched* (handed to a task) at any time; the next record
//!   of the key is dispatched only after the runtime reports the previous one complete. So a
//!   handler never sees two records of one key concurrently, and sees them in the order they
//!   arrived — offset order within a partition.
//! - The key lock is global across every subscribed topic: a source topic and its retry topics
//!   carry the same keys, so a retried record and a newer source record of its key never run
//!   concurrently.
//! - Records without a key are their own key ([`RecordKey::Unkeyed`], named by their position):
//!   they have no order to keep with anything, so they all run concurrently.
//! - With [`OrderingMode::Partition`] (the benchmark baseline) every record of a partition
//!   number maps to one [`RecordKey::Partition`], so a partition runs one record at a time; the
//!   per-key guarantees above still hold, since one key lives on one partition number.
//! - A completion is accepted only from the record currently holding the key
//!   ([`KeyScheduler::complete`] checks the [`WorkId`]): a late completion of a task abandoned at
//!   a revocation can never free a slot that another record holds by then.
//!
//! # Protocol
//!
//! ```text
//! push(key, id, item)        in arrival order
//! next_ready()               → (key, id, item) to dispatch; the key is now busy
//! complete(key, id)          the dispatched record is done (finished or abandoned)
//! revoke(is_revoked)         drop queued records of revoked partitions and free their slots
//! ```

use super::config::OrderingMode;
use super::offset_tracker::TopicPartition;
use std::collections::{HashMap, VecDeque};

/// What records are ordered by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RecordKey {
    /// The record key's bytes (the same key on any topic is the same key).
    Bytes(Vec<u8>),
    /// A record without a key: its own key, so it is ordered with nothing.
    Unkeyed { tp: TopicPartition, offset: i64 },
    /// Every record of this partition number, on any subscribed topic ([`OrderingMode::Partition`]).
    Partition(i32),
}

impl RecordKey {
    /// The key of a record at `tp`/`offset` with the given Kafka key.
    pub fn of(key: Option<&[u8]>, tp: &TopicPartition, offset: i64) -> Self {
        match key {
            Some(bytes) => RecordKey::Bytes(bytes.to_vec()),
            None => RecordKey::Unkeyed {
                tp: tp.clone(),
                offset,
            },
        }
    }

    /// What a record at `tp`/`offset` with the given Kafka key is scheduled by.
    ///
    /// [`OrderingMode::Partition`] uses the partition *number*, not the topic-partition: retry
    /// records keep their source partition number and subscribed topics share the partition
    /// count, so a key lives on one partition number across the source and retry topics — and
    /// the key lock stays global across topics, as in [`OrderingMode::Key`].
    pub fn scheduling(
        ordering: OrderingMode,
        key: Option<&[u8]>,
        tp: &TopicPartition,
        offset: i64,
    ) -> Self {
        match ordering {
            OrderingMode::Key => Self::of(key, tp, offset),
            OrderingMode::Partition => RecordKey::Partition(tp.partition),
        }
    }
}

/// Identifies one received record within one assignment of its partition.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WorkId {
    pub tp: TopicPartition,
    pub offset: i64,
    /// Assignment generation of the partition when the record was received.
    pub generation: u64,
}

/// Per-key FIFO queues with at most one dispatched record per key. Pure.
#[derive(Debug)]
pub struct KeyScheduler<T> {
    queues: HashMap<RecordKey, VecDeque<(WorkId, T)>>,
    busy: HashMap<RecordKey, WorkId>,
    /// Keys that are not busy and have a queued record; each at most once.
    ready: VecDeque<RecordKey>,
    queued: usize,
}

impl<T> Default for KeyScheduler<T> {
    fn default() -> Self {
        Self {
            queues: HashMap::new(),
            busy: HashMap::new(),
            ready: VecDeque::new(),
            queued: 0,
        }
    }
}

impl<T> KeyScheduler<T> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Queue a record behind the earlier records of its key.
    pub fn push(&mut self, key: RecordKey, id: WorkId, item: T) {
        let queue = self.queues.entry(key.clone()).or_default();
        queue.push_back((id, item));
        self.queued += 1;
        if queue.len() == 1 && !self.busy.contains_key(&key) {
            self.ready.push_back(key);
        }
    }

    /// The next record to dispatch, if a key is free; its key becomes busy.
    pub fn next_ready(&mut self) -> Option<(RecordKey, WorkId, T)> {
        let key = self.ready.pop_front()?;
        let queue = self
            .queues
            .get_mut(&key)
            .expect("a ready key has a queue (invariant of push/complete/revoke)");
        let (id, item) = queue
            .pop_front()
            .expect("a ready key has a queued record (invariant of push/complete/revoke)");
        if queue.is_empty() {
            self.queues.remove(&key);
        }
        self.queued -= 1;
        self.busy.insert(key.clone(), id.clone());
        Some((key, id, item))
    }

    /// The dispatched record `id` of `key` is done. False (and nothing changes) if `id` does not
    /// hold the key — a stale completion.
    pub fn complete(&mut self, key: &RecordKey, id: &WorkId) -> bool {
        if self.busy.get(key) != Some(id) {
            return false;
        }
        self.busy.remove(key);
        if self.queues.contains_key(key) {
            self.ready.push_back(key.clone());
        }
        true
    }

    /// Forget queued records of revoked partitions and free the keys their dispatched records
    /// hold (those tasks are abandoned; their completions will be stale).
    pub fn revoke(&mut self, is_revoked: impl Fn(&TopicPartition) -> bool) {
        self.busy.retain(|_, id| !is_revoked(&id.tp));
        let mut queued = 0;
        self.queues.retain(|_, queue| {
            queue.retain(|(id, _)| !is_revoked(&id.tp));
            queued += queue.len();
            !queue.is_empty()
        });
        self.queued = queued;
        let busy = &self.busy;
        self.ready = self
            .queues
            .keys()
            .filter(|k| !busy.contains_key(*k))
            .cloned()
            .collect();
    }

    /// Forget queued (not dispatched) records of revoked partitions; dispatched ones keep their
    /// keys until they complete or [`KeyScheduler::revoke`] frees them.
    pub fn drop_queued(&mut self, is_revoked: impl Fn(&TopicPartition) -> bool) {
        let busy = &self.busy;
        let mut queued = 0;
        self.queues.retain(|_, queue| {
            queue.retain(|(id, _)| !is_revoked(&id.tp));
            queued += queue.len();
            !queue.is_empty()
        });
        self.queued = queued;
        let queues = &self.queues;
        self.ready
            .retain(|k| queues.contains_key(k) && !busy.contains_key(k));
    }

    /// Records dispatched and not completed.
    pub fn dispatched(&self) -> usize {
        self.busy.len()
    }

    /// Dispatched records of the partitions `is_in` selects.
    pub fn dispatched_in(&self, is_in: impl Fn(&TopicPartition) -> bool) -> usize {
        self.busy.values().filter(|id| is_in(&id.tp)).count()
    }

    /// Records queued behind a busy key or waiting for dispatch.
    pub fn queued(&self) -> usize {
        self.queued
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashSet;

    fn id(partition: i32, offset: i64) -> WorkId {
        WorkId {
            tp: TopicPartition::new("t", partition),
            offset,
            generation: 0,
        }
    }

    fn key(k: u8) -> RecordKey {
        RecordKey::Bytes(vec![k])
    }

    #[test]
    fn one_record_per_key_and_different_keys_at_once() {
        let mut s = KeyScheduler::new();
        s.push(key(1), id(0, 0), ());
        s.push(key(1), id(0, 1), ());
        s.push(key(2), id(0, 2), ());
        let a = s.next_ready().expect("key 1");
        let b = s.next_ready().expect("key 2");
        assert_eq!((a.1.offset, b.1.offset), (0, 2));
        assert!(s.next_ready().is_none(), "key 1 is busy");
        assert!(s.complete(&a.0, &a.1));
        assert_eq!(s.next_ready().expect("key 1 again").1.offset, 1);
    }

    #[test]
    fn stale_completion_does_not_free_the_key() {
        let mut s = KeyScheduler::new();
        s.push(key(1), id(0, 0), ());
        let (k, first, ()) = s.next_ready().expect("ready");
        s.revoke(|tp| tp.partition == 0);
        s.push(key(1), id(1, 5), ());
        let (_, second, ()) = s.next_ready().expect("slot freed by the revocation");
        assert!(
            !s.complete(&k, &first),
            "the abandoned task's completion is stale"
        );
        s.push(key(1), id(1, 6), ());
        assert!(
            s.next_ready().is_none(),
            "the key is still held by offset 5"
        );
        assert!(s.complete(&k, &second));
        assert!(s.next_ready().is_some());
    }

    #[test]
    fn unkeyed_records_are_their_own_key() {
        let tp = TopicPartition::new("t", 0);
        let mut s = KeyScheduler::new();
        for o in 0..3 {
            s.push(RecordKey::of(None, &tp, o), id(0, o), ());
        }
        assert!((0..3).all(|_| s.next_ready().is_some()));
    }

    #[test]
    fn partition_ordering_never_dispatches_two_keys_of_one_partition_together() {
        let (p0, p1) = (TopicPartition::new("t", 0), TopicPartition::new("t", 1));
        let retry_p0 = TopicPartition::new("t.retry", 0);
        let mut s = KeyScheduler::new();
        let push = |s: &mut KeyScheduler<()>, tp: &TopicPartition, offset, k: &[u8]| {
            let key = RecordKey::scheduling(OrderingMode::Partition, Some(k), tp, offset);
            s.push(key, id(tp.partition, offset), ());
        };
        push(&mut s, &p0, 0, b"order-a");
        push(&mut s, &p0, 1, b"order-b");
        push(&mut s, &retry_p0, 2, b"order-c");
        push(&mut s, &p1, 3, b"order-d");
        let first = s.next_ready().expect("partition 0");
        let other = s.next_ready().expect("partition 1 runs alongside");
        assert_eq!((first.1.offset, other.1.offset), (0, 3));
        assert!(
            s.next_ready().is_none(),
            "order-b and order-c wait for order-a: one record per partition number"
        );
        assert!(s.complete(&first.0, &first.1));
        assert_eq!(s.next_ready().expect("next of partition 0").1.offset, 1);
        assert!(s.next_ready().is_none());

        // The same records by key all run at once.
        let mut by_key = KeyScheduler::new();
        for (offset, k) in [b"order-a", b"order-b"].iter().enumerate() {
            let key = RecordKey::scheduling(OrderingMode::Key, Some(&k[..]), &p0, offset as i64);
            by_key.push(key, id(0, offset as i64), ());
        }
        assert!(by_key.next_ready().is_some() && by_key.next_ready().is_some());
    }

    proptest! {
        /// Never two records of a key dispatched at once; per key, dispatch order = push order.
        #[test]
        fn per_key_exclusive_and_in_order(
            keys in proptest::collection::vec(0u8..5, 1..80),
            choices in proptest::collection::vec(any::<proptest::sample::Index>(), 200),
        ) {
            let mut s = KeyScheduler::new();
            for (offset, k) in keys.iter().enumerate() {
                s.push(key(*k), id(0, offset as i64), *k);
            }
            let mut running: Vec<(RecordKey, WorkId)> = Vec::new();
            let mut last_offset: HashMap<u8, i64> = HashMap::new();
            let mut done = 0;
            let mut choices = choices.into_iter().cycle();
            while done < keys.len() {
                while let Some((k, wid, raw)) = s.next_ready() {
                    let busy: HashSet<_> = running.iter().map(|(k, _)| k.clone()).collect();
                    prop_assert!(!busy.contains(&k), "two records of one key dispatched");
                    if let Some(prev) = last_offset.insert(raw, wid.offset) {
                        prop_assert!(prev < wid.offset, "out of order for key {}", raw);
                    }
                    running.push((k, wid));
                }
                let pick = choices.next().expect("cycled").index(running.len());
                let (k, wid) = running.swap_remove(pick);
                prop_assert!(s.complete(&k, &wid));
                done += 1;
            }
            prop_assert_eq!(s.dispatched(), 0);
            prop_assert_eq!(s.queued(), 0);
        }
    }
}
