//! Unit tests over hand-built byte buffers (written field by field with [`Wire`], independent of
//! the `encode` module) and property tests: arbitrary bytes never panic, and encode → decode is
//! the identity.

use proptest::prelude::*;

use super::encode::encode_message;
use super::*;

/// Builds a message byte by byte, the way the protocol documentation lists the fields.
#[derive(Debug, Default)]
struct Wire(Vec<u8>);

impl Wire {
    fn tag(tag: u8) -> Self {
        Wire(vec![tag])
    }
    fn u8(mut self, value: u8) -> Self {
        self.0.push(value);
        self
    }
    fn i16(mut self, value: i16) -> Self {
        self.0.extend_from_slice(&value.to_be_bytes());
        self
    }
    fn i32(mut self, value: i32) -> Self {
        self.0.extend_from_slice(&value.to_be_bytes());
        self
    }
    fn u32(mut self, value: u32) -> Self {
        self.0.extend_from_slice(&value.to_be_bytes());
        self
    }
    fn i64(mut self, value: i64) -> Self {
        self.0.extend_from_slice(&value.to_be_bytes());
        self
    }
    fn u64(mut self, value: u64) -> Self {
        self.0.extend_from_slice(&value.to_be_bytes());
        self
    }
    fn cstr(mut self, text: &str) -> Self {
        self.0.extend_from_slice(text.as_bytes());
        self.0.push(0);
        self
    }
    fn raw(mut self, bytes: &[u8]) -> Self {
        self.0.extend_from_slice(bytes);
        self
    }
    fn text(self, value: &str) -> Self {
        let len = i32::try_from(value.len()).expect("test values are small");
        self.u8(b't').i32(len).raw(value.as_bytes())
    }
    fn null(self) -> Self {
        self.u8(b'n')
    }
    fn build(self) -> Vec<u8> {
        self.0
    }
}

fn decode_ok(bytes: &[u8]) -> PgOutputMessage {
    decode_message(bytes).expect("test message is well-formed")
}

fn text(value: &str) -> TupleValue {
    TupleValue::Text(value.as_bytes().to_vec())
}

/// A well-formed example of every message type, for the truncation and trailing-byte tests.
fn every_message_type() -> Vec<Vec<u8>> {
    vec![
        Wire::tag(b'B').u64(1).i64(2).u32(3).build(),
        Wire::tag(b'C').u8(0).u64(1).u64(2).i64(3).build(),
        Wire::tag(b'O').u64(1).cstr("origin").build(),
        Wire::tag(b'R')
            .u32(7)
            .cstr("public")
            .cstr("outbox")
            .u8(b'd')
            .i16(1)
            .u8(1)
            .cstr("id")
            .u32(2950)
            .i32(-1)
            .build(),
        Wire::tag(b'Y').u32(100).cstr("public").cstr("mood").build(),
        Wire::tag(b'I')
            .u32(7)
            .u8(b'N')
            .i16(2)
            .text("a")
            .null()
            .build(),
        Wire::tag(b'U')
            .u32(7)
            .u8(b'K')
            .i16(1)
            .text("a")
            .u8(b'N')
            .i16(1)
            .text("b")
            .build(),
        Wire::tag(b'D').u32(7).u8(b'O').i16(1).text("a").build(),
        Wire::tag(b'T').i32(2).u8(1).u32(7).u32(8).build(),
        Wire::tag(b'M')
            .u8(1)
            .u64(9)
            .cstr("p")
            .i32(2)
            .raw(b"hi")
            .build(),
    ]
}

#[test]
fn begin_carries_final_lsn_commit_time_and_xid() {
    let bytes = Wire::tag(b'B')
        .u64(0x16_B374_D848)
        .i64(757_000_000_000_000)
        .u32(0xFFFF_FFF0)
        .build();
    assert_eq!(
        decode_ok(&bytes),
        PgOutputMessage::Begin(Begin {
            final_lsn: Lsn(0x16_B374_D848),
            commit_timestamp: PgTimestamp(757_000_000_000_000),
            xid: 0xFFFF_FFF0,
        })
    );
}

