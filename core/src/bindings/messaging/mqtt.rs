//! `bindings.mqtt3` (also `bindings.mqtt`): publishes to and subscribes to an MQTT 3.1.1 topic.
//!
//! Metadata as Dapr's (`bindings/mqtt3/metadata.go`): `url` (`tcp://` or `mqtt://` plain;
//! `ssl://`, `tls://`, `mqtts://`, `tcps://` TLS; `user:password@` in the URL), `topic`,
//! `consumerID` (the client ID; the consumer connects as `<consumerID>-consumer` and the
//! producer as `<consumerID>-producer`, as in Dapr, always with a clean session since it
//! subscribes to nothing; `{uuid}` is replaced by the loader),
//! `retain` (false), `cleanSession` (false), `caCert`, `clientCert`, `clientKey` (PEM text or
//! a PEM file), `backOffMaxRetries` (0) and the other `backOff*` fields of
//! [`broker`](super::broker); `qos` is deprecated in Dapr and ignored (QoS is always 1).
//!
//! Output `create` publishes the data to `topic` with QoS 1 and waits for the broker's PUBACK;
//! request metadata `topic` and `retain` override the component's. A `$share/<group>/`
//! prefix of the component's topic is dropped for publishing.
//!
//! Input subscribes to `topic` with QoS 1 (`$share/<group>/<topic>` shared subscriptions split
//! messages between consumers). Events carry the metadata `topic` (the message's topic), as
//! Dapr's do. Acks are manual: the PUBACK of a message is sent only after the handler succeeded
//! on it. A failed handler gets the same message again after the backoff delay, up to
//! `backOffMaxRetries` times, before any later message; then, with `cleanSession` false, the
//! session is dropped and resumed after one more delay, and the broker resends every message
//! not acknowledged, in order (MQTT 3.1.1 resends unacknowledged messages only on a new
//! connection). With `cleanSession` true the broker cannot resend it: the message is logged as
//! lost and acknowledged. A message the handler rejects (`Reject`) is acknowledged at once and
//! logged (MQTT has no dead-letter), so the broker does not send it again. After a lost
//! connection the binding reconnects (500ms doubling to 30s) and subscribes again.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rumqttc::{
    AsyncClient, ConnectionError, Event, EventLoop, MqttOptions, Outgoing, Packet, Publish, QoS,
    SubscribeReasonCode, TlsConfiguration, Transport,
};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::binding::{declare, Settings};
use crate::binding::{
    BindingParts, InputBinding, InputContext, InvokeRequest, InvokeResponse, MetadataMap,
    OutputBinding,
};
use crate::bindings::common::backoff::{self, Backoff};
use crate::bindings::common::delivery;
use crate::bindings::common::tls::{self, TlsFiles};
use crate::component::values::parse_go_bool;
use crate::error::{Error, Result};

/// How long connecting, subscribing and a publish's PUBACK may take (Dapr's `defaultWait`).
const WAIT: Duration = Duration::from_secs(10);
/// Reconnect delays after a lost connection.
const RECONNECT_FIRST: Duration = Duration::from_millis(500);
const RECONNECT_MAX: Duration = Duration::from_secs(30);
/// At most this many messages already received go to the handler as one run.
const RUN_MAX: usize = 256;
/// The largest MQTT packet (256 MB).
const MAX_PACKET: usize = 268_435_455;

declare!("mqtt.metadata.yaml", build, backoff::fields());

/// Where the broker is.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Endpoint {
    tls: bool,
    host: String,
    port: u16,
    username: Option<String>,
    password: Option<String>,
}

impl Endpoint {
    /// The URL without its password, for messages.
    fn display(&self) -> String {
        let scheme = if self.tls { "ssl" } else { "tcp" };
        format!("{scheme}://{}:{}", self.host, self.port)
    }
}

/// Percent-decoded, or as written when it is not valid percent-encoding.
fn decoded(s: &str) -> String {
    crate::component::values::unescape(s, false).unwrap_or_else(|| s.to_string())
}

