//! The delivery-guarantee state machine: which WAL position may be reported to Postgres as
//! flushed, given which Kafka records have been acknowledged.
//!
//! # Why this is safe
//!
//! Postgres sends whole transactions, in commit order. When a transaction's Commit arrives, its
//! `end_lsn` (the position just past its commit record) is what the relay eventually reports as
//! flushed; after a restart Postgres resumes decoding at the slot's `confirmed_flush_lsn` and skips
//! every transaction whose commit record starts before it. So reporting `end_lsn` of transaction
//! T promises "T and everything before it is in Kafka". The tracker only makes that promise when
//! it is true:
//!
//! - [`AckTracker::flushable_lsn`] is the largest LSN `L` such that every record of every
//!   transaction with `end_lsn <= L` has been acknowledged by Kafka. Acks may arrive in any
//!   order; a later transaction that is fully acked waits for every earlier one.
//! - It never passes an unacked record: a transaction with a record not yet acked (or failed and
//!   not yet re-sent successfully) holds the position before its `end_lsn`.
//! - It never goes backwards.
//! - A crash at any point loses nothing: the slot replays everything after the last reported
//!   position, so delivery is **at-least-once** (duplicates after a crash carry the same event id
//!   header for consumers to deduplicate).
//!
//! # Positions outside transactions: keepalives, heartbeats, empty transactions
//!
//! While the outbox is idle the relay sees no transaction, yet the slot must follow the WAL
//! (other tables' writes, the heartbeat) or it pins WAL forever. What it does see is the server's
//! keepalive, whose `wal_end` is the walsender's read position: the end of the last WAL record it
//! decoded. [`AckTracker::keepalive`] turns a `wal_end` received *between* transactions into an
//! entry of the same queue as the transactions — an empty transaction ending there. Why
//! confirming it (once flushable) loses nothing:
//!
//! 1. **Everything before `wal_end` was already sent, or has nothing to send.** The walsender
//!    decodes the WAL in order and sends a transaction while decoding its commit record, before
//!    its read position moves past that record; the connection is ordered. So when a keepalive
//!    with `wal_end = W` arrives, every transaction committed before `W` either arrived earlier in
//!    the stream or produced nothing for us: no change in the publication (pgoutput skips such
//!    empty transactions since Postgres 15 and sends a bare BEGIN/COMMIT before), or no change at
//!    all (the relay's UNLOGGED heartbeat table writes only a commit record).
//! 2. **Everything not yet sent commits at or after `W`.** Its commit record lies ahead of the
//!    read position. After a restart Postgres replays every transaction whose commit record
//!    starts at or after `confirmed_flush_lsn`, so confirming `W` drops none of them (and the
//!    slot's `restart_lsn` is Postgres' business: it stays far enough back to decode
//!    transactions that were still open at `W`).
//! 3. **Nothing we received before `W` may be unacknowledged.** That is the queue rule: the
//!    keepalive entry sits behind every transaction registered before it and becomes flushable
//!    only when they all are. With nothing in flight it is flushable at once, which is how the
//!    slot advances on an idle outbox; with a record in flight it waits for that record's ack,
//!    then the position jumps to the newest keepalive.
//!
//! The rest follows from these:
//! - A keepalive *inside* an open transaction (the walsender pings while it streams a large
//!   transaction) is ignored: it says nothing about the transaction being received, and its
//!   Commit follows anyway.
//! - A keepalive not past the highest position registered so far is ignored (no news, and the
//!   queue stays ordered). Consecutive keepalives share one entry, so an idle period costs
//!   constant memory.
//! - An empty transaction (BEGIN/COMMIT with no outbox insert) is the same thing at its
//!   `end_lsn`: flushable as soon as everything before it is.
//! - A non-transactional logical message (`--heartbeat-mode logical-message`) is decoded and
//!   sent at its own LSN, outside any transaction, after every transaction committed before it:
//!   the relay passes its LSN to [`AckTracker::keepalive`] too.
//!
//! When keepalives come: a walsender that has caught up with the WAL and waits for more sends
//! one whenever the position the client reported is behind its read position (and, asking for a
//! reply, at least every `wal_sender_timeout / 2`). So each burst of WAL the relay has no
//! transaction for is followed by a keepalive carrying its end. A heartbeat never confirms
//! anything by itself: it only makes WAL (and so the keepalives' `wal_end`) move in this
//! database, and the rules above decide what is confirmed.
//!
//! # Protocol
//!
//! ```text
//! begin_tx(final_lsn) → record_sent(())* → end_tx(end_lsn)        per transaction, in stream order
//! record_acked(seq) / record_failed(seq)                        any time, any order
//! keepalive(wal_end)                                            any time; used only between txs
//! flushable_lsn()                                               → report to the replication client
//! ```
//!
//! The tracker belongs to one replication session. After reconnecting, start a new one with
//! [`AckTracker::next_session`] from the old tracker's [`AckTracker::flushable_lsn`]: it numbers
//! its records after the old one's, so acks of records from the old session are
//! [`AckError::UnknownRecord`] and can be ignored (the new session replays those rows).
//!
//! Each record in flight carries a value of the caller's (`T`: the relay keeps what it needs
//! once the record is acknowledged or fails), handed back by [`AckTracker::record_acked`].

