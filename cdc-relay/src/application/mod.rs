//! The relay as a use case over two ports: a [`ports::WalSource`] yielding decoded replication
//! events (and taking flushed-LSN reports) and an [`ports::EventSink`] publishing records and
//! resolving when Kafka acknowledged them. No Postgres or Kafka client types appear here.

pub mod ports;
pub mod relay;

pub use ports::{
    DeliveryFailure, DeliveryReport, DeliveryReports, DeliveryTag, EventSink, Heartbeat,
    PublishedRecord, SinkError, WalEvent, WalSource,
};
pub use relay::{BadRowPolicy, Relay, RelaySettings};
