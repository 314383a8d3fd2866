//! A map keyed by consecutive sequence numbers that are handed out in order and removed in any
//! order: a ring ([`VecDeque`]) of slots from the oldest key still present to the newest one
//! handed out, instead of a hash map.
//!
//! The relay numbers its records 0, 1, 2, … as it sends them and Kafka acknowledges them mostly
//! in that order (in order within a partition, interleaved across partitions), so the keys
//! present form a dense window: an insert is a push at the back, a lookup is an index, and a
//! removal empties a slot and pops the empty slots at the front. No hashing, no rehashing, one
//! contiguous buffer that is reused once it has grown to the window's size.
//!
//! Memory follows the window's *span* ([`SeqWindow::span`]: newest key + 1 − oldest key still
//! present), not the number of keys present ([`SeqWindow::len`]): one key left behind keeps a
//! slot for every key handed out after it. Callers that bound memory bound the span.

use std::collections::VecDeque;

/// Values keyed by consecutive `u64`s, see the module doc.
#[derive(Debug, Clone)]
pub struct SeqWindow<T> {
    /// Slot `i` holds key `front + i`; `None` once removed. The front slot is never `None`
    /// (empty slots at the front are popped), so the window is empty or starts at a key present.
    slots: VecDeque<Option<T>>,
    /// Key of `slots[0]`.
    front: u64,
    /// The key the next [`SeqWindow::push`] gets.
    next: u64,
    /// Slots holding a value.
    len: usize,
}

impl<T> SeqWindow<T> {
    /// An empty window whose first key is `first`.
    pub fn starting_at(first: u64) -> Self {
        SeqWindow {
            slots: VecDeque::new(),
            front: first,
            next: first,
            len: 0,
        }
    }

    /// Store `value` under the next key, which is returned (keys are handed out in order).
    pub fn push(&mut self, value: T) -> u64 {
        if self.slots.is_empty() {
            self.front = self.next;
        }
        let key = self.next;
        self.slots.push_back(Some(value));
        self.next += 1;
        self.len += 1;
        key
    }

    /// The value under `key`, if present.
    pub fn get_mut(&mut self, key: u64) -> Option<&mut T> {
        let index = self.index(key)?;
        self.slots.get_mut(index)?.as_mut()
    }

    /// Remove and return the value under `key`, if present.
    pub fn remove(&mut self, key: u64) -> Option<T> {
        let index = self.index(key)?;
        let value = self.slots.get_mut(index)?.take()?;
        self.len -= 1;
        while matches!(self.slots.front(), Some(None)) {
            self.slots.pop_front();
            self.front += 1;
        }
        Some(value)
    }

    /// Keys present.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Slots held: from the oldest key present to the newest key handed out (0 when empty).
    pub fn span(&self) -> usize {
        self.slots.len()
    }

    /// The key the next [`SeqWindow::push`] returns.
    pub fn next_key(&self) -> u64 {
        self.next
    }

    fn index(&self, key: u64) -> Option<usize> {
        usize::try_from(key.checked_sub(self.front)?).ok()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    #[test]
    fn keys_are_handed_out_in_order_from_the_start() {
        let mut window = SeqWindow::starting_at(7);
        assert_eq!(window.push('a'), 7);
        assert_eq!(window.push('b'), 8);
        assert_eq!(window.next_key(), 9);
        assert_eq!(window.len(), 2);
        assert_eq!(window.span(), 2);
    }

    #[test]
    fn a_key_left_behind_holds_the_span_until_it_is_removed() {
        let mut window = SeqWindow::starting_at(0);
        for value in 0..5 {
            window.push(value);
        }
        for key in 1..5 {
            assert_eq!(window.remove(key), Some(key));
        }
        assert_eq!((window.len(), window.span()), (1, 5), "key 0 holds 5 slots");
        assert_eq!(window.remove(0), Some(0));
        assert_eq!((window.len(), window.span()), (0, 0));
        assert_eq!(window.push(9), 5, "numbering goes on after emptying");
        assert_eq!(window.span(), 1);
    }

    #[test]
    fn unknown_keys_are_none_not_a_panic() {
        let mut window = SeqWindow::starting_at(10);
        assert_eq!(window.remove(3), None, "below the start");
        assert_eq!(window.remove(10), None, "not handed out yet");
        window.push(());
        assert_eq!(window.remove(u64::MAX), None);
        assert_eq!(window.remove(10), Some(()));
        assert_eq!(window.remove(10), None, "removed twice");
        assert!(window.get_mut(10).is_none());
    }

    #[derive(Debug, Clone)]
    enum Op {
        Push,
        /// Remove the key this far (modulo) into the keys handed out so far, present or not.
        Remove(usize),
        /// Bump the value under that key.
        Touch(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            2 => Just(Op::Push),
            2 => any::<usize>().prop_map(Op::Remove),
            1 => any::<usize>().prop_map(Op::Touch),
        ]
    }

    proptest! {
        /// The window behaves like an ordered map from the keys it handed out, and its span is
        /// exactly oldest key present ..= newest key handed out.
        #[test]
        fn behaves_like_a_map_with_a_tight_span(
            start in 0u64..1_000,
            ops in proptest::collection::vec(op(), 0..300),
        ) {
            let mut window = SeqWindow::starting_at(start);
            let mut model: BTreeMap<u64, u64> = BTreeMap::new();
            let mut handed_out = 0u64;
            for op in ops {
                match op {
                    Op::Push => {
                        let key = window.push(0);
                        prop_assert_eq!(key, start + handed_out);
                        model.insert(key, 0);
                        handed_out += 1;
                    }
                    Op::Remove(pick) | Op::Touch(pick) if handed_out == 0 => {
                        prop_assert_eq!(window.remove(start + pick as u64 % 7), None);
                    }
                    Op::Remove(pick) => {
                        let key = start + pick as u64 % handed_out;
                        prop_assert_eq!(window.remove(key), model.remove(&key));
                    }
                    Op::Touch(pick) => {
                        let key = start + pick as u64 % handed_out;
                        if let Some(value) = window.get_mut(key) {
                            *value += 1;
                        }
                        if let Some(value) = model.get_mut(&key) {
                            *value += 1;
                        }
                    }
                }
                prop_assert_eq!(window.len(), model.len());
                prop_assert_eq!(window.is_empty(), model.is_empty());
                let expected_span = model
                    .keys()
                    .next()
                    .map_or(0, |oldest| (start + handed_out - oldest) as usize);
                prop_assert_eq!(window.span(), expected_span);
                for (key, value) in &model {
                    prop_assert_eq!(window.get_mut(*key).copied(), Some(*value));
                }
                prop_assert_eq!(window.next_key(), start + handed_out);
            }
        }
    }
}
