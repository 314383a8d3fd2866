//! Where a failed record goes next: a retry tier, the dead-letter topic, or another attempt in
//! place. Pure: the jitter is a function of a random draw the caller passes in.
//!
//! Attempts count retries: the first delivery (from the source topic, or a replay from parking)
//! is attempt 0, the record on the first retry tier is attempt 1, and so on. Retry number `k`
//! (1-based) uses tier `k - 1`; retries beyond the last tier reuse the last tier, so
//! `5s, 30s` with `max_attempts = 3` gives 5 s, 30 s, 30 s, then the dead-letter topic.
//!
//! With no tiers at all the policy is *in place*: a transient failure is retried inside the
//! runtime with exponential backoff, holding the key (other keys go on) and leaving the offset
//! unfinished, until the handler succeeds or fails permanently. That is the mode for consumers
//! whose transient errors are infrastructure outages (a database or registry down), where
//! moving the record to a retry topic would only reorder it.

use super::dead_letter_headers::DeadLetterReason;
use crate::error::ErrorKind;
use std::time::Duration;

/// One retry topic and the delay a record waits on it before its next attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryTier {
    pub topic: String,
    pub delay: Duration,
}

/// Retry tiers, attempt bound and jitter.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Retry topics in order; retries beyond the last reuse the last one. Empty: retry in place.
    pub tiers: Vec<RetryTier>,
    /// Retries before the dead-letter topic (ignored when retrying in place).
    pub max_attempts: u32,
    /// Relative jitter `j` in `[0, 1)`: a tier delay `d` becomes a value in `[d(1-j), d(1+j)]`.
    pub jitter: f64,
}

impl Default for RetryPolicy {
    /// The payment processor's topics: `payments.retry.5s`, `payments.retry.30s`; 3 retries.
    fn default() -> Self {
        Self {
            tiers: vec![
                RetryTier {
                    topic: "payments.retry.5s".into(),
                    delay: Duration::from_secs(5),
                },
                RetryTier {
                    topic: "payments.retry.30s".into(),
                    delay: Duration::from_secs(30),
                },
            ],
            max_attempts: 3,
            jitter: 0.2,
        }
    }
}

/// What to do with a record whose handler failed.
#[derive(Debug, Clone, PartialEq)]
pub enum RetryDecision {
    /// Publish to `tier` as attempt `attempt` (1-based retry number).
    Retry { tier: usize, attempt: u32 },
    /// Publish to the dead-letter topic.
    DeadLetter { reason: DeadLetterReason },
    /// No retry tiers: try again in place after a backoff.
    RetryInPlace,
}

impl RetryPolicy {
    /// Retries in place, never via topics (see the module doc).
    pub fn in_place() -> Self {
        Self {
            tiers: Vec::new(),
            max_attempts: 0,
            jitter: 0.0,
        }
    }

    /// Tier used by retry number `attempt` (1-based).
    pub fn tier_for(&self, attempt: u32) -> Option<usize> {
        if self.tiers.is_empty() || attempt == 0 {
            return None;
        }
        Some((attempt as usize - 1).min(self.tiers.len() - 1))
    }

    /// The delay of `tier` after jitter, for a uniform random `draw` in `[0, 1)`.
    pub fn delay(&self, tier: usize, draw: f64) -> Duration {
        let base = self.tiers.get(tier).map_or(Duration::ZERO, |t| t.delay);
        let jitter = self.jitter.clamp(0.0, 1.0);
        let factor = 1.0 - jitter + 2.0 * jitter * draw.clamp(0.0, 1.0);
        base.mul_f64(factor)
    }

    /// Whether `topic` is one of the retry tiers.
    pub fn is_retry_topic(&self, topic: &str) -> bool {
        self.tiers.iter().any(|t| t.topic == topic)
    }

