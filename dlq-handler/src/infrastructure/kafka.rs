//! [`DeadLetterHandler`]: one dead-letter record → [`DeadLetter`] → the use case. Reading the
//! `OrderCreated` needs the registry: a registry outage is retried (transient); bytes that
//! cannot be read (bad framing, unknown schema, another type) make the record `Unreadable`,
//! which the use case keeps — never a permanent error, so nothing here is dropped or
//! re-dead-lettered.

use crate::application::ports::KeptDeadLetter;
use crate::application::{DeadLetter, DeadLetterService};
use async_trait::async_trait;
use contracts::{ErrorKind, OrderCreated};
use eventing::AvroCodec;
use eventing::kafka::keyed::{Delivery, KeyedHandler, dead_letter_headers as dlh};
use eventing::kafka::{ConsumedRecord, HandlerError};
use std::sync::Arc;

pub struct DeadLetterHandler {
    service: DeadLetterService,
    codec: AvroCodec,
}

impl std::fmt::Debug for DeadLetterHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeadLetterHandler").finish_non_exhaustive()
    }
}

fn text(record: &ConsumedRecord, name: &str) -> Option<String> {
    record
        .header(name)
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

fn kept(record: &ConsumedRecord, cause: &'static str, detail: String) -> KeptDeadLetter {
    KeptDeadLetter {
        topic: record.topic.clone(),
        partition: record.partition,
        offset: record.offset,
        cause,
        detail,
        dlq_reason: text(record, dlh::REASON),
        order_id: None,
        key: record.key.clone(),
        value: record.payload.clone(),
        headers: record.headers.clone(),
    }
}

impl DeadLetterHandler {
    pub fn new(service: DeadLetterService, codec: AvroCodec) -> Arc<Self> {
        Arc::new(Self { service, codec })
    }

    /// The record as a dead letter; `Err` only for what must be retried (registry down).
    async fn read(&self, record: &ConsumedRecord) -> Result<DeadLetter, HandlerError> {
        let Some(value) = record.payload.as_deref() else {
            return Ok(DeadLetter::Unreadable(kept(
                record,
                "undecodable",
                "the dead letter has no value".into(),
            )));
        };
        match self.codec.decode::<OrderCreated>(value).await {
            Ok(order) => Ok(DeadLetter::Readable {
                order: Box::new(order),
                reason: text(record, dlh::REASON),
                detail: text(record, dlh::EXCEPTION_MESSAGE),
                traceparent: text(record, "traceparent"),
                kept: kept(record, "charged_at_gateway", String::new()),
            }),
            Err(e) if e.kind() == ErrorKind::Transient => Err(HandlerError::transient(
                "registry_unavailable",
                e.to_string(),
            )),
            Err(e) => Ok(DeadLetter::Unreadable(kept(
                record,
                "undecodable",
                format!("the order id cannot be read: {e}"),
            ))),
        }
    }
}

#[async_trait]
impl KeyedHandler for DeadLetterHandler {
    async fn handle(&self, record: &ConsumedRecord, _: &Delivery) -> Result<(), HandlerError> {
        let dead_letter = self.read(record).await?;
        let handled = self
            .service
            .handle(dead_letter)
            .await
            .map_err(|e| HandlerError::transient("store_unavailable", e.to_string()))?;
        metrics::counter!("dlq_handler_handled_total", "outcome" => handled.label()).increment(1);
        match handled {
            crate::application::Handled::Kept { newly: true } => {
                metrics::gauge!("dlq_handler_kept_dead_letters").increment(1.0);
                tracing::error!(
                    topic = %record.topic,
                    partition = record.partition,
                    offset = record.offset,
                    "dead letter kept for an operator (see `kept_dead_letters`): it cannot become a PaymentFailed"
                );
            }
            other => tracing::info!(
                topic = %record.topic,
                partition = record.partition,
                offset = record.offset,
                outcome = other.label(),
                "dead letter handled"
            ),
        }
        Ok(())
    }
}