const URL_FIX: &str =
    "write the url as tcp://[user[:password]@]host:port (ssl://host:8883 for TLS)";

fn parse_url(url: &str) -> std::result::Result<Endpoint, String> {
    let url = url.trim();
    let shown = crate::redact::url(url); // for messages: the password as ***
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(format!("url {shown:?} has no scheme"));
    };
    let tls = match scheme.to_ascii_lowercase().as_str() {
        "tcp" | "mqtt" => false,
        "ssl" | "tls" | "mqtts" | "tcps" => true,
        "ws" | "wss" => {
            return Err(format!(
                "url scheme {scheme:?} (MQTT over WebSocket) is not supported by bindery"
            ))
        }
        other => return Err(format!("url scheme {other:?} is not an MQTT scheme")),
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    let (username, password) = match userinfo {
        Some(u) => match u.split_once(':') {
            Some((n, p)) => (Some(decoded(n)), Some(decoded(p))),
            None => (Some(decoded(u)), None),
        },
        None => (None, None),
    };
    let default_port = if tls { 8883 } else { 1883 };
    let (host, port) = if let Some(h) = hostport.strip_prefix('[') {
        // [v6]:port
        let (h, after) = h
            .split_once(']')
            .ok_or_else(|| format!("url {shown:?} has an unclosed [ in its host"))?;
        let port = match after.strip_prefix(':') {
            Some(p) => p
                .parse()
                .map_err(|_| format!("url {shown:?} has an invalid port {p:?}"))?,
            None => default_port,
        };
        (h.to_string(), port)
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (
                h.to_string(),
                p.parse()
                    .map_err(|_| format!("url {shown:?} has an invalid port {p:?}"))?,
            ),
            None => (hostport.to_string(), default_port),
        }
    };
    if host.is_empty() {
        return Err(format!("url {shown:?} has no host"));
    }
    Ok(Endpoint {
        tls,
        host,
        port,
        username: username.filter(|u| !u.is_empty()),
        password: password.filter(|p| !p.is_empty()),
    })
}

/// The topic to publish to for a subscription topic: `$share/<group>/t` publishes to `t`.
fn publish_topic(topic: &str) -> &str {
    match topic.strip_prefix("$share/") {
        Some(rest) => rest.split_once('/').map(|(_, t)| t).unwrap_or(rest),
        None => topic,
    }
}

struct Config {
    name: String,
    endpoint: Endpoint,
    tls: Option<Arc<tls::rustls::ClientConfig>>,
    topic: String,
    client_id: String,
    retain: bool,
    clean_session: bool,
    backoff: Backoff,
}

impl Config {
    /// Options for the consumer (manual acks, `cleanSession` as configured) or the producer
    /// (a clean session: it subscribes to nothing, so the broker need not keep one for it).
    fn options(&self, client_id: String, consumer: bool) -> MqttOptions {
        let mut o = MqttOptions::new(client_id, self.endpoint.host.clone(), self.endpoint.port);
        o.set_keep_alive(Duration::from_secs(30))
            .set_clean_session(!consumer || self.clean_session)
            .set_manual_acks(consumer)
            .set_max_packet_size(MAX_PACKET, MAX_PACKET);
        if let Some(u) = &self.endpoint.username {
            o.set_credentials(
                u.clone(),
                self.endpoint.password.clone().unwrap_or_default(),
            );
        }
        if let Some(tls) = &self.tls {
            o.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(
                tls.clone(),
            )));
        }
        o
    }

    fn connect_error(&self, what: &str, e: impl std::fmt::Display) -> Error {
        Error::upstream(format!(
            "cannot {what} the MQTT broker at {}: {e}",
            self.endpoint.display()
        ))
        .with_component(&self.name)
    }
}

