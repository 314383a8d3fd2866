//! `contracts` — the Avro contracts of the pipeline as Rust types, pure (no I/O crate anywhere in
//! this crate's dependency tree, which `scripts/check_layers.py` enforces), so every service's
//! `domain/` may use them.
//!
//! What lives here: the event types ([`OrderCreated`], [`PaymentCompleted`], [`PaymentFailed`]),
//! their conversion to and from Avro values, [`domain_event`] (what an aggregate records before
//! the outbox writer encodes it), and the workspace's one error classification
//! ([`ErrorKind`]: transient → retry, permanent → dead letter) with the codec's typed errors.
//! Encoding to bytes with a registry-assigned schema id is `eventing::AvroCodec`'s job.
//!
//! Each type derives its Avro schema (`apache_avro::AvroSchema`); a test proves the derived schema
//! equals the published `.avsc` in `schemas/`, docs included, so the code and the contract cannot
//! drift. Values are converted to and from `apache_avro::types::Value` by hand, because the
//! logical types (uuid as string, timestamp-millis, decimal(19,4) as bytes) need exact control.
//!
//! Namespace: `orderpipeline.events`. Subject naming: RecordNameStrategy (the subject is the full
//! record name, e.g. `orderpipeline.events.OrderCreated`), because one topic carries several event
//! types and the outbox writer encodes before the topic is known.

pub mod domain_event;
pub mod error;
mod logical_types;
mod order_created;
mod payment_completed;
mod payment_failed;
mod value_access;

pub use logical_types::widen_decimals;
pub use logical_types::{MONEY_PRECISION, MONEY_SCALE};
pub use order_created::{LineItem, OrderCreated};
pub use payment_completed::PaymentCompleted;
pub use payment_failed::{FailureReason, PaymentFailed};

use apache_avro::{Schema, types::Value};
pub use error::{CodecError, ErrorKind};

/// An event type with a published Avro contract.
pub trait AvroEvent: Sized + Send + Sync + 'static {
    /// Full Avro record name; also the registry subject (RecordNameStrategy).
    const FULL_NAME: &'static str;
    /// The published schema text (`schemas/*.avsc`), registered as is.
    const SCHEMA_TEXT: &'static str;
    /// The schema derived from the Rust type.
    fn avro_schema() -> &'static Schema;
    /// This event as an Avro record value.
    fn to_avro_value(&self) -> Result<Value, CodecError>;
    /// Read the event from a record value already resolved against [`Self::avro_schema`].
    fn from_avro_value(value: Value) -> Result<Self, CodecError>;
}

/// Every contract, for tests and tooling: (full name, schema text, file stem in `schemas/`).
pub const ALL_CONTRACTS: [(&str, &str, &str); 3] = [
    (
        OrderCreated::FULL_NAME,
        OrderCreated::SCHEMA_TEXT,
        "order_created",
    ),
    (
        PaymentCompleted::FULL_NAME,
        PaymentCompleted::SCHEMA_TEXT,
        "payment_completed",
    ),
    (
        PaymentFailed::FULL_NAME,
        PaymentFailed::SCHEMA_TEXT,
        "payment_failed",
    ),
];

/// Implements the schema accessor with a lazily derived, cached schema.
macro_rules! derived_schema {
    ($ty:ty) => {
        fn avro_schema() -> &'static apache_avro::Schema {
            static SCHEMA: std::sync::OnceLock<apache_avro::Schema> = std::sync::OnceLock::new();
            SCHEMA.get_or_init(<$ty as apache_avro::AvroSchema>::get_schema)
        }
    };
}
pub(crate) use derived_schema;
