//! The relay loop: replication events in, Kafka records out, flushed LSN back.
//!
//! One task owns the [`AckTracker`] and the [`RelationCache`]; it selects over
//! - delivery reports from the sink (one per record attempt, applied in batches; a failed
//!   attempt is re-sent after a backoff by a short-lived task, until Kafka takes the record: a
//!   record is never skipped),
//! - the next WAL events (everything waiting, up to 256: one wake-up per batch, not per event),
//!   polled only while the records from the oldest unacked one to the newest one sent number
//!   fewer than `max_in_flight`, and never more events than the room left (so a slow or absent
//!   broker, or one record Kafka keeps rejecting, stops WAL reading instead of growing memory),
//! - the heartbeat timer (when a heartbeat is configured: after `heartbeat_interval` without an
//!   outbox commit it asks the [`Heartbeat`] port to make WAL move), and shutdown.
//!
//! After every event or batch of acks that moves [`AckTracker::flushable_lsn`], the new
//! position is reported to the source; nothing else is ever reported.
//!
//! Memory bound: at most `max_in_flight` records are handed to the producer and not yet
//! acknowledged (librdkafka holds a copy of each; `queue.buffering.max.kbytes` caps their bytes),
//! so the report channel holds at most that many reports, and the tracker's in-flight window
//! ([`AckTracker::in_flight_span`]) at most that many slots; the WAL source buffers a bounded
//! number of decoded events ahead of the relay.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use eventing::trace_context::{TRACEPARENT, trace_id};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::Level;

use crate::application::ports::{
    DeliveryReport, DeliveryTag, EventSink, Heartbeat, PublishedRecord, WalEvent, WalSource,
};
use crate::domain::ack_tracker::{AckError, AckTracker};
use crate::domain::bad_row::{BadRow, bad_row_to_record};
use crate::domain::lsn::Lsn;
use crate::domain::outbox_routing::{OutboxRecord, OutboxRouter, RoutingConfig};
use crate::domain::pgoutput::{Insert, PgOutputMessage, PgTimestamp, RelationId, TupleValue};
use crate::domain::relation_cache::RelationCache;
use crate::error::RelayError;
use crate::telemetry;

/// Most WAL events taken from the source per wake-up.
const MAX_EVENT_BATCH: usize = 256;

/// What to do with an outbox row that cannot be routed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadRowPolicy {
    /// Stop the relay with an error naming the row's LSN (the row is not acknowledged).
    Stop,
    /// Publish the raw row to the error topic and go on.
    ErrorTopic,
}

/// The relay's knobs.
#[derive(Debug, Clone)]
pub struct RelaySettings {
    pub routing: RoutingConfig,
    /// Schema of the outbox table.
    pub outbox_schema: String,
    /// Name of the outbox table.
    pub outbox_table: String,
    pub bad_row_policy: BadRowPolicy,
    pub error_topic: String,
    /// Most records handed to Kafka and not yet acknowledged.
    pub max_in_flight: usize,
    /// Emit a heartbeat when no outbox transaction committed for this long; `None`: never
    /// (keepalives alone advance the slot).
    pub heartbeat_interval: Option<Duration>,
    /// On shutdown, how long to wait for in-flight acks.
    pub shutdown_timeout: Duration,
    /// Longest wait between re-sends of a record Kafka rejected.
    pub max_retry_backoff: Duration,
}

/// What the relay keeps about a record until Kafka acknowledged it (in the [`AckTracker`]; the
/// sink only carries the record's number).
#[derive(Debug)]
struct Sent {
    /// Commit timestamp of the record's transaction (commit -> ack latency).
    commit_time: PgTimestamp,
    /// When the relay read the record's transaction (unix µs; read -> ack latency).
    read_at_micros: i64,
    /// Failed attempts so far (the re-send backoff grows with them).
    attempts: u32,
    /// What the "event published" debug line shows; only set while that line is enabled.
    published: Option<Box<PublishedRecord>>,
}

#[derive(Debug)]
struct OpenTx {
    commit_time: PgTimestamp,
    /// When its Begin was read (unix µs).
    read_at_micros: i64,
    /// Already durable in an earlier session: its changes are not published again.
    skip: bool,
    touched_outbox: bool,
}

/// The relay use case.
#[derive(Debug)]
pub struct Relay<S, K, H> {
    source: S,
    sink: K,
    heartbeat: H,
    settings: Arc<RelaySettings>,
    tracker: AckTracker<Sent>,
    relations: RelationCache,
    router: OutboxRouter,
    session: u64,
    reports: mpsc::UnboundedReceiver<DeliveryReport>,
    metrics: telemetry::AckMetrics,
    open_tx: Option<OpenTx>,
    last_reported: Lsn,
    last_outbox_activity: Instant,
}

