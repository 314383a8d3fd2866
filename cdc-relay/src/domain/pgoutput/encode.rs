//! The inverse of [`super::decode_message`], for tests only (enabled by `cfg(test)` or the
//! `test-utils` feature): builds the exact bytes Postgres would send, so tests can feed fake WAL
//! through the decoder and the rest of the relay.
//!
//! # Panics
//!
//! Inputs Postgres itself can never produce panic with a message saying which limit was hit:
//! more than `i16::MAX` columns, more than `i32::MAX` truncated relations or value bytes, or a
//! string containing a NUL byte.

use super::{
    Begin, Column, Commit, Delete, Insert, LogicalMessage, OldTuple, Origin, PgOutputMessage,
    Relation, Truncate, TupleData, TupleValue, TypeInfo, Update,
};

/// Encode one message as pgoutput protocol version 1.
pub fn encode_message(message: &PgOutputMessage) -> Vec<u8> {
    let mut out = Encoder::default();
    match message {
        PgOutputMessage::Begin(m) => out.begin(m),
        PgOutputMessage::Commit(m) => out.commit(m),
        PgOutputMessage::Origin(m) => out.origin(m),
        PgOutputMessage::Relation(m) => out.relation(m),
        PgOutputMessage::Type(m) => out.type_info(m),
        PgOutputMessage::Insert(m) => out.insert(m),
        PgOutputMessage::Update(m) => out.update(m),
        PgOutputMessage::Delete(m) => out.delete(m),
        PgOutputMessage::Truncate(m) => out.truncate(m),
        PgOutputMessage::Message(m) => out.logical_message(m),
    }
    out.bytes
}

#[derive(Debug, Default)]
struct Encoder {
    bytes: Vec<u8>,
}

impl Encoder {
    fn u8(&mut self, value: u8) {
        self.bytes.push(value);
    }

    fn i16(&mut self, value: i16) {
        self.bytes.extend_from_slice(&value.to_be_bytes());
    }

    fn i32(&mut self, value: i32) {
        self.bytes.extend_from_slice(&value.to_be_bytes());
    }

    fn u32(&mut self, value: u32) {
        self.bytes.extend_from_slice(&value.to_be_bytes());
    }

    fn i64(&mut self, value: i64) {
        self.bytes.extend_from_slice(&value.to_be_bytes());
    }

    fn u64(&mut self, value: u64) {
        self.bytes.extend_from_slice(&value.to_be_bytes());
    }

    fn cstring(&mut self, text: &str) {
        assert!(!text.contains('\0'), "pgoutput strings cannot contain NUL");
        self.bytes.extend_from_slice(text.as_bytes());
        self.bytes.push(0);
    }

    fn length_prefixed(&mut self, data: &[u8]) {
        let len = i32::try_from(data.len()).expect("pgoutput lengths are Int32");
        self.i32(len);
        self.bytes.extend_from_slice(data);
    }

    fn count_i16(&mut self, count: usize) {
        self.i16(i16::try_from(count).expect("pgoutput column counts are Int16"));
    }

    fn begin(&mut self, m: &Begin) {
        self.u8(b'B');
        self.u64(m.final_lsn.0);
        self.i64(m.commit_timestamp.0);
        self.u32(m.xid);
    }

    fn commit(&mut self, m: &Commit) {
        self.u8(b'C');
        self.u8(m.flags);
        self.u64(m.commit_lsn.0);
        self.u64(m.end_lsn.0);
        self.i64(m.commit_timestamp.0);
    }

    fn origin(&mut self, m: &Origin) {
        self.u8(b'O');
        self.u64(m.commit_lsn.0);
        self.cstring(&m.name);
    }

    fn relation(&mut self, m: &Relation) {
        self.u8(b'R');
        self.u32(m.id.0);
        self.cstring(&m.namespace);
        self.cstring(&m.name);
        self.u8(m.replica_identity.wire_byte());
        self.count_i16(m.columns.len());
        m.columns.iter().for_each(|c| self.column(c));
    }

    fn column(&mut self, c: &Column) {
        self.u8(c.flags);
        self.cstring(&c.name);
        self.u32(c.type_oid);
        self.i32(c.type_modifier);
    }

    fn type_info(&mut self, m: &TypeInfo) {
        self.u8(b'Y');
        self.u32(m.oid);
        self.cstring(&m.namespace);
        self.cstring(&m.name);
    }

    fn insert(&mut self, m: &Insert) {
        self.u8(b'I');
        self.u32(m.relation_id.0);
        self.u8(b'N');
        self.tuple(&m.new_tuple);
    }

    fn update(&mut self, m: &Update) {
        self.u8(b'U');
        self.u32(m.relation_id.0);
        if let Some(old) = &m.old_tuple {
            self.old_tuple(old);
        }
        self.u8(b'N');
        self.tuple(&m.new_tuple);
    }

    fn delete(&mut self, m: &Delete) {
        self.u8(b'D');
        self.u32(m.relation_id.0);
        self.old_tuple(&m.old_tuple);
    }

    fn old_tuple(&mut self, old: &OldTuple) {
        let (marker, tuple) = match old {
            OldTuple::Key(tuple) => (b'K', tuple),
            OldTuple::Full(tuple) => (b'O', tuple),
        };
        self.u8(marker);
        self.tuple(tuple);
    }

    fn truncate(&mut self, m: &Truncate) {
        self.u8(b'T');
        let count =
            i32::try_from(m.relation_ids.len()).expect("pgoutput relation counts are Int32");
        self.i32(count);
        self.u8(m.options);
        m.relation_ids.iter().for_each(|id| self.u32(id.0));
    }

    fn logical_message(&mut self, m: &LogicalMessage) {
        self.u8(b'M');
        self.u8(m.flags);
        self.u64(m.lsn.0);
        self.cstring(&m.prefix);
        self.length_prefixed(&m.content);
    }

    fn tuple(&mut self, tuple: &TupleData) {
        self.count_i16(tuple.values.len());
        for value in &tuple.values {
            match value {
                TupleValue::Null => self.u8(b'n'),
                TupleValue::UnchangedToast => self.u8(b'u'),
                TupleValue::Text(data) => {
                    self.u8(b't');
                    self.length_prefixed(data);
                }
                TupleValue::Binary(data) => {
                    self.u8(b'b');
                    self.length_prefixed(data);
                }
            }
        }
    }
}
