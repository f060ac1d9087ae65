//! `bindings.aws.sns`: an output binding that publishes to one SNS topic (components-contrib
//! `bindings/aws/sns`).
//!
//! `create` takes Dapr's data `{"message": ..., "subject": ...}` and publishes the message,
//! with the subject when there is one, to `topicArn`. A string is published as it is, another
//! JSON value as its JSON text. The answer is empty, as Dapr's.
//!
//! Where bindery differs from Dapr: Dapr formats both with Go's `%v`, so a data without a
//! subject publishes the subject `<nil>` and one without a message the message `<nil>`;
//! bindery publishes no subject then, and refuses a data without a message.

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_sns::Client;
use serde_json::Value;

use super::{Connection, Started};
use crate::binding::Settings;
use crate::binding::{declare, BindingParts, InvokeRequest, InvokeResponse, OutputBinding};
use crate::error::{Error, Result};

declare!("sns.metadata.yaml", build, super::fields());

struct Sns {
    name: String,
    topic: String,
    conn: Connection,
    client: Started<Client>,
}

fn build(s: &mut Settings) -> Result<BindingParts> {
    let conn = Connection::read(s, false);
    let binding = Sns {
        name: s.name().to_string(),
        topic: s.text("topicArn").unwrap_or_default().trim().to_string(),
        conn,
        client: Started::default(),
    };
    Ok(BindingParts {
        output: Some(Arc::new(binding)),
        input: None,
    })
}

/// A field of the data as the text to publish: a string as it is, null as nothing.
fn text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

#[async_trait]
impl OutputBinding for Sns {
    async fn init(&self) -> Result<()> {
        self.client
            .start(|| async { Ok(Client::new(&self.conn.sdk_config().await?)) })
            .await
    }

    async fn invoke(&self, req: InvokeRequest) -> Result<InvokeResponse> {
        let data: Value = serde_json::from_slice(&req.data).map_err(|e| {
            Error::invalid_argument(format!(
                "the data is not Dapr's SNS message {{\"message\": ..., \"subject\": ...}}: {e}"
            ))
            .with_component(&self.name)
        })?;
        let Some(message) = data.get("message").and_then(text) else {
            return Err(Error::invalid_argument(
                "the data has no \"message\" to publish (Dapr's SNS data is {\"message\": ..., \"subject\": ...})",
            )
            .with_component(&self.name));
        };
        let out = self
            .client
            .get(&self.name)?
            .publish()
            .topic_arn(&self.topic)
            .message(message)
            .set_subject(data.get("subject").and_then(text))
            .send()
            .await
            .map_err(|e| {
                self.conn
                    .error(&format!("publish to topic {:?}", self.topic), e)
            })?;
        // As Dapr: no answer (SNS's message id is logged at debug level).
        tracing::debug!(component = %self.name, "published message {}", out.message_id().unwrap_or("?"));
        Ok(InvokeResponse::default())
    }
}