fn build(s: &mut Settings) -> Result<BindingParts> {
    let endpoint = s.parse("url", URL_FIX, parse_url);
    if s.text("consumerID").is_some_and(|id| id.starts_with(' ')) {
        s.problem(
            "consumerID",
            "consumerID starts with a space, which MQTT client IDs cannot",
            "remove the leading space",
        );
    }
    if let Some(t) = s.text("topic") {
        if let Some(rest) = t.strip_prefix("$share/") {
            if !rest.contains('/') || rest.starts_with('/') {
                s.problem(
                    "topic",
                    format!("shared subscription {t:?} needs a group and a topic"),
                    "write $share/<group>/<topic>, e.g. $share/workers/orders",
                );
            }
        }
    }
    // Dapr deprecated `qos` and always uses QoS 1: say so, louder when another is asked for.
    if let Some(qos) = s.metadata().get_nonempty("qos") {
        let message = match qos.trim() {
            "1" => "metadata field \"qos\" is deprecated (as in Dapr) and ignored; MQTT bindings use QoS 1".to_string(),
            other => format!("metadata field \"qos\" asks for QoS {other}, but MQTT bindings publish and subscribe with QoS 1, as Dapr's do (the field is deprecated and ignored)"),
        };
        s.warn("qos", message, "remove it");
    }
    let backoff = Backoff::read(s);
    let files = TlsFiles::read(s, "caCert", "clientCert", "clientKey");
    let (Some(endpoint), true) = (endpoint, s.ok()) else {
        return Ok(BindingParts::default());
    };
    let tls = if endpoint.tls || files.is_set() {
        Some(files.client_config().map_err(Error::invalid_argument)?)
    } else {
        None
    };
    let config = Arc::new(Config {
        name: s.name().to_string(),
        endpoint,
        tls,
        topic: s.text_or_empty("topic").trim().to_string(),
        client_id: s.text_or_empty("consumerID").to_string(),
        retain: s.flag("retain", false),
        clean_session: s.flag("cleanSession", false),
        backoff,
    });
    let direction = s.direction();
    Ok(BindingParts {
        input: direction.input.then(|| {
            Arc::new(Input {
                cfg: config.clone(),
                ready: Mutex::new(None),
            }) as Arc<dyn InputBinding>
        }),
        output: direction.output.then(|| {
            Arc::new(Output {
                cfg: config.clone(),
                producer: tokio::sync::Mutex::new(None),
            }) as Arc<dyn OutputBinding>
        }),
    })
}

// ---------------------------------------------------------------------------------------
// Output

enum ProducerEvent {
    Sent(u16),
    Acked(u16),
    Down(String),
}

struct Producer {
    client: AsyncClient,
    events: mpsc::UnboundedReceiver<ProducerEvent>,
    driver: JoinHandle<()>,
}

impl Drop for Producer {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

struct Output {
    cfg: Arc<Config>,
    producer: tokio::sync::Mutex<Option<Producer>>,
}

impl Output {
    async fn connect(&self) -> Result<Producer> {
        let cfg = &self.cfg;
        let (client, mut el) = AsyncClient::new(
            cfg.options(format!("{}-producer", cfg.client_id), false),
            64,
        );
        tokio::time::timeout(WAIT, async {
            loop {
                match el.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => return Ok(()),
                    Ok(_) => {}
                    Err(e) => return Err(cfg.connect_error("connect to", e)),
                }
            }
        })
        .await
        .map_err(|_| cfg.connect_error("connect to", format!("no answer within {WAIT:?}")))??;
        let (tx, events) = mpsc::unbounded_channel();
        let driver = tokio::spawn(async move {
            loop {
                let ev = match el.poll().await {
                    Ok(Event::Outgoing(Outgoing::Publish(pkid))) => ProducerEvent::Sent(pkid),
                    Ok(Event::Incoming(Packet::PubAck(a))) => ProducerEvent::Acked(a.pkid),
                    Ok(_) => continue,
                    Err(e) => {
                        let _ = tx.send(ProducerEvent::Down(e.to_string()));
                        return;
                    }
                };
                if tx.send(ev).is_err() {
                    return;
                }
            }
        });
        Ok(Producer {
            client,
            events,
            driver,
        })
    }

