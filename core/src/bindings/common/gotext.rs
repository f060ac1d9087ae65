//! Go's text forms, where Dapr's metadata shows them: durations, RFC 3339 times, base64,
//! query escaping.

use std::fmt::Write as _;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat};

/// Go's `time.Duration.String()`: `0s`, `850ns`, `1.5µs`, `294µs`, `1.234567ms`, `2.5s`,
/// `1m1s`, `1h0m0s`.
pub(crate) fn go_duration(d: Duration) -> String {
    let n = d.as_nanos();
    if n == 0 {
        return "0s".into();
    }
    if n < 1_000 {
        return format!("{n}ns");
    }
    if n < 1_000_000 {
        return format!("{}µs", fraction(n, 3));
    }
    if n < 1_000_000_000 {
        return format!("{}ms", fraction(n, 6));
    }
    let secs = n / 1_000_000_000;
    let (h, m, s) = (secs / 3600, (secs / 60) % 60, secs % 60);
    let mut out = String::new();
    if h > 0 {
        let _ = write!(out, "{h}h");
    }
    if h > 0 || m > 0 {
        let _ = write!(out, "{m}m");
    }
    let _ = write!(
        out,
        "{}s",
        fraction(s * 1_000_000_000 + n % 1_000_000_000, 9)
    );
    out
}

/// `v / 10^digits` as a decimal with the fraction's trailing zeros dropped.
fn fraction(v: u128, digits: u32) -> String {
    let scale = 10u128.pow(digits);
    let (int, frac) = (v / scale, v % scale);
    if frac == 0 {
        return int.to_string();
    }
    let frac = format!("{frac:0width$}", width = digits as usize);
    format!("{int}.{}", frac.trim_end_matches('0'))
}

/// Go's `time.RFC3339Nano`: `2020-09-24T11:13:46.405097Z` (the fraction's trailing zeros
/// dropped, no fraction when it is zero; `Z` for UTC, else the offset).
pub(crate) fn rfc3339_nano<Tz: chrono::TimeZone>(t: DateTime<Tz>) -> String
where
    Tz::Offset: std::fmt::Display,
{
    let s = t.to_rfc3339_opts(SecondsFormat::Nanos, true);
    let Some(dot) = s.rfind('.') else {
        return s;
    };
    let end = s[dot + 1..]
        .find(|c: char| !c.is_ascii_digit())
        .map_or(s.len(), |i| dot + 1 + i);
    let frac = s[dot + 1..end].trim_end_matches('0');
    if frac.is_empty() {
        format!("{}{}", &s[..dot], &s[end..])
    } else {
        format!("{}.{frac}{}", &s[..dot], &s[end..])
    }
}

/// Standard base64 with padding, as Go's `encoding/base64.StdEncoding` writes it.
pub(crate) fn base64(data: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// Go's `url.QueryEscape`, which Dapr applies to event metadata taken from message headers.
pub(crate) fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Dapr's `commonutils.Unquote`: request data that is a JSON string, number, boolean or null
/// as the text Go's `cast.ToString` gives it (a string without its quotes, a number in Go's
/// `%v` of a float64, `null` as nothing); anything else (an object, an array, not JSON) as it
/// is.
pub(crate) fn unquote(data: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    use std::borrow::Cow;
    match serde_json::from_slice::<serde_json::Value>(data) {
        Ok(serde_json::Value::String(s)) => Cow::Owned(s.into_bytes()),
        Ok(serde_json::Value::Number(n)) => match n.as_f64() {
            Some(f) => Cow::Owned(f.to_string().into_bytes()),
            None => Cow::Borrowed(data),
        },
        Ok(serde_json::Value::Bool(b)) => Cow::Owned(b.to_string().into_bytes()),
        Ok(serde_json::Value::Null) => Cow::Owned(Vec::new()),
        _ => Cow::Borrowed(data),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    #[test]
    fn durations_read_as_go_writes_them() {
        let cases = [
            (Duration::ZERO, "0s"),
            (Duration::from_nanos(850), "850ns"),
            (Duration::from_nanos(1_500), "1.5µs"),
            (Duration::from_micros(294), "294µs"),
            (Duration::from_nanos(1_234_567), "1.234567ms"),
            (Duration::from_millis(2_500), "2.5s"),
            (Duration::from_secs(61), "1m1s"),
            (Duration::from_secs(120), "2m0s"),
            (Duration::from_secs(3600), "1h0m0s"),
            (Duration::from_millis(3_723_500), "1h2m3.5s"),
        ];
        for (d, want) in cases {
            assert_eq!(go_duration(d), want, "{d:?}");
        }
    }

    #[test]
    fn times_read_as_go_rfc3339_nano() {
        let t = DateTime::parse_from_rfc3339("2020-09-24T11:13:46.405097Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(rfc3339_nano(t), "2020-09-24T11:13:46.405097Z");
        let t = DateTime::parse_from_rfc3339("2020-09-24T04:13:46Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(rfc3339_nano(t), "2020-09-24T04:13:46Z");
        let t = DateTime::parse_from_rfc3339("2020-09-24T04:13:46.5+02:00").unwrap();
        assert_eq!(rfc3339_nano(t), "2020-09-24T04:13:46.5+02:00");
    }

    #[test]
    fn base64_pads() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(&[0xde, 0xad, 0xbe, 0xef]), "3q2+7w==");
    }

    #[test]
    fn go_query_escape() {
        assert_eq!(query_escape("a b&c=d/é~"), "a+b%26c%3Dd%2F%C3%A9~");
    }

    #[test]
    fn unquote_reads_json_scalars_as_go_casts_them() {
        assert_eq!(&*unquote(br#""hello""#), b"hello");
        assert_eq!(&*unquote(b"1.50"), b"1.5");
        assert_eq!(&*unquote(b"12"), b"12");
        assert_eq!(&*unquote(b"true"), b"true");
        assert_eq!(&*unquote(b"null"), b"");
        assert_eq!(&*unquote(br#"{"a":1}"#), br#"{"a":1}"#);
        assert_eq!(&*unquote(b"plain text"), b"plain text");
    }
}
