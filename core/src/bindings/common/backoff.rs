//! Dapr's retry settings for the in-process redelivery of the broker bindings, read with the
//! `backOff` prefix as Dapr's MQTT and RabbitMQ components read `github.com/dapr/kit/retry`
//! (with `config.Decode`: a duration given as a bare number is milliseconds, a boolean must be
//! Go's spelling): `backOffPolicy` (`constant`, the default, or `exponential`),
//! `backOffDuration` (constant delay, default 5s), `backOffInitialInterval` (500ms),
//! `backOffMaxInterval` (60s), `backOffMultiplier` (1.5), `backOffRandomizationFactor` (0.5),
//! `backOffMaxElapsedTime` (15m, exponential only) and `backOffMaxRetries` (default 0, as in
//! Dapr's MQTT binding: the first failure hands the event back; `-1` retries in-process until
//! the handler succeeds or the runtime shuts down).

use std::time::Duration;

use std::sync::OnceLock;

use crate::binding::{Field, Settings};

/// Dapr's retry settings, which every broker binding takes besides its own fields:
/// `declare!("<binding>.metadata.yaml", build, backoff::fields());`.
pub(crate) fn fields() -> &'static [Field] {
    static FIELDS: OnceLock<&'static [Field]> = OnceLock::new();
    FIELDS.get_or_init(|| {
        crate::binding::declared_fields(include_str!("backoff.metadata.yaml"), "backOff*")
    })
}

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

impl Backoff {
    /// Read the `backOff*` fields, reporting at its field a value out of range.
    pub(crate) fn read(s: &mut Settings) -> Backoff {
        let mut b = Backoff {
            exponential: s.word("backOffPolicy") == Some("exponential"),
            ..Backoff::default()
        };
        if let Some(d) = s.duration("backOffDuration") {
            b.duration = d;
        }
        if let Some(d) = s.duration("backOffInitialInterval") {
            b.initial = d;
        }
        if let Some(d) = s.duration("backOffMaxInterval") {
            b.max_interval = d;
        }
        if let Some(d) = s.duration("backOffMaxElapsedTime") {
            // As in Go's backoff package: 0 means no limit.
            b.max_elapsed = (!d.is_zero()).then_some(d);
        }
        match s.float("backOffMultiplier") {
            Some(m) if m < 1.0 => s.problem(
                "backOffMultiplier",
                format!("metadata field \"backOffMultiplier\": {m} is less than 1"),
                "write a decimal number of at least 1, e.g. \"1.5\"",
            ),
            Some(m) => b.multiplier = m,
            None => {}
        }
        match s.float("backOffRandomizationFactor") {
            Some(r) if !(0.0..=1.0).contains(&r) => s.problem(
                "backOffRandomizationFactor",
                format!("metadata field \"backOffRandomizationFactor\": {r} is not from 0 to 1"),
                "write a number from 0 to 1, e.g. \"0.5\"",
            ),
            Some(r) => b.randomization = r,
            None => {}
        }
        match s.int("backOffMaxRetries") {
            Some(-1) => b.max_retries = None,
            Some(n) if n >= 0 => b.max_retries = Some(n as u64),
            Some(n) => s.problem(
                "backOffMaxRetries",
                format!("metadata field \"backOffMaxRetries\": {n} is below -1"),
                "write 0 or more, or \"-1\" to retry until the handler succeeds",
            ),
            None => {}
        }
        b
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
    use crate::binding::FieldProblem;

    fn read(pairs: &[(&str, &str)]) -> (Backoff, Vec<FieldProblem>) {
        crate::binding::with_settings(pairs, fields(), Backoff::read)
    }

    #[test]
    fn backoff_defaults_are_dapr_s() {
        let (b, _) = read(&[]);
        assert_eq!(b.delay(1), Duration::from_secs(5));
        assert!(!b.allows(0, Duration::ZERO), "0 retries by default");
    }

    #[test]
    fn backoff_constant_and_exponential() {
        let (b, p) = read(&[("backOffDuration", "100ms"), ("backOffMaxRetries", "2")]);
        assert!(p.is_empty(), "{p:?}");
        assert_eq!(b.delay(3), Duration::from_millis(100));
        assert!(b.allows(1, Duration::ZERO));
        assert!(!b.allows(2, Duration::ZERO));

        let (b, p) = read(&[
            ("backOffPolicy", "Exponential"),
            ("backOffInitialInterval", "1s"),
            ("backOffMultiplier", "2"),
            ("backOffRandomizationFactor", "0"),
            ("backOffMaxInterval", "5s"),
            ("backOffMaxRetries", "-1"),
        ]);
        assert!(p.is_empty(), "{p:?}");
        assert_eq!(b.delay(1), Duration::from_secs(1));
        assert_eq!(b.delay(3), Duration::from_secs(4));
        assert_eq!(b.delay(9), Duration::from_secs(5));
        assert!(b.allows(1000, Duration::from_secs(60)));
        assert!(!b.allows(1000, Duration::from_secs(15 * 60)));
    }

    #[test]
    fn backoff_bare_numbers_are_milliseconds_as_config_decode_reads_them() {
        let (b, _) = read(&[("backOffDuration", "250")]);
        assert_eq!(b.delay(1), Duration::from_millis(250));
    }

    #[test]
    fn backoff_problems_name_the_field() {
        let (_, p) = read(&[("backOffMaxRetries", "-2")]);
        assert_eq!(p[0].field.as_deref(), Some("backOffMaxRetries"));
        let (_, p) = read(&[("backOffMultiplier", "0.5")]);
        assert_eq!(p[0].field.as_deref(), Some("backOffMultiplier"));
    }
}
