//! W3C trace context as it travels with an event: the `traceparent` column of an outbox row
//! becomes the `traceparent` header of the Kafka record (cdc-relay `--header-column`), and every
//! consumer writes the same value into the outbox rows it produces. Logs carry its trace id
//! (`trace_id` field), so one order's lines can be found in every service's logs.

/// The header (and outbox column) name.
pub const TRACEPARENT: &str = "traceparent";

/// The trace id of a `traceparent` value (`00-<32 hex trace id>-<16 hex span id>-<flags>`), or
/// `None` when the value is not one.
pub fn trace_id(traceparent: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(traceparent).ok()?;
    let mut parts = text.split('-');
    let _version = parts.next().filter(|v| v.len() == 2)?;
    parts
        .next()
        .filter(|id| id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_ids_come_from_traceparent() {
        assert_eq!(
            trace_id(b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
        assert_eq!(trace_id(b"garbage"), None);
        assert_eq!(trace_id(b"00-xyz-00f067aa0ba902b7-01"), None);
        assert_eq!(trace_id(b"\xff\xfe"), None);
        assert_eq!(trace_id(b""), None);
    }
}
