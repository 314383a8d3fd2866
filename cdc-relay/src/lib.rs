//! cdc-relay: relays outbox inserts from the Postgres WAL (logical replication, `pgoutput`
//! protocol version 1, text tuple format) to Kafka, Debezium-style.
//!
//! # Delivery guarantee: at-least-once, in commit order, nothing skipped
//!
//! Postgres streams whole committed transactions in commit order (no streaming of in-progress
//! transactions is requested), so only committed outbox inserts are ever published, in the
//! order their transactions committed. Each insert becomes one Kafka record
//! ([`domain::outbox_routing`]); records are handed to an idempotent producer (acks=all) in
//! stream order, so the records of one aggregate (one key, one partition) keep their order.
//!
//! **What is acknowledged, when.** The only position the relay ever reports to Postgres (the
//! slot's `confirmed_flush_lsn`) is [`domain::ack_tracker::AckTracker::flushable_lsn`]: the
//! `end_lsn` of the newest transaction such that it and every transaction before it have had
//! every record acknowledged by Kafka (or a keepalive / heartbeat position received between
//! transactions once everything before it is acknowledged). Reporting `end_lsn` of T tells
//! Postgres "never send T or anything before it again", which is true exactly then. A record
//! Kafka rejects is re-sent with backoff and keeps holding its transaction back: it is never
//! skipped and the slot never moves past it. Why this is safe is spelled out in
//! [`domain::ack_tracker`].
//!
//! **On crash** (SIGKILL, OOM, power loss) nothing is lost: the slot still holds every
//! transaction after the last reported position and Postgres replays them on the next start.
//! Records acknowledged by Kafka but not yet covered by a report are published again, so
//! duplicates are possible — and only for transactions after the last reported
//! `confirmed_flush_lsn`. Every record carries its event id in the `id` header for consumers to
//! deduplicate. While brokers are away librdkafka retries in order without a deadline
//! (`message.timeout.ms=0` by default), so an outage delays records but never reorders a key;
//! only with a finite `message.timeout.ms` (set through `--kafka-option`) can a record that
//! timed out and was re-sent by the relay follow later records of its key.
//!
//! **On SIGTERM** the relay stops reading the WAL, waits (bounded by `--shutdown-timeout`) for
//! in-flight acknowledgements, sets the slot to the final flushable LSN and closes the
//! replication connection, which releases the slot for a standby at once.
//!
//! **WAL retention.** While outbox transactions flow, their acks advance the slot. When only
//! other tables are busy, the server's keepalives advance it: a keepalive's `wal_end` received
//! between transactions is confirmed once every record before it is acknowledged — at once when
//! nothing is in flight (why that is safe: [`domain::ack_tracker`]). After
//! `--heartbeat-interval` without outbox traffic the relay also writes a heartbeat so WAL moves in
//! its database (`--heartbeat-mode`): `table` (default) upserts the slot's row of an UNLOGGED
//! table, which no logical decoding client sees (Debezium, `test_decoding`, `FOR ALL TABLES`
//! publications); `logical-message` emits `pg_logical_emit_message`, which every client sees
//! (Debezium publishes it to `<prefix>.message`); `off` writes nothing.
//!
//! **One active instance.** A replication slot can be streamed by one session at a time; a
//! second relay on the same slot waits as a standby (retrying every second) and takes over
//! within seconds of the active one dying.
//!
//! # Layout
//!
//! - [`domain`]: pure decisions (pgoutput decoding, relation cache, routing, ack tracking).
//! - [`application`]: the relay loop over the ports `WalSource`, `EventSink` and `Heartbeat`.
//! - [`infrastructure`]: Postgres (metadata connection, `pgwire-replication` stream) and Kafka
//!   (rdkafka `ThreadedProducer`) adapters.
//! - `main.rs`: wiring (flags in [`config`]).

pub mod application;
pub mod config;
pub mod domain;
pub mod error;
pub mod infrastructure;
pub mod telemetry;

pub use error::{ErrorKind, RelayError};
