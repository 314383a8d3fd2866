//! `make demo`'s driver: one order through the running pipeline, printed step by step.
//!
//! Expects order-producer and two cdc-relay instances (orders and payments databases) to be
//! running (scripts/demo.sh starts them). The payment processor has not landed yet, so this
//! program stands in for it at one clearly marked step: it writes a PaymentCompleted into the
//! payments database's outbox, exactly as the payment processor will, and the rest of the loop
//! (relay → Kafka → order service) is the real one.

use anyhow::{Context, bail};
use chrono::Utc;
use contracts::{OrderCreated, PaymentCompleted};
use e2e_tests::StackEnv;
use eventing::outbox::{OUTBOX_TABLE_DDL, OutboxMessage, write_outbox};
use rdkafka::Message;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Headers;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use std::str::FromStr;
use std::time::{Duration, Instant};
use uuid::Uuid;

const DEADLINE: Duration = Duration::from_secs(60);

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let env = StackEnv::from_env();
    match std::env::args().nth(1).as_deref() {
        Some("prepare") => prepare(&env).await,
        Some("run") => run(&env).await,
        _ => bail!("usage: pipeline_demo prepare|run"),
    }
}

/// The payments database has no service of its own yet: create its outbox table so its relay
/// can start (the payment processor's migrations will own it).
async fn prepare(env: &StackEnv) -> anyhow::Result<()> {
    let pool = payments_pool(env)?;
    pool.get()
        .await
        .context("payments database unreachable")?
        .batch_execute(OUTBOX_TABLE_DDL)
        .await?;
    Ok(())
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

    step(
        "3. [stand-in for the payment processor, not built yet] PaymentCompleted written to the payments outbox",
    );
    let order: Value = http
        .get(format!("{api}/orders/{order_id}"))
        .send()
        .await?
        .json()
        .await?;
    let amount = Decimal::from_str(order["total_amount"].as_str().context("total_amount")?)?;
    let pool = payments_pool(env)?;
    let mut client = pool.get().await?;
    let paid = PaymentCompleted {
        event_id: Uuid::new_v4(),
        occurred_at: Utc::now(),
        payment_id: Uuid::new_v4(),
        order_id: Uuid::parse_str(&order_id)?,
        customer_id: "demo-customer".into(),
        amount,
        currency: "EUR".into(),
        gateway_reference: "demo-gateway-ref".into(),
    };
    let message = OutboxMessage::encode(&codec, &paid, None).await?;
    let tx = client.transaction().await?;
    write_outbox(&tx, &[message]).await?;
    tx.commit().await?;
    println!("   -> cdc-relay #2 relays it to outbox.event.payment; order-producer consumes it");

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

fn payments_pool(env: &StackEnv) -> anyhow::Result<deadpool_postgres::Pool> {
    let config: tokio_postgres::Config = env.payments_database_url.parse()?;
    let manager = deadpool_postgres::Manager::new(config, tokio_postgres::NoTls);
    Ok(deadpool_postgres::Pool::builder(manager)
        .max_size(1)
        .build()?)
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