    async fn publish_once(
        &self,
        p: &mut Producer,
        topic: &str,
        retain: bool,
        data: &[u8],
    ) -> std::result::Result<(), String> {
        while p.events.try_recv().is_ok() {}
        p.client
            .publish(topic, QoS::AtLeastOnce, retain, data.to_vec())
            .await
            .map_err(|e| e.to_string())?;
        tokio::time::timeout(WAIT, async {
            let mut sent = None;
            loop {
                match p.events.recv().await {
                    Some(ProducerEvent::Sent(id)) if sent.is_none() => sent = Some(id),
                    Some(ProducerEvent::Acked(id)) if sent == Some(id) => return Ok(()),
                    Some(ProducerEvent::Down(e)) => return Err(format!("connection lost: {e}")),
                    None => return Err("connection lost".to_string()),
                    Some(_) => {}
                }
            }
        })
        .await
        .map_err(|_| format!("the broker did not acknowledge the message within {WAIT:?}"))?
    }
}

fn has_wildcard(topic: &str) -> bool {
    topic.contains(['+', '#'])
}

#[async_trait]
impl OutputBinding for Output {
    async fn init(&self) -> Result<()> {
        let mut guard = self.producer.lock().await;
        if guard.is_none() {
            *guard = Some(self.connect().await?);
        }
        Ok(())
    }

    async fn invoke(&self, req: InvokeRequest) -> Result<InvokeResponse> {
        let topic = match req.metadata.get("topic").filter(|t| !t.is_empty()) {
            Some(t) => t.as_str(),
            None => publish_topic(&self.cfg.topic),
        };
        if topic.is_empty() || has_wildcard(topic) || topic.starts_with("$share/") {
            return Err(Error::invalid_argument(format!(
                "cannot publish to topic {topic:?}: a topic to publish to has no wildcards (+ #) and no $share/ prefix; give request metadata \"topic\" with a plain topic"
            )));
        }
        let retain = match req.metadata.get("retain").filter(|r| !r.is_empty()) {
            Some(r) => parse_go_bool(r).map_err(|e| {
                Error::invalid_argument(format!("request metadata \"retain\": {e}"))
            })?,
            None => self.cfg.retain,
        };
        // Like Dapr, a publish that fails is tried again (3 attempts, 200ms apart), each on a
        // fresh connection, so that a message is never left half-sent on a broken one.
        let mut guard = self.producer.lock().await;
        let mut last = String::new();
        for attempt in 0..3 {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            if guard.as_ref().is_none_or(|p| p.driver.is_finished()) {
                *guard = None;
                match self.connect().await {
                    Ok(p) => *guard = Some(p),
                    Err(e) => {
                        last = e.message().to_string();
                        continue;
                    }
                }
            }
            let p = guard.as_mut().expect("connected above");
            match self.publish_once(p, topic, retain, &req.data).await {
                Ok(()) => return Ok(InvokeResponse::default()),
                Err(e) => {
                    tracing::debug!(component = %self.cfg.name, "publish failed, trying again: {e}");
                    last = e;
                    *guard = None;
                }
            }
        }
        Err(Error::upstream(format!(
            "cannot publish to topic {topic:?} at {}: {last}",
            self.cfg.endpoint.display()
        )))
    }

