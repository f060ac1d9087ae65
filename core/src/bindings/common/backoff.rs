//! Dapr's retry settings for the in-process redelivery of the broker bindings, read with the
//! `backOff` prefix as Dapr's MQTT and RabbitMQ components read `github.com/dapr/kit/retry`:
//! The delays are configured with the metadata names of Dapr's retry settings
//! (`github.com/dapr/kit/retry`, read with the `backOff` prefix by Dapr's MQTT and RabbitMQ
//! components): `backOffPolicy` (`constant`, the default, or `exponential`),
//! `backOffDuration` (constant delay, default 5s), `backOffInitialInterval` (500ms),
//! `backOffMaxInterval` (60s), `backOffMultiplier` (1.5), `backOffRandomizationFactor` (0.5),
//! `backOffMaxElapsedTime` (15m, exponential only) and `backOffMaxRetries` (default 0, as in
//! Dapr's MQTT binding: the first failure hands the event back; `-1` retries in-process until
//! the handler succeeds or the runtime shuts down).

use std::time::Duration;

use crate::binding::{Field, FieldKind, FieldProblem};
use crate::component::values::{parse_go_duration, parse_int};
use crate::component::Metadata;

/// The back-off policies of Dapr's retry settings.
pub(crate) const POLICIES: &[&str] = &["constant", "exponential"];

pub(crate) const BACKOFF_POLICY: Field =
    Field::optional("backOffPolicy", FieldKind::OneOf(POLICIES), "constant");
pub(crate) const BACKOFF_DURATION: Field =
    Field::optional("backOffDuration", FieldKind::Duration, "5s");
pub(crate) const BACKOFF_INITIAL_INTERVAL: Field =
    Field::optional("backOffInitialInterval", FieldKind::Duration, "500ms");
pub(crate) const BACKOFF_MAX_INTERVAL: Field =
    Field::optional("backOffMaxInterval", FieldKind::Duration, "60s");
pub(crate) const BACKOFF_MULTIPLIER: Field =
    Field::optional("backOffMultiplier", FieldKind::Text, "1.5");
pub(crate) const BACKOFF_RANDOMIZATION_FACTOR: Field =
    Field::optional("backOffRandomizationFactor", FieldKind::Text, "0.5");
pub(crate) const BACKOFF_MAX_ELAPSED_TIME: Field =
    Field::optional("backOffMaxElapsedTime", FieldKind::Duration, "15m");
pub(crate) const BACKOFF_MAX_RETRIES: Field =
    Field::optional("backOffMaxRetries", FieldKind::Int, "3");

/// A broker binding's metadata fields followed by Dapr's retry settings (the `BACKOFF_*`
/// fields), which every broker binding takes:
/// `const FIELDS: &[Field] = backoff::fields_with_backoff![...];`.
macro_rules! fields_with_backoff {
    ($($field:expr),* $(,)?) => {
        &[
            $($field,)*
            $crate::bindings::common::backoff::BACKOFF_POLICY,
            $crate::bindings::common::backoff::BACKOFF_DURATION,
            $crate::bindings::common::backoff::BACKOFF_INITIAL_INTERVAL,
            $crate::bindings::common::backoff::BACKOFF_MAX_INTERVAL,
            $crate::bindings::common::backoff::BACKOFF_MULTIPLIER,
            $crate::bindings::common::backoff::BACKOFF_RANDOMIZATION_FACTOR,
            $crate::bindings::common::backoff::BACKOFF_MAX_ELAPSED_TIME,
            $crate::bindings::common::backoff::BACKOFF_MAX_RETRIES,
        ]
    };
}
pub(crate) use fields_with_backoff;

/// How long to wait between deliveries of an event the handler failed on, and how often.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Backoff {
    exponential: bool,
    duration: Duration,
    initial: Duration,
    max_interval: Duration,
    multiplier: f64,
    randomization: f64,
    max_elapsed: Option<Duration>,
    /// `None`: retry until the handler succeeds.
    max_retries: Option<u64>,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            exponential: false,
            duration: Duration::from_secs(5),
            initial: Duration::from_millis(500),
            max_interval: Duration::from_secs(60),
            multiplier: 1.5,
            randomization: 0.5,
            max_elapsed: Some(Duration::from_secs(15 * 60)),
            max_retries: Some(0),
        }
    }
}

fn problem(field: &str, message: String, fix: &str) -> FieldProblem {
    FieldProblem {
        field: Some(field.to_string()),
        message,
        fix: Some(fix.to_string()),
    }
}

fn parse_float(md: &Metadata, name: &str, min: f64) -> Result<Option<f64>, FieldProblem> {
    let Some(v) = md.get_nonempty(name) else {
        return Ok(None);
    };
    match v.trim().parse::<f64>() {
        Ok(f) if f.is_finite() && f >= min => Ok(Some(f)),
        _ => Err(problem(
            name,
            format!("metadata field {name:?}: {v:?} is not a number of at least {min}"),
            "write a decimal number, e.g. \"1.5\"",
        )),
    }
}

