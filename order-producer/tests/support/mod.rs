//! Shared helpers of the integration tests: the REAL local stack (Postgres, schema registry,
//! Kafka), one fresh database schema per test (so tests run in parallel and count rows exactly),
//! the app router driven in-process, and polling with deadlines (no fixed sleeps).
#![allow(dead_code, unreachable_pub)]

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use deadpool_postgres::Pool;
use eventing::AvroCodec;
use http_body_util::BodyExt;
use order_producer::application::OrderService;
use order_producer::application::ports::{SystemClock, UuidV7Ids};
use order_producer::infrastructure::http::{
    AppService, AppState, DEFAULT_MAX_BODY_BYTES, database_readiness, router,
};
use order_producer::infrastructure::postgres::{
    PgOrderRepository, PgOutboxWriter, PgSettings, connect_pool, run_migrations,
};
use service_kit::install_metrics;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_postgres::NoTls;
use tower::ServiceExt;
use uuid::Uuid;

pub const START_STACK: &str = "start the local stack with `make up`";

pub fn database_url() -> String {
    std::env::var("ORDERS_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://pipeline:pipeline@127.0.0.1:54329/orders".into())
}
pub fn registry_url() -> String {
    std::env::var("SCHEMA_REGISTRY_URL")
        .unwrap_or_else(|_| "http://127.0.0.1:8081/apis/ccompat/v7".into())
}
pub fn kafka_bootstrap() -> String {
    std::env::var("KAFKA_BOOTSTRAP_SERVERS").unwrap_or_else(|_| "127.0.0.1:9092".into())
}

/// A plain connection (default search_path), failing loudly when Postgres is down.
pub async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "Postgres at {} unreachable ({e}): {START_STACK}",
                service_kit::redact_url(url)
            )
        });
    tokio::spawn(connection);
    client
}

/// The registry-backed codec, failing loudly when the registry is down.
pub async fn codec() -> AvroCodec {
    let url = registry_url();
    let codec = AvroCodec::new(&url).expect("registry URL is valid");
    codec
        .register::<contracts::OrderCreated>()
        .await
        .unwrap_or_else(|e| panic!("schema registry at {url} unreachable ({e}): {START_STACK}"));
    codec
}

/// Poll `check` until it returns `Some`, or fail after `deadline`.
pub async fn poll_until<T, F, Fut>(what: &str, deadline: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let started = Instant::now();
    let mut delay = Duration::from_millis(20);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            started.elapsed() < deadline,
            "timed out after {deadline:?} waiting for {what}"
        );
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_millis(500));
    }
}

/// A fresh schema with the service's migrations applied; dropped by [`TestDb::drop_schema`].
pub struct TestDb {
    pub schema: String,
    pub pool: Pool,
    pub client: tokio_postgres::Client,
}

impl TestDb {
    pub async fn new() -> Self {
        let schema = format!("op_test_{}", Uuid::new_v4().simple());
        let admin = connect(&database_url()).await;
        admin
            .batch_execute(&format!("CREATE SCHEMA {schema}"))
            .await
            .expect("create test schema");
        let pool = Self::pool_for(&database_url(), &schema, Duration::from_secs(5));
        run_migrations(&pool).await.expect("migrations apply");
        let client = connect(&database_url()).await;
        client
            .batch_execute(&format!("SET search_path TO {schema}"))
            .await
            .expect("set search_path");
        Self {
            schema,
            pool,
            client,
        }
    }

    pub fn pool_for(url: &str, schema: &str, timeout: Duration) -> Pool {
        connect_pool(&PgSettings {
            url: url.parse().expect("valid database URL"),
            application_name: "order-producer".into(),
            pool_size: 8,
            timeout,
            schema: Some(schema.to_string()),
            options: Vec::new(),
        })
        .expect("pool settings are valid")
    }

    pub async fn count(&self, table: &str) -> i64 {
        self.client
            .query_one(&format!("SELECT count(*) FROM {table}"), &[])
            .await
            .expect("count rows")
            .get(0)
    }

    pub async fn drop_schema(self) {
        let admin = connect(&database_url()).await;
        let _ = admin
            .batch_execute(&format!("DROP SCHEMA {} CASCADE", self.schema))
            .await;
    }
}

pub async fn service_on(pool: Pool) -> Arc<AppService> {
    let repository = PgOrderRepository::new(pool, PgOutboxWriter::new(codec().await));
    Arc::new(OrderService::new(repository, SystemClock, UuidV7Ids))
}

/// [`service_on`] with `--unknown-order-grace`.
#[allow(dead_code)]
pub async fn service_with_unknown_order_grace(
    pool: Pool,
    grace: std::time::Duration,
) -> Arc<AppService> {
    let repository = PgOrderRepository::new(pool, PgOutboxWriter::new(codec().await));
    Arc::new(OrderService::new(repository, SystemClock, UuidV7Ids).with_unknown_order_grace(grace))
}

pub fn app_for(service: Arc<AppService>) -> Router {
    router(
        AppState {
            service: Arc::clone(&service),
        },
        install_metrics("order_producer"),
        database_readiness(service),
        DEFAULT_MAX_BODY_BYTES,
    )
}

/// A response as the tests look at it.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: serde_json::Value,
    pub text: String,
}

pub async fn send(app: &Router, request: Request<Body>) -> Reply {
    let response = app
        .clone()
        .oneshot(request)
        .await
        .expect("router is infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body collects")
        .to_bytes();
    let text = String::from_utf8_lossy(&bytes).to_string();
    let body = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    Reply {
        status,
        headers,
        body,
        text,
    }
}

pub fn post_json(path: &str, body: impl Into<Body>, headers: &[(&str, &str)]) -> Request<Body> {
    let mut builder = Request::post(path).header("content-type", "application/json");
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    builder.body(body.into()).expect("valid request")
}

pub fn get(path: &str) -> Request<Body> {
    Request::get(path)
        .body(Body::empty())
        .expect("valid request")
}

pub fn order_json(customer: &str) -> serde_json::Value {
    serde_json::json!({
        "customer_id": customer,
        "currency": "EUR",
        "items": [
            {"sku": "SKU-1", "quantity": 2, "unit_price": "19.99"},
            {"sku": "SKU-2", "quantity": 1, "unit_price": "0.5"}
        ]
    })
}

/// A TCP proxy to Postgres that a test can cut and restore, to simulate a database outage
/// without touching the shared server.
pub struct CuttableProxy {
    pub port: u16,
    target: String,
    tasks: Option<tokio::task::JoinSet<()>>,
}

impl CuttableProxy {
    pub async fn start(target: &str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind proxy");
        let port = listener.local_addr().expect("bound").port();
        let mut proxy = Self {
            port,
            target: target.to_string(),
            tasks: None,
        };
        proxy.serve(listener);
        proxy
    }

    fn serve(&mut self, listener: tokio::net::TcpListener) {
        let target = self.target.clone();
        let mut tasks = tokio::task::JoinSet::new();
        tasks.spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                let target = target.clone();
                connections.spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        self.tasks = Some(tasks);
    }

    /// Close the listener and every proxied connection (dropping the JoinSets aborts them).
    pub fn cut(&mut self) {
        if let Some(mut tasks) = self.tasks.take() {
            tasks.abort_all();
        }
    }

    /// Listen again on the same port.
    pub async fn restore(&mut self) {
        let listener = poll_until("proxy port to be free", Duration::from_secs(10), || async {
            tokio::net::TcpListener::bind(("127.0.0.1", self.port))
                .await
                .ok()
        })
        .await;
        self.serve(listener);
    }
}
