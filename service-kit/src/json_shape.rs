//! Reading exactly one JSON value of type `T`, and what is wrong with a body that is not one —
//! classified from typed errors, never from serde's English messages.
//!
//! * Not JSON, JSON followed by more data, or JSON cut short: serde_json's
//!   [`Category`](serde_json::error::Category) (`Syntax`/`Io`, `Eof`).
//! * JSON of the wrong shape (`Category::Data`): the body is read a second time, into a
//!   `serde_value::Value` and from it into `T` through `serde_value`'s deserializer, whose error
//!   type is an enum ([`serde_value::DeserializerError`]: `MissingField(name)`,
//!   `UnknownField(name, _)`, `InvalidType`, …); `serde_path_to_error` names where. The second
//!   read happens only for a rejected body, so accepted bodies are read once, by serde_json
//!   directly (which, unlike the value tree, also rejects duplicate keys).
//!
//! Pure: bytes in, `T` or [`JsonBodyError`] out.

use serde::de::DeserializeOwned;
use serde_json::error::Category;
use serde_value::{DeserializerError, ValueDeserializer};

/// Why a body is not exactly one `T`. Each variant carries serde_json's message (for people);
/// the variant itself is the classification (for code).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonBodyError {
    /// Not valid JSON, or more data after the value.
    Syntax { message: String },
    /// The body ends in the middle of a value.
    Eof { message: String },
    /// A required field is absent; `path` names it (`items[0].quantity`).
    MissingField { path: String, message: String },
    /// A field the type does not have (`deny_unknown_fields`); `path` names it.
    UnknownField { path: String, message: String },
    /// Anything else about the shape: a value of the wrong type, out of range, a duplicate
    /// key; `path` is where (`""` for the root).
    InvalidValue { path: String, message: String },
}

/// Parse `bytes` as exactly one JSON value of type `T` (trailing data is a syntax error).
pub fn parse_json_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, JsonBodyError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize::<_, T>(&mut deserializer).map_err(|e| {
        let message = e.inner().to_string();
        match e.inner().classify() {
            Category::Syntax | Category::Io => JsonBodyError::Syntax { message },
            Category::Eof => JsonBodyError::Eof { message },
            Category::Data => shape_error::<T>(bytes, root_is_empty(e.path().to_string()), message),
        }
    })?;
    deserializer.end().map_err(|e| JsonBodyError::Syntax {
        message: e.to_string(),
    })?;
    Ok(value)
}

/// serde_path_to_error writes the root as `.`; we write it as `""`.
fn root_is_empty(path: String) -> String {
    if path == "." { String::new() } else { path }
}

fn join_path(parent: &str, child: &str) -> String {
    if parent.is_empty() {
        child.to_string()
    } else {
        format!("{parent}.{child}")
    }
}

