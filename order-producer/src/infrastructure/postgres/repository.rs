//! The order repository over deadpool-postgres: a session is a pooled connection, a unit of work
//! is a transaction on it (rolled back when dropped uncommitted).

use super::errors::{pg_error, pool_error};
use crate::application::ports::{
    IdempotencyClaim, IgnoredResult, OrderRepository, OutboxPort, RepositorySession, UnitOfWork,
};
use crate::application::views::{OrderItemView, OrderView, StatusHistoryEntry};
use crate::application::{PlacedOrder, StoreError};
use crate::domain::{
    Currency, CustomerId, Order, OrderLine, OrderStatus, Quantity, Sku, StatusChange, UnitPrice,
};
use chrono::{DateTime, Utc};
use contracts::OrderCreated;
use deadpool_postgres::{GenericClient, Object, Pool, Transaction};
use rust_decimal::Decimal;
use std::sync::Arc;
use tokio_postgres::Row;
use uuid::Uuid;

const INSERT_ORDER: &str = include_str!("sql/insert_order.sql");
const INSERT_ORDER_ITEMS: &str = include_str!("sql/insert_order_items.sql");
const INSERT_STATUS_HISTORY: &str = include_str!("sql/insert_status_history.sql");
const CLAIM_IDEMPOTENCY_KEY: &str = include_str!("sql/claim_idempotency_key.sql");
const SELECT_IDEMPOTENCY_KEY: &str = include_str!("sql/select_idempotency_key.sql");
const DELETE_EXPIRED_IDEMPOTENCY_KEYS: &str =
    include_str!("sql/delete_expired_idempotency_keys.sql");
const STORE_IDEMPOTENT_RESPONSE: &str = include_str!("sql/store_idempotent_response.sql");
const SELECT_ORDER: &str = include_str!("sql/select_order.sql");
const SELECT_ORDER_FOR_UPDATE: &str = include_str!("sql/select_order_for_update.sql");
const SELECT_ORDER_ITEMS: &str = include_str!("sql/select_order_items.sql");
const SELECT_STATUS_HISTORY: &str = include_str!("sql/select_status_history.sql");
const UPDATE_ORDER_STATUS: &str = include_str!("sql/update_order_status.sql");
const INSERT_PROCESSED_EVENT: &str = include_str!("sql/insert_processed_event.sql");
const INSERT_IGNORED_RESULT: &str = include_str!("sql/insert_ignored_result.sql");

/// HTTP status stored with an idempotent response (the only response we store: created).
const CREATED_STATUS: i32 = 201;

/// Orders in Postgres; outbox rows through the outbox port `W`.
#[derive(Debug)]
pub struct PgOrderRepository<W> {
    pool: Pool,
    outbox: Arc<W>,
}

impl<W> PgOrderRepository<W> {
    pub fn new(pool: Pool, outbox: W) -> Self {
        Self {
            pool,
            outbox: Arc::new(outbox),
        }
    }
    pub fn pool(&self) -> &Pool {
        &self.pool
    }
}

impl<W> OrderRepository for PgOrderRepository<W>
where
    W: for<'t> OutboxPort<Transaction<'t>>,
{
    type Session = PgSession<W>;

    async fn session(&self) -> Result<PgSession<W>, StoreError> {
        let client = self.pool.get().await.map_err(pool_error)?;
        Ok(PgSession {
            client,
            outbox: Arc::clone(&self.outbox),
        })
    }

    async fn prepare_outbox(&self) -> Result<(), StoreError> {
        // Any outbox port will do: `prepare` needs no transaction.
        <W as OutboxPort<Transaction<'static>>>::prepare(&self.outbox).await
    }
}

/// One pooled connection.
#[derive(Debug)]
pub struct PgSession<W> {
    client: Object,
    outbox: Arc<W>,
}