#[test]
fn commit_carries_flags_commit_lsn_end_lsn_and_time() {
    let bytes = Wire::tag(b'C').u8(0).u64(0x100).u64(0x128).i64(-5).build();
    assert_eq!(
        decode_ok(&bytes),
        PgOutputMessage::Commit(Commit {
            flags: 0,
            commit_lsn: Lsn(0x100),
            end_lsn: Lsn(0x128),
            commit_timestamp: PgTimestamp(-5),
        })
    );
}

#[test]
fn origin_carries_lsn_and_name() {
    let bytes = Wire::tag(b'O').u64(42).cstr("node_a").build();
    assert_eq!(
        decode_ok(&bytes),
        PgOutputMessage::Origin(Origin {
            commit_lsn: Lsn(42),
            name: "node_a".into(),
        })
    );
}

#[test]
fn relation_carries_identity_and_columns_in_order() {
    let bytes = Wire::tag(b'R')
        .u32(16_384)
        .cstr("")
        .cstr("outbox")
        .u8(b'f')
        .i16(2)
        .u8(1)
        .cstr("id")
        .u32(2950)
        .i32(-1)
        .u8(0)
        .cstr("aggregatetype")
        .u32(1043)
        .i32(259)
        .build();
    let PgOutputMessage::Relation(relation) = decode_ok(&bytes) else {
        panic!("expected a Relation");
    };
    assert_eq!(relation.id, RelationId(16_384));
    assert_eq!(
        relation.namespace, "",
        "pg_catalog is sent as an empty namespace"
    );
    assert_eq!(relation.name, "outbox");
    assert_eq!(relation.replica_identity, ReplicaIdentity::Full);
    assert_eq!(
        relation.columns,
        vec![
            Column {
                flags: 1,
                name: "id".into(),
                type_oid: 2950,
                type_modifier: -1,
            },
            Column {
                flags: 0,
                name: "aggregatetype".into(),
                type_oid: 1043,
                type_modifier: 259,
            },
        ]
    );
    assert!(relation.columns[0].is_key());
    assert!(!relation.columns[1].is_key());
}

#[test]
fn every_replica_identity_byte_is_understood() {
    for (byte, expected) in [
        (b'd', ReplicaIdentity::Default),
        (b'n', ReplicaIdentity::Nothing),
        (b'f', ReplicaIdentity::Full),
        (b'i', ReplicaIdentity::Index),
    ] {
        let bytes = Wire::tag(b'R')
            .u32(1)
            .cstr("s")
            .cstr("t")
            .u8(byte)
            .i16(0)
            .build();
        let PgOutputMessage::Relation(relation) = decode_ok(&bytes) else {
            panic!("expected a Relation");
        };
        assert_eq!(relation.replica_identity, expected);
        assert_eq!(expected.wire_byte(), byte);
    }
}

#[test]
fn type_carries_oid_namespace_and_name() {
    let bytes = Wire::tag(b'Y')
        .u32(90_001)
        .cstr("public")
        .cstr("mood")
        .build();
    assert_eq!(
        decode_ok(&bytes),
        PgOutputMessage::Type(TypeInfo {
            oid: 90_001,
            namespace: "public".into(),
            name: "mood".into(),
        })
    );
}

#[test]
fn insert_carries_every_tuple_value_kind() {
    let bytes = Wire::tag(b'I')
        .u32(16_384)
        .u8(b'N')
        .i16(4)
        .text("order")
        .null()
        .u8(b'u')
        .u8(b'b')
        .i32(3)
        .raw(&[0, 1, 2])
        .build();
    assert_eq!(
        decode_ok(&bytes),
        PgOutputMessage::Insert(Insert {
            relation_id: RelationId(16_384),
            new_tuple: TupleData {
                values: vec![
                    text("order"),
                    TupleValue::Null,
                    TupleValue::UnchangedToast,
                    TupleValue::Binary(vec![0, 1, 2]),
                ],
            },
        })
    );
}

#[test]
fn insert_accepts_empty_text_and_zero_columns() {
    let bytes = Wire::tag(b'I').u32(1).u8(b'N').i16(1).text("").build();
    let PgOutputMessage::Insert(insert) = decode_ok(&bytes) else {
        panic!("expected an Insert");
    };
    assert_eq!(insert.new_tuple.values, vec![text("")]);

    let bytes = Wire::tag(b'I').u32(1).u8(b'N').i16(0).build();
    let PgOutputMessage::Insert(insert) = decode_ok(&bytes) else {
        panic!("expected an Insert");
    };
    assert!(insert.new_tuple.values.is_empty());
}

