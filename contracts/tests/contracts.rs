//! The Rust event types match the published contracts in `schemas/` exactly, every field is
//! documented, and every current schema is FULL_TRANSITIVE compatible with its history.

use apache_avro::Schema;
use apache_avro::schema_compatibility::SchemaCompatibility;
use contracts::{ALL_CONTRACTS, AvroEvent, OrderCreated, PaymentCompleted, PaymentFailed};
use std::path::{Path, PathBuf};

fn schemas_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas")
}

fn parse(path: &Path) -> Schema {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    Schema::parse_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}

/// Schemas compared as JSON: names, types, logical types, defaults and docs all count.
fn as_json(schema: &Schema) -> serde_json::Value {
    serde_json::to_value(schema).expect("a parsed schema serializes")
}

fn assert_derived_equals_published<E: AvroEvent>(stem: &str) {
    let published = parse(&schemas_dir().join(format!("{stem}.avsc")));
    assert_eq!(
        as_json(E::avro_schema()),
        as_json(&published),
        "the Rust type {} and schemas/{stem}.avsc differ",
        E::FULL_NAME
    );
    assert_eq!(
        E::avro_schema().canonical_form(),
        published.canonical_form()
    );
}

#[test]
fn derived_schemas_equal_the_published_avsc_files() {
    assert_derived_equals_published::<OrderCreated>("order_created");
    assert_derived_equals_published::<PaymentCompleted>("payment_completed");
    assert_derived_equals_published::<PaymentFailed>("payment_failed");
}

fn undocumented_fields(json: &serde_json::Value, path: &str, out: &mut Vec<String>) {
    match json {
        serde_json::Value::Object(map) => {
            if map.get("type").and_then(|t| t.as_str()) == Some("record")
                && map.get("doc").is_none()
            {
                out.push(format!("{path} (record)"));
            }
            if let Some(fields) = map.get("fields").and_then(|f| f.as_array()) {
                for field in fields {
                    let name = field.get("name").and_then(|n| n.as_str()).unwrap_or("?");
                    if field
                        .get("doc")
                        .and_then(|d| d.as_str())
                        .is_none_or(str::is_empty)
                    {
                        out.push(format!("{path}.{name}"));
                    }
                    undocumented_fields(field, &format!("{path}.{name}"), out);
                }
            }
            for (key, value) in map {
                if key != "fields" {
                    undocumented_fields(value, path, out);
                }
            }
        }
        serde_json::Value::Array(items) => {
            items.iter().for_each(|v| undocumented_fields(v, path, out))
        }
        _ => {}
    }
}

#[test]
fn every_record_and_field_has_a_doc() {
    for (_, text, stem) in ALL_CONTRACTS {
        let json: serde_json::Value = serde_json::from_str(text).expect("contract is JSON");
        let mut missing = Vec::new();
        undocumented_fields(&json, stem, &mut missing);
        assert!(missing.is_empty(), "fields without doc: {missing:?}");
    }
}

fn history_of(stem: &str) -> Vec<PathBuf> {
    let dir = schemas_dir().join("history").join(stem);
    let mut versions: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "avsc"))
        .collect();
    versions.sort();
    versions
}

/// FULL_TRANSITIVE: the current schema reads data of every earlier version and vice versa.
fn full_transitive_violations(current: &Schema, history: &[(String, Schema)]) -> Vec<String> {
    let mut violations = Vec::new();
    for (name, old) in history {
        if let Err(e) = SchemaCompatibility::can_read(old, current) {
            violations.push(format!("current cannot read data written with {name}: {e}"));
        }
        if let Err(e) = SchemaCompatibility::can_read(current, old) {
            violations.push(format!("{name} cannot read data written with current: {e}"));
        }
    }
    violations
}

#[test]
fn current_schemas_are_full_transitive_compatible_with_their_history() {
    for (_, text, stem) in ALL_CONTRACTS {
        let current = Schema::parse_str(text).expect("current contract parses");
        let history: Vec<(String, Schema)> = history_of(stem)
            .iter()
            .map(|p| (p.display().to_string(), parse(p)))
            .collect();
        assert!(
            !history.is_empty(),
            "schemas/history/{stem}/ must hold at least the first published version"
        );
        let violations = full_transitive_violations(&current, &history);
        assert!(violations.is_empty(), "{stem}: {violations:#?}");
    }
}

/// The check above can fail: edits that break consumers are caught.
#[test]
fn breaking_edits_are_detected() {
    let v1 = Schema::parse_str(OrderCreated::SCHEMA_TEXT).expect("parses");
    let history = vec![("v1".to_string(), v1)];
    let new_required_field = OrderCreated::SCHEMA_TEXT.replacen(
        "\"fields\": [",
        "\"fields\": [{\"name\": \"channel\", \"type\": \"string\", \"doc\": \"x\"},",
        1,
    );
    let changed_type = OrderCreated::SCHEMA_TEXT.replace(
        "{\"name\": \"quantity\", \"type\": \"int\"",
        "{\"name\": \"quantity\", \"type\": \"string\"",
    );
    for (what, text) in [
        ("new field without default", new_required_field),
        ("int -> string", changed_type),
    ] {
        let edited = Schema::parse_str(&text).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert!(
            !full_transitive_violations(&edited, &history).is_empty(),
            "{what} was not detected"
        );
    }
    let compatible = OrderCreated::SCHEMA_TEXT.replacen(
        "\"fields\": [",
        "\"fields\": [{\"name\": \"channel\", \"type\": [\"null\", \"string\"], \"default\": null, \"doc\": \"x\"},",
        1,
    );
    let edited = Schema::parse_str(&compatible).expect("parses");
    assert!(full_transitive_violations(&edited, &history).is_empty());
}