    /// Decide the fate of a record on attempt `attempt` that failed with `kind`; a permanent
    /// failure may carry the handler's typed dead-letter reason.
    pub fn decide(
        &self,
        kind: ErrorKind,
        reason: Option<DeadLetterReason>,
        attempt: u32,
    ) -> RetryDecision {
        match kind {
            ErrorKind::Permanent => RetryDecision::DeadLetter {
                reason: reason.unwrap_or(DeadLetterReason::InvalidEvent),
            },
            ErrorKind::Transient if self.tiers.is_empty() => RetryDecision::RetryInPlace,
            ErrorKind::Transient if attempt < self.max_attempts => {
                let next = attempt + 1;
                RetryDecision::Retry {
                    tier: self
                        .tier_for(next)
                        .expect("tiers are not empty (checked above)"),
                    attempt: next,
                }
            }
            ErrorKind::Transient => RetryDecision::DeadLetter {
                reason: DeadLetterReason::RetriesExhausted,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn default_walks_5s_30s_30s_then_dead_letters() {
        let p = RetryPolicy::default();
        let t = ErrorKind::Transient;
        assert_eq!(
            p.decide(t, None, 0),
            RetryDecision::Retry {
                tier: 0,
                attempt: 1
            }
        );
        assert_eq!(
            p.decide(t, None, 1),
            RetryDecision::Retry {
                tier: 1,
                attempt: 2
            }
        );
        assert_eq!(
            p.decide(t, None, 2),
            RetryDecision::Retry {
                tier: 1,
                attempt: 3
            }
        );
        assert_eq!(
            p.decide(t, None, 3),
            RetryDecision::DeadLetter {
                reason: DeadLetterReason::RetriesExhausted
            }
        );
    }

    #[test]
    fn permanent_dead_letters_at_once_with_the_handlers_reason() {
        let p = RetryPolicy::default();
        assert_eq!(
            p.decide(ErrorKind::Permanent, None, 0),
            RetryDecision::DeadLetter {
                reason: DeadLetterReason::InvalidEvent
            }
        );
        assert_eq!(
            p.decide(ErrorKind::Permanent, Some(DeadLetterReason::Expired), 2),
            RetryDecision::DeadLetter {
                reason: DeadLetterReason::Expired
            }
        );
    }

    #[test]
    fn no_tiers_retries_in_place() {
        let p = RetryPolicy::in_place();
        assert_eq!(
            p.decide(ErrorKind::Transient, None, 0),
            RetryDecision::RetryInPlace
        );
        assert_eq!(
            p.decide(ErrorKind::Permanent, None, 0),
            RetryDecision::DeadLetter {
                reason: DeadLetterReason::InvalidEvent
            }
        );
    }

    proptest! {
        #[test]
        fn jittered_delay_stays_within_bounds(secs in 0u64..3600, jitter in 0.0f64..1.0, draw in 0.0f64..1.0) {
            let p = RetryPolicy {
                tiers: vec![RetryTier { topic: "r".into(), delay: Duration::from_secs(secs) }],
                max_attempts: 3,
                jitter,
            };
            let d = p.delay(0, draw).as_secs_f64();
            let base = secs as f64;
            prop_assert!(d >= base * (1.0 - jitter) - 1e-6 && d <= base * (1.0 + jitter) + 1e-6);
        }

        #[test]
        fn tiers_are_monotone_and_attempts_bounded(tiers in 1usize..5, max_attempts in 0u32..10) {
            let p = RetryPolicy {
                tiers: (0..tiers).map(|i| RetryTier { topic: format!("r{i}"), delay: Duration::from_secs(1 << i) }).collect(),
                max_attempts,
                jitter: 0.0,
            };
            let mut attempt = 0;
            let mut last_tier = 0;
            let mut retries = 0;
            while let RetryDecision::Retry { tier, attempt: next } = p.decide(ErrorKind::Transient, None, attempt) {
                prop_assert!(tier >= last_tier && tier < tiers);
                prop_assert_eq!(next, attempt + 1);
                last_tier = tier;
                attempt = next;
                retries += 1;
                prop_assert!(retries <= max_attempts);
            }
            prop_assert_eq!(retries, max_attempts);
        }
    }
}
