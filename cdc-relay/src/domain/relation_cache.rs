//! Table definitions seen on the stream, and the step that turns an Insert's raw tuple into a
//! [`Row`] of named, text-typed values.
//!
//! pgoutput sends a Relation message before the first change to a table in each replication
//! session and again after the table's definition changes (for example `ALTER TABLE outbox ADD
//! COLUMN traceparent text` mid-stream). [`RelationCache::upsert`] always keeps the latest one,
//! and every [`Row`] holds the definition that was current when its Insert arrived, so a later
//! ALTER never reinterprets a row already built.
//!
//! Guarantees:
//! - An Insert for a relation never announced is a typed [`RowError::UnknownRelation`], never a
//!   guess.
//! - A tuple whose width differs from its relation is rejected, not zipped short.
//! - Values are text format: [`RowError::BinaryValue`] if the stream was started with
//!   `binary 'true'`, [`RowError::InvalidUtf8`] if a value is not UTF-8.
//! - `bytea` arrives as text in Postgres' hex output (`\x0a1b`, the default `bytea_output`), or
//!   in the legacy escape output; [`decode_bytea_text`] turns either back into the exact bytes.
//!
//! The cache is per session: a new replication connection re-sends every Relation it needs, so
//! the I/O layer may start each session with an empty cache.

use std::collections::HashMap;
use std::sync::Arc;

use thiserror::Error;

use crate::domain::pgoutput::{Insert, Relation, RelationId, TupleValue};

/// OID of the `bytea` type.
pub const BYTEA_OID: u32 = 17;

/// The latest [`Relation`] per relation id.
#[derive(Debug, Default)]
pub struct RelationCache {
    relations: HashMap<RelationId, Arc<Relation>>,
}

impl RelationCache {
    pub fn new() -> Self {
        Self::default()
    }

    /// Remember `relation`, replacing any earlier definition with the same id. Returns the
    /// replaced definition, so callers can log schema changes.
    pub fn upsert(&mut self, relation: Relation) -> Option<Arc<Relation>> {
        self.relations.insert(relation.id, Arc::new(relation))
    }

    pub fn get(&self, id: RelationId) -> Option<&Arc<Relation>> {
        self.relations.get(&id)
    }

    pub fn len(&self) -> usize {
        self.relations.len()
    }

    pub fn is_empty(&self) -> bool {
        self.relations.is_empty()
    }

    /// Name the values of an Insert with the current definition of its relation.
    pub fn row_from_insert(&self, insert: Insert) -> Result<Row, RowError> {
        let relation = self
            .get(insert.relation_id)
            .ok_or(RowError::UnknownRelation {
                relation_id: insert.relation_id,
            })?;
        Row::new(Arc::clone(relation), insert.new_tuple.values)
    }
}

/// One inserted row: its relation's definition plus a text value (or NULL) per column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    relation: Arc<Relation>,
    /// Same length and order as `relation.columns` (checked in [`Row::new`]).
    values: Vec<Option<String>>,
}

impl Row {
    fn new(relation: Arc<Relation>, raw: Vec<TupleValue>) -> Result<Row, RowError> {
        if raw.len() != relation.columns.len() {
            return Err(RowError::ColumnCountMismatch {
                table: qualified_name(&relation),
                expected: relation.columns.len(),
                found: raw.len(),
            });
        }
        let values = relation
            .columns
            .iter()
            .zip(raw)
            .map(|(column, value)| text_value(&relation, &column.name, value))
            .collect::<Result<_, _>>()?;
        Ok(Row { relation, values })
    }

    /// The relation definition this row was read with.
    pub fn relation(&self) -> &Relation {
        &self.relation
    }

    /// The same definition, shared: rows read with one definition share it (a changed table
    /// gets a new one), so callers can cache what they work out per definition.
    pub fn shared_relation(&self) -> &Arc<Relation> {
        &self.relation
    }

