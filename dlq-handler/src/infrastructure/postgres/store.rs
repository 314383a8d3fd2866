//! [`PgPaymentsStore`]: the failure of one order in ONE transaction (processed-events row,
//! payment closed as FAILED, PaymentFailed outbox row), and the kept dead letters. No network
//! call inside the transaction: the `PaymentFailed` schema is registered before it opens.

use crate::application::ports::{
    FailOutcome, FailureToWrite, KeptDeadLetter, PaymentsStore, PortError,
};
use crate::domain::{PaymentState, idempotency_key};
use async_trait::async_trait;
use chrono::Utc;
use contracts::PaymentFailed;
use eventing::AvroCodec;
use eventing::outbox::{OutboxMessage, write_outbox};
use uuid::Uuid;

const SELECT_PAYMENT_STATE: &str = include_str!("sql/select_payment_state.sql");
const INSERT_PROCESSED_EVENT: &str = include_str!("sql/insert_processed_event.sql");
const CLOSE_PAYMENT: &str = include_str!("sql/close_payment.sql");
const INSERT_FAILED_PAYMENT: &str = include_str!("sql/insert_failed_payment.sql");
const KEEP_DEAD_LETTER: &str = include_str!("sql/keep_dead_letter.sql");
const COUNT_KEPT: &str = include_str!("sql/count_kept.sql");

#[derive(Clone)]
pub struct PgPaymentsStore {
    pool: deadpool_postgres::Pool,
    codec: AvroCodec,
    group: String,
}

impl std::fmt::Debug for PgPaymentsStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgPaymentsStore")
            .field("group", &self.group)
            .finish_non_exhaustive()
    }
}

/// A database failure with the server's own message (tokio-postgres' Display says only
/// "db error").
fn db(e: impl Into<DbFailure>) -> PortError {
    PortError::Database(e.into().0)
}

struct DbFailure(String);

impl From<tokio_postgres::Error> for DbFailure {
    fn from(e: tokio_postgres::Error) -> Self {
        DbFailure(e.as_db_error().map_or_else(
            || e.to_string(),
            |db| format!("{}: {}", db.code().code(), db.message()),
        ))
    }
}

impl From<deadpool_postgres::PoolError> for DbFailure {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        DbFailure(e.to_string())
    }
}

/// Headers as JSON: `[{"key": k, "utf8": v}]`, or `"hex"` for values that are not UTF-8 or
/// hold control characters (binary headers such as `kafka_dlt-original-offset` are big-endian
/// integers; a NUL cannot be stored in `jsonb` text).
fn headers_json(headers: &[(String, Vec<u8>)]) -> serde_json::Value {
    serde_json::Value::Array(
        headers
            .iter()
            .map(|(key, value)| match std::str::from_utf8(value) {
                Ok(text) if !text.chars().any(char::is_control) => {
                    serde_json::json!({"key": key, "utf8": text})
                }
                _ => serde_json::json!({
                    "key": key,
                    "hex": value.iter().map(|b| format!("{b:02x}")).collect::<String>()
                }),
            })
            .collect(),
    )
}

impl PgPaymentsStore {
    /// `group`: the consumer group whose processed-events rows this store writes.
    pub fn new(pool: deadpool_postgres::Pool, codec: AvroCodec, group: String) -> Self {
        Self { pool, codec, group }
    }

    /// Dead letters kept so far (for the gauge at start-up).
    pub async fn kept_count(&self) -> Result<i64, PortError> {
        let client = self.pool.get().await.map_err(db)?;
        let statement = client.prepare_cached(COUNT_KEPT).await.map_err(db)?;
        Ok(client.query_one(&statement, &[]).await.map_err(db)?.get(0))
    }
}

#[async_trait]
impl PaymentsStore for PgPaymentsStore {
    async fn payment_state(&self, order_id: Uuid) -> Result<PaymentState, PortError> {
        let client = self.pool.get().await.map_err(db)?;
        let statement = client
            .prepare_cached(SELECT_PAYMENT_STATE)
            .await
            .map_err(db)?;
        let Some(row) = client
            .query_opt(&statement, &[&order_id])
            .await
            .map_err(db)?
        else {
            return Ok(PaymentState::Missing);
        };
        let status: String = row.get(0);
        PaymentState::parse(&status, row.get(1)).ok_or_else(|| {
            PortError::Database(format!(
                "payment of order {order_id} has unknown status {status}"
            ))
        })
    }

