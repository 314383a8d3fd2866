//! The keyed consumer runtime: one poll thread, many record tasks.
//!
//! # Dataflow
//!
//! ```text
//!            poll thread (owns the BaseConsumer; rebalance callbacks run here)
//!  consumer queue (events) ──poll──▶ rebalance / errors / statistics
//!  partition queues ──take (≤ max_in_flight − in flight)──▶ OffsetTracker.received
//!        ├─▶ [retry tier, not due: held; its queue not taken from until due]
//!        └─▶ KeyScheduler.push ──next_ready──▶ tokio task
//!  commit ◀── OffsetTracker.committable ◀── finished ◀── wake-up channel ◀──┘
//! ```
//!
//! The poll thread never blocks on a handler. Each loop it serves the consumer queue (rebalance
//! callbacks, so `max.poll.interval.ms` is never exceeded), drains completions, releases due held
//! records, dispatches every ready record (one per key), commits periodically, then takes records
//! round-robin from the partition queues, and sleeps on the wake-up channel when nothing moved
//! (a task completed, a queue became non-empty, a retry fell due, or 100 ms passed).
//!
//! Back-pressure is *not taking*: every partition's queue is split off librdkafka's consumer
//! queue, and at `max_in_flight` records received and not finished (queued, held, or being
//! handled) the loop stops taking from them; librdkafka stops fetching a partition whose queue
//! is full (`queued.min.messages`, `queued.max.messages.kbytes`). It never pauses: a pause purges
//! the prefetched records and a resume refetches them, and the runtime used to pause and resume
//! every partition each time it hit the limit — about a second of idle per cycle, which capped
//! the payment-processor at a few hundred events/s.
//!
//! Each partition's queue is split in the assign callback, *before* rust-rdkafka calls
//! `rd_kafka_assign`, and stays split for the consumer's life (librdkafka never forwards a queue
//! the application unforwarded): every record of a partition arrives through that one queue, in
//! offset order — no record can reach the consumer queue first and be overtaken. Should a split
//! ever fail, that partition's records arrive on the consumer queue instead (still in order,
//! without back-pressure) and a warning says so.
//!
//! # What is committed when
//!
//! A record is *finished* when its handler returned `Ok` (its effects committed), when its
//! hand-off record to a retry tier or the dead-letter topic was acknowledged by Kafka
//! (idempotent producer, `acks=all`), or when it was durably parked. The committed offset of a
//! partition is the tracker's committable offset: the lowest unfinished offset. Commits happen
//! every `commit_interval`, at every revocation (synchronously) and at shutdown.
//!
//! # Failures
//!
//! - **Crash**: everything after the last commit is redelivered, including records that had
//!   finished beyond it; handlers are idempotent, hand-offs may be duplicated (at-least-once).
//! - **Transient handler error**: next retry tier (park the key first when parking is on), or
//!   the dead-letter topic with `retries_exhausted` after `max_attempts`; with no tiers, retried
//!   in place with backoff, holding only its key. **Permanent**: dead-letter at once
//!   (`invalid_event`, or the handler's typed reason such as `expired`). A panicking handler is a
//!   permanent failure (`handler_panicked`).
//! - **Hand-off or parking store down**: retried in place with backoff, the offset unfinished;
//!   nothing is dropped.
//! - **Retry record not due**: it and later records of its partition already taken are held in
//!   memory until due (they count toward `max_in_flight`), and the partition's queue is not
//!   taken from meanwhile.
//! - **Rebalance** (`range` assignment, eager): on revocation, dispatching of the revoked
//!   partitions stops, their in-flight tasks get up to `revoke_timeout` to finish (completions
//!   drained meanwhile), the committable offsets are committed synchronously and the state is
//!   dropped (held records uncommitted: the next owner re-reads them and re-derives due times
//!   from their headers). In-place retries stop waiting when the revocation starts; work making
//!   progress may finish until the bound. Work still running after the bound is abandoned: its
//!   completion is ignored (generation check), it stops before its next hand-off or parking
//!   write, the parking store refuses the stale writes it may still attempt (see
//!   [`parking`](super::parking)), and the next owner redoes it — safe because handlers are
//!   idempotent; for that window two instances may run one key's handler.
//! - **Reorder**: never within a key: one record per key at a time in arrival order, and with
//!   parking on, later records of a key wait for the one in retry. Without parking (or for
//!   records without a key) a record in retry is overtaken, as in Spring Kafka.
//! - **`--ordering partition`** (benchmark baseline): one record at a time per partition
//!   number instead of per key; everything above holds unchanged, only concurrency is lower.
//! - **Bad input**: whatever the handler cannot read it reports as permanent; the record goes
//!   to the dead-letter topic with its bytes unchanged and the partition moves on.
//!
//! Why `range`: it gives partition p of every subscribed topic with the same partition count to
//! the same member, so a key's source partition, its retry partitions (retry records keep the
//! source partition number) and its parking state live on one instance.