    /// The column at `index` in table order, if the relation has that many.
    pub fn column_at(&self, index: usize) -> Option<RowColumn<'_>> {
        let column = self.relation.columns.get(index)?;
        Some(RowColumn {
            name: &column.name,
            type_oid: column.type_oid,
            value: self.values.get(index)?.as_deref(),
        })
    }

    /// `schema.table` of the row.
    pub fn table(&self) -> String {
        qualified_name(&self.relation)
    }

    /// The value of column `name`: `None` if the relation has no such column, `Some(None)` if
    /// the value is SQL NULL.
    pub fn get(&self, name: &str) -> Option<Option<&str>> {
        self.columns()
            .find(|column| column.name == name)
            .map(|column| column.value)
    }

    /// Every column in table order.
    pub fn columns(&self) -> impl Iterator<Item = RowColumn<'_>> {
        self.relation
            .columns
            .iter()
            .zip(&self.values)
            .map(|(column, value)| RowColumn {
                name: &column.name,
                type_oid: column.type_oid,
                value: value.as_deref(),
            })
    }
}

/// A borrowed view of one column of a [`Row`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowColumn<'a> {
    pub name: &'a str,
    pub type_oid: u32,
    /// Text-format value; `None` is SQL NULL.
    pub value: Option<&'a str>,
}

impl RowColumn<'_> {
    /// The value as bytes: `bytea` columns are decoded from their text form, any other type is
    /// its text representation as UTF-8. `None` for NULL.
    pub fn bytes(&self) -> Option<Result<Vec<u8>, ByteaError>> {
        let text = self.value?;
        Some(match self.type_oid {
            BYTEA_OID => decode_bytea_text(text),
            _ => Ok(text.as_bytes().to_vec()),
        })
    }
}

fn qualified_name(relation: &Relation) -> String {
    format!("{}.{}", relation.namespace, relation.name)
}

/// A text-format value, or the reason this column's value is not one.
fn text_value(
    relation: &Relation,
    column: &str,
    value: TupleValue,
) -> Result<Option<String>, RowError> {
    let table = || qualified_name(relation);
    let column = || column.to_owned();
    match value {
        TupleValue::Null => Ok(None),
        TupleValue::Text(bytes) => {
            String::from_utf8(bytes)
                .map(Some)
                .map_err(|_| RowError::InvalidUtf8 {
                    table: table(),
                    column: column(),
                })
        }
        TupleValue::Binary(_) => Err(RowError::BinaryValue {
            table: table(),
            column: column(),
        }),
        TupleValue::UnchangedToast => Err(RowError::UnchangedToastInInsert {
            table: table(),
            column: column(),
        }),
    }
}

/// Why an Insert could not be turned into a [`Row`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RowError {
    #[error("insert for relation {relation_id}, which no Relation message has described")]
    UnknownRelation { relation_id: RelationId },
    #[error("insert into {table} has {found} values but the relation has {expected} columns")]
    ColumnCountMismatch {
        table: String,
        expected: usize,
        found: usize,
    },
    #[error("insert into {table}: column {column} is in binary format; the relay expects text")]
    BinaryValue { table: String, column: String },
    #[error(
        "insert into {table}: column {column} is an unchanged-TOAST marker, impossible in an insert"
    )]
    UnchangedToastInInsert { table: String, column: String },
    #[error("insert into {table}: column {column} is not valid UTF-8")]
    InvalidUtf8 { table: String, column: String },
}

impl RowError {
    /// Short stable name, for metric labels and error headers.
    pub fn code(&self) -> &'static str {
        match self {
            RowError::UnknownRelation { .. } => "unknown_relation",
            RowError::ColumnCountMismatch { .. } => "column_count_mismatch",
            RowError::BinaryValue { .. } => "binary_value",
            RowError::UnchangedToastInInsert { .. } => "unchanged_toast_in_insert",
            RowError::InvalidUtf8 { .. } => "invalid_utf8",
        }
    }
}

/// Why a text value is not `bytea` output.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ByteaError {
    #[error("bytea hex text has an odd number of digits ({digits})")]
    OddHexDigits { digits: usize },
    #[error("bytea hex text has a non-hex character at byte {position}")]
    InvalidHexDigit { position: usize },
    #[error("bytea escape text has an invalid escape at byte {position}")]
    InvalidEscape { position: usize },
}

