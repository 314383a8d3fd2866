//! No network call inside a database transaction: `POST /orders` against the real Postgres and
//! the real schema registry, reached through a TCP front this test can turn into a black hole
//! (it accepts connections and never answers — the worst registry outage, a hung one).
//!
//! * Once the `OrderCreated` schema is registered, orders commit while the registry hangs, and
//!   not one connection to it is attempted.
//! * While the schema is not registered and the registry hangs, `POST /orders` fails with a
//!   typed transient error (503) — the first request after the registry timeout, the next ones
//!   at once — and no pooled connection is held meanwhile: with a pool of ONE connection a
//!   concurrent request is served, and no session sits idle in a transaction. The service is
//!   not ready until the start-up registration gets through, then ready, and orders commit.

mod support;

use axum::http::StatusCode;
use contracts::{AvroEvent, ErrorKind, OrderCreated};
use eventing::{AvroCodec, CodecError, RegistrySettings, WriterSchema, writer_schemas};
use order_producer::application::{
    OrderService, PlaceOrderCommand, ServiceError, StoreError,
    ports::{SystemClock, UuidV7Ids},
};
use order_producer::domain::{Currency, CustomerId, OrderLine, Quantity, Sku, UnitPrice};
use order_producer::infrastructure::http::{
    AppService, AppState, DEFAULT_MAX_BODY_BYTES, database_readiness, router,
};
use order_producer::infrastructure::postgres::{
    PgOrderRepository, PgOutboxWriter, PgSettings, connect_pool,
};
use service_kit::{all_ready, install_metrics};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::*;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// How long one registry call may take in these tests.
const REGISTRY_TIMEOUT: Duration = Duration::from_secs(3);

/// A TCP front of the real registry: forwards, or accepts and never answers.
struct RegistryFront {
    url: String,
    forward: Arc<AtomicBool>,
    accepted: Arc<AtomicUsize>,
    connections: Arc<Mutex<JoinSet<()>>>,
    accept_loop: tokio::task::JoinHandle<()>,
}

impl RegistryFront {
    async fn start() -> Self {
        let real = reqwest::Url::parse(&registry_url()).expect("SCHEMA_REGISTRY_URL parses");
        let target = format!(
            "{}:{}",
            real.host_str().expect("the registry URL has a host"),
            real.port_or_known_default()
                .expect("the registry URL has a port")
        );
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the front");
        let port = listener.local_addr().expect("bound").port();
        let mut url = real.clone();
        url.set_port(Some(port)).expect("an http URL takes a port");
        url.set_host(Some("127.0.0.1"))
            .expect("an http URL takes a host");
        let forward = Arc::new(AtomicBool::new(true));
        let accepted = Arc::new(AtomicUsize::new(0));
        let connections = Arc::new(Mutex::new(JoinSet::new()));
        let accept_loop = tokio::spawn({
            let (forward, accepted, connections) =
                (forward.clone(), accepted.clone(), connections.clone());
            async move {
                while let Ok((mut inbound, _)) = listener.accept().await {
                    accepted.fetch_add(1, Ordering::SeqCst);
                    let forwarding = forward.load(Ordering::SeqCst);
                    let target = target.clone();
                    connections.lock().expect("not poisoned").spawn(async move {
                        if forwarding {
                            if let Ok(mut outbound) = TcpStream::connect(&target).await {
                                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound)
                                    .await;
                            }
                        } else {
                            // Hold the connection open and never answer.
                            std::future::pending::<()>().await;
                        }
                    });
                }
            }
        });
        Self {
            url: url.as_str().trim_end_matches('/').to_string(),
            forward,
            accepted,
            connections,
            accept_loop,
        }
    }

    /// From now on accept and never answer; connections made before are cut.
    fn hang(&self) {
        self.forward.store(false, Ordering::SeqCst);
        self.connections.lock().expect("not poisoned").abort_all();
    }

    /// From now on forward to the real registry; hung connections are cut.
    fn recover(&self) {
        self.forward.store(true, Ordering::SeqCst);
        self.connections.lock().expect("not poisoned").abort_all();
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    fn codec(&self, failure_hold: Duration) -> AvroCodec {
        AvroCodec::with_settings(
            &self.url,
            RegistrySettings {
                timeout: REGISTRY_TIMEOUT,
                failure_hold,
            },
        )
        .expect("the front's URL is valid")
    }
}

