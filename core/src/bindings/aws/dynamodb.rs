//! `bindings.aws.dynamodb`: an output binding that puts items in one DynamoDB table
//! (components-contrib `bindings/aws/dynamodb`).
//!
//! `create` takes a JSON object and puts it as an item, each value mapped as Dapr maps it
//! (Go's `attributevalue.MarshalMap` of the decoded JSON): strings `S`, numbers `N`, booleans
//! `BOOL`, null `NULL`, arrays `L`, objects `M`. The item replaces one with the same key. The
//! answer has no data.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use serde_json::Value;

use super::{Connection, Started};
use crate::binding::Settings;
use crate::binding::{declare, BindingParts, InvokeRequest, InvokeResponse, OutputBinding};
use crate::error::{Error, Result};

declare!("dynamodb.metadata.yaml", build, super::fields());

struct DynamoDb {
    name: String,
    table: String,
    conn: Connection,
    client: Started<Client>,
}

fn build(s: &mut Settings) -> Result<BindingParts> {
    let conn = Connection::read(s, false);
    let binding = DynamoDb {
        name: s.name().to_string(),
        table: s.text("table").unwrap_or_default().trim().to_string(),
        conn,
        client: Started::default(),
    };
    Ok(BindingParts {
        output: Some(Arc::new(binding)),
        input: None,
    })
}

/// A JSON number as DynamoDB's `N` text: whole numbers as written, others as Go writes a
/// float64 (`strconv.FormatFloat(f, 'f', -1, 64)`, which Rust's `Display` matches).
fn number(n: &serde_json::Number) -> String {
    if n.is_i64() || n.is_u64() {
        n.to_string()
    } else {
        n.as_f64().map_or_else(|| n.to_string(), |f| f.to_string())
    }
}

/// A JSON value as the attribute Dapr makes of it.
fn attribute(v: &Value) -> AttributeValue {
    match v {
        Value::Null => AttributeValue::Null(true),
        Value::Bool(b) => AttributeValue::Bool(*b),
        Value::Number(n) => AttributeValue::N(number(n)),
        Value::String(s) => AttributeValue::S(s.clone()),
        Value::Array(items) => AttributeValue::L(items.iter().map(attribute).collect()),
        Value::Object(m) => AttributeValue::M(item(m)),
    }
}

fn item(m: &serde_json::Map<String, Value>) -> HashMap<String, AttributeValue> {
    m.iter().map(|(k, v)| (k.clone(), attribute(v))).collect()
}

#[async_trait]
impl OutputBinding for DynamoDb {
    async fn init(&self) -> Result<()> {
        self.client
            .start(|| async { Ok(Client::new(&self.conn.sdk_config().await?)) })
            .await
    }

    async fn invoke(&self, req: InvokeRequest) -> Result<InvokeResponse> {
        let fields = match serde_json::from_slice::<Value>(&req.data) {
            Ok(Value::Object(m)) => m,
            Ok(other) => {
                return Err(Error::invalid_argument(format!(
                "the data is a JSON {}, not an object: an item is a JSON object of its attributes",
                kind(&other)
            ))
                .with_component(&self.name))
            }
            Err(e) => {
                return Err(Error::invalid_argument(format!(
                    "the data is not JSON: an item is a JSON object of its attributes ({e})"
                ))
                .with_component(&self.name))
            }
        };
        self.client
            .get(&self.name)?
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item(&fields)))
            .send()
            .await
            .map_err(|e| {
                self.conn
                    .error(&format!("put item in table {:?}", self.table), e)
            })?;
        Ok(InvokeResponse::default())
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_maps_to_attributes_as_dapr_maps_it() {
        let v: Value = serde_json::from_str(
            r#"{"id": "a", "n": 12, "f": 1.50, "ok": true, "none": null, "l": [1, "x"], "m": {"k": ""}}"#,
        )
        .unwrap();
        let Value::Object(m) = v else { unreachable!() };
        let it = item(&m);
        assert_eq!(it["id"], AttributeValue::S("a".into()));
        assert_eq!(it["n"], AttributeValue::N("12".into()));
        assert_eq!(it["f"], AttributeValue::N("1.5".into()));
        assert_eq!(it["ok"], AttributeValue::Bool(true));
        assert_eq!(it["none"], AttributeValue::Null(true));
        assert_eq!(
            it["l"],
            AttributeValue::L(vec![
                AttributeValue::N("1".into()),
                AttributeValue::S("x".into())
            ])
        );
        assert_eq!(
            it["m"],
            AttributeValue::M([("k".to_string(), AttributeValue::S(String::new()))].into())
        );
    }
}
