//! End to end through the real broker: a framed PaymentCompleted produced to a topic this test
//! creates (auto-create is off) is consumed and settles the order in Postgres.

mod support;

use contracts::PaymentCompleted;
use eventing::kafka::keyed::KeyedConsumerArgs;
use eventing::kafka::{KafkaArgs, create_topic};
use order_producer::application::PlaceOrderCommand;
use order_producer::domain::{Currency, CustomerId, OrderLine, Quantity, Sku, UnitPrice};
use order_producer::infrastructure::kafka::{
    ConsumerSettings, PaymentResultHandler, run_payment_consumer,
};
use rdkafka::Message;
use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Headers;
use rdkafka::producer::{FutureProducer, FutureRecord};
use std::time::Duration;
use support::*;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

#[tokio::test]
async fn framed_payment_completed_on_kafka_marks_the_order_paid() {
    let db = TestDb::new().await;
    let service = service_on(db.pool.clone()).await;
    let codec = codec().await;
    let kafka = KafkaArgs::local(&kafka_bootstrap());
    let suffix = Uuid::new_v4().simple().to_string();
    let topic = format!("op-test-payments-{suffix}");
    let dlq = format!("op-test-dlq-{suffix}");
    for name in [&topic, &dlq] {
        create_topic(&kafka, name, 1).await.unwrap_or_else(|e| {
            panic!(
                "Kafka at {} unreachable ({e}): {START_STACK}",
                kafka_bootstrap()
            )
        });
    }

    let command = PlaceOrderCommand {
        customer_id: CustomerId::parse("customer_id", "c-kafka").expect("valid"),
        currency: Currency::parse("currency", "EUR").expect("valid"),
        lines: vec![OrderLine {
            sku: Sku::parse("sku", "SKU-1").expect("valid"),
            quantity: Quantity::new("quantity", 3).expect("valid"),
            unit_price: UnitPrice::parse(
                "unit_price",
                "7.25",
                Currency::parse("currency", "EUR").expect("active"),
            )
            .expect("valid"),
        }],
    };
    let order = service
        .place_order(
            command,
            None,
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )
        .await
        .expect("placed")
        .order;

    let event = PaymentCompleted {
        event_id: Uuid::now_v7(),
        occurred_at: chrono::Utc::now(),
        payment_id: Uuid::now_v7(),
        order_id: order.order_id,
        customer_id: "c-kafka".into(),
        amount: order.total_amount,
        currency: "EUR".into(),
        gateway_reference: "gw-e2e".into(),
    };
    let payload = codec.encode(&event).await.expect("encodes");
    let producer: FutureProducer = kafka.safe_producer_config().create().expect("producer");
    let key = order.order_id.to_string();
    // Twice: the redelivery must be a no-op. Plus one poison record for the dead-letter topic.
    for _ in 0..2 {
        producer
            .send(
                FutureRecord::to(&topic).key(&key).payload(&payload),
                Duration::from_secs(10),
            )
            .await
            .map_err(|(e, _)| e)
            .expect("produce");
    }
    producer
        .send(
            FutureRecord::to(&topic).key(&key).payload(&b"not avro"[..]),
            Duration::from_secs(10),
        )
        .await
        .map_err(|(e, _)| e)
        .expect("produce poison");

    let cancel = CancellationToken::new();
    let settings = ConsumerSettings {
        kafka: kafka.clone(),
        group_id: format!("op-test-group-{suffix}"),
        topic: topic.clone(),
        dead_letter_topic: dlq.clone(),
        runtime: KeyedConsumerArgs::default(),
    };
    let handler =
        PaymentResultHandler::new(service.clone(), codec.clone(), settings.group_id.clone());
    let consumer = tokio::spawn({
        let cancel = cancel.clone();
        async move { run_payment_consumer(&settings, handler, cancel).await }
    });

    poll_until("the order to be PAID", Duration::from_secs(60), || async {
        let view = service.get_order(order.order_id).await.ok()?;
        (view.status == "PAID").then_some(())
    })
    .await;
    // The poison record lands on the dead-letter topic with the error headers.
    let dlq_reader: StreamConsumer = kafka
        .client_config(&[
            ("group.id", &format!("op-test-dlq-reader-{suffix}")),
            ("auto.offset.reset", "earliest"),
        ])
        .create()
        .expect("dlq consumer");
    dlq_reader.subscribe(&[&dlq]).expect("subscribe");
    let dead = tokio::time::timeout(Duration::from_secs(60), dlq_reader.recv())
        .await
        .expect("a dead letter within 60 s")
        .expect("dead letter");
    assert_eq!(dead.payload(), Some(&b"not avro"[..]));
    let code = dead
        .headers()
        .and_then(|hs| {
            hs.iter()
                .find(|h| h.key == "dlq.error-code")
                .and_then(|h| h.value.map(<[u8]>::to_vec))
        })
        .expect("dlq.error-code header");
    assert_eq!(String::from_utf8_lossy(&code), "wrong_magic_byte");
    assert_eq!(
        db.count("processed_events").await,
        1,
        "one event, processed once"
    );
    let view = service.get_order(order.order_id).await.expect("exists");
    assert_eq!(view.payment_id, Some(event.payment_id));
    assert_eq!(
        view.status_history.len(),
        2,
        "the duplicate changed nothing"
    );

    cancel.cancel();
    consumer
        .await
        .expect("task")
        .expect("consumer stops cleanly");
    let admin: AdminClient<DefaultClientContext> =
        kafka.client_config(&[]).create().expect("admin");
    let _ = admin
        .delete_topics(&[&topic, &dlq], &AdminOptions::new())
        .await;
    db.drop_schema().await;
}
