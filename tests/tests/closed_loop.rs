//! The closed loop on the REAL stack with every service as a real process: order-producer →
//! orders relay → payment-processor (retry tiers, dead letters) → dlq-handler → payments relay
//! → order-producer. A gateway outage longer than the retries fails the order cleanly
//! (`PAYMENT_FAILED`, `RETRIES_EXHAUSTED`, nothing charged); after recovery a new order is paid.
//!
//! Isolation: a fresh orders database, a payments schema, its own topics, slots and groups.
#![allow(clippy::unwrap_used)]

use e2e_tests::{START_STACK, StackEnv, connect_postgres, eventually};
use eventing::kafka::create_topic;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::process::{Child, Command};
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(120);

fn binary(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let path = target.join("debug").join(name);
    assert!(
        path.is_file(),
        "{} is not built: run `cargo build --workspace --bins` (make test does)",
        path.display()
    );
    path
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A service process with its log; killed when dropped; restartable with the same flags.
struct Service {
    name: &'static str,
    child: Child,
    log: PathBuf,
    args: Vec<String>,
    ready: String,
}

impl Service {
    /// Spawn without waiting for readiness.
    fn spawn(name: &'static str, args: &[String], ready: &str) -> Service {
        let log = std::env::temp_dir().join(format!("closed-loop-{name}-{}.log", Uuid::new_v4()));
        Service {
            name,
            child: Self::launch(name, args, &log),
            log,
            args: args.to_vec(),
            ready: ready.to_string(),
        }
    }

    fn launch(name: &str, args: &[String], log: &PathBuf) -> Child {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        Command::new(binary(name))
            .args(args)
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .kill_on_drop(true)
            .spawn()
            .unwrap()
    }

    async fn start(name: &'static str, args: &[String], ready: &str) -> Service {
        let mut service = Self::spawn(name, args, ready);
        service.wait_ready().await;
        service
    }

    async fn wait_ready(&mut self) {
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            if let Ok(r) = reqwest::get(&self.ready).await
                && r.status().is_success()
            {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("{} exited with {status}:\n{}", self.name, self.tail());
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{} not ready ({START_STACK}?):\n{}",
                self.name,
                self.tail()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGKILL, then start again with the same flags (same log file) and wait until ready.
    async fn kill_and_restart(&mut self) {
        self.child.kill().await.unwrap();
        self.child = Self::launch(self.name, &self.args, &self.log);
        self.wait_ready().await;
    }

    fn tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        format!(
            "--- {} ---\n{}",
            self.name,
            lines[lines.len().saturating_sub(30)..].join("\n")
        )
    }
}

struct World {
    env: StackEnv,
    id: String,
    orders_db: String,
    schema: String,
}

impl World {
    fn orders_url(&self) -> String {
        let base = self
            .env
            .orders_database_url
            .rsplit_once('/')
            .map(|(b, _)| b.to_string())
            .unwrap();
        format!("{base}/{}", self.orders_db)
    }
    fn topic(&self, name: &str) -> String {
        format!("loop.{}.{name}", self.id)
    }
}

impl Drop for World {
    fn drop(&mut self) {
        let (admin, payments, db, schema, id) = (
            self.env.admin_database_url.clone(),
            self.env.payments_database_url.clone(),
            self.orders_db.clone(),
            self.schema.clone(),
            self.id.clone(),
        );
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let admin = connect_postgres(&admin).await;
                // Slots first (they pin their databases), then the database and the schema.
                for _ in 0..100 {
                    let _ = admin
                        .execute(
                            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots \
                             WHERE slot_name LIKE $1 AND NOT active",
                            &[&format!("loop_{id}_%")],
                        )
                        .await;
                    let left: i64 = admin
                        .query_one(
                            "SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE $1",
                            &[&format!("loop_{id}_%")],
                        )
                        .await
                        .map(|r| r.get(0))
                        .unwrap_or(0);
                    if left == 0 {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                let _ = admin
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
                    .await;
                let payments = connect_postgres(&payments).await;
                let _ = payments
                    .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                    .await;
            });
        })
        .join();
    }
}