use super::config::{KeyedConsumerArgs, OrderingMode};
use super::handler::KeyedHandler;
use super::key_scheduler::{KeyScheduler, RecordKey, WorkId};
use super::offset_tracker::{OffsetTracker, TopicPartition};
use super::parking::KeyParking;
use super::processor::{Metrics, Processor, TaskCancel};
use super::retry_headers::due_at_ms;
use super::retry_policy::RetryPolicy;
use crate::kafka::{ConsumedRecord, KafkaArgs};
use rdkafka::ClientContext;
use rdkafka::consumer::base_consumer::PartitionQueue;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use rdkafka::producer::FutureProducer;
use rdkafka::statistics::Statistics;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::runtime::Handle;
use tokio_util::sync::CancellationToken;

/// What one keyed consumer reads, where it hands records off, and how much it runs at once.
#[derive(Debug, Clone)]
pub struct KeyedConsumerConfig {
    /// Consumer group (also the parking namespace and `kafka_dlt-original-consumer-group`).
    pub group_id: String,
    /// Source topics.
    pub topics: Vec<String>,
    /// Retry tiers (subscribed too) and attempts; [`RetryPolicy::in_place`] for none.
    pub retry: RetryPolicy,
    pub dead_letter_topic: String,
    pub args: KeyedConsumerArgs,
    /// Prefix of the metric names, e.g. `payment_processor`.
    pub metrics_prefix: String,
}

/// Why the runtime could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum KeyedRuntimeError {
    #[error("kafka client: {0}")]
    Kafka(#[from] KafkaError),
    #[error("the keyed runtime must be created inside a Tokio runtime")]
    NoTokioRuntime,
    #[error("the poll thread could not start or died: {0}")]
    PollThread(String),
}

/// A cloneable view of the runtime for readiness checks.
#[derive(Debug, Clone, Default)]
pub struct RuntimeStatus {
    inner: Arc<StatusInner>,
}

#[derive(Debug, Default)]
struct StatusInner {
    assigned: AtomicUsize,
    in_flight: AtomicUsize,
}

impl RuntimeStatus {
    /// Partitions currently assigned to this member (0 before the first assignment).
    pub fn assigned_partitions(&self) -> usize {
        self.inner.assigned.load(Ordering::Relaxed)
    }
    /// Records received and not finished.
    pub fn in_flight_records(&self) -> usize {
        self.inner.in_flight.load(Ordering::Relaxed)
    }
}

/// A dispatched record is done: finished (offset may be committed) or abandoned.
#[derive(Debug)]
struct Completion {
    key: RecordKey,
    id: WorkId,
    finished: bool,
}

/// What wakes the poll thread while it waits: a record task is done, or a Kafka queue (the
/// consumer's event queue or a partition queue) went from empty to non-empty.
#[derive(Debug)]
enum Wakeup {
    Done(Completion),
    QueueReady,
}

#[derive(Debug)]
struct PartitionState {
    generation: u64,
    /// Revocation signals to this partition's tasks: `revoking` when it starts (in-place
    /// retries stop waiting), `abandoned` when it stops waiting (tasks still running write
    /// nothing more).
    cancel: TaskCancel,
}

/// The poll thread's state; also reached from the rebalance callbacks (same thread).
struct Engine {
    tracker: OffsetTracker,
    scheduler: KeyScheduler<ConsumedRecord>,
    held: HashMap<TopicPartition, VecDeque<(i64, ConsumedRecord)>>,
    partitions: HashMap<TopicPartition, PartitionState>,
    next_generation: u64,
    committed: HashMap<TopicPartition, i64>,
    completions: Receiver<Wakeup>,
    /// `--ordering`: records are scheduled by key (default) or by partition (baseline).
    ordering: OrderingMode,
}

impl Engine {
    fn on_completion(&mut self, c: Completion) {
        let current = self.partitions.get(&c.id.tp).map(|p| p.generation);
        if current != Some(c.id.generation) {
            tracing::debug!(tp = %c.id.tp, offset = c.id.offset, "stale completion of an abandoned task ignored");
            return;
        }
        self.scheduler.complete(&c.key, &c.id);
        if c.finished
            && let Err(e) = self.tracker.finished(&c.id.tp, c.id.offset)
        {
            tracing::error!(error = %e, "offset tracker rejected a completion");
        }
    }

    fn on_wakeup(&mut self, wakeup: Wakeup) {
        if let Wakeup::Done(c) = wakeup {
            self.on_completion(c);
        }
    }

