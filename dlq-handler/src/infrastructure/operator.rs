//! The operator commands `list`, `show` and `replay`: read the dead-letter topic from its
//! beginning with a consumer that commits nothing (the service's group is untouched), join the
//! kept dead letters, and print. `replay` produces a selected dead letter back to the topic it
//! came from (`kafka_dlt-original-topic`) with its key and value unchanged, the original
//! headers (`id`, `type`, `traceparent`, …) and none of the retry / dead-letter ones — a fresh
//! attempt count — plus `dlq.replayed-from` (`topic/partition/offset`) and `dlq.replayed-at`.
//! Replaying is safe: the processor is idempotent, and an order already failed or paid is left
//! as it is.

use crate::domain::{Listed, Selection};
use chrono::Utc;
use contracts::OrderCreated;
use eventing::AvroCodec;
use eventing::kafka::keyed::dead_letter_headers as dlh;
use eventing::kafka::{ConsumedRecord, KafkaArgs};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use uuid::Uuid;

const SELECT_KEPT: &str = include_str!("postgres/sql/select_kept.sql");
/// How long reading the topic to its end may take.
const READ_DEADLINE: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    #[error("kafka: {0}")]
    Kafka(String),
    #[error("payments database: {0}")]
    Database(String),
    #[error("no dead letter at {topic}[{partition}]@{offset}")]
    NotFound {
        topic: String,
        partition: i32,
        offset: i64,
    },
}

