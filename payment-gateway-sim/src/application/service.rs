//! The charge use case.
//!
//! ```text
//! request ─► decide(behaviour, customer, draws) ─► wait latency + jitter
//!              │ Outage / Unavailable ──────────────────────────────► 503, nothing written
//!              │ Record{outcome, hold}
//!              ▼
//!   INSERT … ON CONFLICT (idempotency_key) DO NOTHING RETURNING …   (one round trip)
//!              │ inserted ─► (hold the answer if a timeout was drawn) ─► 201 / 402
//!              │ conflict ─► SELECT winner ─► same parameters? ─ no ─► 409
//!              │                                   │ yes
//!              ▼                                   ▼
//!                                 UPDATE replays + 1 ─► winner's answer, replayed
//! ```
//!
//! Why exactly one charge per key: the UNIQUE index on `idempotency_key` lets one INSERT win;
//! a concurrent INSERT with the same key waits for the winner's transaction and then does
//! nothing, so the loser reads a committed winner and replays it. Faults other than the timeout
//! are decided before anything is written, so a 503 always means "not charged". A timeout is
//! decided before but acted on after the commit: the charge exists, only its answer is late —
//! and a retry with the same key gets the recorded answer at once (replays are never held).

use super::ports::{ChargeRecord, Ledger, LedgerError, LedgerSummary, NewCharge};
use crate::domain::{
    Behaviour, BehaviourPatch, ChargeRequest, Draws, FieldError, Plan, decide, first_difference,
    latency,
};
use rand::Rng;
use std::sync::{Arc, RwLock};
use uuid::Uuid;

/// The current behaviour, shared by every request and changed by the admin endpoint.
#[derive(Debug, Clone, Default)]
pub struct BehaviourSwitch(Arc<RwLock<Behaviour>>);

impl BehaviourSwitch {
    pub fn new(initial: Behaviour) -> Self {
        Self(Arc::new(RwLock::new(initial)))
    }

    pub fn current(&self) -> Behaviour {
        // A poisoned lock still holds a complete value: Behaviour is Copy and only ever
        // replaced whole.
        *self
            .0
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Apply `patch` atomically; on an out-of-range field nothing changes.
    pub fn update(&self, patch: &BehaviourPatch) -> Result<Behaviour, FieldError> {
        let mut guard = self
            .0
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let next = patch.apply(*guard)?;
        *guard = next;
        Ok(next)
    }
}

/// A charge answer: the recorded result, and whether it is a replay of an earlier request.
#[derive(Debug, Clone, PartialEq)]
pub struct ChargeAnswer {
    pub record: ChargeRecord,
    pub replayed: bool,
}

/// Why a charge got no recorded answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChargeError {
    #[error("the gateway is in an outage")]
    Outage,
    #[error("the gateway is temporarily unavailable")]
    Unavailable,
    #[error("the idempotency key was used for a charge with a different {field}")]
    KeyReused { field: &'static str },
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

/// The simulator's use cases.
#[derive(Debug)]
pub struct GatewayService<L> {
    ledger: L,
    behaviour: BehaviourSwitch,
}

fn random_draws() -> Draws {
    let mut rng = rand::rng();
    Draws {
        transient_failure: rng.random(),
        timeout: rng.random(),
        decline: rng.random(),
        decline_code: rng.random(),
        jitter: rng.random(),
    }
}

impl<L: Ledger> GatewayService<L> {
    pub fn new(ledger: L, behaviour: BehaviourSwitch) -> Self {
        Self { ledger, behaviour }
    }

    pub fn behaviour(&self) -> &BehaviourSwitch {
        &self.behaviour
    }

    /// Charge once per idempotency key (see the module docs for the protocol).
    pub async fn charge(&self, request: ChargeRequest) -> Result<ChargeAnswer, ChargeError> {
        let behaviour = self.behaviour.current();
        let draws = random_draws();
        let plan = decide(&behaviour, request.params.customer_id.as_str(), draws);
        let wait = latency(&behaviour, draws.jitter);
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        let (outcome, hold_answer) = match plan {
            Plan::Outage => return Err(ChargeError::Outage),
            Plan::Unavailable => return Err(ChargeError::Unavailable),
            Plan::Record {
                outcome,
                hold_answer,
            } => (outcome, hold_answer),
        };
        let new = NewCharge {
            charge_id: Uuid::now_v7(),
            idempotency_key: request.idempotency_key,
            params: request.params,
            outcome,
        };
        if let Some(record) = self.ledger.insert_if_absent(&new).await? {
            if let Some(hold) = hold_answer {
                tokio::time::sleep(hold).await;
            }
            return Ok(ChargeAnswer {
                record,
                replayed: false,
            });
        }
        self.replay(&new).await
    }

    /// The key is taken: replay the recorded charge if it asks for the same thing.
    async fn replay(&self, requested: &NewCharge) -> Result<ChargeAnswer, ChargeError> {
        let key = requested.idempotency_key.as_str();
        let mut record = self.ledger.find_by_key(key).await?.ok_or_else(|| {
            LedgerError::Failed(format!(
                "idempotency key {key:?} conflicted but its charge is gone"
            ))
        })?;
        if let Some(field) = first_difference(&record.params, &requested.params) {
            return Err(ChargeError::KeyReused { field });
        }
        if let Some(replays) = self.ledger.count_replay(record.charge_id).await? {
            record.replays = replays;
        }
        Ok(ChargeAnswer {
            record,
            replayed: true,
        })
    }

    pub async fn charge_by_key(&self, key: &str) -> Result<Option<ChargeRecord>, LedgerError> {
        self.ledger.find_by_key(key).await
    }

    pub async fn charges_of_order(&self, order_id: Uuid) -> Result<Vec<ChargeRecord>, LedgerError> {
        self.ledger.find_by_order(order_id).await
    }

    pub async fn summary(&self) -> Result<LedgerSummary, LedgerError> {
        self.ledger.summary().await
    }

    pub async fn ping(&self) -> Result<(), LedgerError> {
        self.ledger.ping().await
    }
}
