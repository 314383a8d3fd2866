//! Avro codec over the Confluent wire format and a Confluent-compatible schema registry.
//!
//! * Encoding: the event's published schema is registered once under its subject
//!   (RecordNameStrategy: the full record name) and its id cached; every record is then framed
//!   as `0x00 | id | datum` with no network call.
//! * Decoding: the schema id in the header is looked up once (cached afterwards) and the datum is
//!   read with the writer's schema resolved against the reader's (our type), so a consumer reads
//!   records written with any earlier or later compatible version of the contract.
//! * Cache misses are single-flight: concurrent first look-ups (thousands of records of a new
//!   schema id arriving at once) wait for one registry request instead of each sending one —
//!   the stampede used to overload the registry at start-up and send records to retry topics.
//! * Bad bytes never panic: each failure is a [`CodecError`] whose [`ErrorKind`](crate::ErrorKind)
//!   tells whether to retry (registry down) or dead-letter (everything about the bytes).

use crate::error::CodecError;
use crate::wire_format;
use apache_avro::Schema;
use apache_avro::reader::datum::GenericDatumReader;
use apache_avro::writer::datum::GenericDatumWriter;
use contracts::AvroEvent;
use schema_registry_converter::async_impl::schema_registry::{
    SrSettings, get_schema_by_id, post_schema,
};
use schema_registry_converter::error::SRCError;
use schema_registry_converter::schema_registry_common::{SchemaType, SuppliedSchema};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// The registry-backed codec. Cheap to clone; the caches are shared.
#[derive(Clone)]
pub struct AvroCodec {
    settings: Arc<SrSettings>,
    registry_url: Arc<str>,
    registered_ids: Arc<RwLock<HashMap<&'static str, u32>>>,
    writer_schemas: Arc<RwLock<HashMap<u32, Arc<Schema>>>>,
    /// Held while a miss is fetched from the registry: later misses re-check the cache first.
    registry_flight: Arc<tokio::sync::Mutex<()>>,
}

impl std::fmt::Debug for AvroCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AvroCodec")
            .field("registry_url", &self.registry_url)
            .finish_non_exhaustive()
    }
}

/// Map a registry client error to ours: 404-like answers are permanent, the rest transient.
fn registry_error(err: SRCError, unknown_id: Option<u32>) -> CodecError {
    let text = format!("{err}");
    let not_found =
        text.contains("404") || text.contains("40403") || text.to_lowercase().contains("not found");
    match unknown_id {
        Some(id) if not_found => CodecError::UnknownSchemaId { id },
        _ if err.retriable
            || text.contains("error sending request")
            || text.contains("connect") =>
        {
            CodecError::RegistryUnavailable(text)
        }
        _ => CodecError::RegistryRejected(text),
    }
}

impl AvroCodec {
    /// A codec talking to the registry at `url` (e.g. `http://127.0.0.1:8081/apis/ccompat/v7`).
    pub fn new(url: &str) -> Result<Self, CodecError> {
        let settings = SrSettings::new_builder(url.trim_end_matches('/').to_string())
            .set_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| CodecError::RegistryRejected(e.to_string()))?;
        Ok(Self {
            settings: Arc::new(settings),
            registry_url: Arc::from(url),
            registered_ids: Arc::default(),
            writer_schemas: Arc::default(),
            registry_flight: Arc::default(),
        })
    }

    /// Register (or look up) the published schema of `E` and cache its id. Idempotent.
    pub async fn register<E: AvroEvent>(&self) -> Result<u32, CodecError> {
        if let Some(id) = self.cached_id(E::FULL_NAME) {
            return Ok(id);
        }
        let _flight = self.registry_flight.lock().await;
        if let Some(id) = self.cached_id(E::FULL_NAME) {
            return Ok(id);
        }
        let supplied = SuppliedSchema::new(
            Some(E::FULL_NAME.to_string()),
            SchemaType::Avro,
            E::SCHEMA_TEXT.to_string(),
        );
        let registered = post_schema(&self.settings, E::FULL_NAME.to_string(), supplied)
            .await
            .map_err(|e| registry_error(e, None))?;
        self.registered_ids
            .write()
            .expect("codec cache lock poisoned")
            .insert(E::FULL_NAME, registered.id);
        self.writer_schemas
            .write()
            .expect("codec cache lock poisoned")
            .insert(registered.id, Arc::new(E::avro_schema().clone()));
        Ok(registered.id)
    }

    /// Encode an event as a Confluent-framed Avro record.
    pub async fn encode<E: AvroEvent>(&self, event: &E) -> Result<Vec<u8>, CodecError> {
        let id = self.register::<E>().await?;
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
        let registered = get_schema_by_id(id, &self.settings)
            .await
            .map_err(|e| registry_error(e, Some(id)))?;
        let schema =
            Schema::parse_str(&registered.schema).map_err(|e| CodecError::InvalidWriterSchema {
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