impl Drop for RegistryFront {
    fn drop(&mut self) {
        self.accept_loop.abort();
        self.connections.lock().expect("not poisoned").abort_all();
    }
}

/// A pool of `size` connections to the test's schema, named `application_name` in
/// `pg_stat_activity`.
fn pool(db: &TestDb, size: usize, application_name: &str) -> deadpool_postgres::Pool {
    connect_pool(&PgSettings {
        url: database_url().parse().expect("valid database URL"),
        application_name: application_name.to_string(),
        pool_size: size,
        timeout: Duration::from_secs(2),
        schema: Some(db.schema.clone()),
        options: Vec::new(),
    })
    .expect("pool settings are valid")
}

fn service(pool: deadpool_postgres::Pool, codec: &AvroCodec) -> Arc<AppService> {
    let repository = PgOrderRepository::new(pool, PgOutboxWriter::new(codec.clone()));
    Arc::new(OrderService::new(repository, SystemClock, UuidV7Ids))
}

/// The router as `main` wires it: ready = writer schemas registered and database reachable.
fn app(service: &Arc<AppService>, codec: &AvroCodec) -> axum::Router {
    router(
        AppState {
            service: Arc::clone(service),
        },
        install_metrics("order_producer"),
        all_ready(vec![
            writer_schemas::readiness(codec.clone(), vec![WriterSchema::of::<OrderCreated>()]),
            database_readiness(Arc::clone(service)),
        ]),
        DEFAULT_MAX_BODY_BYTES,
    )
}

fn command() -> PlaceOrderCommand {
    let currency = Currency::parse("currency", "EUR").expect("valid");
    PlaceOrderCommand {
        customer_id: CustomerId::parse("customer_id", "c-registry").expect("valid"),
        currency,
        lines: vec![OrderLine {
            sku: Sku::parse("sku", "SKU-1").expect("valid"),
            quantity: Quantity::new("quantity", 1).expect("valid"),
            unit_price: UnitPrice::parse("unit_price", "9.99", currency).expect("valid"),
        }],
    }
}

async fn idle_in_transaction(db: &TestDb, application_name: &str) -> i64 {
    db.client
        .query_one(
            "SELECT count(*) FROM pg_stat_activity \
             WHERE application_name = $1 AND state = 'idle in transaction'",
            &[&application_name],
        )
        .await
        .expect("pg_stat_activity is readable")
        .get(0)
}

#[tokio::test]
async fn orders_commit_while_the_registry_hangs_once_the_schema_is_registered() {
    let db = TestDb::new().await;
    let front = RegistryFront::start().await;
    let codec = front.codec(Duration::from_secs(1));
    let registered = tokio::time::timeout(
        Duration::from_secs(30),
        writer_schemas::register_until_done(
            &codec,
            &[WriterSchema::of::<OrderCreated>()],
            &CancellationToken::new(),
        ),
    )
    .await
    .unwrap_or_else(|_| panic!("registration through the front timed out: {START_STACK}"));
    assert!(registered);
    assert!(
        front.accepted() >= 1,
        "positive control: the front saw the registration"
    );

    front.hang();
    // Positive control: the registry is unreachable now for a codec without the cached id.
    let started = Instant::now();
    let err = front
        .codec(Duration::from_secs(1))
        .register::<OrderCreated>()
        .await
        .expect_err("the front hangs");
    assert_eq!(err.kind(), ErrorKind::Transient, "{err}");
    assert!(
        started.elapsed() >= REGISTRY_TIMEOUT,
        "it waited for the hung registry"
    );

    let service = service(pool(&db, 2, "order-producer"), &codec);
    let app = app(&service, &codec);
    let accepted_before = front.accepted();
    for customer in ["c-hung-1", "c-hung-2", "c-hung-3"] {
        let started = Instant::now();
        let created = send(
            &app,
            post_json("/orders", order_json(customer).to_string(), &[]),
        )
        .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
        assert!(
            started.elapsed() < REGISTRY_TIMEOUT,
            "POST /orders waited {:?}: it must not wait on the registry",
            started.elapsed()
        );
    }
    assert_eq!(db.count("orders").await, 3);
    assert_eq!(
        front.accepted(),
        accepted_before,
        "no connection to the registry was even attempted"
    );
    let ready = send(&app, get("/readyz")).await;
    assert_eq!(ready.status, StatusCode::OK, "{}", ready.text);
    db.drop_schema().await;
}

