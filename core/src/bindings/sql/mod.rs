//! What the SQL bindings (`postgresql`, `mysql`) share: a JSON tree that keeps exact decimal
//! numbers, the `sql` and `params` request metadata, and Dapr's timing metadata.

// Some helpers serve one of the two.
#![cfg_attr(not(feature = "all-bindings"), allow(dead_code))]

use std::collections::BTreeMap;
use std::time::Instant;

use chrono::{DateTime, Utc};

use crate::binding::{InvokeRequest, InvokeResponse, MetadataMap};
use crate::bindings::common::gotext::{go_duration, rfc3339_nano};
use crate::error::{Error, Result};

#[cfg(feature = "mysql")]
pub mod mysql;
#[cfg(feature = "postgresql")]
pub mod postgresql;

/// A JSON value for query results. Unlike `serde_json::Value` it keeps a decimal number's
/// exact text (`Number`), so a `numeric(30,10)` reaches the app with every digit.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Json {
    Null,
    Bool(bool),
    /// The text of a valid JSON number, written as is.
    Number(String),
    String(String),
    /// A parsed JSON document (a `json`/`jsonb` column), embedded.
    Value(serde_json::Value),
    Array(Vec<Json>),
    /// Keys in sorted order, as Go's `encoding/json` writes a map.
    Object(BTreeMap<String, Json>),
}

impl Json {
    /// A float as JSON: a number when finite, else the string `NaN`, `Infinity`, `-Infinity`.
    pub(crate) fn float(f: f64) -> Json {
        if f.is_finite() {
            Json::Value(serde_json::Value::from(f))
        } else if f.is_nan() {
            Json::String("NaN".into())
        } else if f > 0.0 {
            Json::String("Infinity".into())
        } else {
            Json::String("-Infinity".into())
        }
    }

    /// A 32-bit float as JSON, with its shortest 32-bit form (1.1, not 1.100000023841858).
    pub(crate) fn float32(f: f32) -> Json {
        if f.is_finite() {
            Json::float(f.to_string().parse::<f64>().unwrap_or(f64::from(f)))
        } else {
            Json::float(f64::from(f))
        }
    }

    /// Append this value's JSON text to `out`.
    pub(crate) fn write(&self, out: &mut String) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Number(n) => out.push_str(n),
            Json::String(s) => out.push_str(&serde_json::to_string(s).unwrap_or_default()),
            Json::Value(v) => out.push_str(&serde_json::to_string(v).unwrap_or_default()),
            Json::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write(out);
                }
                out.push(']');
            }
            Json::Object(map) => {
                out.push('{');
                for (i, (k, v)) in map.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&serde_json::to_string(k).unwrap_or_default());
                    out.push(':');
                    v.write(out);
                }
                out.push('}');
            }
        }
    }

    /// This value's JSON text.
    pub(crate) fn to_text(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }
}

/// What an `exec` or `query` asks for: the operation, the statement and its parameters;
/// `None` for `close`, the one other operation of the SQL bindings (the runtime lets no
/// other through).
pub(crate) fn statement(req: &InvokeRequest) -> Result<Option<(&str, String, Vec<Param>)>> {
    if req.operation == "close" {
        return Ok(None);
    }
    let sql = required_sql(&req.metadata)?;
    let params = json_params(&req.metadata)?;
    Ok(Some((req.operation.as_str(), sql, params)))
}

/// The `sql` request metadata, required by `exec` and `query`.
pub(crate) fn required_sql(md: &MetadataMap) -> Result<String> {
    match md.get("sql").map(|s| s.trim()).filter(|s| !s.is_empty()) {
        Some(s) => Ok(s.to_string()),
        None => Err(Error::invalid_argument(
            "required metadata not set: sql (give the statement in the request metadata \"sql\", e.g. sql=\"SELECT * FROM orders WHERE id = $1\")",
        )),
    }
}

/// One item of the `params` request metadata: its value, and its JSON text as written.
/// serde_json reads an integer beyond the 64-bit range as a float; the text keeps its digits.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Param {
    pub(crate) value: serde_json::Value,
    pub(crate) raw: String,
}

impl Param {
    /// The written digits of an integer beyond the 64-bit range (below `i64::MIN` or above
    /// `u64::MAX`), which `value` holds only as a float.
    pub(crate) fn big_integer(&self) -> Option<&str> {
        let raw = self.raw.as_str();
        let digits = raw.strip_prefix('-').unwrap_or(raw);
        let integer = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
        let fits = raw.parse::<i64>().is_ok() || raw.parse::<u64>().is_ok();
        (self.value.is_f64() && integer && !fits).then_some(raw)
    }

    /// A number's exact text: an integer beyond 64 bits as written, others as serde_json
    /// writes them (`42`, `18446744073709551615`, `1.5`); `None` for any other value.
    pub(crate) fn number_text(&self) -> Option<String> {
        match &self.value {
            serde_json::Value::Number(n) => Some(
                self.big_integer()
                    .map_or_else(|| n.to_string(), str::to_string),
            ),
            _ => None,
        }
    }

    /// An array's items, each with its text; `None` for any other value.
    pub(crate) fn items(&self) -> Option<Vec<Param>> {
        match &self.value {
            serde_json::Value::Array(values) => Some(params_with_text(values, &self.raw)),
            _ => None,
        }
    }
}

/// The items of a JSON array (`values`, parsed from `text`), each with its text.
fn params_with_text(values: &[serde_json::Value], text: &str) -> Vec<Param> {
    values
        .iter()
        .zip(array_item_texts(text))
        .map(|(value, raw)| Param {
            value: value.clone(),
            raw: raw.to_string(),
        })
        .collect()
}

