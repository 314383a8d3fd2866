//! Decoder for the messages of Postgres' `pgoutput` logical decoding plugin, protocol version 1.
//!
//! Input is the payload of one `XLogData` frame of the replication stream: exactly one pgoutput
//! message, first byte its type tag. That is what `pgwire-replication` hands over in
//! `ReplicationEvent::XLogData { data, .. }` (a `bytes::Bytes`, which derefs to the `&[u8]` taken
//! here). Note that `pgwire-replication` decodes Begin, Commit and logical-decoding Message itself
//! and never forwards their bytes; the decoder still understands them so that it covers the whole
//! v1 protocol and can be fed a raw stream (tests, other clients).
//!
//! Guarantees:
//! - **Never panics.** Every read goes through a bounds-checked cursor; malformed, truncated or
//!   over-long input returns a typed [`DecodeError`] naming the message, the field and the byte
//!   offset. Counts read from the input never drive a pre-allocation larger than the input itself.
//! - **Strict.** A message must be consumed exactly: trailing bytes are an error, because a v1
//!   message has no optional tail and leftovers mean a protocol-version mismatch or corruption.
//! - **Transport only.** Column values stay raw bytes ([`TupleValue`]); giving them names and
//!   text types is [`crate::domain::relation_cache`]'s job.
//!
//! Wire reference: "Logical Replication Message Formats" in the Postgres manual. Integers are
//! big-endian; strings are NUL-terminated; timestamps are microseconds since 2000-01-01 UTC.

mod reader;

#[cfg(any(test, feature = "test-utils"))]
pub mod encode;

#[cfg(test)]
mod tests;

use thiserror::Error;

use crate::domain::lsn::Lsn;
use reader::Reader;

/// The OID of a relation (table), as used by Relation and change messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RelationId(pub u32);

impl std::fmt::Display for RelationId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// A Postgres timestamp: microseconds since 2000-01-01 00:00:00 UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PgTimestamp(pub i64);

impl PgTimestamp {
    /// Microseconds between the Unix epoch and the Postgres epoch (2000-01-01).
    pub const POSTGRES_EPOCH_UNIX_MICROS: i64 = 946_684_800_000_000;

    /// The same instant as microseconds since the Unix epoch (saturating at the i64 range).
    pub fn unix_micros(self) -> i64 {
        self.0.saturating_add(Self::POSTGRES_EPOCH_UNIX_MICROS)
    }
}

/// One decoded pgoutput message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PgOutputMessage {
    Begin(Begin),
    Commit(Commit),
    Origin(Origin),
    Relation(Relation),
    Type(TypeInfo),
    Insert(Insert),
    Update(Update),
    Delete(Delete),
    Truncate(Truncate),
    Message(LogicalMessage),
}

impl PgOutputMessage {
    /// Short stable name of the message type, for logs and metric labels.
    pub fn kind(&self) -> &'static str {
        match self {
            PgOutputMessage::Begin(_) => "begin",
            PgOutputMessage::Commit(_) => "commit",
            PgOutputMessage::Origin(_) => "origin",
            PgOutputMessage::Relation(_) => "relation",
            PgOutputMessage::Type(_) => "type",
            PgOutputMessage::Insert(_) => "insert",
            PgOutputMessage::Update(_) => "update",
            PgOutputMessage::Delete(_) => "delete",
            PgOutputMessage::Truncate(_) => "truncate",
            PgOutputMessage::Message(_) => "message",
        }
    }
}

/// `B`: start of a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Begin {
    /// LSN of the transaction's commit record (the same as [`Commit::commit_lsn`]).
    pub final_lsn: Lsn,
    pub commit_timestamp: PgTimestamp,
    pub xid: u32,
}

