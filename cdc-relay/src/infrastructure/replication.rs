//! [`WalSource`] over `pgwire-replication`: one background task owns the replication session
//! lifecycle (standby wait while another process holds the slot, START_REPLICATION, reconnect
//! after transient errors) and forwards decoded events through a bounded channel, so
//! [`WalSource::next_events`] is a cancel-safe channel receive of every event waiting (up to the
//! relay's limit: one wake-up per batch, not per event) and back-pressure reaches the socket
//! when the relay stops reading. A permanent error ends the session task: it leaves the error
//! in a shared slot and drops the channel's sender, so the relay receives every event sent
//! before it, then the error.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::FutureExt;
use pgwire_replication::{ReplicationClient, ReplicationConfig, ReplicationEvent};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::application::ports::{WalEvent, WalSource};
use crate::domain::lsn::Lsn;
use crate::domain::pgoutput::{PgTimestamp, decode_xlog_data};
use crate::error::{ErrorKind, RelayError};
use crate::infrastructure::postgres::{ConnectParams, MetadataDb, SlotInfo};

/// How often a standby re-checks whether the slot is free.
const STANDBY_RETRY: Duration = Duration::from_secs(1);
/// Events buffered between the session task and the relay.
const CHANNEL_CAPACITY: usize = 1024;
/// Most events [`Session::forward`] takes from the crate before handing them on (at most the
/// channel's capacity, which `reserve_many` needs).
const FORWARD_BATCH: usize = 256;
/// From this much WAL to re-decode at a session start (about a second of walsender work on a
/// small machine: 523 MB took ~2.9 s in the relay benchmark), the start-up delay is logged.
const REDECODE_WARN_BYTES: u64 = 64 * 1024 * 1024;

/// Replication session settings.
#[derive(Debug, Clone)]
pub struct ReplicationSettings {
    pub connect: ConnectParams,
    pub slot: String,
    pub publication: String,
    /// How often progress is reported to the server.
    pub status_interval: Duration,
}

/// The `pgwire-replication` adapter.
#[derive(Debug)]
pub struct PgReplicationSource {
    events: mpsc::Receiver<WalEvent>,
    /// Why the session task ended, if it failed (read once the channel is closed and drained).
    failure: Arc<Mutex<Option<RelayError>>>,
    flushed: watch::Sender<Lsn>,
    stop: CancellationToken,
    task: Option<JoinHandle<()>>,
    metadata: MetadataDb,
}

impl PgReplicationSource {
    /// Start the session task. `replicating` is true while START_REPLICATION is in effect
    /// (readiness).
    pub fn spawn(
        settings: ReplicationSettings,
        metadata: MetadataDb,
        replicating: Arc<AtomicBool>,
    ) -> Self {
        let (events_tx, events) = mpsc::channel(CHANNEL_CAPACITY);
        let (flushed, flushed_rx) = watch::channel(Lsn::ZERO);
        let stop = CancellationToken::new();
        let failure = Arc::new(Mutex::new(None));
        let session = Session {
            failure: Arc::clone(&failure),
            settings,
            metadata: metadata.clone(),
            out: events_tx,
            flushed: flushed_rx,
            stop: stop.clone(),
            replicating,
        };
        let task = tokio::spawn(session.run());
        PgReplicationSource {
            events,
            failure,
            flushed,
            stop,
            task: Some(task),
            metadata,
        }
    }
}

impl WalSource for PgReplicationSource {
    async fn next_events(
        &mut self,
        into: &mut Vec<WalEvent>,
        limit: usize,
    ) -> Result<usize, RelayError> {
        // Cancel-safe; 0 only once the session task is gone and every event it sent was taken.
        match self.events.recv_many(into, limit.max(1)).await {
            0 => match self.failure.lock().map(|mut failure| failure.take()) {
                Ok(Some(error)) => Err(error),
                Ok(None) => Ok(0),
                Err(_poisoned) => Err(RelayError::Replication {
                    message: "the replication session task panicked".into(),
                    transient: false,
                }),
            },
            count => Ok(count),
        }
    }

    fn report_flushed(&mut self, lsn: Lsn) {
        self.flushed.send_if_modified(|current| {
            let advanced = lsn > *current;
            if advanced {
                *current = lsn;
            }
            advanced
        });
    }

    async fn close(&mut self, final_lsn: Lsn) -> Result<(), RelayError> {
        self.report_flushed(final_lsn);
        self.stop.cancel();
        if let Some(task) = self.task.take()
            && tokio::time::timeout(Duration::from_secs(10), task)
                .await
                .is_err()
        {
            tracing::warn!("replication session did not stop within 10 s");
        }
        if final_lsn == Lsn::ZERO {
            return Ok(()); // never replicated (standby until the end): nothing to report
        }
        // The crate sends no final status update on stop: set the slot's confirmed position
        // explicitly once the walsender released it.
        self.metadata
            .advance_released_slot(final_lsn, Duration::from_secs(5))
            .await?;
        tracing::info!(%final_lsn, "replication slot released at the final flushed LSN");
        Ok(())
    }
}