impl<W> RepositorySession for PgSession<W>
where
    W: for<'t> OutboxPort<Transaction<'t>>,
{
    type UnitOfWork<'a>
        = PgUnitOfWork<'a, W>
    where
        Self: 'a;

    async fn begin(&mut self) -> Result<PgUnitOfWork<'_, W>, StoreError> {
        let tx = self.client.transaction().await.map_err(pg_error)?;
        Ok(PgUnitOfWork {
            tx,
            outbox: &self.outbox,
        })
    }

    async fn find_order_view(&mut self, order_id: Uuid) -> Result<Option<OrderView>, StoreError> {
        // One snapshot for the three reads.
        let tx = self
            .client
            .build_transaction()
            .read_only(true)
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .start()
            .await
            .map_err(pg_error)?;
        let Some(row) = query_opt(&tx, SELECT_ORDER, &[&order_id]).await? else {
            return Ok(None);
        };
        let lines = load_lines(&tx, order_id).await?;
        let history = query(&tx, SELECT_STATUS_HISTORY, &[&order_id])
            .await?
            .iter()
            .map(|r| {
                Ok(StatusHistoryEntry {
                    from_status: r.try_get(0).map_err(pg_error)?,
                    to_status: r.try_get(1).map_err(pg_error)?,
                    reason: r.try_get(2).map_err(pg_error)?,
                    event_id: r.try_get(3).map_err(pg_error)?,
                    occurred_at: r.try_get(4).map_err(pg_error)?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        tx.commit().await.map_err(pg_error)?;
        let order = row_to_order(&row, lines)?;
        Ok(Some(OrderView {
            id: order.id(),
            customer_id: order.customer_id().as_str().to_string(),
            currency: order.currency().as_str().to_string(),
            total_amount: order.total(),
            status: order.status().as_str().to_string(),
            payment_id: order.payment_id(),
            created_at: order.created_at(),
            updated_at: order.updated_at(),
            items: order
                .lines()
                .iter()
                .map(|line| OrderItemView {
                    sku: line.sku.as_str().to_string(),
                    quantity: line.quantity.get(),
                    unit_price: line.unit_price.get(),
                    line_total: line.line_total(),
                })
                .collect(),
            status_history: history,
        }))
    }

    async fn ping(&mut self) -> Result<(), StoreError> {
        self.client
            .simple_query("SELECT 1")
            .await
            .map(|_| ())
            .map_err(pg_error)
    }

    async fn delete_expired_idempotency_keys(
        &mut self,
        expired_before: DateTime<Utc>,
        limit: u32,
    ) -> Result<u64, StoreError> {
        execute(
            &self.client,
            DELETE_EXPIRED_IDEMPOTENCY_KEYS,
            &[&expired_before, &i64::from(limit)],
        )
        .await
    }
}

/// One open transaction.
#[derive(Debug)]
pub struct PgUnitOfWork<'a, W> {
    tx: Transaction<'a>,
    outbox: &'a W,
}

impl<'a, W> PgUnitOfWork<'a, W> {
    /// The underlying transaction (tests and ad-hoc adapters).
    pub fn transaction(&self) -> &Transaction<'a> {
        &self.tx
    }
}

async fn query(
    client: &impl GenericClient,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<Vec<Row>, StoreError> {
    let statement = client.prepare_cached(sql).await.map_err(pg_error)?;
    client.query(&statement, params).await.map_err(pg_error)
}

async fn query_opt(
    client: &impl GenericClient,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<Option<Row>, StoreError> {
    let statement = client.prepare_cached(sql).await.map_err(pg_error)?;
    client.query_opt(&statement, params).await.map_err(pg_error)
}

async fn execute(
    client: &impl GenericClient,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<u64, StoreError> {
    let statement = client.prepare_cached(sql).await.map_err(pg_error)?;
    client.execute(&statement, params).await.map_err(pg_error)
}

fn corrupt(what: &str, err: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {err}"))
}

async fn load_lines(
    client: &impl GenericClient,
    order_id: Uuid,
) -> Result<Vec<OrderLine>, StoreError> {
    query(client, SELECT_ORDER_ITEMS, &[&order_id])
        .await?
        .iter()
        .map(|r| {
            let sku: String = r.try_get(0).map_err(pg_error)?;
            let quantity: i32 = r.try_get(1).map_err(pg_error)?;
            let unit_price: Decimal = r.try_get(2).map_err(pg_error)?;
            Ok(OrderLine {
                sku: Sku::parse("sku", &sku).map_err(|e| corrupt("order_items.sku", e))?,
                quantity: Quantity::new("quantity", quantity.into())
                    .map_err(|e| corrupt("order_items.quantity", e))?,
                unit_price: UnitPrice::new("unit_price", unit_price)
                    .map_err(|e| corrupt("order_items.unit_price", e))?,
            })
        })
        .collect()
}

/// Columns of `select_order*.sql` → the aggregate.
fn row_to_order(row: &Row, lines: Vec<OrderLine>) -> Result<Order, StoreError> {
    let customer_id: String = row.try_get(1).map_err(pg_error)?;
    let currency: String = row.try_get(2).map_err(pg_error)?;
    let status: String = row.try_get(4).map_err(pg_error)?;
    let created_at: DateTime<Utc> = row.try_get(6).map_err(pg_error)?;
    let updated_at: DateTime<Utc> = row.try_get(7).map_err(pg_error)?;
    Ok(Order::restore(
        row.try_get(0).map_err(pg_error)?,
        CustomerId::parse("customer_id", &customer_id)
            .map_err(|e| corrupt("orders.customer_id", e))?,
        Currency::parse("currency", currency.trim()).map_err(|e| corrupt("orders.currency", e))?,
        lines,
        row.try_get(3).map_err(pg_error)?,
        status
            .parse::<OrderStatus>()
            .map_err(|e| corrupt("orders.status", e))?,
        row.try_get(5).map_err(pg_error)?,
        created_at,
        updated_at,
    ))
}

impl<W> UnitOfWork for PgUnitOfWork<'_, W>
where
    W: for<'t> OutboxPort<Transaction<'t>>,
{
    async fn claim_idempotency_key(
        &mut self,
        key: &str,
        request_hash: &str,
        at: DateTime<Utc>,
        expired_before: DateTime<Utc>,
    ) -> Result<IdempotencyClaim, StoreError> {
        // A concurrent transaction holding the same key makes this INSERT wait for its outcome.
        // Inserted, or an expired row taken over: ours. Otherwise the live row is locked by us.
        let claimed = execute(
            &self.tx,
            CLAIM_IDEMPOTENCY_KEY,
            &[&key, &request_hash, &at, &expired_before],
        )
        .await?;
        if claimed == 1 {
            return Ok(IdempotencyClaim::Claimed);
        }
        let row = query_opt(&self.tx, SELECT_IDEMPOTENCY_KEY, &[&key])
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("idempotency key {key} vanished")))?;
        let request_hash: String = row.try_get(0).map_err(pg_error)?;
        let response: Option<serde_json::Value> = row.try_get(1).map_err(pg_error)?;
        let response = response
            .ok_or_else(|| StoreError::Corrupt(format!("idempotency key {key} has no response")))
            .and_then(|json| {
                serde_json::from_value::<PlacedOrder>(json)
                    .map_err(|e| corrupt("idempotency_keys.response", e))
            })?;
        Ok(IdempotencyClaim::Existing {
            request_hash,
            response,
        })
    }

    async fn store_idempotent_response(
        &mut self,
        key: &str,
        response: &PlacedOrder,
    ) -> Result<(), StoreError> {
        let json = serde_json::to_value(response).map_err(|e| corrupt("response", e))?;
        execute(
            &self.tx,
            STORE_IDEMPOTENT_RESPONSE,
            &[&key, &CREATED_STATUS, &json, &response.order_id],
        )
        .await?;
        Ok(())
    }

    async fn insert_order(&mut self, order: &Order) -> Result<(), StoreError> {
        let status = order.status().as_str();
        execute(
            &self.tx,
            INSERT_ORDER,
            &[
                &order.id(),
                &order.customer_id().as_str(),
                &order.currency().as_str(),
                &order.total(),
                &status,
                &order.payment_id(),
                &order.created_at(),
                &order.updated_at(),
            ],
        )
        .await?;
        let lines = order.lines();
        let line_numbers: Vec<i32> = (1..).take(lines.len()).collect();
        let skus: Vec<&str> = lines.iter().map(|l| l.sku.as_str()).collect();
        let quantities: Vec<i32> = lines.iter().map(|l| l.quantity.get()).collect();
        let prices: Vec<Decimal> = lines.iter().map(|l| l.unit_price.get()).collect();
        execute(
            &self.tx,
            INSERT_ORDER_ITEMS,
            &[&order.id(), &line_numbers, &skus, &quantities, &prices],
        )
        .await?;
        let no_status: Option<&str> = None;
        let no_reason: Option<&str> = None;
        let event_id = order.pending_events().first().map(|e| e.event_id);
        execute(
            &self.tx,
            INSERT_STATUS_HISTORY,
            &[
                &order.id(),
                &no_status,
                &status,
                &no_reason,
                &event_id,
                &order.created_at(),
            ],
        )
        .await?;
        Ok(())
    }

    async fn append_outbox(
        &mut self,
        events: &[OrderCreated],
        traceparent: &str,
    ) -> Result<(), StoreError> {
        self.outbox.append(&self.tx, events, traceparent).await
    }

    async fn load_order_for_update(&mut self, order_id: Uuid) -> Result<Option<Order>, StoreError> {
        let Some(row) = query_opt(&self.tx, SELECT_ORDER_FOR_UPDATE, &[&order_id]).await? else {
            return Ok(None);
        };
        let lines = load_lines(&self.tx, order_id).await?;
        row_to_order(&row, lines).map(Some)
    }

    async fn save_status_change(
        &mut self,
        order: &Order,
        change: &StatusChange,
        caused_by: Uuid,
    ) -> Result<(), StoreError> {
        let updated = execute(
            &self.tx,
            UPDATE_ORDER_STATUS,
            &[
                &order.id(),
                &change.to.as_str(),
                &order.payment_id(),
                &change.at,
                &change.from.as_str(),
            ],
        )
        .await?;
        if updated != 1 {
            return Err(StoreError::Rejected(format!(
                "order {} was not in status {} any more",
                order.id(),
                change.from
            )));
        }
        execute(
            &self.tx,
            INSERT_STATUS_HISTORY,
            &[
                &order.id(),
                &Some(change.from.as_str()),
                &change.to.as_str(),
                &change.reason,
                &Some(caused_by),
                &change.at,
            ],
        )
        .await?;
        Ok(())
    }

    async fn mark_event_processed(
        &mut self,
        consumer_group: &str,
        event_id: Uuid,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        Ok(execute(
            &self.tx,
            INSERT_PROCESSED_EVENT,
            &[&consumer_group, &event_id, &at],
        )
        .await?
            == 1)
    }

    async fn record_ignored_result(
        &mut self,
        ignored: &IgnoredResult<'_>,
    ) -> Result<(), StoreError> {
        execute(
            &self.tx,
            INSERT_IGNORED_RESULT,
            &[
                &ignored.consumer_group,
                &ignored.event_id,
                &ignored.event_type,
                &ignored.order_id,
                &ignored.reason,
                &ignored.detail,
                &ignored.received_at,
            ],
        )
        .await?;
        Ok(())
    }

    async fn commit(self) -> Result<(), StoreError> {
        self.tx.commit().await.map_err(pg_error)
    }
}