/// `C`: end of a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Commit {
    /// Unused by Postgres so far; always 0.
    pub flags: u8,
    /// LSN of the commit record.
    pub commit_lsn: Lsn,
    /// LSN just past the commit record: the position to acknowledge once the transaction is
    /// durably handled (Postgres' own subscriber does the same).
    pub end_lsn: Lsn,
    pub commit_timestamp: PgTimestamp,
}

/// `O`: the transaction was replicated into this server from another origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// Commit LSN on the origin server.
    pub commit_lsn: Lsn,
    pub name: String,
}

/// How a table identifies the old row of updates and deletes (`REPLICA IDENTITY`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplicaIdentity {
    /// `d`: the primary key.
    Default,
    /// `n`: nothing.
    Nothing,
    /// `f`: all columns.
    Full,
    /// `i`: the columns of a chosen unique index.
    Index,
}

impl ReplicaIdentity {
    fn from_wire(byte: u8) -> Option<Self> {
        match byte {
            b'd' => Some(ReplicaIdentity::Default),
            b'n' => Some(ReplicaIdentity::Nothing),
            b'f' => Some(ReplicaIdentity::Full),
            b'i' => Some(ReplicaIdentity::Index),
            _ => None,
        }
    }

    /// The byte Postgres sends for this setting.
    pub fn wire_byte(self) -> u8 {
        match self {
            ReplicaIdentity::Default => b'd',
            ReplicaIdentity::Nothing => b'n',
            ReplicaIdentity::Full => b'f',
            ReplicaIdentity::Index => b'i',
        }
    }
}

/// `R`: the shape of a table. Sent before the first change to the table in a session and again
/// whenever its definition changes (e.g. `ALTER TABLE`), so the latest one always wins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relation {
    pub id: RelationId,
    /// Schema name; empty for `pg_catalog`.
    pub namespace: String,
    pub name: String,
    pub replica_identity: ReplicaIdentity,
    /// Columns in the order their values appear in tuples.
    pub columns: Vec<Column>,
}

/// One column of a [`Relation`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// Bit 0 set: the column is part of the replica identity key.
    pub flags: u8,
    pub name: String,
    pub type_oid: u32,
    /// Type modifier (`atttypmod`), -1 when the type has none.
    pub type_modifier: i32,
}

impl Column {
    /// Whether the column is part of the replica identity key.
    pub fn is_key(&self) -> bool {
        self.flags & 1 == 1
    }
}

/// `Y`: a non-built-in data type used by a following Relation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeInfo {
    pub oid: u32,
    /// Schema name; empty for `pg_catalog`.
    pub namespace: String,
    pub name: String,
}

/// `I`: a row was inserted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Insert {
    pub relation_id: RelationId,
    pub new_tuple: TupleData,
}

/// `U`: a row was updated. Decoded in full, although the relay only counts updates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Update {
    pub relation_id: RelationId,
    /// Present when the key changed (`K`) or the table has `REPLICA IDENTITY FULL` (`O`).
    pub old_tuple: Option<OldTuple>,
    pub new_tuple: TupleData,
}

/// `D`: a row was deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delete {
    pub relation_id: RelationId,
    pub old_tuple: OldTuple,
}

/// The old row of an update or delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OldTuple {
    /// `K`: only the replica identity key columns are set; the others are null.
    Key(TupleData),
    /// `O`: the whole old row (`REPLICA IDENTITY FULL`).
    Full(TupleData),
}

/// `T`: tables were truncated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Truncate {
    /// Bit 0: `CASCADE`; bit 1: `RESTART IDENTITY`.
    pub options: u8,
    pub relation_ids: Vec<RelationId>,
}

impl Truncate {
    pub fn is_cascade(&self) -> bool {
        self.options & 1 != 0
    }

    pub fn restarts_identity(&self) -> bool {
        self.options & 2 != 0
    }
}

/// `M`: a logical decoding message written with `pg_logical_emit_message()`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogicalMessage {
    /// Bit 0 set: the message is transactional (delivered inside its transaction at commit).
    pub flags: u8,
    pub lsn: Lsn,
    pub prefix: String,
    pub content: Vec<u8>,
}

