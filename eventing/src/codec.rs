//! Avro codec over the Confluent wire format and a Confluent-compatible schema registry
//! ([`crate::registry`]).
//!
//! * Encoding: the event's published schema is registered once under its subject
//!   (RecordNameStrategy: the full record name) and its id cached; every record is then framed
//!   as `0x00 | id | datum` with no network call. [`AvroCodec::encode_registered`] is that
//!   network-free half, synchronous so it cannot wait on anything: it is the one to call inside
//!   a database transaction, after [`AvroCodec::register`] ran BEFORE the transaction opened
//!   (services register their writer schemas at start-up, see [`crate::writer_schemas`]).
//! * Decoding: the schema id in the header is looked up once (cached afterwards) and the datum is
//!   read with the writer's schema resolved against the reader's (our type), so a consumer reads
//!   records written with any earlier or later compatible version of the contract.
//! * Cache misses are single-flight: concurrent first look-ups (thousands of records of a new
//!   schema id arriving at once) wait for one registry request instead of each sending one —
//!   the stampede used to overload the registry at start-up and send records to retry topics.
//! * Fail fast while the registry is down: after a look-up failed for a transient reason, later
//!   misses within [`RegistrySettings::failure_hold`] fail at once with the same
//!   [`CodecError::RegistryUnavailable`] instead of each waiting out the timeout in turn behind
//!   the single-flight lock. Cached schemas keep working throughout.
//! * Bad bytes never panic: each failure is a [`CodecError`] whose [`ErrorKind`](crate::ErrorKind)
//!   tells whether to retry (registry down) or dead-letter (everything about the bytes).

use crate::error::{CodecError, ErrorKind};
use crate::registry::RegistryClient;
use crate::wire_format;
use apache_avro::Schema;
use apache_avro::reader::datum::GenericDatumReader;
use apache_avro::writer::datum::GenericDatumWriter;
use contracts::AvroEvent;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// How the codec talks to the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegistrySettings {
    /// Bound of one registry call, connecting included.
    pub timeout: Duration,
    /// After a call failed for a transient reason, look-ups of what is not cached fail at once
    /// for this long (the registry is not asked again until then).
    pub failure_hold: Duration,
}

impl Default for RegistrySettings {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(5),
            failure_hold: Duration::from_secs(1),
        }
    }
}

/// A writer schema a service encodes with: the subject (full record name) and the published
/// schema text, e.g. `WriterSchema::of::<OrderCreated>()`.
#[derive(Debug, Clone, Copy)]
pub struct WriterSchema {
    pub subject: &'static str,
    text: &'static str,
    schema: fn() -> &'static Schema,
}

impl WriterSchema {
    pub fn of<E: AvroEvent>() -> Self {
        Self {
            subject: E::FULL_NAME,
            text: E::SCHEMA_TEXT,
            schema: E::avro_schema,
        }
    }
}

/// The last transient registry failure, for failing fast.
#[derive(Debug, Clone)]
struct RecentFailure {
    at: Instant,
    status: Option<u16>,
    detail: String,
}

/// The registry-backed codec. Cheap to clone; the caches are shared.
#[derive(Clone)]
pub struct AvroCodec {
    registry: RegistryClient,
    settings: RegistrySettings,
    registered_ids: Arc<RwLock<HashMap<&'static str, u32>>>,
    writer_schemas: Arc<RwLock<HashMap<u32, Arc<Schema>>>>,
    /// Held while a miss is fetched from the registry: later misses re-check the cache first.
    registry_flight: Arc<tokio::sync::Mutex<()>>,
    recent_failure: Arc<Mutex<Option<RecentFailure>>>,
}

impl std::fmt::Debug for AvroCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AvroCodec")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// Whether a miss may skip the registry because it failed a moment ago.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hold {
    /// Fail at once within the failure hold (request paths).
    Honour,
    /// Ask anyway (the start-up registration loop, which paces itself).
    Ignore,
}

impl AvroCodec {
    /// A codec talking to the registry at `url` (e.g. `http://127.0.0.1:8081/apis/ccompat/v7`)
    /// with the default [`RegistrySettings`].
    pub fn new(url: &str) -> Result<Self, CodecError> {
        Self::with_settings(url, RegistrySettings::default())
    }

