//! `eventing` — what every service of the order → payment pipeline shares.
//!
//! Dataflow: a service's aggregate records [`domain_event::DomainEvent`]s; the application layer
//! writes them as outbox rows ([`outbox`]) in the same Postgres transaction as the state change,
//! each payload encoded by [`codec::AvroCodec`] (Confluent wire format, schema from the registry).
//! The CDC relay publishes the rows to Kafka; consumers decode with the same codec and store
//! their progress (processed-events row + offset) only after their own transaction commits.
//!
//! Guarantees this crate provides: a payload is framed with the id the registry gave its exact
//! published schema; decoding any byte string yields a typed [`CodecError`] or a value, never a
//! panic; every error says whether a retry can help ([`ErrorKind`]).

pub mod codec;
pub mod contracts;
pub mod domain_event;
pub mod error;
pub mod wire_format;

pub use codec::AvroCodec;
pub use error::{CodecError, ErrorKind};
pub mod kafka;
pub mod outbox;
pub mod runtime;