impl<S: WalSource, K: EventSink, H: Heartbeat> Relay<S, K, H> {
    /// `reports` receives the [`DeliveryReport`]s of `sink`.
    pub fn new(
        source: S,
        sink: K,
        heartbeat: H,
        settings: RelaySettings,
        reports: mpsc::UnboundedReceiver<DeliveryReport>,
    ) -> Self {
        let router = OutboxRouter::new(settings.routing.clone());
        Relay {
            source,
            sink,
            heartbeat,
            settings: Arc::new(settings),
            tracker: AckTracker::new(Lsn::ZERO),
            relations: RelationCache::new(),
            router,
            session: 0,
            reports,
            metrics: telemetry::AckMetrics::new(),
            open_tx: None,
            last_reported: Lsn::ZERO,
            last_outbox_activity: Instant::now(),
        }
    }

    /// Relay until `cancel` fires (→ `Ok(final flushed LSN)`) or a permanent error. Either way
    /// it stops reading, waits up to `shutdown_timeout` for in-flight acks, reports the final
    /// flushable LSN and closes the source (releasing the slot).
    pub async fn run(mut self, cancel: CancellationToken) -> Result<Lsn, RelayError> {
        let outcome = self.replicate(&cancel).await;
        let final_lsn = self.drain().await;
        tracing::info!(%final_lsn, in_flight = self.tracker.in_flight(), "relay stopping");
        if let Err(error) = self.source.close(final_lsn).await {
            tracing::warn!(%error, "closing the replication source");
        }
        outcome.map(|()| final_lsn)
    }

    async fn replicate(&mut self, cancel: &CancellationToken) -> Result<(), RelayError> {
        let heartbeat_on = self.settings.heartbeat_interval.is_some();
        let tick = self
            .settings
            .heartbeat_interval
            .map_or(Duration::from_secs(3600), |interval| interval / 2)
            .max(Duration::from_millis(100));
        let mut heartbeat_timer = tokio::time::interval(tick);
        heartbeat_timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut events = Vec::with_capacity(MAX_EVENT_BATCH);
        loop {
            // Each event adds at most one record to the window, so a batch of `room` events
            // keeps it within max_in_flight.
            let room = self
                .settings
                .max_in_flight
                .saturating_sub(self.tracker.in_flight_span())
                .min(MAX_EVENT_BATCH);
            tokio::select! {
                biased;
                () = cancel.cancelled() => return Ok(()),
                Some(report) = self.reports.recv() => self.on_reports(report)?,
                received = self.source.next_events(&mut events, room), if room > 0 => {
                    if received? == 0 {
                        return Ok(());
                    }
                    for event in events.drain(..) {
                        self.on_event(event).await?;
                    }
                    // Once per batch: while Kafka is away no report comes to update it, and the
                    // gauge must show the records held (up to max_in_flight).
                    telemetry::in_flight(self.tracker.in_flight());
                }
                _ = heartbeat_timer.tick(), if heartbeat_on => self.maybe_heartbeat(),
            }
        }
    }

    /// Wait (bounded) for the acks of records in flight; the flushable LSN it ends at.
    async fn drain(&mut self) -> Lsn {
        let deadline = tokio::time::Instant::now() + self.settings.shutdown_timeout;
        while self.tracker.in_flight() > 0 {
            match tokio::time::timeout_at(deadline, self.reports.recv()).await {
                Ok(Some(report)) => {
                    if let Err(error) = self.on_reports(report) {
                        tracing::warn!(%error, "ack while draining");
                    }
                }
                Ok(None) | Err(_) => {
                    tracing::warn!(
                        in_flight = self.tracker.in_flight(),
                        "shutdown timeout: records still unacknowledged are replayed next start"
                    );
                    break;
                }
            }
        }
        self.tracker.flushable_lsn()
    }

    /// Apply `first` and every report already waiting (up to a bound), then report progress
    /// once: under load, one flush report and one metrics update per batch, not per record.
    fn on_reports(&mut self, first: DeliveryReport) -> Result<(), RelayError> {
        const MAX_REPORT_BATCH: usize = 4096;
        let now = unix_micros_now();
        let mut acked = 0;
        let mut newest_age = None;
        let mut next = Some(first);
        let mut applied = 0;
        while let Some(report) = next.take() {
            if let Some(age) = self.apply_report(report, now)? {
                acked += 1;
                self.metrics.commit_to_ack(age);
                newest_age = Some(age);
            }
            applied += 1;
            if applied < MAX_REPORT_BATCH {
                next = self.reports.try_recv().ok();
            }
        }
        self.metrics.acked(acked, newest_age);
        telemetry::in_flight(self.tracker.in_flight());
        self.report_progress();
        Ok(())
    }

