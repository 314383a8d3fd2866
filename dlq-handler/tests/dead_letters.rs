//! `dlq-handler` end to end against the REAL local stack (`make up`): the real dlq-handler and
//! gateway binaries, Kafka, Postgres and the schema registry. Nothing is mocked.
//!
//! The world (topics, schema with payment-processor's migrations, a `test_decoding` slot that
//! proves what the payments outbox wrote although its rows are deleted in the same transaction)
//! is payment-processor's test support. Dead letters are produced as the processor's runtime
//! writes them (value unchanged, `dlq.reason`, `kafka_dlt-*`, `traceparent`).
#![allow(clippy::unwrap_used)]

#[path = "../../payment-processor/tests/support/mod.rs"]
mod support;

use contracts::FailureReason;
use eventing::kafka::keyed::dead_letter_headers as dlh;
use service_kit::postgres::{PgSettings, connect_pool};
use std::process::Stdio;
use std::time::Duration;
use support::*;
use tokio::process::Command;
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(60);

/// The world's schema, migrated by payment-processor's migrations (as the processor does).
async fn migrate(world: &TestWorld) {
    world
        .db
        .batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {}", world.schema))
        .await
        .unwrap();
    let pool = connect_pool(&PgSettings {
        url: payments_url().parse().expect("valid database URL"),
        application_name: "dlq-handler-test".into(),
        pool_size: 1,
        timeout: Duration::from_secs(10),
        schema: Some(world.schema.clone()),
        options: Vec::new(),
    })
    .unwrap();
    payment_processor::infrastructure::postgres::run_migrations(&pool)
        .await
        .unwrap_or_else(|e| panic!("migrations ({e}): {START_STACK}"));
}

/// A payments row for `order` in `status` with `attempts`, as the processor leaves it.
async fn payment_row(
    world: &TestWorld,
    order: &contracts::OrderCreated,
    status: &str,
    attempts: i32,
) {
    world
        .db
        .execute(
            &format!(
                "INSERT INTO {}.payments (payment_id, order_id, customer_id, amount, currency, \
                 status, idempotency_key, attempts) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                world.schema
            ),
            &[
                &Uuid::now_v7(),
                &order.order_id,
                &order.customer_id,
                &order.total_amount,
                &order.currency,
                &status,
                &format!("order-{}-payment", order.order_id),
                &attempts,
            ],
        )
        .await
        .unwrap();
}

struct Handler {
    child: tokio::process::Child,
    port: u16,
    log: std::path::PathBuf,
}