impl LogicalMessage {
    pub fn is_transactional(&self) -> bool {
        self.flags & 1 == 1
    }
}

/// The column values of one row, in [`Relation::columns`] order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TupleData {
    pub values: Vec<TupleValue>,
}

/// One column value of a [`TupleData`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TupleValue {
    /// `n`: SQL NULL.
    Null,
    /// `u`: an unchanged TOASTed value whose content is not sent (updates only).
    UnchangedToast,
    /// `t`: the value in its type's text output format (bytes as sent, normally UTF-8).
    Text(Vec<u8>),
    /// `b`: the value in its type's binary format (only with the `binary` option, PG 14+).
    Binary(Vec<u8>),
}

/// Why a byte buffer is not a valid pgoutput v1 message.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    #[error("empty pgoutput message")]
    Empty,
    #[error("unknown pgoutput message type {tag:#04x} ({:?})", char::from(*tag))]
    UnknownMessageType { tag: u8 },
    #[error(
        "{message} message truncated at byte {offset}: {field} needs {needed} bytes, {remaining} left"
    )]
    Truncated {
        message: &'static str,
        field: &'static str,
        offset: usize,
        needed: usize,
        remaining: usize,
    },
    #[error("{message} message: {field} at byte {offset} has no NUL terminator")]
    MissingNulTerminator {
        message: &'static str,
        field: &'static str,
        offset: usize,
    },
    #[error("{message} message: {field} at byte {offset} is not valid UTF-8")]
    InvalidUtf8 {
        message: &'static str,
        field: &'static str,
        offset: usize,
    },
    #[error("{message} message: {field} is negative ({value})")]
    NegativeLength {
        message: &'static str,
        field: &'static str,
        value: i64,
    },
    #[error("{message} message: column {column} has unknown tuple value kind {kind:#04x}")]
    UnknownTupleValueKind {
        message: &'static str,
        column: usize,
        kind: u8,
    },
    #[error("Relation message: unknown replica identity {value:#04x}")]
    UnknownReplicaIdentity { value: u8 },
    #[error("{message} message: expected {expected}, found byte {found:#04x}")]
    UnexpectedTupleMarker {
        message: &'static str,
        expected: &'static str,
        found: u8,
    },
    #[error("{message} message has {count} unread trailing bytes")]
    TrailingBytes { message: &'static str, count: usize },
}

impl DecodeError {
    /// Short stable name, for metric labels and error headers.
    pub fn code(&self) -> &'static str {
        match self {
            DecodeError::Empty => "empty",
            DecodeError::UnknownMessageType { .. } => "unknown_message_type",
            DecodeError::Truncated { .. } => "truncated",
            DecodeError::MissingNulTerminator { .. } => "missing_nul_terminator",
            DecodeError::InvalidUtf8 { .. } => "invalid_utf8",
            DecodeError::NegativeLength { .. } => "negative_length",
            DecodeError::UnknownTupleValueKind { .. } => "unknown_tuple_value_kind",
            DecodeError::UnknownReplicaIdentity { .. } => "unknown_replica_identity",
            DecodeError::UnexpectedTupleMarker { .. } => "unexpected_tuple_marker",
            DecodeError::TrailingBytes { .. } => "trailing_bytes",
        }
    }
}

/// A decoded message together with the WAL position it was read at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalMessage {
    /// `wal_start` of the `XLogData` frame: for a change, the LSN of its WAL record.
    pub wal_start: Lsn,
    pub message: PgOutputMessage,
}

/// Decode the payload of one `XLogData` frame, keeping the frame's start LSN.
pub fn decode_xlog_data(wal_start: Lsn, data: &[u8]) -> Result<WalMessage, DecodeError> {
    decode_message(data).map(|message| WalMessage { wal_start, message })
}

