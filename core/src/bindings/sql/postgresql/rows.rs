//! Rows: column values decoded from PostgreSQL's binary forms into Dapr's JSON.

use super::*;

/// Any column as its raw binary value (or NULL), to decode by type here.
pub(super) struct RawCell<'a>(Option<&'a [u8]>);

impl<'a> FromSql<'a> for RawCell<'a> {
    fn from_sql(
        _ty: &Type,
        raw: &'a [u8],
    ) -> std::result::Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(RawCell(Some(raw)))
    }

    fn from_sql_null(
        _ty: &Type,
    ) -> std::result::Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(RawCell(None))
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }
}

pub(super) fn rows_to_json(
    columns: &[tokio_postgres::Column],
    rows: &[tokio_postgres::Row],
) -> Result<String> {
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let mut cells = Vec::with_capacity(columns.len());
        for (i, col) in columns.iter().enumerate() {
            let RawCell(raw) = row.try_get::<_, RawCell>(i).map_err(|e| {
                Error::internal(format!("cannot read column {}", col.name())).with_source(e)
            })?;
            let cell = match raw {
                None => Json::Null,
                Some(raw) => decode(col.type_(), raw).map_err(|e| match e {
                    Decode::Unsupported(t) => Error::invalid_argument(format!(
                        "column {:?} has type {t}, which bindery cannot turn into JSON; cast it in the SQL, e.g. {}::text",
                        col.name(),
                        col.name()
                    )),
                    Decode::Bad(why) => Error::upstream(format!(
                        "column {:?} ({}): the server sent a value bindery cannot read: {why}",
                        col.name(),
                        col.type_().name()
                    ))
                    .with_retryable(false),
                })?,
            };
            cells.push(cell);
        }
        out.push(Json::Array(cells));
    }
    Ok(Json::Array(out).to_text())
}

pub(super) enum Decode {
    Unsupported(String),
    Bad(String),
}

pub(super) fn bad(why: &str) -> Decode {
    Decode::Bad(why.to_string())
}

pub(super) fn be<const N: usize>(raw: &[u8], at: usize) -> std::result::Result<[u8; N], Decode> {
    raw.get(at..at + N)
        .and_then(|s| s.try_into().ok())
        .ok_or_else(|| bad("value too short"))
}

pub(super) fn text(raw: &[u8]) -> std::result::Result<String, Decode> {
    String::from_utf8(raw.to_vec()).map_err(|_| bad("text is not UTF-8"))
}

/// Seconds between the Unix epoch and PostgreSQL's (2000-01-01).
pub(super) const PG_EPOCH: i64 = 946_684_800;

pub(super) fn timestamp(raw: &[u8]) -> std::result::Result<Json, Decode> {
    let micros = i64::from_be_bytes(be(raw, 0)?);
    match micros {
        i64::MAX => return Ok(Json::String("infinity".into())),
        i64::MIN => return Ok(Json::String("-infinity".into())),
        _ => {}
    }
    let secs = PG_EPOCH + micros.div_euclid(1_000_000);
    let nanos = (micros.rem_euclid(1_000_000) * 1000) as u32;
    chrono::DateTime::from_timestamp(secs, nanos)
        .map(|t| Json::String(rfc3339_nano(t)))
        .ok_or_else(|| bad("timestamp out of range"))
}

pub(super) fn time_of_day(micros: i64) -> String {
    let (secs, frac) = (micros / 1_000_000, micros % 1_000_000);
    let mut s = format!(
        "{:02}:{:02}:{:02}",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    );
    if frac != 0 {
        s.push_str(format!(".{frac:06}").trim_end_matches('0'));
    }
    s
}

