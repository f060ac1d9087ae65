//! `bindings.aws.sqs`: an input and output binding on one SQS queue (components-contrib
//! `bindings/aws/sqs`).
//!
//! Output `create` sends the data as the message body (SQS bodies are text: data that is not
//! UTF-8 is refused); the answer is empty, as Dapr's.
//!
//! The input long-polls the queue (20 s, up to 10 messages a receive) and hands what it
//! receives to the handler as one run, in the order SQS gave it:
//! - a message the handler acked is deleted (in batches, as the handler acks them): nothing is
//!   deleted before its handler succeeded;
//! - a message it failed on is left alone, so SQS delivers it again once its visibility
//!   timeout is over (the queue's `VisibilityTimeout`, 30 s unless the queue says otherwise),
//!   and the ones after it in the run, not handled, are made visible again at once;
//! - a message it rejected is moved to the queue's dead-letter queue when the queue has a
//!   redrive policy (sent there with its attributes, then deleted), else deleted with a
//!   warning that says it is lost; the run goes on with the next one.
//!
//! At shutdown the messages received and not handled are made visible again.
//!
//! Event metadata: `messageId`, `receiveCount` (SQS's ApproximateReceiveCount, 1 the first
//! time), `sentTimestamp` (milliseconds since the epoch), `messageGroupId` on a FIFO queue, and
//! each message attribute under its name (a binary one as base64). Dapr's SQS input carries
//! none of them.
//!
//! The queue's URL is looked up at start, so a queue that does not exist is an error then,
//! naming it.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry, Message,
    MessageSystemAttributeName, QueueAttributeName,
};
use aws_sdk_sqs::Client;

use super::{Connection, Started};
use crate::binding::{
    declare, BindingParts, InputBinding, InputContext, InvokeRequest, InvokeResponse,
    OutputBinding, Refusal, RunStep,
};
use crate::binding::{MetadataMap, Settings};
use crate::bindings::common::delivery::pause;
use crate::bindings::common::gotext::base64;
use crate::error::{Error, Result};

declare!("sqs.metadata.yaml", build, super::fields());

/// SQS's longest long poll, and the most messages one receive answers.
const WAIT_SECONDS: i32 = 20;
const MAX_MESSAGES: i32 = 10;
/// How long the input waits after a failed receive before the next.
const RETRY_WAIT: Duration = Duration::from_secs(2);

struct Queue {
    client: Client,
    url: String,
}

struct Sqs {
    name: String,
    queue: String,
    conn: Connection,
    started: Started<Queue>,
    /// The dead-letter queue's URL, once looked up (`None` inside: the queue has none).
    dead_letters: tokio::sync::OnceCell<Option<String>>,
}

fn build(s: &mut Settings) -> Result<BindingParts> {
    let conn = Connection::read(s, false);
    let sqs = Arc::new(Sqs {
        name: s.name().to_string(),
        queue: s.text("queueName").unwrap_or_default().trim().to_string(),
        conn,
        started: Started::default(),
        dead_letters: tokio::sync::OnceCell::new(),
    });
    let d = s.direction();
    Ok(BindingParts {
        input: d.input.then(|| sqs.clone() as Arc<dyn InputBinding>),
        output: d.output.then_some(sqs as Arc<dyn OutputBinding>),
    })
}

impl Sqs {
    /// The client and the queue's URL, looked up once for both sides.
    async fn start(&self) -> Result<()> {
        self.started
            .start(|| async {
                let client = Client::new(&self.conn.sdk_config().await?);
                let url = client
                    .get_queue_url()
                    .queue_name(&self.queue)
                    .send()
                    .await
                    .map_err(|e| {
                        self.conn.error_or_gone(
                            &format!("look up queue {:?}", self.queue),
                            e,
                            || format!("queue {:?} does not exist", self.queue),
                        )
                    })?
                    .queue_url
                    .unwrap_or_default();
                Ok(Queue { client, url })
            })
            .await
    }

    fn queue(&self) -> Result<&Queue> {
        self.started.get(&self.name)
    }

    fn event(m: &Message) -> (Vec<u8>, MetadataMap) {
        let mut md = MetadataMap::new();
        if let Some(attrs) = m.message_attributes() {
            for (k, v) in attrs {
                let value = match (v.string_value(), v.binary_value()) {
                    (Some(s), _) => s.to_string(),
                    (None, Some(b)) => base64(b.as_ref()),
                    (None, None) => String::new(),
                };
                md.insert(k.clone(), value);
            }
        }
        if let Some(id) = m.message_id() {
            md.insert("messageId".into(), id.to_string());
        }
        if let Some(attrs) = m.attributes() {
            for (name, key) in [
                (
                    MessageSystemAttributeName::ApproximateReceiveCount,
                    "receiveCount",
                ),
                (MessageSystemAttributeName::SentTimestamp, "sentTimestamp"),
                (MessageSystemAttributeName::MessageGroupId, "messageGroupId"),
            ] {
                if let Some(v) = attrs.get(&name) {
                    md.insert(key.into(), v.clone());
                }
            }
        }
        (m.body().unwrap_or_default().as_bytes().to_vec(), md)
    }

