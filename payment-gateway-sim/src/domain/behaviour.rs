//! How the simulated gateway behaves: latency, fault rates, the outage switch. Set by flags at
//! start-up and changed at run time by `PATCH /admin/behaviour` (a [`BehaviourPatch`]).

use super::FieldError;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A probability in `0..=1`.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default, Serialize)]
#[serde(transparent)]
pub struct Rate(f64);

impl Rate {
    pub const ZERO: Rate = Rate(0.0);

    /// `Err` names `field` when `value` is not a finite number within `0..=1`.
    pub fn new(field: &'static str, value: f64) -> Result<Self, FieldError> {
        if value.is_finite() && (0.0..=1.0).contains(&value) {
            Ok(Self(value))
        } else {
            Err(FieldError {
                field,
                code: "out_of_range",
                message: format!("{field} must be a number from 0 to 1, got {value}"),
            })
        }
    }

    pub fn get(self) -> f64 {
        self.0
    }

    /// Whether a uniform draw in `[0, 1)` hits this rate (0 never hits, 1 always does).
    pub fn hit(self, draw: f64) -> bool {
        draw < self.0
    }
}

/// The current behaviour. Durations are (de)serialised in humantime format (`20ms`, `30s`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Behaviour {
    /// Fixed wait before every charge answer.
    #[serde(with = "humantime_serde")]
    pub latency: Duration,
    /// Extra uniform random wait in `[0, jitter)` on top of `latency`.
    #[serde(with = "humantime_serde")]
    pub jitter: Duration,
    /// Share of charges answered 503 `gateway_unavailable` without recording anything.
    pub transient_failure_rate: Rate,
    /// Share of charges recorded and then answered only after `timeout_delay`.
    pub timeout_rate: Rate,
    /// How long a "timed out" charge holds its answer.
    #[serde(with = "humantime_serde")]
    pub timeout_delay: Duration,
    /// Share of recorded charges that are declined (402).
    pub decline_rate: Rate,
    /// When on, every charge is answered 503 `gateway_outage` and nothing is recorded.
    pub outage: bool,
}

impl Default for Behaviour {
    /// A fast, always-succeeding gateway whose timeouts last 30 s.
    fn default() -> Self {
        Self {
            latency: Duration::ZERO,
            jitter: Duration::ZERO,
            transient_failure_rate: Rate::ZERO,
            timeout_rate: Rate::ZERO,
            timeout_delay: Duration::from_secs(30),
            decline_rate: Rate::ZERO,
            outage: false,
        }
    }
}

/// A partial update: absent (or null) fields keep their value; unknown fields are rejected.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BehaviourPatch {
    #[serde(default, with = "humantime_serde::option")]
    pub latency: Option<Duration>,
    #[serde(default, with = "humantime_serde::option")]
    pub jitter: Option<Duration>,
    #[serde(default)]
    pub transient_failure_rate: Option<f64>,
    #[serde(default)]
    pub timeout_rate: Option<f64>,
    #[serde(default, with = "humantime_serde::option")]
    pub timeout_delay: Option<Duration>,
    #[serde(default)]
    pub decline_rate: Option<f64>,
    #[serde(default)]
    pub outage: Option<bool>,
}

impl BehaviourPatch {
    /// The behaviour after this patch, or the first out-of-range field (then nothing changes).
    pub fn apply(&self, current: Behaviour) -> Result<Behaviour, FieldError> {
        let rate = |field, new: Option<f64>, old: Rate| match new {
            Some(value) => Rate::new(field, value),
            None => Ok(old),
        };
        Ok(Behaviour {
            latency: self.latency.unwrap_or(current.latency),
            jitter: self.jitter.unwrap_or(current.jitter),
            transient_failure_rate: rate(
                "transient_failure_rate",
                self.transient_failure_rate,
                current.transient_failure_rate,
            )?,
            timeout_rate: rate("timeout_rate", self.timeout_rate, current.timeout_rate)?,
            timeout_delay: self.timeout_delay.unwrap_or(current.timeout_delay),
            decline_rate: rate("decline_rate", self.decline_rate, current.decline_rate)?,
            outage: self.outage.unwrap_or(current.outage),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_patch_changes_only_the_fields_it_names() {
        let patch: BehaviourPatch =
            serde_json::from_str(r#"{"latency":"20ms","decline_rate":0.5,"outage":true}"#)
                .expect("valid patch");
        let next = patch.apply(Behaviour::default()).expect("in range");
        assert_eq!(next.latency, Duration::from_millis(20));
        assert_eq!(next.decline_rate.get(), 0.5);
        assert!(next.outage);
        assert_eq!(next.timeout_delay, Duration::from_secs(30));
        assert_eq!(next.jitter, Duration::ZERO);
    }

    #[test]
    fn unknown_fields_and_bad_durations_are_rejected() {
        assert!(serde_json::from_str::<BehaviourPatch>(r#"{"latncy":"20ms"}"#).is_err());
        assert!(serde_json::from_str::<BehaviourPatch>(r#"{"latency":"soon"}"#).is_err());
        assert!(serde_json::from_str::<BehaviourPatch>(r#"{"latency":20}"#).is_err());
    }

    #[test]
    fn out_of_range_rates_name_the_field() {
        let patch = BehaviourPatch {
            timeout_rate: Some(1.5),
            ..BehaviourPatch::default()
        };
        let err = patch.apply(Behaviour::default()).expect_err("1.5 > 1");
        assert_eq!(err.field, "timeout_rate");
        assert!(Rate::new("x", -0.1).is_err());
        assert!(Rate::new("x", f64::NAN).is_err());
    }

    #[test]
    fn settings_serialise_in_humantime_format() {
        let json = serde_json::to_value(Behaviour::default()).expect("serialisable");
        assert_eq!(json["timeout_delay"], "30s");
        assert_eq!(json["latency"], "0s");
        assert_eq!(json["outage"], false);
    }

    proptest! {
        #[test]
        fn rates_accept_exactly_the_unit_interval(value in -2.0f64..3.0) {
            prop_assert_eq!(Rate::new("r", value).is_ok(), (0.0..=1.0).contains(&value));
        }
    }
}
