//! Use cases over the [`ports::Ledger`] port: charge (with idempotent replay), read the
//! ledger, read and change the behaviour settings.

pub mod ports;
mod service;

pub use ports::{ChargeRecord, Ledger, LedgerError, LedgerSummary, NewCharge};
pub use service::{BehaviourSwitch, ChargeAnswer, ChargeError, GatewayService};
