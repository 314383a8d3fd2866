//! [`DeadLetterService`]: decide (domain), ask the ledger when the gateway may have charged
//! (no transaction open), then fail the order in one transaction — or keep the dead letter.

use super::ports::{
    ChargeLedger, FailOutcome, FailureToWrite, KeptDeadLetter, PaymentsStore, PortError,
};
use crate::domain::{Decision, decide, failure_reason, idempotency_key};
use contracts::OrderCreated;
use std::sync::Arc;

/// One dead-letter record, as read from the topic.
#[derive(Debug, Clone)]
pub enum DeadLetter {
    /// The `OrderCreated` could be read.
    Readable {
        order: Box<OrderCreated>,
        /// The `dlq.reason` header.
        reason: Option<String>,
        /// What failed last (`kafka_dlt-exception-message`), for the failure's detail.
        detail: Option<String>,
        traceparent: Option<String>,
        /// Where the record is, for keeping it.
        kept: KeptDeadLetter,
    },
    /// The order id cannot be read: kept, never dropped.
    Unreadable(KeptDeadLetter),
}

/// What handling a dead letter did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handled {
    Failed,
    AlreadySettled(&'static str),
    Duplicate,
    Kept { newly: bool },
}

impl Handled {
    pub fn label(self) -> &'static str {
        match self {
            Handled::Failed => "failed",
            Handled::AlreadySettled(_) => "already_settled",
            Handled::Duplicate => "duplicate",
            Handled::Kept { .. } => "kept",
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct ServiceError(#[from] pub PortError);

pub struct DeadLetterService {
    store: Arc<dyn PaymentsStore>,
    ledger: Arc<dyn ChargeLedger>,
}

impl std::fmt::Debug for DeadLetterService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeadLetterService").finish_non_exhaustive()
    }
}

impl DeadLetterService {
    pub fn new(store: Arc<dyn PaymentsStore>, ledger: Arc<dyn ChargeLedger>) -> Self {
        Self { store, ledger }
    }

    pub async fn handle(&self, dead_letter: DeadLetter) -> Result<Handled, ServiceError> {
        let (order, reason, detail, traceparent, mut kept) = match dead_letter {
            DeadLetter::Unreadable(kept) => {
                let newly = self.store.keep(&kept).await?;
                return Ok(Handled::Kept { newly });
            }
            DeadLetter::Readable {
                order,
                reason,
                detail,
                traceparent,
                kept,
            } => (order, reason, detail, traceparent, kept),
        };
        let state = self.store.payment_state(order.order_id).await?;
        let mut decision = decide(state, None);
        if decision == Decision::AskLedger {
            let answer = self
                .ledger
                .look_up(&idempotency_key(order.order_id))
                .await?;
            decision = decide(state, Some(answer));
        }
        match decision {
            Decision::AlreadySettled(why) => Ok(Handled::AlreadySettled(why)),
            Decision::KeepCharged => {
                kept.cause = "charged_at_gateway";
                kept.detail = format!(
                    "order {} was dead-lettered ({}) but the gateway's ledger shows a charge: replay it to settle it as paid",
                    order.order_id,
                    reason.as_deref().unwrap_or("no reason")
                );
                kept.order_id = Some(order.order_id);
                let newly = self.store.keep(&kept).await?;
                Ok(Handled::Kept { newly })
            }
            // Asked above; `decide` never answers AskLedger once the ledger answered.
            Decision::AskLedger | Decision::Fail => {
                let failure_reason = failure_reason(reason.as_deref());
                let failure = FailureToWrite {
                    detail: detail.unwrap_or_else(|| {
                        format!(
                            "dead-lettered: {}",
                            reason.as_deref().unwrap_or("no reason given")
                        )
                    }),
                    order: *order,
                    reason: failure_reason,
                    traceparent,
                };
                Ok(match self.store.fail_order(&failure).await? {
                    FailOutcome::Failed { .. } => Handled::Failed,
                    FailOutcome::AlreadyProcessed => Handled::Duplicate,
                    FailOutcome::SettledMeanwhile => Handled::AlreadySettled("settled meanwhile"),
                })
            }
        }
    }
}
