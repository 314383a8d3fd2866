//! Wiring only: config → adapters → use case → keyed consumer runtime, until SIGTERM/SIGINT.

use anyhow::Context;
use clap::Parser;
use contracts::{PaymentCompleted, PaymentFailed};
use eventing::kafka::keyed::Delivery;
use eventing::kafka::keyed::{
    KeyParking, KeyedConsumer, KeyedConsumerConfig, KeyedHandler, PgKeyParking, RuntimeStatus,
};
use eventing::kafka::{ConsumedRecord, HandlerError};
use eventing::{AvroCodec, WriterSchema, writer_schemas};
use payment_processor::application::ports::SystemClock;
use payment_processor::application::{CrashHook, PaymentService};
use payment_processor::config::Config;
use payment_processor::domain::PaymentDeadline;
use payment_processor::infrastructure::gateway::HttpPaymentGateway;
use payment_processor::infrastructure::kafka::OrderCreatedHandler;
use payment_processor::infrastructure::postgres::{
    GroupCommitSettings, GroupCommitStore, PgPaymentStore, run_migrations,
};
use service_kit::postgres::retry_while_unreachable;
use service_kit::postgres::{MigrationError, PgSettings, connect_pool};
use service_kit::{ReadinessCheck, all_ready, install_metrics, ops_router, serve, shutdown_token};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

type Handler = OrderCreatedHandler<GroupCommitStore, HttpPaymentGateway, SystemClock>;

/// The runtime's handler: every delivery (source topic, retry tier, parking replay) is processed
/// the same way — the use case is idempotent and checks the deadline itself.
struct RuntimeHandler(Handler);

