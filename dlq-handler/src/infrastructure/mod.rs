//! Adapters: the payments database, the gateway's ledger, the dead-letter topic.

pub mod kafka;
pub mod ledger;
pub mod operator;
pub mod postgres;
