//! Shared helpers of the integration tests: the REAL gateway database of the local stack
//! (`make up`), the real router served on a free loopback port, one private behaviour switch
//! per test (so admin changes never leak between tests), unique keys and order ids per test,
//! and polling with deadlines (no fixed sleeps).
#![allow(dead_code, unreachable_pub)]

use payment_gateway_sim::application::{BehaviourSwitch, GatewayService};
use payment_gateway_sim::domain::Behaviour;
use payment_gateway_sim::infrastructure::http::AppState;
use payment_gateway_sim::infrastructure::postgres::{
    PgLedger, PgSettings, SynchronousCommit, connect_pool, run_migrations,
};
use payment_gateway_sim::ops::{app, install_metrics, redact_url};
use serde_json::{Value, json};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;

pub const START_STACK: &str = "start the local stack with `make up`";

pub fn database_url() -> String {
    std::env::var("GATEWAY_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://pipeline:pipeline@127.0.0.1:54329/gateway".into())
}

/// A running simulator: its base URL and an HTTP client.
#[derive(Debug, Clone)]
pub struct Gateway {
    pub base: String,
    pub http: reqwest::Client,
}

/// Start the real router over a real pool on the gateway database (migrated), on a free port.
/// Fails (never skips) when the database is unreachable.
pub async fn start_gateway() -> Gateway {
    let url = database_url();
    let pool = connect_pool(&PgSettings {
        url: url.parse().expect("valid database URL"),
        application_name: "payment-gateway-sim".into(),
        pool_size: 8,
        timeout: Duration::from_secs(5),
        schema: None,
        options: vec![SynchronousCommit::Off.server_setting()],
    })
    .expect("the gateway database URL is valid");
    run_migrations(&pool).await.unwrap_or_else(|e| {
        panic!(
            "gateway database at {} unreachable or not migratable ({e}): {START_STACK}",
            redact_url(&url)
        )
    });
    serve_pool(pool).await
}

/// A simulator whose database is unreachable (nothing listens on the port).
pub async fn start_gateway_without_database() -> Gateway {
    let pool = connect_pool(&PgSettings {
        url: "postgres://pipeline:pipeline@127.0.0.1:1/gateway"
            .parse()
            .expect("valid database URL"),
        application_name: "payment-gateway-sim".into(),
        pool_size: 2,
        timeout: Duration::from_millis(500),
        schema: None,
        options: vec![SynchronousCommit::Off.server_setting()],
    })
    .expect("the URL is valid");
    serve_pool(pool).await
}

async fn serve_pool(pool: deadpool_postgres::Pool) -> Gateway {
    let service = Arc::new(GatewayService::new(
        PgLedger::new(pool),
        BehaviourSwitch::new(Behaviour::default()),
    ));
    let router = app(AppState { service }, install_metrics("payment_gateway_sim"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free loopback port");
    let addr = listener
        .local_addr()
        .expect("bound listener has an address");
    tokio::spawn(async move {
        axum::serve(listener, router)
            .await
            .expect("the test server runs until the test ends");
    });
    Gateway {
        base: format!("http://{addr}"),
        http: reqwest::Client::new(),
    }
}

/// A key no other test (or earlier run) uses.
pub fn unique_key() -> String {
    format!("test-key-{}", Uuid::new_v4())
}

pub fn charge_body(order_id: Uuid, customer: &str, amount: &str) -> Value {
    json!({"order_id": order_id, "customer_id": customer, "amount": amount, "currency": "EUR"})
}

/// An HTTP answer: status, the `Idempotent-Replayed` header, JSON body.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub content_type: Option<String>,
    pub replayed_header: Option<String>,
    pub retry_after: Option<String>,
    pub body: Value,
}

async fn answer(response: reqwest::Response) -> Answer {
    let status = response.status().as_u16();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let content_type = header("content-type");
    let replayed_header = header("idempotent-replayed");
    let retry_after = header("retry-after");
    let text = response.text().await.expect("a readable body");
    let body = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("status {status}: body is not JSON ({e}): {text}"));
    Answer {
        status,
        content_type,
        replayed_header,
        retry_after,
        body,
    }
}

impl Gateway {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn charge(&self, key: &str, body: &Value) -> Answer {
        let response = self
            .http
            .post(self.url("/v1/charges"))
            .header("Idempotency-Key", key)
            .json(body)
            .send()
            .await
            .expect("the simulator answers");
        answer(response).await
    }

    pub async fn send(&self, request: reqwest::RequestBuilder) -> Answer {
        answer(request.send().await.expect("the simulator answers")).await
    }

    pub async fn patch_behaviour(&self, patch: Value) -> Answer {
        self.send(self.http.patch(self.url("/admin/behaviour")).json(&patch))
            .await
    }

    /// The ledger rows of `order_id`.
    pub async fn ledger_of_order(&self, order_id: Uuid) -> Vec<Value> {
        let answer = self
            .send(
                self.http
                    .get(self.url(&format!("/v1/ledger?order_id={order_id}"))),
            )
            .await;
        assert_eq!(answer.status, 200, "{:?}", answer.body);
        answer.body["charges"]
            .as_array()
            .expect("charges is an array")
            .clone()
    }
}

/// Poll `check` until it returns `Some`, or fail after `deadline`.
pub async fn poll_until<T, F, Fut>(what: &str, deadline: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let started = Instant::now();
    let mut delay = Duration::from_millis(10);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            started.elapsed() < deadline,
            "{what}: not true after {deadline:?}"
        );
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_millis(200));
    }
}