impl Backoff {
    /// Read the `backOff*` fields; field kinds were checked already.
    pub(crate) fn from_metadata(md: &Metadata) -> Result<Backoff, FieldProblem> {
        let mut b = Backoff::default();
        if let Some(p) = md.get_nonempty("backOffPolicy") {
            b.exponential = p.trim().eq_ignore_ascii_case("exponential");
        }
        let duration = |name: &str| -> Result<Option<Duration>, FieldProblem> {
            match md.get_nonempty(name) {
                None => Ok(None),
                Some(v) => parse_go_duration(v).map(Some).map_err(|e| {
                    problem(
                        name,
                        format!("metadata field {name:?}: {e}"),
                        "write a Go duration, e.g. \"500ms\" or \"5s\"",
                    )
                }),
            }
        };
        if let Some(d) = duration("backOffDuration")? {
            b.duration = d;
        }
        if let Some(d) = duration("backOffInitialInterval")? {
            b.initial = d;
        }
        if let Some(d) = duration("backOffMaxInterval")? {
            b.max_interval = d;
        }
        if let Some(d) = duration("backOffMaxElapsedTime")? {
            // As in Go's backoff package: 0 means no limit.
            b.max_elapsed = (!d.is_zero()).then_some(d);
        }
        if let Some(m) = parse_float(md, "backOffMultiplier", 1.0)? {
            b.multiplier = m;
        }
        if let Some(r) = parse_float(md, "backOffRandomizationFactor", 0.0)? {
            if r > 1.0 {
                return Err(problem(
                    "backOffRandomizationFactor",
                    format!("metadata field \"backOffRandomizationFactor\": {r} is more than 1"),
                    "write a number from 0 to 1, e.g. \"0.5\"",
                ));
            }
            b.randomization = r;
        }
        if let Some(v) = md.get_nonempty("backOffMaxRetries") {
            let n = parse_int(v).map_err(|e| {
                problem(
                    "backOffMaxRetries",
                    format!("metadata field \"backOffMaxRetries\": {e}"),
                    "write a whole number, e.g. \"3\", or \"-1\" to retry until the handler succeeds",
                )
            })?;
            b.max_retries = match n {
                -1 => None,
                n if n >= 0 => Some(n as u64),
                n => {
                    return Err(problem(
                        "backOffMaxRetries",
                        format!("metadata field \"backOffMaxRetries\": {n} is below -1"),
                        "write 0 or more, or \"-1\" to retry until the handler succeeds",
                    ))
                }
            };
        }
        Ok(b)
    }

    /// The problems of the `backOff*` fields, for a binding's `check`.
    pub(crate) fn check(md: &Metadata) -> Vec<FieldProblem> {
        Backoff::from_metadata(md).err().into_iter().collect()
    }

    /// Whether another in-process retry is allowed after `retries` retries over `elapsed`.
    pub(crate) fn allows(&self, retries: u64, elapsed: Duration) -> bool {
        if self.max_retries.is_some_and(|m| retries >= m) {
            return false;
        }
        !(self.exponential && self.max_elapsed.is_some_and(|m| elapsed >= m))
    }

    /// The delay before retry number `retry` (1 for the first).
    pub(crate) fn delay(&self, retry: u64) -> Duration {
        if !self.exponential {
            return self.duration;
        }
        let exp = retry.saturating_sub(1).min(64) as i32;
        let base = (self.initial.as_secs_f64() * self.multiplier.powi(exp))
            .min(self.max_interval.as_secs_f64());
        // Jitter as Go's backoff does: uniformly within +-randomization of the interval.
        let r = (uuid::Uuid::new_v4().as_u128() % 1_000_000) as f64 / 1_000_000.0;
        let jittered = base * (1.0 - self.randomization + 2.0 * self.randomization * r);
        Duration::from_secs_f64(jittered.max(0.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn md(pairs: &[(&str, &str)]) -> Metadata {
        Metadata::from_pairs(pairs.iter().copied())
    }

    #[test]
    fn backoff_defaults_are_dapr_s() {
        let b = Backoff::from_metadata(&md(&[])).unwrap();
        assert_eq!(b.delay(1), Duration::from_secs(5));
        assert!(!b.allows(0, Duration::ZERO), "0 retries by default");
    }

    #[test]
    fn backoff_constant_and_exponential() {
        let b = Backoff::from_metadata(&md(&[
            ("backOffDuration", "100ms"),
            ("backOffMaxRetries", "2"),
        ]))
        .unwrap();
        assert_eq!(b.delay(3), Duration::from_millis(100));
        assert!(b.allows(1, Duration::ZERO));
        assert!(!b.allows(2, Duration::ZERO));

        let b = Backoff::from_metadata(&md(&[
            ("backOffPolicy", "Exponential"),
            ("backOffInitialInterval", "1s"),
            ("backOffMultiplier", "2"),
            ("backOffRandomizationFactor", "0"),
            ("backOffMaxInterval", "5s"),
            ("backOffMaxRetries", "-1"),
        ]))
        .unwrap();
        assert_eq!(b.delay(1), Duration::from_secs(1));
        assert_eq!(b.delay(3), Duration::from_secs(4));
        assert_eq!(b.delay(9), Duration::from_secs(5));
        assert!(b.allows(1000, Duration::from_secs(60)));
        assert!(!b.allows(1000, Duration::from_secs(15 * 60)));
    }

    #[test]
    fn backoff_problems_name_the_field() {
        let p = Backoff::check(&md(&[("backOffMaxRetries", "-2")]));
        assert_eq!(p[0].field.as_deref(), Some("backOffMaxRetries"));
        let p = Backoff::check(&md(&[("backOffMultiplier", "x")]));
        assert_eq!(p[0].field.as_deref(), Some("backOffMultiplier"));
    }
}
