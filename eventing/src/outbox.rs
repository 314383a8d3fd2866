//! The outbox writer: domain events become rows of the `outbox` table inside the caller's
//! transaction, so the state change and its events commit (or roll back) together.
//!
//! Retention: each row is deleted again in the same transaction right after its insert. The
//! WAL keeps the INSERT, which is all a logical-replication relay (ours or Debezium's) reads, so
//! the table is empty between transactions — no cleanup job, no bloat, no unbounded growth.
//! Consequence: to replay events, read Kafka (or the WAL), not the table.
//!
//! No network call inside the transaction: payloads are encoded before it opens
//! ([`OutboxMessage::encode`]) or, when the transaction decides their content, inside it with
//! [`OutboxMessage::encode_registered`], which never asks the registry.

use crate::codec::AvroCodec;
use crate::error::CodecError;
use contracts::domain_event::DomainEvent;
use uuid::Uuid;

/// DDL of the outbox table; services run it from their migrations.
pub const OUTBOX_TABLE_DDL: &str = include_str!("../sql/outbox_table.sql");

const INSERT_OUTBOX_ROW: &str = "INSERT INTO outbox (id, aggregatetype, aggregateid, type, payload, traceparent) \
     VALUES ($1, $2, $3, $4, $5, $6)";
const DELETE_OUTBOX_ROWS: &str = "DELETE FROM outbox WHERE id = ANY($1)";
/// Many rows in one statement (one round trip), in array order; the relay still sees one INSERT
/// per row in the WAL.
const INSERT_OUTBOX_ROWS: &str = "INSERT INTO outbox (id, aggregatetype, aggregateid, type, payload, traceparent) \
     SELECT * FROM unnest($1::uuid[], $2::varchar[], $3::varchar[], $4::varchar[], $5::bytea[], $6::varchar[])";

/// One encoded event, ready to be written as an outbox row.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxMessage {
    pub id: Uuid,
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub event_type: String,
    /// Confluent-framed Avro.
    pub payload: Vec<u8>,
    /// W3C trace context of the request that raised the event.
    pub traceparent: Option<String>,
}

impl OutboxMessage {
    /// Encode a domain event through the registry-backed codec, registering its schema first
    /// if needed (a network call the first time): call it BEFORE the transaction opens.
    pub async fn encode<E: DomainEvent>(
        codec: &AvroCodec,
        event: &E,
        traceparent: Option<String>,
    ) -> Result<Self, CodecError> {
        codec.register::<E>().await?;
        Self::encode_registered(codec, event, traceparent)
    }

    /// Encode a domain event whose schema is registered already: no network call, so it may run
    /// inside a transaction (for events whose content the transaction decides). Fails with the
    /// transient [`CodecError::SchemaNotRegistered`] if the schema was not registered first.
    pub fn encode_registered<E: DomainEvent>(
        codec: &AvroCodec,
        event: &E,
        traceparent: Option<String>,
    ) -> Result<Self, CodecError> {
        Ok(Self {
            id: event.event_id(),
            aggregate_type: E::AGGREGATE_TYPE.to_string(),
            aggregate_id: event.aggregate_id(),
            event_type: E::EVENT_TYPE.to_string(),
            payload: codec.encode_registered(event)?,
            traceparent,
        })
    }
}

/// Insert the messages as outbox rows and delete them again, inside the caller's transaction
/// (statements prepared once per pooled connection).
pub async fn write_outbox(
    tx: &deadpool_postgres::Transaction<'_>,
    messages: &[OutboxMessage],
) -> Result<(), tokio_postgres::Error> {
    if messages.is_empty() {
        return Ok(());
    }
    let insert = tx.prepare_cached(INSERT_OUTBOX_ROW).await?;
    for m in messages {
        tx.execute(
            &insert,
            &[
                &m.id,
                &m.aggregate_type,
                &m.aggregate_id,
                &m.event_type,
                &m.payload,
                &m.traceparent,
            ],
        )
        .await?;
    }
    let ids: Vec<Uuid> = messages.iter().map(|m| m.id).collect();
    let delete = tx.prepare_cached(DELETE_OUTBOX_ROWS).await?;
    tx.execute(&delete, &[&ids]).await?;
    Ok(())
}

/// Like [`write_outbox`], in two statements whatever the number of messages (an array insert and
/// the delete): for callers that commit many events per transaction.
pub async fn write_outbox_batch(
    tx: &deadpool_postgres::Transaction<'_>,
    messages: &[OutboxMessage],
) -> Result<(), tokio_postgres::Error> {
    if messages.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = messages.iter().map(|m| m.id).collect();
    let aggregate_types: Vec<&str> = messages.iter().map(|m| m.aggregate_type.as_str()).collect();
    let aggregate_ids: Vec<&str> = messages.iter().map(|m| m.aggregate_id.as_str()).collect();
    let types: Vec<&str> = messages.iter().map(|m| m.event_type.as_str()).collect();
    let payloads: Vec<&[u8]> = messages.iter().map(|m| m.payload.as_slice()).collect();
    let traceparents: Vec<Option<&str>> =
        messages.iter().map(|m| m.traceparent.as_deref()).collect();
    let insert = tx.prepare_cached(INSERT_OUTBOX_ROWS).await?;
    tx.execute(
        &insert,
        &[
            &ids,
            &aggregate_types,
            &aggregate_ids,
            &types,
            &payloads,
            &traceparents,
        ],
    )
    .await?;
    let delete = tx.prepare_cached(DELETE_OUTBOX_ROWS).await?;
    tx.execute(&delete, &[&ids]).await?;
    Ok(())
}
