//! Parameters: each `params` value sent in PostgreSQL's text form for the type the server
//! says the parameter has.

use super::*;

/// One parameter in PostgreSQL's text form (the server parses it as the parameter's type).
#[derive(Debug)]
pub(super) struct TextParam(Option<String>);

impl ToSql for TextParam {
    fn to_sql(
        &self,
        _ty: &Type,
        out: &mut BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match &self.0 {
            None => Ok(IsNull::Yes),
            Some(s) => {
                out.extend_from_slice(s.as_bytes());
                Ok(IsNull::No)
            }
        }
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }

    fn to_sql_checked(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        self.to_sql(ty, out)
    }

    fn encode_format(&self, _ty: &Type) -> tokio_postgres::types::Format {
        tokio_postgres::types::Format::Text
    }
}

/// The type under any domains.
pub(super) fn base_type(ty: &Type) -> &Type {
    match ty.kind() {
        Kind::Domain(inner) => base_type(inner),
        _ => ty,
    }
}

pub(super) fn bind_params(types: &[Type], params: &[Param]) -> Result<Vec<TextParam>> {
    if types.is_empty() && !params.is_empty() {
        return Err(Error::invalid_argument(format!(
            "the SQL has no parameters but params has {} value{}",
            params.len(),
            if params.len() == 1 { "" } else { "s" },
        )));
    }
    if types.len() != params.len() {
        return Err(Error::invalid_argument(format!(
            "the SQL has {} parameter{} ($1..${}) but params has {} value{}",
            types.len(),
            if types.len() == 1 { "" } else { "s" },
            types.len(),
            params.len(),
            if params.len() == 1 { "" } else { "s" },
        )));
    }
    types
        .iter()
        .zip(params)
        .enumerate()
        .map(|(i, (ty, v))| {
            param_text(ty, v).map(TextParam).map_err(|e| {
                Error::invalid_argument(format!(
                    "params[{i}] (${}, of type {}): {e}",
                    i + 1,
                    ty.name()
                ))
            })
        })
        .collect()
}

/// A whole number from a JSON number (every digit as written) or numeric string, within
/// `min..=max`.
pub(super) fn whole(p: &Param, min: i128, max: i128) -> std::result::Result<String, String> {
    let v = &p.value;
    let n: Option<i128> = match v {
        serde_json::Value::Number(n) => match p.big_integer() {
            Some(big) => match big.parse::<i128>() {
                Ok(n) => Some(n),
                Err(_) => return Err(format!("{big} is out of range ({min} to {max})")),
            },
            None => n
                .as_i64()
                .map(i128::from)
                .or_else(|| n.as_u64().map(i128::from))
                .or_else(|| {
                    n.as_f64()
                        .filter(|f| f.fract() == 0.0 && f.abs() < 1e38)
                        .map(|f| f as i128)
                }),
        },
        serde_json::Value::String(s) => s.trim().parse::<i128>().ok(),
        _ => return Err(format!("{} is not a whole number", json_kind(v))),
    };
    match n {
        Some(n) if (min..=max).contains(&n) => Ok(n.to_string()),
        Some(n) => Err(format!("{n} is out of range ({min} to {max})")),
        None => Err(format!("{v} is not a whole number")),
    }
}

/// A parameter in PostgreSQL's text form for `ty`. Numbers keep every digit as written, so an
/// integer beyond 64 bits binds exactly to a numeric (or text) parameter.
pub(super) fn param_text(ty: &Type, p: &Param) -> std::result::Result<Option<String>, String> {
    use serde_json::Value as V;
    let v = &p.value;
    if v.is_null() {
        return Ok(None);
    }
    let ty = base_type(ty);
    let text = match *ty {
        Type::BOOL => match v {
            V::Bool(b) => b.to_string(),
            V::String(s) => s.clone(),
            _ => {
                return Err(format!(
                    "{} is not a boolean; give true or false",
                    json_kind(v)
                ))
            }
        },
        Type::INT2 => whole(p, i16::MIN.into(), i16::MAX.into())?,
        Type::INT4 => whole(p, i32::MIN.into(), i32::MAX.into())?,
        Type::INT8 => whole(p, i64::MIN.into(), i64::MAX.into())?,
        Type::OID => whole(p, 0, u32::MAX.into())?,
        Type::FLOAT4 | Type::FLOAT8 | Type::NUMERIC => match v {
            V::Number(_) => p.number_text().unwrap_or_default(),
            V::String(s) => s.clone(),
            _ => return Err(format!("{} is not a number", json_kind(v))),
        },
        Type::JSON | Type::JSONB => match v {
            // As pgx: a string is JSON text already. Other values go as written (every digit).
            V::String(s) => s.clone(),
            _ => p.raw.clone(),
        },
        _ => match (ty.kind(), v) {
            (Kind::Array(_), V::Array(_)) => array_literal(&p.items().unwrap_or_default()),
            (_, V::String(s)) => s.clone(),
            (_, V::Bool(b)) => b.to_string(),
            (_, V::Number(_)) => p.number_text().unwrap_or_default(),
            (_, other) => other.to_string(),
        },
    };
    Ok(Some(text))
}

/// A JSON array as a PostgreSQL array literal: `[1, "a b", null]` -> `{1,"a b",NULL}`.
pub(super) fn array_literal(items: &[Param]) -> String {
    use serde_json::Value as V;
    fn quote(s: &str) -> String {
        format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
    }
    let parts: Vec<String> = items
        .iter()
        .map(|p| match &p.value {
            V::Null => "NULL".into(),
            V::Array(_) => array_literal(&p.items().unwrap_or_default()),
            V::String(s) => quote(s),
            V::Bool(b) => b.to_string(),
            V::Number(_) => p.number_text().unwrap_or_default(),
            V::Object(_) => quote(&p.raw),
        })
        .collect();
    format!("{{{}}}", parts.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::sql::json_params;

    #[test]
    fn json_arrays_become_array_literals() {
        let mut md = crate::binding::MetadataMap::new();
        md.insert(
            "params".into(),
            r#"[1, "a \"b\"", null, [true, 123456789012345678901234567890], {"k": 1}]"#.into(),
        );
        let v = json_params(&md).unwrap();
        assert_eq!(
            array_literal(&v),
            r#"{1,"a \"b\"",NULL,{true,123456789012345678901234567890},"{\"k\": 1}"}"#
        );
    }
}
