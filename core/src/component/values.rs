//! Parsers for metadata values the way Dapr reads them: Go durations, Go booleans,
//! integers and Kubernetes quantities.

use std::time::Duration;

/// Parse a Go duration (`time.ParseDuration`): `300ms`, `1.5h`, `2h45m`, `10s`, `0`.
/// Negative durations are refused: no field of a binding means anything by them.
pub fn parse_go_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("empty duration".into());
    }
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.starts_with('-') {
        return Err(format!("{s:?} is negative"));
    }
    let mut rest = s.strip_prefix('+').unwrap_or(s);
    let mut total = 0f64;
    if rest.is_empty() {
        return Err(format!("{s:?} is not a duration"));
    }
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_end == 0 {
            return Err(format!("{s:?} is not a duration"));
        }
        let number: f64 = rest[..num_end]
            .parse()
            .map_err(|_| format!("{s:?} is not a duration"))?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_end];
        rest = &rest[unit_end..];
        let nanos_per = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "" => {
                return Err(format!(
                    "{s:?} has a number without a unit (use e.g. \"{number}s\")"
                ))
            }
            other => {
                return Err(format!(
                    "{s:?} has an unknown unit {other:?} (units: ns, us, ms, s, m, h)"
                ))
            }
        };
        total += number * nanos_per;
    }
    if !total.is_finite() || total > u64::MAX as f64 {
        return Err(format!("{s:?} is too long"));
    }
    Ok(Duration::from_nanos(total.round() as u64))
}

/// Parse Dapr's request TTL (`ttlInSeconds` or `ttl`, named `key` in messages) as its
/// `TryGetTTL` reads it: whole seconds, or a Go duration. Negative seconds are refused;
/// each binding decides what a zero TTL means for it.
pub fn parse_ttl(key: &str, value: &str) -> Result<Duration, String> {
    let v = value.trim();
    match v.parse::<i64>() {
        Ok(n) if n < 0 => Err(format!(
            "{key} value must be higher than zero: actual is '{n}'"
        )),
        Ok(n) => Ok(Duration::from_secs(n as u64)),
        Err(_) => parse_go_duration(v).map_err(|e| {
            format!("{key} value must be a whole number of seconds or a Go duration: {e}")
        }),
    }
}

/// How a duration given as a bare number reads: Dapr's `DecodeMetadata` takes it as seconds,
/// its `config.Decode` (redis, the retry settings) as milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BareNumber {
    /// `"10"` is ten seconds.
    Seconds,
    /// `"10"` is ten milliseconds.
    Milliseconds,
}

/// Parse a duration as Dapr's metadata decoders do: a Go duration, or a bare whole number in
/// the unit `bare` says. Negative durations are refused, as by `parse_go_duration`.
pub fn parse_duration(s: &str, bare: BareNumber) -> Result<Duration, String> {
    let t = s.trim();
    if let Ok(n) = t.parse::<i64>() {
        if n < 0 {
            return Err(format!("{t:?} is negative"));
        }
        return Ok(match bare {
            BareNumber::Seconds => Duration::from_secs(n as u64),
            BareNumber::Milliseconds => Duration::from_millis(n as u64),
        });
    }
    parse_go_duration(t).map_err(|e| {
        let unit = match bare {
            BareNumber::Seconds => "seconds",
            BareNumber::Milliseconds => "milliseconds",
        };
        format!("{e}; write a Go duration (\"10s\", \"1m30s\") or a whole number of {unit}")
    })
}

/// Read a boolean as Dapr's `IsTruthy` (and so `DecodeMetadata`) does: `y yes true t on 1`
/// in any case are true, anything else false. The second value says whether the spelling is
/// a recognised one (a true one, or `n no false f off 0`, or empty).
pub fn parse_truthy(s: &str) -> (bool, bool) {
    let t = s.trim().to_ascii_lowercase();
    match t.as_str() {
        "y" | "yes" | "true" | "t" | "on" | "1" => (true, true),
        "" | "n" | "no" | "false" | "f" | "off" | "0" => (false, true),
        _ => (false, false),
    }
}

/// Parse a decimal number.
pub fn parse_float(s: &str) -> Result<f64, String> {
    let t = s.trim();
    t.parse::<f64>()
        .ok()
        .filter(|f| f.is_finite())
        .ok_or_else(|| format!("{t:?} is not a number"))
}

/// Parse a boolean as Go's `strconv.ParseBool` does.
pub fn parse_go_bool(s: &str) -> Result<bool, String> {
    match s.trim() {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        other => Err(format!("{other:?} is not a boolean (use true or false)")),
    }
}

/// Parse a whole number.
pub fn parse_int(s: &str) -> Result<i64, String> {
    s.trim()
        .parse::<i64>()
        .map_err(|_| format!("{:?} is not a whole number", s.trim()))
}

/// Parse a Kubernetes quantity of bytes: `1024`, `100Mi`, `1Gi`, `512Ki`, `10M`, `2k`.
pub fn parse_quantity(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, suffix) = t.split_at(split);
    let number: f64 = num
        .parse()
        .map_err(|_| format!("{t:?} is not a size (use e.g. 100Mi, 512Ki or 1048576)"))?;
    let mult: f64 = match suffix {
        "" => 1.0,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "Ki" => 1024.0,
        "Mi" => 1024.0 * 1024.0,
        "Gi" => 1024.0 * 1024.0 * 1024.0,
        "Ti" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => {
            return Err(format!(
                "{t:?} has an unknown size suffix {suffix:?} (use Ki, Mi, Gi, k, M or G)"
            ))
        }
    };
    Ok((number * mult).round() as u64)
}

/// Percent-decode `s` as Go's `url.PathUnescape` (or, with `plus_is_space`, `QueryUnescape`)
/// does: `None` for a `%` not followed by two hex digits, or bytes that are not UTF-8.
pub fn unescape(s: &str, plus_is_space: bool) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_go_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(
            parse_go_duration("1.5h").unwrap(),
            Duration::from_secs(5400)
        );
        assert_eq!(
            parse_go_duration("250ms").unwrap(),
            Duration::from_millis(250)
        );
        assert_eq!(parse_go_duration("0").unwrap(), Duration::ZERO);
        assert!(parse_go_duration("30")
            .unwrap_err()
            .contains("without a unit"));
        assert!(parse_go_duration("5d")
            .unwrap_err()
            .contains("unknown unit"));
        assert!(parse_go_duration("-1s").is_err());
        assert!(parse_go_duration("abc").is_err());
        assert!(parse_go_duration("").is_err());
    }

    #[test]
    fn ttls() {
        assert_eq!(parse_ttl("ttl", "60").unwrap(), Duration::from_secs(60));
        assert_eq!(parse_ttl("ttl", "1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_ttl("ttl", "0").unwrap(), Duration::ZERO);
        assert!(parse_ttl("ttlInSeconds", "-5")
            .unwrap_err()
            .starts_with("ttlInSeconds value must be higher than zero"));
        assert!(parse_ttl("ttl", "soon").is_err());
    }

    #[test]
    fn bools_and_quantities() {
        assert!(parse_go_bool("True").unwrap());
        assert!(!parse_go_bool("0").unwrap());
        assert!(parse_go_bool("yes").is_err());
        assert_eq!(parse_quantity("100Mi").unwrap(), 100 * 1024 * 1024);
        assert_eq!(parse_quantity("2k").unwrap(), 2000);
        assert_eq!(parse_quantity("1024").unwrap(), 1024);
        assert!(parse_quantity("10XB").is_err());
    }
}