/// The value of a header, as text.
fn header_text(record: &ConsumedRecord, name: &str) -> Option<String> {
    record
        .header(name)
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

#[derive(Debug)]
pub struct Operator {
    pub kafka: KafkaArgs,
    pub topic: String,
    pub pool: deadpool_postgres::Pool,
    pub codec: AvroCodec,
}

fn text_or_hex(bytes: &[u8]) -> serde_json::Value {
    match std::str::from_utf8(bytes) {
        Ok(text) => serde_json::json!(text),
        Err(_) => serde_json::json!({
            "hex": bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
        }),
    }
}

/// A listed dead letter as JSON.
pub fn listed_json(listed: &Listed) -> serde_json::Value {
    serde_json::json!({
        "topic": listed.topic,
        "partition": listed.partition,
        "offset": listed.offset,
        "reason": listed.reason,
        "order_id": listed.order_id,
        "age_seconds": listed.age_ms / 1000,
        "kept": listed.kept,
    })
}

/// A listed dead letter as one table line.
pub fn listed_line(listed: &Listed) -> String {
    format!(
        "{:>3}:{:<8} {:<18} {:<36} {:>8}s {}",
        listed.partition,
        listed.offset,
        listed.reason.as_deref().unwrap_or("-"),
        listed
            .order_id
            .map_or_else(|| "-".to_string(), |id| id.to_string()),
        listed.age_ms / 1000,
        listed.kept.as_deref().unwrap_or("")
    )
}

impl Operator {
    /// Every record of the topic, from the beginning to the end it had when called.
    pub async fn read_all(&self) -> Result<Vec<ConsumedRecord>, OperatorError> {
        let (kafka, topic) = (self.kafka.clone(), self.topic.clone());
        tokio::task::spawn_blocking(move || read_topic(&kafka, &topic))
            .await
            .map_err(|e| OperatorError::Kafka(e.to_string()))?
    }

    /// The kept dead letters of the topic; none while dlq-handler never ran on this database
    /// (its table does not exist yet).
    async fn kept(&self) -> Result<HashMap<(i32, i64), String>, OperatorError> {
        const UNDEFINED_TABLE: &str = "42P01";
        let client = self
            .pool
            .get()
            .await
            .map_err(|e| OperatorError::Database(e.to_string()))?;
        let rows = match client.query(SELECT_KEPT, &[&self.topic]).await {
            Ok(rows) => rows,
            Err(e) if e.code().map(|c| c.code()) == Some(UNDEFINED_TABLE) => {
                return Ok(HashMap::new());
            }
            Err(e) => {
                return Err(OperatorError::Database(
                    e.as_db_error()
                        .map_or_else(|| e.to_string(), ToString::to_string),
                ));
            }
        };
        Ok(rows
            .iter()
            .map(|row| ((row.get(0), row.get(1)), row.get::<_, String>(2)))
            .collect())
    }

    fn listed(record: &ConsumedRecord, kept: &HashMap<(i32, i64), String>, now_ms: i64) -> Listed {
        Listed {
            topic: record.topic.clone(),
            partition: record.partition,
            offset: record.offset,
            reason: header_text(record, dlh::REASON),
            order_id: record
                .key
                .as_deref()
                .and_then(|k| std::str::from_utf8(k).ok())
                .and_then(|k| Uuid::parse_str(k).ok()),
            age_ms: record.timestamp_ms.map_or(0, |ts| now_ms - ts),
            kept: kept.get(&(record.partition, record.offset)).cloned(),
        }
    }

    /// The selected dead letters with their records.
    pub async fn select(
        &self,
        selection: &Selection,
    ) -> Result<Vec<(Listed, ConsumedRecord)>, OperatorError> {
        let records = self.read_all().await?;
        let kept = self.kept().await?;
        let now_ms = Utc::now().timestamp_millis();
        Ok(records
            .into_iter()
            .map(|r| (Self::listed(&r, &kept, now_ms), r))
            .filter(|(listed, _)| selection.matches(listed))
            .collect())
    }

    /// One record with every header and its value decoded when it can be.
    pub async fn show(
        &self,
        partition: i32,
        offset: i64,
    ) -> Result<serde_json::Value, OperatorError> {
        let selection = Selection {
            positions: vec![(partition, offset)],
            ..Selection::default()
        };
        let Some((listed, record)) = self.select(&selection).await?.into_iter().next() else {
            return Err(OperatorError::NotFound {
                topic: self.topic.clone(),
                partition,
                offset,
            });
        };
        let decoded = match record.payload.as_deref() {
            None => serde_json::json!(null),
            Some(bytes) => match self.codec.decode::<OrderCreated>(bytes).await {
                Ok(order) => serde_json::json!({
                    "type": "OrderCreated",
                    "event_id": order.event_id,
                    "occurred_at": order.occurred_at.to_rfc3339(),
                    "order_id": order.order_id,
                    "customer_id": order.customer_id,
                    "total_amount": order.total_amount.to_string(),
                    "currency": order.currency,
                    "items": order.items.len(),
                }),
                Err(e) => {
                    serde_json::json!({"undecodable": e.to_string(), "raw": text_or_hex(bytes)})
                }
            },
        };
        let headers: Vec<serde_json::Value> = record
            .headers
            .iter()
            .map(|(k, v)| serde_json::json!({"key": k, "value": text_or_hex(v)}))
            .collect();
        let mut shown = listed_json(&listed);
        shown["headers"] = serde_json::json!(headers);
        shown["key"] = record
            .key
            .as_deref()
            .map_or(serde_json::json!(null), text_or_hex);
        shown["value"] = decoded;
        Ok(shown)
    }

    /// Produce the selected dead letters back to their source topics (`fallback_topic` when a
    /// record does not name one); with `dry_run`, only say what would be replayed.
    pub async fn replay(
        &self,
        selection: &Selection,
        fallback_topic: &str,
        dry_run: bool,
    ) -> Result<Vec<String>, OperatorError> {
        let selected = self.select(selection).await?;
        let producer: FutureProducer = self
            .kafka
            .safe_producer_config()
            .create()
            .map_err(|e| OperatorError::Kafka(e.to_string()))?;
        let mut done = Vec::new();
        for (listed, record) in selected {
            let target = header_text(&record, dlh::ORIGINAL_TOPIC)
                .unwrap_or_else(|| fallback_topic.to_string());
            let from = format!("{}/{}/{}", record.topic, record.partition, record.offset);
            let line = format!("{from} -> {target} (order {:?})", listed.order_id);
            if dry_run {
                done.push(format!("would replay {line}"));
                continue;
            }
            let replayed_at = Utc::now().to_rfc3339();
            let mut headers = OwnedHeaders::new();
            for (key, value) in record.headers.iter().filter(|(k, _)| !is_retry_header(k)) {
                headers = headers.insert(Header {
                    key,
                    value: Some(value.as_slice()),
                });
            }
            headers = headers
                .insert(Header {
                    key: "dlq.replayed-from",
                    value: Some(from.as_bytes()),
                })
                .insert(Header {
                    key: "dlq.replayed-at",
                    value: Some(replayed_at.as_bytes()),
                });
            let mut out = FutureRecord::<[u8], [u8]>::to(&target).headers(headers);
            if let Some(key) = record.key.as_deref() {
                out = out.key(key);
            }
            if let Some(value) = record.payload.as_deref() {
                out = out.payload(value);
            }
            producer
                .send(out, Duration::from_secs(30))
                .await
                .map_err(|(e, _)| OperatorError::Kafka(e.to_string()))?;
            done.push(format!("replayed {line}"));
        }
        Ok(done)
    }
}

/// Headers the retry and dead-letter path added; a replay starts without them.
fn is_retry_header(key: &str) -> bool {
    key.starts_with("retry_topic-")
        || key.starts_with("retry.")
        || key.starts_with("kafka_dlt-")
        || key.starts_with("dlq.")
}

fn read_topic(kafka: &KafkaArgs, topic: &str) -> Result<Vec<ConsumedRecord>, OperatorError> {
    let err = |e: rdkafka::error::KafkaError| OperatorError::Kafka(e.to_string());
    let consumer: BaseConsumer = kafka
        .client_config(&[
            ("group.id", "dlq-handler-operator"),
            ("enable.auto.commit", "false"),
            ("enable.auto.offset.store", "false"),
            ("enable.partition.eof", "false"),
        ])
        .create()
        .map_err(err)?;
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .map_err(err)?;
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .filter(|t| t.name() == topic)
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    let mut ends = HashMap::new();
    let mut assignment = TopicPartitionList::new();
    for partition in &partitions {
        let (low, high) = consumer
            .fetch_watermarks(topic, *partition, Duration::from_secs(10))
            .map_err(err)?;
        if high > low {
            ends.insert(*partition, high);
            assignment
                .add_partition_offset(topic, *partition, Offset::Offset(low))
                .map_err(err)?;
        }
    }
    let mut records = Vec::new();
    if ends.is_empty() {
        return Ok(records);
    }
    consumer.assign(&assignment).map_err(err)?;
    let deadline = Instant::now() + READ_DEADLINE;
    while !ends.is_empty() {
        if Instant::now() > deadline {
            return Err(OperatorError::Kafka(format!(
                "{topic} not read to its end within {READ_DEADLINE:?}"
            )));
        }
        let Some(message) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let record = ConsumedRecord::from_message(&message.map_err(err)?);
        let (partition, offset) = (record.partition, record.offset);
        records.push(record);
        if ends.get(&partition).is_some_and(|end| offset + 1 >= *end) {
            ends.remove(&partition);
        }
    }
    records.sort_by_key(|r| (r.partition, r.offset));
    Ok(records)
}
