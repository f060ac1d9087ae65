//! Values: JSON parameters as MySQL values, and column values as Dapr's JSON.

use super::*;

/// A JSON parameter as a MySQL value. An integer beyond 64 bits goes as its digits (text, which
/// the server reads exactly into a DECIMAL and refuses as out of range for an integer column),
/// not as a float that has lost some of them; arrays and objects as their JSON text as written.
pub(super) fn param_value(p: &Param) -> Value {
    use serde_json::Value as V;
    match &p.value {
        V::Null => Value::NULL,
        V::Bool(b) => Value::Int(i64::from(*b)),
        V::Number(n) => match p.big_integer() {
            Some(digits) => Value::Bytes(digits.as_bytes().to_vec()),
            None => n
                .as_i64()
                .map(Value::Int)
                .or_else(|| n.as_u64().map(Value::UInt))
                .unwrap_or_else(|| Value::Double(n.as_f64().unwrap_or(0.0))),
        },
        V::String(s) => Value::Bytes(s.clone().into_bytes()),
        V::Array(_) | V::Object(_) => Value::Bytes(p.raw.clone().into_bytes()),
    }
}

/// A row as Dapr writes it: an object keyed by column name, NULL columns left out.
pub(super) fn row_json(row: &Row, loc: Loc) -> Json {
    let mut obj = BTreeMap::new();
    for (i, col) in row.columns_ref().iter().enumerate() {
        if let Some(v) = row.as_ref(i).and_then(|v| cell(col, v, loc)) {
            obj.insert(col.name_str().into_owned(), v);
        }
    }
    Json::Object(obj)
}

pub(super) const BINARY_CHARSET: u16 = 63;

pub(super) fn bytes_text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// MySQL's date and time parts: year, month, day, hour, minute, second, microsecond.
pub(super) type DateParts = (u16, u8, u8, u8, u8, u8, u32);

/// A time in `loc` as RFC 3339 (Go's zero time for MySQL's zero date).
pub(super) fn date_time((y, mo, d, h, mi, s, us): DateParts, loc: Loc) -> Json {
    if y == 0 && mo == 0 && d == 0 {
        return Json::String("0001-01-01T00:00:00Z".into());
    }
    let naive: Option<NaiveDateTime> =
        NaiveDate::from_ymd_opt(i32::from(y), u32::from(mo), u32::from(d))
            .and_then(|date| date.and_hms_micro_opt(u32::from(h), u32::from(mi), u32::from(s), us));
    let Some(naive) = naive else {
        return Json::String(format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}"));
    };
    match loc {
        Loc::Utc => Json::String(rfc3339_nano(chrono::Utc.from_utc_datetime(&naive))),
        Loc::Local => match chrono::Local.from_local_datetime(&naive).earliest() {
            Some(t) => Json::String(rfc3339_nano(t)),
            None => Json::String(rfc3339_nano(chrono::Utc.from_utc_datetime(&naive))),
        },
    }
}

/// MySQL's text form of a DATE/DATETIME/TIMESTAMP: `2024-01-02` or `2024-01-02 03:04:05.5`.
pub(super) fn parse_date_time(text: &str, loc: Loc) -> Option<Json> {
    let (date, time) = text.split_once(' ').unwrap_or((text, "00:00:00"));
    let mut d = date.split('-').map(|p| p.parse::<u32>().ok());
    let (y, mo, day) = (d.next()??, d.next()??, d.next()??);
    let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
    let mut t = hms.split(':').map(|p| p.parse::<u32>().ok());
    let (h, mi, s) = (t.next()??, t.next()??, t.next()??);
    let us = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<6}").get(..6)?.parse().ok()?
    };
    Some(date_time(
        (
            y as u16, mo as u8, day as u8, h as u8, mi as u8, s as u8, us,
        ),
        loc,
    ))
}

