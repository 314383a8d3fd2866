//! The producers eventing builds (the keyed runtime's retry and dead-letter writers, the
//! dlq-handler replay) put a keyed record on the partition the Java client would choose, checked
//! against Kafka's own Java code on the real broker (`make up`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../tests/java/java_partitioner.rs"]
mod java_partitioner;

use eventing::kafka::{KafkaArgs, create_topic};
use rdkafka::producer::{FutureProducer, FutureRecord};
use std::time::Duration;

#[tokio::test]
async fn safe_producers_partition_keys_like_the_java_client() {
    let kafka = KafkaArgs::local(
        &std::env::var("KAFKA_BOOTSTRAP_SERVERS").unwrap_or_else(|_| "127.0.0.1:9092".into()),
    );
    let topic = format!("partitioner-{}", uuid::Uuid::new_v4().simple());
    create_topic(&kafka, &topic, 6)
        .await
        .unwrap_or_else(|e| panic!("{e}: start the local stack with `make up`"));
    let producer: FutureProducer = kafka.safe_producer_config().create().unwrap();
    let keys: Vec<String> = (0..300).map(|_| uuid::Uuid::now_v7().to_string()).collect();
    let mut ours = Vec::new();
    for key in &keys {
        let delivery = producer
            .send(
                FutureRecord::to(&topic).key(key).payload("x"),
                Duration::from_secs(15),
            )
            .await
            .map_err(|(e, _)| e)
            .unwrap();
        ours.push(delivery.partition);
    }
    let java = java_partitioner::java_partitions(&keys, 6);
    let differing = keys
        .iter()
        .zip(&ours)
        .filter(|(key, partition)| java.get(*key) != Some(partition))
        .count();
    assert_eq!(
        differing, 0,
        "{differing} of 300 keys on another partition than Java's"
    );
    let used: std::collections::HashSet<i32> = ours.iter().copied().collect();
    assert_eq!(used.len(), 6, "keys spread over every partition: {used:?}");

    // Positive control: librdkafka's own default (CRC32) disagrees with Java for these keys, so
    // the comparison above can fail.
    let crc: FutureProducer = kafka
        .client_config(&[("partitioner", "consistent_random")])
        .create()
        .unwrap();
    let mut crc_differs = 0;
    for key in keys.iter().take(50) {
        let delivery = crc
            .send(
                FutureRecord::to(&topic).key(key).payload("x"),
                Duration::from_secs(15),
            )
            .await
            .map_err(|(e, _)| e)
            .unwrap();
        crc_differs += usize::from(java.get(key) != Some(&delivery.partition));
    }
    assert!(crc_differs > 0, "CRC32 placed all 50 keys like Java");
}
