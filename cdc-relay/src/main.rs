//! Wiring: flags → preflight → slot and publication → adapters → relay, until SIGTERM.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use cdc_relay::application::Relay;
use cdc_relay::config::{BadRowPolicyArg, HeartbeatModeArg, RelayArgs};
use cdc_relay::infrastructure::heartbeat::{HeartbeatWrite, PgHeartbeat};
use cdc_relay::infrastructure::kafka::KafkaSink;
use cdc_relay::infrastructure::postgres::{ConnectParams, MetadataDb};
use cdc_relay::infrastructure::replication::{PgReplicationSource, ReplicationSettings};
use clap::Parser;
use service_kit::{ReadinessCheck, install_metrics, ops_router, serve, shutdown_token};

/// mimalloc instead of glibc malloc for the relay's own allocations (librdkafka keeps the C
/// allocator): per-record allocations are freed on the thread that made them or another one,
/// which mimalloc's per-thread free lists handle without glibc's arena locks and consolidation.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// With `--on-bad-row error-topic`, a missing error topic would make the first bad row retry
/// forever and hold the slot (auto-creation is off): refuse to start instead, saying what to do.
async fn require_error_topic(
    kafka: &eventing::kafka::KafkaArgs,
    topic: &str,
) -> anyhow::Result<()> {
    let (kafka, name) = (kafka.clone(), topic.to_owned());
    let exists = tokio::task::spawn_blocking(move || eventing::kafka::topic_exists(&kafka, &name))
        .await
        .context("topic check panicked")?
        .map_err(|e| anyhow::anyhow!("cannot check the error topic `{topic}`: {e}"))?;
    anyhow::ensure!(
        exists,
        "the error topic `{topic}` does not exist: create it (it is in deploy/topics.csv), \
         pass another --error-topic, or use --on-bad-row stop"
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args = RelayArgs::parse();
    let mut runtime = match args.runtime_threads {
        1 => tokio::runtime::Builder::new_current_thread(),
        threads => {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            builder.worker_threads(usize::from(threads));
            builder
        }
    };
    runtime
        .enable_all()
        .build()
        .context("starting the async runtime")?
        .block_on(run(args))
}

async fn run(args: RelayArgs) -> anyhow::Result<()> {
    args.log.init();
    let settings = args
        .relay_settings()
        .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
    let connect = ConnectParams::from_url(&args.database_url)?;
    tracing::info!(
        database = %args.database_url,
        slot = args.slot_name,
        publication = args.publication,
        heartbeat_mode = ?args.heartbeat_mode,
        "cdc-relay starting"
    );
    let cancel = shutdown_token();
    let metrics = install_metrics("cdc_relay");
    cdc_relay::telemetry::describe_metrics();

    // Delivery reports, producer polling thread -> relay (bounded by --max-in-flight in use).
    let (reports_tx, reports) = tokio::sync::mpsc::unbounded_channel();
    let sink = KafkaSink::new(&args.kafka, reports_tx)?;
    let replicating = Arc::new(AtomicBool::new(false));
    let readiness: ReadinessCheck = {
        let (sink, replicating) = (sink.clone(), Arc::clone(&replicating));
        Arc::new(move || {
            let (sink, replicating) = (sink.clone(), Arc::clone(&replicating));
            Box::pin(async move {
                if !replicating.load(Ordering::Relaxed) {
                    return Err("not replicating (standby, or connecting)".to_owned());
                }
                sink.check_connected().await
            })
        })
    };
    let ops_cancel = cancel.child_token();
    // Ops first: while the relay waits for its outbox table it is alive (/healthz 200) and
    // not ready (/readyz 503), so an orchestrator neither kills nor routes to it.
    let ops = tokio::spawn(serve(
        args.ops_addr,
        ops_router(metrics, readiness),
        args.http.clone(),
        ops_cancel.clone(),
    ));

    let metadata = MetadataDb::connect(&connect, &args.slot_name).await?;
    metadata.preflight().await?;
    if !metadata
        .wait_for_table(
            &settings.outbox_schema,
            &settings.outbox_table,
            Duration::from_millis(500),
            Duration::from_secs(30),
            &cancel,
        )
        .await?
    {
        ops_cancel.cancel();
        let _ = ops.await;
        tracing::info!("cdc-relay stopped before its outbox table existed");
        return Ok(());
    }
    metadata
        .ensure_publication(
            &args.publication,
            &settings.outbox_schema,
            &settings.outbox_table,
        )
        .await?;
    metadata.ensure_slot().await?;
    let heartbeat_write = match args.heartbeat_mode {
        HeartbeatModeArg::Table => {
            let (schema, table) = args.heartbeat_table();
            HeartbeatWrite::Table { schema, table }
        }
        HeartbeatModeArg::LogicalMessage => HeartbeatWrite::LogicalMessage,
        HeartbeatModeArg::Off => HeartbeatWrite::Off,
    };
    let heartbeat = PgHeartbeat::prepare(metadata.clone(), &heartbeat_write).await?;
    metadata.spawn_lag_monitor(args.lag_poll_interval, args.lag_warn_bytes, cancel.clone());
    if args.on_bad_row == BadRowPolicyArg::ErrorTopic {
        require_error_topic(&args.kafka, &args.error_topic).await?;
    }

    let source = PgReplicationSource::spawn(
        ReplicationSettings {
            connect,
            slot: args.slot_name.clone(),
            publication: args.publication.clone(),
            status_interval: args.status_interval,
        },
        metadata.clone(),
        replicating,
    );
    // Spawned, not awaited in place: with --runtime-threads > 1 its wake-ups from the
    // replication and delivery tasks then stay on the runtime's worker threads.
    let outcome = tokio::spawn(
        Relay::new(source, sink.clone(), heartbeat, settings, reports).run(cancel.clone()),
    )
    .await
    .context("the relay task panicked")?;
    sink.flush(Duration::from_secs(1));
    ops_cancel.cancel();
    if let Ok(Err(error)) = ops.await {
        tracing::warn!(%error, "ops server");
    }
    let final_lsn = outcome.context("cdc-relay stopped")?;
    tracing::info!(%final_lsn, "cdc-relay stopped cleanly");
    Ok(())
}