pub(super) fn decode(ty: &Type, raw: &[u8]) -> std::result::Result<Json, Decode> {
    let ty = base_type(ty);
    Ok(match *ty {
        Type::BOOL => Json::Bool(raw.first().copied().ok_or_else(|| bad("empty boolean"))? != 0),
        Type::INT2 => Json::Number(i16::from_be_bytes(be(raw, 0)?).to_string()),
        Type::INT4 => Json::Number(i32::from_be_bytes(be(raw, 0)?).to_string()),
        Type::INT8 => Json::Number(i64::from_be_bytes(be(raw, 0)?).to_string()),
        Type::OID => Json::Number(u32::from_be_bytes(be(raw, 0)?).to_string()),
        Type::FLOAT4 => Json::float32(f32::from_be_bytes(be(raw, 0)?)),
        Type::FLOAT8 => Json::float(f64::from_be_bytes(be(raw, 0)?)),
        Type::NUMERIC => numeric(raw)?,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN | Type::XML => {
            Json::String(text(raw)?)
        }
        Type::CHAR => Json::String(String::from_utf8_lossy(raw).into_owned()),
        Type::JSON => Json::Value(serde_json::from_slice(raw).map_err(|_| bad("invalid json"))?),
        Type::JSONB => {
            let body = match raw.split_first() {
                Some((1, rest)) => rest,
                _ => return Err(bad("unknown jsonb version")),
            };
            Json::Value(serde_json::from_slice(body).map_err(|_| bad("invalid jsonb"))?)
        }
        Type::TIMESTAMP | Type::TIMESTAMPTZ => timestamp(raw)?,
        Type::DATE => {
            let days = i32::from_be_bytes(be(raw, 0)?);
            match days {
                i32::MAX => Json::String("infinity".into()),
                i32::MIN => Json::String("-infinity".into()),
                _ => {
                    let secs = PG_EPOCH + i64::from(days) * 86_400;
                    chrono::DateTime::from_timestamp(secs, 0)
                        .map(|t| Json::String(rfc3339_nano(t)))
                        .ok_or_else(|| bad("date out of range"))?
                }
            }
        }
        Type::TIME => Json::String(time_of_day(i64::from_be_bytes(be(raw, 0)?))),
        Type::TIMETZ => {
            let micros = i64::from_be_bytes(be(raw, 0)?);
            // Seconds west of UTC; ISO writes east as +.
            let east = -i32::from_be_bytes(be(raw, 8)?);
            let (sign, off) = if east < 0 { ('-', -east) } else { ('+', east) };
            let mut s = format!(
                "{}{sign}{:02}:{:02}",
                time_of_day(micros),
                off / 3600,
                (off / 60) % 60
            );
            if off % 60 != 0 {
                s.push_str(&format!(":{:02}", off % 60));
            }
            Json::String(s)
        }
        Type::INTERVAL => Json::String(interval(
            i64::from_be_bytes(be(raw, 0)?),
            i32::from_be_bytes(be(raw, 8)?),
            i32::from_be_bytes(be(raw, 12)?),
        )),
        Type::UUID => Json::String(
            uuid::Uuid::from_slice(raw)
                .map_err(|_| bad("a uuid is 16 bytes"))?
                .hyphenated()
                .to_string(),
        ),
        Type::BYTEA => Json::String(base64(raw)),
        _ => match ty.kind() {
            Kind::Enum(_) => Json::String(text(raw)?),
            Kind::Array(elem) => array(elem, raw)?,
            _ if ty.name() == "citext" => Json::String(text(raw)?),
            _ => return Err(Decode::Unsupported(ty.name().to_string())),
        },
    })
}

/// PostgreSQL's binary numeric as the exact decimal text (a JSON number).
pub(super) fn numeric(raw: &[u8]) -> std::result::Result<Json, Decode> {
    let ndigits = u16::from_be_bytes(be(raw, 0)?) as usize;
    let weight = i16::from_be_bytes(be(raw, 2)?) as i32;
    let sign = u16::from_be_bytes(be(raw, 4)?);
    let dscale = u16::from_be_bytes(be(raw, 6)?) as usize;
    match sign {
        0xC000 => return Ok(Json::String("NaN".into())),
        0xD000 => return Ok(Json::String("Infinity".into())),
        0xF000 => return Ok(Json::String("-Infinity".into())),
        0x0000 | 0x4000 => {}
        _ => return Err(bad("unknown numeric sign")),
    }
    let mut digits = Vec::with_capacity(ndigits);
    for i in 0..ndigits {
        digits.push(u16::from_be_bytes(be(raw, 8 + 2 * i)?));
    }
    let digit = |i: i32| -> u16 {
        if i >= 0 && (i as usize) < digits.len() {
            digits[i as usize]
        } else {
            0
        }
    };
    let mut s = String::new();
    if sign == 0x4000 {
        s.push('-');
    }
    if weight < 0 {
        s.push('0');
    } else {
        for i in 0..=weight {
            if i == 0 {
                s.push_str(&digit(i).to_string());
            } else {
                s.push_str(&format!("{:04}", digit(i)));
            }
        }
    }
    if dscale > 0 {
        let mut frac = String::new();
        let mut i = weight + 1;
        while frac.len() < dscale {
            frac.push_str(&format!("{:04}", digit(i)));
            i += 1;
        }
        frac.truncate(dscale);
        s.push('.');
        s.push_str(&frac);
    }
    Ok(Json::Number(s))
}