    async fn close(&self) -> Result<()> {
        if let Some(p) = self.producer.lock().await.take() {
            let _ = p.client.try_disconnect();
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// Input

/// A message and the connection it came on.
struct Incoming {
    generation: u64,
    publish: Publish,
}

/// One consumer session: a client whose event loop runs in `driver`.
struct Session {
    client: AsyncClient,
    rx: mpsc::Receiver<Incoming>,
    generation: Arc<AtomicU64>,
    stop: CancellationToken,
    driver: JoinHandle<()>,
}

impl Session {
    /// Disconnect politely, then stop the event loop.
    async fn close(mut self) {
        let _ = self.client.try_disconnect();
        if tokio::time::timeout(Duration::from_millis(500), &mut self.driver)
            .await
            .is_err()
        {
            self.stop.cancel();
            self.driver.abort();
        }
    }
}

struct Input {
    cfg: Arc<Config>,
    /// The session `init` opened, taken by `read`.
    ready: Mutex<Option<Session>>,
}

enum End {
    Shutdown,
    /// Drop the session and resume it after the delay, so the broker resends.
    HandBack(Duration),
    Lost,
}

fn subscribe_failed(codes: &[SubscribeReasonCode]) -> bool {
    codes
        .iter()
        .any(|c| matches!(c, SubscribeReasonCode::Failure))
}

impl Input {
    async fn connect(&self) -> Result<Session> {
        let cfg = self.cfg.clone();
        let (client, mut el) =
            AsyncClient::new(cfg.options(format!("{}-consumer", cfg.client_id), true), 64);
        client
            .subscribe(cfg.topic.clone(), QoS::AtLeastOnce)
            .await
            .map_err(|e| {
                Error::invalid_argument(format!("cannot subscribe to {:?}: {e}", cfg.topic))
                    .with_component(&cfg.name)
            })?;
        let (tx, rx) = mpsc::channel(1024);
        // Messages a persistent session holds may arrive before the SUBACK: keep them.
        let early = tokio::time::timeout(WAIT, async {
            let mut early = Vec::new();
            loop {
                match el.poll().await {
                    Ok(Event::Incoming(Packet::SubAck(s))) => {
                        if subscribe_failed(&s.return_codes) {
                            return Err(Error::upstream(format!(
                                "the MQTT broker at {} refused the subscription to {:?}",
                                cfg.endpoint.display(),
                                cfg.topic
                            ))
                            .with_component(&cfg.name));
                        }
                        return Ok(early);
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => early.push(p),
                    Ok(_) => {}
                    Err(e) => return Err(cfg.connect_error("connect to", e)),
                }
            }
        })
        .await
        .map_err(|_| cfg.connect_error("subscribe at", format!("no answer within {WAIT:?}")))??;
        for publish in early {
            let _ = tx.try_send(Incoming {
                generation: 0,
                publish,
            });
        }
        let generation = Arc::new(AtomicU64::new(0));
        let stop = CancellationToken::new();
        let driver = tokio::spawn(drive(
            el,
            client.clone(),
            tx,
            generation.clone(),
            cfg,
            stop.clone(),
        ));
        Ok(Session {
            client,
            rx,
            generation,
            stop,
            driver,
        })
    }

    /// Connect, retrying with backoff until it works or the runtime shuts down.
    async fn connect_until(&self, shutdown: &CancellationToken) -> Option<Session> {
        let mut wait = RECONNECT_FIRST;
        loop {
            match self.connect().await {
                Ok(s) => return Some(s),
                Err(e) => {
                    tracing::warn!(component = %self.cfg.name, "{e}; trying again in {wait:?}");
                    if !delivery::pause(wait, shutdown).await {
                        return None;
                    }
                    wait = (wait * 2).min(RECONNECT_MAX);
                }
            }
        }
    }

    async fn consume(&self, ctx: &InputContext, s: &mut Session) -> End {
        loop {
            let msg = tokio::select! {
                biased;
                _ = ctx.shutdown.cancelled() => return End::Shutdown,
                m = s.rx.recv() => m,
            };
            let Some(first) = msg else {
                return End::Lost;
            };
            // With it, the messages already received, so that one run crosses to the handler
            // (it may be Python or JavaScript) instead of one trip per message.
            let mut run = vec![first];
            let mut lost = false;
            while run.len() < RUN_MAX {
                match s.rx.try_recv() {
                    Ok(m) => run.push(m),
                    Err(mpsc::error::TryRecvError::Empty) => break,
                    Err(mpsc::error::TryRecvError::Disconnected) => {
                        lost = true;
                        break;
                    }
                }
            }
            if !self.cfg.clean_session {
                // Those that came on a connection since lost: the broker resends them on this one.
                let current = s.generation.load(Ordering::SeqCst);
                run.retain(|m| m.generation == current);
            }
            if let Some(end) = self.handle_run(ctx, s, &run).await {
                return end;
            }
            if lost {
                return End::Lost;
            }
        }
    }

    /// Hand `run` to the handler in order, acknowledging each message handled. A message the
    /// handler fails on is retried alone; when its retries are spent the session is handed
    /// back so that the broker resends it and the unacknowledged ones after it (with
    /// `cleanSession` true it is acknowledged and lost, as it cannot come again).
    async fn handle_run(&self, ctx: &InputContext, s: &Session, run: &[Incoming]) -> Option<End> {
        let cfg = &self.cfg;
        let source = Acking { cfg, s };
        let mut from = 0;
        loop {
            let gave_up = delivery::deliver_run(ctx, &cfg.backoff, &source, &run[from..]).await?;
            if ctx.shutdown.is_cancelled() {
                return Some(End::Shutdown);
            }
            let m = &run[from + gave_up.index];
            let reason = gave_up.reason;
            if cfg.clean_session {
                tracing::error!(
                    component = %cfg.name,
                    topic = %m.publish.topic,
                    "the handler failed on a message ({reason}) and its retries are used up; with cleanSession true the broker cannot deliver it again, so it is lost (set cleanSession to false, or backOffMaxRetries to -1, to keep it)"
                );
                delivery::RunSource::settle(&source, m).await;
                from += gave_up.index + 1;
                continue;
            }
            let wait = cfg.backoff.delay(gave_up.retries + 1);
            tracing::warn!(
                component = %cfg.name,
                topic = %m.publish.topic,
                "the handler failed on a message ({reason}); reconnecting in {wait:?} so that the broker delivers it again"
            );
            return Some(End::HandBack(wait));
        }
    }
}

/// A session's messages as a run needs them.
struct Acking<'a> {
    cfg: &'a Config,
    s: &'a Session,
}

impl delivery::RunSource for Acking<'_> {
    type Msg = Incoming;

    fn event(&self, m: &Incoming) -> (Vec<u8>, MetadataMap) {
        (
            m.publish.payload.to_vec(),
            MetadataMap::from([("topic".to_string(), m.publish.topic.clone())]),
        )
    }

    /// Acknowledge a message, if it came on the current connection (one from a lost
    /// connection cannot be acknowledged on this one; the broker resends it).
    async fn settle(&self, m: &Incoming) {
        if m.generation != self.s.generation.load(Ordering::SeqCst) {
            return;
        }
        if let Err(e) = self.s.client.ack(&m.publish).await {
            tracing::warn!(component = %self.cfg.name, "cannot acknowledge a message: {e}");
        }
    }

    /// MQTT has no dead-letter: a rejected message is acknowledged (PUBACK) so that the broker
    /// does not send it again, and logged.
    async fn reject(&self, m: &Incoming, reason: &str) {
        tracing::warn!(
            component = %self.cfg.name,
            topic = %m.publish.topic,
            "the handler rejected a message ({reason}); MQTT has no dead-letter, so it is acknowledged and dropped"
        );
        self.settle(m).await;
    }
}

/// Poll a consumer's event loop: forward messages, reconnect and subscribe again after a
/// lost connection. Each lost connection starts a new generation.
async fn drive(
    mut el: EventLoop,
    client: AsyncClient,
    tx: mpsc::Sender<Incoming>,
    generation: Arc<AtomicU64>,
    cfg: Arc<Config>,
    stop: CancellationToken,
) {
    let mut wait = RECONNECT_FIRST;
    loop {
        let ev = tokio::select! {
            _ = stop.cancelled() => return,
            ev = el.poll() => ev,
        };
        match ev {
            Ok(Event::Incoming(Packet::Publish(publish))) => {
                let msg = Incoming {
                    generation: generation.load(Ordering::SeqCst),
                    publish,
                };
                if tx.send(msg).await.is_err() {
                    return;
                }
            }
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                wait = RECONNECT_FIRST;
                tracing::info!(component = %cfg.name, "reconnected to the MQTT broker at {}", cfg.endpoint.display());
                if let Err(e) = client.try_subscribe(cfg.topic.clone(), QoS::AtLeastOnce) {
                    tracing::warn!(component = %cfg.name, "cannot subscribe again: {e}");
                }
            }
            Ok(Event::Incoming(Packet::SubAck(s))) if subscribe_failed(&s.return_codes) => {
                tracing::error!(component = %cfg.name, "the MQTT broker refused the subscription to {:?}", cfg.topic);
            }
            Ok(Event::Outgoing(Outgoing::Disconnect)) => return,
            Ok(_) => {}
            Err(e) => {
                generation.fetch_add(1, Ordering::SeqCst);
                if matches!(e, ConnectionError::RequestsDone) {
                    return;
                }
                tracing::warn!(
                    component = %cfg.name,
                    "lost the connection to the MQTT broker at {} ({e}); reconnecting in {wait:?}",
                    cfg.endpoint.display()
                );
                if !delivery::pause(wait, &stop).await {
                    return;
                }
                wait = (wait * 2).min(RECONNECT_MAX);
            }
        }
    }
}

#[async_trait]
impl InputBinding for Input {
    async fn init(&self) -> Result<()> {
        let s = self.connect().await?;
        if let Some(old) = self.ready.lock().unwrap().replace(s) {
            old.driver.abort();
        }
        Ok(())
    }

