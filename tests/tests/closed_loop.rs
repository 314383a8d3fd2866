//! The closed loop on the REAL stack with every service as a real process: order-producer →
//! orders relay → payment-processor (retry tiers, dead letters) → dlq-handler → payments relay
//! → order-producer. A gateway outage longer than the retries fails the order cleanly
//! (`PAYMENT_FAILED`, `RETRIES_EXHAUSTED`, nothing charged); after recovery a new order is paid.
//!
//! Isolation: a fresh orders database, a payments schema, its own topics, slots and groups.
#![allow(clippy::unwrap_used)]

use e2e_tests::pipeline::{Pipeline, PipelineConfig, WAIT, World};
use e2e_tests::{connect_postgres, eventually};
use serde_json::{Value, json};
use std::time::Duration;
use uuid::Uuid;

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

async fn start_loop(payment_deadline: &str) -> Pipeline {
    Pipeline::start(&PipelineConfig::for_tests(payment_deadline)).await
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
        .world
        .env
        .kafka()
        .safe_producer_config()
        .create()
        .unwrap();
    let topic = lp.world.topic("order");
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
    let payments = connect_postgres(&lp.world.env.payments_database_url).await;
    let kept = eventually("the poison record kept by dlq-handler", WAIT, || {
        let payments = &payments;
        let schema = lp.world.schema.clone();
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
            3 => lp.processor.kill_and_restart().await,
            4 => lp.dlq_handler.kill_and_restart().await,
            5 => lp.gateway.kill_and_restart().await,
            _ => {}
        }
    }
    assert_eq!(ids.len(), ORDERS);

    // Every order settles, PAID (the gateway declines nothing here), with one terminal entry.
    let orders = connect_postgres(&lp.world.orders_url()).await;
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
    let ledger = connect_postgres(&World::gateway_database_url()).await;
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

/// The JSON log lines of `log` that carry `trace` as `trace_id` (as an event field or in any
/// enclosing span); lines that are not JSON are not counted.
fn lines_with_trace(log: &std::path::Path, trace: &str) -> Vec<Value> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| {
            line["trace_id"] == trace
                || line["spans"]
                    .as_array()
                    .is_some_and(|spans| spans.iter().any(|s| s["trace_id"] == trace))
        })
        .collect()
}

