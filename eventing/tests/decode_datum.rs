//! The datum decoder resolves data written with another compatible schema version (or by
//! another Avro implementation) into today's contract types, and rejects garbage with typed errors.

use apache_avro::Schema;
use contracts::{AvroEvent, PaymentCompleted};
use eventing::codec::decode_datum;

/// Data written with an older/newer compatible schema version reads into today's types, and a
/// minimal-length decimal (as Java's Avro writes it) reads correctly.
#[test]
fn evolved_and_foreign_encodings_decode_into_current_types() {
    use apache_avro::types::Value;
    use apache_avro::writer::datum::GenericDatumWriter;

    let writer_text = PaymentCompleted::SCHEMA_TEXT.replacen(
        "\"fields\": [",
        "\"fields\": [{\"name\": \"channel\", \"type\": [\"null\", \"string\"], \"default\": null, \"doc\": \"x\"},",
        1,
    );
    let writer = Schema::parse_str(&writer_text).expect("parses");
    let id = uuid::Uuid::new_v4();
    let record = Value::Record(vec![
        (
            "channel".into(),
            Value::Union(1, Box::new(Value::String("web".into()))),
        ),
        ("event_id".into(), Value::Uuid(id)),
        (
            "occurred_at".into(),
            Value::TimestampMillis(1_700_000_000_000),
        ),
        ("payment_id".into(), Value::Uuid(id)),
        ("order_id".into(), Value::Uuid(id)),
        ("customer_id".into(), Value::String("c".into())),
        // 12.8 at scale 4 = 128000 = 0x01F400, minimal two's complement (3 bytes)
        (
            "amount".into(),
            Value::Decimal(apache_avro::Decimal::from(vec![0x01, 0xF4, 0x00])),
        ),
        ("currency".into(), Value::String("EUR".into())),
        ("gateway_reference".into(), Value::String("g".into())),
    ]);
    let datum = GenericDatumWriter::builder(&writer)
        .build()
        .expect("writer")
        .write_value_to_vec(record)
        .expect("write");
    let decoded: PaymentCompleted = decode_datum(&writer, &datum).expect("decodes");
    assert_eq!(decoded.amount, rust_decimal::Decimal::new(128_000, 4));
    assert_eq!(decoded.customer_id, "c");

    // Garbage or truncated datums are typed errors.
    assert!(decode_datum::<PaymentCompleted>(&writer, &datum[..datum.len() - 3]).is_err());
    assert!(decode_datum::<PaymentCompleted>(&writer, &[0xff; 64]).is_err());
}