/// Classify a `Category::Data` error of serde_json (at `path`, with `message`) by reading the
/// body again through `serde_value`, whose errors are typed.
fn shape_error<T: DeserializeOwned>(bytes: &[u8], path: String, message: String) -> JsonBodyError {
    let replayed = serde_json::from_slice::<serde_value::Value>(bytes)
        .map_err(|e| (e.classify(), e.to_string()))
        .map(|tree| {
            serde_path_to_error::deserialize::<_, T>(ValueDeserializer::<DeserializerError>::new(
                tree,
            ))
        });
    match replayed {
        // serde_json stopped at the first wrong value; the rest of the body is not JSON either.
        Err((Category::Eof, message)) => JsonBodyError::Eof { message },
        Err((_, message)) => JsonBodyError::Syntax { message },
        Ok(Err(e)) => {
            let at = root_is_empty(e.path().to_string());
            // The replay stopped somewhere else than serde_json (a type that reads the JSON
            // text itself, e.g. an exact number, cannot be read from the value tree): its
            // verdict is about another spot, so serde_json's path stands, as a wrong value.
            if at != path {
                return JsonBodyError::InvalidValue { path, message };
            }
            match e.into_inner() {
                DeserializerError::MissingField(name) => JsonBodyError::MissingField {
                    path: join_path(&at, name),
                    message,
                },
                DeserializerError::UnknownField(name, _) => JsonBodyError::UnknownField {
                    // The path already ends with the unknown key when it was recorded as a
                    // segment; otherwise it is the object's.
                    path: if at == name || at.ends_with(&format!(".{name}")) {
                        at
                    } else {
                        join_path(&at, &name)
                    },
                    message,
                },
                DeserializerError::Custom(_)
                | DeserializerError::InvalidType(..)
                | DeserializerError::InvalidValue(..)
                | DeserializerError::InvalidLength(..)
                | DeserializerError::UnknownVariant(..)
                | DeserializerError::DuplicateField(_) => {
                    JsonBodyError::InvalidValue { path: at, message }
                }
            }
        }
        // Only serde_json rejects it (a duplicate key, which the value tree collapses): still
        // a wrong shape, at serde_json's path.
        Ok(Ok(_)) => JsonBodyError::InvalidValue { path, message },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Item {
        sku: String,
        quantity: i64,
        note: Option<String>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        items: Vec<Item>,
    }

    fn error(json: &str) -> JsonBodyError {
        parse_json_body::<Body>(json.as_bytes()).expect_err("invalid body")
    }

    fn kind_and_path(err: &JsonBodyError) -> (&'static str, Option<&str>) {
        match err {
            JsonBodyError::Syntax { .. } => ("syntax", None),
            JsonBodyError::Eof { .. } => ("eof", None),
            JsonBodyError::MissingField { path, .. } => ("missing", Some(path)),
            JsonBodyError::UnknownField { path, .. } => ("unknown", Some(path)),
            JsonBodyError::InvalidValue { path, .. } => ("invalid", Some(path)),
        }
    }

    #[test]
    fn a_valid_body_parses_and_optional_fields_may_be_absent() {
        let body: Body =
            parse_json_body(br#"{"name":"a","items":[{"sku":"s","quantity":1}]}"#).expect("valid");
        assert_eq!(body.items[0].note, None);
    }

    #[test]
    fn missing_fields_are_named_with_their_path() {
        assert_eq!(
            kind_and_path(&error(r#"{"name":"a","items":[{"sku":"s"}]}"#)),
            ("missing", Some("items[0].quantity"))
        );
        assert_eq!(
            kind_and_path(&error(r#"{"items":[]}"#)),
            ("missing", Some("name"))
        );
    }

    #[test]
    fn unknown_fields_are_named_with_their_path() {
        assert_eq!(
            kind_and_path(&error(
                r#"{"name":"a","items":[{"sku":"s","quantity":1,"colour":"red"}]}"#
            )),
            ("unknown", Some("items[0].colour"))
        );
        assert_eq!(
            kind_and_path(&error(r#"{"name":"a","items":[],"x":1}"#)),
            ("unknown", Some("x"))
        );
    }

    #[test]
    fn wrong_types_name_where_and_the_root_is_empty() {
        assert_eq!(
            kind_and_path(&error(
                r#"{"name":"a","items":[{"sku":"s","quantity":"x"}]}"#
            )),
            ("invalid", Some("items[0].quantity"))
        );
        assert_eq!(kind_and_path(&error("[]")), ("invalid", Some("")));
    }

    #[test]
    fn duplicate_keys_are_rejected_as_a_wrong_shape() {
        let err = error(r#"{"name":"a","name":"b","items":[]}"#);
        assert_eq!(kind_and_path(&err).0, "invalid", "{err:?}");
    }

    #[test]
    fn syntax_trailing_data_and_cut_bodies_are_not_shape_errors() {
        assert_eq!(kind_and_path(&error(r#"{"name":}"#)).0, "syntax");
        assert_eq!(
            kind_and_path(&error(r#"{"name":"a","items":[]} trailing"#)).0,
            "syntax"
        );
        assert_eq!(kind_and_path(&error(r#"{"name":"#)).0, "eof");
        // A wrong value first and broken JSON after it: the body is not JSON.
        assert_eq!(kind_and_path(&error(r#"{"name":1, oops"#)).0, "syntax");
    }

    #[test]
    fn messages_are_serde_json_s() {
        match error(r#"{"items":[]}"#) {
            JsonBodyError::MissingField { message, .. } => {
                assert!(message.contains("name"), "{message}");
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}
