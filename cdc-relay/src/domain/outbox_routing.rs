//! Outbox row → Kafka record: the relay's version of Debezium's Outbox Event Router, as one pure
//! function, [`outbox_row_to_record`].
//!
//! With the default [`RoutingConfig`] an inserted outbox row becomes:
//! - **topic** `outbox.event.{aggregatetype}`, the value of the `aggregatetype` column substituted
//!   verbatim (no case change), and checked against Kafka's topic rules before it is returned;
//! - **key** the `aggregateid` value (its UTF-8 text), so all events of one aggregate land in
//!   one partition in order; no key when it is NULL;
//! - **value** the `payload` bytes unchanged (`bytea` decoded from its text form; a text or json
//!   column is taken as its UTF-8 text);
//! - **headers** `id` (the event id text) and `type` (the event type text), then one header per
//!   configured extra column (e.g. `traceparent`), in configuration order.
//!
//! Any row that cannot be routed is a typed [`RoutingError`] naming the column, so the I/O layer
//! can send it to `cdc.errors` instead of guessing. All routing errors are permanent: the same row
//! always fails the same way.
//!
//! # Where we deliberately differ from Debezium
//!
//! Debezium's defaults are matched where they exist: `table.field.event.id = id`,
//! `table.field.event.key = aggregateid`, `table.field.event.payload = payload`,
//! `route.by.field = aggregatetype`, `route.topic.replacement = outbox.event.${routedByValue}`,
//! and an `id` header carrying the event id. The differences:
//! - **Template syntax.** `{aggregatetype}` instead of `${routedByValue}`, and no
//!   `route.topic.regex` step: the whole value is substituted.
//! - **`type` header by default.** Debezium adds only `id`; getting `type` there takes
//!   `table.fields.additional.placement=type:header:type`. Our consumers want it, so it is on by
//!   default (omitted when the column is NULL). Extra columns are header-only: there is no
//!   `envelope` placement, the value is always the bare payload (Debezium's output when nothing is
//!   placed in the envelope).
//! - **Raw bytes, no converters.** Debezium hands key, value and headers to Kafka Connect
//!   converters. We publish the payload bytes unchanged (the outbox writer already stores the
//!   Confluent-framed Avro record) and keys and headers as UTF-8 text.
//! - **NULL payload is an error.** Debezium emits a record with a null value, or a tombstone with
//!   `route.tombstone.on.empty.payload`. Our topics use delete retention and our consumers expect
//!   a framed Avro record, so a NULL payload is a bug in the writer: [`RoutingError::NullPayload`].
//! - **Typed errors.** A NULL `id` or `aggregatetype`, or a missing column, fails Debezium with a
//!   generic exception; here each is its own variant. A missing extra-header column is an error
//!   too (as in Debezium), so a typo in the configuration cannot silently drop a header.
//! - **Topic names are checked** (legal characters `[a-zA-Z0-9._-]`, 1 to 249 long, not `.` or
//!   `..`) before producing, rather than left to the broker.
//! - **No timestamp column** (`table.field.event.timestamp`): the record timestamp is the I/O
//!   layer's choice.
//! - **Inserts only.** Callers pass rows from Inserts; what to do with updates and deletes of the
//!   outbox table (Debezium: deletes ignored, updates warned about) is the caller's decision.

use std::collections::HashSet;
use std::sync::Arc;

use thiserror::Error;

use crate::domain::pgoutput::Relation;
use crate::domain::relation_cache::{ByteaError, Row, RowColumn};

/// The placeholder in [`RoutingConfig::topic_template`] replaced by the aggregate type value,
/// whatever the aggregate type column is called.
pub const AGGREGATE_TYPE_PLACEHOLDER: &str = "{aggregatetype}";
/// Debezium's default topic, in our template syntax.
pub const DEFAULT_TOPIC_TEMPLATE: &str = "outbox.event.{aggregatetype}";
/// Header carrying the event id.
pub const ID_HEADER: &str = "id";
/// Header carrying the event type.
pub const TYPE_HEADER: &str = "type";
/// Longest legal Kafka topic name.
pub const MAX_TOPIC_LEN: usize = 249;