use std::collections::VecDeque;
use std::fmt;

use thiserror::Error;

use crate::domain::lsn::Lsn;
use crate::domain::seq_window::SeqWindow;

/// Identifies one published record; hand it to the producer and pass it back with the outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordSeq(pub u64);

impl fmt::Display for RecordSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Misuse of the tracker's protocol. None of these happen with a well-behaved stream; the I/O
/// layer should treat them as fatal for the session (reconnect and replay).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AckError {
    #[error("begin_tx while a transaction is still open")]
    TransactionAlreadyOpen,
    #[error("{operation} without an open transaction")]
    NoOpenTransaction { operation: &'static str },
    #[error("record {seq} is not in flight (never sent by this tracker, or already acked)")]
    UnknownRecord { seq: RecordSeq },
    #[error("LSN went backwards: {got} is before {previous}")]
    LsnWentBackwards { previous: Lsn, got: Lsn },
}

/// Tracks in-flight records per transaction and computes the flushable LSN. `T`: what the caller
/// keeps per record in flight.
#[derive(Debug)]
pub struct AckTracker<T = ()> {
    /// What [`AckTracker::flushable_lsn`] returns.
    flushed: Lsn,
    /// Highest LSN ever registered: the start, a transaction end or an accepted keepalive.
    registered: Lsn,
    /// Entries not yet flushed, in stream order. While a transaction is open it is the back
    /// entry, with `end == None`.
    pending: VecDeque<Entry>,
    /// Stable index of `pending.front()`; entry indexes only grow.
    front_index: u64,
    /// Records sent and not yet acked, with the index of their entry, by sequence number
    /// (records are numbered in send order, so a dense ring rather than a hash map).
    in_flight: SeqWindow<InFlight<T>>,
    failed: usize,
}

#[derive(Debug)]
struct Entry {
    /// `None` while the transaction is open.
    end: Option<Lsn>,
    /// Records of this entry not yet acked.
    outstanding: usize,
    kind: EntryKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EntryKind {
    Transaction,
    Keepalive,
}

#[derive(Debug)]
struct InFlight<T> {
    entry: u64,
    failed: bool,
    value: T,
}

impl<T> AckTracker<T> {
    /// A tracker for a session whose durable position is `start` (the slot's
    /// `confirmed_flush_lsn`, or the position the session starts from).
    pub fn new(start: Lsn) -> Self {
        Self::numbered_from(start, 0)
    }

    /// The tracker of the next session, starting at `start`: its records are numbered after
    /// every record of this one, so a late report about one of those is
    /// [`AckError::UnknownRecord`] to it, never mistaken for one of its own.
    pub fn next_session(&self, start: Lsn) -> Self {
        Self::numbered_from(start, self.in_flight.next_key())
    }

    fn numbered_from(start: Lsn, first_seq: u64) -> Self {
        AckTracker {
            flushed: start,
            registered: start,
            pending: VecDeque::new(),
            front_index: 0,
            in_flight: SeqWindow::starting_at(first_seq),
            failed: 0,
        }
    }

