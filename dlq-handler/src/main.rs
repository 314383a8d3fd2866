//! Wiring only: config → adapters → use case → keyed consumer runtime, until SIGTERM/SIGINT.

use anyhow::Context;
use clap::Parser;
use contracts::PaymentFailed;
use dlq_handler::application::DeadLetterService;
use dlq_handler::config::{Command, Config};
use dlq_handler::infrastructure::kafka::DeadLetterHandler;
use dlq_handler::infrastructure::ledger::HttpChargeLedger;
use dlq_handler::infrastructure::operator::{Operator, listed_json, listed_line};
use dlq_handler::infrastructure::postgres::{PgPaymentsStore, run_migrations};
use eventing::kafka::keyed::{KeyedConsumer, KeyedConsumerConfig, RetryPolicy, RuntimeStatus};
use eventing::{AvroCodec, WriterSchema, writer_schemas};
use service_kit::postgres::{MigrationError, PgSettings, connect_pool, retry_while_unreachable};
use service_kit::{ReadinessCheck, all_ready, install_metrics, ops_router, serve, shutdown_token};
use std::sync::Arc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    config.log.init();
    match config.command {
        None => serve_dead_letters(config).await,
        Some(ref command) => operate(&config, command).await,
    }
}

/// The operator commands; output on stdout, errors as a non-zero exit.
async fn operate(config: &Config, command: &Command) -> anyhow::Result<()> {
    let pool = connect_pool(&PgSettings {
        url: config.database_url.clone(),
        application_name: "dlq-handler-operator".into(),
        pool_size: 1,
        timeout: config.database_timeout,
        schema: config.database_schema.clone(),
        options: Vec::new(),
    })
    .map_err(anyhow::Error::msg)?;
    let operator = Operator {
        kafka: config.kafka.clone(),
        topic: config.dlq_topic.clone(),
        pool,
        codec: AvroCodec::new(config.schema_registry_url.expose())
            .context("schema registry settings")?,
    };
    match command {
        Command::List { filter, json } => {
            let selected = operator.select(&filter.selection()).await?;
            if !json {
                println!(
                    "{:>3}:{:<8} {:<18} {:<36} {:>9} kept",
                    "p", "offset", "reason", "order id", "age"
                );
            }
            for (listed, _) in &selected {
                if *json {
                    println!("{}", listed_json(listed));
                } else {
                    println!("{}", listed_line(listed));
                }
            }
            if !json {
                println!("{} dead letter(s) on {}", selected.len(), config.dlq_topic);
            }
        }
        Command::Show { position } => {
            let shown = operator.show(position.0, position.1).await?;
            println!("{}", serde_json::to_string_pretty(&shown)?);
        }
        Command::Replay {
            filter,
            source_topic,
            dry_run,
            all_selected,
        } => {
            if !filter.any() && !all_selected {
                anyhow::bail!(
                    "no filter given: pass --at, --reason, --order-id, --older-than or --kept (or --all-selected to replay every dead letter)"
                );
            }
            for line in operator
                .replay(&filter.selection(), source_topic, *dry_run)
                .await?
            {
                println!("{line}");
            }
        }
    }
    Ok(())
}

async fn serve_dead_letters(config: Config) -> anyhow::Result<()> {
    let metrics = install_metrics("dlq_handler");
    describe_metrics();
    let cancel = shutdown_token();
    tracing::info!(
        database = %config.database_url,
        gateway = %config.gateway_url,
        kafka = %config.kafka.kafka_bootstrap_servers,
        dlq_topic = %config.dlq_topic,
        group = %config.group_id,
        "starting dlq-handler"
    );
    let pool = connect_pool(&PgSettings {
        url: config.database_url.clone(),
        application_name: "dlq-handler".into(),
        pool_size: config.pool_size,
        timeout: config.database_timeout,
        schema: config.database_schema.clone(),
        options: Vec::new(),
    })
    .map_err(anyhow::Error::msg)?;
    let attempt = || async { run_migrations(&pool).await };
    let unreachable = |e: &MigrationError| matches!(e, MigrationError::Unavailable(_));
    match retry_while_unreachable(&cancel, attempt, unreachable).await {
        Ok(Some(applied)) => tracing::info!(?applied, "dlq-handler tables are up to date"),
        Ok(None) => anyhow::bail!("shut down before the database was reachable"),
        Err(e) => return Err(e).context("migrations failed"),
    }

    let codec =
        AvroCodec::new(config.schema_registry_url.expose()).context("schema registry settings")?;
    // Registered in the background (not ready until done); until then a dead letter registers
    // PaymentFailed before its transaction opens, and is retried while the registry is down.
    let encoded_events = vec![WriterSchema::of::<PaymentFailed>()];
    let registration = writer_schemas::spawn_registration(&codec, encoded_events.clone(), &cancel);
    let schemas_ready = writer_schemas::readiness(codec.clone(), encoded_events);
    let store = PgPaymentsStore::new(pool.clone(), codec.clone(), config.group_id.clone());
    match store.kept_count().await {
        Ok(kept) => metrics::gauge!("dlq_handler_kept_dead_letters").set(kept as f64),
        Err(e) => tracing::warn!(error = %e, "could not count the kept dead letters yet"),
    }
    let ledger = HttpChargeLedger::new(config.gateway_url.expose(), config.gateway_timeout)
        .map_err(anyhow::Error::msg)?;
    let service = DeadLetterService::new(Arc::new(store), Arc::new(ledger));
    let handler = DeadLetterHandler::new(service, codec);
    let consumer = KeyedConsumer::new(
        &config.kafka,
        KeyedConsumerConfig {
            group_id: config.group_id.clone(),
            topics: vec![config.dlq_topic.clone()],
            retry: RetryPolicy::in_place(),
            dead_letter_topic: config.unhandled_topic.clone(),
            args: config.consumer.clone(),
            metrics_prefix: "dlq_handler".into(),
        },
        handler,
        None,
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
    cancel.cancel();
    registration.abort();
    ops_task
        .await
        .context("ops endpoint task")?
        .with_context(|| format!("ops endpoints on {}", config.ops_addr))?;
    outcome.context("kafka consumer")?;
    tracing::info!("dlq-handler stopped");
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

fn describe_metrics() {
    metrics::describe_counter!(
        "dlq_handler_handled_total",
        "Dead letters handled, by outcome: failed (PaymentFailed written), already_settled (paid or failed meanwhile), duplicate (handled before), kept."
    );
    metrics::describe_gauge!(
        "dlq_handler_kept_dead_letters",
        "Dead letters kept for an operator in kept_dead_letters (order id unreadable, or charged at the gateway)."
    );
}
