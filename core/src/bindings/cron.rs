//! `bindings.cron`: fires an input event on a schedule.
//!
//! Schedules are Dapr's: six fields with seconds first (`0 */5 * * * *`), `@every <duration>`,
//! the `@yearly @annually @monthly @weekly @daily @midnight @hourly` descriptors, and an
//! optional `TZ=<zone>` or `CRON_TZ=<zone>` prefix (default: the machine's local zone).
//! Each event has empty data and the metadata `timeZone` and `readTimeUTC`, as Dapr's has.
//! The output operation `delete` stops the schedule.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Local, Utc};
use tokio_util::sync::CancellationToken;

use std::sync::Arc;

use crate::binding::{declare, Settings};
use crate::binding::{
    BindingParts, InputBinding, InputContext, InvokeRequest, InvokeResponse, MetadataMap,
    OutputBinding,
};
use crate::component::values::parse_go_duration;
use crate::error::Result;

declare!("cron.metadata.yaml", build);

fn build(s: &mut Settings) -> Result<BindingParts> {
    let schedule = match s.text("schedule").map(Schedule::parse) {
        Some(Ok(schedule)) => schedule,
        Some(Err(e)) => {
            s.problem("schedule", e.message, e.fix.unwrap_or_default());
            return Ok(BindingParts::default());
        }
        None => return Ok(BindingParts::default()),
    };
    if let Some(w) = schedule.warning() {
        s.warn(
            "schedule",
            w.message.clone(),
            w.fix.clone().unwrap_or_default(),
        );
    }
    let cron = Arc::new(Cron {
        schedule,
        stopped: CancellationToken::new(),
    });
    let direction = s.direction();
    Ok(BindingParts {
        input: direction
            .input
            .then(|| cron.clone() as Arc<dyn InputBinding>),
        output: direction.output.then_some(cron as Arc<dyn OutputBinding>),
    })
}

/// A problem with a schedule, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleError {
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub fix: Option<String>,
}

/// The time zone a schedule runs in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Zone {
    /// The machine's local zone (Dapr's default).
    Local,
    /// A named IANA zone from `TZ=` or `CRON_TZ=`.
    Named(chrono_tz::Tz),
}

impl Zone {
    /// The zone's name as Dapr reports it in `timeZone`.
    pub fn name(&self) -> String {
        match self {
            Zone::Local => "Local".to_string(),
            Zone::Named(tz) => tz.name().to_string(),
        }
    }
}

#[derive(Debug, Clone)]
enum Kind {
    Every(Duration),
    Cron(Box<cron::Schedule>),
}

/// A parsed schedule.
#[derive(Debug, Clone)]
pub struct Schedule {
    text: String,
    zone: Zone,
    kind: Kind,
    /// How a schedule that loads is read, when it is likely not as meant.
    warning: Option<ScheduleError>,
}

fn err(message: impl Into<String>, fix: Option<String>) -> ScheduleError {
    ScheduleError {
        message: message.into(),
        fix,
    }
}

/// Dapr's day-of-week numbers are 0-6 with Sunday 0; the `cron` crate's are 1-7 with Sunday 1.
fn shift_day_of_week(field: &str) -> std::result::Result<String, String> {
    let mut parts = Vec::new();
    for part in field.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (r, Some(s)),
            None => (part, None),
        };
        let mut out = String::new();
        let mut digits = String::new();
        let flush = |digits: &mut String, out: &mut String| -> std::result::Result<(), String> {
            if !digits.is_empty() {
                let n: u32 = digits
                    .parse()
                    .map_err(|_| format!("{digits:?} is not a day of week"))?;
                if n > 6 {
                    return Err(format!(
                        "day of week {n} is out of range (0-6, Sunday is 0)"
                    ));
                }
                out.push_str(&(n + 1).to_string());
                digits.clear();
            }
            Ok(())
        };
        for ch in range.chars() {
            if ch.is_ascii_digit() {
                digits.push(ch);
            } else {
                flush(&mut digits, &mut out)?;
                out.push(ch);
            }
        }
        flush(&mut digits, &mut out)?;
        if let Some(s) = step {
            out.push('/');
            out.push_str(s);
        }
        parts.push(out);
    }
    Ok(parts.join(","))
}