#[test]
fn update_without_old_tuple() {
    let bytes = Wire::tag(b'U').u32(5).u8(b'N').i16(1).text("new").build();
    assert_eq!(
        decode_ok(&bytes),
        PgOutputMessage::Update(Update {
            relation_id: RelationId(5),
            old_tuple: None,
            new_tuple: TupleData {
                values: vec![text("new")],
            },
        })
    );
}

#[test]
fn update_with_old_key_or_full_old_row() {
    for (marker, wrap) in [
        (b'K', OldTuple::Key as fn(TupleData) -> OldTuple),
        (b'O', OldTuple::Full),
    ] {
        let bytes = Wire::tag(b'U')
            .u32(5)
            .u8(marker)
            .i16(1)
            .text("old")
            .u8(b'N')
            .i16(1)
            .text("new")
            .build();
        let PgOutputMessage::Update(update) = decode_ok(&bytes) else {
            panic!("expected an Update");
        };
        assert_eq!(
            update.old_tuple,
            Some(wrap(TupleData {
                values: vec![text("old")],
            }))
        );
        assert_eq!(update.new_tuple.values, vec![text("new")]);
    }
}

#[test]
fn update_with_old_tuple_but_no_new_tuple_marker_is_rejected() {
    let bytes = Wire::tag(b'U')
        .u32(5)
        .u8(b'K')
        .i16(1)
        .text("old")
        .u8(b'X')
        .build();
    assert_eq!(
        decode_message(&bytes),
        Err(DecodeError::UnexpectedTupleMarker {
            message: "Update",
            expected: "'N' (new tuple)",
            found: b'X',
        })
    );
}

#[test]
fn delete_with_old_key_or_full_old_row() {
    let bytes = Wire::tag(b'D')
        .u32(5)
        .u8(b'K')
        .i16(2)
        .text("k")
        .null()
        .build();
    assert_eq!(
        decode_ok(&bytes),
        PgOutputMessage::Delete(Delete {
            relation_id: RelationId(5),
            old_tuple: OldTuple::Key(TupleData {
                values: vec![text("k"), TupleValue::Null],
            }),
        })
    );
    let bytes = Wire::tag(b'D').u32(5).u8(b'O').i16(1).text("row").build();
    let PgOutputMessage::Delete(delete) = decode_ok(&bytes) else {
        panic!("expected a Delete");
    };
    assert!(matches!(delete.old_tuple, OldTuple::Full(_)));
}

#[test]
fn delete_needs_an_old_tuple() {
    let bytes = Wire::tag(b'D').u32(5).u8(b'N').i16(0).build();
    assert!(matches!(
        decode_message(&bytes),
        Err(DecodeError::UnexpectedTupleMarker { found: b'N', .. })
    ));
}

#[test]
fn truncate_carries_options_and_relations() {
    let bytes = Wire::tag(b'T').i32(2).u8(3).u32(10).u32(11).build();
    let PgOutputMessage::Truncate(truncate) = decode_ok(&bytes) else {
        panic!("expected a Truncate");
    };
    assert_eq!(truncate.relation_ids, vec![RelationId(10), RelationId(11)]);
    assert!(truncate.is_cascade());
    assert!(truncate.restarts_identity());
}

#[test]
fn logical_message_carries_flags_lsn_prefix_and_content() {
    let bytes = Wire::tag(b'M')
        .u8(1)
        .u64(0x99)
        .cstr("relay.fence")
        .i32(3)
        .raw(&[0, 0xFF, 7])
        .build();
    let PgOutputMessage::Message(message) = decode_ok(&bytes) else {
        panic!("expected a Message");
    };
    assert!(message.is_transactional());
    assert_eq!(message.lsn, Lsn(0x99));
    assert_eq!(message.prefix, "relay.fence");
    assert_eq!(message.content, vec![0, 0xFF, 7]);
}