    async fn fail_order(&self, failure: &FailureToWrite) -> Result<FailOutcome, PortError> {
        let order = &failure.order;
        let reason = failure.reason.symbol();
        // The one call that may need the network (the registry, until the id is cached) runs
        // before a connection is taken: inside the transaction the event is encoded with the
        // cached id only.
        self.codec
            .register::<PaymentFailed>()
            .await
            .map_err(|e| PortError::Encoding(e.to_string()))?;
        let mut client = self.pool.get().await.map_err(db)?;
        let tx = client.transaction().await.map_err(db)?;
        let processed = tx
            .prepare_cached(INSERT_PROCESSED_EVENT)
            .await
            .map_err(db)?;
        if tx
            .query_opt(&processed, &[&self.group, &order.event_id])
            .await
            .map_err(db)?
            .is_none()
        {
            return Ok(FailOutcome::AlreadyProcessed);
        }
        let close = tx.prepare_cached(CLOSE_PAYMENT).await.map_err(db)?;
        let mut payment_id: Option<Uuid> = tx
            .query_opt(&close, &[&order.order_id, &reason, &failure.detail])
            .await
            .map_err(db)?
            .map(|row| row.get(0));
        if payment_id.is_none() {
            let insert = tx.prepare_cached(INSERT_FAILED_PAYMENT).await.map_err(db)?;
            payment_id = tx
                .query_opt(
                    &insert,
                    &[
                        &Uuid::now_v7(),
                        &order.order_id,
                        &order.customer_id,
                        &order.total_amount,
                        &order.currency,
                        &idempotency_key(order.order_id),
                        &reason,
                        &failure.detail,
                    ],
                )
                .await
                .map_err(db)?
                .map(|row| row.get(0));
        }
        let Some(payment_id) = payment_id else {
            // A row exists and is not PENDING/EXPIRED: paid or failed meanwhile. Commit the
            // processed-events row: this dead letter is done.
            tx.commit().await.map_err(db)?;
            return Ok(FailOutcome::SettledMeanwhile);
        };
        let event = PaymentFailed {
            event_id: Uuid::now_v7(),
            occurred_at: Utc::now(),
            payment_id: Some(payment_id),
            order_id: order.order_id,
            customer_id: order.customer_id.clone(),
            amount: order.total_amount,
            currency: order.currency.clone(),
            reason: failure.reason,
            detail: failure.detail.clone(),
        };
        let message =
            OutboxMessage::encode_registered(&self.codec, &event, failure.traceparent.clone())
                .map_err(|e| PortError::Encoding(e.to_string()))?;
        write_outbox(&tx, &[message]).await.map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(FailOutcome::Failed { payment_id })
    }

    async fn keep(&self, kept: &KeptDeadLetter) -> Result<bool, PortError> {
        let client = self.pool.get().await.map_err(db)?;
        let statement = client.prepare_cached(KEEP_DEAD_LETTER).await.map_err(db)?;
        let inserted = client
            .query_opt(
                &statement,
                &[
                    &kept.topic,
                    &kept.partition,
                    &kept.offset,
                    &kept.cause,
                    &kept.detail,
                    &kept.dlq_reason,
                    &kept.order_id,
                    &kept.key,
                    &kept.value,
                    &headers_json(&kept.headers),
                ],
            )
            .await
            .map_err(db)?;
        Ok(inserted.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_and_control_character_headers_are_stored_as_hex() {
        let json = headers_json(&[
            ("reason".into(), b"expired".to_vec()),
            ("offset".into(), 7i64.to_be_bytes().to_vec()),
            ("bad".into(), vec![0xff, 0x00]),
        ]);
        assert_eq!(json[0]["utf8"], "expired");
        assert_eq!(
            json[1]["hex"], "0000000000000007",
            "valid UTF-8 with NULs is hex"
        );
        assert_eq!(json[2]["hex"], "ff00");
    }
}