    pub fn with_settings(url: &str, settings: RegistrySettings) -> Result<Self, CodecError> {
        Ok(Self {
            registry: RegistryClient::new(url, settings.timeout)?,
            settings,
            registered_ids: Arc::default(),
            writer_schemas: Arc::default(),
            registry_flight: Arc::default(),
            recent_failure: Arc::default(),
        })
    }

    /// Register (or look up) the published schema of `E` and cache its id. Idempotent; a
    /// network call only the first time. Never call it inside a database transaction.
    pub async fn register<E: AvroEvent>(&self) -> Result<u32, CodecError> {
        self.register_schema(WriterSchema::of::<E>(), Hold::Honour)
            .await
    }

    /// Register every schema of `schemas` (see [`Self::register`]), stopping at the first
    /// failure. Asks the registry even within the failure hold: for a caller that paces its
    /// own retries (see [`crate::writer_schemas::register_until_done`]).
    pub async fn register_all(&self, schemas: &[WriterSchema]) -> Result<(), CodecError> {
        for schema in schemas {
            self.register_schema(*schema, Hold::Ignore).await?;
        }
        Ok(())
    }

    /// The subjects of `schemas` whose id is not cached yet.
    pub fn unregistered(&self, schemas: &[WriterSchema]) -> Vec<&'static str> {
        schemas
            .iter()
            .filter(|s| self.cached_id(s.subject).is_none())
            .map(|s| s.subject)
            .collect()
    }

    async fn register_schema(&self, writer: WriterSchema, hold: Hold) -> Result<u32, CodecError> {
        if let Some(id) = self.cached_id(writer.subject) {
            return Ok(id);
        }
        let _flight = self.registry_flight.lock().await;
        if let Some(id) = self.cached_id(writer.subject) {
            return Ok(id);
        }
        let id = self
            .ask_registry(hold, self.registry.register(writer.subject, writer.text))
            .await?;
        self.registered_ids
            .write()
            .expect("codec cache lock poisoned")
            .insert(writer.subject, id);
        self.writer_schemas
            .write()
            .expect("codec cache lock poisoned")
            .insert(id, Arc::new((writer.schema)().clone()));
        Ok(id)
    }

    /// Run one registry call (the caller holds the single-flight lock), or fail at once if one
    /// failed transiently within the failure hold; remember transient failures.
    async fn ask_registry<T>(
        &self,
        hold: Hold,
        call: impl Future<Output = Result<T, CodecError>>,
    ) -> Result<T, CodecError> {
        if hold == Hold::Honour
            && let Some(recent) = self.recent_failure()
        {
            let ago = recent.at.elapsed();
            if ago < self.settings.failure_hold {
                return Err(CodecError::RegistryUnavailable {
                    status: recent.status,
                    detail: format!(
                        "{} ({} ms ago; not asked again for {:?})",
                        recent.detail,
                        ago.as_millis(),
                        self.settings.failure_hold
                    ),
                });
            }
        }
        let result = call.await;
        let mut recent = self
            .recent_failure
            .lock()
            .expect("codec failure lock poisoned");
        match &result {
            Err(CodecError::RegistryUnavailable { status, detail }) => {
                *recent = Some(RecentFailure {
                    at: Instant::now(),
                    status: *status,
                    detail: detail.clone(),
                });
            }
            Err(other) => debug_assert_eq!(other.kind(), ErrorKind::Permanent),
            Ok(_) => *recent = None,
        }
        result
    }

    fn recent_failure(&self) -> Option<RecentFailure> {
        self.recent_failure
            .lock()
            .expect("codec failure lock poisoned")
            .clone()
    }

    /// Encode an event as a Confluent-framed Avro record, registering its schema first if
    /// needed (a network call the first time). Inside a database transaction use
    /// [`Self::encode_registered`] instead.
    pub async fn encode<E: AvroEvent>(&self, event: &E) -> Result<Vec<u8>, CodecError> {
        self.register::<E>().await?;
        self.encode_registered(event)
    }

    /// Encode an event whose schema is registered already (by [`Self::register`] or at
    /// start-up). No network call, no waiting: fails with [`CodecError::SchemaNotRegistered`]
    /// (transient) when the id is not cached.
    pub fn encode_registered<E: AvroEvent>(&self, event: &E) -> Result<Vec<u8>, CodecError> {
        let id = self
            .cached_id(E::FULL_NAME)
            .ok_or_else(|| CodecError::SchemaNotRegistered {
                subject: E::FULL_NAME.to_string(),
            })?;
        let value = event.to_avro_value()?;
        let datum = GenericDatumWriter::builder(E::avro_schema())
            .build()
            .and_then(|writer| writer.write_value_to_vec(value))
            .map_err(|e| CodecError::Encode(e.to_string()))?;
        Ok(wire_format::frame(id, &datum))
    }

    fn cached_id(&self, full_name: &str) -> Option<u32> {
        self.registered_ids
            .read()
            .expect("codec cache lock poisoned")
            .get(full_name)
            .copied()
    }

    fn cached_schema(&self, id: u32) -> Option<Arc<Schema>> {
        self.writer_schemas
            .read()
            .expect("codec cache lock poisoned")
            .get(&id)
            .cloned()
    }

    /// The writer schema behind a schema id, from the cache or the registry (one request at a
    /// time; whoever waited finds the answer cached).
    pub async fn writer_schema(&self, id: u32) -> Result<Arc<Schema>, CodecError> {
        if let Some(schema) = self.cached_schema(id) {
            return Ok(schema);
        }
        let _flight = self.registry_flight.lock().await;
        if let Some(schema) = self.cached_schema(id) {
            return Ok(schema);
        }
        let text = self
            .ask_registry(Hold::Honour, self.registry.schema_by_id(id))
            .await?;
        let schema = Schema::parse_str(&text).map_err(|e| CodecError::InvalidWriterSchema {
            id,
            reason: e.to_string(),
        })?;
        let schema = Arc::new(schema);
        self.writer_schemas
            .write()
            .expect("codec cache lock poisoned")
            .insert(id, schema.clone());
        Ok(schema)
    }

    /// The full record name a framed payload was written with (to dispatch on event type).
    pub async fn record_name(&self, bytes: &[u8]) -> Result<String, CodecError> {
        let (id, _) = wire_format::unframe(bytes)?;
        let schema = self.writer_schema(id).await?;
        Ok(full_name(&schema))
    }

    /// Decode a Confluent-framed record as `E`, resolving the writer's schema against `E`'s.
    pub async fn decode<E: AvroEvent>(&self, bytes: &[u8]) -> Result<E, CodecError> {
        let (id, datum) = wire_format::unframe(bytes)?;
        let writer = self.writer_schema(id).await?;
        decode_datum::<E>(&writer, datum)
    }
}

