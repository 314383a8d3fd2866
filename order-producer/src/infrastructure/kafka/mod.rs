//! The payment-results consumer: Kafka records from `outbox.event.payment` → decoded
//! `PaymentCompleted` / `PaymentFailed` → [`OrderService::apply_payment_result`].
//!
//! The loop is the shared keyed runtime (`eventing::kafka::keyed`): records of one order (the
//! record key) are applied one at a time in offset order, different orders concurrently, and an
//! offset is committed only once every record before it finished — i.e. after the settlement
//! transaction (with its processed-events row) committed.
//!
//! No retry topics: this consumer's transient failures are outages (database or registry down),
//! which a retry topic would only turn into reordering. They are retried *in place* with
//! backoff ([`RetryPolicy::in_place`]), holding only that order's key and leaving the offset
//! unfinished. Permanent failures (undecodable bytes, unknown record type) go to the dead-letter
//! topic with Spring-style `kafka_dlt-*` and our `dlq.*` headers. No parking either: without
//! retry topics nothing can overtake a record. A crash between commit and offset commit
//! redelivers the record; the processed-events row makes that redelivery a no-op.

use crate::application::ports::{Clock, IdGenerator, OrderRepository};
use crate::application::{OrderService, PaymentResult, ServiceError};
use async_trait::async_trait;
use contracts::{AvroEvent, PaymentCompleted, PaymentFailed};
use eventing::kafka::keyed::{
    Delivery, KeyedConsumer, KeyedConsumerArgs, KeyedConsumerConfig, KeyedHandler, RetryPolicy,
};
use eventing::kafka::{ConsumedRecord, HandlerError, KafkaArgs};
use eventing::{AvroCodec, CodecError, ErrorKind};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Prefix of the consumer runtime's metrics (`…_records_total{outcome}`, `…_in_flight_records`…).
pub const CONSUMER_METRICS_PREFIX: &str = "order_producer_payment_consumer";

/// Decode a Confluent-framed payment result, dispatching on the writer's record name.
pub async fn decode_payment_result(
    codec: &AvroCodec,
    payload: &[u8],
) -> Result<PaymentResult, CodecError> {
    let name = codec.record_name(payload).await?;
    if name == PaymentCompleted::FULL_NAME {
        Ok(PaymentResult::Completed(codec.decode(payload).await?))
    } else if name == PaymentFailed::FULL_NAME {
        Ok(PaymentResult::Failed(codec.decode(payload).await?))
    } else {
        Err(CodecError::UnexpectedRecordType {
            writer: name,
            expected: format!(
                "{} or {}",
                PaymentCompleted::FULL_NAME,
                PaymentFailed::FULL_NAME
            ),
        })
    }
}

/// Handles one payment-result record.
pub struct PaymentResultHandler<R, C, G> {
    service: Arc<OrderService<R, C, G>>,
    codec: AvroCodec,
    consumer_group: String,
}

impl<R, C, G> std::fmt::Debug for PaymentResultHandler<R, C, G> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PaymentResultHandler")
            .field("consumer_group", &self.consumer_group)
            .finish_non_exhaustive()
    }
}

impl<R, C, G> PaymentResultHandler<R, C, G> {
    pub fn new(
        service: Arc<OrderService<R, C, G>>,
        codec: AvroCodec,
        consumer_group: impl Into<String>,
    ) -> Self {
        Self {
            service,
            codec,
            consumer_group: consumer_group.into(),
        }
    }
}

fn service_error_to_handler(err: ServiceError) -> HandlerError {
    if let ServiceError::OrderNotVisibleYet(_) = err {
        return HandlerError::transient("order_not_visible_yet", err.to_string());
    }
    match err.kind() {
        ErrorKind::Transient => HandlerError::transient("database_unavailable", err.to_string()),
        ErrorKind::Permanent => HandlerError::permanent("apply_failed", err.to_string()),
    }
}

#[async_trait]
impl<R, C, G> KeyedHandler for PaymentResultHandler<R, C, G>
where
    R: OrderRepository + 'static,
    C: Clock + 'static,
    G: IdGenerator + 'static,
{
    async fn handle(
        &self,
        record: &ConsumedRecord,
        _delivery: &Delivery,
    ) -> Result<(), HandlerError> {
        let payload = record.payload.as_deref().ok_or_else(|| {
            HandlerError::permanent("empty_payload", "record has no value (tombstone?)")
        })?;
        let result = decode_payment_result(&self.codec, payload).await?;
        let outcome = self
            .service
            .apply_payment_result(&self.consumer_group, &result)
            .await
            .map_err(service_error_to_handler)?;
        tracing::debug!(
            event_id = %result.event_id(),
            order_id = %result.order_id(),
            ?outcome,
            partition = record.partition,
            offset = record.offset,
            "payment result handled"
        );
        Ok(())
    }
}

/// Where the consumer reads and dead-letters.
#[derive(Debug, Clone)]
pub struct ConsumerSettings {
    pub kafka: KafkaArgs,
    pub group_id: String,
    pub topic: String,
    pub dead_letter_topic: String,
    /// Concurrency, revocation and commit settings of the runtime.
    pub runtime: KeyedConsumerArgs,
}

/// Consume payment results until `cancel` fires.
pub async fn run_payment_consumer<R, C, G>(
    settings: &ConsumerSettings,
    handler: PaymentResultHandler<R, C, G>,
    cancel: CancellationToken,
) -> Result<(), String>
where
    R: OrderRepository + 'static,
    C: Clock + 'static,
    G: IdGenerator + 'static,
{
    let config = KeyedConsumerConfig {
        group_id: settings.group_id.clone(),
        topics: vec![settings.topic.clone()],
        retry: RetryPolicy::in_place(),
        dead_letter_topic: settings.dead_letter_topic.clone(),
        args: settings.runtime.clone(),
        metrics_prefix: CONSUMER_METRICS_PREFIX.into(),
    };
    let runtime = KeyedConsumer::new(&settings.kafka, config, Arc::new(handler), None)
        .map_err(|e| format!("cannot create the payment-results consumer: {e}"))?;
    tracing::info!(
        topic = %settings.topic,
        group = %settings.group_id,
        dead_letter_topic = %settings.dead_letter_topic,
        max_in_flight = settings.runtime.max_in_flight,
        "payment-results consumer started"
    );
    runtime
        .run(cancel)
        .await
        .map_err(|e| format!("payment-results consumer failed: {e}"))
}
