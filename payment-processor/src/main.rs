//! `payment-processor` — Consumes OrderCreated events, charges the payment gateway idempotently, retries transient failures through retry topics and dead-letters the rest.
//!
//! Status: the binary has its skeleton (flags and env, logs, graceful shutdown, /healthz,
//! /readyz, /metrics); the business logic lands with its own issue.

use clap::Parser;
use eventing::kafka::KafkaArgs;
use service_kit::LogArgs;
use std::net::SocketAddr;

/// Consumes OrderCreated events, charges the payment gateway idempotently, retries transient failures through retry topics and dead-letters the rest.
#[derive(Debug, Parser)]
#[command(name = "payment-processor", version, about)]
struct Config {
    /// Address of the operational HTTP endpoints (/healthz, /readyz, /metrics).
    #[arg(
        long,
        env = "PAYMENT_PROCESSOR_OPS_ADDR",
        default_value = "127.0.0.1:8082"
    )]
    ops_addr: SocketAddr,
    /// Schema registry (Confluent API) URL.
    #[arg(
        long,
        env = "SCHEMA_REGISTRY_URL",
        default_value = "http://127.0.0.1:8081/apis/ccompat/v7"
    )]
    schema_registry_url: String,
    #[command(flatten)]
    kafka: KafkaArgs,
    #[command(flatten)]
    log: LogArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    config.log.init();
    tracing::info!(kafka = %config.kafka.kafka_bootstrap_servers, registry = %config.schema_registry_url, "starting");
    service_kit::run_ops_only("payment-processor", config.ops_addr).await?;
    Ok(())
}