/// The texts of the items of `text`, a valid JSON array.
fn array_item_texts(text: &str) -> Vec<&str> {
    let text = text.trim();
    let inner = text
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or("");
    let mut items = Vec::new();
    let (mut depth, mut in_string, mut escaped, mut start) = (0usize, false, false, 0);
    // The bytes looked at are ASCII, so every cut is at a character boundary.
    for (i, b) in inner.bytes().enumerate() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => depth += 1,
            b']' | b'}' => depth = depth.saturating_sub(1),
            b',' if depth == 0 => {
                items.push(inner[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    let last = inner[start..].trim();
    if !last.is_empty() || !items.is_empty() {
        items.push(last);
    }
    items
}

/// The `params` request metadata: a JSON array of the statement's parameters, or none.
pub(crate) fn json_params(md: &MetadataMap) -> Result<Vec<Param>> {
    let Some(text) = md.get("params").filter(|s| !s.trim().is_empty()) else {
        return Ok(Vec::new());
    };
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Array(items)) => Ok(params_with_text(&items, text)),
        Ok(other) => Err(Error::invalid_argument(format!(
            "invalid metadata property params: it must be a JSON array, not {}; write e.g. params='[1, \"text\", true, null]'",
            json_kind(&other)
        ))),
        Err(e) => Err(Error::invalid_argument(format!(
            "invalid metadata property params: failed to unserialize into an array: {e}; write e.g. params='[1, \"text\", true, null]'"
        ))),
    }
}

/// "a string", "an object", ... for messages.
pub(crate) fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// The timing of one SQL operation, for Dapr's response metadata.
pub(crate) struct SqlTiming {
    start: DateTime<Utc>,
    began: Instant,
}

impl SqlTiming {
    /// Start timing now.
    pub(crate) fn start() -> Self {
        SqlTiming {
            start: Utc::now(),
            began: Instant::now(),
        }
    }

    /// Dapr's response metadata of a finished SQL operation: `operation`, `sql`,
    /// `start-time`, `end-time` (RFC 3339 with nanoseconds, UTC) and `duration` (Go's form).
    pub(crate) fn metadata(&self, operation: &str, sql: &str) -> MetadataMap {
        let elapsed = self.began.elapsed();
        let end = self.start + chrono::Duration::from_std(elapsed).unwrap_or_default();
        let mut md = MetadataMap::new();
        md.insert("operation".into(), operation.to_string());
        md.insert("sql".into(), sql.to_string());
        md.insert("start-time".into(), rfc3339_nano(self.start));
        md.insert("end-time".into(), rfc3339_nano(end));
        md.insert("duration".into(), go_duration(elapsed));
        md
    }
}

/// Run an `exec` or `query` and answer with Dapr's timing metadata (`SqlTiming::metadata`)
/// beside whatever metadata the run answered.
pub(crate) async fn timed(
    operation: &str,
    sql: &str,
    run: impl std::future::Future<Output = Result<InvokeResponse>>,
) -> Result<InvokeResponse> {
    let timing = SqlTiming::start();
    let mut resp = run.await?;
    let mut md = timing.metadata(operation, sql);
    md.extend(resp.metadata.drain());
    resp.metadata = md;
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params_of(text: &str) -> Vec<Param> {
        let mut md = MetadataMap::new();
        md.insert("params".into(), text.into());
        json_params(&md).unwrap()
    }

    #[test]
    fn params_keep_the_digits_of_integers_beyond_64_bits() {
        let p = params_of(
            r#" [ 18446744073709551616, -9223372036854775809, 123456789012345678901234567890,
                 18446744073709551615, -9223372036854775808, 1.5, -0, "a,]\"[", {"k": [1, 2]},
                 [1, [99999999999999999999], "x"] ] "#,
        );
        let texts: Vec<Option<String>> = p.iter().map(Param::number_text).collect();
        assert_eq!(
            texts,
            [
                Some("18446744073709551616".into()),
                Some("-9223372036854775809".into()),
                Some("123456789012345678901234567890".into()),
                Some("18446744073709551615".into()),
                Some("-9223372036854775808".into()),
                Some("1.5".into()),
                Some("-0.0".into()),
                None,
                None,
                None,
            ]
        );
        let big: Vec<Option<&str>> = p.iter().map(Param::big_integer).collect();
        assert_eq!(
            big,
            [
                Some("18446744073709551616"),
                Some("-9223372036854775809"),
                Some("123456789012345678901234567890"),
                None,
                None,
                None,
                None,
                None,
                None,
                None,
            ]
        );
        assert_eq!(p[7].value, serde_json::json!("a,]\"["));
        assert_eq!(p[8].raw, r#"{"k": [1, 2]}"#);
        let items = p[9].items().unwrap();
        assert_eq!(items.len(), 3);
        let inner = items[1].items().unwrap();
        assert_eq!(
            inner[0].number_text().as_deref(),
            Some("99999999999999999999")
        );
        assert!(params_of("[]").is_empty());
        assert!(params_of("[ ]").is_empty());
        assert_eq!(params_of("[[]]")[0].items().unwrap(), Vec::new());
    }

    #[test]
    fn json_keeps_exact_numbers_and_sorts_keys() {
        let mut obj = BTreeMap::new();
        obj.insert(
            "b".to_string(),
            Json::Number("12345678901234567890.0123".into()),
        );
        obj.insert("a".to_string(), Json::String("x\"y".into()));
        obj.insert("c".to_string(), Json::float32(1.1));
        assert_eq!(
            Json::Object(obj).to_text(),
            r#"{"a":"x\"y","b":12345678901234567890.0123,"c":1.1}"#
        );
        assert_eq!(Json::float(f64::NAN).to_text(), "\"NaN\"");
    }
}