#[test]
fn decode_xlog_data_keeps_the_frame_start_lsn() {
    let bytes = Wire::tag(b'I').u32(1).u8(b'N').i16(0).build();
    let decoded = decode_xlog_data(Lsn(0x500), &bytes).expect("well-formed insert");
    assert_eq!(decoded.wal_start, Lsn(0x500));
    assert_eq!(decoded.message.kind(), "insert");
}

#[test]
fn empty_input_is_a_typed_error() {
    assert_eq!(decode_message(&[]), Err(DecodeError::Empty));
}

#[test]
fn unknown_and_protocol_v2_message_types_are_rejected() {
    // 'S' (stream start) exists only in protocol version 2.
    for tag in [b'S', b'Z', 0] {
        assert_eq!(
            decode_message(&[tag, 0, 0]),
            Err(DecodeError::UnknownMessageType { tag })
        );
    }
}

#[test]
fn every_strict_prefix_of_a_valid_message_is_a_typed_error() {
    for message in every_message_type() {
        assert!(decode_message(&message).is_ok(), "fixture must be valid");
        for len in 1..message.len() {
            let prefix = message.get(..len).expect("len is within the message");
            assert!(
                decode_message(prefix).is_err(),
                "prefix of {len} bytes of {message:?} decoded"
            );
        }
    }
}

#[test]
fn trailing_bytes_after_any_message_are_rejected() {
    for mut message in every_message_type() {
        message.push(0);
        assert!(matches!(
            decode_message(&message),
            Err(DecodeError::TrailingBytes { count: 1, .. })
        ));
    }
}

#[test]
fn truncated_field_reports_message_field_and_offset() {
    let bytes = Wire::tag(b'B').u64(1).raw(&[0, 0]).build();
    assert_eq!(
        decode_message(&bytes),
        Err(DecodeError::Truncated {
            message: "Begin",
            field: "commit timestamp",
            offset: 9,
            needed: 8,
            remaining: 2,
        })
    );
}

#[test]
fn negative_text_length_is_rejected() {
    let bytes = Wire::tag(b'I')
        .u32(1)
        .u8(b'N')
        .i16(1)
        .u8(b't')
        .i32(-1)
        .build();
    assert_eq!(
        decode_message(&bytes),
        Err(DecodeError::NegativeLength {
            message: "Insert",
            field: "text value",
            value: -1,
        })
    );
}

#[test]
fn negative_column_count_is_rejected() {
    let bytes = Wire::tag(b'I').u32(1).u8(b'N').i16(-3).build();
    assert!(matches!(
        decode_message(&bytes),
        Err(DecodeError::NegativeLength { value: -3, .. })
    ));
}

#[test]
fn huge_counts_without_data_fail_without_huge_allocations() {
    let truncate = Wire::tag(b'T').i32(i32::MAX).u8(0).build();
    assert!(matches!(
        decode_message(&truncate),
        Err(DecodeError::Truncated { .. })
    ));
    let text = Wire::tag(b'I')
        .u32(1)
        .u8(b'N')
        .i16(1)
        .u8(b't')
        .i32(i32::MAX)
        .build();
    assert!(matches!(
        decode_message(&text),
        Err(DecodeError::Truncated { .. })
    ));
}

#[test]
fn unknown_tuple_value_kind_names_the_column() {
    let bytes = Wire::tag(b'I')
        .u32(1)
        .u8(b'N')
        .i16(2)
        .null()
        .u8(b'x')
        .build();
    assert_eq!(
        decode_message(&bytes),
        Err(DecodeError::UnknownTupleValueKind {
            message: "Insert",
            column: 1,
            kind: b'x',
        })
    );
}

#[test]
fn unknown_replica_identity_is_rejected() {
    let bytes = Wire::tag(b'R')
        .u32(1)
        .cstr("s")
        .cstr("t")
        .u8(b'z')
        .i16(0)
        .build();
    assert_eq!(
        decode_message(&bytes),
        Err(DecodeError::UnknownReplicaIdentity { value: b'z' })
    );
}

#[test]
fn insert_without_new_tuple_marker_is_rejected() {
    let bytes = Wire::tag(b'I').u32(1).u8(b'K').i16(0).build();
    assert!(matches!(
        decode_message(&bytes),
        Err(DecodeError::UnexpectedTupleMarker {
            message: "Insert",
            found: b'K',
            ..
        })
    ));
}

