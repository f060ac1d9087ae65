//! `bindings.rabbitmq`: publishes to and consumes one RabbitMQ queue.
//!
//! Metadata as Dapr's (`bindings/rabbitmq/rabbitmq.go` and `metadata.yaml`): `queueName`,
//! `host` (`amqp://user:password@host:port/vhost`, or `amqps://` for TLS), `durable`,
//! `deleteWhenUnused`, `exclusive` (false), `ttl` (or its older name `ttlInSeconds`: the
//! queue's `x-message-ttl`),
//! `maxPriority` (`x-max-priority`), `prefetchCount` (basic.qos; 0, the default, is no limit),
//! `contentType` (the default content type, `text/plain`), `reconnectWaitInSeconds` (5; whole
//! seconds or a Go duration), `caCert`, `clientCert`, `clientKey` (PEM text or a PEM file; TLS
//! is used with `amqps://`), `externalSasl` (SASL EXTERNAL, with a client certificate), and the
//! `backOff*` fields of [`broker`](super::broker). Input and output share one connection, as
//! in Dapr, so an `exclusive` queue works in both directions.
//!
//! Output `create` declares the queue (at init) and publishes the data to it through the
//! default exchange as a persistent message, waiting for the broker's publisher confirm.
//! Request metadata `ttlInSeconds` (or `ttl`; whole seconds or a Go duration) sets the
//! message's expiration, `priority` its priority (0-255), `contentType` its content type,
//! `messageID`, `correlationID` and `type` those AMQP properties (each key found in any case,
//! as Dapr finds them); like Dapr, every request metadata entry (those included) is also sent
//! as a header.
//!
//! Input consumes the queue with manual acks: a message is acked (basic.ack) only after the
//! handler succeeded on it, as soon as it did (also within a run of messages handed over
//! together). A failed handler gets it again after the backoff delay, up to
//! `backOffMaxRetries` times; then it is nacked with requeue. How the messages after a failed
//! one fare depends on `prefetchCount`:
//! - 1 (the broker sends one message at a time: order kept): the retries come before any later
//!   message; when they are spent the message is requeued, the channel is closed (which
//!   requeues nothing else, there being one unacked message at most), and after one more
//!   delay the binding consumes again.
//! - anything else (0, the default, is no limit): as in Dapr, which keeps no order either (it
//!   requeues a failed message at once), the later messages go on while the failed one waits
//!   out its delay aside, unacked and holding its prefetch slot, and is then retried, or, when
//!   no retry is left, requeued. So one failing message does not hold the queue for a whole
//!   back-off; but with `prefetchCount` N at most N failed messages wait at once.
//!
//! A message the handler rejects (`Reject`) is not retried: it is rejected at the broker
//! (basic.reject without requeue), so a queue with a dead-letter exchange (its
//! `x-dead-letter-exchange` argument, or a policy's `dead-letter-exchange`) routes it there and
//! any other queue drops it.
//!
//! Events carry the message's string headers as metadata, keys escaped as Go's
//! `url.QueryEscape` does and values as they are, as Dapr 1.16 gives them.
//! When the connection is lost, the binding waits `reconnectWaitInSeconds`, reconnects,
//! declares the queue again and resumes consuming.

use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures::{FutureExt, StreamExt};
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicPublishOptions, BasicQosOptions,
    BasicRejectOptions, ConfirmSelectOptions, QueueDeclareOptions,
};
use lapin::publisher_confirm::Confirmation;
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::uri::{AMQPScheme, AMQPUri, SASLMechanism};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, Consumer};

use crate::binding::{declare, Settings};
use crate::binding::{
    BindingParts, InputBinding, InputContext, InvokeRequest, InvokeResponse, MetadataMap,
    OutputBinding, Refusal,
};
use crate::bindings::common::backoff::{self, Backoff};
use crate::bindings::common::delivery;
use crate::bindings::common::gotext;
use crate::bindings::common::tls::{self, TlsFiles};
use crate::error::{Error, Result};