/// How outbox rows are routed. [`Default`] is Debezium's default outbox table layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutingConfig {
    /// Topic name, with [`AGGREGATE_TYPE_PLACEHOLDER`] standing for the aggregate type value.
    pub topic_template: String,
    /// Names of the outbox table's columns.
    pub columns: OutboxColumns,
    /// Extra columns sent as headers, after `id` and `type`. NULL values are omitted.
    pub header_columns: Vec<HeaderColumn>,
}

impl Default for RoutingConfig {
    fn default() -> Self {
        RoutingConfig {
            topic_template: DEFAULT_TOPIC_TEMPLATE.to_owned(),
            columns: OutboxColumns::default(),
            header_columns: Vec::new(),
        }
    }
}

/// Names of the outbox table's columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxColumns {
    /// Unique event id (uuid); becomes the `id` header. Default `id`.
    pub event_id: String,
    /// Routes the event: substituted into the topic template. Default `aggregatetype`.
    pub aggregate_type: String,
    /// Record key. Default `aggregateid`.
    pub aggregate_id: String,
    /// Event type; becomes the `type` header. Default `type`.
    pub event_type: String,
    /// Record value (`bytea`). Default `payload`.
    pub payload: String,
}

impl Default for OutboxColumns {
    fn default() -> Self {
        OutboxColumns {
            event_id: "id".to_owned(),
            aggregate_type: "aggregatetype".to_owned(),
            aggregate_id: "aggregateid".to_owned(),
            event_type: "type".to_owned(),
            payload: "payload".to_owned(),
        }
    }
}

/// An extra column copied into a header (Debezium's `column:header:alias` placement).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderColumn {
    pub column: String,
    pub header: String,
}

impl HeaderColumn {
    /// A header named like its column, e.g. `traceparent`.
    pub fn same_name(column: impl Into<String>) -> Self {
        let column = column.into();
        HeaderColumn {
            header: column.clone(),
            column,
        }
    }
}

impl RoutingConfig {
    /// Check the configuration once at startup, so mistakes fail fast instead of routing every
    /// row to the error topic: column and header names are non-empty, header names are unique
    /// (including `id` and `type`), and the template yields a legal topic name.
    pub fn validate(&self) -> Result<(), RoutingConfigError> {
        let c = &self.columns;
        let roles = [
            ("event id", &c.event_id),
            ("aggregate type", &c.aggregate_type),
            ("aggregate id", &c.aggregate_id),
            ("event type", &c.event_type),
            ("payload", &c.payload),
        ];
        if let Some((role, _)) = roles.iter().find(|(_, name)| name.is_empty()) {
            return Err(RoutingConfigError::EmptyColumnName { role });
        }
        self.validate_headers()?;
        // Any legal aggregate type must give a legal topic, so test with a one-letter value.
        let sample = self.topic_template.replace(AGGREGATE_TYPE_PLACEHOLDER, "a");
        validate_topic_name(&sample).map_err(|source| RoutingConfigError::InvalidTopicTemplate {
            template: self.topic_template.clone(),
            source,
        })
    }

    fn validate_headers(&self) -> Result<(), RoutingConfigError> {
        let mut seen: HashSet<&str> = HashSet::from([ID_HEADER, TYPE_HEADER]);
        for extra in &self.header_columns {
            if extra.column.is_empty() || extra.header.is_empty() {
                return Err(RoutingConfigError::EmptyColumnName {
                    role: "header column",
                });
            }
            if !seen.insert(&extra.header) {
                return Err(RoutingConfigError::DuplicateHeader {
                    header: extra.header.clone(),
                });
            }
        }
        Ok(())
    }
}

/// A [`RoutingConfig`] that can never route anything correctly.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RoutingConfigError {
    #[error("the {role} column name is empty")]
    EmptyColumnName { role: &'static str },
    #[error("header {header:?} is produced twice")]
    DuplicateHeader { header: String },
    #[error("topic template {template:?} cannot produce a legal topic: {source}")]
    InvalidTopicTemplate {
        template: String,
        source: TopicNameError,
    },
}

/// One Kafka record to produce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRecord {
    pub topic: String,
    /// `None` when the aggregate id is NULL (the producer then spreads records over partitions).
    pub key: Option<Vec<u8>>,
    pub payload: Vec<u8>,
    /// In order: `id`, `type` (unless NULL), then the configured extra headers that are not NULL.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The event id text, for logs and deduplication.
    pub event_id: String,
}

