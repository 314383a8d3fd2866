//! How long an `Idempotency-Key` is remembered, and which keys are past it. Pure: the clock is
//! an argument, so the rule is testable without waiting.

use chrono::{DateTime, TimeDelta, Utc};

/// The retention of idempotency keys: a key created at `t` protects retries until
/// `t + retention`; from then on it is *expired* — a retry with it is a new request (it creates a
/// new order), whether or not the cleanup task has deleted the row yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdempotencyKeyRetention {
    hours: u32,
}

impl IdempotencyKeyRetention {
    /// The default retention, 24 hours (Stripe's).
    pub const DEFAULT_HOURS: u32 = 24;
    /// The longest retention accepted: 10 years (keeps `now - retention` far inside the range of
    /// Postgres `timestamptz`).
    pub const MAX_HOURS: u32 = 24 * 365 * 10;

    /// A retention of `hours`; `None` unless `1..=MAX_HOURS` (0 would forget a key at once).
    pub fn from_hours(hours: u32) -> Option<Self> {
        (1..=Self::MAX_HOURS)
            .contains(&hours)
            .then_some(Self { hours })
    }

    pub fn hours(&self) -> u32 {
        self.hours
    }

    /// Keys created strictly before this instant are expired at `now`.
    pub fn expired_before(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now - TimeDelta::hours(i64::from(self.hours))
    }

    /// Is a key created at `created_at` expired at `now`?
    pub fn is_expired(&self, created_at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        created_at < self.expired_before(now)
    }
}

impl Default for IdempotencyKeyRetention {
    fn default() -> Self {
        Self {
            hours: Self::DEFAULT_HOURS,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(rfc3339: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(rfc3339)
            .expect("valid timestamp literal")
            .with_timezone(&Utc)
    }

    #[test]
    fn key_expires_exactly_after_the_retention() {
        let retention = IdempotencyKeyRetention::default();
        let created = at("2026-01-01T10:00:00Z");
        assert!(!retention.is_expired(created, at("2026-01-02T09:59:59Z")));
        assert!(!retention.is_expired(created, at("2026-01-02T10:00:00Z")));
        assert!(retention.is_expired(created, at("2026-01-02T10:00:00.000001Z")));
        assert_eq!(
            retention.expired_before(at("2026-01-02T10:00:00Z")),
            created
        );
    }

    #[test]
    fn retention_must_be_between_one_hour_and_ten_years() {
        assert_eq!(IdempotencyKeyRetention::from_hours(0), None);
        assert_eq!(
            IdempotencyKeyRetention::from_hours(1).map(|r| r.hours()),
            Some(1)
        );
        let max = IdempotencyKeyRetention::MAX_HOURS;
        assert!(IdempotencyKeyRetention::from_hours(max).is_some());
        assert_eq!(IdempotencyKeyRetention::from_hours(max + 1), None);
        assert_eq!(
            IdempotencyKeyRetention::default().hours(),
            IdempotencyKeyRetention::DEFAULT_HOURS
        );
    }
}