impl Schedule {
    /// Parse a schedule as Dapr writes it.
    pub fn parse(text: &str) -> std::result::Result<Schedule, ScheduleError> {
        let original = text.trim();
        let mut rest = original;
        let mut zone = Zone::Local;
        for prefix in ["CRON_TZ=", "TZ="] {
            if let Some(after) = rest.strip_prefix(prefix) {
                let (name, tail) = after.split_once(char::is_whitespace).unwrap_or((after, ""));
                let tz = chrono_tz::Tz::from_str(name).map_err(|_| {
                    err(
                        format!("unknown time zone {name:?} in schedule {original:?}"),
                        Some("use an IANA zone name, e.g. CRON_TZ=Europe/Berlin or TZ=America/New_York".into()),
                    )
                })?;
                zone = Zone::Named(tz);
                rest = tail.trim();
                break;
            }
        }
        if rest.is_empty() {
            return Err(err(
                "the schedule is empty",
                Some("write e.g. \"@every 30s\" or \"0 */5 * * * *\"".into()),
            ));
        }
        let mut warning = None;
        let kind = if let Some(d) = rest.strip_prefix("@every") {
            let d = d.trim();
            let dur = parse_go_duration(d).map_err(|e| {
                err(
                    format!("schedule {original:?}: {e}"),
                    Some("write @every followed by a Go duration, e.g. \"@every 30s\" or \"@every 1h30m\"".into()),
                )
            })?;
            // Like Dapr's: sub-millisecond parts are dropped, and the shortest period is 1ms.
            let ms = dur.as_millis().max(1) as u64;
            Kind::Every(Duration::from_millis(ms))
        } else if rest.starts_with('@') {
            let expr = match rest {
                "@yearly" | "@annually" => "0 0 0 1 1 *",
                "@monthly" => "0 0 0 1 * *",
                "@weekly" => "0 0 0 * * 0",
                "@daily" | "@midnight" => "0 0 0 * * *",
                "@hourly" => "0 0 * * * *",
                other => {
                    let known = [
                        "@every",
                        "@yearly",
                        "@annually",
                        "@monthly",
                        "@weekly",
                        "@daily",
                        "@midnight",
                        "@hourly",
                    ];
                    let word = other.split_whitespace().next().unwrap_or(other);
                    let fix = match crate::component::nearest(word, known) {
                        Some(n) => format!(
                            "did you mean {n:?}? the descriptors are {}",
                            known.join(" ")
                        ),
                        None => format!("the descriptors are {}", known.join(" ")),
                    };
                    return Err(err(
                        format!("unknown schedule descriptor {other:?}"),
                        Some(fix),
                    ));
                }
            };
            Kind::Cron(Box::new(Self::parse_fields(expr, original, &mut warning)?))
        } else {
            Kind::Cron(Box::new(Self::parse_fields(rest, original, &mut warning)?))
        };
        Ok(Schedule {
            text: original.to_string(),
            zone,
            kind,
            warning,
        })
    }

    fn parse_fields(
        expr: &str,
        original: &str,
        warning: &mut Option<ScheduleError>,
    ) -> std::result::Result<cron::Schedule, ScheduleError> {
        let mut fields: Vec<&str> = expr.split_whitespace().collect();
        match fields.len() {
            6 => {}
            5 => {
                // Dapr's parser takes the seconds field as optional: five fields are
                // standard cron, minute first, firing at second 0.
                let prefix = original.strip_suffix(expr).unwrap_or("");
                *warning = Some(err(
                    format!("cron schedule {original:?} has 5 fields: it is read as standard cron (minute hour day-of-month month day-of-week), firing at second 0, as Dapr reads it"),
                    Some(format!("write the 6-field form, seconds first, to say so: \"{prefix}0 {expr}\"")),
                ));
                fields.insert(0, "0");
            }
            n => {
                return Err(err(
                    format!("cron schedule {original:?} has {n} fields; it needs 6 (seconds minutes hours day-of-month month day-of-week) or 5 (standard cron, minute first)"),
                    Some("e.g. \"0 */5 * * * *\" fires every five minutes; \"@every 30s\" every thirty seconds".into()),
                ))
            }
        }
        let dow = shift_day_of_week(fields[5])
            .map_err(|e| err(format!("cron schedule {original:?}: {e}"), None))?;
        let expr = format!(
            "{} {} {} {} {} {}",
            fields[0], fields[1], fields[2], fields[3], fields[4], dow
        );
        cron::Schedule::from_str(&expr).map_err(|e| {
            err(
                format!("cron schedule {original:?} is not valid: {e}"),
                Some("fields are seconds(0-59) minutes(0-59) hours(0-23) day-of-month(1-31) month(1-12 or JAN-DEC) day-of-week(0-6 or SUN-SAT); each takes *, lists a,b, ranges a-b and steps */n".into()),
            )
        })
    }

    /// How the schedule is read, when it loads but likely not as meant (5 fields).
    pub fn warning(&self) -> Option<&ScheduleError> {
        self.warning.as_ref()
    }

    /// The next `n` fire times strictly after `t`, in the schedule's zone's offset.
    pub fn next_times(&self, t: DateTime<Utc>, n: usize) -> Vec<DateTime<chrono::FixedOffset>> {
        let mut out = Vec::with_capacity(n);
        let mut at = t;
        while out.len() < n {
            let Some(next) = self.next_after(at) else {
                break;
            };
            out.push(match self.zone {
                Zone::Local => next.with_timezone(&Local).fixed_offset(),
                Zone::Named(tz) => next.with_timezone(&tz).fixed_offset(),
            });
            at = next;
        }
        out
    }