    async fn read(&self, ctx: InputContext) -> Result<()> {
        let mut session = self.ready.lock().unwrap().take();
        loop {
            let mut s = match session.take() {
                Some(s) => s,
                None => match self.connect_until(&ctx.shutdown).await {
                    Some(s) => s,
                    None => return Ok(()),
                },
            };
            match self.consume(&ctx, &mut s).await {
                End::Shutdown => {
                    s.close().await;
                    return Ok(());
                }
                End::HandBack(wait) => {
                    s.close().await;
                    if !delivery::pause(wait, &ctx.shutdown).await {
                        return Ok(());
                    }
                }
                End::Lost => {
                    s.close().await;
                    if !delivery::pause(RECONNECT_FIRST, &ctx.shutdown).await {
                        return Ok(());
                    }
                }
            }
        }
    }

    async fn close(&self) -> Result<()> {
        let s = self.ready.lock().unwrap().take();
        if let Some(s) = s {
            s.close().await;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let e = parse_url("tcp://127.0.0.1:1883").unwrap();
        assert_eq!((e.tls, e.host.as_str(), e.port), (false, "127.0.0.1", 1883));
        let e = parse_url("ssl://user:p%40ss@broker.example").unwrap();
        assert_eq!((e.tls, e.port), (true, 8883));
        assert_eq!(e.username.as_deref(), Some("user"));
        assert_eq!(e.password.as_deref(), Some("p@ss"));
        assert_eq!(e.display(), "ssl://broker.example:8883");
        assert!(parse_url("mqtts://[::1]:9000").unwrap().tls);
        assert_eq!(parse_url("mqtt://h").unwrap().port, 1883);
        assert!(parse_url("http://h").is_err());
        assert!(parse_url("ws://h").is_err());
        assert!(parse_url("h:1883").is_err());
        assert!(parse_url("tcp://h:x").is_err());
    }

    #[test]
    fn shared_subscription_publishes_to_its_topic() {
        assert_eq!(publish_topic("$share/g/orders/new"), "orders/new");
        assert_eq!(publish_topic("orders"), "orders");
    }
}