async fn order_status(api: &str, id: &str) -> Value {
    reqwest::get(format!("{api}/orders/{id}"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn place_order(api: &str, customer: &str) -> String {
    let response = reqwest::Client::new()
        .post(format!("{api}/orders"))
        .json(&json!({"customer_id": customer, "currency": "EUR",
            "items": [{"sku": "SKU-1", "quantity": 1, "unit_price": "15.00"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "{:?}", response.text().await);
    let body: Value = response.json().await.unwrap();
    body["order_id"].as_str().unwrap().to_string()
}

/// The whole pipeline, every service a real process.
struct Loop {
    relays: Vec<Service>,
    gateway: Service,
    gateway_url: String,
    order_producer: Service,
    api: String,
    processor: Option<Service>,
    processor_args: Vec<String>,
    processor_ready: String,
    dlq_handler: Service,
    /// Declared last: dropped (database, schema, slots removed) after every process is gone.
    _world: World,
}

async fn start_loop(payment_deadline: &str) -> Loop {
    let env = StackEnv::from_env();
    let id = Uuid::new_v4().simple().to_string()[..10].to_string();
    let world = World {
        orders_db: format!("loop_{id}"),
        schema: format!("loop_{id}"),
        id: id.clone(),
        env: env.clone(),
    };
    let admin = connect_postgres(&env.admin_database_url).await;
    admin
        .batch_execute(&format!(
            "CREATE DATABASE {} OWNER pipeline",
            world.orders_db
        ))
        .await
        .unwrap();
    let kafka = env.kafka();
    for name in [
        "order",
        "payment",
        "retry1",
        "retry2",
        "dlq",
        "unhandled",
        "op-dlq",
    ] {
        create_topic(&kafka, &world.topic(name), 3)
            .await
            .unwrap_or_else(|e| panic!("topic ({e}): {START_STACK}"));
    }
    let common = |args: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        v.extend([
            "--kafka-bootstrap-servers".into(),
            env.kafka_bootstrap_servers.clone(),
        ]);
        v
    };
    let template = format!("loop.{id}.{{aggregatetype}}");

    // Relays first: they wait for their outbox tables.
    let (orders_relay_port, payments_relay_port) = (free_port(), free_port());
    let mut relays = Vec::new();
    for (url, table, slot, port) in [
        (
            world.orders_url(),
            "public.outbox".to_string(),
            format!("loop_{id}_o"),
            orders_relay_port,
        ),
        (
            env.payments_database_url.clone(),
            format!("{}.outbox", world.schema),
            format!("loop_{id}_p"),
            payments_relay_port,
        ),
    ] {
        relays.push(Service::spawn(
            "cdc-relay",
            &common(&[
                "--database-url",
                &url,
                "--outbox-table",
                &table,
                "--slot-name",
                &slot,
                "--publication",
                &format!("{slot}_pub"),
                "--topic-template",
                &template,
                "--header-column",
                "traceparent",
                "--ops-addr",
                &format!("127.0.0.1:{port}"),
            ]),
            &format!("http://127.0.0.1:{port}/readyz"),
        ));
    }

    let gateway_port = free_port();
    let gateway = Service::start(
        "payment-gateway-sim",
        &[
            "--listen-addr".into(),
            format!("127.0.0.1:{gateway_port}"),
            "--database-url".into(),
            std::env::var("GATEWAY_DATABASE_URL")
                .unwrap_or_else(|_| "postgres://pipeline:pipeline@127.0.0.1:54329/gateway".into()),
        ],
        &format!("http://127.0.0.1:{gateway_port}/readyz"),
    )
    .await;
    let gateway_url = format!("http://127.0.0.1:{gateway_port}");

    let api_port = free_port();
    let api = format!("http://127.0.0.1:{api_port}");
    let order_producer = Service::start(
        "order-producer",
        &common(&[
            "--listen-addr",
            &format!("127.0.0.1:{api_port}"),
            "--database-url",
            &world.orders_url(),
            "--payment-topic",
            &world.topic("payment"),
            "--dead-letter-topic",
            &world.topic("op-dlq"),
            "--consumer-group",
            &format!("loop-{id}-orders"),
            "--schema-registry-url",
            &env.schema_registry_url,
        ]),
        &format!("{api}/readyz"),
    )
    .await;
    let processor_port = free_port();
    let processor_args = common(&[
        "--ops-addr",
        &format!("127.0.0.1:{processor_port}"),
        "--database-url",
        &env.payments_database_url,
        "--database-schema",
        &world.schema,
        "--gateway-url",
        &gateway_url,
        "--source-topic",
        &world.topic("order"),
        "--retry-topics",
        &format!("{},{}", world.topic("retry1"), world.topic("retry2")),
        "--retry-delays",
        "1s,1s",
        "--retry-attempts",
        "2",
        "--dlq-topic",
        &world.topic("dlq"),
        "--group-id",
        &format!("loop-{id}-payments"),
        "--schema-registry-url",
        &env.schema_registry_url,
        "--payment-deadline",
        payment_deadline,
    ]);
    let processor_ready = format!("http://127.0.0.1:{processor_port}/readyz");
    let processor = Service::start("payment-processor", &processor_args, &processor_ready).await;
    let dlq_port = free_port();
    let dlq_handler = Service::start(
        "dlq-handler",
        &common(&[
            "--ops-addr",
            &format!("127.0.0.1:{dlq_port}"),
            "--database-url",
            &env.payments_database_url,
            "--database-schema",
            &world.schema,
            "--gateway-url",
            &gateway_url,
            "--dlq-topic",
            &world.topic("dlq"),
            "--unhandled-topic",
            &world.topic("unhandled"),
            "--group-id",
            &format!("loop-{id}-dlq"),
            "--schema-registry-url",
            &env.schema_registry_url,
        ]),
        &format!("http://127.0.0.1:{dlq_port}/readyz"),
    )
    .await;
    for relay in &mut relays {
        relay.wait_ready().await;
    }
    Loop {
        _world: world,
        relays,
        gateway,
        gateway_url,
        order_producer,
        api,
        processor: Some(processor),
        processor_args,
        processor_ready,
        dlq_handler,
    }
}

impl Loop {
    fn logs(&self) -> String {
        let mut all = vec![
            self.gateway.tail(),
            self.order_producer.tail(),
            self.dlq_handler.tail(),
        ];
        if let Some(p) = &self.processor {
            all.push(p.tail());
        }
        all.join("\n")
    }

    async fn gateway_outage(&self, outage: bool) {
        let r = reqwest::Client::new()
            .patch(format!("{}/admin/behaviour", self.gateway_url))
            .json(&json!({"outage": outage}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }

    /// SIGTERM the payment processor and wait for its clean exit.
    async fn stop_processor(&mut self) {
        let mut processor = self.processor.take().expect("running");
        let pid = processor.child.id().unwrap().to_string();
        assert!(
            std::process::Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        let status = tokio::time::timeout(WAIT, processor.child.wait())
            .await
            .unwrap()
            .unwrap();
        assert!(status.success(), "{status}\n{}", processor.tail());
    }

    async fn start_processor(&mut self) {
        assert!(self.processor.is_none());
        self.processor = Some(
            Service::start(
                "payment-processor",
                &self.processor_args,
                &self.processor_ready,
            )
            .await,
        );
    }

    async fn charges(&self, order_id: &str) -> Vec<Value> {
        let ledger: Value = reqwest::get(format!(
            "{}/v1/ledger?order_id={order_id}",
            self.gateway_url
        ))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        ledger["charges"].as_array().unwrap().clone()
    }

    async fn wait_status(&self, id: &str, status: &str) -> Value {
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            let order = order_status(&self.api, id).await;
            if order["status"] == status {
                return order;
            }
            if std::time::Instant::now() > deadline {
                panic!(
                    "order {id} not {status} within {WAIT:?}: {order:#}\n{}",
                    self.logs()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

fn last_reason(order: &Value) -> String {
    order["status_history"]
        .as_array()
        .and_then(|h| h.last())
        .and_then(|e| e["reason"].as_str())
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_outage_longer_than_the_retries_fails_the_order_cleanly_then_orders_are_paid() {
    let lp = start_loop("10m").await;
    lp.gateway_outage(true).await;

    // During the outage: accepted (201), retried, dead-lettered, failed cleanly.
    let failed_id = place_order(&lp.api, "c-outage").await;
    let failed = lp.wait_status(&failed_id, "PAYMENT_FAILED").await;
    assert!(
        last_reason(&failed).starts_with("RETRIES_EXHAUSTED"),
        "{failed:#}"
    );
    assert!(lp.charges(&failed_id).await.is_empty(), "nothing charged");

    // After recovery: a new order is paid, once.
    lp.gateway_outage(false).await;
    let paid_id = place_order(&lp.api, "c-recovered").await;
    lp.wait_status(&paid_id, "PAID").await;
    assert_eq!(lp.charges(&paid_id).await.len(), 1);
    // The failed order stays failed: one terminal state.
    assert_eq!(
        order_status(&lp.api, &failed_id).await["status"],
        "PAYMENT_FAILED"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_placed_while_the_processor_is_down_are_paid_once_after_it_restarts() {
    let mut lp = start_loop("10m").await;
    lp.stop_processor().await;
    let mut ids = Vec::new();
    for i in 0..10 {
        ids.push(place_order(&lp.api, &format!("c-down-{i}")).await);
    }
    for id in &ids {
        assert_eq!(order_status(&lp.api, id).await["status"], "PENDING_PAYMENT");
    }
    lp.start_processor().await;
    for id in &ids {
        lp.wait_status(id, "PAID").await;
        let charges = lp.charges(id).await;
        assert_eq!(charges.len(), 1, "one charge for {id}: {charges:?}");
        assert_eq!(charges[0]["status"], "succeeded");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_the_processor_sees_after_their_deadline_fail_as_expired_uncharged() {
    let mut lp = start_loop("3s").await;
    lp.stop_processor().await;
    let id = place_order(&lp.api, "c-late").await;
    let placed: Value = order_status(&lp.api, &id).await;
    let created =
        chrono::DateTime::parse_from_rfc3339(placed["created_at"].as_str().unwrap()).unwrap();
    // The condition, not a fixed sleep: restart once the order is past its 3 s deadline.
    eventually(
        "the order's payment deadline to pass",
        WAIT,
        || async move {
            (chrono::Utc::now().signed_duration_since(created) > chrono::Duration::seconds(4))
                .then_some(())
        },
    )
    .await;
    lp.start_processor().await;
    let failed = lp.wait_status(&id, "PAYMENT_FAILED").await;
    assert!(last_reason(&failed).starts_with("EXPIRED"), "{failed:#}");
    assert!(lp.charges(&id).await.is_empty(), "never charged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_record_on_the_orders_topic_is_kept_and_the_pipeline_keeps_flowing() {
    let lp = start_loop("10m").await;
    let producer: rdkafka::producer::FutureProducer = lp
        ._world
        .env
        .kafka()
        .safe_producer_config()
        .create()
        .unwrap();
    let topic = lp._world.topic("order");
    producer
        .send(
            rdkafka::producer::FutureRecord::to(&topic)
                .key("poison")
                .payload(&b"\x00\x00\x00\x00\x07not avro"[..])
                .headers(
                    rdkafka::message::OwnedHeaders::new().insert(rdkafka::message::Header {
                        key: "type",
                        value: Some("OrderCreated"),
                    }),
                ),
            Duration::from_secs(15),
        )
        .await
        .map_err(|(e, _)| e)
        .unwrap();
    // Positive control and the point: a real order placed after it is paid.
    let id = place_order(&lp.api, "c-after-poison").await;
    lp.wait_status(&id, "PAID").await;
    let payments = connect_postgres(&lp._world.env.payments_database_url).await;
    let kept = eventually("the poison record kept by dlq-handler", WAIT, || {
        let payments = &payments;
        let schema = lp._world.schema.clone();
        async move {
            let rows = payments
                .query(
                    &format!(
                        "SELECT cause, dlq_reason, value FROM {schema}.kept_dead_letters \
                         WHERE record_key = 'poison'"
                    ),
                    &[],
                )
                .await
                .ok()?;
            rows.into_iter().next()
        }
    })
    .await;
    assert_eq!(kept.get::<_, String>(0), "undecodable");
    assert_eq!(
        kept.get::<_, Option<String>>(1).as_deref(),
        Some("invalid_event")
    );
    assert_eq!(
        kept.get::<_, Option<Vec<u8>>>(2).as_deref(),
        Some(&b"\x00\x00\x00\x00\x07not avro"[..]),
        "every byte kept"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_each_service_in_turn_loses_no_order_and_charges_none_twice() {
    const ORDERS: usize = 2_000;
    const ROUNDS: usize = 7;
    let mut lp = start_loop("10m").await;
    let http = reqwest::Client::new();
    let mut ids: Vec<String> = Vec::with_capacity(ORDERS);
    for round in 0..ROUNDS {
        // A chunk of orders (each POST retried with its Idempotency-Key until answered), then
        // SIGKILL one service while the pipeline works on them, and start it again.
        let chunk = ORDERS / ROUNDS + usize::from(round < ORDERS % ROUNDS);
        for _ in 0..chunk {
            let key = Uuid::new_v4().to_string();
            let deadline = std::time::Instant::now() + WAIT;
            let id = loop {
                let sent = http
                    .post(format!("{}/orders", lp.api))
                    .header("Idempotency-Key", &key)
                    .json(&json!({"customer_id": "c-kill", "currency": "EUR",
                        "items": [{"sku": "SKU-1", "quantity": 1, "unit_price": "3.00"}]}))
                    .send()
                    .await;
                if let Ok(response) = sent
                    && response.status() == 201
                {
                    let body: Value = response.json().await.unwrap();
                    break body["order_id"].as_str().unwrap().to_string();
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "POST /orders kept failing"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            };
            ids.push(id);
        }
        match round {
            0 => lp.relays[0].kill_and_restart().await,
            1 => lp.relays[1].kill_and_restart().await,
            2 => lp.order_producer.kill_and_restart().await,
            3 => lp.processor.as_mut().unwrap().kill_and_restart().await,
            4 => lp.dlq_handler.kill_and_restart().await,
            5 => lp.gateway.kill_and_restart().await,
            _ => {}
        }
    }
    assert_eq!(ids.len(), ORDERS);

    // Every order settles, PAID (the gateway declines nothing here), with one terminal entry.
    let orders = connect_postgres(&lp._world.orders_url()).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(300);
    loop {
        let pending: i64 = orders
            .query_one("SELECT count(*) FROM orders WHERE status <> 'PAID'", &[])
            .await
            .unwrap()
            .get(0);
        let total: i64 = orders
            .query_one("SELECT count(*) FROM orders", &[])
            .await
            .unwrap()
            .get(0);
        if pending == 0 && total == ORDERS as i64 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{pending} of {total} orders not PAID after 300 s\n{}",
            lp.logs()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let terminal: i64 = orders
        .query_one(
            "SELECT count(*) FROM order_status_history WHERE to_status IN ('PAID', 'PAYMENT_FAILED')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        terminal, ORDERS as i64,
        "exactly one terminal state per order"
    );

    // Exactly one succeeded charge per paid order (the gateway's ledger).
    let ledger = connect_postgres(
        &std::env::var("GATEWAY_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://pipeline:pipeline@127.0.0.1:54329/gateway".into()),
    )
    .await;
    let uuids: Vec<Uuid> = ids.iter().map(|id| Uuid::parse_str(id).unwrap()).collect();
    let row = ledger
        .query_one(
            "SELECT count(*), count(DISTINCT order_id) FROM charges \
             WHERE order_id = ANY($1) AND status = 'succeeded'",
            &[&uuids],
        )
        .await
        .unwrap();
    let (charges, charged_orders): (i64, i64) = (row.get(0), row.get(1));
    assert_eq!(charged_orders, ORDERS as i64, "every order charged");
    assert_eq!(charges, ORDERS as i64, "no order charged twice");
}