#[tokio::test]
async fn an_unregistered_schema_fails_fast_without_holding_a_pooled_connection() {
    let db = TestDb::new().await;
    let front = RegistryFront::start().await;
    front.hang();
    // A long failure hold: the second request must fail at once, however slow this machine.
    let codec = front.codec(Duration::from_secs(60));
    let application_name = format!("op-registry-{}", Uuid::new_v4().simple());
    let pool = pool(&db, 1, &application_name);
    let service = service(pool.clone(), &codec);
    let app = app(&service, &codec);

    // Positive control of the probe below: a session of this pool idle in a transaction.
    {
        let client = pool.get().await.expect("a pooled connection");
        client.batch_execute("BEGIN").await.expect("begin");
        poll_until(
            "the probe to see the open transaction",
            Duration::from_secs(10),
            || async { (idle_in_transaction(&db, &application_name).await == 1).then_some(()) },
        )
        .await;
        client.batch_execute("ROLLBACK").await.expect("rollback");
    }

    let not_ready = send(&app, get("/readyz")).await;
    assert_eq!(not_ready.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        not_ready.text.contains(OrderCreated::FULL_NAME),
        "the reason names the schema: {}",
        not_ready.text
    );

    // The first order asks the hung registry, for up to the registry timeout...
    let started = Instant::now();
    let first = tokio::spawn({
        let app = app.clone();
        async move {
            send(
                &app,
                post_json("/orders", order_json("c-first").to_string(), &[]),
            )
            .await
        }
    });
    poll_until(
        "the request to reach the registry",
        Duration::from_secs(10),
        || async { (front.accepted() >= 1).then_some(()) },
    )
    .await;
    // ...meanwhile the ONE pooled connection is free: another request is served at once...
    let other = Instant::now();
    let missing = send(&app, get(&format!("/orders/{}", Uuid::new_v4()))).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND, "{}", missing.text);
    assert!(
        other.elapsed() < Duration::from_secs(1),
        "{:?}",
        other.elapsed()
    );
    // ...and no session of this service sits in a transaction.
    assert_eq!(idle_in_transaction(&db, &application_name).await, 0);
    assert!(
        !first.is_finished(),
        "the first request still waits on the registry"
    );

    let first = first.await.expect("the request task");
    assert_eq!(
        first.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        first.text
    );
    assert!(first.headers.contains_key("retry-after"));
    assert!(started.elapsed() >= REGISTRY_TIMEOUT);
    assert!(
        started.elapsed() < REGISTRY_TIMEOUT * 2,
        "{:?}",
        started.elapsed()
    );

    // The next one fails at once (the registry failed a moment ago), as a typed transient error.
    let started = Instant::now();
    let second = send(
        &app,
        post_json("/orders", order_json("c-second").to_string(), &[]),
    )
    .await;
    assert_eq!(
        second.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        second.text
    );
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    let err = service
        .place_order(
            command(),
            None,
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )
        .await
        .expect_err("the schema is not registered");
    assert!(
        matches!(
            err,
            ServiceError::Store(StoreError::Encoding(CodecError::RegistryUnavailable { .. }))
        ),
        "{err:?}"
    );
    assert_eq!(err.kind(), ErrorKind::Transient);
    assert_eq!(db.count("orders").await, 0, "nothing was stored");

    // Start-up registration keeps trying: not ready while the registry hangs...
    let cancel = CancellationToken::new();
    let registration = tokio::spawn({
        let (codec, cancel) = (codec.clone(), cancel.clone());
        async move {
            writer_schemas::register_until_done(
                &codec,
                &[WriterSchema::of::<OrderCreated>()],
                &cancel,
            )
            .await
        }
    });
    let before = front.accepted();
    poll_until(
        "the registration to try the registry",
        Duration::from_secs(10),
        || async { (front.accepted() > before).then_some(()) },
    )
    .await;
    assert_eq!(
        send(&app, get("/readyz")).await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    // ...ready once it answers, and orders commit.
    front.recover();
    poll_until(
        "the service to become ready",
        Duration::from_secs(60),
        || async { (send(&app, get("/readyz")).await.status == StatusCode::OK).then_some(()) },
    )
    .await;
    assert!(registration.await.expect("the registration task"));
    let created = send(
        &app,
        post_json("/orders", order_json("c-after").to_string(), &[]),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    assert_eq!(db.count("orders").await, 1);
    cancel.cancel();
    db.drop_schema().await;
}