/// Decode exactly one pgoutput v1 message.
pub fn decode_message(bytes: &[u8]) -> Result<PgOutputMessage, DecodeError> {
    let (&tag, _) = bytes.split_first().ok_or(DecodeError::Empty)?;
    match tag {
        b'B' => whole(bytes, "Begin", begin).map(PgOutputMessage::Begin),
        b'C' => whole(bytes, "Commit", commit).map(PgOutputMessage::Commit),
        b'O' => whole(bytes, "Origin", origin).map(PgOutputMessage::Origin),
        b'R' => whole(bytes, "Relation", relation).map(PgOutputMessage::Relation),
        b'Y' => whole(bytes, "Type", type_info).map(PgOutputMessage::Type),
        b'I' => whole(bytes, "Insert", insert).map(PgOutputMessage::Insert),
        b'U' => whole(bytes, "Update", update).map(PgOutputMessage::Update),
        b'D' => whole(bytes, "Delete", delete).map(PgOutputMessage::Delete),
        b'T' => whole(bytes, "Truncate", truncate).map(PgOutputMessage::Truncate),
        b'M' => whole(bytes, "Message", logical_message).map(PgOutputMessage::Message),
        _ => Err(DecodeError::UnknownMessageType { tag }),
    }
}

/// Run `body` over the message after its tag and require that it consumed every byte.
fn whole<'a, T>(
    bytes: &'a [u8],
    message: &'static str,
    body: impl FnOnce(&mut Reader<'a>) -> Result<T, DecodeError>,
) -> Result<T, DecodeError> {
    let mut reader = Reader::after_tag(bytes, message);
    let decoded = body(&mut reader)?;
    reader.finish()?;
    Ok(decoded)
}

fn begin(r: &mut Reader<'_>) -> Result<Begin, DecodeError> {
    Ok(Begin {
        final_lsn: r.lsn("final LSN")?,
        commit_timestamp: PgTimestamp(r.i64("commit timestamp")?),
        xid: r.u32("xid")?,
    })
}

fn commit(r: &mut Reader<'_>) -> Result<Commit, DecodeError> {
    Ok(Commit {
        flags: r.u8("flags")?,
        commit_lsn: r.lsn("commit LSN")?,
        end_lsn: r.lsn("end LSN")?,
        commit_timestamp: PgTimestamp(r.i64("commit timestamp")?),
    })
}

fn origin(r: &mut Reader<'_>) -> Result<Origin, DecodeError> {
    Ok(Origin {
        commit_lsn: r.lsn("origin commit LSN")?,
        name: r.cstring("origin name")?,
    })
}

fn relation(r: &mut Reader<'_>) -> Result<Relation, DecodeError> {
    let id = RelationId(r.u32("relation id")?);
    let namespace = r.cstring("namespace")?;
    let name = r.cstring("relation name")?;
    let identity_byte = r.u8("replica identity")?;
    let replica_identity =
        ReplicaIdentity::from_wire(identity_byte).ok_or(DecodeError::UnknownReplicaIdentity {
            value: identity_byte,
        })?;
    let count = r.count_i16("column count")?;
    // Each column takes at least 10 bytes, so the input bounds the allocation.
    let mut columns = Vec::with_capacity(count.min(r.remaining() / 10));
    for _ in 0..count {
        columns.push(column(r)?);
    }
    Ok(Relation {
        id,
        namespace,
        name,
        replica_identity,
        columns,
    })
}

fn column(r: &mut Reader<'_>) -> Result<Column, DecodeError> {
    Ok(Column {
        flags: r.u8("column flags")?,
        name: r.cstring("column name")?,
        type_oid: r.u32("column type OID")?,
        type_modifier: r.i32("column type modifier")?,
    })
}

fn type_info(r: &mut Reader<'_>) -> Result<TypeInfo, DecodeError> {
    Ok(TypeInfo {
        oid: r.u32("type OID")?,
        namespace: r.cstring("type namespace")?,
        name: r.cstring("type name")?,
    })
}