impl Handler {
    async fn start(world: &TestWorld, gateway: &Gateway) -> Handler {
        let port = free_port();
        let log = std::env::temp_dir().join(format!("dlq-handler-{}.log", world.id));
        let file = std::fs::File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_dlq-handler"))
            .args([
                "--ops-addr",
                &format!("127.0.0.1:{port}"),
                "--database-url",
                &payments_url(),
                "--database-schema",
                &world.schema,
                "--gateway-url",
                &gateway.base,
                "--dlq-topic",
                &world.dlq,
                "--unhandled-topic",
                &world.retry2,
                "--group-id",
                &world.group,
                "--kafka-bootstrap-servers",
                &bootstrap(),
                "--schema-registry-url",
                &registry_url(),
            ])
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn dlq-handler ({e}): {BUILD_BINARIES}"));
        let mut handler = Handler { child, port, log };
        let client = reqwest::Client::new();
        let url = format!("http://127.0.0.1:{port}/readyz");
        poll_until("dlq-handler ready", WAIT, || {
            let ready = client.get(&url).send();
            async move {
                ready
                    .await
                    .ok()
                    .filter(|r| r.status().is_success())
                    .map(|_| ())
            }
        })
        .await;
        assert!(
            handler.child.try_wait().unwrap().is_none(),
            "{}",
            handler.log_text()
        );
        handler
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    async fn metrics(&self) -> String {
        reqwest::get(format!("http://127.0.0.1:{}/metrics", self.port))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }
}

/// Run an operator command of the real binary against the world; its stdout.
async fn operate(world: &TestWorld, command: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_dlq-handler"))
        .args([
            "--database-url",
            &payments_url(),
            "--database-schema",
            &world.schema,
            "--dlq-topic",
            &world.dlq,
            "--kafka-bootstrap-servers",
            &bootstrap(),
            "--schema-registry-url",
            &registry_url(),
        ])
        .args(command)
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "dlq-handler {command:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Produce `order` to the dead-letter topic as the processor's runtime does.
async fn dead_letter(
    producer: &OrderProducer,
    world: &TestWorld,
    order: &contracts::OrderCreated,
    reason: &str,
) {
    let value = producer.encode(order).await;
    dead_letter_raw(producer, world, &order.order_id.to_string(), &value, reason).await;
}

async fn dead_letter_raw(
    producer: &OrderProducer,
    world: &TestWorld,
    key: &str,
    value: &[u8],
    reason: &str,
) {
    let headers = [
        ("traceparent", TRACEPARENT.as_bytes().to_vec()),
        (dlh::REASON, reason.as_bytes().to_vec()),
        (dlh::ORIGINAL_TOPIC, world.source.as_bytes().to_vec()),
        (
            dlh::EXCEPTION_MESSAGE,
            format!("test: {reason}").into_bytes(),
        ),
    ];
    producer
        .send_raw(&world.dlq, key, value, &headers, None)
        .await;
}

/// Wait until the handler committed every dead letter produced so far: each one is finished
/// (its transaction or keep committed) — the positive control before asserting that
/// something did NOT happen.
async fn wait_all_handled(world: &TestWorld) {
    poll_until("every dead letter committed", WAIT, || async {
        for (partition, high) in high_watermarks(&world.dlq).await.into_iter().enumerate() {
            let partition = i32::try_from(partition).unwrap();
            let committed = committed_offset(&world.group, &world.dlq, partition)
                .await
                .unwrap_or(0);
            if committed < high {
                return None;
            }
        }
        Some(())
    })
    .await;
}

async fn failures(world: &mut TestWorld, order_id: Uuid) -> Vec<String> {
    world
        .result_events(order_id)
        .await
        .into_iter()
        .filter(|e| e.contains("type[character varying]:'PaymentFailed'"))
        .collect()
}

async fn wait_failures(world: &mut TestWorld, order_id: Uuid, count: usize) -> Vec<String> {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let found = failures(world, order_id).await;
        if found.len() >= count {
            return found;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{count} PaymentFailed for {order_id} not written within {WAIT:?}: {found:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The `PaymentFailed` in a test_decoding outbox INSERT line (its payload, decoded through the
/// registry).
async fn decoded(line: &str) -> contracts::PaymentFailed {
    let hex = line
        .split("payload[bytea]:'\\x")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .unwrap_or_else(|| panic!("no payload in {line}"));
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    eventing::AvroCodec::new(&registry_url())
        .unwrap()
        .decode::<contracts::PaymentFailed>(&bytes)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_fail_their_orders_once_and_leave_paid_ones_alone() {
    let mut world = TestWorld::create("dlqh").await;
    migrate(&world).await;
    let gateway = Gateway::start().await;
    let handler = Handler::start(&world, &gateway).await;
    let producer = OrderProducer::new();

    // Retries exhausted, never charged: FAILED + PaymentFailed(RETRIES_EXHAUSTED).
    let exhausted = new_order("c-exhausted", "10.00");
    payment_row(&world, &exhausted, "PENDING", 0).await;
    dead_letter(&producer, &world, &exhausted, "retries_exhausted").await;
    // Invalid before any payment row: a FAILED row is inserted (a later delivery never charges).
    let invalid = new_order("c-invalid", "11.00");
    dead_letter(&producer, &world, &invalid, "invalid_event").await;
    // Paid meanwhile: no failure.
    let paid = new_order("c-paid", "12.00");
    payment_row(&world, &paid, "SUCCEEDED", 1).await;
    dead_letter(&producer, &world, &paid, "expired").await;
    // Expired by the processor: FAILED + PaymentFailed(EXPIRED).
    let expired = new_order("c-expired", "13.00");
    payment_row(&world, &expired, "EXPIRED", 0).await;
    dead_letter(&producer, &world, &expired, "expired").await;

    let events = wait_failures(&mut world, exhausted.order_id, 1).await;
    let failure = decoded(&events[0]).await;
    assert_eq!(failure.reason, FailureReason::RetriesExhausted);
    assert_eq!(
        (failure.order_id, failure.amount),
        (exhausted.order_id, exhausted.total_amount)
    );
    assert_eq!(failure.detail, "test: retries_exhausted");
    assert!(
        events[0].contains(TRACEPARENT),
        "the trace goes on: {}",
        events[0]
    );
    assert_eq!(
        world.payment_status(exhausted.order_id).await.as_deref(),
        Some("FAILED")
    );
    let events = wait_failures(&mut world, invalid.order_id, 1).await;
    assert_eq!(
        decoded(&events[0]).await.reason,
        FailureReason::InvalidEvent
    );
    assert_eq!(
        world.payment_status(invalid.order_id).await.as_deref(),
        Some("FAILED")
    );
    let events = wait_failures(&mut world, expired.order_id, 1).await;
    assert_eq!(decoded(&events[0]).await.reason, FailureReason::Expired);
    assert_eq!(
        world.payment_status(expired.order_id).await.as_deref(),
        Some("FAILED")
    );

    // A redelivered dead letter changes nothing (positive control: every dead letter is
    // committed, so the duplicate was handled).
    dead_letter(&producer, &world, &exhausted, "retries_exhausted").await;
    wait_all_handled(&world).await;
    assert_eq!(
        failures(&mut world, exhausted.order_id).await.len(),
        1,
        "one failure per order"
    );
    assert!(
        failures(&mut world, paid.order_id).await.is_empty(),
        "a paid order is not failed"
    );
    assert_eq!(
        world.payment_status(paid.order_id).await.as_deref(),
        Some("SUCCEEDED")
    );

    let metrics = handler.metrics().await;
    for line in [
        "dlq_handler_handled_total{outcome=\"failed\"} 3",
        // the paid order, and the redelivery (its payment is FAILED by then)
        "dlq_handler_handled_total{outcome=\"already_settled\"} 2",
    ] {
        assert!(metrics.contains(line), "{line} missing:\n{metrics}");
    }
    drop(handler);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_and_charged_dead_letters_are_kept_never_dropped_or_failed() {
    let mut world = TestWorld::create("dlqh-kept").await;
    migrate(&world).await;
    let gateway = Gateway::start().await;
    let mut handler = Handler::start(&world, &gateway).await;
    let producer = OrderProducer::new();

    // Bytes no one can read: kept with every byte and header.
    dead_letter_raw(
        &producer,
        &world,
        "poison",
        b"\x00\x00\x00\x00\x09garbage",
        "invalid_event",
    )
    .await;
    // Charged at the gateway although dead-lettered (the answer was lost): never failed.
    let charged = new_order("c-charged", "20.00");
    payment_row(&world, &charged, "PENDING", 2).await;
    let response = reqwest::Client::new()
        .post(format!("{}/v1/charges", gateway.base))
        .header(
            "Idempotency-Key",
            format!("order-{}-payment", charged.order_id),
        )
        .json(&serde_json::json!({
            "order_id": charged.order_id,
            "customer_id": charged.customer_id,
            "amount": "20.00",
            "currency": "EUR",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
    dead_letter(&producer, &world, &charged, "retries_exhausted").await;
    // Positive control: both are committed, so both were handled.
    wait_all_handled(&world).await;

    let kept = world
        .db
        .query(
            &format!(
                "SELECT cause, order_id, value, headers::text FROM {}.kept_dead_letters ORDER BY cause DESC",
                world.schema
            ),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(kept.len(), 2, "both kept");
    assert_eq!(kept[0].get::<_, String>(0), "undecodable");
    assert_eq!(
        kept[0].get::<_, Option<Vec<u8>>>(2).as_deref(),
        Some(&b"\x00\x00\x00\x00\x09garbage"[..]),
        "every byte kept"
    );
    assert!(
        kept[0].get::<_, String>(3).contains("invalid_event"),
        "headers kept"
    );
    assert_eq!(kept[1].get::<_, String>(0), "charged_at_gateway");
    assert_eq!(kept[1].get::<_, Option<Uuid>>(1), Some(charged.order_id));
    assert!(
        failures(&mut world, charged.order_id).await.is_empty(),
        "a charged order is not failed"
    );
    assert_eq!(
        world.payment_status(charged.order_id).await.as_deref(),
        Some("PENDING")
    );
    assert!(
        handler
            .metrics()
            .await
            .contains("dlq_handler_kept_dead_letters 2")
    );
    assert!(
        handler
            .log_text()
            .contains("dead letter kept for an operator")
    );

    // The operator commands, on the same records.
    let listed = operate(&world, &["list", "--json"]).await;
    let lines: Vec<serde_json::Value> = listed
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{listed}");
    assert!(lines.iter().any(|l| l["kept"] == "undecodable"), "{listed}");
    let charged_line = lines
        .iter()
        .find(|l| l["kept"] == "charged_at_gateway")
        .unwrap_or_else(|| panic!("{listed}"));
    assert_eq!(charged_line["order_id"], charged.order_id.to_string());
    assert_eq!(charged_line["reason"], "retries_exhausted");
    let only_kept_charged = operate(
        &world,
        &[
            "list",
            "--json",
            "--order-id",
            &charged.order_id.to_string(),
        ],
    )
    .await;
    assert_eq!(only_kept_charged.lines().count(), 1, "{only_kept_charged}");
    let at = format!(
        "{}:{}",
        charged_line["partition"].as_i64().unwrap(),
        charged_line["offset"].as_i64().unwrap()
    );
    let shown: serde_json::Value =
        serde_json::from_str(&operate(&world, &["show", &at]).await).unwrap();
    assert_eq!(shown["value"]["order_id"], charged.order_id.to_string());
    assert!(
        shown["headers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["key"] == dlh::REASON && h["value"] == "retries_exhausted"),
        "{shown:#}"
    );
    // A dry run produces nothing; the real replay then puts the record back on its source
    // topic with a fresh attempt count and where it came from.
    let dry = operate(&world, &["replay", "--at", &at, "--dry-run"]).await;
    assert!(dry.starts_with("would replay"), "{dry}");
    assert_eq!(
        record_count(&world.source).await,
        0,
        "the dry run produced nothing"
    );
    let replayed = operate(&world, &["replay", "--at", &at]).await;
    assert!(replayed.starts_with("replayed"), "{replayed}");
    let mut reader = TopicReader::new(&[&world.source]);
    let back = reader
        .wait_for("the replayed record", WAIT, |r: &Received| {
            r.key_text() == charged.order_id.to_string()
        })
        .await;
    assert_eq!(
        back.header_text("dlq.replayed-from"),
        format!("{}/{}", world.dlq, at.replace(':', "/"))
    );
    assert!(
        !back.has_header(dlh::REASON),
        "no dead-letter headers on a replay"
    );
    assert!(back.has_header("traceparent"), "the original headers stay");
    assert_eq!(
        record_count(&world.source).await,
        1,
        "exactly the one selected"
    );

    // Stops cleanly on SIGTERM.
    let pid = handler.child.id().unwrap().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = tokio::time::timeout(WAIT, handler.child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(
        status.success(),
        "exit 0 after SIGTERM: {status}\n{}",
        handler.log_text()
    );
}