/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Dapr's default `reconnectWaitInSeconds`.
const DEFAULT_RECONNECT_WAIT: Duration = Duration::from_secs(5);
/// At most this many deliveries already received go to the handler as one run.
const RUN_MAX: usize = 256;

declare!("rabbitmq.metadata.yaml", build, backoff::fields());

const HOST_FIX: &str =
    "write the host as amqp://[user:password@]host[:port][/vhost], or amqps://... for TLS";

fn parse_host(host: &str) -> std::result::Result<AMQPUri, String> {
    let host = host.trim();
    if !host.contains("://") {
        return Err(format!(
            "host {:?} is not an amqp:// URL",
            crate::redact::url(host)
        ));
    }
    AMQPUri::from_str(host).map_err(|e| {
        // amq-protocol's "Invalid URL: '...'" quotes the whole URL.
        let e = e.replace(host, &crate::redact::url(host));
        format!("host is not a valid AMQP URL: {e}")
    })
}

/// The URL without credentials, for messages.
fn safe_url(uri: &AMQPUri) -> String {
    let scheme = match uri.scheme {
        AMQPScheme::AMQP => "amqp",
        AMQPScheme::AMQPS => "amqps",
    };
    let vhost = if uri.vhost == "/" {
        String::new()
    } else {
        format!("/{}", uri.vhost)
    };
    format!(
        "{scheme}://{}:{}{vhost}",
        uri.authority.host, uri.authority.port
    )
}

/// A whole-number field, reported when not within `0..=max`.
fn int_in(s: &mut Settings, name: &str, max: i64) -> Option<i64> {
    match s.int(name)? {
        n if (0..=max).contains(&n) => Some(n),
        n => {
            s.problem(
                name,
                format!("metadata field {name:?}: {n} is not within 0-{max}"),
                format!("write a whole number from 0 to {max}"),
            );
            None
        }
    }
}

/// Dapr's `TryGetTTL`, as every binding reads it.
fn parse_ttl(v: &str) -> std::result::Result<Duration, String> {
    crate::component::values::parse_ttl("ttlInSeconds", v)
}

struct Config {
    name: String,
    uri: AMQPUri,
    tls: Option<Arc<tls::rustls::ClientConfig>>,
    queue: String,
    durable: bool,
    delete_when_unused: bool,
    exclusive: bool,
    ttl: Option<Duration>,
    prefetch: u16,
    max_priority: Option<u8>,
    content_type: String,
    reconnect_wait: Duration,
    backoff: Backoff,
}

