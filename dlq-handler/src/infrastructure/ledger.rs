//! [`HttpChargeLedger`]: `GET {gateway}/v1/ledger?idempotency_key=` — what the gateway recorded
//! for a key. Classified from status codes and fields, never from text; every failure is
//! retried by the caller (a dead letter is never decided on an unknown ledger).

use crate::application::ports::{ChargeLedger, PortError};
use crate::domain::LedgerAnswer;
use async_trait::async_trait;
use serde::Deserialize;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct HttpChargeLedger {
    client: reqwest::Client,
    ledger_url: String,
}

#[derive(Debug, Deserialize)]
struct LedgerBody {
    charges: Vec<ChargeBody>,
}

#[derive(Debug, Deserialize)]
struct ChargeBody {
    status: Option<String>,
}

impl HttpChargeLedger {
    pub fn new(base_url: &str, timeout: Duration) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| format!("cannot build the gateway HTTP client: {e}"))?;
        Ok(Self {
            client,
            ledger_url: format!("{}/v1/ledger", base_url.trim_end_matches('/')),
        })
    }
}

fn answer(body: LedgerBody) -> Result<LedgerAnswer, PortError> {
    let Some(charge) = body.charges.into_iter().next() else {
        return Ok(LedgerAnswer::NotCharged);
    };
    match charge.status.as_deref() {
        Some("succeeded") => Ok(LedgerAnswer::Charged),
        Some("declined") => Ok(LedgerAnswer::Declined),
        other => Err(PortError::Ledger(format!(
            "ledger charge with unknown status {other:?}"
        ))),
    }
}

#[async_trait]
impl ChargeLedger for HttpChargeLedger {
    async fn look_up(&self, idempotency_key: &str) -> Result<LedgerAnswer, PortError> {
        let response = self
            .client
            .get(&self.ledger_url)
            .query(&[("idempotency_key", idempotency_key)])
            .send()
            .await
            .map_err(|e| PortError::Ledger(e.to_string()))?;
        let status = response.status();
        if !status.is_success() {
            return Err(PortError::Ledger(format!("ledger answered {status}")));
        }
        answer(
            response
                .json()
                .await
                .map_err(|e| PortError::Ledger(e.to_string()))?,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(statuses: &[&str]) -> LedgerBody {
        LedgerBody {
            charges: statuses
                .iter()
                .map(|s| ChargeBody {
                    status: Some((*s).to_string()),
                })
                .collect(),
        }
    }

    #[test]
    fn ledger_bodies_map_to_answers() {
        assert_eq!(answer(body(&[])).unwrap(), LedgerAnswer::NotCharged);
        assert_eq!(answer(body(&["succeeded"])).unwrap(), LedgerAnswer::Charged);
        assert_eq!(answer(body(&["declined"])).unwrap(), LedgerAnswer::Declined);
        assert!(
            answer(body(&["refunded"])).is_err(),
            "unknown is not guessed"
        );
    }
}