    /// Delete messages the handler acked, in batches of 10 (SQS's most).
    async fn delete(&self, q: &Queue, msgs: &[Message]) {
        for chunk in msgs.chunks(10) {
            let entries: Vec<_> = chunk
                .iter()
                .enumerate()
                .filter_map(|(i, m)| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .set_receipt_handle(m.receipt_handle().map(str::to_string))
                        .build()
                        .ok()
                })
                .collect();
            let out = q
                .client
                .delete_message_batch()
                .queue_url(&q.url)
                .set_entries(Some(entries))
                .send()
                .await;
            match out {
                Ok(out) => {
                    for f in out.failed() {
                        tracing::warn!(component = %self.name, queue = %self.queue,
                            "cannot delete a handled message, so SQS will deliver it again: {}: {}",
                            f.code(), f.message().unwrap_or(""));
                    }
                }
                Err(e) => {
                    let e = self.conn.error("delete handled messages", e);
                    tracing::warn!(component = %self.name, queue = %self.queue,
                        "{}; SQS will deliver them again", e.message());
                }
            }
        }
    }

    /// Make messages received but not handled visible again at once.
    async fn release(&self, q: &Queue, msgs: &[Message]) {
        for chunk in msgs.chunks(10) {
            let entries: Vec<_> = chunk
                .iter()
                .enumerate()
                .filter_map(|(i, m)| {
                    ChangeMessageVisibilityBatchRequestEntry::builder()
                        .id(i.to_string())
                        .set_receipt_handle(m.receipt_handle().map(str::to_string))
                        .visibility_timeout(0)
                        .build()
                        .ok()
                })
                .collect();
            if let Err(e) = q
                .client
                .change_message_visibility_batch()
                .queue_url(&q.url)
                .set_entries(Some(entries))
                .send()
                .await
            {
                // They come back after their visibility timeout instead.
                tracing::debug!(component = %self.name, "cannot release unhandled messages: {e}");
            }
        }
    }

    /// The dead-letter queue of the queue's redrive policy, if it has one.
    async fn dead_letter_queue(&self, q: &Queue) -> Result<Option<String>> {
        let found = self
            .dead_letters
            .get_or_try_init(|| async {
                let attrs = q
                    .client
                    .get_queue_attributes()
                    .queue_url(&q.url)
                    .attribute_names(QueueAttributeName::RedrivePolicy)
                    .send()
                    .await
                    .map_err(|e| self.conn.error("read the queue's redrive policy", e))?;
                let Some(policy) = attrs
                    .attributes()
                    .and_then(|a| a.get(&QueueAttributeName::RedrivePolicy))
                else {
                    return Ok(None);
                };
                let arn = serde_json::from_str::<serde_json::Value>(policy)
                    .ok()
                    .and_then(|p| p["deadLetterTargetArn"].as_str().map(str::to_string))
                    .unwrap_or_default();
                // arn:aws:sqs:<region>:<account>:<name>
                let parts: Vec<&str> = arn.split(':').collect();
                let (Some(account), Some(name)) = (parts.get(4), parts.get(5)) else {
                    return Err(Error::upstream(format!(
                        "the queue's redrive policy names no dead-letter queue ARN ({policy})"
                    )));
                };
                let url = q
                    .client
                    .get_queue_url()
                    .queue_name(*name)
                    .queue_owner_aws_account_id(*account)
                    .send()
                    .await
                    .map_err(|e| {
                        self.conn
                            .error(&format!("look up dead-letter queue {name:?}"), e)
                    })?
                    .queue_url;
                Ok(url)
            })
            .await?;
        Ok(found.clone())
    }

    /// The handler rejected `m`: move it to the dead-letter queue, or delete it, saying so.
    async fn reject(&self, q: &Queue, m: &Message, reason: &str) {
        let id = m.message_id().unwrap_or("?");
        match self.dead_letter_queue(q).await {
            Ok(Some(dlq)) => {
                let sent = q
                    .client
                    .send_message()
                    .queue_url(&dlq)
                    .message_body(m.body().unwrap_or_default())
                    .set_message_attributes(m.message_attributes().cloned())
                    .send()
                    .await;
                match sent {
                    Ok(_) => {
                        tracing::warn!(component = %self.name, queue = %self.queue,
                            "the handler rejected message {id} ({reason}); it is moved to the dead-letter queue");
                        self.delete(q, std::slice::from_ref(m)).await;
                    }
                    Err(e) => {
                        let e = self.conn.error("send to the dead-letter queue", e);
                        tracing::warn!(component = %self.name, queue = %self.queue,
                            "the handler rejected message {id} ({reason}), and {}; it stays in the queue and comes back", e.message());
                    }
                }
            }
            Ok(None) => {
                tracing::warn!(component = %self.name, queue = %self.queue,
                    "the handler rejected message {id} ({reason}); the queue has no dead-letter queue (no redrive policy), so it is deleted and lost");
                self.delete(q, std::slice::from_ref(m)).await;
            }
            Err(e) => {
                tracing::warn!(component = %self.name, queue = %self.queue,
                    "the handler rejected message {id} ({reason}), and {}; it stays in the queue and comes back", e.message());
            }
        }
    }

    /// Hand what one receive gave to the handler and settle each message as above.
    async fn handle(&self, ctx: &InputContext, q: &Queue, msgs: Vec<Message>) {
        let mut rest: &[Message] = &msgs;
        while !rest.is_empty() {
            let mut run = ctx
                .sink
                .start_run(rest.iter().map(Self::event).collect())
                .await;
            let verdict = loop {
                match run.next().await {
                    RunStep::Acked(step) => self.delete(q, &rest[step]).await,
                    RunStep::Done(v) => break v,
                }
            };
            let at = verdict.acked.min(rest.len());
            match verdict.refused {
                None => {
                    // All handled, or the runtime stops: the rest go back now.
                    self.release(q, &rest[at..]).await;
                    return;
                }
                Some(Refusal::Reject(reason)) => {
                    self.reject(q, &rest[at], &reason).await;
                    rest = &rest[at + 1..];
                }
                Some(Refusal::Nack(reason)) => {
                    tracing::info!(component = %self.name, queue = %self.queue,
                        "the handler failed on message {} ({reason}); SQS delivers it again after its visibility timeout",
                        rest[at].message_id().unwrap_or("?"));
                    self.release(q, &rest[at + 1..]).await;
                    return;
                }
            }
        }
    }
}