    fn drain_completions(&mut self) {
        while let Ok(w) = self.completions.try_recv() {
            self.on_wakeup(w);
        }
    }

    /// Assigned partitions whose queue may be polled: all but those holding retry records not
    /// yet due (their later records wait in librdkafka's partition queue), in a stable order.
    fn pollable(&self) -> Vec<TopicPartition> {
        let mut tps: Vec<TopicPartition> = self
            .partitions
            .keys()
            .filter(|tp| !self.held.contains_key(*tp))
            .cloned()
            .collect();
        tps.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
        tps
    }

    fn enqueue(&mut self, tp: TopicPartition, generation: u64, record: ConsumedRecord) {
        let key = RecordKey::scheduling(self.ordering, record.key.as_deref(), &tp, record.offset);
        let id = WorkId {
            tp,
            offset: record.offset,
            generation,
        };
        self.scheduler.push(key, id, record);
    }

    fn release_due(&mut self, now_ms: i64) {
        let mut ready = Vec::new();
        self.held.retain(|tp, queue| {
            while queue.front().is_some_and(|(due, _)| *due <= now_ms) {
                if let Some((_, record)) = queue.pop_front() {
                    ready.push((tp.clone(), record));
                }
            }
            !queue.is_empty()
        });
        for (tp, record) in ready {
            if let Some(generation) = self.partitions.get(&tp).map(|p| p.generation) {
                self.enqueue(tp, generation, record);
            }
        }
    }

    fn next_due_ms(&self) -> Option<i64> {
        self.held
            .values()
            .filter_map(|q| q.front().map(|(due, _)| *due))
            .min()
    }
}

/// The consumer context: rebalance callbacks and statistics, on the poll thread.
struct KeyedContext<H: KeyedHandler> {
    engine: Mutex<Engine>,
    /// The split partition queues (poll thread only; a mutex because the context is shared).
    queues: Mutex<PartitionQueues<H>>,
    /// The consumer itself, to split partition queues inside the assign callback. Weak: the
    /// consumer owns this context.
    consumer: OnceLock<Weak<BaseConsumer<KeyedContext<H>>>>,
    processor: Arc<Processor<H>>,
    handle: Handle,
    completions: Sender<Wakeup>,
    args: KeyedConsumerArgs,
    status: RuntimeStatus,
    /// Cancelled as soon as `run`'s token fires (and again when the poll loop ends): stops the
    /// waits the poll thread does inside rebalance callbacks, where it cannot look at `run`'s
    /// token — loading parked keys while the parking store is down.
    shutdown: CancellationToken,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Which committable offsets to commit. `committed` caches the offsets last *sent*; an async
/// commit that returned `Ok` was only queued and may still fail, so the cache may run ahead of
/// the broker. It is consulted only when `skip_unmoved` (the periodic async commit, where a
/// failed commit is retried once the offset moves, or at revocation). The synchronous commits
/// at revocation and shutdown pass `false`: they are the last chance to commit a partition
/// before it goes, and used to be skipped when a failed async commit had cached the same offset
/// (the next owner then redid everything since the last commit that really succeeded).
fn offsets_to_commit(
    committable: impl IntoIterator<Item = (TopicPartition, i64)>,
    only: Option<&HashSet<TopicPartition>>,
    committed: &HashMap<TopicPartition, i64>,
    skip_unmoved: bool,
) -> Vec<(TopicPartition, i64)> {
    committable
        .into_iter()
        .filter(|(tp, offset)| {
            only.is_none_or(|set| set.contains(tp))
                && !(skip_unmoved && committed.get(tp) == Some(offset))
        })
        .collect()
}

fn partitions_of(tpl: &TopicPartitionList) -> Vec<TopicPartition> {
    tpl.elements()
        .iter()
        .map(|e| TopicPartition::new(e.topic(), e.partition()))
        .collect()
}

impl<H: KeyedHandler> KeyedContext<H> {
    fn engine(&self) -> MutexGuard<'_, Engine> {
        self.engine
            .lock()
            .expect("engine lock is never poisoned (no panics while held)")
    }

    fn dispatch(&self, engine: &mut Engine) {
        while let Some((key, id, record)) = engine.scheduler.next_ready() {
            let Some(cancel) = engine.partitions.get(&id.tp).map(|p| p.cancel.clone()) else {
                engine.scheduler.complete(&key, &id);
                continue;
            };
            let processor = Arc::clone(&self.processor);
            let completions = self.completions.clone();
            self.handle.spawn(async move {
                let finished = processor.process(&record, &cancel).await;
                // The poll thread is gone only after shutdown; a lost completion is then moot.
                let _ = completions.send(Wakeup::Done(Completion { key, id, finished }));
            });
        }
    }

