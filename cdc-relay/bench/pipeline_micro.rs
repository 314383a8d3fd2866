//! Micro-benchmark of the relay's pure per-record work, no Postgres or Kafka: decode a
//! bench-shaped pgoutput Insert (the outbox table of `eventing/sql/outbox_table.sql`, a ~300-byte
//! bytea payload), name its values (`RelationCache::row_from_insert`) and route it
//! (`OutboxRouter::route`, as the relay does), a million times; prints ns per record.
//!
//! ```text
//! cargo run --release -p cdc-relay --features test-utils --example pipeline-micro
//! # allocations per record: count glibc's malloc with a uprobe (as root)
//! perf probe -x /lib/x86_64-linux-gnu/libc.so.6 malloc
//! perf stat -e probe_libc:malloc target/release/examples/pipeline-micro
//! ```

use std::time::Instant;

use cdc_relay::domain::outbox_routing::{OutboxRouter, RoutingConfig};
use cdc_relay::domain::pgoutput::encode::encode_message;
use cdc_relay::domain::pgoutput::{
    Column, Insert, PgOutputMessage, Relation, RelationId, ReplicaIdentity, TupleData, TupleValue,
    decode_message,
};
use cdc_relay::domain::relation_cache::RelationCache;

const RECORDS: u32 = 1_000_000;

fn main() -> anyhow::Result<()> {
    let columns = [
        ("id", 2950),
        ("aggregatetype", 1043),
        ("aggregateid", 1043),
        ("type", 1043),
        ("payload", 17),
        ("traceparent", 1043),
        ("created_at", 1184),
    ];
    let relation = Relation {
        id: RelationId(16400),
        namespace: "public".into(),
        name: "outbox".into(),
        replica_identity: ReplicaIdentity::Default,
        columns: columns
            .iter()
            .map(|(name, type_oid)| Column {
                flags: 0,
                name: (*name).into(),
                type_oid: *type_oid,
                type_modifier: -1,
            })
            .collect(),
    };
    let payload: String = format!("{:016}:{}", 1_764_150_000_000_000_u64, "x".repeat(300))
        .bytes()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    let text = |value: &str| TupleValue::Text(value.as_bytes().to_vec());
    let insert = encode_message(&PgOutputMessage::Insert(Insert {
        relation_id: RelationId(16400),
        new_tuple: TupleData {
            values: vec![
                text("0b7c1f0e-8a4e-4c55-9b0e-3f1f6f1d2a77"),
                text("order"),
                text("agg-17"),
                text("BenchEvent"),
                text(&format!("\\x{payload}")),
                TupleValue::Null,
                text("2026-11-26 10:40:00.123456+00"),
            ],
        },
    }));
    let mut relations = RelationCache::new();
    relations.upsert(relation);
    let mut router = OutboxRouter::new(RoutingConfig {
        topic_template: "bench.1.{aggregatetype}".into(),
        ..RoutingConfig::default()
    });
    let mut bytes_out = 0;
    let started = Instant::now();
    for _ in 0..RECORDS {
        let PgOutputMessage::Insert(insert) = decode_message(&insert)? else {
            anyhow::bail!("not an insert");
        };
        let row = relations.row_from_insert(insert)?;
        let record = router.route(&row)?;
        bytes_out += record.payload.len();
    }
    let elapsed = started.elapsed();
    println!(
        "{:.0} ns/record ({RECORDS} records, {bytes_out} payload bytes)",
        elapsed.as_nanos() as f64 / f64::from(RECORDS)
    );
    Ok(())
}