/// Why an outbox row cannot be routed. Every variant is permanent for that row.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RoutingError {
    #[error("outbox table {table} has no column {column:?}")]
    UnknownColumn { table: String, column: String },
    #[error("event id column {column:?} is NULL")]
    NullEventId { column: String },
    #[error("aggregate type column {column:?} is NULL")]
    NullAggregateType { column: String },
    #[error("payload column {column:?} is NULL")]
    NullPayload { column: String },
    #[error("column {column:?} is not valid bytea text: {source}")]
    InvalidBytea { column: String, source: ByteaError },
    #[error("aggregate type column {column:?} routes to illegal topic {topic:?}: {source}")]
    InvalidTopic {
        column: String,
        topic: String,
        source: TopicNameError,
    },
}

impl RoutingError {
    /// Short stable name, for metric labels and the error header on `cdc.errors`.
    pub fn code(&self) -> &'static str {
        match self {
            RoutingError::UnknownColumn { .. } => "unknown_column",
            RoutingError::NullEventId { .. } => "null_event_id",
            RoutingError::NullAggregateType { .. } => "null_aggregate_type",
            RoutingError::NullPayload { .. } => "null_payload",
            RoutingError::InvalidBytea { .. } => "invalid_bytea",
            RoutingError::InvalidTopic { .. } => "invalid_topic",
        }
    }
}

/// Route one inserted outbox row (see the module documentation for the mapping).
pub fn outbox_row_to_record(
    row: &Row,
    config: &RoutingConfig,
) -> Result<OutboxRecord, RoutingError> {
    OutboxRouter::new(config.clone()).route(row)
}

/// [`outbox_row_to_record`] for a stream of rows, with what does not change from row to row
/// worked out once: each configured column's position in the row's relation (again only when
/// the relation changes, e.g. after `ALTER TABLE`) and the topic of the last aggregate type
/// (built and checked again only when the aggregate type changes). Same records, same errors.
#[derive(Debug)]
pub struct OutboxRouter {
    config: RoutingConfig,
    /// Column positions in the relation of the last row.
    positions: Option<(Arc<Relation>, Positions)>,
    /// The last aggregate type and its (legal) topic.
    last_topic: Option<(String, String)>,
}

/// Where each configured column is in one relation; `None`: the relation has no such column.
#[derive(Debug)]
struct Positions {
    event_id: Option<usize>,
    aggregate_type: Option<usize>,
    aggregate_id: Option<usize>,
    event_type: Option<usize>,
    payload: Option<usize>,
    headers: Vec<Option<usize>>,
}

impl Positions {
    fn of(relation: &Relation, config: &RoutingConfig) -> Self {
        let find = |name: &str| relation.columns.iter().position(|c| c.name == name);
        let names = &config.columns;
        Positions {
            event_id: find(&names.event_id),
            aggregate_type: find(&names.aggregate_type),
            aggregate_id: find(&names.aggregate_id),
            event_type: find(&names.event_type),
            payload: find(&names.payload),
            headers: config
                .header_columns
                .iter()
                .map(|extra| find(&extra.column))
                .collect(),
        }
    }
}

impl OutboxRouter {
    pub fn new(config: RoutingConfig) -> Self {
        OutboxRouter {
            config,
            positions: None,
            last_topic: None,
        }
    }

    /// Route one inserted outbox row (see the module documentation for the mapping).
    pub fn route(&mut self, row: &Row) -> Result<OutboxRecord, RoutingError> {
        let relation = row.shared_relation();
        if !matches!(&self.positions, Some((known, _)) if Arc::ptr_eq(known, relation)) {
            self.positions = Some((Arc::clone(relation), Positions::of(relation, &self.config)));
        }
        let Some((_, at)) = &self.positions else {
            unreachable!("set above")
        };
        let names = &self.config.columns;
        let event_id = column(row, at.event_id, &names.event_id)?
            .value
            .ok_or_else(|| RoutingError::NullEventId {
                column: names.event_id.clone(),
            })?;
        let aggregate_type = column(row, at.aggregate_type, &names.aggregate_type)?
            .value
            .ok_or_else(|| RoutingError::NullAggregateType {
                column: names.aggregate_type.clone(),
            })?;
        let payload = column_bytes(column(row, at.payload, &names.payload)?)?.ok_or_else(|| {
            RoutingError::NullPayload {
                column: names.payload.clone(),
            }
        })?;
        let key = column_bytes(column(row, at.aggregate_id, &names.aggregate_id)?)?;
        let topic = match &self.last_topic {
            Some((known, topic)) if known == aggregate_type => topic.clone(),
            _ => {
                let topic = topic_for(&self.config, aggregate_type)?;
                self.last_topic = Some((aggregate_type.to_owned(), topic.clone()));
                topic
            }
        };
        let mut headers = Vec::with_capacity(2 + self.config.header_columns.len());
        headers.push((ID_HEADER.to_owned(), event_id.as_bytes().to_vec()));
        if let Some(event_type) = column(row, at.event_type, &names.event_type)?.value {
            headers.push((TYPE_HEADER.to_owned(), event_type.as_bytes().to_vec()));
        }
        for (extra, position) in self.config.header_columns.iter().zip(&at.headers) {
            if let Some(value) = column_bytes(column(row, *position, &extra.column)?)? {
                headers.push((extra.header.clone(), value));
            }
        }
        Ok(OutboxRecord {
            topic,
            key,
            payload,
            headers,
            event_id: event_id.to_owned(),
        })
    }
}

