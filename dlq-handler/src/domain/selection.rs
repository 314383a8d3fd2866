//! Which dead letters an operator command selects. Pure.

use uuid::Uuid;

/// One dead letter as the operator sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    /// `dlq.reason` (`expired`, `retries_exhausted`, `invalid_event`, …).
    pub reason: Option<String>,
    /// The record key read as an order id (the processor keys by order id).
    pub order_id: Option<Uuid>,
    /// Milliseconds since the dead letter was written.
    pub age_ms: i64,
    /// Why dlq-handler kept it (`undecodable`, `charged_at_gateway`), if it did.
    pub kept: Option<String>,
}

/// Filters; every given one must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    pub reason: Option<String>,
    pub order_id: Option<Uuid>,
    /// At least this old (milliseconds).
    pub older_than_ms: Option<i64>,
    pub kept_only: bool,
    /// Exact positions `(partition, offset)`; empty = any.
    pub positions: Vec<(i32, i64)>,
}

impl Selection {
    pub fn matches(&self, listed: &Listed) -> bool {
        self.reason
            .as_ref()
            .is_none_or(|r| listed.reason.as_ref() == Some(r))
            && self.order_id.is_none_or(|id| listed.order_id == Some(id))
            && self.older_than_ms.is_none_or(|ms| listed.age_ms >= ms)
            && (!self.kept_only || listed.kept.is_some())
            && (self.positions.is_empty()
                || self.positions.contains(&(listed.partition, listed.offset)))
    }
}

/// Parse `partition:offset`.
pub fn parse_position(text: &str) -> Result<(i32, i64), String> {
    let (p, o) = text
        .split_once(':')
        .ok_or_else(|| format!("expected partition:offset, got `{text}`"))?;
    Ok((
        p.parse()
            .map_err(|_| format!("bad partition in `{text}`"))?,
        o.parse().map_err(|_| format!("bad offset in `{text}`"))?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed() -> Listed {
        Listed {
            topic: "payments.dlq".into(),
            partition: 2,
            offset: 7,
            reason: Some("expired".into()),
            order_id: Some(Uuid::nil()),
            age_ms: 60_000,
            kept: None,
        }
    }

    #[test]
    fn every_given_filter_must_match() {
        assert!(Selection::default().matches(&listed()));
        let by_reason = Selection {
            reason: Some("expired".into()),
            ..Selection::default()
        };
        assert!(by_reason.matches(&listed()));
        let other_reason = Selection {
            reason: Some("retries_exhausted".into()),
            ..Selection::default()
        };
        assert!(!other_reason.matches(&listed()));
        let too_young = Selection {
            older_than_ms: Some(120_000),
            ..Selection::default()
        };
        assert!(!too_young.matches(&listed()));
        let kept = Selection {
            kept_only: true,
            ..Selection::default()
        };
        assert!(!kept.matches(&listed()));
        let at = Selection {
            positions: vec![(2, 7)],
            order_id: Some(Uuid::nil()),
            ..Selection::default()
        };
        assert!(at.matches(&listed()));
        let elsewhere = Selection {
            positions: vec![(2, 8)],
            ..Selection::default()
        };
        assert!(!elsewhere.matches(&listed()));
    }

    #[test]
    fn positions_parse() {
        assert_eq!(parse_position("3:42"), Ok((3, 42)));
        assert!(parse_position("3").is_err());
        assert!(parse_position("x:1").is_err());
    }
}