#[async_trait]
impl OutputBinding for Sqs {
    async fn init(&self) -> Result<()> {
        self.start().await
    }

    async fn invoke(&self, req: InvokeRequest) -> Result<InvokeResponse> {
        let q = self.queue()?;
        let body = String::from_utf8(req.data).map_err(|_| {
            Error::invalid_argument(
                "the data is not UTF-8 text, and an SQS message body is text (encode binary data, e.g. as base64)",
            )
            .with_component(&self.name)
        })?;
        let out = q
            .client
            .send_message()
            .queue_url(&q.url)
            .message_body(body)
            .send()
            .await
            .map_err(|e| {
                self.conn
                    .error(&format!("send to queue {:?}", self.queue), e)
            })?;
        // As Dapr: no answer (SQS's message id is logged at debug level).
        tracing::debug!(component = %self.name, "sent message {}", out.message_id().unwrap_or("?"));
        Ok(InvokeResponse::default())
    }
}

#[async_trait]
impl InputBinding for Sqs {
    async fn init(&self) -> Result<()> {
        self.start().await
    }

    async fn read(&self, ctx: InputContext) -> Result<()> {
        let q = self.queue()?;
        loop {
            let received = tokio::select! {
                r = q.client
                    .receive_message()
                    .queue_url(&q.url)
                    .max_number_of_messages(MAX_MESSAGES)
                    .wait_time_seconds(WAIT_SECONDS)
                    .message_system_attribute_names(MessageSystemAttributeName::All)
                    .message_attribute_names("All")
                    .send() => r,
                _ = ctx.shutdown.cancelled() => return Ok(()),
            };
            match received {
                Ok(out) => {
                    let msgs = out.messages.unwrap_or_default();
                    if !msgs.is_empty() {
                        self.handle(&ctx, q, msgs).await;
                    }
                    if ctx.shutdown.is_cancelled() {
                        return Ok(());
                    }
                }
                Err(e) => {
                    let e = self
                        .conn
                        .error(&format!("receive from queue {:?}", self.queue), e);
                    tracing::warn!(component = %self.name, "{}; trying again in {RETRY_WAIT:?}", e.message());
                    if !pause(RETRY_WAIT, &ctx.shutdown).await {
                        return Ok(());
                    }
                }
            }
        }
    }
}