    fn receive(&self, engine: &mut Engine, record: ConsumedRecord) {
        let tp = TopicPartition::new(&record.topic, record.partition);
        let Some(generation) = engine.partitions.get(&tp).map(|p| p.generation) else {
            tracing::debug!(%tp, offset = record.offset, "record of an unassigned partition dropped");
            return;
        };
        if let Err(e) = engine.tracker.received(&tp, record.offset) {
            tracing::warn!(error = %e, "record ignored");
            return;
        }
        if self.processor.policy.is_retry_topic(&record.topic) {
            let due = due_at_ms(&record).unwrap_or(0);
            let held = engine.held.entry(tp.clone()).or_default();
            if !held.is_empty() || due > now_ms() {
                held.push_back((due, record));
                return;
            }
            if held.is_empty() {
                engine.held.remove(&tp);
            }
        }
        engine.enqueue(tp, generation, record);
    }

    /// Commit the committable offsets of `only` (all tracked partitions if `None`): `Async`
    /// (periodic) only those that moved since the last one queued, `Sync` (revocation, shutdown)
    /// all of them — see [`offsets_to_commit`].
    fn commit(
        &self,
        consumer: &BaseConsumer<Self>,
        engine: &mut Engine,
        only: Option<&HashSet<TopicPartition>>,
        mode: CommitMode,
    ) {
        let skip_unmoved = matches!(mode, CommitMode::Async);
        let mut tpl = TopicPartitionList::new();
        let mut moved = Vec::new();
        for (tp, offset) in offsets_to_commit(
            engine.tracker.all_committable(),
            only,
            &engine.committed,
            skip_unmoved,
        ) {
            if let Err(e) =
                tpl.add_partition_offset(&tp.topic, tp.partition, Offset::Offset(offset))
            {
                tracing::warn!(error = %e, "cannot add an offset to the commit");
                continue;
            }
            moved.push((tp, offset));
        }
        if moved.is_empty() {
            return;
        }
        match consumer.commit(&tpl, mode) {
            Ok(()) => engine.committed.extend(moved),
            Err(e) => {
                tracing::warn!(error = %e, "offset commit failed; it is retried at the next commit")
            }
        }
    }

    fn publish_gauges(&self, engine: &Engine) {
        let in_flight = engine.tracker.in_flight();
        self.status
            .inner
            .in_flight
            .store(in_flight, Ordering::Relaxed);
        self.status
            .inner
            .assigned
            .store(engine.partitions.len(), Ordering::Relaxed);
        let m = &self.processor.metrics;
        metrics::gauge!(m.in_flight.clone()).set(in_flight as f64);
        metrics::gauge!(m.assigned.clone()).set(engine.partitions.len() as f64);
    }

    fn on_assign(&self, tps: Vec<TopicPartition>) {
        {
            let mut engine = self.engine();
            for tp in &tps {
                let generation = engine.next_generation;
                engine.next_generation += 1;
                engine.partitions.insert(
                    tp.clone(),
                    PartitionState {
                        generation,
                        cancel: TaskCancel::new(),
                    },
                );
            }
            self.publish_gauges(&engine);
        }
        tracing::info!(partitions = ?tps.iter().map(ToString::to_string).collect::<Vec<_>>(), "partitions assigned");
        self.load_parked_keys(&tps);
    }

    /// Load the parked keys of the assigned partitions, before any of their records is polled.
    /// Blocks the poll thread while the parking store is unreachable (retrying with backoff):
    /// no record of these partitions may run without knowing whether its key is parked.
    fn load_parked_keys(&self, tps: &[TopicPartition]) {
        let Some(parking) = self.processor.parking.clone() else {
            return;
        };
        let mut partitions: Vec<i32> = tps.iter().map(|tp| tp.partition).collect();
        partitions.sort_unstable();
        partitions.dedup();
        let group = self.processor.group.clone();
        let shutdown = self.shutdown.clone();
        let (tx, rx) = mpsc::channel();
        self.handle.spawn(async move {
            let mut delay = Duration::from_millis(100);
            loop {
                match parking.parked_keys(&group, &partitions).await {
                    Ok(keys) => {
                        let _ = tx.send(Some(keys));
                        return;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, retry_in = ?delay, "cannot load parked keys yet")
                    }
                }
                tokio::select! {
                    _ = shutdown.cancelled() => { let _ = tx.send(None); return; }
                    _ = tokio::time::sleep(delay) => {}
                }
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        });
        if let Ok(Some(keys)) = rx.recv() {
            let mut parked = self
                .processor
                .parked
                .lock()
                .expect("parked-keys lock is never poisoned (no panics while held)");
            tracing::info!(count = keys.len(), "parked keys loaded");
            for key in keys {
                parked.insert(key.key.clone(), key);
            }
            metrics::gauge!(self.processor.metrics.parked_keys.clone()).set(parked.len() as f64);
        }
    }