fn build(s: &mut Settings) -> Result<BindingParts> {
    let uri = s.parse("host", HOST_FIX, parse_host);
    let prefetch = int_in(s, "prefetchCount", u16::MAX as i64);
    let max_priority = int_in(s, "maxPriority", 255);
    // Dapr's `ttl`, or its older name `ttlInSeconds` (an alias in the declaration).
    let written = s.written("ttl");
    let ttl = s.parse(
        "ttl",
        "write whole seconds or a Go duration, e.g. \"60\" or \"60s\"",
        |v| crate::component::values::parse_ttl(written, v),
    );
    let tls_given = ["caCert", "clientCert", "clientKey"]
        .into_iter()
        .find(|f| s.text(f).is_some());
    if let (Some(f), Some(AMQPScheme::AMQP)) = (tls_given, uri.as_ref().map(|u| &u.scheme)) {
        s.problem(
            f,
            format!("{f} is given but host is an amqp:// URL, which does not use TLS"),
            "write the host as amqps://... to connect with TLS",
        );
    }
    let external_sasl = s.flag("externalSasl", false) || s.flag("saslExternal", false);
    if external_sasl && s.text("clientCert").is_none() {
        s.problem(
            "externalSasl",
            "externalSasl takes the user from the TLS client certificate, and no clientCert is given",
            "add clientCert and clientKey, or remove externalSasl",
        );
    }
    let backoff = Backoff::read(s);
    let files = TlsFiles::read(s, "caCert", "clientCert", "clientKey");
    let (Some(mut uri), true) = (uri, s.ok()) else {
        return Ok(BindingParts::default());
    };
    if external_sasl {
        uri.query.auth_mechanism = Some(SASLMechanism::External);
    }
    let tls = if uri.scheme == AMQPScheme::AMQPS {
        Some(files.client_config().map_err(Error::invalid_argument)?)
    } else {
        None
    };
    let config = Config {
        name: s.name().to_string(),
        uri,
        tls,
        queue: s.text_or_empty("queueName").to_string(),
        durable: s.flag("durable", false),
        delete_when_unused: s.flag("deleteWhenUnused", false),
        exclusive: s.flag("exclusive", false),
        ttl,
        prefetch: prefetch.unwrap_or(0) as u16,
        max_priority: max_priority.map(|p| p as u8),
        content_type: s.text("contentType").unwrap_or("text/plain").to_string(),
        reconnect_wait: s
            .duration("reconnectWaitInSeconds")
            .unwrap_or(DEFAULT_RECONNECT_WAIT),
        backoff,
    };
    let direction = s.direction();
    let sides = direction.input as usize + direction.output as usize;
    let rabbit = Arc::new(Rabbit {
        cfg: config,
        conn: tokio::sync::Mutex::new(None),
        out: tokio::sync::Mutex::new(None),
        ready: Mutex::new(None),
        open_sides: AtomicUsize::new(sides),
    });
    Ok(BindingParts {
        input: direction
            .input
            .then(|| rabbit.clone() as Arc<dyn InputBinding>),
        output: direction.output.then_some(rabbit as Arc<dyn OutputBinding>),
    })
}

struct Rabbit {
    cfg: Config,
    /// The connection both sides use, replaced when lost.
    conn: tokio::sync::Mutex<Option<Arc<Connection>>>,
    /// The output's channel, in confirm mode.
    out: tokio::sync::Mutex<Option<Channel>>,
    /// The consumer `init` opened, taken by `read`.
    ready: Mutex<Option<(Channel, Consumer)>>,
    /// Sides not closed yet; the last to close closes the connection.
    open_sides: AtomicUsize,
}

/// A message the handler failed on, waiting out its back-off before it is tried again.
struct Waiting {
    due: tokio::time::Instant,
    delivery: Delivery,
    /// Retries so far.
    retries: u64,
    /// When it first failed.
    started: tokio::time::Instant,
}