    /// A transaction begins (`final_lsn` is its commit record's LSN, from the Begin message).
    pub fn begin_tx(&mut self, final_lsn: Lsn) -> Result<(), AckError> {
        if self.is_tx_open() {
            return Err(AckError::TransactionAlreadyOpen);
        }
        if final_lsn < self.registered {
            return Err(AckError::LsnWentBackwards {
                previous: self.registered,
                got: final_lsn,
            });
        }
        self.pending.push_back(Entry {
            end: None,
            outstanding: 0,
            kind: EntryKind::Transaction,
        });
        Ok(())
    }

    /// A record of the open transaction is handed to the producer; `value` is kept with it.
    pub fn record_sent(&mut self, value: T) -> Result<RecordSeq, AckError> {
        if !self.is_tx_open() {
            return Err(AckError::NoOpenTransaction {
                operation: "record_sent",
            });
        }
        let entry = self.back_index();
        if let Some(open) = self.pending.back_mut() {
            open.outstanding += 1;
        }
        Ok(RecordSeq(self.in_flight.push(InFlight {
            entry,
            failed: false,
            value,
        })))
    }

    /// Kafka acknowledged the record (possibly after it had failed and was re-sent); its value.
    pub fn record_acked(&mut self, seq: RecordSeq) -> Result<T, AckError> {
        let record = self
            .in_flight
            .remove(seq.0)
            .ok_or(AckError::UnknownRecord { seq })?;
        if record.failed {
            self.failed -= 1;
        }
        let entry = self
            .entry_mut(record.entry)
            .expect("an entry stays pending while it has records in flight");
        entry.outstanding -= 1;
        self.advance();
        Ok(record.value)
    }

    /// Delivery of the record failed for good. It keeps holding back its transaction: the relay
    /// re-sends it and reports the new outcome with the same `seq`, or gives up and reconnects
    /// (replaying from [`AckTracker::flushable_lsn`]). A failed record is never skipped. Its
    /// value, for the caller to update (e.g. count the attempt).
    pub fn record_failed(&mut self, seq: RecordSeq) -> Result<&mut T, AckError> {
        let record = self
            .in_flight
            .get_mut(seq.0)
            .ok_or(AckError::UnknownRecord { seq })?;
        if !record.failed {
            record.failed = true;
            self.failed += 1;
        }
        Ok(&mut record.value)
    }

    /// The open transaction's Commit arrived (`end_lsn` from the Commit message): all its
    /// records have been registered.
    pub fn end_tx(&mut self, end_lsn: Lsn) -> Result<(), AckError> {
        if !self.is_tx_open() {
            return Err(AckError::NoOpenTransaction {
                operation: "end_tx",
            });
        }
        if end_lsn <= self.registered {
            return Err(AckError::LsnWentBackwards {
                previous: self.registered,
                got: end_lsn,
            });
        }
        if let Some(open) = self.pending.back_mut() {
            open.end = Some(end_lsn);
        }
        self.registered = end_lsn;
        self.advance();
        Ok(())
    }

    /// The server's WAL end from a keepalive. Returns whether it was used: it is ignored inside
    /// an open transaction and when it is not past everything registered so far.
    pub fn keepalive(&mut self, wal_end: Lsn) -> bool {
        if self.is_tx_open() || wal_end <= self.registered {
            return false;
        }
        self.registered = wal_end;
        match self.pending.back_mut() {
            // Consecutive keepalives share one entry, so idle periods use constant memory.
            Some(last) if last.kind == EntryKind::Keepalive => last.end = Some(wal_end),
            _ => self.pending.push_back(Entry {
                end: Some(wal_end),
                outstanding: 0,
                kind: EntryKind::Keepalive,
            }),
        }
        self.advance();
        true
    }

    /// The highest LSN that is safe to report as flushed.
    pub fn flushable_lsn(&self) -> Lsn {
        self.flushed
    }