    /// Stop dispatching `revoked`, wait (bounded) for their in-flight tasks, commit, drop state.
    fn revoke(&self, consumer: &BaseConsumer<Self>, revoked: &HashSet<TopicPartition>) {
        if revoked.is_empty() {
            return;
        }
        let mut engine = self.engine();
        engine.scheduler.drop_queued(|tp| revoked.contains(tp));
        engine.held.retain(|tp, _| !revoked.contains(tp));
        for tp in revoked {
            if let Some(state) = engine.partitions.get(tp) {
                state.cancel.revoking.cancel();
            }
        }
        let deadline = Instant::now() + self.args.revoke_timeout;
        loop {
            engine.drain_completions();
            let running = engine.scheduler.dispatched_in(|tp| revoked.contains(tp));
            if running == 0 {
                break;
            }
            let now = Instant::now();
            if now >= deadline {
                tracing::warn!(running, timeout = ?self.args.revoke_timeout,
                    "revocation timeout: abandoning in-flight records; the next owner redoes them");
                break;
            }
            match engine
                .completions
                .recv_timeout((deadline - now).min(Duration::from_millis(100)))
            {
                Ok(w) => engine.on_wakeup(w),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        // From here the next owner may start: whatever still runs is abandoned and must stop
        // writing (hand-offs, parking, the in-memory parked view) — it raced the next owner's
        // view of the parking store. Cancelled before `parked` is pruned below (see
        // `Processor::set_parked`).
        for tp in revoked {
            if let Some(state) = engine.partitions.get(tp) {
                state.cancel.abandoned.cancel();
            }
        }
        self.commit(consumer, &mut engine, Some(revoked), CommitMode::Sync);
        for tp in revoked {
            engine.tracker.revoke(tp);
            engine.partitions.remove(tp);
            engine.committed.remove(tp);
            // The lag of a partition we no longer own is the next owner's to report: a stale
            // value here would be summed with the owner's (and alerted on) until we restart.
            metrics::gauge!(self.processor.metrics.lag.clone(),
                "topic" => tp.topic.to_string(), "partition" => tp.partition.to_string())
            .set(0.0);
        }
        engine.scheduler.revoke(|tp| revoked.contains(tp));
        let still_assigned: HashSet<i32> =
            engine.partitions.keys().map(|tp| tp.partition).collect();
        self.processor
            .parked
            .lock()
            .expect("parked-keys lock is never poisoned (no panics while held)")
            .retain(|_, p| still_assigned.contains(&p.partition));
        self.publish_gauges(&engine);
        tracing::info!(
            partitions = revoked.len(),
            "partitions revoked and released"
        );
    }
}

impl<H: KeyedHandler> ClientContext for KeyedContext<H> {
    /// Consumer lag per assigned partition from librdkafka's statistics (no extra requests):
    /// records between the committed offset and the end of the partition.
    fn stats(&self, statistics: Statistics) {
        let Ok(engine) = self.engine.try_lock() else {
            return;
        };
        for (topic, t) in &statistics.topics {
            for (partition, p) in &t.partitions {
                let tp = TopicPartition::new(topic, *partition);
                if engine.partitions.contains_key(&tp) && p.consumer_lag >= 0 {
                    metrics::gauge!(self.processor.metrics.lag.clone(),
                        "topic" => topic.clone(), "partition" => partition.to_string())
                    .set(p.consumer_lag as f64);
                }
            }
        }
    }
}

impl<H: KeyedHandler> ConsumerContext for KeyedContext<H> {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Revoke(tpl) => {
                let revoked: HashSet<_> = partitions_of(tpl).into_iter().collect();
                self.revoke(consumer, &revoked);
            }
            // Before rust-rdkafka calls rd_kafka_assign: split first, so no fetch of these
            // partitions can start while their queue still forwards to the consumer queue.
            Rebalance::Assign(tpl) => {
                if let Some(consumer) = self.consumer.get().and_then(Weak::upgrade) {
                    let mut queues = self.queues.lock().expect("queues lock is never poisoned");
                    for tp in partitions_of(tpl) {
                        queues.split(&consumer, &tp);
                    }
                }
            }
            Rebalance::Error(_) => {}
        }
    }

    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(tpl) => self.on_assign(partitions_of(tpl)),
            Rebalance::Revoke(_) => {}
            Rebalance::Error(e) => tracing::warn!(error = %e, "rebalance error"),
        }
    }
}