    /// Apply one report; the commit -> ack age when it acknowledged a record of this session.
    fn apply_report(
        &mut self,
        report: DeliveryReport,
        now_micros: i64,
    ) -> Result<Option<Duration>, RelayError> {
        let DeliveryTag(seq) = report.tag;
        match report.outcome {
            Ok(()) => {
                let sent = match self.tracker.record_acked(seq) {
                    Ok(sent) => sent,
                    // Sent by an earlier session (records are numbered across sessions): the
                    // new session replays that row anyway.
                    Err(AckError::UnknownRecord { .. }) => return Ok(None),
                    Err(other) => return Err(other.into()),
                };
                if let Some(published) = &sent.published {
                    tracing::debug!(
                        topic = %published.topic,
                        event_id = %published.event_id,
                        trace_id = published.trace_id,
                        "event published"
                    );
                }
                if sent.read_at_micros > 0 {
                    let read_to_ack = now_micros.saturating_sub(sent.read_at_micros);
                    self.metrics.read_to_ack(Duration::from_micros(
                        u64::try_from(read_to_ack).unwrap_or_default(),
                    ));
                }
                Ok(Some(age_at(sent.commit_time, now_micros)))
            }
            Err(failure) => {
                telemetry::kafka_error();
                let sent = match self.tracker.record_failed(seq) {
                    Ok(sent) => sent,
                    Err(AckError::UnknownRecord { .. }) => return Ok(None), // earlier session
                    Err(other) => return Err(other.into()),
                };
                tracing::warn!(%seq, error = %failure.error, "delivery failed; re-sending");
                let backoff = retry_backoff(sent.attempts, self.settings.max_retry_backoff);
                sent.attempts = sent.attempts.saturating_add(1);
                self.resend(failure.record, DeliveryTag(seq), backoff);
                Ok(None)
            }
        }
    }

    /// Send a failed record again after `backoff` (which grows with its attempts).
    fn resend(&self, record: OutboxRecord, tag: DeliveryTag, backoff: Duration) {
        let (sink, settings) = (self.sink.clone(), Arc::clone(&self.settings));
        tokio::spawn(async move {
            tokio::time::sleep(backoff).await;
            enqueue_until_accepted(&sink, &record, tag, &settings).await;
        });
    }

    async fn on_event(&mut self, event: WalEvent) -> Result<(), RelayError> {
        match event {
            WalEvent::SessionStarted { durable } => {
                let start = durable.max(self.tracker.flushable_lsn());
                tracing::info!(%start, session = self.session + 1, "replication session started");
                self.session += 1;
                self.tracker = self.tracker.next_session(start);
                self.relations = RelationCache::new();
                self.open_tx = None;
                telemetry::session_started();
                telemetry::in_flight(0);
            }
            WalEvent::Begin {
                final_lsn,
                commit_time,
            } => {
                let read_at_micros = unix_micros_now();
                self.metrics
                    .commit_to_read(age_at(commit_time, read_at_micros));
                // A transaction committed before the durable position is already in Kafka.
                let skip = final_lsn < self.tracker.flushable_lsn();
                if !skip {
                    self.tracker.begin_tx(final_lsn)?;
                }
                self.open_tx = Some(OpenTx {
                    commit_time,
                    read_at_micros,
                    skip,
                    touched_outbox: false,
                });
            }
            WalEvent::Commit { end_lsn } => {
                if let Some(tx) = self.open_tx.take() {
                    if !tx.skip {
                        self.tracker.end_tx(end_lsn)?;
                    }
                    if tx.touched_outbox {
                        self.last_outbox_activity = Instant::now();
                    }
                }
            }
            WalEvent::Change(change) => self.on_change(change.wal_start, change.message).await?,
            WalEvent::LogicalMessage {
                transactional,
                lsn,
                prefix,
            } => {
                // A non-transactional message is sent as soon as it is decoded, after every
                // transaction that committed before it: its LSN is as good as a keepalive.
                if !transactional {
                    tracing::trace!(%lsn, prefix, "logical message");
                    self.tracker.keepalive(lsn);
                }
            }
            WalEvent::KeepAlive { wal_end } => {
                self.tracker.keepalive(wal_end);
            }
        }
        self.report_progress();
        Ok(())
    }

    async fn on_change(&mut self, lsn: Lsn, message: PgOutputMessage) -> Result<(), RelayError> {
        let (skip, commit_time, read_at_micros) = match &self.open_tx {
            Some(tx) => (tx.skip, tx.commit_time, tx.read_at_micros),
            None => (false, PgTimestamp(0), 0),
        };
        match message {
            PgOutputMessage::Relation(relation) => {
                if self.relations.upsert(relation).is_some() {
                    tracing::info!(%lsn, "relation changed mid-stream (ALTER TABLE)");
                }
            }
            PgOutputMessage::Insert(insert) => {
                if !self.is_outbox(insert.relation_id) {
                    telemetry::ignored_change("other_table");
                } else if !skip {
                    if let Some(tx) = self.open_tx.as_mut() {
                        tx.touched_outbox = true;
                    }
                    self.on_outbox_insert(lsn, insert, commit_time, read_at_micros)
                        .await?;
                }
            }
            PgOutputMessage::Update(_) => telemetry::ignored_change("update"),
            PgOutputMessage::Delete(_) => telemetry::ignored_change("delete"),
            PgOutputMessage::Truncate(_) => telemetry::ignored_change("truncate"),
            PgOutputMessage::Type(_)
            | PgOutputMessage::Origin(_)
            | PgOutputMessage::Begin(_)
            | PgOutputMessage::Commit(_)
            | PgOutputMessage::Message(_) => {}
        }
        Ok(())
    }

