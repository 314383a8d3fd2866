//! The payment deadline: an order whose `OrderCreated` is older than this was waiting too long
//! (the payment service was down, or its retries ran out of time) and is never charged.

use chrono::{DateTime, Utc};
use std::time::Duration;

/// How long after an order was placed it may still be charged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PaymentDeadline(pub Duration);

impl PaymentDeadline {
    /// True when `now` is past `occurred_at + deadline`. An `occurred_at` in the future (clock
    /// skew between services) is not expired.
    pub fn is_expired(&self, occurred_at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        match (now - occurred_at).to_std() {
            Ok(age) => age > self.0,
            Err(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    #[test]
    fn expires_strictly_after_the_deadline() {
        let d = PaymentDeadline(Duration::from_secs(600));
        let t0 = Utc::now();
        assert!(!d.is_expired(t0, t0));
        assert!(!d.is_expired(t0, t0 + TimeDelta::seconds(600)));
        assert!(d.is_expired(t0, t0 + TimeDelta::seconds(601)));
        assert!(
            !d.is_expired(t0 + TimeDelta::seconds(5), t0),
            "future: not expired"
        );
    }
}