/// Most records taken from partition queues in one loop, so completions, commits and
/// rebalance events are served between batches.
const MAX_RECORDS_PER_LOOP: usize = 1024;
/// Most events taken from the consumer queue in one loop.
const MAX_EVENTS_PER_LOOP: usize = 1024;
/// Longest wait for a wake-up when nothing is ready (bounds the commit and shutdown latency).
const IDLE_WAIT: Duration = Duration::from_millis(100);

/// librdkafka's queue of one assigned partition, split off the consumer queue.
type PartitionQueueOf<H> = PartitionQueue<KeyedContext<H>>;

/// The split partition queues, each waking the poll thread when it becomes non-empty.
struct PartitionQueues<H: KeyedHandler> {
    queues: HashMap<TopicPartition, PartitionQueueOf<H>>,
    wake: Sender<Wakeup>,
    /// Where the next round-robin pass starts, so no partition is always served first.
    cursor: usize,
}

impl<H: KeyedHandler> PartitionQueues<H> {
    /// Split `tp`'s queue off the consumer queue, once: librdkafka remembers that the
    /// application set the forwarding (`RD_KAFKA_Q_F_FWD_APP`) and never forwards that queue
    /// to the consumer queue again, across revocations and re-assignments, so one handle per
    /// partition lasts the consumer's life. Called before `rd_kafka_assign`, so no record of
    /// an assigned partition is ever fetched into the consumer queue: records of a partition
    /// arrive through one queue, in offset order.
    fn split(&mut self, consumer: &Arc<BaseConsumer<KeyedContext<H>>>, tp: &TopicPartition) {
        if self.queues.contains_key(tp) {
            return;
        }
        match consumer.split_partition_queue(&tp.topic, tp.partition) {
            Some(mut queue) => {
                let wake = self.wake.clone();
                queue.set_nonempty_callback(move || {
                    let _ = wake.send(Wakeup::QueueReady);
                });
                self.queues.insert(tp.clone(), queue);
            }
            None => {
                tracing::warn!(%tp, "cannot split the partition queue; its records arrive on the consumer queue");
            }
        }
    }

    /// Take up to `budget` records, round-robin over `pollable` (one record per partition per
    /// pass), without blocking.
    fn take(&mut self, pollable: &[TopicPartition], budget: usize) -> Vec<ConsumedRecord> {
        let mut records = Vec::new();
        let n = pollable.len();
        if budget == 0 || n == 0 {
            return records;
        }
        let start = self.cursor % n;
        self.cursor = self.cursor.wrapping_add(1);
        let mut exhausted = vec![false; n];
        let mut active = n;
        while active > 0 && records.len() < budget {
            for step in 0..n {
                let i = (start + step) % n;
                if exhausted[i] {
                    continue;
                }
                let polled = self
                    .queues
                    .get(&pollable[i])
                    .map(|q| match q.poll(Duration::ZERO) {
                        Some(Ok(message)) => Some(ConsumedRecord::from_message(&message)),
                        Some(Err(e)) => {
                            tracing::warn!(error = %e, tp = %pollable[i], "kafka consume error");
                            None
                        }
                        None => None,
                    });
                match polled.flatten() {
                    Some(record) => {
                        records.push(record);
                        if records.len() >= budget {
                            return records;
                        }
                    }
                    None => {
                        exhausted[i] = true;
                        active -= 1;
                    }
                }
            }
        }
        records
    }
}

/// A consumer-group member running a [`KeyedHandler`] with key-ordered concurrency.
pub struct KeyedConsumer<H: KeyedHandler> {
    consumer: Arc<BaseConsumer<KeyedContext<H>>>,
    subscriptions: Vec<String>,
    status: RuntimeStatus,
}

impl<H: KeyedHandler> std::fmt::Debug for KeyedConsumer<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyedConsumer")
            .field("subscriptions", &self.subscriptions)
            .finish_non_exhaustive()
    }
}

