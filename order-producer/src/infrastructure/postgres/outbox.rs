//! The outbox adapter: encodes each event with the registry-backed Avro codec (Confluent framing)
//! and writes it through `eventing::outbox::write_outbox`, which inserts the row and deletes it
//! again in the same transaction (retention: see the crate docs).
//!
//! No network call inside the transaction: [`OutboxPort::prepare`] registers the `OrderCreated`
//! schema (a registry call only until its id is cached; the service registers it at start-up)
//! before the transaction opens, and [`OutboxPort::append`] encodes with the cached id only.

use super::errors::pg_error;
use crate::application::StoreError;
use crate::application::ports::OutboxPort;
use contracts::OrderCreated;
use eventing::AvroCodec;
use eventing::outbox::{OutboxMessage, write_outbox};

/// Writes `OrderCreated` events as outbox rows.
#[derive(Debug, Clone)]
pub struct PgOutboxWriter {
    codec: AvroCodec,
}

impl PgOutboxWriter {
    pub fn new(codec: AvroCodec) -> Self {
        Self { codec }
    }
}

impl<'t> OutboxPort<deadpool_postgres::Transaction<'t>> for PgOutboxWriter {
    async fn prepare(&self) -> Result<(), StoreError> {
        self.codec.register::<OrderCreated>().await?;
        Ok(())
    }

    async fn append(
        &self,
        tx: &deadpool_postgres::Transaction<'t>,
        events: &[OrderCreated],
        traceparent: &str,
    ) -> Result<(), StoreError> {
        let messages = events
            .iter()
            .map(|event| {
                OutboxMessage::encode_registered(&self.codec, event, Some(traceparent.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        write_outbox(tx, &messages).await.map_err(pg_error)
    }
}