    /// Whether the relation is the configured outbox table (the publication holds only it,
    /// but the check keeps a widened publication from leaking other tables into Kafka).
    fn is_outbox(&self, id: RelationId) -> bool {
        self.relations.get(id).is_none_or(|relation| {
            relation.namespace == self.settings.outbox_schema
                && relation.name == self.settings.outbox_table
        })
    }

    async fn on_outbox_insert(
        &mut self,
        lsn: Lsn,
        insert: Insert,
        commit_time: PgTimestamp,
        read_at_micros: i64,
    ) -> Result<(), RelayError> {
        // The raw columns are only needed for an error record; copy them up front only when the
        // tuple cannot become a Row (otherwise the Row itself provides them).
        let raw =
            (!decodable(&self.relations, &insert)).then(|| raw_columns(&self.relations, &insert));
        let relation_id = insert.relation_id;
        let routed = match self.relations.row_from_insert(insert) {
            Ok(row) => self.router.route(&row).map_err(|error| {
                let columns = row
                    .columns()
                    .map(|c| (c.name.to_owned(), c.value.map(str::to_owned)))
                    .collect();
                (
                    error.code(),
                    error.to_string(),
                    Some((row.table(), columns)),
                )
            }),
            Err(error) => {
                let table = self
                    .relations
                    .get(relation_id)
                    .map(|r| format!("{}.{}", r.namespace, r.name))
                    .unwrap_or_else(|| format!("relation {relation_id}"));
                Err((
                    error.code(),
                    error.to_string(),
                    Some(raw.unwrap_or((table, Vec::new()))),
                ))
            }
        };
        let record = match routed {
            Ok(record) => record,
            Err((code, message, table_and_columns)) => {
                let (table, columns) = table_and_columns.unwrap_or_default();
                let bad = BadRow {
                    lsn,
                    table,
                    code,
                    message,
                    columns,
                };
                match self.settings.bad_row_policy {
                    BadRowPolicy::Stop => {
                        return Err(RelayError::BadRow {
                            lsn,
                            table: bad.table,
                            code,
                            message: bad.message,
                        });
                    }
                    BadRowPolicy::ErrorTopic => {
                        tracing::error!(%lsn, table = bad.table, code, message = bad.message,
                            "bad outbox row published to the error topic");
                        telemetry::bad_row(code);
                        bad_row_to_record(&bad, &self.settings.error_topic)
                    }
                }
            }
        };
        self.publish(record, commit_time, read_at_micros).await
    }

    async fn publish(
        &mut self,
        record: OutboxRecord,
        commit_time: PgTimestamp,
        read_at_micros: i64,
    ) -> Result<(), RelayError> {
        // What the "event published" debug line shows, kept only while it is enabled.
        let published = tracing::enabled!(Level::DEBUG).then(|| {
            Box::new(PublishedRecord {
                topic: record.topic.clone(),
                event_id: record.event_id.clone(),
                trace_id: record
                    .headers
                    .iter()
                    .find(|(name, _)| name == TRACEPARENT)
                    .and_then(|(_, value)| trace_id(value))
                    .unwrap_or_default()
                    .to_owned(),
            })
        });
        let seq = self.tracker.record_sent(Sent {
            commit_time,
            read_at_micros,
            attempts: 0,
            published,
        })?;
        enqueue_until_accepted(&self.sink, &record, DeliveryTag(seq), &self.settings).await;
        Ok(())
    }

    fn maybe_heartbeat(&mut self) {
        let Some(interval) = self.settings.heartbeat_interval else {
            return;
        };
        if self.last_outbox_activity.elapsed() < interval {
            return;
        }
        self.last_outbox_activity = Instant::now();
        let heartbeat = self.heartbeat.clone();
        tokio::spawn(async move {
            match heartbeat.emit().await {
                Ok(()) => telemetry::heartbeat(),
                Err(error) => tracing::warn!(%error, "heartbeat failed"),
            }
        });
    }

    fn report_progress(&mut self) {
        let flushable = self.tracker.flushable_lsn();
        if flushable > self.last_reported {
            self.last_reported = flushable;
            self.source.report_flushed(flushable);
            telemetry::flushed(flushable.as_u64());
        }
    }
}