impl<H: KeyedHandler> KeyedConsumer<H> {
    /// Create the member (inside a Tokio runtime: record tasks run on it). Subscribes on
    /// [`KeyedConsumer::run`]. `parking: None` runs without durable per-key parking.
    pub fn new(
        kafka: &KafkaArgs,
        config: KeyedConsumerConfig,
        handler: Arc<H>,
        parking: Option<Arc<dyn KeyParking>>,
    ) -> Result<Self, KeyedRuntimeError> {
        let handle = Handle::try_current().map_err(|_| KeyedRuntimeError::NoTokioRuntime)?;
        let producer: FutureProducer = kafka.safe_producer_config().create()?;
        let (completions, completions_rx) = mpsc::channel();
        let main_wake = completions.clone();
        let status = RuntimeStatus::default();
        let processor = Arc::new(Processor {
            handler,
            producer,
            policy: config.retry.clone(),
            dead_letter_topic: config.dead_letter_topic.clone(),
            dead_letter_partitions: AtomicI32::new(0),
            group: config.group_id.clone(),
            parking,
            parked: Mutex::new(HashMap::new()),
            metrics: Metrics::new(&config.metrics_prefix),
        });
        let context = KeyedContext {
            engine: Mutex::new(Engine {
                tracker: OffsetTracker::new(),
                scheduler: KeyScheduler::new(),
                held: HashMap::new(),
                partitions: HashMap::new(),
                next_generation: 0,
                committed: HashMap::new(),
                completions: completions_rx,
                ordering: config.args.ordering,
            }),
            processor,
            handle,
            completions: completions.clone(),
            args: config.args.clone(),
            status: status.clone(),
            shutdown: CancellationToken::new(),
            queues: Mutex::new(PartitionQueues {
                queues: HashMap::new(),
                wake: completions,
                cursor: 0,
            }),
            consumer: OnceLock::new(),
        };
        let mut consumer: BaseConsumer<KeyedContext<H>> = kafka
            .client_config(&[
                ("group.id", &config.group_id),
                ("enable.auto.commit", "false"),
                ("enable.auto.offset.store", "false"),
                ("auto.offset.reset", "earliest"),
                ("partition.assignment.strategy", "range"),
                ("isolation.level", "read_committed"),
                ("enable.partition.eof", "false"),
                ("session.timeout.ms", "10000"),
                ("statistics.interval.ms", "5000"),
                // Back-pressure without pausing: every assigned partition has its own queue
                // (split off the consumer queue), and the poll thread stops taking records from
                // them at `max_in_flight`. librdkafka then stops fetching a partition once its
                // queue holds `queued.min.messages` records or `queued.max.messages.kbytes`
                // (per partition with split queues), and checks again after
                // `fetch.queue.backoff.ms` (default 1 s: a full queue stalled a partition for
                // up to a second after it drained).
                ("queued.min.messages", "10000"),
                ("queued.max.messages.kbytes", "8192"),
                ("fetch.queue.backoff.ms", "20"),
            ])
            .create_with_context(context)?;
        consumer.set_nonempty_callback(move || {
            let _ = main_wake.send(Wakeup::QueueReady);
        });
        let mut subscriptions = config.topics.clone();
        for tier in &config.retry.tiers {
            if !subscriptions.contains(&tier.topic) {
                subscriptions.push(tier.topic.clone());
            }
        }
        let consumer = Arc::new(consumer);
        let _ = consumer.context().consumer.set(Arc::downgrade(&consumer));
        Ok(Self {
            consumer,
            subscriptions,
            status,
        })
    }

    /// A handle for readiness checks.
    pub fn status(&self) -> RuntimeStatus {
        self.status.clone()
    }

    /// Consume until `cancel` fires; then revoke everything (bounded wait, final commit) and
    /// leave the group.
    pub async fn run(self, cancel: CancellationToken) -> Result<(), KeyedRuntimeError> {
        let (done_tx, mut done_rx) = tokio::sync::oneshot::channel();
        // The poll thread checks `cancel` between polls only; while it is blocked in an
        // assignment (parked keys loading, parking store down) only `shutdown` reaches it.
        // Without this link `shutdown` fired only after the poll loop ended: a stop requested
        // during such an assignment never completed.
        let shutdown = self.consumer.context().shutdown.clone();
        let poll_cancel = cancel.clone();
        std::thread::Builder::new()
            .name("keyed-consumer-poll".into())
            .spawn(move || {
                let _ = done_tx.send(self.poll_loop(&poll_cancel));
            })
            .map_err(|e| KeyedRuntimeError::PollThread(e.to_string()))?;
        let stopped = tokio::select! {
            stopped = &mut done_rx => stopped,
            () = cancel.cancelled() => {
                shutdown.cancel();
                done_rx.await
            }
        };
        stopped.map_err(|_| KeyedRuntimeError::PollThread("the poll thread panicked".into()))?
    }

