//! W3C Trace Context `traceparent` (`00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`):
//! accept a valid incoming one, otherwise start a new trace. Pure.

use uuid::Uuid;

fn is_lower_hex(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The header value if it is a valid version-00 `traceparent`, normalised to lower case.
pub fn parse_traceparent(value: &str) -> Option<String> {
    let value = value.trim().to_ascii_lowercase();
    let mut parts = value.split('-');
    let (version, trace_id, parent_id, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let valid = parts.next().is_none()
        && version == "00"
        && is_lower_hex(trace_id, 32)
        && trace_id.bytes().any(|b| b != b'0')
        && is_lower_hex(parent_id, 16)
        && parent_id.bytes().any(|b| b != b'0')
        && is_lower_hex(flags, 2);
    valid.then_some(value)
}

/// A new sampled `traceparent` with random trace and span ids.
pub fn new_traceparent() -> String {
    let trace_id = Uuid::new_v4().simple().to_string();
    let span_id = &Uuid::new_v4().simple().to_string()[..16];
    format!("00-{trace_id}-{span_id}-01")
}

/// The request's trace context, or a new one.
pub fn traceparent_or_new(header: Option<&str>) -> String {
    header
        .and_then(parse_traceparent)
        .unwrap_or_else(new_traceparent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_header_is_kept() {
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(parse_traceparent(tp).as_deref(), Some(tp));
        assert_eq!(
            parse_traceparent(&tp.to_uppercase()).as_deref(),
            Some(tp),
            "upper case is normalised"
        );
    }

    #[test]
    fn invalid_headers_are_replaced() {
        for bad in [
            "",
            "garbage",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
        ] {
            assert_eq!(parse_traceparent(bad), None, "{bad}");
        }
        let fresh = traceparent_or_new(Some("garbage"));
        assert_eq!(parse_traceparent(&fresh).as_deref(), Some(fresh.as_str()));
    }
}