/// Hand the record to the sink, retrying rejected enqueues with backoff (never skipping it).
async fn enqueue_until_accepted<K: EventSink>(
    sink: &K,
    record: &OutboxRecord,
    tag: DeliveryTag,
    settings: &RelaySettings,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        match sink.enqueue(record, tag).await {
            Ok(()) => return,
            Err(error) => {
                telemetry::kafka_error();
                tracing::warn!(topic = record.topic, %error, "producer rejected the record; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(settings.max_retry_backoff);
            }
        }
    }
}

/// 100 ms before the first re-send, doubling per attempt, at most `max`.
fn retry_backoff(attempt: u32, max: Duration) -> Duration {
    Duration::from_millis(100)
        .checked_mul(1 << attempt.min(16))
        .unwrap_or(max)
        .min(max)
}

/// Whether `row_from_insert` can only fail on invalid UTF-8: known relation, matching column
/// count, text or NULL values only.
fn decodable(relations: &RelationCache, insert: &Insert) -> bool {
    relations.get(insert.relation_id).is_some_and(|relation| {
        relation.columns.len() == insert.new_tuple.values.len()
            && insert
                .new_tuple
                .values
                .iter()
                .all(|v| matches!(v, TupleValue::Text(_) | TupleValue::Null))
    })
}

/// `schema.table` and the raw text columns of an insert, for error records.
fn raw_columns(
    relations: &RelationCache,
    insert: &Insert,
) -> (String, Vec<(String, Option<String>)>) {
    let Some(relation) = relations.get(insert.relation_id) else {
        return (format!("relation {}", insert.relation_id), Vec::new());
    };
    let columns = relation
        .columns
        .iter()
        .zip(&insert.new_tuple.values)
        .map(|(column, value)| {
            let text = match value {
                TupleValue::Null => None,
                TupleValue::UnchangedToast => Some("<unchanged toast>".to_owned()),
                TupleValue::Text(bytes) | TupleValue::Binary(bytes) => {
                    Some(String::from_utf8_lossy(bytes).into_owned())
                }
            };
            (column.name.clone(), text)
        })
        .collect();
    (format!("{}.{}", relation.namespace, relation.name), columns)
}

fn unix_micros_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or_default()
}