    fn poll_loop(self, cancel: &CancellationToken) -> Result<(), KeyedRuntimeError> {
        let context = self.consumer.context();
        let dlq = context.processor.dead_letter_topic.clone();
        match self
            .consumer
            .fetch_metadata(Some(&dlq), Duration::from_secs(10))
        {
            Ok(metadata) => {
                let count = metadata
                    .topics()
                    .iter()
                    .find(|t| t.name() == dlq)
                    .map_or(0, |t| {
                        i32::try_from(t.partitions().len()).unwrap_or(i32::MAX)
                    });
                context
                    .processor
                    .dead_letter_partitions
                    .store(count, Ordering::Relaxed);
            }
            Err(e) => {
                tracing::warn!(error = %e, topic = %dlq, "dead-letter topic metadata unavailable; dead letters are partitioned by key")
            }
        }
        let topics: Vec<&str> = self.subscriptions.iter().map(String::as_str).collect();
        self.consumer.subscribe(&topics)?;
        tracing::info!(topics = ?topics, "keyed consumer subscribed");
        let mut last_commit = Instant::now();
        while !cancel.is_cancelled() {
            // 1. The consumer queue: rebalance callbacks run here (they lock the engine), and
            //    records of partitions not split yet arrive here.
            let mut received = 0usize;
            // rust-rdkafka's poll answers `None` both for an empty queue and after serving one
            // event (a rebalance, a commit result, statistics): only two `None` in a row say
            // the queue is likely empty.
            let mut events_drained = false;
            let mut nones = 0;
            for _ in 0..MAX_EVENTS_PER_LOOP {
                match self.consumer.poll(Duration::ZERO) {
                    Some(Ok(message)) => {
                        nones = 0;
                        let record = ConsumedRecord::from_message(&message);
                        drop(message);
                        context.receive(&mut context.engine(), record);
                        received += 1;
                    }
                    Some(Err(e)) => {
                        nones = 0;
                        tracing::warn!(error = %e, "kafka consume error");
                    }
                    None => {
                        nones += 1;
                        if nones == 2 {
                            events_drained = true;
                            break;
                        }
                    }
                }
            }
            // A stop requested while a rebalance callback blocked (parked keys not loadable)
            // ends the loop before any record of the new assignment is taken.
            if cancel.is_cancelled() {
                break;
            }
            // 2. Completions, due retries, dispatch, commit.
            let (pollable, budget, wait) = {
                let mut engine = context.engine();
                engine.drain_completions();
                engine.release_due(now_ms());
                context.dispatch(&mut engine);
                if last_commit.elapsed() >= context.args.commit_interval {
                    context.commit(&self.consumer, &mut engine, None, CommitMode::Async);
                    last_commit = Instant::now();
                }
                context.publish_gauges(&engine);
                let budget = context
                    .args
                    .max_in_flight
                    .saturating_sub(engine.tracker.in_flight())
                    .min(MAX_RECORDS_PER_LOOP);
                let mut wait = IDLE_WAIT;
                if let Some(due) = engine.next_due_ms() {
                    wait = wait.min(Duration::from_millis(
                        u64::try_from(due - now_ms()).unwrap_or(0),
                    ));
                }
                (engine.pollable(), budget, wait)
            };
            // 3. Partition queues, up to the in-flight limit.
            let records = context
                .queues
                .lock()
                .expect("queues lock is never poisoned")
                .take(&pollable, budget);
            if !records.is_empty() {
                received += records.len();
                let mut engine = context.engine();
                for record in records {
                    context.receive(&mut engine, record);
                }
                context.dispatch(&mut engine);
            }
            // 4. Nothing new: sleep until a task completes, a queue fills, a retry is due, or
            //    IDLE_WAIT (commit timer, cancellation) passes.
            if received == 0 && events_drained && !wait.is_zero() {
                let mut engine = context.engine();
                match engine.completions.recv_timeout(wait) {
                    Ok(w) => engine.on_wakeup(w),
                    Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {}
                }
            }
        }
        let all: HashSet<TopicPartition> = context.engine().partitions.keys().cloned().collect();
        context.revoke(&self.consumer, &all);
        context.shutdown.cancel();
        // The handles hold the consumer (an Arc each): drop them so the consumer can close.
        context
            .queues
            .lock()
            .expect("queues lock is never poisoned")
            .queues
            .clear();
        self.consumer.unsubscribe();
        tracing::info!("keyed consumer stopped");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tps(partitions: &[i32]) -> HashSet<TopicPartition> {
        partitions
            .iter()
            .map(|p| TopicPartition::new("t", *p))
            .collect()
    }

    #[test]
    fn revocation_commits_even_what_a_queued_async_commit_cached() {
        let committable = vec![
            (TopicPartition::new("t", 0), 7),
            (TopicPartition::new("t", 1), 3),
        ];
        // An async commit of 7 was queued (cached) and then failed at the broker.
        let committed = HashMap::from([(TopicPartition::new("t", 0), 7)]);
        assert_eq!(
            offsets_to_commit(committable.clone(), None, &committed, true),
            vec![(TopicPartition::new("t", 1), 3)],
            "the periodic commit skips what it already queued"
        );
        let revoked = tps(&[0]);
        assert_eq!(
            offsets_to_commit(committable, Some(&revoked), &committed, false),
            vec![(TopicPartition::new("t", 0), 7)],
            "the revocation commit sends it again, and only the revoked partition"
        );
    }
}