struct Session {
    settings: ReplicationSettings,
    metadata: MetadataDb,
    out: mpsc::Sender<WalEvent>,
    failure: Arc<Mutex<Option<RelayError>>>,
    flushed: watch::Receiver<Lsn>,
    stop: CancellationToken,
    replicating: Arc<AtomicBool>,
}

impl Session {
    async fn run(mut self) {
        let mut backoff = Duration::from_millis(200);
        loop {
            let client = match self.open().await {
                Ok(Some(client)) => client,
                Ok(None) => return, // stopped while waiting
                Err(error) if error.kind() == ErrorKind::Transient => {
                    tracing::warn!(%error, ?backoff, "cannot start replication; retrying");
                    if self.pause(backoff).await {
                        return;
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                    continue;
                }
                Err(error) => {
                    self.fail(error);
                    return;
                }
            };
            backoff = Duration::from_millis(200);
            let outcome = self.forward(client).await;
            self.replicating.store(false, Ordering::Relaxed);
            match outcome {
                Ok(()) => return,
                Err(error) if error.kind() == ErrorKind::Transient => {
                    tracing::warn!(%error, "replication session broke; reconnecting");
                    if self.pause(backoff).await {
                        return;
                    }
                }
                Err(error) => {
                    self.fail(error);
                    return;
                }
            }
        }
    }

    /// Leave `error` for the relay, which reads it after the events sent before it (the sender
    /// is dropped when the task returns).
    fn fail(&self, error: RelayError) {
        if let Ok(mut failure) = self.failure.lock() {
            *failure = Some(error);
        }
    }

    /// Sleep unless stopped first; returns whether stopped.
    async fn pause(&self, duration: Duration) -> bool {
        tokio::select! {
            () = self.stop.cancelled() => true,
            () = tokio::time::sleep(duration) => false,
        }
    }

    /// Wait as a standby while another process holds the slot, then START_REPLICATION.
    /// `Ok(None)` when stopped.
    async fn open(&mut self) -> Result<Option<ReplicationClient>, RelayError> {
        let slot = self.settings.slot.clone();
        let mut announced = false;
        loop {
            if self.stop.is_cancelled() {
                return Ok(None);
            }
            let info = self.metadata.slot_info().await?;
            let holder = info.as_ref().and_then(|i| i.active_pid);
            if holder.is_none() {
                let start = *self.flushed.borrow();
                let mut client = ReplicationClient::connect(self.config(start))
                    .await
                    .map_err(|e| RelayError::from_replication(&e, &slot))?;
                let started = tokio::select! {
                    () = self.stop.cancelled() => { client.abort(); return Ok(None); }
                    started = client.wait_started() => started,
                };
                match started.map_err(|e| RelayError::from_replication(&e, &slot)) {
                    Ok(()) => {
                        self.replicating.store(true, Ordering::Relaxed);
                        let slot_now = self.metadata.slot_info().await?;
                        // A start-up cost worth naming: nothing arrives until the walsender has
                        // re-decoded the WAL from restart_lsn (which Postgres moves only past a
                        // running-transactions record a client confirmed) to confirmed_flush_lsn.
                        let redecode = slot_now.as_ref().and_then(SlotInfo::redecode_bytes);
                        if let Some(bytes) = redecode.filter(|&b| b >= REDECODE_WARN_BYTES) {
                            tracing::warn!(
                                slot,
                                redecode_bytes = bytes,
                                "the walsender re-decodes this much WAL before the first new \
                                 change arrives (restart_lsn far behind confirmed_flush_lsn): \
                                 events are delayed until it has"
                            );
                        }
                        let durable = slot_now
                            .and_then(|i| i.confirmed_flush_lsn)
                            .unwrap_or(start)
                            .max(start);
                        if durable > start {
                            client.update_applied_lsn(pgwire_lsn(durable));
                        }
                        tracing::info!(slot, %durable, "replication started (active instance)");
                        if self
                            .out
                            .send(WalEvent::SessionStarted { durable })
                            .await
                            .is_err()
                        {
                            return Ok(None);
                        }
                        return Ok(Some(client));
                    }
                    Err(RelayError::SlotActive { .. }) => {}
                    Err(other) => return Err(other),
                }
            }
            if !announced {
                tracing::info!(slot, holder, "slot is held by another process: standing by");
                announced = true;
            }
            if self.pause(STANDBY_RETRY).await {
                return Ok(None);
            }
        }
    }

    fn config(&self, start: Lsn) -> ReplicationConfig {
        let c = &self.settings.connect;
        ReplicationConfig::new(
            c.host.clone(),
            c.user.clone(),
            c.password.clone(),
            c.database.clone(),
            self.settings.slot.clone(),
            self.settings.publication.as_str(),
        )
        .with_port(c.port)
        .with_tls(c.replication_tls())
        // Lsn 0: resume at the slot's confirmed_flush_lsn. After a reconnect: at what this
        // process knows is durable (never behind the slot, so nothing acked is lost).
        .with_start_lsn(pgwire_lsn(start))
        .with_ack_lsn(pgwire_lsn(start))
        .with_status_interval(self.settings.status_interval)
        .with_wakeup_interval(self.settings.status_interval)
        .with_buffer_size(CHANNEL_CAPACITY)
        .with_options("-c bytea_output=hex")
        .with_application_name("cdc-relay")
    }

    /// Forward events until stopped (`Ok`) or the session breaks (`Err`).
    ///
    /// Events are forwarded in batches: after one event arrived, every event the crate already
    /// has (up to [`FORWARD_BATCH`]) is taken without waiting and sent under one reservation,
    /// so a busy stream costs one wake-up and one `select!` per batch, not per event. Nothing
    /// is held back: a batch is whatever was ready.
    async fn forward(&mut self, mut client: ReplicationClient) -> Result<(), RelayError> {
        let slot = self.settings.slot.clone();
        let mut batch: Vec<WalEvent> = Vec::with_capacity(FORWARD_BATCH);
        loop {
            let received = tokio::select! {
                biased;
                () = self.stop.cancelled() => {
                    client.update_applied_lsn(pgwire_lsn(*self.flushed.borrow()));
                    let _ = client.shutdown().await;
                    return Ok(());
                }
                Ok(()) = self.flushed.changed() => {
                    client.update_applied_lsn(pgwire_lsn(*self.flushed.borrow_and_update()));
                    continue;
                }
                received = client.recv() => received,
            };
            // The session's end (an error, or the stream ending) comes after the events before it.
            let mut end = None;
            let mut next = Some(received);
            while let Some(received) = next.take() {
                let translated = received
                    .map_err(|e| RelayError::from_replication(&e, &slot))
                    .and_then(|event| {
                        event.ok_or_else(|| RelayError::Replication {
                            message: "replication stream ended".into(),
                            transient: true,
                        })
                    })
                    .and_then(translate);
                match translated {
                    Ok(Some(event)) => batch.push(event),
                    Ok(None) => {}
                    Err(error) => {
                        end = Some(error);
                        break;
                    }
                }
                if batch.len() < FORWARD_BATCH {
                    next = client.recv().now_or_never();
                    // A pending `recv` is dropped here. That is safe while the worker runs (an
                    // mpsc receive), but once its channel closed `recv` waits for the worker's
                    // exit and, dropped, loses it (the crate then answers "already joined").
                    // The worker is gone then: end the session as transient; the reconnect
                    // meets any lasting problem again and reports it.
                    if next.is_none() && !client.is_running() {
                        end = Some(RelayError::Replication {
                            message: "the replication worker ended".into(),
                            transient: true,
                        });
                    }
                }
            }
            if !batch.is_empty() && !self.send_batch(&mut client, &mut batch).await {
                return Ok(());
            }
            if let Some(error) = end {
                return Err(error);
            }
        }
    }

    /// Hand `batch` to the relay (emptying it), reporting progress while the relay is not
    /// reading (back-pressure). `false`: stopped or the relay is gone.
    async fn send_batch(
        &mut self,
        client: &mut ReplicationClient,
        batch: &mut Vec<WalEvent>,
    ) -> bool {
        let permits = loop {
            tokio::select! {
                biased;
                () = self.stop.cancelled() => {
                    let _ = client.shutdown().await;
                    return false;
                }
                Ok(()) = self.flushed.changed() => {
                    client.update_applied_lsn(pgwire_lsn(*self.flushed.borrow_and_update()));
                }
                permits = self.out.reserve_many(batch.len()) => match permits {
                    Ok(permits) => break permits,
                    Err(_) => return false, // relay gone
                },
            }
        };
        for (permit, event) in permits.zip(batch.drain(..)) {
            permit.send(event);
        }
        true
    }
}

/// The crate's event as ours; `None` for events the relay does not need.
fn translate(event: ReplicationEvent) -> Result<Option<WalEvent>, RelayError> {
    Ok(Some(match event {
        ReplicationEvent::KeepAlive { wal_end, .. } => WalEvent::KeepAlive {
            wal_end: our_lsn(wal_end),
        },
        ReplicationEvent::Begin {
            final_lsn,
            commit_time_micros,
            ..
        } => WalEvent::Begin {
            final_lsn: our_lsn(final_lsn),
            commit_time: PgTimestamp(commit_time_micros),
        },
        ReplicationEvent::Commit { end_lsn, .. } => WalEvent::Commit {
            end_lsn: our_lsn(end_lsn),
        },
        ReplicationEvent::XLogData {
            wal_start, data, ..
        } => {
            let lsn = our_lsn(wal_start);
            let message = decode_xlog_data(lsn, &data)
                .map_err(|source| RelayError::Decode { lsn, source })?;
            WalEvent::Change(message)
        }
        ReplicationEvent::Message {
            transactional,
            lsn,
            prefix,
            ..
        } => WalEvent::LogicalMessage {
            transactional,
            lsn: our_lsn(lsn),
            prefix,
        },
        ReplicationEvent::StoppedAt { .. } => return Ok(None),
    }))
}

fn our_lsn(lsn: pgwire_replication::Lsn) -> Lsn {
    Lsn(lsn.as_u64())
}

fn pgwire_lsn(lsn: Lsn) -> pgwire_replication::Lsn {
    pgwire_replication::Lsn::from_u64(lsn.as_u64())
}