#[test]
fn string_without_nul_terminator_is_rejected() {
    let bytes = Wire::tag(b'O').u64(1).raw(b"no-terminator").build();
    assert_eq!(
        decode_message(&bytes),
        Err(DecodeError::MissingNulTerminator {
            message: "Origin",
            field: "origin name",
            offset: 9,
        })
    );
}

#[test]
fn non_utf8_identifier_is_rejected() {
    let bytes = Wire::tag(b'Y')
        .u32(1)
        .raw(&[0xC3, 0x28, 0])
        .cstr("t")
        .build();
    assert!(matches!(
        decode_message(&bytes),
        Err(DecodeError::InvalidUtf8 {
            field: "type namespace",
            ..
        })
    ));
}

#[test]
fn error_codes_are_distinct() {
    let errors = [
        DecodeError::Empty,
        DecodeError::UnknownMessageType { tag: 0 },
        DecodeError::Truncated {
            message: "",
            field: "",
            offset: 0,
            needed: 0,
            remaining: 0,
        },
        DecodeError::MissingNulTerminator {
            message: "",
            field: "",
            offset: 0,
        },
        DecodeError::InvalidUtf8 {
            message: "",
            field: "",
            offset: 0,
        },
        DecodeError::NegativeLength {
            message: "",
            field: "",
            value: 0,
        },
        DecodeError::UnknownTupleValueKind {
            message: "",
            column: 0,
            kind: 0,
        },
        DecodeError::UnknownReplicaIdentity { value: 0 },
        DecodeError::UnexpectedTupleMarker {
            message: "",
            expected: "",
            found: 0,
        },
        DecodeError::TrailingBytes {
            message: "",
            count: 0,
        },
    ];
    let codes: std::collections::HashSet<_> = errors.iter().map(DecodeError::code).collect();
    assert_eq!(codes.len(), errors.len());
}

#[test]
fn timestamps_convert_to_unix_micros() {
    assert_eq!(PgTimestamp(0).unix_micros(), 946_684_800_000_000);
    assert_eq!(PgTimestamp(i64::MAX).unix_micros(), i64::MAX);
}

// ---- property tests -------------------------------------------------------------------------

fn identifier() -> impl Strategy<Value = String> {
    "[^\u{0}]{0,12}"
}

fn relation_id() -> impl Strategy<Value = RelationId> {
    any::<u32>().prop_map(RelationId)
}

fn tuple_value() -> impl Strategy<Value = TupleValue> {
    prop_oneof![
        Just(TupleValue::Null),
        Just(TupleValue::UnchangedToast),
        proptest::collection::vec(any::<u8>(), 0..16).prop_map(TupleValue::Text),
        proptest::collection::vec(any::<u8>(), 0..16).prop_map(TupleValue::Binary),
    ]
}

fn tuple_data() -> impl Strategy<Value = TupleData> {
    proptest::collection::vec(tuple_value(), 0..8).prop_map(|values| TupleData { values })
}

fn old_tuple() -> impl Strategy<Value = OldTuple> {
    prop_oneof![
        tuple_data().prop_map(OldTuple::Key),
        tuple_data().prop_map(OldTuple::Full)
    ]
}

fn replica_identity() -> impl Strategy<Value = ReplicaIdentity> {
    prop_oneof![
        Just(ReplicaIdentity::Default),
        Just(ReplicaIdentity::Nothing),
        Just(ReplicaIdentity::Full),
        Just(ReplicaIdentity::Index),
    ]
}

fn column() -> impl Strategy<Value = Column> {
    (any::<u8>(), identifier(), any::<u32>(), any::<i32>()).prop_map(
        |(flags, name, type_oid, type_modifier)| Column {
            flags,
            name,
            type_oid,
            type_modifier,
        },
    )
}

fn relation() -> impl Strategy<Value = Relation> {
    (
        relation_id(),
        identifier(),
        identifier(),
        replica_identity(),
        proptest::collection::vec(column(), 0..8),
    )
        .prop_map(
            |(id, namespace, name, replica_identity, columns)| Relation {
                id,
                namespace,
                name,
                replica_identity,
                columns,
            },
        )
}