/// Sleep until `due`, or forever when there is none.
async fn sleep_until_some(due: Option<tokio::time::Instant>) {
    match due {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

enum End {
    Shutdown,
    /// The handler failed past its retries: consume again after the delay.
    HandBack(Duration),
    Lost(String),
}

impl Rabbit {
    fn error(&self, what: &str, e: impl std::fmt::Display) -> Error {
        Error::upstream(format!(
            "cannot {what} RabbitMQ at {}: {e}",
            safe_url(&self.cfg.uri)
        ))
        .with_component(&self.cfg.name)
    }

    // The TLS connector's error type is lapin's (tcp-stream's HandshakeError), large or not.
    #[allow(clippy::result_large_err)]
    async fn connect(&self) -> Result<Connection> {
        let props = ConnectionProperties::default()
            .with_executor(tokio_executor_trait::Tokio::current())
            .with_reactor(tokio_reactor_trait::Tokio)
            .with_connection_name(LongString::from(format!("bindery {}", self.cfg.name)));
        let uri = self.cfg.uri.clone();
        let connecting = match &self.cfg.tls {
            None => Connection::connect_uri(uri, props).boxed(),
            Some(tls) => {
                let tls = tls.clone();
                Connection::connector(
                    uri,
                    Box::new(move |uri: &AMQPUri| {
                        let addr = format!("{}:{}", uri.authority.host, uri.authority.port);
                        let stream = lapin::tcp::TcpStream::connect_timeout(addr, CONNECT_TIMEOUT)?;
                        let connector = lapin::tcp::RustlsConnector::from(tls);
                        let stream = stream.into_rustls(&connector, &uri.authority.host)?;
                        stream.set_nonblocking(true)?;
                        Ok(stream)
                    }),
                    props,
                )
                .boxed()
            }
        };
        match tokio::time::timeout(CONNECT_TIMEOUT, connecting).await {
            Ok(Ok(c)) => Ok(c),
            Ok(Err(e)) => Err(self.error("connect to", e)),
            Err(_) => Err(self.error(
                "connect to",
                format!("no answer within {CONNECT_TIMEOUT:?}"),
            )),
        }
    }

    /// The live connection, connecting when there is none.
    async fn connection(&self) -> Result<Arc<Connection>> {
        let mut guard = self.conn.lock().await;
        if let Some(c) = guard.as_ref() {
            if c.status().connected() {
                return Ok(c.clone());
            }
        }
        let c = Arc::new(self.connect().await?);
        *guard = Some(c.clone());
        Ok(c)
    }

    async fn channel(&self) -> Result<Channel> {
        let conn = self.connection().await?;
        conn.create_channel()
            .await
            .map_err(|e| self.error("open a channel on", e))
    }

    async fn declare(&self, ch: &Channel) -> Result<()> {
        let c = &self.cfg;
        let mut args = FieldTable::default();
        if let Some(ttl) = c.ttl {
            args.insert(
                ShortString::from("x-message-ttl"),
                AMQPValue::LongLongInt(ttl.as_millis().min(i64::MAX as u128) as i64),
            );
        }
        if let Some(p) = c.max_priority {
            args.insert(
                ShortString::from("x-max-priority"),
                AMQPValue::ShortShortUInt(p),
            );
        }
        let options = QueueDeclareOptions {
            passive: false,
            durable: c.durable,
            exclusive: c.exclusive,
            auto_delete: c.delete_when_unused,
            nowait: false,
        };
        ch.queue_declare(&c.queue, options, args)
            .await
            .map(drop)
            .map_err(|e| {
                Error::upstream(format!(
                    "cannot declare queue {:?} at {}: {e}",
                    c.queue,
                    safe_url(&c.uri)
                ))
                .with_component(&c.name)
            })
    }

    // -- output -------------------------------------------------------------------------

    async fn out_channel(&self) -> Result<Channel> {
        let mut guard = self.out.lock().await;
        if let Some(ch) = guard.as_ref() {
            if ch.status().connected() {
                return Ok(ch.clone());
            }
        }
        *guard = None;
        let ch = self.channel().await?;
        ch.confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(|e| self.error("enable publisher confirms on", e))?;
        self.declare(&ch).await?;
        *guard = Some(ch.clone());
        Ok(ch)
    }

    fn properties(&self, req: &InvokeRequest) -> Result<BasicProperties> {
        let md = &req.metadata;
        let mut headers = FieldTable::default();
        for (k, v) in md {
            headers.insert(
                ShortString::from(k.clone()),
                AMQPValue::LongString(LongString::from(v.clone())),
            );
        }
        let content_type = property(md, "contentType")
            .map(str::to_string)
            .unwrap_or_else(|| self.cfg.content_type.clone());
        let mut props = BasicProperties::default()
            .with_delivery_mode(2)
            .with_content_type(ShortString::from(content_type))
            .with_headers(headers);
        // Dapr's ApplyMetadataToPublishing: these request metadata keys are also AMQP properties.
        if let Some(v) = property(md, "messageID") {
            props = props.with_message_id(short(v, "messageID")?);
        }
        if let Some(v) = property(md, "correlationID") {
            props = props.with_correlation_id(short(v, "correlationID")?);
        }
        if let Some(v) = property(md, "type") {
            props = props.with_type(short(v, "type")?);
        }
        // Dapr's TryGetTTL: `ttl` or `ttlInSeconds`, in any case.
        let ttl = md
            .iter()
            .filter(|(k, v)| {
                !v.is_empty()
                    && (k.eq_ignore_ascii_case("ttl") || k.eq_ignore_ascii_case("ttlInSeconds"))
            })
            .min_by_key(|(k, _)| k.len())
            .map(|(_, v)| v);
        if let Some(v) = ttl {
            let ttl = parse_ttl(v)
                .map_err(|e| Error::invalid_argument(format!("request metadata: {e}")))?;
            props = props.with_expiration(ShortString::from(ttl.as_millis().to_string()));
        }
        if let Some(v) = md.get("priority").filter(|v| !v.is_empty()) {
            let n: i64 = v.trim().parse().map_err(|_| {
                Error::invalid_argument(format!(
                    "request metadata: priority value must be a valid integer: actual is '{v}'"
                ))
            })?;
            props = props.with_priority(n.clamp(0, 255) as u8);
        }
        Ok(props)
    }

    async fn publish(&self, data: &[u8], props: BasicProperties) -> Result<()> {
        let ch = self.out_channel().await?;
        let confirm = ch
            .basic_publish(
                "",
                &self.cfg.queue,
                BasicPublishOptions::default(),
                data,
                props,
            )
            .await
            .map_err(|e| self.error("publish to", e))?;
        match confirm.await.map_err(|e| self.error("publish to", e))? {
            Confirmation::Nack(_) => Err(self.error(
                "publish to",
                format!(
                    "the broker refused (nacked) the message for queue {:?}",
                    self.cfg.queue
                ),
            )),
            _ => Ok(()),
        }
    }

    // -- input --------------------------------------------------------------------------

    async fn open_consumer(&self) -> Result<(Channel, Consumer)> {
        let ch = self.channel().await?;
        // As Dapr: basic.qos with global set (per channel; one consumer per channel here).
        ch.basic_qos(self.cfg.prefetch, BasicQosOptions { global: true })
            .await
            .map_err(|e| self.error("set prefetchCount on", e))?;
        self.declare(&ch).await?;
        let consumer = ch
            .basic_consume(
                &self.cfg.queue,
                "",
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(|e| self.error(&format!("consume queue {:?} at", self.cfg.queue), e))?;
        Ok((ch, consumer))
    }

    async fn consume(&self, ctx: &InputContext, consumer: &mut Consumer) -> End {
        // Messages the handler failed on, waiting out their back-off (unordered mode only).
        let mut waiting: Vec<Waiting> = Vec::new();
        loop {
            let due = waiting.iter().map(|w| w.due).min();
            let next = tokio::select! {
                biased;
                _ = ctx.shutdown.cancelled() => return End::Shutdown,
                _ = sleep_until_some(due) => {
                    let i = waiting.iter().position(|w| Some(w.due) == due).unwrap_or(0);
                    let w = waiting.swap_remove(i);
                    if let Some(end) = self.retry(ctx, w, &mut waiting).await {
                        return end;
                    }
                    continue;
                }
                d = consumer.next() => d,
            };
            let first = match next {
                Some(Ok(d)) => d,
                Some(Err(e)) => return End::Lost(e.to_string()),
                None => return End::Lost("the server cancelled the consumer".into()),
            };
            // With it, the deliveries already here (at most prefetchCount are unacked), so
            // that one run crosses to the handler (it may be Python or JavaScript) instead of
            // one trip per message.
            let mut run = vec![first];
            let mut lost = None;
            while run.len() < RUN_MAX {
                match consumer.next().now_or_never() {
                    Some(Some(Ok(d))) => run.push(d),
                    Some(Some(Err(e))) => {
                        lost = Some(End::Lost(e.to_string()));
                        break;
                    }
                    Some(None) => {
                        lost = Some(End::Lost("the server cancelled the consumer".into()));
                        break;
                    }
                    None => break,
                }
            }
            let end = if self.cfg.prefetch == 1 {
                self.handle_run_keeping_order(ctx, &run).await
            } else {
                self.handle_run(ctx, run, &mut waiting).await
            };
            if let Some(end) = end {
                return end;
            }
            if let Some(end) = lost {
                return end;
            }
        }
    }

    /// With `prefetchCount` 1 (order kept): hand `run` to the handler, acking each message
    /// handled. A message the handler fails on is retried alone, before any later one; when
    /// its retries are spent it is requeued and the consumer ends (`HandBack`), which
    /// requeues the unacked ones after it too.
    async fn handle_run_keeping_order(&self, ctx: &InputContext, run: &[Delivery]) -> Option<End> {
        let cfg = &self.cfg;
        let gave_up = delivery::deliver_run(ctx, &cfg.backoff, self, run).await?;
        let _ = run[gave_up.index]
            .acker
            .nack(BasicNackOptions {
                multiple: false,
                requeue: true,
            })
            .await;
        if ctx.shutdown.is_cancelled() {
            return Some(End::Shutdown);
        }
        let wait = cfg.backoff.delay(gave_up.retries + 1);
        tracing::warn!(
            component = %cfg.name,
            queue = %cfg.queue,
            "the handler failed on a message ({}); it is requeued with the messages after it and consumed again in {wait:?}",
            gave_up.reason
        );
        Some(End::HandBack(wait))
    }

    /// Otherwise (Dapr keeps no order either: it requeues a failed message at once): hand
    /// `run` to the handler, acking each message handled. A message the handler fails on waits
    /// out its back-off on its own (unacked, holding its prefetch slot) while the ones after it
    /// go on; `retry` delivers it again when it is due.
    async fn handle_run(
        &self,
        ctx: &InputContext,
        mut run: Vec<Delivery>,
        waiting: &mut Vec<Waiting>,
    ) -> Option<End> {
        while !run.is_empty() {
            let verdict = delivery::settle_run(ctx, self, &run).await;
            let acked = verdict.acked.min(run.len());
            let reason = match verdict.refused {
                None => {
                    if acked < run.len() && ctx.shutdown.is_cancelled() {
                        // Stopped short: closing the channel requeues the rest.
                        return Some(End::Shutdown);
                    }
                    run.drain(..acked);
                    continue;
                }
                Some(Refusal::Reject(reason)) => {
                    if let Some(rejected) = run.get(acked) {
                        delivery::RunSource::reject(self, rejected, &reason).await;
                    }
                    run.drain(..(acked + 1).min(run.len()));
                    continue;
                }
                Some(Refusal::Nack(reason)) => reason,
            };
            if ctx.shutdown.is_cancelled() {
                return Some(End::Shutdown);
            }
            if acked >= run.len() {
                break;
            }
            let rest = run.split_off(acked + 1);
            if let Some(failed) = run.pop() {
                self.wait_out(failed, 0, tokio::time::Instant::now(), reason, waiting);
            }
            run = rest;
        }
        None
    }

    /// Put a message the handler failed on (`retries` retries in) aside until its back-off
    /// delay is over.
    fn wait_out(
        &self,
        delivery: Delivery,
        retries: u64,
        started: tokio::time::Instant,
        reason: String,
        waiting: &mut Vec<Waiting>,
    ) {
        let wait = self.cfg.backoff.delay(retries + 1);
        tracing::info!(
            component = %self.cfg.name,
            queue = %self.cfg.queue,
            "the handler failed on a message ({reason}); trying it again in {wait:?}, the messages after it go on meanwhile"
        );
        waiting.push(Waiting {
            due: tokio::time::Instant::now() + wait,
            delivery,
            retries,
            started,
        });
    }

    /// A failed message whose back-off is over: deliver it again while retries are left, else
    /// requeue it (basic.nack) for the broker to deliver again.
    async fn retry(
        &self,
        ctx: &InputContext,
        w: Waiting,
        waiting: &mut Vec<Waiting>,
    ) -> Option<End> {
        let cfg = &self.cfg;
        if !cfg.backoff.allows(w.retries, w.started.elapsed()) {
            tracing::warn!(component = %cfg.name, queue = %cfg.queue, "the handler failed on a message past its retries; it is requeued");
            let _ = w
                .delivery
                .acker
                .nack(BasicNackOptions {
                    multiple: false,
                    requeue: true,
                })
                .await;
            return None;
        }
        let verdict = delivery::settle_run(ctx, self, std::slice::from_ref(&w.delivery)).await;
        match verdict.refused {
            _ if verdict.acked > 0 => None,
            Some(Refusal::Reject(reason)) => {
                delivery::RunSource::reject(self, &w.delivery, &reason).await;
                None
            }
            _ if ctx.shutdown.is_cancelled() => Some(End::Shutdown),
            Some(Refusal::Nack(reason)) => {
                self.wait_out(w.delivery, w.retries + 1, w.started, reason, waiting);
                None
            }
            None => {
                self.wait_out(
                    w.delivery,
                    w.retries,
                    w.started,
                    "not handled".into(),
                    waiting,
                );
                None
            }
        }
    }

    async fn close_side(&self) {
        if self.open_sides.fetch_sub(1, Ordering::SeqCst) > 1 {
            return;
        }
        if let Some(ch) = self.out.lock().await.take() {
            let _ = ch.close(200, "bindery closing").await;
        }
        if let Some(c) = self.conn.lock().await.take() {
            let _ = c.close(200, "bindery closing").await;
        }
    }
}

/// A request metadata value as Dapr's `TryGetProperty` finds it: under `key`, else under `key`
/// in another case; empty values are not given.
fn property<'m>(md: &'m MetadataMap, key: &str) -> Option<&'m str> {
    md.get(key)
        .filter(|v| !v.is_empty())
        .or_else(|| {
            md.iter()
                .find(|(k, v)| !v.is_empty() && k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v)
        })
        .map(String::as_str)
}

/// An AMQP short string property (at most 255 bytes) from request metadata `key`.
fn short(value: &str, key: &str) -> Result<ShortString> {
    if value.len() > 255 {
        return Err(Error::invalid_argument(format!(
            "request metadata: {key} is {} bytes long; an AMQP property holds at most 255",
            value.len()
        )));
    }
    Ok(ShortString::from(value.to_string()))
}

/// Dapr's event metadata: the string headers, keys query-escaped (as URL query parameters, for
/// Dapr's HTTP metadata), values as they are (as Dapr does since 1.16).
fn event_metadata(headers: &Option<FieldTable>) -> MetadataMap {
    let mut md = MetadataMap::new();
    if let Some(h) = headers {
        for (k, v) in h.inner() {
            let text = match v {
                AMQPValue::LongString(s) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
                AMQPValue::ShortString(s) => s.as_str().to_string(),
                _ => continue,
            };
            md.insert(gotext::query_escape(k.as_str()), text);
        }
    }
    md
}

impl delivery::RunSource for Rabbit {
    type Msg = Delivery;

    fn event(&self, d: &Delivery) -> (Vec<u8>, MetadataMap) {
        (d.data.clone(), event_metadata(d.properties.headers()))
    }

    async fn settle(&self, d: &Delivery) {
        if let Err(e) = d.acker.ack(BasicAckOptions::default()).await {
            tracing::warn!(component = %self.cfg.name, "cannot ack a message, so it will be delivered again: {e}");
        }
    }

    async fn reject(&self, d: &Delivery, reason: &str) {
        match d.acker.reject(BasicRejectOptions { requeue: false }).await {
            Ok(()) => tracing::warn!(
                component = %self.cfg.name,
                queue = %self.cfg.queue,
                "the handler rejected a message ({reason}); it is rejected without requeue: the queue's dead-letter exchange gets it if it has one, else it is dropped"
            ),
            Err(e) => tracing::warn!(
                component = %self.cfg.name,
                "the handler rejected a message ({reason}), but rejecting it at the broker failed, so it will be delivered again: {e}"
            ),
        }
    }
}

#[async_trait]
impl OutputBinding for Rabbit {
    async fn init(&self) -> Result<()> {
        self.out_channel().await.map(drop)
    }

    async fn invoke(&self, req: InvokeRequest) -> Result<InvokeResponse> {
        let props = self.properties(&req)?;
        // A publish on a connection that broke is tried once more on a new one.
        match self.publish(&req.data, props.clone()).await {
            Ok(()) => Ok(InvokeResponse::default()),
            Err(first) => {
                tracing::debug!(component = %self.cfg.name, "publish failed, trying once more: {first}");
                *self.out.lock().await = None;
                self.publish(&req.data, props)
                    .await
                    .map(|()| InvokeResponse::default())
            }
        }
    }

    async fn close(&self) -> Result<()> {
        self.close_side().await;
        Ok(())
    }
}

#[async_trait]
impl InputBinding for Rabbit {
    async fn init(&self) -> Result<()> {
        let opened = self.open_consumer().await?;
        *self.ready.lock().unwrap() = Some(opened);
        Ok(())
    }

    async fn read(&self, ctx: InputContext) -> Result<()> {
        let cfg = &self.cfg;
        let mut ready = self.ready.lock().unwrap().take();
        loop {
            let (ch, mut consumer) = match ready.take() {
                Some(x) => x,
                None => match self.open_consumer().await {
                    Ok(x) => {
                        tracing::info!(component = %cfg.name, "consuming queue {:?} again", cfg.queue);
                        x
                    }
                    Err(e) => {
                        tracing::warn!(component = %cfg.name, "{e}; trying again in {:?}", cfg.reconnect_wait);
                        if !delivery::pause(cfg.reconnect_wait, &ctx.shutdown).await {
                            return Ok(());
                        }
                        continue;
                    }
                },
            };
            let end = self.consume(&ctx, &mut consumer).await;
            // Closing the channel requeues whatever it holds unacknowledged, in order.
            let _ = ch.close(200, "bindery").await;
            let wait = match end {
                End::Shutdown => return Ok(()),
                End::HandBack(wait) => wait,
                End::Lost(e) => {
                    tracing::warn!(
                        component = %cfg.name,
                        "lost the connection to RabbitMQ at {} ({e}); reconnecting in {:?}",
                        safe_url(&cfg.uri),
                        cfg.reconnect_wait
                    );
                    cfg.reconnect_wait
                }
            };
            if !delivery::pause(wait, &ctx.shutdown).await {
                return Ok(());
            }
        }
    }

    async fn close(&self) -> Result<()> {
        let ready = self.ready.lock().unwrap().take();
        if let Some((ch, _)) = ready {
            let _ = ch.close(200, "bindery closing").await;
        }
        self.close_side().await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        let uri = parse_host("amqp://guest:secret@127.0.0.1:5672").unwrap();
        assert_eq!(safe_url(&uri), "amqp://127.0.0.1:5672");
        let uri = parse_host("amqps://rabbit.example/prod").unwrap();
        assert_eq!(safe_url(&uri), "amqps://rabbit.example:5671/prod");
        assert!(parse_host("localhost:5672").is_err());
        assert!(parse_host("http://localhost").is_err());
    }

    #[test]
    fn ttl_as_dapr_reads_it() {
        assert_eq!(parse_ttl("60").unwrap(), Duration::from_secs(60));
        assert_eq!(parse_ttl("1m30s").unwrap(), Duration::from_secs(90));
        assert!(parse_ttl("0").is_ok(), "Go's ParseDuration takes 0");
        assert!(parse_ttl("-5").is_err());
        assert!(parse_ttl("soon").is_err());
    }

    #[test]
    fn header_metadata_keys_are_escaped_values_unchanged_strings_only() {
        let mut t = FieldTable::default();
        t.insert("a key".into(), AMQPValue::LongString("x&y / z".into()));
        t.insert("n".into(), AMQPValue::LongInt(3));
        let md = event_metadata(&Some(t));
        assert_eq!(md.len(), 1);
        assert_eq!(md["a+key"], "x&y / z");
    }
}
