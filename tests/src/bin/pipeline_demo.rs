//! `make demo`'s driver: one order through the running pipeline, printed step by step.
//!
//! Expects order-producer, payment-processor, the payment gateway simulator and two cdc-relay
//! instances (orders and payments databases) to be running (scripts/demo.sh starts them): every
//! step of the loop is the real service.

use anyhow::{Context, bail};
use contracts::OrderCreated;
use e2e_tests::StackEnv;
use rdkafka::Message;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Headers;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use uuid::Uuid;

const DEADLINE: Duration = Duration::from_secs(60);

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let env = StackEnv::from_env();
    match std::env::args().nth(1).as_deref() {
        Some("run") => run(&env).await,
        _ => bail!("usage: pipeline_demo run"),
    }
}

async fn run(env: &StackEnv) -> anyhow::Result<()> {
    let api = std::env::var("ORDER_API").unwrap_or_else(|_| "http://127.0.0.1:8080".into());
    let http = reqwest::Client::new();

    // Subscribe first so the OrderCreated record cannot slip past us.
    let consumer: StreamConsumer = env
        .kafka()
        .client_config(&[
            ("group.id", &format!("demo-{}", Uuid::new_v4())),
            ("auto.offset.reset", "latest"),
        ])
        .create()?;
    consumer.subscribe(&["outbox.event.order"])?;
    wait_for_assignment(&consumer).await?;

    step(
        "1. POST /orders (customer demo-customer, 2 x SKU-RED-MUG at 12.50 EUR + 1 x SKU-TEA at 4.99)",
    );
    let body = json!({"customer_id": "demo-customer", "currency": "EUR", "items": [
        {"sku": "SKU-RED-MUG", "quantity": 2, "unit_price": "12.50"},
        {"sku": "SKU-TEA", "quantity": 1, "unit_price": "4.99"}]});
    let response = http
        .post(format!("{api}/orders"))
        .header("Idempotency-Key", Uuid::new_v4().to_string())
        .json(&body)
        .send()
        .await
        .context("order-producer is not answering")?;
    let status = response.status();
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let created: Value = response.json().await?;
    println!(
        "   -> {status} Location: {}\n   {created}",
        location.unwrap_or_default()
    );
    let order_id = created["order_id"]
        .as_str()
        .context("order_id in the response")?
        .to_string();

    step("2. cdc-relay #1 read the outbox INSERT from the WAL and published it to Kafka:");
    let codec = env.codec();
    let started = Instant::now();
    loop {
        if started.elapsed() > DEADLINE {
            bail!("no OrderCreated for {order_id} on outbox.event.order within {DEADLINE:?}");
        }
        let Ok(Ok(message)) = tokio::time::timeout(Duration::from_secs(1), consumer.recv()).await
        else {
            continue;
        };
        if message.key() != Some(order_id.as_bytes()) {
            continue;
        }
        let headers: Vec<String> = message
            .headers()
            .map(|hs| {
                hs.iter()
                    .map(|h| {
                        format!(
                            "{}={}",
                            h.key,
                            String::from_utf8_lossy(h.value.unwrap_or_default())
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let event: OrderCreated = codec.decode(message.payload().unwrap_or_default()).await?;
        println!(
            "   topic={} partition={} offset={} key={order_id}\n   headers: {}\n   value (Avro, schema id from the registry): {event:?}",
            message.topic(),
            message.partition(),
            message.offset(),
            headers.join(", ")
        );
        break;
    }

    step("3. payment-processor consumed it and charged the payment gateway once (its ledger):");
    let gateway =
        std::env::var("PAYMENT_GATEWAY_URL").unwrap_or_else(|_| "http://127.0.0.1:8090".into());
    let started = Instant::now();
    let charges = loop {
        let ledger: Value = http
            .get(format!("{gateway}/v1/ledger"))
            .query(&[("order_id", order_id.as_str())])
            .send()
            .await?
            .json()
            .await?;
        let charges = ledger["charges"].as_array().cloned().unwrap_or_default();
        if !charges.is_empty() {
            break charges;
        }
        if started.elapsed() > DEADLINE {
            bail!("the gateway has no charge for order {order_id} after {DEADLINE:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    println!("{}", serde_json::to_string_pretty(&charges)?);
    println!(
        "   -> PaymentCompleted went through the payments outbox; cdc-relay #2 relays it to outbox.event.payment; order-producer consumes it"
    );

    step("4. GET /orders/{id} until the order is settled");
    let started = Instant::now();
    let settled = loop {
        let order: Value = http
            .get(format!("{api}/orders/{order_id}"))
            .send()
            .await?
            .json()
            .await?;
        if order["status"] != "PENDING_PAYMENT" {
            break order;
        }
        if started.elapsed() > DEADLINE {
            bail!("order {order_id} still PENDING_PAYMENT after {DEADLINE:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    println!("{}", serde_json::to_string_pretty(&settled)?);
    if settled["status"] != "PAID" {
        bail!("expected PAID, got {}", settled["status"]);
    }
    step("done: order → outbox → WAL → Kafka, payment → outbox → WAL → Kafka → order PAID");
    Ok(())
}

fn step(text: &str) {
    println!("\n== {text}");
}

async fn wait_for_assignment(consumer: &StreamConsumer) -> anyhow::Result<()> {
    let started = Instant::now();
    // Poll (without consuming) until the group has assigned us the partitions.
    loop {
        if consumer
            .assignment()
            .map(|a| a.count() > 0)
            .unwrap_or(false)
        {
            return Ok(());
        }
        if started.elapsed() > DEADLINE {
            bail!("no partition assignment on outbox.event.order within {DEADLINE:?}");
        }
        let _ = tokio::time::timeout(Duration::from_millis(200), consumer.recv()).await;
    }
}