fn insert() -> impl Strategy<Value = Insert> {
    (relation_id(), tuple_data()).prop_map(|(relation_id, new_tuple)| Insert {
        relation_id,
        new_tuple,
    })
}

fn any_message() -> impl Strategy<Value = PgOutputMessage> {
    let lsn = || any::<u64>().prop_map(Lsn);
    let ts = || any::<i64>().prop_map(PgTimestamp);
    prop_oneof![
        (lsn(), ts(), any::<u32>()).prop_map(|(final_lsn, commit_timestamp, xid)| {
            PgOutputMessage::Begin(Begin {
                final_lsn,
                commit_timestamp,
                xid,
            })
        }),
        (any::<u8>(), lsn(), lsn(), ts()).prop_map(|(flags, commit_lsn, end_lsn, ts)| {
            PgOutputMessage::Commit(Commit {
                flags,
                commit_lsn,
                end_lsn,
                commit_timestamp: ts,
            })
        }),
        (lsn(), identifier())
            .prop_map(|(commit_lsn, name)| PgOutputMessage::Origin(Origin { commit_lsn, name })),
        relation().prop_map(PgOutputMessage::Relation),
        (any::<u32>(), identifier(), identifier()).prop_map(|(oid, namespace, name)| {
            PgOutputMessage::Type(TypeInfo {
                oid,
                namespace,
                name,
            })
        }),
        insert().prop_map(PgOutputMessage::Insert),
        (
            relation_id(),
            proptest::option::of(old_tuple()),
            tuple_data()
        )
            .prop_map(
                |(relation_id, old_tuple, new_tuple)| PgOutputMessage::Update(Update {
                    relation_id,
                    old_tuple,
                    new_tuple,
                })
            ),
        (relation_id(), old_tuple()).prop_map(|(relation_id, old_tuple)| {
            PgOutputMessage::Delete(Delete {
                relation_id,
                old_tuple,
            })
        }),
        (any::<u8>(), proptest::collection::vec(relation_id(), 0..8)).prop_map(
            |(options, relation_ids)| PgOutputMessage::Truncate(Truncate {
                options,
                relation_ids,
            })
        ),
        (
            any::<u8>(),
            lsn(),
            identifier(),
            proptest::collection::vec(any::<u8>(), 0..32)
        )
            .prop_map(|(flags, lsn, prefix, content)| {
                PgOutputMessage::Message(LogicalMessage {
                    flags,
                    lsn,
                    prefix,
                    content,
                })
            }),
    ]
}

proptest! {
    #[test]
    fn decoder_never_panics_on_arbitrary_bytes(
        bytes in proptest::collection::vec(any::<u8>(), 0..256)
    ) {
        let _ = decode_message(&bytes);
    }

    #[test]
    fn decoder_never_panics_on_arbitrary_bodies_of_known_types(
        tag in proptest::sample::select(b"BCORYIUDTM".to_vec()),
        body in proptest::collection::vec(any::<u8>(), 0..128),
    ) {
        let mut bytes = vec![tag];
        bytes.extend(body);
        let _ = decode_message(&bytes);
    }

    #[test]
    fn decoder_never_panics_on_mutated_valid_messages(
        message in any_message(),
        position in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let mut bytes = encode_message(&message);
        let at = position.index(bytes.len());
        if let Some(slot) = bytes.get_mut(at) {
            *slot = byte;
        }
        let _ = decode_message(&bytes);
    }

    #[test]
    fn insert_round_trips_through_the_encoder(insert in insert()) {
        let message = PgOutputMessage::Insert(insert);
        prop_assert_eq!(decode_message(&encode_message(&message)), Ok(message));
    }

    #[test]
    fn relation_round_trips_through_the_encoder(relation in relation()) {
        let message = PgOutputMessage::Relation(relation);
        prop_assert_eq!(decode_message(&encode_message(&message)), Ok(message));
    }

    #[test]
    fn every_message_type_round_trips_through_the_encoder(message in any_message()) {
        prop_assert_eq!(decode_message(&encode_message(&message)), Ok(message));
    }
}
