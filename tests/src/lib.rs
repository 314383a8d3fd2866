//! Shared support for the end-to-end tests, which run against the real local stack
//! (`make up`: PostgreSQL, Apache Kafka, Apicurio Registry on 127.0.0.1).
//!
//! A test whose service is unreachable fails with a message saying how to start it; nothing is
//! skipped and nothing is mocked.

pub mod pipeline;
pub mod private_kafka;
pub mod private_postgres;

use std::future::Future;
use std::time::{Duration, Instant};

pub const START_STACK: &str = "start the local stack with `make up` (deploy/local/stack.sh up)";

/// Connection settings, from the env lines `make up` prints, defaulting to the local stack.
#[derive(Debug, Clone)]
pub struct StackEnv {
    pub orders_database_url: String,
    pub payments_database_url: String,
    pub admin_database_url: String,
    pub kafka_bootstrap_servers: String,
    pub schema_registry_url: String,
}

fn env_or(key: &str, default: &str) -> String {
    std::env::var(key).unwrap_or_else(|_| default.to_string())
}

impl StackEnv {
    pub fn from_env() -> Self {
        Self {
            orders_database_url: env_or(
                "ORDERS_DATABASE_URL",
                "postgres://pipeline:pipeline@127.0.0.1:54329/orders",
            ),
            payments_database_url: env_or(
                "PAYMENTS_DATABASE_URL",
                "postgres://pipeline:pipeline@127.0.0.1:54329/payments",
            ),
            admin_database_url: env_or(
                "POSTGRES_ADMIN_URL",
                "postgres://postgres:postgres@127.0.0.1:54329/postgres",
            ),
            kafka_bootstrap_servers: env_or("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
            schema_registry_url: env_or(
                "SCHEMA_REGISTRY_URL",
                "http://127.0.0.1:8081/apis/ccompat/v7",
            ),
        }
    }

    pub fn kafka(&self) -> eventing::kafka::KafkaArgs {
        eventing::kafka::KafkaArgs::local(&self.kafka_bootstrap_servers)
    }

    pub fn codec(&self) -> eventing::AvroCodec {
        eventing::AvroCodec::new(&self.schema_registry_url).expect("registry URL is valid")
    }
}

/// Connect to Postgres or fail the test with instructions.
pub async fn connect_postgres(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "PostgreSQL at {} is unreachable ({e}); {START_STACK}",
                service_kit::redact_url(url)
            )
        });
    tokio::spawn(connection);
    client
}

/// Poll `probe` until it yields `Some`, or panic after `deadline` naming `what`.
pub async fn eventually<T, F, Fut>(what: &str, deadline: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            start.elapsed() < deadline,
            "timed out after {deadline:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A name no other test run uses.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}