/// Wait (bounded) until `service` logged a JSON line `message` carrying `trace`: some lines
/// are written just after the state the test waited for is committed.
async fn expect_logged(service: &e2e_tests::pipeline::Service, trace: &str, message: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let lines = lines_with_trace(&service.log, trace);
        if lines.iter().any(|l| l["message"] == message) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{} logged no JSON line {message:?} with trace_id {trace}; its lines with it: \
             {lines:#?}\n{}",
            service.name,
            service.tail()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The headers of the record keyed `key` of type `kind` on `topic` (read from the beginning).
async fn record_headers(
    lp: &Pipeline,
    topic: &str,
    key: &str,
    kind: &str,
) -> std::collections::HashMap<String, String> {
    use rdkafka::Message;
    use rdkafka::consumer::{Consumer, StreamConsumer};
    use rdkafka::message::Headers;
    let consumer: StreamConsumer = lp
        .world
        .env
        .kafka()
        .client_config(&[
            ("group.id", &format!("trace-{}", Uuid::new_v4())),
            ("auto.offset.reset", "earliest"),
            ("enable.auto.commit", "false"),
        ])
        .create()
        .unwrap();
    consumer.subscribe(&[topic]).unwrap();
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        assert!(
            std::time::Instant::now() < deadline,
            "no {kind} keyed {key} on {topic} within {WAIT:?}"
        );
        let Ok(Ok(message)) = tokio::time::timeout(Duration::from_secs(1), consumer.recv()).await
        else {
            continue;
        };
        let headers: std::collections::HashMap<String, String> = message
            .headers()
            .map(|hs| {
                hs.iter()
                    .map(|h| {
                        (
                            h.key.to_string(),
                            String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        if message.key() == Some(key.as_bytes())
            && headers.get("type").map(String::as_str) == Some(kind)
        {
            return headers;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_trace_id_travels_from_post_orders_through_every_hop_and_into_every_services_json_logs()
{
    let mut config = PipelineConfig::for_tests("10m");
    config.service_env = vec![
        ("LOG_FORMAT".into(), "json".into()),
        (
            "LOG_LEVEL".into(),
            "info,eventing::kafka::keyed=debug,cdc_relay=debug,order_producer=debug,\
             payment_processor=debug,dlq_handler=debug"
                .into(),
        ),
    ];
    let lp = Pipeline::start(&config).await;
    let place = |trace: String| {
        let api = lp.api.clone();
        async move {
            let response = reqwest::Client::new()
                .post(format!("{api}/orders"))
                .header("traceparent", format!("00-{trace}-00f067aa0ba902b7-01"))
                .json(&json!({"customer_id": "c-trace", "currency": "EUR",
                    "items": [{"sku": "SKU-1", "quantity": 1, "unit_price": "15.00"}]}))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 201);
            let echoed = response.headers()["traceparent"]
                .to_str()
                .unwrap()
                .to_string();
            assert!(echoed.contains(&trace), "response traceparent {echoed}");
            let body: Value = response.json().await.unwrap();
            body["order_id"].as_str().unwrap().to_string()
        }
    };
    let contains_trace = |headers: &std::collections::HashMap<String, String>, trace: &str| {
        headers
            .get("traceparent")
            .is_some_and(|tp| tp.split('-').nth(1) == Some(trace))
    };

    // The paid path: POST (client's traceparent) → orders outbox → orders relay → processor →
    // payments outbox → payments relay → order-producer.
    let trace = Uuid::new_v4().simple().to_string();
    let id = place(trace.clone()).await;
    lp.wait_status(&id, "PAID").await;
    let created = record_headers(&lp, &lp.world.topic("order"), &id, "OrderCreated").await;
    assert!(
        contains_trace(&created, &trace),
        "orders relay: {created:?}"
    );
    let completed = record_headers(&lp, &lp.world.topic("payment"), &id, "PaymentCompleted").await;
    assert!(
        contains_trace(&completed, &trace),
        "payments relay: {completed:?}"
    );
    expect_logged(&lp.order_producer, &trace, "order placed").await;
    expect_logged(&lp.relays[0], &trace, "event published").await;
    expect_logged(&lp.processor, &trace, "payment processed").await;
    expect_logged(&lp.relays[1], &trace, "event published").await;
    expect_logged(&lp.order_producer, &trace, "payment result handled").await;

    // The dead-letter path: the gateway is down past the retries → dead letter → dlq-handler →
    // PaymentFailed through the payments outbox → order-producer; the same trace id throughout.
    lp.gateway_outage(true).await;
    let failed_trace = Uuid::new_v4().simple().to_string();
    let failed_id = place(failed_trace.clone()).await;
    lp.wait_status(&failed_id, "PAYMENT_FAILED").await;
    let dead = record_headers(&lp, &lp.world.topic("dlq"), &failed_id, "OrderCreated").await;
    assert!(
        contains_trace(&dead, &failed_trace),
        "dead letter: {dead:?}"
    );
    let failed = record_headers(&lp, &lp.world.topic("payment"), &failed_id, "PaymentFailed").await;
    assert!(
        contains_trace(&failed, &failed_trace),
        "PaymentFailed: {failed:?}"
    );
    assert!(
        !lines_with_trace(&lp.processor.log, &failed_trace).is_empty(),
        "payment-processor logged nothing with {failed_trace}"
    );
    expect_logged(&lp.dlq_handler, &failed_trace, "dead letter handled").await;
    expect_logged(&lp.order_producer, &failed_trace, "payment result handled").await;
}

/// `make demo`'s driver, on the debug binaries with a small run: orders placed before, during
/// and after a processor outage all settle, charges equal paid orders, exit status 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_driver_settles_every_order_through_a_processor_outage() {
    let bin_dir = e2e_tests::pipeline::debug_bin_dir();
    let summary_path = std::env::temp_dir().join(format!("demo-summary-{}.json", Uuid::new_v4()));
    let output = tokio::process::Command::new(bin_dir.join("pipeline_demo"))
        .args(["--bin-dir", bin_dir.to_str().unwrap()])
        .args(["--log-dir", std::env::temp_dir().to_str().unwrap()])
        .args([
            "--orders",
            "90",
            "--rate",
            "30",
            "--outage",
            "2s",
            "--outage-start",
            "30",
        ])
        .args(["--settle-deadline", "2m", "--no-progress"])
        .args(["--summary-json", summary_path.to_str().unwrap()])
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("== summary"), "{stdout}");
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(&summary_path).unwrap()).unwrap();
    let _ = std::fs::remove_file(&summary_path);
    let failed: u64 = summary["failed"]
        .as_object()
        .unwrap()
        .values()
        .map(|n| n.as_u64().unwrap())
        .sum();
    assert_eq!(summary["orders"], 90, "{summary:#}");
    assert_eq!(summary["pending"], 0, "{summary:#}");
    assert_eq!(
        summary["paid"].as_u64().unwrap() + failed,
        90,
        "{summary:#}"
    );
    assert_eq!(summary["succeeded_charges"], summary["paid"], "{summary:#}");
    assert_eq!(summary["charged_twice"], 0, "{summary:#}");
    assert!(
        summary["latency_during_outage"]["count"].as_u64().unwrap() > 0,
        "some orders were placed while the processor was down: {summary:#}"
    );
}
