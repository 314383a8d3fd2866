//! JSON shapes of the API.

use crate::application::{ChargeRecord, LedgerSummary};
use chrono::SecondsFormat;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// `POST /v1/charges` body. Fields are strings so that the domain validates (and names) them.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChargeBody {
    pub order_id: String,
    pub customer_id: String,
    /// Decimal string, e.g. `"12.50"`.
    pub amount: String,
    pub currency: String,
}

/// A charge answer: 201 when succeeded, 402 when declined.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChargeResponse {
    pub charge_id: Uuid,
    /// `succeeded` or `declined`.
    pub status: String,
    /// `card_declined` or `insufficient_funds`; only present when declined.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decline_code: Option<String>,
    pub order_id: Uuid,
    pub amount: String,
    pub currency: String,
    pub idempotency_key: String,
    /// RFC 3339, UTC, microseconds.
    pub created_at: String,
    /// True when this answer replays an earlier request with the same key.
    pub replayed: bool,
}

impl ChargeResponse {
    pub fn new(record: &ChargeRecord, replayed: bool) -> Self {
        Self {
            charge_id: record.charge_id,
            status: record.outcome.status().to_owned(),
            decline_code: record
                .outcome
                .decline_code()
                .map(|code| code.as_str().to_owned()),
            order_id: record.params.order_id,
            amount: record.params.amount.to_string(),
            currency: record.params.currency.as_str().to_owned(),
            idempotency_key: record.idempotency_key.as_str().to_owned(),
            created_at: record
                .created_at
                .to_rfc3339_opts(SecondsFormat::Micros, true),
            replayed,
        }
    }
}

/// `GET /v1/ledger` query: exactly one of the two.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LedgerQuery {
    pub order_id: Option<String>,
    pub idempotency_key: Option<String>,
}

/// One ledger row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LedgerEntry {
    pub charge_id: Uuid,
    pub idempotency_key: String,
    pub order_id: Uuid,
    pub customer_id: String,
    pub amount: String,
    pub currency: String,
    pub status: String,
    pub decline_code: Option<String>,
    pub created_at: String,
    pub replays: i64,
}

impl From<&ChargeRecord> for LedgerEntry {
    fn from(record: &ChargeRecord) -> Self {
        Self {
            charge_id: record.charge_id,
            idempotency_key: record.idempotency_key.as_str().to_owned(),
            order_id: record.params.order_id,
            customer_id: record.params.customer_id.as_str().to_owned(),
            amount: record.params.amount.to_string(),
            currency: record.params.currency.as_str().to_owned(),
            status: record.outcome.status().to_owned(),
            decline_code: record
                .outcome
                .decline_code()
                .map(|code| code.as_str().to_owned()),
            created_at: record
                .created_at
                .to_rfc3339_opts(SecondsFormat::Micros, true),
            replays: record.replays,
        }
    }
}

/// `GET /v1/ledger` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LedgerEntries {
    pub charges: Vec<LedgerEntry>,
}

/// `GET /v1/ledger/summary` answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SummaryResponse {
    pub charges: i64,
    pub succeeded: i64,
    pub declined: i64,
    pub orders_charged: i64,
    pub orders_charged_more_than_once: i64,
    pub replays: i64,
}

impl From<LedgerSummary> for SummaryResponse {
    fn from(s: LedgerSummary) -> Self {
        Self {
            charges: s.charges,
            succeeded: s.succeeded,
            declined: s.declined,
            orders_charged: s.orders_charged,
            orders_charged_more_than_once: s.orders_charged_more_than_once,
            replays: s.replays,
        }
    }
}