    /// The schedule as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The time zone it runs in.
    pub fn zone(&self) -> Zone {
        self.zone
    }

    /// The first fire time strictly after `t`.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match &self.kind {
            Kind::Every(d) => chrono::Duration::from_std(*d).ok().map(|d| t + d),
            Kind::Cron(s) => match self.zone {
                Zone::Local => s
                    .after(&t.with_timezone(&Local))
                    .next()
                    .map(|x| x.with_timezone(&Utc)),
                Zone::Named(tz) => s
                    .after(&t.with_timezone(&tz))
                    .next()
                    .map(|x| x.with_timezone(&Utc)),
            },
        }
    }
}

/// Go's `time.Time.String()` layout in UTC, which Dapr uses for `readTimeUTC`.
fn go_time_string(t: DateTime<Utc>) -> String {
    let frac = t.format("%.9f").to_string();
    let frac = frac.trim_end_matches('0');
    let frac = if frac == "." { "" } else { frac };
    format!("{}{} +0000 UTC", t.format("%Y-%m-%d %H:%M:%S"), frac)
}

struct Cron {
    schedule: Schedule,
    stopped: CancellationToken,
}

#[async_trait]
impl InputBinding for Cron {
    async fn read(&self, ctx: InputContext) -> Result<()> {
        // Wall time is derived from tokio's clock, so a paused test clock drives the schedule.
        let anchor_wall = Utc::now();
        let anchor = tokio::time::Instant::now();
        let now = || {
            anchor_wall
                + chrono::Duration::from_std(anchor.elapsed())
                    .unwrap_or_else(|_| chrono::Duration::zero())
        };
        let mut base = now();
        loop {
            let Some(next) = self.schedule.next_after(base) else {
                tracing::info!(
                    binding = ctx.sink.binding(),
                    "the schedule has no further fire time"
                );
                return Ok(());
            };
            let wait = (next - now()).to_std().unwrap_or(Duration::ZERO);
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = ctx.shutdown.cancelled() => return Ok(()),
                _ = self.stopped.cancelled() => return Ok(()),
            }
            let fired = now();
            let metadata = MetadataMap::from([
                ("timeZone".to_string(), self.schedule.zone.name()),
                ("readTimeUTC".to_string(), go_time_string(fired)),
            ]);
            let pending = tokio::select! {
                p = ctx.sink.submit(Vec::new(), metadata) => p,
                _ = ctx.shutdown.cancelled() => return Ok(()),
                _ = self.stopped.cancelled() => return Ok(()),
            };
            let Ok(pending) = pending else { return Ok(()) };
            let binding = ctx.sink.binding().to_string();
            // A cron tick cannot be redelivered: a nack or a reject is logged, and the schedule
            // goes on.
            tokio::spawn(async move {
                match pending.wait().await {
                    crate::binding::Verdict::Nack(why) => {
                        tracing::debug!(binding = %binding, "cron event nacked: {why}")
                    }
                    crate::binding::Verdict::Reject(why) => {
                        tracing::debug!(binding = %binding, "cron event rejected: {why}")
                    }
                    crate::binding::Verdict::Ack => {}
                }
            });
            // Stay on the schedule's grid, unless the handler queue held us back past the
            // following fire time: then the missed ticks are skipped, not fired in a burst.
            base = next;
            if self.schedule.next_after(base).is_some_and(|f| f <= now()) {
                base = now();
            }
        }
    }
}

#[async_trait]
impl OutputBinding for Cron {
    async fn invoke(&self, _req: InvokeRequest) -> Result<InvokeResponse> {
        self.stopped.cancel();
        Ok(InvokeResponse {
            data: Vec::new(),
            metadata: MetadataMap::from([
                ("schedule".to_string(), self.schedule.text.clone()),
                ("stopTimeUTC".to_string(), go_time_string(Utc::now())),
            ]),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
    }

    #[test]
    fn go_time_format() {
        assert_eq!(
            go_time_string(utc(2024, 1, 2, 3, 4, 5)),
            "2024-01-02 03:04:05 +0000 UTC"
        );
        let t = utc(2024, 1, 2, 3, 4, 5) + chrono::Duration::milliseconds(120);
        assert_eq!(go_time_string(t), "2024-01-02 03:04:05.12 +0000 UTC");
    }

    #[test]
    fn day_of_week_shift() {
        assert_eq!(shift_day_of_week("0").unwrap(), "1");
        assert_eq!(shift_day_of_week("1-5").unwrap(), "2-6");
        assert_eq!(shift_day_of_week("*/2").unwrap(), "*/2");
        assert_eq!(shift_day_of_week("1-5/2,6").unwrap(), "2-6/2,7");
        assert_eq!(shift_day_of_week("MON-FRI").unwrap(), "MON-FRI");
        assert!(shift_day_of_week("7").is_err());
    }
}