/// The column at `position` (looked up by `name` in the row's relation).
fn column<'r>(
    row: &'r Row,
    position: Option<usize>,
    name: &str,
) -> Result<RowColumn<'r>, RoutingError> {
    position
        .and_then(|index| row.column_at(index))
        .ok_or_else(|| RoutingError::UnknownColumn {
            table: row.table(),
            column: name.to_owned(),
        })
}

/// The column's bytes, `None` for NULL.
fn column_bytes(column: RowColumn<'_>) -> Result<Option<Vec<u8>>, RoutingError> {
    column
        .bytes()
        .transpose()
        .map_err(|source| RoutingError::InvalidBytea {
            column: column.name.to_owned(),
            source,
        })
}

fn topic_for(config: &RoutingConfig, aggregate_type: &str) -> Result<String, RoutingError> {
    let topic = config
        .topic_template
        .replace(AGGREGATE_TYPE_PLACEHOLDER, aggregate_type);
    match validate_topic_name(&topic) {
        Ok(()) => Ok(topic),
        Err(source) => Err(RoutingError::InvalidTopic {
            column: config.columns.aggregate_type.clone(),
            topic,
            source,
        }),
    }
}

/// Why a string is not a legal Kafka topic name.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TopicNameError {
    #[error("topic name is empty")]
    Empty,
    #[error("topic name cannot be \".\" or \"..\"")]
    DotOrDotDot,
    #[error("topic name is {len} characters long, the limit is {MAX_TOPIC_LEN}")]
    TooLong { len: usize },
    #[error(
        "topic name has illegal character {character:?} at byte {position} (allowed: a-z A-Z 0-9 . _ -)"
    )]
    IllegalCharacter { character: char, position: usize },
}

