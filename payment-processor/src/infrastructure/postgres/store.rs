//! [`PaymentStore`] on Postgres. Step (a) is one statement in autocommit; step (c) is one
//! transaction of three statements. The result event is encoded (which may ask the registry)
//! BEFORE the transaction opens: no network call inside an open transaction.

use crate::application::StoreError;
use crate::application::ports::{BegunPayment, PaymentStore};
use crate::domain::{ChargeRequest, GatewayIdempotencyKey, Payment, PaymentStatus, Settlement};
use contracts::ErrorKind;
use deadpool_postgres::{Pool, PoolError};
use eventing::AvroCodec;
use eventing::outbox::{OutboxMessage, write_outbox};
use service_kit::postgres::{pg_error_kind, pool_error_kind};
use uuid::Uuid;

const BEGIN_PAYMENT: &str = include_str!("sql/begin_payment.sql");
const SETTLE_PAYMENT: &str = include_str!("sql/settle_payment.sql");
const EXPIRE_PAYMENT: &str = include_str!("sql/expire_payment.sql");
const INSERT_PROCESSED_EVENT: &str = include_str!("sql/insert_processed_event.sql");

/// The payments database as the use case's store.
#[derive(Clone)]
pub struct PgPaymentStore {
    pool: Pool,
    codec: AvroCodec,
    consumer_group: String,
}

impl std::fmt::Debug for PgPaymentStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgPaymentStore")
            .field("consumer_group", &self.consumer_group)
            .finish_non_exhaustive()
    }
}

/// The columns step (c) writes for one payment.
#[derive(Debug, Clone)]
pub(super) struct SettlementRow {
    pub(super) payment_id: Uuid,
    pub(super) status: &'static str,
    pub(super) gateway_reference: Option<String>,
    pub(super) failure_reason: Option<&'static str>,
    pub(super) failure_detail: Option<String>,
    pub(super) event_id: Uuid,
}

impl SettlementRow {
    pub(super) fn new(payment_id: Uuid, settlement: &Settlement, event_id: Uuid) -> Self {
        let (failure_reason, failure_detail) = match settlement.failure() {
            Some((reason, detail)) => (Some(reason), Some(detail.to_string())),
            None => (None, None),
        };
        Self {
            payment_id,
            status: settlement.status().as_str(),
            gateway_reference: settlement.gateway_reference().map(str::to_string),
            failure_reason,
            failure_detail,
            event_id,
        }
    }
}

pub(super) fn pg_error(err: tokio_postgres::Error) -> StoreError {
    match pg_error_kind(&err) {
        ErrorKind::Transient => StoreError::Unavailable(err.to_string()),
        ErrorKind::Permanent => StoreError::Rejected(err.to_string()),
    }
}

pub(super) fn pool_error(err: PoolError) -> StoreError {
    match pool_error_kind(&err) {
        ErrorKind::Transient => StoreError::Unavailable(err.to_string()),
        ErrorKind::Permanent => StoreError::Rejected(err.to_string()),
    }
}

impl PgPaymentStore {
    pub fn new(pool: Pool, codec: AvroCodec, consumer_group: impl Into<String>) -> Self {
        Self {
            pool,
            codec,
            consumer_group: consumer_group.into(),
        }
    }

    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Step (c) for one payment whose result event is already encoded.
    pub(super) async fn settle_encoded(
        &self,
        row: &SettlementRow,
        message: &OutboxMessage,
    ) -> Result<bool, StoreError> {
        let mut client = self.pool.get().await.map_err(pool_error)?;
        let tx = client.transaction().await.map_err(pg_error)?;
        let update = tx.prepare_cached(SETTLE_PAYMENT).await.map_err(pg_error)?;
        let moved = tx
            .query_opt(
                &update,
                &[
                    &row.payment_id,
                    &row.status,
                    &row.gateway_reference,
                    &row.failure_reason,
                    &row.failure_detail,
                ],
            )
            .await
            .map_err(pg_error)?
            .is_some();
        if moved {
            write_outbox(&tx, std::slice::from_ref(message))
                .await
                .map_err(pg_error)?;
        }
        let processed = tx
            .prepare_cached(INSERT_PROCESSED_EVENT)
            .await
            .map_err(pg_error)?;
        tx.execute(&processed, &[&self.consumer_group, &row.event_id])
            .await
            .map_err(pg_error)?;
        tx.commit().await.map_err(pg_error)?;
        Ok(moved)
    }