/// Decode the text output of a `bytea` value back to its bytes.
///
/// Accepts both of Postgres' output formats: hex (`\x` followed by two hex digits per byte, the
/// default since 9.0) and escape (`bytea_output = 'escape'`: printable ASCII as is, `\\` for a
/// backslash, `\ooo` octal for anything else). The two cannot be confused: escape output writes
/// a leading backslash as `\\`, never `\x`.
pub fn decode_bytea_text(text: &str) -> Result<Vec<u8>, ByteaError> {
    match text.strip_prefix("\\x") {
        Some(hex) => decode_hex(hex),
        None => decode_escape(text.as_bytes()),
    }
}

fn decode_hex(hex: &str) -> Result<Vec<u8>, ByteaError> {
    let digits = hex.as_bytes();
    if !digits.len().is_multiple_of(2) {
        return Err(ByteaError::OddHexDigits {
            digits: digits.len(),
        });
    }
    // This runs for every payload: one allocation of the right size and const-hex's SIMD
    // decoder (a scalar table loop was a quarter of the pure pipeline's time). const-hex takes a
    // leading "0x" as a prefix to skip; here `x` is never a digit, so that input goes to the
    // error path like any other bad digit.
    let mut out = vec![0_u8; digits.len() / 2];
    let prefixed = matches!(digits, [b'0', b'x' | b'X', ..]);
    if !prefixed && const_hex::decode_to_slice(digits, &mut out).is_ok() {
        return Ok(out);
    }
    let position = digits
        .iter()
        .position(|digit| !digit.is_ascii_hexdigit())
        .unwrap_or_default();
    Err(ByteaError::InvalidHexDigit {
        position: position + 2,
    })
}

fn decode_escape(text: &[u8]) -> Result<Vec<u8>, ByteaError> {
    let mut out = Vec::with_capacity(text.len());
    let mut position = 0;
    while let Some(&byte) = text.get(position) {
        if byte != b'\\' {
            out.push(byte);
            position += 1;
            continue;
        }
        let (decoded, consumed) =
            decode_escape_sequence(text.get(position + 1..).unwrap_or_default())
                .ok_or(ByteaError::InvalidEscape { position })?;
        out.push(decoded);
        position += 1 + consumed;
    }
    Ok(out)
}

/// After a backslash: `\` itself, or three octal digits `000`..`377`. Returns (byte, bytes used).
fn decode_escape_sequence(after_backslash: &[u8]) -> Option<(u8, usize)> {
    if after_backslash.first() == Some(&b'\\') {
        return Some((b'\\', 1));
    }
    let octal = after_backslash.get(..3)?;
    let value = octal.iter().try_fold(0u16, |acc, &digit| {
        (b'0'..=b'7')
            .contains(&digit)
            .then(|| acc * 8 + u16::from(digit - b'0'))
    })?;
    u8::try_from(value).ok().map(|byte| (byte, 3))
}