/// One column value as JSON; `None` for NULL.
pub(super) fn cell(col: &Column, v: &Value, loc: Loc) -> Option<Json> {
    use ColumnType::*;
    if matches!(v, Value::NULL) {
        return None;
    }
    let ty = col.column_type();
    // Bytes of a string or blob column with the binary character set are not text.
    let binary = col.character_set() == BINARY_CHARSET
        && matches!(
            ty,
            MYSQL_TYPE_STRING
                | MYSQL_TYPE_VAR_STRING
                | MYSQL_TYPE_VARCHAR
                | MYSQL_TYPE_TINY_BLOB
                | MYSQL_TYPE_MEDIUM_BLOB
                | MYSQL_TYPE_LONG_BLOB
                | MYSQL_TYPE_BLOB
                | MYSQL_TYPE_GEOMETRY
                | MYSQL_TYPE_VECTOR
                | MYSQL_TYPE_BIT
        );
    Some(match (ty, v) {
        (
            MYSQL_TYPE_TINY | MYSQL_TYPE_SHORT | MYSQL_TYPE_LONG | MYSQL_TYPE_INT24
            | MYSQL_TYPE_LONGLONG | MYSQL_TYPE_YEAR,
            _,
        ) => match v {
            Value::Int(i) => Json::Number(i.to_string()),
            Value::UInt(u) => Json::Number(u.to_string()),
            Value::Bytes(b) => {
                let t = bytes_text(b);
                if !t.is_empty()
                    && t.trim_start_matches('-')
                        .chars()
                        .all(|c| c.is_ascii_digit())
                {
                    Json::Number(t)
                } else {
                    Json::String(t)
                }
            }
            other => generic(other, binary),
        },
        (MYSQL_TYPE_FLOAT, Value::Float(f)) => Json::float32(*f),
        (MYSQL_TYPE_FLOAT | MYSQL_TYPE_DOUBLE, Value::Double(f)) => Json::float(*f),
        (MYSQL_TYPE_FLOAT, Value::Bytes(b)) => match bytes_text(b).parse::<f32>() {
            Ok(f) => Json::float32(f),
            Err(_) => Json::String(bytes_text(b)),
        },
        (MYSQL_TYPE_DOUBLE, Value::Bytes(b)) => match bytes_text(b).parse::<f64>() {
            Ok(f) => Json::float(f),
            Err(_) => Json::String(bytes_text(b)),
        },
        (MYSQL_TYPE_DECIMAL | MYSQL_TYPE_NEWDECIMAL, Value::Bytes(b)) => {
            Json::String(bytes_text(b))
        }
        (
            MYSQL_TYPE_DATE
            | MYSQL_TYPE_NEWDATE
            | MYSQL_TYPE_DATETIME
            | MYSQL_TYPE_DATETIME2
            | MYSQL_TYPE_TIMESTAMP
            | MYSQL_TYPE_TIMESTAMP2,
            _,
        ) => match v {
            Value::Date(y, mo, d, h, mi, s, us) => date_time((*y, *mo, *d, *h, *mi, *s, *us), loc),
            Value::Bytes(b) => {
                let t = bytes_text(b);
                parse_date_time(&t, loc).unwrap_or(Json::String(t))
            }
            other => generic(other, binary),
        },
        (MYSQL_TYPE_TIME | MYSQL_TYPE_TIME2, Value::Time(neg, days, h, m, s, us)) => {
            let hours = u64::from(*days) * 24 + u64::from(*h);
            let mut t = format!("{}{hours:02}:{m:02}:{s:02}", if *neg { "-" } else { "" });
            let digits = usize::from(col.decimals()).min(6);
            if digits > 0 {
                t.push('.');
                t.push_str(&format!("{us:06}")[..digits]);
            }
            Json::String(t)
        }
        (MYSQL_TYPE_TIME | MYSQL_TYPE_TIME2, Value::Bytes(b)) => Json::String(bytes_text(b)),
        (MYSQL_TYPE_BIT, Value::Bytes(b)) if b.len() <= 8 => Json::Number(
            b.iter()
                .fold(0u64, |acc, x| (acc << 8) | u64::from(*x))
                .to_string(),
        ),
        (MYSQL_TYPE_JSON, Value::Bytes(b)) => Json::String(bytes_text(b)),
        (_, other) => generic(other, binary),
    })
}

/// A value by its own kind: text as a string (binary as base64), numbers as numbers.
pub(super) fn generic(v: &Value, binary: bool) -> Json {
    match v {
        Value::NULL => Json::Null,
        Value::Bytes(b) if binary => Json::String(base64(b)),
        Value::Bytes(b) => Json::String(bytes_text(b)),
        Value::Int(i) => Json::Number(i.to_string()),
        Value::UInt(u) => Json::Number(u.to_string()),
        Value::Float(f) => Json::float32(*f),
        Value::Double(f) => Json::float(*f),
        Value::Date(y, mo, d, h, mi, s, us) => date_time((*y, *mo, *d, *h, *mi, *s, *us), Loc::Utc),
        Value::Time(neg, days, h, m, s, us) => Json::String(format!(
            "{}{:02}:{m:02}:{s:02}.{us:06}",
            if *neg { "-" } else { "" },
            u64::from(*days) * 24 + u64::from(*h)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_times_become_rfc3339() {
        assert_eq!(
            parse_date_time("2024-01-02 03:04:05.120000", Loc::Utc).unwrap(),
            Json::String("2024-01-02T03:04:05.12Z".into())
        );
        assert_eq!(
            parse_date_time("2024-01-02", Loc::Utc).unwrap(),
            Json::String("2024-01-02T00:00:00Z".into())
        );
        assert_eq!(
            parse_date_time("0000-00-00 00:00:00", Loc::Utc).unwrap(),
            Json::String("0001-01-01T00:00:00Z".into())
        );
    }
}