/// PostgreSQL's default interval style: `1 year 2 mons 3 days 04:05:06.5`.
pub(super) fn interval(micros: i64, days: i32, months: i32) -> String {
    let mut parts = Vec::new();
    let plural =
        |n: i64, one: &str, many: &str| format!("{n} {}", if n.abs() == 1 { one } else { many });
    let (years, mons) = (months / 12, months % 12);
    if years != 0 {
        parts.push(plural(years.into(), "year", "years"));
    }
    if mons != 0 {
        parts.push(plural(mons.into(), "mon", "mons"));
    }
    if days != 0 {
        parts.push(plural(days.into(), "day", "days"));
    }
    if micros != 0 || parts.is_empty() {
        let sign = if micros < 0 { "-" } else { "" };
        parts.push(format!(
            "{sign}{}",
            time_of_day(micros.unsigned_abs() as i64)
        ));
    }
    parts.join(" ")
}

/// PostgreSQL's binary array as nested JSON arrays.
pub(super) fn array(elem: &Type, raw: &[u8]) -> std::result::Result<Json, Decode> {
    let ndim = i32::from_be_bytes(be(raw, 0)?);
    if ndim == 0 {
        return Ok(Json::Array(Vec::new()));
    }
    if !(1..=6).contains(&ndim) {
        return Err(bad("array dimensions"));
    }
    let mut dims = Vec::new();
    let mut at = 12;
    for _ in 0..ndim {
        dims.push(i32::from_be_bytes(be(raw, at)?).max(0) as usize);
        at += 8;
    }
    let total: usize = dims.iter().product();
    let mut items = Vec::with_capacity(total);
    for _ in 0..total {
        let len = i32::from_be_bytes(be(raw, at)?);
        at += 4;
        if len < 0 {
            items.push(Json::Null);
        } else {
            let len = len as usize;
            let body = raw
                .get(at..at + len)
                .ok_or_else(|| bad("array element too short"))?;
            items.push(decode(elem, body)?);
            at += len;
        }
    }
    // Fold the flat list into nested arrays, innermost dimension first.
    for d in dims.iter().skip(1).rev() {
        let mut grouped = Vec::with_capacity(items.len() / d.max(&1));
        let mut it = items.into_iter();
        loop {
            let chunk: Vec<Json> = it.by_ref().take(*d).collect();
            if chunk.is_empty() {
                break;
            }
            grouped.push(Json::Array(chunk));
        }
        items = grouped;
    }
    Ok(Json::Array(items))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numeric_bytes(ndigits: &[u16], weight: i16, sign: u16, dscale: u16) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend((ndigits.len() as u16).to_be_bytes());
        v.extend(weight.to_be_bytes());
        v.extend(sign.to_be_bytes());
        v.extend(dscale.to_be_bytes());
        for d in ndigits {
            v.extend(d.to_be_bytes());
        }
        v
    }

    fn num(raw: &[u8]) -> String {
        match numeric(raw) {
            Ok(j) => j.to_text(),
            Err(_) => panic!("bad numeric"),
        }
    }
    #[test]
    fn numerics_keep_every_digit() {
        assert_eq!(num(&numeric_bytes(&[1, 5000], 0, 0, 2)), "1.50");
        assert_eq!(
            num(&numeric_bytes(&[12, 3456, 7890], 1, 0x4000, 4)),
            "-123456.7890"
        );
        assert_eq!(num(&numeric_bytes(&[1000], -2, 0, 5)), "0.00001");
        assert_eq!(num(&numeric_bytes(&[], 0, 0, 0)), "0");
        assert_eq!(num(&numeric_bytes(&[1], 2, 0, 0)), "100000000");
        assert_eq!(num(&numeric_bytes(&[], 0, 0xC000, 0)), "\"NaN\"");
    }
    #[test]
    fn intervals_read_as_postgres_writes_them() {
        assert_eq!(interval(0, 0, 0), "00:00:00");
        assert_eq!(
            interval(14_706_000_000 + 500_000, 3, 14),
            "1 year 2 mons 3 days 04:05:06.5"
        );
        assert_eq!(interval(-3_600_000_000, 1, 0), "1 day -01:00:00");
    }
}
