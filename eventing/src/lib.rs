//! `eventing` — the event machinery every service of the order → payment pipeline shares.
//!
//! Dataflow: a service's aggregate records `contracts::domain_event::DomainEvent`s; the
//! application layer writes them as outbox rows ([`outbox`]) in the same Postgres transaction as
//! the state change, each payload encoded by [`codec::AvroCodec`] (Confluent wire format, schema
//! from the registry). The CDC relay publishes the rows to Kafka; consumers run on [`kafka`]'s
//! consumer runtime, decode with the same codec and let the runtime store their progress only
//! after their own transaction committed.
//!
//! Guarantees this crate provides: a payload is framed with the id the registry gave its exact
//! published schema; decoding any byte string yields a typed [`CodecError`] or a value, never a
//! panic; every error says whether a retry can help ([`ErrorKind`], decided from typed errors
//! and HTTP status codes, never from message text); encoding inside a transaction needs no
//! network call once a service registered its writer schemas ([`writer_schemas`]).
//!
//! The pure contracts live in the `contracts` crate (services' domain modules use it without
//! pulling in any I/O crate); logging, shutdown, ops endpoints and the Postgres pool, error
//! classification and locked migrations (`service_kit::postgres`) live in `service-kit`.

pub mod codec;
pub mod error;
pub mod kafka;
pub mod outbox;
pub mod registry;
pub mod trace_context;
pub mod wire_format;
pub mod writer_schemas;

pub use codec::{AvroCodec, RegistrySettings, WriterSchema};
pub use error::{CodecError, ErrorKind};
