//! [`PgLedger`]: the ledger port on Postgres. A new charge costs one statement (`INSERT … ON
//! CONFLICT DO NOTHING RETURNING`); only a key that is already taken costs a read of the winner
//! and, for a true replay, an `UPDATE` of its replay counter.

use super::errors::{pg_error, pool_error};
use crate::application::{ChargeRecord, Ledger, LedgerError, LedgerSummary, NewCharge};
use crate::domain::{
    Amount, ChargeOutcome, ChargeParams, Currency, CustomerId, DeclineCode, IdempotencyKey,
};
use crate::infrastructure::metrics::observe_query;
use deadpool_postgres::Pool;
use rust_decimal::Decimal;
use std::time::Instant;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;
use uuid::Uuid;

const INSERT_CHARGE: &str = include_str!("sql/insert_charge.sql");
const SELECT_CHARGE_BY_KEY: &str = include_str!("sql/select_charge_by_key.sql");
const SELECT_CHARGES_BY_ORDER: &str = include_str!("sql/select_charges_by_order.sql");
const COUNT_REPLAY: &str = include_str!("sql/count_replay.sql");
const SELECT_SUMMARY: &str = include_str!("sql/select_summary.sql");

/// The Postgres ledger over a connection pool.
#[derive(Debug, Clone)]
pub struct PgLedger {
    pool: Pool,
}

impl PgLedger {
    pub fn new(pool: Pool) -> Self {
        Self { pool }
    }

    /// Run `sql` (prepared once per connection) and return its rows, recording duration and
    /// errors under `query`.
    async fn query(
        &self,
        query: &'static str,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, LedgerError> {
        let started = Instant::now();
        let outcome = async {
            let client = self.pool.get().await.map_err(pool_error)?;
            let statement = client.prepare_cached(sql).await.map_err(pg_error)?;
            client.query(&statement, params).await.map_err(pg_error)
        }
        .await;
        observe_query(query, started.elapsed(), outcome.is_ok());
        outcome
    }
}

fn corrupt(column: &str, detail: impl std::fmt::Display) -> LedgerError {
    LedgerError::Failed(format!("ledger row has an invalid {column}: {detail}"))
}

fn charge_from_row(row: &Row) -> Result<ChargeRecord, LedgerError> {
    let get_err = |e: tokio_postgres::Error| LedgerError::Failed(e.to_string());
    let key: String = row.try_get("idempotency_key").map_err(get_err)?;
    let customer: String = row.try_get("customer_id").map_err(get_err)?;
    let currency: String = row.try_get("currency").map_err(get_err)?;
    let amount: Decimal = row.try_get("amount").map_err(get_err)?;
    let status: String = row.try_get("status").map_err(get_err)?;
    let decline_code: Option<String> = row.try_get("decline_code").map_err(get_err)?;
    let outcome = match (status.as_str(), decline_code.as_deref()) {
        ("succeeded", None) => ChargeOutcome::Succeeded,
        ("declined", Some(code)) => ChargeOutcome::Declined(
            DeclineCode::parse(code).ok_or_else(|| corrupt("decline_code", code))?,
        ),
        (status, code) => return Err(corrupt("status", format!("{status} / {code:?}"))),
    };
    Ok(ChargeRecord {
        charge_id: row.try_get("charge_id").map_err(get_err)?,
        idempotency_key: IdempotencyKey::parse(&key).map_err(|e| corrupt("idempotency_key", e))?,
        params: ChargeParams {
            order_id: row.try_get("order_id").map_err(get_err)?,
            customer_id: CustomerId::parse(&customer).map_err(|e| corrupt("customer_id", e))?,
            amount: Amount::from_ledger(amount),
            currency: Currency::parse(&currency).map_err(|e| corrupt("currency", e))?,
        },
        outcome,
        created_at: row.try_get("created_at").map_err(get_err)?,
        replays: row.try_get("replays").map_err(get_err)?,
    })
}

impl Ledger for PgLedger {
    async fn insert_if_absent(
        &self,
        charge: &NewCharge,
    ) -> Result<Option<ChargeRecord>, LedgerError> {
        let amount = charge.params.amount.value();
        let decline_code = charge.outcome.decline_code().map(DeclineCode::as_str);
        let rows = self
            .query(
                "insert_charge",
                INSERT_CHARGE,
                &[
                    &charge.charge_id,
                    &charge.idempotency_key.as_str(),
                    &charge.params.order_id,
                    &charge.params.customer_id.as_str(),
                    &amount,
                    &charge.params.currency.as_str(),
                    &charge.outcome.status(),
                    &decline_code,
                ],
            )
            .await?;
        rows.first().map(charge_from_row).transpose()
    }

    async fn find_by_key(&self, key: &str) -> Result<Option<ChargeRecord>, LedgerError> {
        let rows = self
            .query("select_charge_by_key", SELECT_CHARGE_BY_KEY, &[&key])
            .await?;
        rows.first().map(charge_from_row).transpose()
    }

    async fn count_replay(&self, charge_id: Uuid) -> Result<Option<i64>, LedgerError> {
        let rows = self
            .query("count_replay", COUNT_REPLAY, &[&charge_id])
            .await?;
        rows.first()
            .map(|row| {
                row.try_get("replays")
                    .map_err(|e| LedgerError::Failed(e.to_string()))
            })
            .transpose()
    }

    async fn find_by_order(&self, order_id: Uuid) -> Result<Vec<ChargeRecord>, LedgerError> {
        let rows = self
            .query(
                "select_charges_by_order",
                SELECT_CHARGES_BY_ORDER,
                &[&order_id],
            )
            .await?;
        rows.iter().map(charge_from_row).collect()
    }

    async fn summary(&self) -> Result<LedgerSummary, LedgerError> {
        let rows = self.query("select_summary", SELECT_SUMMARY, &[]).await?;
        let row = rows
            .first()
            .ok_or_else(|| LedgerError::Failed("the summary query returned no row".into()))?;
        let get = |column: &str| -> Result<i64, LedgerError> {
            row.try_get(column)
                .map_err(|e| LedgerError::Failed(e.to_string()))
        };
        Ok(LedgerSummary {
            charges: get("charges")?,
            succeeded: get("succeeded")?,
            declined: get("declined")?,
            orders_charged: get("orders_charged")?,
            orders_charged_more_than_once: get("orders_charged_more_than_once")?,
            replays: get("replays")?,
        })
    }

    async fn ping(&self) -> Result<(), LedgerError> {
        let client = self.pool.get().await.map_err(pool_error)?;
        client.simple_query("SELECT 1").await.map_err(pg_error)?;
        Ok(())
    }
}
