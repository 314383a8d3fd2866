//! Every metric the relay records, one definition each (names `cdc_relay_<thing>_<unit>`).

use std::time::Duration;

/// Outbox records acknowledged by Kafka.
pub const EVENTS_TOTAL: &str = "cdc_relay_events_total";
/// Records handed to the producer and not yet acknowledged.
pub const IN_FLIGHT_RECORDS: &str = "cdc_relay_in_flight_records";
/// Failed deliveries and rejected enqueues (each is retried).
pub const KAFKA_ERRORS_TOTAL: &str = "cdc_relay_kafka_errors_total";
/// UPDATE / DELETE / TRUNCATE of the outbox table and changes of other tables, by `kind`.
pub const IGNORED_CHANGES_TOTAL: &str = "cdc_relay_ignored_changes_total";
/// Rows published to the error topic, by `code`.
pub const BAD_ROWS_TOTAL: &str = "cdc_relay_bad_rows_total";
/// Commit timestamp → Kafka ack of the most recently acknowledged event, in seconds (named
/// `cdc_relay_newest_event_age_milliseconds`, in milliseconds, before base units).
pub const NEWEST_EVENT_AGE_SECONDS: &str = "cdc_relay_newest_event_age_seconds";
/// Commit timestamp → Kafka ack, per event.
pub const COMMIT_TO_ACK_SECONDS: &str = "cdc_relay_commit_to_ack_seconds";
/// Commit timestamp → the relay read the transaction's Begin from the replication stream, per
/// transaction: the Postgres side of [`COMMIT_TO_ACK_SECONDS`] (walsender decoding, network,
/// the relay's read loop); the rest is the Kafka side.
pub const COMMIT_TO_READ_SECONDS: &str = "cdc_relay_commit_to_read_seconds";
/// The relay read the record's transaction → Kafka ack, per event: the relay's and Kafka's
/// side of [`COMMIT_TO_ACK_SECONDS`], without Postgres' commit flush and walsender.
pub const READ_TO_ACK_SECONDS: &str = "cdc_relay_read_to_ack_seconds";
/// `pg_current_wal_lsn() - confirmed_flush_lsn` of the slot.
pub const SLOT_LAG_BYTES: &str = "cdc_relay_slot_lag_bytes";
/// Heartbeat messages written.
pub const HEARTBEATS_TOTAL: &str = "cdc_relay_heartbeats_total";
/// Replication sessions started (reconnects and takeovers included).
pub const SESSIONS_TOTAL: &str = "cdc_relay_sessions_total";
/// The flushable LSN, as a number (for dashboards).
pub const FLUSHED_LSN: &str = "cdc_relay_flushed_lsn_bytes";

/// Register the HELP text of every metric (call once at start-up, after installing a recorder).
pub fn describe_metrics() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(EVENTS_TOTAL, "Outbox records acknowledged by Kafka");
    describe_gauge!(
        IN_FLIGHT_RECORDS,
        "Records handed to the producer and not yet acknowledged"
    );
    describe_counter!(
        KAFKA_ERRORS_TOTAL,
        "Failed deliveries and rejected enqueues (each is retried)"
    );
    describe_counter!(
        IGNORED_CHANGES_TOTAL,
        "UPDATE, DELETE, TRUNCATE of the outbox table and changes of other tables, by kind"
    );
    describe_counter!(BAD_ROWS_TOTAL, "Rows published to the error topic, by code");
    describe_gauge!(
        NEWEST_EVENT_AGE_SECONDS,
        Unit::Seconds,
        "Commit timestamp to Kafka ack of the most recently acknowledged event"
    );
    describe_histogram!(
        COMMIT_TO_ACK_SECONDS,
        Unit::Seconds,
        "Commit timestamp to Kafka ack, per event"
    );
    describe_histogram!(
        COMMIT_TO_READ_SECONDS,
        Unit::Seconds,
        "Commit timestamp to the relay reading the transaction, per transaction (Postgres side)"
    );
    describe_histogram!(
        READ_TO_ACK_SECONDS,
        Unit::Seconds,
        "The relay reading the event's transaction to Kafka ack, per event (relay and Kafka side)"
    );
    describe_gauge!(
        SLOT_LAG_BYTES,
        Unit::Bytes,
        "WAL held by the slot: pg_current_wal_lsn() - confirmed_flush_lsn"
    );
    describe_counter!(HEARTBEATS_TOTAL, "Heartbeat messages written");
    describe_counter!(
        SESSIONS_TOTAL,
        "Replication sessions started (reconnects and takeovers included)"
    );
    describe_gauge!(
        FLUSHED_LSN,
        "The flushable LSN as a number (for dashboards)"
    );
}

/// The per-ack metrics, looked up once (a `counter!` lookup per record costs more than the
/// update itself).
pub(crate) struct AckMetrics {
    events: metrics::Counter,
    newest_age: metrics::Gauge,
    commit_to_ack: metrics::Histogram,
    commit_to_read: metrics::Histogram,
    read_to_ack: metrics::Histogram,
}

impl std::fmt::Debug for AckMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AckMetrics").finish_non_exhaustive()
    }
}

impl AckMetrics {
    pub(crate) fn new() -> Self {
        AckMetrics {
            events: metrics::counter!(EVENTS_TOTAL),
            newest_age: metrics::gauge!(NEWEST_EVENT_AGE_SECONDS),
            commit_to_ack: metrics::histogram!(COMMIT_TO_ACK_SECONDS),
            commit_to_read: metrics::histogram!(COMMIT_TO_READ_SECONDS),
            read_to_ack: metrics::histogram!(READ_TO_ACK_SECONDS),
        }
    }

    /// One acknowledged record's commit -> ack time.
    pub(crate) fn commit_to_ack(&self, age: Duration) {
        self.commit_to_ack.record(age.as_secs_f64());
    }

    /// One transaction's commit -> read time.
    pub(crate) fn commit_to_read(&self, age: Duration) {
        self.commit_to_read.record(age.as_secs_f64());
    }

    /// One acknowledged record's read -> ack time.
    pub(crate) fn read_to_ack(&self, age: Duration) {
        self.read_to_ack.record(age.as_secs_f64());
    }

    /// A batch of `count` acks was applied; `newest` is the age of its last one.
    pub(crate) fn acked(&self, count: u64, newest: Option<Duration>) {
        self.events.increment(count);
        if let Some(age) = newest {
            self.newest_age.set(age.as_secs_f64());
        }
    }
}

pub(crate) fn in_flight(records: usize) {
    metrics::gauge!(IN_FLIGHT_RECORDS).set(records as f64);
}

pub(crate) fn kafka_error() {
    metrics::counter!(KAFKA_ERRORS_TOTAL).increment(1);
}

pub(crate) fn ignored_change(kind: &'static str) {
    metrics::counter!(IGNORED_CHANGES_TOTAL, "kind" => kind).increment(1);
}

pub(crate) fn bad_row(code: &'static str) {
    metrics::counter!(BAD_ROWS_TOTAL, "code" => code).increment(1);
}

pub(crate) fn slot_lag(bytes: i64) {
    metrics::gauge!(SLOT_LAG_BYTES).set(bytes as f64);
}

pub(crate) fn heartbeat() {
    metrics::counter!(HEARTBEATS_TOTAL).increment(1);
}

pub(crate) fn session_started() {
    metrics::counter!(SESSIONS_TOTAL).increment(1);
}

pub(crate) fn flushed(lsn: u64) {
    metrics::gauge!(FLUSHED_LSN).set(lsn as f64);
}
