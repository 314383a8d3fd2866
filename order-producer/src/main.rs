//! Wiring only: config → telemetry → pool + migrations → codec → service → HTTP + consumer +
//! idempotency-key cleanup → run until SIGTERM/SIGINT.

use anyhow::Context;
use clap::Parser;
use contracts::{ErrorKind, OrderCreated};
use eventing::{AvroCodec, WriterSchema, writer_schemas};
use order_producer::application::OrderService;
use order_producer::application::ports::{SystemClock, UuidV7Ids};
use order_producer::config::Config;
use order_producer::infrastructure::http::{AppState, database_readiness, router};
use order_producer::infrastructure::idempotency_cleanup::run_idempotency_key_cleanup;
use order_producer::infrastructure::kafka::{
    ConsumerSettings, PaymentResultHandler, run_payment_consumer,
};
use order_producer::infrastructure::postgres::{
    PgOrderRepository, PgOutboxWriter, PgSettings, connect_pool, run_migrations,
};
use service_kit::postgres::retry_while_unreachable;
use service_kit::{all_ready, install_metrics, serve, shutdown_token};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    config.log.init();
    let metrics = install_metrics("order_producer");
    let cancel = shutdown_token();
    tracing::info!(
        listen_addr = %config.listen_addr,
        database = %config.database_url,
        schema_registry = %config.schema_registry_url,
        kafka = %config.kafka.kafka_bootstrap_servers,
        consumer_enabled = !config.disable_consumer,
        "starting order-producer"
    );

    let pool = connect_pool(&PgSettings {
        url: config.database_url.clone(),
        application_name: "order-producer".into(),
        pool_size: config.database_pool_size,
        timeout: Duration::from_millis(config.database_timeout_ms),
        schema: None,
        options: Vec::new(),
    })
    .map_err(anyhow::Error::msg)?;
    migrate_when_reachable(&pool, &cancel).await?;

    let codec =
        AvroCodec::new(config.schema_registry_url.expose()).context("schema registry settings")?;
    // Registered in the background: the service starts while the registry is unreachable and
    // reports not ready until the schema id is cached; from then on POST /orders encodes with
    // no network call. Until then POST /orders asks the registry before taking a connection
    // and answers 503 fast if it does not answer.
    let encoded_events = vec![WriterSchema::of::<OrderCreated>()];
    let registration = writer_schemas::spawn_registration(&codec, encoded_events.clone(), &cancel);
    let repository = PgOrderRepository::new(pool, PgOutboxWriter::new(codec.clone()));
    let service = Arc::new(
        OrderService::new(repository, SystemClock, UuidV7Ids)
            .with_idempotency_key_retention(config.idempotency_key_retention())
            .with_unknown_order_grace(config.unknown_order_grace),
    );
    let cleanup = tokio::spawn(run_idempotency_key_cleanup(
        Arc::clone(&service),
        config.idempotency_cleanup(),
        cancel.clone(),
    ));

    let consumer = (!config.disable_consumer).then(|| {
        let settings = ConsumerSettings {
            kafka: config.kafka.clone(),
            group_id: config.consumer_group.clone(),
            topic: config.payment_topic.clone(),
            dead_letter_topic: config.dead_letter_topic.clone(),
            runtime: config.consumer_runtime.clone(),
        };
        let handler = PaymentResultHandler::new(
            Arc::clone(&service),
            codec.clone(),
            config.consumer_group.clone(),
        );
        let cancel = cancel.clone();
        tokio::spawn(async move {
            let outcome = run_payment_consumer(&settings, handler, cancel.clone()).await;
            // The consumer is half of the service: stop everything so the supervisor restarts it.
            cancel.cancel();
            outcome
        })
    });

    let app = router(
        AppState {
            service: Arc::clone(&service),
        },
        metrics,
        all_ready(vec![
            writer_schemas::readiness(codec, encoded_events),
            database_readiness(service),
        ]),
        config.max_body_bytes,
    );
    serve(config.listen_addr, app, config.http.clone(), cancel.clone())
        .await
        .with_context(|| format!("HTTP server on {}", config.listen_addr))?;
    cancel.cancel();
    registration.abort();
    if let Err(e) = cleanup.await {
        // Housekeeping only: report, but let the consumer shut down cleanly.
        tracing::error!(error = %e, "idempotency key cleanup task failed");
    }
    if let Some(consumer) = consumer {
        consumer
            .await
            .context("payment-results consumer task")?
            .map_err(anyhow::Error::msg)?;
    }
    tracing::info!("order-producer stopped");
    Ok(())
}

/// Run the migrations, waiting (with backoff) while the database is unreachable.
async fn migrate_when_reachable(
    pool: &deadpool_postgres::Pool,
    cancel: &CancellationToken,
) -> anyhow::Result<()> {
    let unreachable =
        |e: &order_producer::application::StoreError| e.kind() == ErrorKind::Transient;
    match retry_while_unreachable(cancel, || run_migrations(pool), unreachable).await {
        Ok(Some(applied)) => {
            tracing::info!(?applied, "database schema is up to date");
            Ok(())
        }
        Ok(None) => anyhow::bail!("shut down before the database was reachable"),
        Err(e) => Err(e).context("migrations failed"),
    }
}
