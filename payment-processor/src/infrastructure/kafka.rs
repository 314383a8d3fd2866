//! The Kafka side of the payment: an `outbox.event.order` record (from the source topic, a retry
//! topic or parking) → decoded `OrderCreated` → [`PaymentService::process_order_created`], with
//! the outcome mapped to what the consumer runtime does with the record:
//!
//! | outcome | runtime action |
//! | --- | --- |
//! | paid, declined, duplicate | offset finished (the result event is in the outbox, or was before) |
//! | transient (gateway 5xx/timeout/refused, database or registry unavailable) | next retry topic, `retries_exhausted` dead letter after the last |
//! | poison (undecodable bytes, unknown schema id, invalid amount/currency, conflicting duplicate) | dead letter `invalid_event` at once, raw bytes kept |
//! | past the payment deadline | dead letter `expired`, never charged |
//!
//! Records of other event types on the topic (the `type` header is not `OrderCreated`) are not
//! for this service: they are counted and skipped, never dead-lettered.

use crate::application::ports::{Clock, PaymentGateway, PaymentStore};
use crate::application::{PaymentService, ProcessError};
use contracts::{ErrorKind, OrderCreated};
use eventing::AvroCodec;
use eventing::kafka::{ConsumedRecord, HandlerError};
use std::sync::Arc;
use tracing::Instrument;

/// Decodes and processes `OrderCreated` records.
pub struct OrderCreatedHandler<S, G, C> {
    service: Arc<PaymentService<S, G, C>>,
    codec: AvroCodec,
}

impl<S, G, C> std::fmt::Debug for OrderCreatedHandler<S, G, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrderCreatedHandler")
            .finish_non_exhaustive()
    }
}

/// Map the use case's typed error onto the runtime's action.
pub fn to_handler_error(err: ProcessError) -> HandlerError {
    let code = err.code();
    match (&err, err.kind()) {
        (ProcessError::Expired { .. }, _) => HandlerError::expired(code, err.to_string()),
        (_, ErrorKind::Transient) => HandlerError::transient(code, err.to_string()),
        (_, ErrorKind::Permanent) => HandlerError::permanent(code, err.to_string()),
    }
}

impl<S: PaymentStore, G: PaymentGateway, C: Clock> OrderCreatedHandler<S, G, C> {
    pub fn new(service: Arc<PaymentService<S, G, C>>, codec: AvroCodec) -> Self {
        Self { service, codec }
    }

    /// Process one record; `Ok` means its effects are committed (or it is not for us).
    pub async fn handle_record(&self, record: &ConsumedRecord) -> Result<(), HandlerError> {
        if let Some(kind) = record.header("type")
            && kind != b"OrderCreated"
        {
            metrics::counter!("payment_processor_skipped_records_total", "reason" => "other_event_type")
                .increment(1);
            return Ok(());
        }
        let payload = record.payload.as_deref().unwrap_or_default();
        let event: OrderCreated = self
            .codec
            .decode(payload)
            .await
            .map_err(HandlerError::from)?;
        let traceparent = record
            .header("traceparent")
            .and_then(|v| std::str::from_utf8(v).ok());
        let span = tracing::info_span!(
            "payment",
            order_id = %event.order_id,
            event_id = %event.event_id,
        );
        async {
            match self
                .service
                .process_order_created(&event, traceparent)
                .await
            {
                Ok(outcome) => {
                    tracing::debug!(?outcome, "payment processed");
                    Ok(())
                }
                Err(err) => {
                    tracing::warn!(error = %err, code = err.code(), "payment not settled");
                    Err(to_handler_error(err))
                }
            }
        }
        .instrument(span)
        .await
    }
}