#[async_trait::async_trait]
impl KeyedHandler for RuntimeHandler {
    async fn handle(
        &self,
        record: &ConsumedRecord,
        _delivery: &Delivery,
    ) -> Result<(), HandlerError> {
        self.0.handle_record(record).await
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    config.log.init();
    let metrics = install_metrics("payment_processor");
    describe_metrics();
    let cancel = shutdown_token();
    tracing::info!(
        database = %config.database_url,
        gateway = %config.gateway_url,
        kafka = %config.kafka.kafka_bootstrap_servers,
        source_topic = %config.source_topic,
        retry_topics = ?config.retry_topics,
        dlq_topic = %config.dlq_topic,
        group = %config.group_id,
        payment_deadline = %humantime::format_duration(config.payment_deadline),
        max_in_flight = config.consumer.max_in_flight,
        ordering = ?config.consumer.ordering,
        "starting payment-processor"
    );
    if config.test_crash_after_gateway {
        tracing::warn!("TEST ONLY: the process aborts right after the first gateway answer");
    }

    let retry_topics: Vec<&str> = config.retry_topics.iter().map(String::as_str).collect();
    let retry = config
        .retry
        .policy(&retry_topics)
        .map_err(anyhow::Error::msg)?;
    let pool = connect_pool(&PgSettings {
        url: config.database_url.clone(),
        application_name: "payment-processor".into(),
        pool_size: config.pool_size,
        timeout: config.database_timeout,
        schema: config.database_schema.clone(),
        options: Vec::new(),
    })
    .map_err(anyhow::Error::msg)?;
    migrate_when_reachable(&pool, config.database_schema.as_deref(), &cancel).await?;

    let codec =
        AvroCodec::new(config.schema_registry_url.expose()).context("schema registry settings")?;
    // Registered in the background (not ready until done); until then a payment registers its
    // result schema before its transaction opens, and retries while the registry is down.
    let encoded_events = vec![
        WriterSchema::of::<PaymentCompleted>(),
        WriterSchema::of::<PaymentFailed>(),
    ];
    let registration = writer_schemas::spawn_registration(&codec, encoded_events.clone(), &cancel);
    let schemas_ready = writer_schemas::readiness(codec.clone(), encoded_events);
    let gateway = HttpPaymentGateway::new(
        config.gateway_url.expose(),
        config.gateway_timeout,
        config.consumer.max_in_flight,
    )
    .map_err(anyhow::Error::msg)?;
    let store = GroupCommitStore::start(
        PgPaymentStore::new(pool.clone(), codec.clone(), config.group_id.clone()),
        GroupCommitSettings {
            max_batch: config.db_batch_max,
            workers: config.db_batch_workers,
        },
    );
    let hook = if config.test_crash_after_gateway {
        CrashHook::AbortAfterGatewayAnswer
    } else {
        CrashHook::Off
    };
    let service = Arc::new(
        PaymentService::new(
            store,
            gateway,
            SystemClock,
            PaymentDeadline(config.payment_deadline),
        )
        .with_crash_hook(hook),
    );
    let handler = Arc::new(RuntimeHandler(OrderCreatedHandler::new(service, codec)));
    let parking: Arc<dyn KeyParking> = Arc::new(PgKeyParking::new(pool.clone()));
    let mut topics = vec![config.source_topic.clone()];
    topics.extend(config.retry_topics.iter().cloned());
    let consumer = KeyedConsumer::new(
        &config.kafka,
        KeyedConsumerConfig {
            group_id: config.group_id.clone(),
            topics,
            retry,
            dead_letter_topic: config.dlq_topic.clone(),
            args: config.consumer.clone(),
            metrics_prefix: "payment_processor".into(),
        },
        handler,
        Some(parking),
    )
    .context("kafka consumer")?;
    let status = consumer.status();

    let ops = ops_router(
        metrics,
        all_ready(vec![schemas_ready, readiness(pool, status)]),
    );
    let ops_task = tokio::spawn(serve(
        config.ops_addr,
        ops,
        config.http.clone(),
        cancel.clone(),
    ));
    let outcome = consumer.run(cancel.clone()).await;
    // The consumer is the service: when it stops, everything stops (the supervisor restarts it).
    cancel.cancel();
    registration.abort();
    ops_task
        .await
        .context("ops endpoint task")?
        .with_context(|| format!("ops endpoints on {}", config.ops_addr))?;
    outcome.context("kafka consumer")?;
    tracing::info!("payment-processor stopped");
    Ok(())
}

/// Ready = the payments database answers and this member has partitions assigned.
fn readiness(pool: deadpool_postgres::Pool, status: RuntimeStatus) -> ReadinessCheck {
    Arc::new(move || {
        let pool = pool.clone();
        let status = status.clone();
        Box::pin(async move {
            let client = pool.get().await.map_err(|e| format!("database: {e}"))?;
            client
                .simple_query("SELECT 1")
                .await
                .map_err(|e| format!("database: {e}"))?;
            if status.assigned_partitions() == 0 {
                return Err("no Kafka partitions assigned yet".into());
            }
            Ok(())
        })
    })
}

/// Run the migrations (into `schema`, created if missing), waiting with backoff while the
/// database is unreachable.
async fn migrate_when_reachable(
    pool: &deadpool_postgres::Pool,
    schema: Option<&str>,
    cancel: &CancellationToken,
) -> anyhow::Result<()> {
    let attempt = || async {
        if let Some(schema) = schema {
            let unavailable =
                |e: &dyn std::fmt::Display| MigrationError::Unavailable(e.to_string());
            let client = pool.get().await.map_err(|e| unavailable(&e))?;
            let sql = format!(
                "CREATE SCHEMA IF NOT EXISTS \"{}\"",
                schema.replace('"', "")
            );
            client
                .batch_execute(&sql)
                .await
                .map_err(|e| unavailable(&e))?;
        }
        run_migrations(pool).await
    };
    let unreachable = |e: &MigrationError| matches!(e, MigrationError::Unavailable(_));
    match retry_while_unreachable(cancel, attempt, unreachable).await {
        Ok(Some(applied)) => {
            tracing::info!(?applied, "database schema is up to date");
            Ok(())
        }
        Ok(None) => anyhow::bail!("shut down before the database was reachable"),
        Err(e) => Err(e).context("migrations failed"),
    }
}

fn describe_metrics() {
    metrics::describe_counter!(
        "payment_processor_payments_total",
        "Payments by result: completed, declined, duplicate, settled_concurrently, expired."
    );
    metrics::describe_counter!(
        "payment_processor_skipped_records_total",
        "Records on the source topic that are not OrderCreated (skipped, not dead-lettered)."
    );
    metrics::describe_histogram!(
        "payment_processor_gateway_request_duration_seconds",
        metrics::Unit::Seconds,
        "Duration of payment gateway requests, by outcome (answered, unavailable, rejected, unreadable)."
    );
}
