//! [`PaymentGateway`] over HTTP (the payment gateway simulator's API, Stripe-style): `POST
//! /v1/charges` with an `Idempotency-Key` header; `GET /v1/ledger?idempotency_key=` to look a
//! charge up without charging.
//!
//! Classification from the wire, never from text: 201 → charged, 402 → declined (a business
//! answer, not an error); 5xx, 429, timeouts and refused or reset connections → transient
//! ([`GatewayError::Unavailable`]); any other 4xx → permanent ([`GatewayError::Rejected`]).
//! One `reqwest::Client` (a keep-alive connection pool) is shared by all in-flight payments.

use crate::application::GatewayError;
use crate::application::ports::PaymentGateway;
use crate::domain::{ChargeRequest, GatewayAnswer, GatewayIdempotencyKey};
use reqwest::StatusCode;
use serde::Deserialize;
use std::time::Duration;

/// The gateway's HTTP API.
#[derive(Debug, Clone)]
pub struct HttpPaymentGateway {
    client: reqwest::Client,
    charges_url: String,
    ledger_url: String,
}

#[derive(Debug, Deserialize)]
struct ChargeBody {
    charge_id: Option<String>,
    status: Option<String>,
    decline_code: Option<String>,
}

#[derive(Debug, Deserialize)]
struct LedgerBody {
    charges: Vec<ChargeBody>,
}

impl HttpPaymentGateway {
    /// `base_url` like `http://127.0.0.1:8090`; `timeout` bounds each whole request.
    pub fn new(
        base_url: &str,
        timeout: Duration,
        max_idle_connections: usize,
    ) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(2)))
            .pool_max_idle_per_host(max_idle_connections)
            .tcp_nodelay(true)
            .build()
            .map_err(|e| format!("cannot build the gateway HTTP client: {e}"))?;
        let base = base_url.trim_end_matches('/');
        Ok(Self {
            client,
            charges_url: format!("{base}/v1/charges"),
            ledger_url: format!("{base}/v1/ledger"),
        })
    }
}

fn transport_error(err: reqwest::Error) -> GatewayError {
    // timeouts, refused/reset connections, broken bodies: the request may not have arrived, or
    // its answer was lost. Repeating it with the same idempotency key is safe.
    GatewayError::Unavailable(format!("{err:#}"))
}

fn answer_from(body: ChargeBody) -> Result<GatewayAnswer, GatewayError> {
    match body.status.as_deref() {
        Some("succeeded") => Ok(GatewayAnswer::Charged {
            reference: body.charge_id.ok_or_else(|| {
                GatewayError::Unreadable("a succeeded charge without charge_id".into())
            })?,
        }),
        Some("declined") => Ok(GatewayAnswer::Declined {
            code: body.decline_code.unwrap_or_else(|| "declined".into()),
        }),
        other => Err(GatewayError::Unreadable(format!(
            "unknown charge status {other:?}"
        ))),
    }
}

async fn classify(response: reqwest::Response) -> Result<GatewayAnswer, GatewayError> {
    let status = response.status();
    if status == StatusCode::CREATED
        || status == StatusCode::OK
        || status == StatusCode::PAYMENT_REQUIRED
    {
        let body: ChargeBody = response.json().await.map_err(transport_error)?;
        return answer_from(body);
    }
    let text = response.text().await.unwrap_or_default();
    if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
        Err(GatewayError::Unavailable(format!("{status}: {text}")))
    } else {
        Err(GatewayError::Rejected {
            status: status.as_u16(),
            message: text,
        })
    }
}

impl PaymentGateway for HttpPaymentGateway {
    async fn charge(
        &self,
        request: &ChargeRequest,
        key: &GatewayIdempotencyKey,
    ) -> Result<GatewayAnswer, GatewayError> {
        let body = serde_json::json!({
            "order_id": request.order_id,
            "customer_id": request.customer_id,
            "amount": request.amount.to_string(),
            "currency": request.currency,
        });
        let response = self
            .client
            .post(&self.charges_url)
            .header("Idempotency-Key", key.as_str())
            .json(&body)
            .send()
            .await
            .map_err(transport_error)?;
        classify(response).await
    }

    async fn find_charge(
        &self,
        key: &GatewayIdempotencyKey,
    ) -> Result<Option<GatewayAnswer>, GatewayError> {
        let response = self
            .client
            .get(&self.ledger_url)
            .query(&[("idempotency_key", key.as_str())])
            .send()
            .await
            .map_err(transport_error)?;
        let status = response.status();
        if !status.is_success() {
            let text = response.text().await.unwrap_or_default();
            return Err(
                if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
                    GatewayError::Unavailable(format!("{status}: {text}"))
                } else {
                    GatewayError::Rejected {
                        status: status.as_u16(),
                        message: text,
                    }
                },
            );
        }
        let ledger: LedgerBody = response.json().await.map_err(transport_error)?;
        ledger
            .charges
            .into_iter()
            .next()
            .map(answer_from)
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_map_to_answers() {
        let ok = answer_from(ChargeBody {
            charge_id: Some("c1".into()),
            status: Some("succeeded".into()),
            decline_code: None,
        });
        assert_eq!(
            ok.expect("charged"),
            GatewayAnswer::Charged {
                reference: "c1".into()
            }
        );
        let declined = answer_from(ChargeBody {
            charge_id: Some("c2".into()),
            status: Some("declined".into()),
            decline_code: Some("card_declined".into()),
        });
        assert_eq!(
            declined.expect("declined"),
            GatewayAnswer::Declined {
                code: "card_declined".into()
            }
        );
        let odd = answer_from(ChargeBody {
            charge_id: None,
            status: Some("pending".into()),
            decline_code: None,
        });
        assert!(matches!(odd, Err(GatewayError::Unreadable(_))));
    }
}