    /// Records sent and not yet acked (failed ones included).
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Records from the oldest one not yet acked to the newest one sent (0 when none is in
    /// flight): at least [`AckTracker::in_flight`], and what the tracker's memory for records
    /// follows. Bound this to bound memory: one record left unacked keeps a slot for every
    /// record sent after it.
    pub fn in_flight_span(&self) -> usize {
        self.in_flight.span()
    }

    /// Records whose last reported outcome is a failure.
    pub fn failed(&self) -> usize {
        self.failed
    }

    /// Transactions begun and not yet flushable, the open one included.
    pub fn pending_transactions(&self) -> usize {
        self.pending
            .iter()
            .filter(|entry| entry.kind == EntryKind::Transaction)
            .count()
    }

    /// Whether `begin_tx` was called without a matching `end_tx`.
    pub fn is_tx_open(&self) -> bool {
        self.pending.back().is_some_and(|entry| entry.end.is_none())
    }

    /// Stable index of the back entry (only called while one exists).
    fn back_index(&self) -> u64 {
        self.front_index + self.pending.len() as u64 - 1
    }

    fn entry_mut(&mut self, index: u64) -> Option<&mut Entry> {
        let offset = usize::try_from(index.checked_sub(self.front_index)?).ok()?;
        self.pending.get_mut(offset)
    }

    /// Flush every leading entry that is closed and fully acked.
    fn advance(&mut self) {
        while let Some(front) = self.pending.front() {
            match front.end {
                Some(end) if front.outstanding == 0 => {
                    self.flushed = self.flushed.max(end);
                    self.pending.pop_front();
                    self.front_index += 1;
                }
                _ => break,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// One transaction [final_lsn, end_lsn) with `records` records, all sent; returns their seqs.
    fn tx<T: Default>(
        tracker: &mut AckTracker<T>,
        final_lsn: u64,
        end_lsn: u64,
        records: usize,
    ) -> Vec<RecordSeq> {
        tracker.begin_tx(Lsn(final_lsn)).expect("no tx open");
        let seqs = (0..records)
            .map(|_| tracker.record_sent(T::default()).expect("tx open"))
            .collect();
        tracker.end_tx(Lsn(end_lsn)).expect("increasing LSNs");
        seqs
    }

    fn ack(tracker: &mut AckTracker, seqs: &[RecordSeq]) {
        for &seq in seqs {
            tracker.record_acked(seq).expect("record in flight");
        }
    }

    #[test]
    fn starts_at_the_durable_position() {
        let tracker = AckTracker::<()>::new(Lsn(100));
        assert_eq!(tracker.flushable_lsn(), Lsn(100));
        assert_eq!(tracker.in_flight(), 0);
        assert!(!tracker.is_tx_open());
    }

    #[test]
    fn fully_acked_transaction_flushes_its_end_lsn() {
        let mut tracker = AckTracker::<()>::new(Lsn(100));
        let seqs = tx(&mut tracker, 110, 120, 2);
        assert_eq!(tracker.flushable_lsn(), Lsn(100));
        assert_eq!(tracker.in_flight(), 2);
        ack(&mut tracker, &seqs);
        assert_eq!(tracker.flushable_lsn(), Lsn(120));
        assert_eq!(tracker.in_flight(), 0);
        assert_eq!(tracker.pending_transactions(), 0);
    }

    #[test]
    fn a_later_acked_transaction_waits_for_an_earlier_unacked_one() {
        let mut tracker = AckTracker::<()>::new(Lsn(0));
        let first = tx(&mut tracker, 10, 20, 1);
        let second = tx(&mut tracker, 30, 40, 1);
        ack(&mut tracker, &second);
        assert_eq!(tracker.flushable_lsn(), Lsn(0), "tx 1 still unacked");
        ack(&mut tracker, &first);
        assert_eq!(
            tracker.flushable_lsn(),
            Lsn(40),
            "both done: jump to the later end"
        );
    }

    #[test]
    fn open_transaction_holds_progress_even_when_its_records_are_acked() {
        let mut tracker = AckTracker::<()>::new(Lsn(0));
        tracker.begin_tx(Lsn(10)).expect("no tx open");
        let seq = tracker.record_sent(()).expect("tx open");
        tracker.record_acked(seq).expect("in flight");
        assert_eq!(
            tracker.flushable_lsn(),
            Lsn(0),
            "more records may still come"
        );
        tracker.end_tx(Lsn(20)).expect("increasing");
        assert_eq!(tracker.flushable_lsn(), Lsn(20));
    }

    #[test]
    fn transaction_without_outbox_records_flushes_at_commit() {
        let mut tracker = AckTracker::<()>::new(Lsn(0));
        tx(&mut tracker, 10, 20, 0);
        assert_eq!(tracker.flushable_lsn(), Lsn(20));
    }

    #[test]
    fn idle_keepalive_advances_progress() {
        let mut tracker = AckTracker::<()>::new(Lsn(100));
        assert!(tracker.keepalive(Lsn(500)));
        assert_eq!(tracker.flushable_lsn(), Lsn(500));
        assert!(!tracker.keepalive(Lsn(400)), "older keepalive ignored");
        assert_eq!(tracker.flushable_lsn(), Lsn(500));
    }

    #[test]
    fn keepalive_inside_an_open_transaction_is_ignored() {
        let mut tracker = AckTracker::<()>::new(Lsn(0));
        tracker.begin_tx(Lsn(10)).expect("no tx open");
        let seq = tracker.record_sent(()).expect("tx open");
        assert!(!tracker.keepalive(Lsn(1_000)));
        tracker.end_tx(Lsn(20)).expect("increasing");
        tracker.record_acked(seq).expect("in flight");
        assert_eq!(tracker.flushable_lsn(), Lsn(20));
    }

    #[test]
    fn keepalive_after_unacked_transaction_waits_for_it() {
        let mut tracker = AckTracker::<()>::new(Lsn(0));
        let seqs = tx(&mut tracker, 10, 20, 1);
        assert!(tracker.keepalive(Lsn(50)));
        assert!(tracker.keepalive(Lsn(60)));
        assert_eq!(tracker.flushable_lsn(), Lsn(0));
        ack(&mut tracker, &seqs);
        assert_eq!(tracker.flushable_lsn(), Lsn(60));
    }

    #[test]
    fn failed_record_blocks_until_a_resend_is_acked() {
        let mut tracker = AckTracker::<()>::new(Lsn(0));
        let seqs = tx(&mut tracker, 10, 20, 2);
        tracker.record_failed(seqs[0]).expect("in flight");
        tracker
            .record_failed(seqs[0])
            .expect("failing twice is idempotent");
        tracker.record_acked(seqs[1]).expect("in flight");
        assert_eq!(tracker.failed(), 1);
        assert_eq!(tracker.in_flight(), 1, "a failed record is still in flight");
        assert_eq!(tracker.flushable_lsn(), Lsn(0));
        tracker.record_acked(seqs[0]).expect("re-sent and acked");
        assert_eq!(tracker.failed(), 0);
        assert_eq!(tracker.flushable_lsn(), Lsn(20));
    }

    #[test]
    fn each_record_keeps_its_value_until_acked() {
        let mut tracker = AckTracker::<&str>::new(Lsn(0));
        tracker.begin_tx(Lsn(10)).expect("no tx open");
        let first = tracker.record_sent("first").expect("tx open");
        let second = tracker.record_sent("second").expect("tx open");
        tracker.end_tx(Lsn(20)).expect("increasing");
        *tracker.record_failed(first).expect("in flight") = "first, failed once";
        assert_eq!(tracker.record_acked(second), Ok("second"));
        assert_eq!(tracker.record_acked(first), Ok("first, failed once"));
        assert_eq!(tracker.flushable_lsn(), Lsn(20));
    }

    #[test]
    fn the_next_session_numbers_after_this_one_so_late_reports_are_unknown() {
        let mut old = AckTracker::<u32>::new(Lsn(0));
        let stale = tx(&mut old, 10, 20, 2);
        let mut new = old.next_session(Lsn(0));
        new.begin_tx(Lsn(10)).expect("no tx open");
        let fresh = new.record_sent(8).expect("tx open");
        assert!(!stale.contains(&fresh), "{stale:?} vs {fresh}");
        for seq in stale {
            assert_eq!(new.record_acked(seq), Err(AckError::UnknownRecord { seq }));
            assert!(new.record_failed(seq).is_err());
        }
        assert_eq!(new.in_flight(), 1);
        assert_eq!(new.record_acked(fresh), Ok(8));
    }

    #[test]
    fn protocol_misuse_is_a_typed_error() {
        let mut tracker = AckTracker::<()>::new(Lsn(100));
        assert_eq!(
            tracker.record_sent(()),
            Err(AckError::NoOpenTransaction {
                operation: "record_sent"
            })
        );
        assert_eq!(
            tracker.end_tx(Lsn(200)),
            Err(AckError::NoOpenTransaction {
                operation: "end_tx"
            })
        );
        assert_eq!(
            tracker.begin_tx(Lsn(50)),
            Err(AckError::LsnWentBackwards {
                previous: Lsn(100),
                got: Lsn(50)
            })
        );
        tracker.begin_tx(Lsn(110)).expect("no tx open");
        assert_eq!(
            tracker.begin_tx(Lsn(120)),
            Err(AckError::TransactionAlreadyOpen)
        );
        assert_eq!(
            tracker.end_tx(Lsn(100)),
            Err(AckError::LsnWentBackwards {
                previous: Lsn(100),
                got: Lsn(100)
            })
        );
        assert!(tracker.is_tx_open(), "a rejected end_tx leaves the tx open");
        let seq = tracker.record_sent(()).expect("tx open");
        tracker.record_acked(seq).expect("in flight");
        assert_eq!(
            tracker.record_acked(seq),
            Err(AckError::UnknownRecord { seq }),
            "double ack"
        );
        assert_eq!(
            tracker.record_failed(RecordSeq(99)),
            Err(AckError::UnknownRecord { seq: RecordSeq(99) })
        );
    }

    // ---- property tests -------------------------------------------------------------------

    /// One transaction of the generated stream.
    #[derive(Debug, Clone)]
    struct TxPlan {
        records: usize,
        /// Keepalive received before the transaction, this far past the previous position.
        keepalive_before: Option<u64>,
        /// Keepalive received inside the transaction, at any position (must be ignored).
        keepalive_inside: Option<u64>,
        /// Distance from the previous position to the commit record, and the commit's length.
        commit_gap: u64,
        commit_len: u64,
    }

    fn tx_plan() -> impl Strategy<Value = TxPlan> {
        (
            0usize..4,
            proptest::option::of(0u64..50),
            proptest::option::of(any::<u64>()),
            0u64..50,
            1u64..50,
        )
            .prop_map(
                |(records, keepalive_before, keepalive_inside, commit_gap, commit_len)| TxPlan {
                    records,
                    keepalive_before,
                    keepalive_inside,
                    commit_gap,
                    commit_len,
                },
            )
    }

    /// The stream as the relay would feed it, with the LSNs Postgres would send.
    #[derive(Debug, Clone, Copy)]
    enum StreamOp {
        Keepalive(Lsn),
        Begin(Lsn),
        Send,
        End(Lsn),
    }

    fn stream_ops(start: u64, plans: &[TxPlan]) -> Vec<StreamOp> {
        let mut position = start;
        let mut ops = Vec::new();
        for plan in plans {
            if let Some(gap) = plan.keepalive_before {
                position += gap;
                ops.push(StreamOp::Keepalive(Lsn(position)));
            }
            let final_lsn = position + plan.commit_gap;
            position = final_lsn + plan.commit_len;
            ops.push(StreamOp::Begin(Lsn(final_lsn)));
            ops.extend(std::iter::repeat_n(StreamOp::Send, plan.records));
            if let Some(anywhere) = plan.keepalive_inside {
                ops.push(StreamOp::Keepalive(Lsn(anywhere)));
            }
            ops.push(StreamOp::End(Lsn(position)));
        }
        ops
    }

    /// The specification, written the slow and obvious way.
    #[derive(Debug, Default)]
    struct Model {
        start: Lsn,
        registered: Lsn,
        open: Option<Vec<RecordSeq>>,
        /// Closed entries in stream order: (end LSN, records).
        closed: Vec<(Lsn, Vec<RecordSeq>)>,
        acked: std::collections::HashSet<RecordSeq>,
        sent: usize,
    }

    impl Model {
        fn expected_flushable(&self) -> Lsn {
            self.closed
                .iter()
                .take_while(|(_, records)| records.iter().all(|r| self.acked.contains(r)))
                .map(|(end, _)| *end)
                .fold(self.start, Lsn::max)
        }

        fn unacked(&self) -> usize {
            self.sent - self.acked.len()
        }
    }

    fn apply(
        op: StreamOp,
        tracker: &mut AckTracker,
        model: &mut Model,
        in_flight: &mut Vec<RecordSeq>,
    ) {
        match op {
            StreamOp::Keepalive(wal_end) => {
                let used = tracker.keepalive(wal_end);
                let expected = model.open.is_none() && wal_end > model.registered;
                assert_eq!(used, expected, "keepalive {wal_end} acceptance");
                if used {
                    model.registered = wal_end;
                    model.closed.push((wal_end, Vec::new()));
                }
            }
            StreamOp::Begin(final_lsn) => {
                tracker
                    .begin_tx(final_lsn)
                    .expect("generated LSNs increase");
                model.open = Some(Vec::new());
            }
            StreamOp::Send => {
                let seq = tracker.record_sent(()).expect("tx open");
                model.open.get_or_insert_with(Vec::new).push(seq);
                model.sent += 1;
                in_flight.push(seq);
            }
            StreamOp::End(end_lsn) => {
                tracker.end_tx(end_lsn).expect("generated LSNs increase");
                model.registered = end_lsn;
                model
                    .closed
                    .push((end_lsn, model.open.take().unwrap_or_default()));
            }
        }
    }

    fn check(tracker: &AckTracker, model: &Model, previous: &mut Lsn) {
        let flushable = tracker.flushable_lsn();
        assert!(
            flushable >= *previous,
            "went backwards: {previous} -> {flushable}"
        );
        *previous = flushable;
        assert_eq!(flushable, model.expected_flushable());
        for (end, records) in &model.closed {
            if records.iter().any(|r| !model.acked.contains(r)) {
                assert!(flushable < *end, "passed unacked tx ending at {end}");
            }
        }
        assert_eq!(tracker.in_flight(), model.unacked());
        // Records are numbered 0, 1, … in send order: the span runs from the oldest unacked one
        // to the newest one sent.
        let expected_span = (0..model.sent as u64)
            .find(|seq| !model.acked.contains(&RecordSeq(*seq)))
            .map_or(0, |oldest| model.sent - oldest as usize);
        assert_eq!(tracker.in_flight_span(), expected_span);
    }

    /// Feed `plans` as a stream in which every record is acked at once, except the record
    /// numbered `held` (counting all records of the stream), which stays in flight. Calls
    /// `after_each(tracker, held_tx_end)` after every operation; `held_tx_end` is the end of the
    /// held record's transaction once its Commit arrived.
    fn run_with_one_held_record(
        start: u64,
        plans: &[TxPlan],
        held: Option<usize>,
        mut after_each: impl FnMut(&AckTracker, Option<Lsn>, StreamOp, bool),
    ) -> (AckTracker, Option<RecordSeq>) {
        let mut tracker = AckTracker::<()>::new(Lsn(start));
        let mut sent = 0usize;
        let mut held_seq = None;
        let mut held_open = false;
        let mut held_end = None;
        for op in stream_ops(start, plans) {
            let used = match op {
                StreamOp::Keepalive(wal_end) => tracker.keepalive(wal_end),
                StreamOp::Begin(final_lsn) => {
                    tracker
                        .begin_tx(final_lsn)
                        .expect("generated LSNs increase");
                    true
                }
                StreamOp::Send => {
                    let seq = tracker.record_sent(()).expect("tx open");
                    if Some(sent) == held {
                        held_seq = Some(seq);
                        held_open = true;
                    } else {
                        tracker.record_acked(seq).expect("in flight");
                    }
                    sent += 1;
                    true
                }
                StreamOp::End(end_lsn) => {
                    tracker.end_tx(end_lsn).expect("generated LSNs increase");
                    if held_open {
                        held_end = Some(end_lsn);
                        held_open = false;
                    }
                    true
                }
            };
            after_each(&tracker, held_end, op, used);
        }
        (tracker, held_seq)
    }

    proptest! {
        /// An idle outbox: with nothing in flight, the newest keepalive and the end of every
        /// transaction (empty ones included) are confirmed at once.
        #[test]
        fn with_nothing_in_flight_every_position_between_transactions_is_confirmed_at_once(
            start in 0u64..1_000,
            plans in proptest::collection::vec(tx_plan(), 0..12),
        ) {
            let (tracker, _) = run_with_one_held_record(start, &plans, None, |tracker, _, op, used| {
                match op {
                    StreamOp::Keepalive(wal_end) if used => {
                        assert_eq!(tracker.flushable_lsn(), wal_end, "keepalive confirmed at once");
                    }
                    StreamOp::End(end_lsn) => {
                        assert_eq!(tracker.flushable_lsn(), end_lsn, "commit confirmed at once");
                    }
                    _ => {}
                }
                assert_eq!(tracker.in_flight(), 0);
            });
            prop_assert_eq!(tracker.pending_transactions(), 0);
        }

        /// One record stays unacked: no keepalive or later transaction moves the position to or
        /// past its transaction's end; once it is acked the position jumps to the newest one.
        #[test]
        fn no_keepalive_is_confirmed_past_an_unacked_record(
            start in 0u64..1_000,
            plans in proptest::collection::vec(tx_plan(), 1..12),
            held_choice in any::<usize>(),
        ) {
            let records: usize = plans.iter().map(|p| p.records).sum();
            prop_assume!(records > 0);
            let held = held_choice % records;
            let mut last_position = Lsn(start);
            let (mut tracker, held_seq) =
                run_with_one_held_record(start, &plans, Some(held), |tracker, held_end, op, used| {
                    if let Some(end) = held_end {
                        assert!(
                            tracker.flushable_lsn() < end,
                            "confirmed {} past the unacked record's transaction end {end}",
                            tracker.flushable_lsn()
                        );
                    }
                    match op {
                        StreamOp::Keepalive(lsn) if used => last_position = lsn,
                        StreamOp::End(lsn) => last_position = lsn,
                        _ => {}
                    }
                });
            let held_seq = held_seq.expect("the held record was sent");
            prop_assert_eq!(tracker.in_flight(), 1);
            tracker.record_acked(held_seq).expect("in flight");
            prop_assert_eq!(tracker.flushable_lsn(), last_position);
        }
    }

    proptest! {
        #[test]
        fn flushable_lsn_never_passes_an_unacked_record_and_reaches_the_end(
            start in 0u64..1_000,
            plans in proptest::collection::vec(tx_plan(), 0..12),
            schedule in proptest::collection::vec(any::<u16>(), 0..120),
        ) {
            let mut tracker = AckTracker::<()>::new(Lsn(start));
            let mut model = Model { start: Lsn(start), registered: Lsn(start), ..Model::default() };
            let mut previous = tracker.flushable_lsn();
            let mut ops = stream_ops(start, &plans).into_iter().peekable();
            let mut in_flight: Vec<RecordSeq> = Vec::new();

            // Interleave stream progress with acks / failures of random in-flight records.
            for choice in schedule {
                let deliver = choice % 3 != 0 && !in_flight.is_empty();
                if deliver {
                    let index = usize::from(choice / 3) % in_flight.len();
                    let seq = in_flight[index];
                    if choice % 7 == 0 {
                        tracker.record_failed(seq).expect("in flight");
                    } else {
                        in_flight.swap_remove(index);
                        tracker.record_acked(seq).expect("in flight");
                        model.acked.insert(seq);
                    }
                } else if let Some(op) = ops.next() {
                    apply(op, &mut tracker, &mut model, &mut in_flight);
                }
                check(&tracker, &model, &mut previous);
            }

            // Finish the stream, then ack everything left (re-sent failures included).
            for op in ops {
                apply(op, &mut tracker, &mut model, &mut in_flight);
                check(&tracker, &model, &mut previous);
            }
            while let Some(seq) = in_flight.pop() {
                tracker.record_acked(seq).expect("in flight");
                model.acked.insert(seq);
                check(&tracker, &model, &mut previous);
            }
            prop_assert_eq!(tracker.flushable_lsn(), model.registered);
            prop_assert_eq!(tracker.in_flight(), 0);
            prop_assert_eq!(tracker.failed(), 0);
            prop_assert_eq!(tracker.pending_transactions(), 0);
        }
    }
}