    pub(super) fn consumer_group(&self) -> &str {
        &self.consumer_group
    }

    /// Encode the result event (may ask the registry: never inside a transaction).
    pub(super) async fn encode(
        &self,
        settlement: &Settlement,
        traceparent: Option<&str>,
    ) -> Result<OutboxMessage, StoreError> {
        let traceparent = traceparent.map(str::to_string);
        Ok(match settlement {
            Settlement::Completed(e) => OutboxMessage::encode(&self.codec, e, traceparent).await?,
            Settlement::Declined(e) => OutboxMessage::encode(&self.codec, e, traceparent).await?,
        })
    }
}

pub(super) fn payment_from_row(
    row: &tokio_postgres::Row,
    counted: bool,
) -> Result<Payment, StoreError> {
    let corrupt = |e: tokio_postgres::Error| StoreError::Corrupt(e.to_string());
    let status: String = row.try_get("status").map_err(corrupt)?;
    let status = PaymentStatus::parse(&status)
        .ok_or_else(|| StoreError::Corrupt(format!("unknown payment status `{status}`")))?;
    let attempts: i32 = row.try_get("attempts").map_err(corrupt)?;
    let order_id: Uuid = row.try_get("order_id").map_err(corrupt)?;
    let key: String = row.try_get("idempotency_key").map_err(corrupt)?;
    let expected = GatewayIdempotencyKey::for_order(order_id);
    if key != expected.as_str() {
        return Err(StoreError::Corrupt(format!(
            "payment of order {order_id} has idempotency key `{key}`, expected `{}`",
            expected.as_str()
        )));
    }
    let currency: String = row.try_get("currency").map_err(corrupt)?;
    Ok(Payment {
        payment_id: row.try_get("payment_id").map_err(corrupt)?,
        order_id,
        customer_id: row.try_get("customer_id").map_err(corrupt)?,
        amount: row.try_get("amount").map_err(corrupt)?,
        currency: currency.trim_end().to_string(),
        status,
        idempotency_key: expected,
        attempts_before: attempts - i32::from(counted && status == PaymentStatus::Pending),
        gateway_reference: row.try_get("gateway_reference").map_err(corrupt)?,
        created_at: row.try_get("created_at").map_err(corrupt)?,
    })
}

impl PaymentStore for PgPaymentStore {
    async fn begin_payment(
        &self,
        request: &ChargeRequest,
        key: &GatewayIdempotencyKey,
        new_payment_id: Uuid,
        event_id: Uuid,
        counts_as_attempt: bool,
    ) -> Result<BegunPayment, StoreError> {
        let client = self.pool.get().await.map_err(pool_error)?;
        let statement = client
            .prepare_cached(BEGIN_PAYMENT)
            .await
            .map_err(pg_error)?;
        let row = client
            .query_one(
                &statement,
                &[
                    &new_payment_id,
                    &request.order_id,
                    &request.customer_id,
                    &request.amount,
                    &request.currency,
                    &key.as_str(),
                    &counts_as_attempt,
                    &self.consumer_group,
                    &event_id,
                ],
            )
            .await
            .map_err(pg_error)?;
        Ok(BegunPayment {
            payment: payment_from_row(&row, counts_as_attempt)?,
            event_already_processed: row
                .try_get("processed")
                .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        })
    }

    async fn settle(
        &self,
        payment_id: Uuid,
        settlement: &Settlement,
        event_id: Uuid,
        traceparent: Option<&str>,
    ) -> Result<bool, StoreError> {
        let row = SettlementRow::new(payment_id, settlement, event_id);
        let message = self.encode(settlement, traceparent).await?;
        self.settle_encoded(&row, &message).await
    }

    async fn expire(&self, payment_id: Uuid) -> Result<(), StoreError> {
        let client = self.pool.get().await.map_err(pool_error)?;
        let statement = client
            .prepare_cached(EXPIRE_PAYMENT)
            .await
            .map_err(pg_error)?;
        client
            .execute(&statement, &[&payment_id])
            .await
            .map_err(pg_error)?;
        Ok(())
    }

    async fn mark_processed(&self, event_id: Uuid) -> Result<(), StoreError> {
        let client = self.pool.get().await.map_err(pool_error)?;
        let statement = client
            .prepare_cached(INSERT_PROCESSED_EVENT)
            .await
            .map_err(pg_error)?;
        client
            .execute(&statement, &[&self.consumer_group, &event_id])
            .await
            .map_err(pg_error)?;
        Ok(())
    }
}
