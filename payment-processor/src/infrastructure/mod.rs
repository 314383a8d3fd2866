//! Adapters: the payments database ([`postgres`]), the payment gateway over HTTP ([`gateway`])
//! and the Kafka side ([`kafka`]: decoding `OrderCreated` records for the use case).

pub mod gateway;
pub mod kafka;
pub mod postgres;