/// Kafka's topic name rules: 1 to 249 characters from `[a-zA-Z0-9._-]`, and not `.` or `..`.
pub fn validate_topic_name(topic: &str) -> Result<(), TopicNameError> {
    if topic.is_empty() {
        return Err(TopicNameError::Empty);
    }
    if topic == "." || topic == ".." {
        return Err(TopicNameError::DotOrDotDot);
    }
    let legal = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if let Some((position, character)) = topic.char_indices().find(|&(_, c)| !legal(c)) {
        return Err(TopicNameError::IllegalCharacter {
            character,
            position,
        });
    }
    // Only ASCII is left, so bytes are characters.
    if topic.len() > MAX_TOPIC_LEN {
        return Err(TopicNameError::TooLong { len: topic.len() });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::domain::pgoutput::{Insert, RelationId, TupleData, TupleValue};
    use crate::domain::relation_cache::{BYTEA_OID, RelationCache};

    const UUID_OID: u32 = 2950;
    const VARCHAR_OID: u32 = 1043;
    const TEXT_OID: u32 = 25;

    const EVENT_ID: &str = "4d47e190-0402-4048-bc2c-89dd54343cdc";

    /// The default outbox table plus a `traceparent` column.
    fn outbox_columns() -> Vec<(&'static str, u32)> {
        vec![
            ("id", UUID_OID),
            ("aggregatetype", VARCHAR_OID),
            ("aggregateid", VARCHAR_OID),
            ("type", VARCHAR_OID),
            ("payload", BYTEA_OID),
            ("traceparent", TEXT_OID),
        ]
    }

    fn row_with(columns: &[(&str, u32)], values: &[Option<&str>]) -> Row {
        let mut cache = RelationCache::new();
        cache.upsert(crate::domain::relation_cache::tests::relation(1, columns));
        let values = values
            .iter()
            .map(|value| match value {
                Some(text) => TupleValue::Text(text.as_bytes().to_vec()),
                None => TupleValue::Null,
            })
            .collect();
        cache
            .row_from_insert(Insert {
                relation_id: RelationId(1),
                new_tuple: TupleData { values },
            })
            .expect("test row matches its relation")
    }

    /// A default outbox row; `overrides` replace values by column name.
    fn outbox_row(overrides: &[(&str, Option<&str>)]) -> Row {
        let columns = outbox_columns();
        let defaults = [
            Some(EVENT_ID),
            Some("order"),
            Some("42"),
            Some("OrderCreated"),
            Some("\\x00000000010a"),
            Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
        ];
        let values: Vec<Option<&str>> = columns
            .iter()
            .zip(defaults)
            .map(|((name, _), default)| {
                overrides
                    .iter()
                    .find(|(column, _)| column == name)
                    .map_or(default, |(_, value)| *value)
            })
            .collect();
        row_with(&columns, &values)
    }

    fn traceparent_config() -> RoutingConfig {
        RoutingConfig {
            header_columns: vec![HeaderColumn::same_name("traceparent")],
            ..RoutingConfig::default()
        }
    }

    #[test]
    fn default_config_matches_debezium_defaults() {
        let config = RoutingConfig::default();
        assert_eq!(config.topic_template, "outbox.event.{aggregatetype}");
        assert_eq!(config.columns.event_id, "id");
        assert_eq!(config.columns.aggregate_type, "aggregatetype");
        assert_eq!(config.columns.aggregate_id, "aggregateid");
        assert_eq!(config.columns.event_type, "type");
        assert_eq!(config.columns.payload, "payload");
        assert!(config.header_columns.is_empty());
        assert_eq!(config.validate(), Ok(()));
    }

    #[test]
    fn outbox_row_becomes_topic_key_payload_and_headers() {
        let record = outbox_row_to_record(&outbox_row(&[]), &traceparent_config())
            .expect("default row routes");
        assert_eq!(record.topic, "outbox.event.order");
        assert_eq!(record.key, Some(b"42".to_vec()));
        assert_eq!(
            record.payload,
            vec![0, 0, 0, 0, 1, 0x0A],
            "bytea decoded, else unchanged"
        );
        assert_eq!(record.event_id, EVENT_ID);
        assert_eq!(
            record.headers,
            vec![
                ("id".to_owned(), EVENT_ID.as_bytes().to_vec()),
                ("type".to_owned(), b"OrderCreated".to_vec()),
                (
                    "traceparent".to_owned(),
                    b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".to_vec()
                ),
            ]
        );
    }

    #[test]
    fn aggregate_type_is_substituted_verbatim() {
        let row = outbox_row(&[("aggregatetype", Some("Payment"))]);
        let record = outbox_row_to_record(&row, &RoutingConfig::default()).expect("legal topic");
        assert_eq!(record.topic, "outbox.event.Payment");
    }

    #[test]
    fn null_extra_header_column_is_omitted() {
        let row = outbox_row(&[("traceparent", None)]);
        let record = outbox_row_to_record(&row, &traceparent_config()).expect("routes");
        let names: Vec<_> = record
            .headers
            .iter()
            .map(|(name, _)| name.as_str())
            .collect();
        assert_eq!(names, ["id", "type"]);
    }

    #[test]
    fn null_event_type_omits_the_type_header() {
        let row = outbox_row(&[("type", None)]);
        let record = outbox_row_to_record(&row, &RoutingConfig::default()).expect("routes");
        let names: Vec<_> = record
            .headers
            .iter()
            .map(|(name, _)| name.as_str())
            .collect();
        assert_eq!(names, ["id"]);
    }

    #[test]
    fn null_aggregate_id_gives_no_key() {
        let row = outbox_row(&[("aggregateid", None)]);
        let record = outbox_row_to_record(&row, &RoutingConfig::default()).expect("routes");
        assert_eq!(record.key, None);
    }

    #[test]
    fn empty_payload_is_an_empty_value_not_an_error() {
        let row = outbox_row(&[("payload", Some("\\x"))]);
        let record = outbox_row_to_record(&row, &RoutingConfig::default()).expect("routes");
        assert!(record.payload.is_empty());
    }

    #[test]
    fn text_payload_column_is_taken_as_its_utf8_text() {
        let columns = [
            ("id", UUID_OID),
            ("aggregatetype", VARCHAR_OID),
            ("aggregateid", VARCHAR_OID),
            ("type", VARCHAR_OID),
            ("payload", TEXT_OID),
        ];
        let row = row_with(
            &columns,
            &[
                Some(EVENT_ID),
                Some("order"),
                Some("1"),
                Some("T"),
                Some("{\"a\":1}"),
            ],
        );
        let record = outbox_row_to_record(&row, &RoutingConfig::default()).expect("routes");
        assert_eq!(record.payload, b"{\"a\":1}".to_vec());
    }

    #[test]
    fn custom_column_names_template_and_header_alias() {
        let columns = [
            ("event_id", UUID_OID),
            ("aggregate_type", VARCHAR_OID),
            ("aggregate_id", VARCHAR_OID),
            ("event_type", VARCHAR_OID),
            ("body", BYTEA_OID),
            ("trace", TEXT_OID),
        ];
        let row = row_with(
            &columns,
            &[
                Some(EVENT_ID),
                Some("payment"),
                Some("p-7"),
                Some("PaymentFailed"),
                Some("\\xff"),
                Some("t"),
            ],
        );
        let config = RoutingConfig {
            topic_template: "events.{aggregatetype}.v1".into(),
            columns: OutboxColumns {
                event_id: "event_id".into(),
                aggregate_type: "aggregate_type".into(),
                aggregate_id: "aggregate_id".into(),
                event_type: "event_type".into(),
                payload: "body".into(),
            },
            header_columns: vec![HeaderColumn {
                column: "trace".into(),
                header: "traceparent".into(),
            }],
        };
        assert_eq!(config.validate(), Ok(()));
        let record = outbox_row_to_record(&row, &config).expect("routes");
        assert_eq!(record.topic, "events.payment.v1");
        assert_eq!(record.key, Some(b"p-7".to_vec()));
        assert_eq!(record.payload, vec![0xFF]);
        assert_eq!(
            record.headers.last(),
            Some(&("traceparent".to_owned(), b"t".to_vec()))
        );
    }

    #[test]
    fn missing_required_column_names_table_and_column() {
        for missing in ["id", "aggregatetype", "aggregateid", "type", "payload"] {
            let columns: Vec<_> = outbox_columns()
                .into_iter()
                .filter(|(name, _)| *name != missing)
                .collect();
            let values = vec![Some("x"); columns.len()];
            let row = row_with(&columns, &values);
            assert_eq!(
                outbox_row_to_record(&row, &RoutingConfig::default()),
                Err(RoutingError::UnknownColumn {
                    table: "public.outbox".into(),
                    column: missing.into(),
                }),
                "missing {missing}"
            );
        }
    }

    #[test]
    fn missing_extra_header_column_is_an_error() {
        let config = RoutingConfig {
            header_columns: vec![HeaderColumn::same_name("tracestate")],
            ..RoutingConfig::default()
        };
        assert_eq!(
            outbox_row_to_record(&outbox_row(&[]), &config),
            Err(RoutingError::UnknownColumn {
                table: "public.outbox".into(),
                column: "tracestate".into(),
            })
        );
    }

    #[test]
    fn null_id_aggregate_type_or_payload_are_typed_errors() {
        let config = RoutingConfig::default();
        assert_eq!(
            outbox_row_to_record(&outbox_row(&[("id", None)]), &config),
            Err(RoutingError::NullEventId {
                column: "id".into()
            })
        );
        assert_eq!(
            outbox_row_to_record(&outbox_row(&[("aggregatetype", None)]), &config),
            Err(RoutingError::NullAggregateType {
                column: "aggregatetype".into()
            })
        );
        assert_eq!(
            outbox_row_to_record(&outbox_row(&[("payload", None)]), &config),
            Err(RoutingError::NullPayload {
                column: "payload".into()
            })
        );
    }

    #[test]
    fn malformed_bytea_payload_is_a_typed_error() {
        let row = outbox_row(&[("payload", Some("\\xabc"))]);
        assert_eq!(
            outbox_row_to_record(&row, &RoutingConfig::default()),
            Err(RoutingError::InvalidBytea {
                column: "payload".into(),
                source: ByteaError::OddHexDigits { digits: 3 },
            })
        );
    }

    #[test]
    fn illegal_topic_names_are_rejected_naming_the_column() {
        let too_long = "a".repeat(MAX_TOPIC_LEN);
        for aggregate_type in ["or/der", "ordér", "order events", too_long.as_str()] {
            let row = outbox_row(&[("aggregatetype", Some(aggregate_type))]);
            let routed = outbox_row_to_record(&row, &RoutingConfig::default());
            assert!(
                matches!(&routed, Err(RoutingError::InvalidTopic { column, .. }) if column == "aggregatetype"),
                "{aggregate_type:?} gave {routed:?}"
            );
        }
    }

    #[test]
    fn whole_value_template_rejects_dot_and_empty() {
        let config = RoutingConfig {
            topic_template: AGGREGATE_TYPE_PLACEHOLDER.into(),
            ..RoutingConfig::default()
        };
        for (value, expected) in [
            ("..", TopicNameError::DotOrDotDot),
            ("", TopicNameError::Empty),
        ] {
            let row = outbox_row(&[("aggregatetype", Some(value))]);
            assert_eq!(
                outbox_row_to_record(&row, &config),
                Err(RoutingError::InvalidTopic {
                    column: "aggregatetype".into(),
                    topic: value.into(),
                    source: expected,
                })
            );
        }
    }

    #[test]
    fn topic_name_rules() {
        assert_eq!(validate_topic_name("outbox.event.order"), Ok(()));
        assert_eq!(validate_topic_name("A-z_0.9"), Ok(()));
        assert_eq!(validate_topic_name(&"x".repeat(249)), Ok(()));
        assert_eq!(
            validate_topic_name(&"x".repeat(250)),
            Err(TopicNameError::TooLong { len: 250 })
        );
        assert_eq!(validate_topic_name(""), Err(TopicNameError::Empty));
        assert_eq!(validate_topic_name("."), Err(TopicNameError::DotOrDotDot));
        assert_eq!(validate_topic_name(".."), Err(TopicNameError::DotOrDotDot));
        assert_eq!(validate_topic_name("..."), Ok(()));
        assert_eq!(
            validate_topic_name("a b"),
            Err(TopicNameError::IllegalCharacter {
                character: ' ',
                position: 1
            })
        );
    }

    #[test]
    fn config_validation_catches_mistakes() {
        let bad_template = RoutingConfig {
            topic_template: "outbox event {aggregatetype}".into(),
            ..RoutingConfig::default()
        };
        assert!(matches!(
            bad_template.validate(),
            Err(RoutingConfigError::InvalidTopicTemplate { .. })
        ));

        let mut empty_column = RoutingConfig::default();
        empty_column.columns.payload.clear();
        assert_eq!(
            empty_column.validate(),
            Err(RoutingConfigError::EmptyColumnName { role: "payload" })
        );

        let duplicate = RoutingConfig {
            header_columns: vec![HeaderColumn::same_name("type")],
            ..RoutingConfig::default()
        };
        assert_eq!(
            duplicate.validate(),
            Err(RoutingConfigError::DuplicateHeader {
                header: "type".into()
            })
        );
    }

    #[test]
    fn error_codes_are_distinct() {
        let column = || "c".to_owned();
        let errors = [
            RoutingError::UnknownColumn {
                table: column(),
                column: column(),
            },
            RoutingError::NullEventId { column: column() },
            RoutingError::NullAggregateType { column: column() },
            RoutingError::NullPayload { column: column() },
            RoutingError::InvalidBytea {
                column: column(),
                source: ByteaError::OddHexDigits { digits: 1 },
            },
            RoutingError::InvalidTopic {
                column: column(),
                topic: column(),
                source: TopicNameError::Empty,
            },
        ];
        let codes: HashSet<_> = errors.iter().map(RoutingError::code).collect();
        assert_eq!(codes.len(), errors.len());
    }

    /// One row of a generated stream: which table shape, and some values (`None`: NULL).
    #[derive(Debug, Clone)]
    struct StreamRow {
        /// 0: the default outbox; 1: the same columns in another order (an ALTER TABLE and
        /// re-create); 2: without `type` and `traceparent` (errors once they are configured).
        shape: usize,
        aggregate_type: Option<&'static str>,
        event_type: Option<&'static str>,
        traceparent: Option<&'static str>,
    }

    fn stream_row() -> impl Strategy<Value = StreamRow> {
        (
            0usize..3,
            proptest::option::weighted(
                0.9,
                proptest::sample::select(vec!["order", "payment", "bad topic", "order"]),
            ),
            proptest::option::of(Just("OrderCreated")),
            proptest::option::of(Just(
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            )),
        )
            .prop_map(
                |(shape, aggregate_type, event_type, traceparent)| StreamRow {
                    shape,
                    aggregate_type,
                    event_type,
                    traceparent,
                },
            )
    }

    proptest! {
        /// A router that caches column positions and the last topic across a stream of rows,
        /// whose table changes shape and whose aggregate types change, yields exactly what
        /// routing each row on its own yields (records and errors).
        #[test]
        fn a_router_over_a_stream_routes_each_row_as_routing_it_alone_would(
            rows in proptest::collection::vec(stream_row(), 1..40),
            with_traceparent in any::<bool>(),
        ) {
            let config = if with_traceparent { traceparent_config() } else { RoutingConfig::default() };
            let shapes: [Vec<(&str, u32)>; 3] = [
                outbox_columns(),
                {
                    let mut reordered = outbox_columns();
                    reordered.rotate_left(2);
                    reordered
                },
                outbox_columns().into_iter().filter(|(name, _)| !["type", "traceparent"].contains(name)).collect(),
            ];
            let mut cache = RelationCache::new();
            let mut router = OutboxRouter::new(config.clone());
            for planned in rows {
                let columns = &shapes[planned.shape];
                // A new Relation message per row whose shape differs from the last one, as
                // pgoutput sends after a change; rows of one shape in a row share it.
                if cache.get(RelationId(1)).is_none_or(|r| r.columns.len() != columns.len() || r.columns[0].name != columns[0].0) {
                    cache.upsert(crate::domain::relation_cache::tests::relation(1, columns));
                }
                let values = columns
                    .iter()
                    .map(|(name, _)| match *name {
                        "id" => Some(EVENT_ID),
                        "aggregatetype" => planned.aggregate_type,
                        "aggregateid" => Some("42"),
                        "type" => planned.event_type,
                        "payload" => Some("\\x00ff"),
                        _ => planned.traceparent,
                    })
                    .map(|value| value.map_or(TupleValue::Null, |text| TupleValue::Text(text.as_bytes().to_vec())))
                    .collect();
                let row = cache
                    .row_from_insert(Insert { relation_id: RelationId(1), new_tuple: TupleData { values } })
                    .expect("row matches its relation");
                prop_assert_eq!(router.route(&row), outbox_row_to_record(&row, &config));
            }
        }

        #[test]
        fn legal_aggregate_types_route_to_the_templated_topic(
            aggregate_type in "[a-zA-Z0-9._-]{1,236}"
        ) {
            let row = outbox_row(&[("aggregatetype", Some(aggregate_type.as_str()))]);
            let record = outbox_row_to_record(&row, &RoutingConfig::default());
            prop_assert_eq!(
                record.map(|r| r.topic),
                Ok(format!("outbox.event.{aggregate_type}"))
            );
        }

        #[test]
        fn payload_bytes_arrive_unchanged(payload in proptest::collection::vec(any::<u8>(), 0..64)) {
            let hex: String = payload.iter().map(|b| format!("{b:02x}")).collect();
            let text = format!("\\x{hex}");
            let row = outbox_row(&[("payload", Some(text.as_str()))]);
            let record = outbox_row_to_record(&row, &RoutingConfig::default());
            prop_assert_eq!(record.map(|r| r.payload), Ok(payload));
        }

        #[test]
        fn routing_never_panics_and_any_topic_it_returns_is_legal(
            aggregate_type in "\\PC{0,300}"
        ) {
            let row = outbox_row(&[("aggregatetype", Some(aggregate_type.as_str()))]);
            if let Ok(record) = outbox_row_to_record(&row, &RoutingConfig::default()) {
                prop_assert_eq!(validate_topic_name(&record.topic), Ok(()));
            }
        }
    }
}