#[cfg(test)]
pub(crate) mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::domain::pgoutput::{Column, ReplicaIdentity, TupleData};

    const TEXT_OID: u32 = 25;

    /// A `public.outbox` relation with the given columns; shared by the domain's tests.
    pub(crate) fn relation(id: u32, columns: &[(&str, u32)]) -> Relation {
        Relation {
            id: RelationId(id),
            namespace: "public".into(),
            name: "outbox".into(),
            replica_identity: ReplicaIdentity::Default,
            columns: columns
                .iter()
                .map(|&(name, type_oid)| Column {
                    flags: 0,
                    name: name.into(),
                    type_oid,
                    type_modifier: -1,
                })
                .collect(),
        }
    }

    fn insert(id: u32, values: Vec<TupleValue>) -> Insert {
        Insert {
            relation_id: RelationId(id),
            new_tuple: TupleData { values },
        }
    }

    fn text(value: &str) -> TupleValue {
        TupleValue::Text(value.as_bytes().to_vec())
    }

    #[test]
    fn insert_becomes_named_text_values_in_table_order() {
        let mut cache = RelationCache::new();
        cache.upsert(relation(1, &[("id", TEXT_OID), ("note", TEXT_OID)]));
        let row = cache
            .row_from_insert(insert(1, vec![text("e-1"), TupleValue::Null]))
            .expect("insert matches its relation");
        assert_eq!(row.get("id"), Some(Some("e-1")));
        assert_eq!(row.get("note"), Some(None), "NULL is Some(None)");
        assert_eq!(row.get("absent"), None, "unknown column is None");
        assert_eq!(row.table(), "public.outbox");
        let names: Vec<_> = row.columns().map(|c| c.name).collect();
        assert_eq!(names, ["id", "note"]);
    }

    #[test]
    fn insert_for_unknown_relation_is_a_typed_error() {
        let cache = RelationCache::new();
        assert_eq!(
            cache.row_from_insert(insert(9, vec![])),
            Err(RowError::UnknownRelation {
                relation_id: RelationId(9)
            })
        );
    }

    #[test]
    fn alter_table_mid_stream_is_honoured_and_earlier_rows_keep_their_shape() {
        let mut cache = RelationCache::new();
        assert!(cache.upsert(relation(1, &[("id", TEXT_OID)])).is_none());
        let before = cache
            .row_from_insert(insert(1, vec![text("a")]))
            .expect("one column");

        let replaced = cache.upsert(relation(1, &[("id", TEXT_OID), ("traceparent", TEXT_OID)]));
        assert_eq!(replaced.map(|r| r.columns.len()), Some(1));
        assert_eq!(cache.len(), 1);

        let after = cache
            .row_from_insert(insert(1, vec![text("b"), text("00-abc-01")]))
            .expect("two columns after ALTER");
        assert_eq!(after.get("traceparent"), Some(Some("00-abc-01")));
        assert_eq!(before.get("traceparent"), None);
        assert_eq!(
            cache.row_from_insert(insert(1, vec![text("c")])),
            Err(RowError::ColumnCountMismatch {
                table: "public.outbox".into(),
                expected: 2,
                found: 1,
            }),
            "old-width tuples no longer fit"
        );
    }

    #[test]
    fn binary_unchanged_toast_and_invalid_utf8_values_name_the_column() {
        let mut cache = RelationCache::new();
        cache.upsert(relation(1, &[("payload", BYTEA_OID)]));
        let table = || "public.outbox".to_owned();
        let column = || "payload".to_owned();
        assert_eq!(
            cache.row_from_insert(insert(1, vec![TupleValue::Binary(vec![1])])),
            Err(RowError::BinaryValue {
                table: table(),
                column: column()
            })
        );
        assert_eq!(
            cache.row_from_insert(insert(1, vec![TupleValue::UnchangedToast])),
            Err(RowError::UnchangedToastInInsert {
                table: table(),
                column: column()
            })
        );
        assert_eq!(
            cache.row_from_insert(insert(1, vec![TupleValue::Text(vec![0xFF])])),
            Err(RowError::InvalidUtf8 {
                table: table(),
                column: column()
            })
        );
    }

    #[test]
    fn row_column_bytes_decodes_bytea_and_passes_text_through() {
        let mut cache = RelationCache::new();
        cache.upsert(relation(1, &[("payload", BYTEA_OID), ("type", TEXT_OID)]));
        let row = cache
            .row_from_insert(insert(1, vec![text("\\x00ff10"), text("\\x41")]))
            .expect("valid row");
        let bytes: Vec<_> = row.columns().map(|c| c.bytes()).collect();
        assert_eq!(
            bytes,
            vec![
                Some(Ok(vec![0x00, 0xFF, 0x10])),
                Some(Ok(b"\\x41".to_vec()))
            ]
        );
    }

    #[test]
    fn bytea_hex_output_decodes() {
        assert_eq!(decode_bytea_text("\\x"), Ok(vec![]));
        assert_eq!(
            decode_bytea_text("\\xDEADbeef"),
            Ok(vec![0xDE, 0xAD, 0xBE, 0xEF])
        );
    }

    #[test]
    fn bytea_hex_errors_are_typed() {
        assert_eq!(
            decode_bytea_text("\\xabc"),
            Err(ByteaError::OddHexDigits { digits: 3 })
        );
        assert_eq!(
            decode_bytea_text("\\xag"),
            Err(ByteaError::InvalidHexDigit { position: 3 })
        );
        assert_eq!(
            decode_bytea_text("\\xé"),
            Err(ByteaError::InvalidHexDigit { position: 2 })
        );
        for prefixed in ["\\x0x41", "\\x0X41"] {
            assert_eq!(
                decode_bytea_text(prefixed),
                Err(ByteaError::InvalidHexDigit { position: 3 }),
                "{prefixed}: no 0x prefix is skipped"
            );
        }
    }

    /// The obvious hex decoder, to compare the fast one with.
    fn reference_hex(digits: &str) -> Result<Vec<u8>, ByteaError> {
        let values: Vec<u32> = digits
            .chars()
            .enumerate()
            .map(|(i, c)| {
                c.to_digit(16)
                    .ok_or(ByteaError::InvalidHexDigit { position: i + 2 })
            })
            .collect::<Result<_, _>>()?;
        Ok(values
            .chunks(2)
            .map(|pair| (pair[0] * 16 + pair[1]) as u8)
            .collect())
    }

    #[test]
    fn bytea_escape_output_decodes() {
        assert_eq!(decode_bytea_text(""), Ok(vec![]));
        assert_eq!(decode_bytea_text("abc"), Ok(b"abc".to_vec()));
        assert_eq!(
            decode_bytea_text("a\\\\b\\000\\377"),
            Ok(vec![b'a', b'\\', b'b', 0, 0xFF])
        );
        for bad in ["\\", "\\4", "\\400", "\\08a", "x\\9"] {
            assert!(
                matches!(
                    decode_bytea_text(bad),
                    Err(ByteaError::InvalidEscape { .. })
                ),
                "{bad:?} should be rejected"
            );
        }
    }

    fn hex_output(bytes: &[u8]) -> String {
        let digits: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        format!("\\x{digits}")
    }

    fn escape_output(bytes: &[u8]) -> String {
        bytes
            .iter()
            .map(|&b| match b {
                b'\\' => "\\\\".to_owned(),
                0x20..=0x7E => char::from(b).to_string(),
                _ => format!("\\{b:03o}"),
            })
            .collect()
    }

    proptest! {
        #[test]
        fn bytea_hex_output_round_trips(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            prop_assert_eq!(decode_bytea_text(&hex_output(&bytes)), Ok(bytes));
        }

        #[test]
        fn bytea_escape_output_round_trips(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            prop_assert_eq!(decode_bytea_text(&escape_output(&bytes)), Ok(bytes));
        }

        /// Valid digits of every length the SIMD paths take in blocks, with at most one bad
        /// byte anywhere: the same bytes or the same error position as the obvious decoder.
        #[test]
        fn bytea_hex_decoder_agrees_with_the_obvious_one(
            pairs in "([0-9a-fA-F]{2}){0,150}",
            bad in proptest::option::of((any::<proptest::sample::Index>(), "[^0-9a-fA-F]")),
        ) {
            let mut digits = pairs;
            if let Some((at, bad)) = bad {
                let mut chars: Vec<char> = digits.chars().collect();
                let at = at.index(chars.len() + 1);
                chars.splice(at..(at + 1).min(chars.len()), bad.chars());
                digits = chars.into_iter().collect();
            }
            let text = format!("\\x{digits}");
            if digits.len() % 2 == 0 {
                prop_assert_eq!(decode_bytea_text(&text), reference_hex(&digits));
            } else {
                prop_assert!(decode_bytea_text(&text).is_err());
            }
        }

        #[test]
        fn bytea_decoder_never_panics(text in "\\PC{0,32}") {
            let _ = decode_bytea_text(&text);
        }
    }
}