fn full_name(schema: &Schema) -> String {
    match schema {
        Schema::Record(record) => record.name.fullname(None),
        other => format!("{other:?}"),
    }
}

/// Decode one Avro datum written with `writer` as `E`. Pure: no registry involved.
pub fn decode_datum<E: AvroEvent>(writer: &Schema, datum: &[u8]) -> Result<E, CodecError> {
    let writer_name = full_name(writer);
    if writer_name != E::FULL_NAME {
        return Err(CodecError::UnexpectedRecordType {
            writer: writer_name,
            expected: E::FULL_NAME.to_string(),
        });
    }
    let mut reader = datum;
    let written = GenericDatumReader::builder(writer)
        .build()
        .and_then(|datum_reader| datum_reader.read_value(&mut reader))
        .map_err(|e| CodecError::InvalidPayload(e.to_string()))?;
    if !reader.is_empty() {
        return Err(CodecError::InvalidPayload(format!(
            "{} trailing bytes after the datum",
            reader.len()
        )));
    }
    // Schema resolution (writer -> reader) after widening decimals; see `MONEY_BYTES`.
    let resolved = contracts::widen_decimals(written)
        .resolve(E::avro_schema())
        .map_err(|e| CodecError::IncompatibleSchema {
            writer: writer_name.clone(),
            reader: E::FULL_NAME.to_string(),
            reason: e.to_string(),
        })?;
    E::from_avro_value(resolved)
}