/// Time from a commit timestamp to `now_micros` (zero if the clocks disagree).
fn age_at(commit_time: PgTimestamp, now_micros: i64) -> Duration {
    let age = now_micros.saturating_sub(commit_time.unix_micros());
    Duration::from_micros(u64::try_from(age).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    //! The relay loop over in-memory ports: no Postgres, no Kafka.

    use std::sync::Mutex;

    use super::*;
    use crate::application::ports::{DeliveryFailure, DeliveryReports, SinkError};
    use crate::domain::pgoutput::{
        Column, Delete, OldTuple, Relation, ReplicaIdentity, TupleData, WalMessage,
    };

    const TEXT_OID: u32 = 25;

    /// Replays scripted events, then waits forever; records what was reported flushed.
    struct FakeSource {
        events: std::collections::VecDeque<WalEvent>,
        flushed: Arc<Mutex<Vec<Lsn>>>,
    }

    impl WalSource for FakeSource {
        async fn next_events(
            &mut self,
            into: &mut Vec<WalEvent>,
            limit: usize,
        ) -> Result<usize, RelayError> {
            if self.events.is_empty() {
                std::future::pending::<()>().await;
            }
            let count = limit.min(self.events.len());
            into.extend(self.events.drain(..count));
            Ok(count)
        }
        fn report_flushed(&mut self, lsn: Lsn) {
            self.flushed.lock().expect("not poisoned").push(lsn);
        }
        async fn close(&mut self, _final_lsn: Lsn) -> Result<(), RelayError> {
            Ok(())
        }
    }

    /// How the fake broker treats a record, by payload.
    #[derive(Clone, Copy)]
    enum Broker {
        AckAll,
        /// Fail the first attempt of the record with this payload, ack the rest.
        FailFirst(&'static str),
        /// Fail every attempt of the record with this payload.
        FailAlways(&'static str),
        /// Never answer.
        Hang,
        /// The first attempt of the record with this payload fails, but its report only comes
        /// when the record is sent again (late, e.g. after a reconnect), before that attempt's
        /// ack.
        FailFirstLate(&'static str),
    }

    #[derive(Clone)]
    struct FakeSink {
        broker: Broker,
        enqueued: Arc<Mutex<Vec<String>>>,
        reports: DeliveryReports,
        held: Arc<Mutex<Option<DeliveryReport>>>,
    }

    impl EventSink for FakeSink {
        async fn enqueue(&self, record: &OutboxRecord, tag: DeliveryTag) -> Result<(), SinkError> {
            let payload = String::from_utf8_lossy(&record.payload).into_owned();
            let attempts = {
                let mut enqueued = self.enqueued.lock().expect("not poisoned");
                enqueued.push(payload.clone());
                enqueued.iter().filter(|p| **p == payload).count()
            };
            let fail = || {
                Err(Box::new(DeliveryFailure {
                    error: SinkError {
                        message: "broker down".into(),
                    },
                    record: record.clone(),
                }))
            };
            let outcome = match self.broker {
                Broker::AckAll => Ok(()),
                Broker::FailFirst(p) if p == payload && attempts == 1 => fail(),
                Broker::FailFirst(_) => Ok(()),
                Broker::FailAlways(p) if p == payload => fail(),
                Broker::FailAlways(_) => Ok(()),
                Broker::Hang => return Ok(()),
                Broker::FailFirstLate(p) if p == payload && attempts == 1 => {
                    let late = DeliveryReport {
                        tag,
                        outcome: fail(),
                    };
                    *self.held.lock().expect("not poisoned") = Some(late);
                    return Ok(());
                }
                Broker::FailFirstLate(_) => {
                    if let Some(late) = self.held.lock().expect("not poisoned").take() {
                        let _ = self.reports.send(late);
                    }
                    Ok(())
                }
            };
            let _ = self.reports.send(DeliveryReport { tag, outcome });
            Ok(())
        }
    }

    #[derive(Clone)]
    struct NoHeartbeat;

    impl Heartbeat for NoHeartbeat {
        async fn emit(&self) -> Result<(), RelayError> {
            Ok(())
        }
    }

    fn settings(max_in_flight: usize) -> RelaySettings {
        RelaySettings {
            routing: RoutingConfig::default(),
            outbox_schema: "public".into(),
            outbox_table: "outbox".into(),
            bad_row_policy: BadRowPolicy::Stop,
            error_topic: "cdc.errors".into(),
            max_in_flight,
            heartbeat_interval: None,
            shutdown_timeout: Duration::from_millis(200),
            max_retry_backoff: Duration::from_millis(20),
        }
    }

    fn relation() -> WalEvent {
        let columns = ["id", "aggregatetype", "aggregateid", "type", "payload"]
            .into_iter()
            .map(|name| Column {
                flags: 0,
                name: name.into(),
                type_oid: TEXT_OID,
                type_modifier: -1,
            })
            .collect();
        WalEvent::Change(WalMessage {
            wal_start: Lsn(1),
            message: PgOutputMessage::Relation(Relation {
                id: RelationId(1),
                namespace: "public".into(),
                name: "outbox".into(),
                replica_identity: ReplicaIdentity::Default,
                columns,
            }),
        })
    }

    fn text(value: &str) -> TupleValue {
        TupleValue::Text(value.as_bytes().to_vec())
    }

    /// One transaction [lsn, lsn + 10) inserting rows with these payloads.
    fn tx(lsn: u64, payloads: &[&str]) -> Vec<WalEvent> {
        let mut events = vec![WalEvent::Begin {
            final_lsn: Lsn(lsn + 5),
            commit_time: PgTimestamp(0),
        }];
        for payload in payloads {
            events.push(WalEvent::Change(WalMessage {
                wal_start: Lsn(lsn + 1),
                message: PgOutputMessage::Insert(Insert {
                    relation_id: RelationId(1),
                    new_tuple: TupleData {
                        values: vec![
                            text(&format!("id-{payload}")),
                            text("order"),
                            text("agg-1"),
                            text("T"),
                            text(payload),
                        ],
                    },
                }),
            }));
        }
        events.push(WalEvent::Commit {
            end_lsn: Lsn(lsn + 10),
        });
        events
    }

    struct Run {
        flushed: Vec<Lsn>,
        enqueued: Vec<String>,
        outcome: Result<Lsn, RelayError>,
    }

    /// Run the relay over `events` until `stop_when(enqueued)` (or 2 s), then cancel it.
    async fn run(
        events: Vec<WalEvent>,
        broker: Broker,
        max_in_flight: usize,
        stop_when: impl Fn(&[Lsn], &[String]) -> bool,
    ) -> Run {
        let flushed = Arc::new(Mutex::new(Vec::new()));
        let enqueued = Arc::new(Mutex::new(Vec::new()));
        let mut all = vec![WalEvent::SessionStarted { durable: Lsn(1) }, relation()];
        all.extend(events);
        let source = FakeSource {
            events: all.into(),
            flushed: Arc::clone(&flushed),
        };
        let (reports_tx, reports) = mpsc::unbounded_channel();
        let sink = FakeSink {
            broker,
            enqueued: Arc::clone(&enqueued),
            reports: reports_tx,
            held: Arc::default(),
        };
        let relay = Relay::new(source, sink, NoHeartbeat, settings(max_in_flight), reports);
        let cancel = CancellationToken::new();
        let handle = tokio::spawn(relay.run(cancel.clone()));
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            let done = stop_when(
                &flushed.lock().expect("not poisoned"),
                &enqueued.lock().expect("not poisoned"),
            );
            if done || handle.is_finished() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        cancel.cancel();
        let outcome = handle.await.expect("relay task does not panic");
        let flushed = flushed.lock().expect("not poisoned").clone();
        let enqueued = enqueued.lock().expect("not poisoned").clone();
        Run {
            flushed,
            enqueued,
            outcome,
        }
    }

    #[tokio::test]
    async fn acked_transactions_are_reported_in_order() {
        let mut events = tx(100, &["a", "b"]);
        events.extend(tx(200, &["c"]));
        let result = run(events, Broker::AckAll, 10, |f, _| f.contains(&Lsn(210))).await;
        // Acks that arrive together are reported once (batched), so 110 may be skipped; every
        // report is a transaction end, in order, ending at the last one.
        assert!(
            result.flushed.windows(2).all(|w| w[0] < w[1]),
            "{:?}",
            result.flushed
        );
        assert!(
            result
                .flushed
                .iter()
                .all(|l| [Lsn(1), Lsn(110), Lsn(210)].contains(l)),
            "{:?}",
            result.flushed
        );
        assert_eq!(result.flushed.last(), Some(&Lsn(210)));
        assert_eq!(result.enqueued, ["a", "b", "c"]);
        assert_eq!(result.outcome.expect("clean stop"), Lsn(210));
    }

    #[tokio::test]
    async fn failed_delivery_is_resent_never_skipped() {
        let mut events = tx(100, &["a"]);
        events.extend(tx(200, &["b"]));
        events.extend(tx(300, &["c"]));
        let result = run(events, Broker::FailFirst("b"), 10, |f, _| {
            f.contains(&Lsn(310))
        })
        .await;
        assert_eq!(
            result.enqueued.iter().filter(|p| *p == "b").count(),
            2,
            "b was re-sent"
        );
        assert_eq!(result.flushed.last(), Some(&Lsn(310)));
    }

    #[tokio::test]
    async fn a_late_failure_report_from_an_earlier_session_is_not_resent() {
        // Session 1 sends "a"; the replication connection breaks before its (failed) report
        // arrives; session 2 replays "a", and only then the old report comes in.
        let mut events = tx(100, &["a"]);
        events.push(WalEvent::SessionStarted { durable: Lsn(1) });
        events.push(relation());
        events.extend(tx(100, &["a"]));
        // Once 110 is flushed (the replay was acked, so the late report had arrived before
        // it), keep running for ten re-send backoffs (20 ms here) in which a wrong re-send of
        // the stale record would show.
        let flushed_at = std::cell::Cell::new(None::<Instant>);
        let result = run(events, Broker::FailFirstLate("a"), 10, |f, _| {
            if f.contains(&Lsn(110)) && flushed_at.get().is_none() {
                flushed_at.set(Some(Instant::now()));
            }
            flushed_at
                .get()
                .is_some_and(|at| at.elapsed() > Duration::from_millis(200))
        })
        .await;
        assert_eq!(
            result.flushed.last(),
            Some(&Lsn(110)),
            "{:?}",
            result.flushed
        );
        assert_eq!(
            result.enqueued,
            ["a", "a"],
            "the replay is the only second send: the stale failure belongs to session 1"
        );
    }

    #[tokio::test]
    async fn a_record_that_keeps_failing_holds_the_slot_before_its_transaction() {
        let mut events = tx(100, &["a"]);
        events.extend(tx(200, &["b"]));
        events.extend(tx(300, &["c"]));
        let result = run(events, Broker::FailAlways("b"), 10, |_, e| {
            e.iter().filter(|p| *p == "b").count() >= 4
        })
        .await;
        assert_eq!(
            result.flushed,
            vec![Lsn(1), Lsn(110)],
            "never past the failing tx"
        );
        assert_eq!(result.outcome.expect("clean stop"), Lsn(110));
    }

    #[tokio::test]
    async fn wal_reading_pauses_at_max_in_flight() {
        let events = (0..10)
            .flat_map(|i| {
                tx(
                    100 * (i + 1),
                    &[["r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9"][i as usize]],
                )
            })
            .collect();
        let result = run(events, Broker::Hang, 3, |_, e| e.len() >= 4).await;
        assert_eq!(result.enqueued.len(), 3, "only max_in_flight records sent");
        assert_eq!(
            result.flushed,
            vec![Lsn(1)],
            "nothing acked, nothing reported"
        );
    }

    #[tokio::test]
    async fn a_record_kafka_keeps_rejecting_pauses_wal_reading_max_in_flight_records_later() {
        let events = ["a", "b", "c", "d", "e", "f"]
            .iter()
            .enumerate()
            .flat_map(|(i, payload)| tx(100 * (i as u64 + 1), &[payload]))
            .collect();
        let result = run(events, Broker::FailAlways("b"), 3, |_, e| {
            e.iter().filter(|p| *p == "b").count() >= 4
        })
        .await;
        let first_attempts: Vec<&String> = result.enqueued.iter().filter(|p| *p != "b").collect();
        // a is acked; b (stuck), c and d fill the window of 3: e is never read.
        assert_eq!(first_attempts, ["a", "c", "d"], "{:?}", result.enqueued);
        assert_eq!(result.flushed, vec![Lsn(1), Lsn(110)]);
    }

    #[tokio::test]
    async fn updates_and_deletes_are_ignored_and_keepalives_advance_between_transactions() {
        let mut events = tx(100, &["a"]);
        events.push(WalEvent::Begin {
            final_lsn: Lsn(205),
            commit_time: PgTimestamp(0),
        });
        events.push(WalEvent::Change(WalMessage {
            wal_start: Lsn(201),
            message: PgOutputMessage::Delete(Delete {
                relation_id: RelationId(1),
                old_tuple: OldTuple::Key(TupleData { values: vec![] }),
            }),
        }));
        events.push(WalEvent::Commit { end_lsn: Lsn(210) });
        events.push(WalEvent::KeepAlive { wal_end: Lsn(500) });
        let result = run(events, Broker::AckAll, 10, |f, _| f.contains(&Lsn(500))).await;
        assert_eq!(result.enqueued, ["a"]);
        assert_eq!(result.flushed.last(), Some(&Lsn(500)));
    }

    #[tokio::test]
    async fn a_keepalive_after_an_unacked_record_is_confirmed_only_once_the_record_is_acked() {
        let mut events = tx(100, &["a"]);
        events.push(WalEvent::KeepAlive { wal_end: Lsn(500) });
        // The first attempt of "a" fails; the re-send (after the keepalive arrived) is acked.
        let result = run(events, Broker::FailFirst("a"), 10, |f, _| {
            f.contains(&Lsn(500))
        })
        .await;
        assert_eq!(result.enqueued, ["a", "a"], "a was re-sent");
        assert_eq!(
            result.flushed,
            vec![Lsn(1), Lsn(500)],
            "nothing confirmed while a was unacked, then straight to the keepalive"
        );
    }

    /// Counts `emit` calls.
    #[derive(Clone, Default)]
    struct CountingHeartbeat(Arc<std::sync::atomic::AtomicUsize>);

    impl Heartbeat for CountingHeartbeat {
        async fn emit(&self) -> Result<(), RelayError> {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(())
        }
    }

    #[tokio::test]
    async fn heartbeats_follow_outbox_silence_and_never_come_when_off() {
        let start = |interval: Option<Duration>| {
            let heartbeat = CountingHeartbeat::default();
            let source = FakeSource {
                events: vec![WalEvent::SessionStarted { durable: Lsn(1) }].into(),
                flushed: Arc::default(),
            };
            let (reports_tx, reports) = mpsc::unbounded_channel();
            let sink = FakeSink {
                broker: Broker::AckAll,
                enqueued: Arc::default(),
                reports: reports_tx,
                held: Arc::default(),
            };
            let relay = Relay::new(
                source,
                sink,
                heartbeat.clone(),
                RelaySettings {
                    heartbeat_interval: interval,
                    ..settings(10)
                },
                reports,
            );
            let cancel = CancellationToken::new();
            (heartbeat, cancel.clone(), tokio::spawn(relay.run(cancel)))
        };
        let (on, on_cancel, on_task) = start(Some(Duration::from_millis(100)));
        let (off, off_cancel, off_task) = start(None);
        let count = |h: &CountingHeartbeat| h.0.load(std::sync::atomic::Ordering::SeqCst);
        let deadline = Instant::now() + Duration::from_secs(5);
        while count(&on) < 3 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        on_cancel.cancel();
        off_cancel.cancel();
        on_task.await.expect("no panic").expect("clean stop");
        off_task.await.expect("no panic").expect("clean stop");
        assert!(count(&on) >= 3, "the heartbeat ran ({} times)", count(&on));
        assert_eq!(count(&off), 0, "--heartbeat-mode off: never");
    }

    #[tokio::test]
    async fn bad_row_with_stop_policy_names_the_lsn_and_is_not_acknowledged() {
        let mut events = tx(100, &["a"]);
        events.push(WalEvent::Begin {
            final_lsn: Lsn(205),
            commit_time: PgTimestamp(0),
        });
        events.push(WalEvent::Change(WalMessage {
            wal_start: Lsn(201),
            message: PgOutputMessage::Insert(Insert {
                relation_id: RelationId(1),
                new_tuple: TupleData {
                    values: vec![
                        text("id-x"),
                        TupleValue::Null,
                        text("agg"),
                        text("T"),
                        text("p"),
                    ],
                },
            }),
        }));
        let result = run(events, Broker::AckAll, 10, |_, _| false).await;
        let error = result.outcome.expect_err("stop policy stops");
        assert!(error.to_string().contains("LSN 0/C9"), "{error}");
        assert!(!result.flushed.iter().any(|l| *l > Lsn(110)));
    }
}