fn insert(r: &mut Reader<'_>) -> Result<Insert, DecodeError> {
    let relation_id = RelationId(r.u32("relation id")?);
    expect_marker(r, b'N', "'N' (new tuple)")?;
    Ok(Insert {
        relation_id,
        new_tuple: tuple(r)?,
    })
}

fn update(r: &mut Reader<'_>) -> Result<Update, DecodeError> {
    let relation_id = RelationId(r.u32("relation id")?);
    let marker = r.u8("tuple marker")?;
    let old_tuple = match marker {
        b'K' => Some(OldTuple::Key(tuple(r)?)),
        b'O' => Some(OldTuple::Full(tuple(r)?)),
        b'N' => None,
        found => return Err(unexpected_marker(r, "'K', 'O' or 'N'", found)),
    };
    if old_tuple.is_some() {
        expect_marker(r, b'N', "'N' (new tuple)")?;
    }
    Ok(Update {
        relation_id,
        old_tuple,
        new_tuple: tuple(r)?,
    })
}

fn delete(r: &mut Reader<'_>) -> Result<Delete, DecodeError> {
    let relation_id = RelationId(r.u32("relation id")?);
    let old_tuple = match r.u8("tuple marker")? {
        b'K' => OldTuple::Key(tuple(r)?),
        b'O' => OldTuple::Full(tuple(r)?),
        found => return Err(unexpected_marker(r, "'K' or 'O'", found)),
    };
    Ok(Delete {
        relation_id,
        old_tuple,
    })
}

fn truncate(r: &mut Reader<'_>) -> Result<Truncate, DecodeError> {
    let count = r.count_i32("relation count")?;
    let options = r.u8("options")?;
    let mut relation_ids = Vec::with_capacity(count.min(r.remaining() / 4));
    for _ in 0..count {
        relation_ids.push(RelationId(r.u32("relation id")?));
    }
    Ok(Truncate {
        options,
        relation_ids,
    })
}

fn logical_message(r: &mut Reader<'_>) -> Result<LogicalMessage, DecodeError> {
    Ok(LogicalMessage {
        flags: r.u8("flags")?,
        lsn: r.lsn("message LSN")?,
        prefix: r.cstring("prefix")?,
        content: r.length_prefixed("content")?.to_vec(),
    })
}

fn tuple(r: &mut Reader<'_>) -> Result<TupleData, DecodeError> {
    let count = r.count_i16("tuple column count")?;
    // Each value takes at least its 1-byte kind, so the input bounds the allocation.
    let mut values = Vec::with_capacity(count.min(r.remaining()));
    for column in 0..count {
        values.push(tuple_value(r, column)?);
    }
    Ok(TupleData { values })
}

fn tuple_value(r: &mut Reader<'_>, column: usize) -> Result<TupleValue, DecodeError> {
    match r.u8("tuple value kind")? {
        b'n' => Ok(TupleValue::Null),
        b'u' => Ok(TupleValue::UnchangedToast),
        b't' => Ok(TupleValue::Text(r.length_prefixed("text value")?.to_vec())),
        b'b' => Ok(TupleValue::Binary(
            r.length_prefixed("binary value")?.to_vec(),
        )),
        kind => Err(DecodeError::UnknownTupleValueKind {
            message: r.message(),
            column,
            kind,
        }),
    }
}

fn expect_marker(
    r: &mut Reader<'_>,
    marker: u8,
    expected: &'static str,
) -> Result<(), DecodeError> {
    match r.u8("tuple marker")? {
        found if found == marker => Ok(()),
        found => Err(unexpected_marker(r, expected, found)),
    }
}

fn unexpected_marker(r: &Reader<'_>, expected: &'static str, found: u8) -> DecodeError {
    DecodeError::UnexpectedTupleMarker {
        message: r.message(),
        expected,
        found,
    }
}
