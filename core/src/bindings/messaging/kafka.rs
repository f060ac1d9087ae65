//! `bindings.kafka`: publishes to one Kafka topic and consumes topics in a consumer group,
//! through librdkafka (the `rdkafka` crate, built from source and linked statically).
//!
//! Metadata as Dapr's (`bindings/kafka/metadata.yaml` and `common/component/kafka/metadata.go`):
//! `brokers` (comma-separated `host:port`), `topics` (comma-separated; input), `publishTopic`
//! (output), `consumerGroup` (else `consumerID`, as Dapr), `clientID`, `authType` (`none`,
//! `password`, `mtls`, `certificate`, `oidc`, `oidc_private_key_jwt`; `awsiam` is refused; the
//! deprecated `authRequired` still works), `saslUsername`, `saslPassword`, `saslMechanism`
//! (`SHA-256`, `SHA-512`, else PLAIN), `disableTls`, `skipVerify`, `caCert`, `clientCert`,
//! `clientKey` (PEM text or a PEM file), the OIDC fields (see [`oidc`]), `initialOffset`
//! (`newest`, the default, or `oldest`), `maxMessageBytes`, `heartbeatInterval`,
//! `sessionTimeout`, `clientConnectionTopicMetadataRefreshInterval`,
//! `clientConnectionKeepAliveInterval` (non-zero turns TCP keep-alive on; librdkafka cannot set
//! its period), `consumerFetchMin`, `consumerFetchDefault`, `escapeHeaders`,
//! `excludeHeaderMetaRegex`, `compression` (librdkafka's `compression.codec`: `none`, the
//! default, `gzip`, `snappy`, `lz4`, `zstd`), `consumerGroupRebalanceStrategy` (`range`, the
//! default, `roundrobin`, or `sticky`, which is librdkafka's `cooperative-sticky`: Sarama's
//! eager sticky assignor has no librdkafka counterpart), `producerRequiredAcks` (`all`, the
//! default, `local`, `none`), `producerRetryMax`, `dialTimeout` (the connection setup timeout;
//! 10s unless given), `readTimeout` (librdkafka's request timeout), `consumeRetryEnabled`,
//! `consumeRetryInterval`, and the `backOff*` fields of [`broker`](super::broker). As in Dapr,
//! every authType but `none` uses TLS unless `disableTls` is true. The other fields of Dapr's
//! (`version`, `channelBufferSize`, `writeTimeout`, `metadataTimeout`, the schema registry and
//! the AWS fields) are declared `ignored` with the reason: giving one is a warning.
//!
//! Output `create` produces the data to `publishTopic` and waits for the replicas
//! `producerRequiredAcks` names (every in-sync one by default, as Dapr's sync producer).
//! Request metadata as Dapr's producer reads it: `partitionKey` (else `__key`) is the record key
//! (hashed with FNV-1a, as Sarama's default partitioner, so a key lands on the partition Dapr
//! would pick), `partitionNumber` the partition (a number the topic has no partition for is an
//! `InvalidArgument` error), and `valueSchemaType` other than `None` is refused (there is no
//! schema registry client); every entry, those included, is also sent as a record header, as
//! Dapr does, but those whose key `excludeHeaderMetaRegex` matches. Data that is empty or
//! `null` is produced as a tombstone (no value), as Dapr does.
//!
//! Input subscribes to `topics` in `consumerGroup`: runtimes in one group split the partitions.
//! Events carry `__key` (when the record has one), `__topic`, `__partition`, `__offset`,
//! `__timestamp` (Unix milliseconds) and every record header but those whose key
//! `excludeHeaderMetaRegex` matches, values query-escaped when `escapeHeaders` is true; a
//! record without a value is delivered as `null`. Delivery is at
//! least once: messages are handled one at a time in order, and a message's offset is stored
//! for the (auto)commit only after the handler acked it, so a commit never passes a message
//! that was not handled. A failed handler is retried in-process with the `backOff*` delays
//! before the next message; when `backOffMaxRetries` is used up the binding waits one more delay
//! and starts over with the same message, so a failing message is never skipped. Unlike Dapr's
//! binding (where it defaults to false), `consumeRetryEnabled` defaults to true here; set it to
//! `"false"` for Dapr's default: a failed message is logged and skipped. A message the handler
//! rejects (`Reject`) is never retried: it is logged as rejected and its offset stored, so the
//! commit moves past it (Kafka has no dead-letter of its own). Stored offsets are
//! committed every second (Sarama's interval), when a rebalance takes a partition away, and at
//! shutdown. `heartbeatInterval` and `sessionTimeout` default to Dapr's 3s and 10s;
//! `consumeRetryInterval` is the wait after a consumer error. A handler that keeps failing
//! for longer than librdkafka's `max.poll.interval.ms` (5 minutes) makes the consumer leave the
//! group; its partitions go to another member, which consumes from the last commit.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures::FutureExt;
use rdkafka::client::{ClientContext, OAuthToken};
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::{Consumer, ConsumerContext, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, Headers, Message, OwnedHeaders, OwnedMessage};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer as _};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::util::Timeout;
use rdkafka::{Offset, TopicPartitionList};

use crate::binding::{declare, Settings};
use crate::binding::{
    BindingParts, InputBinding, InputContext, InvokeRequest, InvokeResponse, MetadataMap,
    OutputBinding, Refusal, RunStep,
};
use crate::bindings::common::backoff::{self, Backoff};
use crate::bindings::common::delivery::{self, Outcome};
use crate::bindings::common::gotext;
use crate::bindings::common::tls::TlsFiles;
use crate::error::{Error, ErrorKind, Result};

/// How long the first contact with the brokers may take (within the default `initTimeout`, 5s).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(4);
/// How long a produced record may wait for the brokers' acknowledgement.
const PRODUCE_TIMEOUT: Duration = Duration::from_secs(30);
/// At most this many messages that librdkafka already holds go to the handler as one run.
const RUN_MAX: usize = 256;
/// Dapr's default `consumeRetryInterval`.
const DEFAULT_CONSUME_RETRY_INTERVAL: Duration = Duration::from_millis(100);

mod oidc;

declare!("kafka.metadata.yaml", build, backoff::fields());

fn list(v: Option<&str>) -> Vec<String> {
    v.unwrap_or_default()
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Sarama's `ParseKafkaVersion`: 0.8.2.0 ... 0.11.0.2 (four parts) or 1.0.0 and later.
fn valid_version(v: &str) -> bool {
    let parts: Vec<&str> = v.trim().split('.').collect();
    let numeric = parts
        .iter()
        .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    numeric && (3..=4).contains(&parts.len())
}

/// The authentication type, as Dapr derives it (`authType`, else the deprecated `authRequired`).
fn auth_type(s: &mut Settings) -> Option<&'static str> {
    if let Some(a) = s.word("authType") {
        return Some(a);
    }
    match s.bool("authRequired") {
        Some(true) if s.text("saslPassword").is_some() => return Some("password"),
        Some(true) => return Some("mtls"),
        Some(false) => return Some("none"),
        // Refused at load when it is not a boolean.
        None if s.metadata().get_nonempty("authRequired").is_some() => return Some("none"),
        None => {}
    }
    s.problem(
        "authType",
        "bindings.kafka needs the metadata field \"authType\" (none, password, mtls, certificate, oidc or oidc_private_key_jwt)",
        "add\n  - name: authType\n    value: \"none\"",
    );
    None
}

/// Check the fields the authentication type needs.
fn check_auth(s: &mut Settings, auth: &str) {
    match auth {
        "password" => {
            for f in ["saslUsername", "saslPassword"] {
                if s.text(f).is_none() {
                    s.problem(
                        f,
                        format!("authType \"password\" needs the metadata field {f:?}"),
                        format!("add\n  - name: {f}\n    value: ..."),
                    );
                }
            }
        }
        "mtls" => {
            if s.flag("disableTls", false) {
                s.problem(
                    "disableTls",
                    "authType \"mtls\" cannot work with disableTls true",
                    "remove disableTls, or use another authType",
                );
            }
            if s.text("clientCert").is_none() && s.text("clientKey").is_none() {
                s.problem(
                    "clientCert",
                    "authType \"mtls\" needs clientCert and clientKey",
                    "give both as PEM text or PEM files",
                );
            }
        }
        "certificate" if s.text("caCert").is_none() => s.problem(
            "caCert",
            "authType \"certificate\" needs the metadata field \"caCert\"",
            "give the CA certificate as PEM text or a PEM file",
        ),
        "oidc" | "oidc_private_key_jwt" => {
            let mut needs = vec!["oidcTokenEndpoint", "oidcClientID"];
            needs.extend(if auth == "oidc" {
                &["oidcClientSecret"][..]
            } else {
                &["oidcClientAssertionCert", "oidcClientAssertionKey"][..]
            });
            for f in needs {
                if s.text(f).is_none() {
                    s.problem(
                        f,
                        format!("authType {auth:?} needs the metadata field {f:?}"),
                        format!("add\n  - name: {f}\n    value: ..."),
                    );
                }
            }
        }
        "awsiam" => s.problem(
            "authType",
            "authType \"awsiam\" (MSK IAM) is not supported by bindery's Kafka binding yet",
            "use none, password, mtls, certificate, oidc or oidc_private_key_jwt",
        ),
        _ => {}
    }
}

/// The token source of `authType` `oidc` or `oidc_private_key_jwt`, read as Dapr reads its
/// fields (`None` for another authType, or when a field is missing or wrong: reported).
fn read_oidc(s: &mut Settings, auth: &str, files: &TlsFiles) -> Option<Arc<oidc::TokenSource>> {
    if !matches!(auth, "oidc" | "oidc_private_key_jwt") {
        return None;
    }
    let endpoint = s.parse(
        "oidcTokenEndpoint",
        "write the token endpoint's URL, e.g. \"https://identity.example.com/v1/token\"",
        |v| match reqwest::Url::parse(v.trim()) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => Ok(v.trim().to_string()),
            _ => Err(format!(
                "metadata field \"oidcTokenEndpoint\": {v:?} is not an http(s) URL"
            )),
        },
    );
    let client_id = s.text("oidcClientID").map(str::to_string);
    // Dapr splits oidcScopes at commas; with none, it asks for openid only (and warns).
    let mut scopes = list(s.text("oidcScopes"));
    if scopes.is_empty() {
        scopes.push("openid".into());
    }
    if s.text("oidcExtensions").is_some() {
        let fix = "write a JSON object of strings, e.g. {\"cluster\":\"kafka\"}";
        if s.parse("oidcExtensions", fix, oidc::extensions).is_some() {
            s.warn(
                "oidcExtensions",
                "oidcExtensions are checked as Dapr checks them but not sent to the brokers: the rdkafka crate's token callback has no place for SASL extensions (librdkafka takes them, but only through a call that would need unsafe code here)",
                "remove oidcExtensions if the brokers do not need them; a broker that requires them (Confluent Cloud's logicalCluster and identityPoolId) refuses the login",
            );
        }
    }
    let credentials = if auth == "oidc" {
        s.text("oidcClientSecret")
            .map(|v| oidc::Credentials::Secret(v.to_string()))
    } else {
        let fix = "give the RSA private key as PEM text (-----BEGIN PRIVATE KEY----- ...) or the path of a PEM file";
        let key = s.parse("oidcClientAssertionKey", fix, |v| {
            let pem = crate::bindings::common::tls::pem_or_file("oidcClientAssertionKey", v)?;
            oidc::rsa_key(&pem)
        });
        let text = |s: &Settings, f: &str| s.text(f).map(|v| v.trim().to_string());
        key.map(|key| oidc::Credentials::Assertion {
            key: Box::new(key),
            audience: text(s, "oidcAudience"),
            resource: text(s, "oidcResource"),
            kid: text(s, "oidcKid"),
        })
    };
    Some(Arc::new(oidc::TokenSource::new(
        endpoint?,
        client_id?,
        credentials?,
        scopes,
        files.ca_pem().map(<[u8]>::to_vec),
        s.flag("skipVerify", false),
    )))
}

struct Config {
    name: String,
    brokers: String,
    topics: Vec<String>,
    publish_topic: Option<String>,
    group: Option<String>,
    /// librdkafka settings shared by the producer and the consumer.
    common: Vec<(&'static str, String)>,
    max_message_bytes: Option<i64>,
    initial_offset: &'static str,
    heartbeat: Option<Duration>,
    session_timeout: Option<Duration>,
    fetch_min: Option<i64>,
    fetch_default: Option<i64>,
    escape_headers: bool,
    /// `excludeHeaderMetaRegex`: request metadata it matches is not sent as a header, and
    /// record headers it matches are not event metadata.
    exclude: Option<regex::Regex>,
    /// `compression.codec`.
    compression: &'static str,
    /// `partition.assignment.strategy`.
    assignment: &'static str,
    /// `acks`.
    acks: &'static str,
    /// `message.send.max.retries`, when given.
    send_retries: Option<i64>,
    /// The OAUTHBEARER token source of `authType` `oidc` and `oidc_private_key_jwt`.
    oidc: Option<Arc<oidc::TokenSource>>,
    retry_enabled: bool,
    retry_interval: Duration,
    backoff: Backoff,
}

/// librdkafka's `partition.assignment.strategy` for Dapr's `consumerGroupRebalanceStrategy`
/// (any case). Dapr takes another value with a warning and uses range: so does bindery.
fn assignment(s: &mut Settings) -> &'static str {
    let field = "consumerGroupRebalanceStrategy";
    match s.text(field).map(str::to_ascii_lowercase).as_deref() {
        None | Some("range") => "range",
        Some("roundrobin") => "roundrobin",
        // Sarama's sticky assignor is the eager one; librdkafka has the cooperative one.
        Some("sticky") => "cooperative-sticky",
        Some(other) => {
            s.warn(
                field,
                format!("{field} {other:?} is not range, sticky or roundrobin; range is used, as in Dapr"),
                "write range, sticky or roundrobin",
            );
            "range"
        }
    }
}

fn build(s: &mut Settings) -> Result<BindingParts> {
    let Some(config) = read_config(s) else {
        return Ok(BindingParts::default());
    };
    let d = s.direction();
    let kafka = Arc::new(Kafka {
        cfg: config,
        producer: tokio::sync::Mutex::new(None),
        consumer: Mutex::new(None),
    });
    Ok(BindingParts {
        input: d.input.then(|| kafka.clone() as Arc<dyn InputBinding>),
        output: d.output.then_some(kafka as Arc<dyn OutputBinding>),
    })
}

/// The binding's configuration, or `None` when a problem was reported.
fn read_config(s: &mut Settings) -> Option<Config> {
    let brokers = list(s.text("brokers"));
    if s.text("brokers").is_some() && brokers.is_empty() {
        s.problem(
            "brokers",
            "brokers lists no broker",
            "write host:port pairs separated by commas, e.g. \"localhost:9092\"",
        );
    }
    let auth = auth_type(s);
    if let Some(a) = auth {
        check_auth(s, a);
    }
    if s.text("version").is_some_and(|v| !valid_version(v)) {
        let v = s.text_or_empty("version");
        s.problem(
            "version",
            format!("metadata field \"version\": {v:?} is not a Kafka version"),
            "write a version such as \"2.0.0\"",
        );
    }
    let max_message_bytes = s.int("maxMessageBytes");
    if let Some(n) = max_message_bytes.filter(|n| !(0..=1_000_000_000).contains(n)) {
        s.problem(
            "maxMessageBytes",
            format!("metadata field \"maxMessageBytes\": {n} is not within 0-1000000000"),
            "write a byte count, e.g. \"1048576\"",
        );
    }
    let exclude = s.parse(
        "excludeHeaderMetaRegex",
        "write a regular expression (Go's RE2 syntax), e.g. \"^rawPayload|valueSchemaType$\"",
        |v| {
            regex::Regex::new(v).map_err(|e| {
                format!(
                    "metadata field \"excludeHeaderMetaRegex\" is not a regular expression: {e}"
                )
            })
        },
    );
    if let Some(n) = s
        .int("producerRetryMax")
        .filter(|n| !(0..=i32::MAX as i64).contains(n))
    {
        s.problem(
            "producerRetryMax",
            format!("metadata field \"producerRetryMax\": {n} is not a retry count (0 or more)"),
            "write a whole number of retries, e.g. \"5\"",
        );
    }
    let backoff = Backoff::read(s);
    let files = TlsFiles::read(s, "caCert", "clientCert", "clientKey");
    let token_source = auth.and_then(|a| read_oidc(s, a, &files));
    let group = s
        .text("consumerGroup")
        .or_else(|| s.text("consumerID"))
        .map(|g| g.trim().to_string());
    let topics = list(s.text("topics"));
    let publish_topic = s.text("publishTopic").map(|t| t.trim().to_string());
    let d = s.direction();
    if d.explicit && d.input && topics.is_empty() {
        s.component_problem(
            "bindings.kafka as an input needs the metadata field \"topics\" (comma-separated)",
            "add\n  - name: topics\n    value: \"orders\"",
        );
    }
    if d.explicit && d.input && group.is_none() {
        s.component_problem(
            "bindings.kafka as an input needs the metadata field \"consumerGroup\"",
            "add\n  - name: consumerGroup\n    value: \"group1\"",
        );
    }
    if d.explicit && d.output && publish_topic.is_none() {
        s.component_problem(
            "bindings.kafka as an output needs the metadata field \"publishTopic\"",
            "add\n  - name: publishTopic\n    value: \"orders\"",
        );
    }
    let (Some(auth), true) = (auth, s.ok()) else {
        return None;
    };

    let mut common: Vec<(&'static str, String)> = Vec::new();
    if let Some(id) = s.text("clientID") {
        common.push(("client.id", id.trim().to_string()));
    }
    let tls = auth != "none" && !s.flag("disableTls", false);
    let sasl = matches!(auth, "password" | "oidc" | "oidc_private_key_jwt");
    common.push((
        "security.protocol",
        match (sasl, tls) {
            (false, false) => "plaintext",
            (false, true) => "ssl",
            (true, false) => "sasl_plaintext",
            (true, true) => "sasl_ssl",
        }
        .to_string(),
    ));
    if token_source.is_some() {
        // The token comes from the refresh callback (Ctx::generate_oauth_token).
        common.push(("sasl.mechanism", "OAUTHBEARER".into()));
    } else if sasl {
        let mechanism = match s.text("saslMechanism").map(str::trim) {
            Some("SHA-256") => "SCRAM-SHA-256",
            Some("SHA-512") => "SCRAM-SHA-512",
            _ => "PLAIN",
        };
        common.push(("sasl.mechanism", mechanism.into()));
        common.push(("sasl.username", s.text_or_empty("saslUsername").into()));
        common.push(("sasl.password", s.text_or_empty("saslPassword").into()));
    }
    if tls {
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        if let Some(ca) = files.ca_pem() {
            common.push(("ssl.ca.pem", text(ca)));
        }
        if auth == "mtls" {
            if let Some((c, k)) = files.client_pem() {
                common.push(("ssl.certificate.pem", text(c)));
                common.push(("ssl.key.pem", text(k)));
            }
        }
        if s.flag("skipVerify", false) {
            common.push(("enable.ssl.certificate.verification", "false".into()));
            common.push(("ssl.endpoint.identification.algorithm", "none".into()));
        }
    }
    if let Some(d) = s
        .duration("clientConnectionTopicMetadataRefreshInterval")
        .filter(|d| !d.is_zero())
    {
        common.push((
            "topic.metadata.refresh.interval.ms",
            d.as_millis().min(3_600_000).to_string(),
        ));
    }
    // Dapr's net timeouts: dialTimeout bounds a connection's setup, readTimeout a request.
    let dial = s.duration("dialTimeout").filter(|d| !d.is_zero());
    common.push((
        "socket.connection.setup.timeout.ms",
        dial.map_or(10_000, |d| d.as_millis().clamp(1000, i32::MAX as u128))
            .to_string(),
    ));
    if let Some(d) = s.duration("readTimeout").filter(|d| !d.is_zero()) {
        common.push((
            "socket.timeout.ms",
            d.as_millis().clamp(10, 300_000).to_string(),
        ));
    }
    if s.duration("clientConnectionKeepAliveInterval")
        .is_some_and(|d| !d.is_zero())
    {
        // librdkafka cannot set the period: the system's TCP keep-alive timing applies.
        common.push(("socket.keepalive.enable", "true".into()));
    }
    let assignment = assignment(s);
    let config = Config {
        name: s.name().to_string(),
        brokers: brokers.join(","),
        topics,
        publish_topic,
        group,
        common,
        max_message_bytes: max_message_bytes.filter(|n| *n > 0),
        initial_offset: match s.word("initialOffset") {
            Some("oldest") => "earliest",
            _ => "latest",
        },
        heartbeat: s.duration("heartbeatInterval"),
        session_timeout: s.duration("sessionTimeout"),
        fetch_min: s.int("consumerFetchMin"),
        fetch_default: s.int("consumerFetchDefault"),
        escape_headers: s.flag("escapeHeaders", false),
        exclude,
        compression: s.word("compression").unwrap_or("none"),
        assignment,
        acks: match s.word("producerRequiredAcks") {
            Some("local") => "1",
            Some("none") => "0",
            _ => "all",
        },
        send_retries: s.int("producerRetryMax"),
        oidc: token_source,
        retry_enabled: s.flag("consumeRetryEnabled", true),
        retry_interval: s
            .duration("consumeRetryInterval")
            .unwrap_or(DEFAULT_CONSUME_RETRY_INTERVAL),
        backoff,
    };
    Some(config)
}

/// librdkafka's callbacks: its log and errors go to tracing. The last error is kept, so that a
/// connection that fails can say why (a TLS handshake, a SASL login, a refused connection)
/// instead of only that no broker answered in time.
#[derive(Clone, Default)]
struct Ctx {
    last_error: Arc<Mutex<Option<String>>>,
    /// Where OAUTHBEARER tokens come from (`authType` `oidc` and `oidc_private_key_jwt`).
    oidc: Option<Arc<oidc::TokenSource>>,
}

impl Ctx {
    fn last_error(&self) -> Option<String> {
        self.last_error
            .lock()
            .map(|e| e.clone())
            .unwrap_or_default()
    }
}

impl ClientContext for Ctx {
    // Only asked for when sasl.mechanism is OAUTHBEARER, which only the OIDC authTypes set.
    const ENABLE_REFRESH_OAUTH_TOKEN: bool = true;

    fn generate_oauth_token(
        &self,
        _config: Option<&str>,
    ) -> std::result::Result<OAuthToken, Box<dyn std::error::Error>> {
        let Some(source) = &self.oidc else {
            return Err("no OIDC token endpoint is configured".into());
        };
        match source.token_blocking() {
            Ok(t) => Ok(OAuthToken {
                lifetime_ms: t.lifetime_ms(),
                token: t.value,
                principal_name: source.client_id.clone(),
            }),
            Err(e) => {
                tracing::warn!(target: "bindery::kafka", "{e}");
                if let Ok(mut last) = self.last_error.lock() {
                    *last = Some(e.clone());
                }
                Err(e.into())
            }
        }
    }

    fn log(&self, level: RDKafkaLogLevel, fac: &str, msg: &str) {
        match level {
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error => {
                tracing::warn!(target: "bindery::kafka", "librdkafka {fac}: {msg}")
            }
            RDKafkaLogLevel::Warning | RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
                tracing::debug!(target: "bindery::kafka", "librdkafka {fac}: {msg}")
            }
            RDKafkaLogLevel::Debug => {
                tracing::trace!(target: "bindery::kafka", "librdkafka {fac}: {msg}")
            }
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        tracing::debug!(target: "bindery::kafka", "librdkafka error: {error}: {reason}");
        // "1/1 brokers are down" sums up the errors before it: keep the one that says why.
        if matches!(
            error,
            KafkaError::Global(rdkafka::types::RDKafkaErrorCode::AllBrokersDown)
        ) {
            return;
        }
        let text = if reason.is_empty() {
            error.to_string()
        } else {
            reason.to_string()
        };
        if let Ok(mut last) = self.last_error.lock() {
            *last = Some(text);
        }
    }
}

impl ConsumerContext for Ctx {}

/// What to check, for the TLS and SASL failures librdkafka reports.
fn hint(last: &str, oidc: bool) -> &'static str {
    // librdkafka names the broker first ("sasl_ssl://host:9093/bootstrap: ..."); its protocol
    // says nothing of what failed, so only the message after it is read.
    let message = last
        .split_once("://")
        .and_then(|(_, rest)| rest.split_once(": "))
        .map_or(last, |(_, m)| m);
    let l = message.to_ascii_lowercase();
    if l.contains("certificate verify failed") {
        " (the broker's certificate is not signed by a CA bindery trusts: give that CA in caCert, or set skipVerify to true for a test broker)"
    } else if l.contains("oauthbearer") || (oidc && l.contains("sasl")) {
        " (the brokers refused the OIDC token: check oidcClientID and oidcScopes against what the brokers accept, and whether they need SASL extensions, which bindery does not send)"
    } else if l.contains("sasl") || l.contains("authenticat") {
        " (check saslUsername, saslPassword and saslMechanism against the broker's users)"
    } else if l.contains("ssl") || l.contains("handshake") {
        " (check that the broker speaks TLS on that port, and that clientCert and clientKey are given when it asks for a client certificate: authType mtls)"
    } else {
        ""
    }
}

type KProducer = FutureProducer<Ctx>;
type KConsumer = StreamConsumer<Ctx>;

struct Kafka {
    cfg: Config,
    producer: tokio::sync::Mutex<Option<KProducer>>,
    consumer: Mutex<Option<Arc<KConsumer>>>,
}

impl Kafka {
    fn error(&self, what: &str, e: impl std::fmt::Display) -> Error {
        Error::upstream(format!(
            "cannot {what} Kafka at {}: {e}",
            crate::redact::url(&self.cfg.brokers)
        ))
        .with_component(&self.cfg.name)
    }

    /// The callbacks' context of a new client. With OIDC, a token is fetched first, so that an
    /// endpoint that refuses is a clear error at once rather than a login that times out.
    async fn context(&self) -> Result<Ctx> {
        if let Some(source) = &self.cfg.oidc {
            source.token().await.map_err(|e| {
                Error::upstream(format!(
                    "cannot log in to Kafka at {}: {e}",
                    crate::redact::url(&self.cfg.brokers)
                ))
                .with_component(&self.cfg.name)
            })?;
        }
        Ok(Ctx {
            oidc: self.cfg.oidc.clone(),
            ..Ctx::default()
        })
    }

    fn client_config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.cfg.brokers);
        for (k, v) in &self.cfg.common {
            c.set(*k, v);
        }
        c.set_log_level(RDKafkaLogLevel::Warning);
        c
    }

    /// Ask the brokers for metadata, so that an unreachable cluster is a clear error at init,
    /// with librdkafka's last error (the TLS or SASL failure, say) as the reason.
    async fn probe(
        &self,
        ctx: &Ctx,
        fetch: impl FnOnce() -> rdkafka::error::KafkaResult<()> + Send + 'static,
    ) -> Result<()> {
        match tokio::task::spawn_blocking(fetch).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => {
                let why = match ctx.last_error() {
                    Some(last) => format!(
                        "{e}; the last error: {last}{}",
                        hint(&last, self.cfg.oidc.is_some())
                    ),
                    None => e.to_string(),
                };
                Err(self.error(
                    "connect to",
                    format!("no broker answered within {CONNECT_TIMEOUT:?}: {why}"),
                ))
            }
            Err(e) => Err(Error::internal(format!("the metadata request failed: {e}"))),
        }
    }

    // -- output -------------------------------------------------------------------------

    async fn producer(&self) -> Result<KProducer> {
        let mut guard = self.producer.lock().await;
        if let Some(p) = guard.as_ref() {
            return Ok(p.clone());
        }
        let mut c = self.client_config();
        c.set("acks", self.cfg.acks)
            .set("compression.codec", self.cfg.compression)
            .set(
                "message.timeout.ms",
                PRODUCE_TIMEOUT.as_millis().to_string(),
            )
            .set("partitioner", "fnv1a_random");
        if let Some(n) = self.cfg.max_message_bytes {
            c.set("message.max.bytes", n.max(1000).to_string());
        }
        if let Some(n) = self.cfg.send_retries {
            c.set("message.send.max.retries", n.to_string());
        }
        let ctx = self.context().await?;
        let p: KProducer = c
            .create_with_context(ctx.clone())
            .map_err(|e| self.error("set up a producer for", e))?;
        let probe = p.clone();
        self.probe(&ctx, move || {
            probe
                .client()
                .fetch_metadata(None, Timeout::After(CONNECT_TIMEOUT))
                .map(drop)
        })
        .await?;
        *guard = Some(p.clone());
        Ok(p)
    }

    // -- input --------------------------------------------------------------------------

    async fn open_consumer(&self) -> Result<Arc<KConsumer>> {
        let cfg = &self.cfg;
        if cfg.topics.is_empty() {
            return Err(Error::new(
                ErrorKind::InvalidConfig,
                "bindings.kafka as an input needs the metadata field \"topics\" (comma-separated)",
            )
            .with_component(&cfg.name));
        }
        let Some(group) = &cfg.group else {
            return Err(Error::new(
                ErrorKind::InvalidConfig,
                "bindings.kafka as an input needs the metadata field \"consumerGroup\"",
            )
            .with_component(&cfg.name));
        };
        let mut c = self.client_config();
        c.set("group.id", group)
            .set("enable.auto.commit", "true")
            .set("auto.commit.interval.ms", "1000")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", cfg.initial_offset)
            .set("partition.assignment.strategy", cfg.assignment);
        // Dapr's defaults (Sarama's timing): heartbeats every 3s, a session of 10s.
        let heartbeat = cfg.heartbeat.unwrap_or(Duration::from_secs(3));
        let session = cfg.session_timeout.unwrap_or(Duration::from_secs(10));
        c.set("heartbeat.interval.ms", heartbeat.as_millis().to_string())
            .set("session.timeout.ms", session.as_millis().to_string());
        if let Some(n) = cfg.fetch_min.filter(|n| *n > 0) {
            c.set("fetch.min.bytes", n.to_string());
        }
        if let Some(n) = cfg.fetch_default.filter(|n| *n > 0) {
            c.set("max.partition.fetch.bytes", n.to_string());
        }
        let ctx = self.context().await?;
        let consumer: KConsumer = c
            .create_with_context(ctx.clone())
            .map_err(|e| self.error("set up a consumer for", e))?;
        let consumer = Arc::new(consumer);
        let probe = consumer.clone();
        let probed = self.probe(&ctx, move || {
            probe
                .fetch_metadata(None, Timeout::After(CONNECT_TIMEOUT))
                .map(drop)
        });
        if cfg.oidc.is_some() {
            // A consumer takes librdkafka's token refresh event only while it is polled:
            // poll it until the brokers answered (nothing is subscribed yet, so no message
            // can come).
            let polled = consumer.clone();
            let poll = async move {
                loop {
                    let _ = polled.recv().await;
                }
            };
            tokio::select! {
                r = probed => r?,
                () = poll => {}
            }
        } else {
            probed.await?;
        }
        let topics: Vec<&str> = cfg.topics.iter().map(String::as_str).collect();
        consumer
            .subscribe(&topics)
            .map_err(|e| self.error(&format!("subscribe to {topics:?} at"), e))?;
        Ok(consumer)
    }

    /// The event of a message: its data (`null` for a tombstone) and Dapr's metadata.
    fn event(&self, msg: &OwnedMessage) -> (Vec<u8>, MetadataMap) {
        let data = msg
            .payload()
            .map(<[u8]>::to_vec)
            .unwrap_or_else(|| b"null".to_vec());
        (
            data,
            event_metadata(msg, self.cfg.escape_headers, self.cfg.exclude.as_ref()),
        )
    }

    /// Settle a message the handler failed on (`reason`, from its first delivery): retry it
    /// until the handler acks it, or, without retries, log and skip it. True when its offset
    /// may be stored; false when shutting down.
    async fn handle_failed(&self, ctx: &InputContext, msg: &OwnedMessage, reason: String) -> bool {
        let cfg = &self.cfg;
        let at = format!("{}/{}/{}", msg.topic(), msg.partition(), msg.offset());
        if ctx.shutdown.is_cancelled() {
            return false;
        }
        if !cfg.retry_enabled {
            tracing::error!(component = %cfg.name, "the handler failed on Kafka message {at} ({reason}); consumeRetryEnabled is false, so it is skipped");
            return true;
        }
        let (data, metadata) = self.event(msg);
        let mut failed_first = Some(reason);
        loop {
            let outcome = delivery::deliver(
                &ctx.sink,
                &ctx.shutdown,
                &cfg.backoff,
                data.clone(),
                metadata.clone(),
                failed_first.take(),
            )
            .await;
            match outcome {
                Outcome::Acked => return true,
                Outcome::Rejected { reason } => {
                    self.rejected(msg, &reason);
                    return true;
                }
                Outcome::GaveUp { reason, retries } => {
                    if ctx.shutdown.is_cancelled() {
                        return false;
                    }
                    let wait = cfg.backoff.delay(retries + 1);
                    tracing::warn!(component = %cfg.name, "the handler failed on Kafka message {at} ({reason}); delivering it again in {wait:?}, before any later message of its partition");
                    if !delivery::pause(wait, &ctx.shutdown).await {
                        return false;
                    }
                }
            }
        }
    }

    /// Hand `msgs` (in the order consumed) to the handler as one run, storing the offset of
    /// each message handled as the handler reports it (also after the runtime began stopping,
    /// until the run is over); a message the handler fails on is retried (or skipped) before
    /// the ones after it are delivered again. False when shutting down.
    async fn handle_run(
        &self,
        ctx: &InputContext,
        consumer: &KConsumer,
        msgs: &[OwnedMessage],
    ) -> bool {
        let mut next = 0;
        while next < msgs.len() {
            let rest = &msgs[next..];
            let mut run = ctx
                .sink
                .start_run(rest.iter().map(|m| self.event(m)).collect())
                .await;
            let verdict = loop {
                match run.next().await {
                    RunStep::Acked(step) => self.store(consumer, &rest[step]),
                    RunStep::Done(v) => break v,
                }
            };
            next += verdict.acked.min(rest.len());
            match verdict.refused {
                Some(Refusal::Reject(reason)) => {
                    let Some(msg) = msgs.get(next) else { break };
                    self.rejected(msg, &reason);
                    self.store(consumer, std::slice::from_ref(msg));
                    next += 1;
                }
                Some(Refusal::Nack(reason)) => {
                    let Some(msg) = msgs.get(next) else { break };
                    if !self.handle_failed(ctx, msg, reason).await {
                        // Shutting down: the offset stays where it is, so the message is
                        // consumed again by whoever takes the partition next.
                        return false;
                    }
                    self.store(consumer, std::slice::from_ref(msg));
                    next += 1;
                }
                // Stopped short: the runtime is stopping.
                None if next < msgs.len() && ctx.shutdown.is_cancelled() => return false,
                None => {}
            }
        }
        true
    }

    /// Log a message the handler rejected: Kafka has no dead-letter here, so its offset is
    /// committed past it (the caller stores it) and it is not delivered again.
    fn rejected(&self, msg: &OwnedMessage, reason: &str) {
        tracing::warn!(
            component = %self.cfg.name,
            "the handler rejected Kafka message {}/{}/{} ({reason}); its offset is committed past it, so it is not delivered again",
            msg.topic(),
            msg.partition(),
            msg.offset()
        );
    }

    /// Store the offsets after `handled` (each partition's last), for the next commit.
    fn store(&self, consumer: &KConsumer, handled: &[OwnedMessage]) {
        if handled.is_empty() {
            return;
        }
        let mut last: Vec<(&str, i32, i64)> = Vec::new();
        for m in handled {
            match last
                .iter_mut()
                .find(|(t, p, _)| *t == m.topic() && *p == m.partition())
            {
                Some(entry) => entry.2 = entry.2.max(m.offset()),
                None => last.push((m.topic(), m.partition(), m.offset())),
            }
        }
        let mut tpl = TopicPartitionList::new();
        let stored = last
            .iter()
            .try_for_each(|(t, p, o)| tpl.add_partition_offset(t, *p, Offset::Offset(o + 1)))
            .and_then(|()| consumer.store_offsets(&tpl));
        if let Err(e) = stored {
            // The partition was taken away meanwhile (rebalance): its new owner consumes the
            // messages again from the last commit.
            tracing::warn!(component = %self.cfg.name, "cannot store the offsets of Kafka messages {last:?}: {e}");
        }
    }
}

/// Dapr's `parsePartitionNumber`: a 32-bit whole number, not negative.
fn partition_number(v: &str) -> std::result::Result<i32, String> {
    match v.trim().parse::<i64>() {
        Ok(n) if (0..=i32::MAX as i64).contains(&n) => Ok(n as i32),
        Ok(n) => Err(format!(
            "request metadata partitionNumber must be a partition number (0 or more), not {n}"
        )),
        Err(_) => Err(format!(
            "request metadata partitionNumber {v:?} is not a whole number"
        )),
    }
}

/// Dapr's `GetEventMetadata`: the record's key, offset, topic, timestamp and partition, and its
/// headers but those whose key `exclude` matches.
fn event_metadata(msg: &OwnedMessage, escape: bool, exclude: Option<&regex::Regex>) -> MetadataMap {
    let esc = |s: &[u8]| {
        let s = String::from_utf8_lossy(s);
        if escape {
            gotext::query_escape(&s)
        } else {
            s.into_owned()
        }
    };
    let mut md = MetadataMap::new();
    if let Some(k) = msg.key() {
        md.insert("__key".into(), esc(k));
    }
    md.insert("__offset".into(), msg.offset().to_string());
    md.insert("__topic".into(), msg.topic().to_string());
    md.insert(
        "__timestamp".into(),
        msg.timestamp().to_millis().unwrap_or(0).to_string(),
    );
    md.insert("__partition".into(), msg.partition().to_string());
    if let Some(h) = msg.headers() {
        for hd in h.iter() {
            if exclude.is_some_and(|r| r.is_match(hd.key)) {
                continue;
            }
            md.insert(hd.key.to_string(), esc(hd.value.unwrap_or_default()));
        }
    }
    md
}

#[async_trait]
impl OutputBinding for Kafka {
    async fn init(&self) -> Result<()> {
        self.producer().await.map(drop)
    }

    async fn invoke(&self, req: InvokeRequest) -> Result<InvokeResponse> {
        let Some(topic) = &self.cfg.publish_topic else {
            return Err(Error::new(
                ErrorKind::InvalidConfig,
                "bindings.kafka as an output needs the metadata field \"publishTopic\"",
            )
            .with_component(&self.cfg.name));
        };
        // As Dapr's producer: partitionKey or __key is the record key, partitionNumber the
        // partition (else the key's hash picks one), valueSchemaType how the data is encoded;
        // every entry is also a record header, but those excludeHeaderMetaRegex matches.
        let key = ["partitionKey", "__key"]
            .iter()
            .find_map(|k| req.metadata.get(*k))
            .map(String::as_str);
        let partition = match req.metadata.get("partitionNumber") {
            None => None,
            Some(v) => Some(partition_number(v).map_err(|e| {
                Error::invalid_argument(e)
                    .with_component(&self.cfg.name)
                    .with_operation("create")
            })?),
        };
        if let Some(v) = req.metadata.get("valueSchemaType") {
            if !v.eq_ignore_ascii_case("none") {
                return Err(Error::invalid_argument(format!(
                    "request metadata valueSchemaType {v:?}: bindery's Kafka binding has no schema registry client, so it produces the data as given (valueSchemaType None)"
                ))
                .with_component(&self.cfg.name)
                .with_operation("create"));
            }
        }
        let producer = self.producer().await?;
        let mut headers = OwnedHeaders::new_with_capacity(req.metadata.len());
        for (k, v) in &req.metadata {
            if self.cfg.exclude.as_ref().is_some_and(|r| r.is_match(k)) {
                continue;
            }
            headers = headers.insert(Header {
                key: k,
                value: Some(v.as_bytes()),
            });
        }
        // As Dapr: no data, or `null`, is a tombstone.
        let tombstone = req.data.is_empty() || req.data == b"null";
        let mut record: FutureRecord<'_, str, [u8]> = FutureRecord::to(topic).headers(headers);
        if !tombstone {
            record = record.payload(&req.data);
        }
        if let Some(k) = key {
            record = record.key(k);
        }
        if let Some(p) = partition {
            record = record.partition(p);
        }
        match producer.send(record, Timeout::After(PRODUCE_TIMEOUT)).await {
            Ok(_) => Ok(InvokeResponse::default()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::UnknownPartition), _)) => {
                Err(Error::invalid_argument(format!(
                    "request metadata partitionNumber {}: topic {topic:?} has no such partition",
                    partition.unwrap_or_default()
                ))
                .with_component(&self.cfg.name)
                .with_operation("create"))
            }
            Err((e, _)) => Err(self.error(&format!("produce to topic {topic:?} at"), e)),
        }
    }

    async fn close(&self) -> Result<()> {
        if let Some(p) = self.producer.lock().await.take() {
            // Flushing blocks; what is in flight was already awaited by invoke.
            let _ = tokio::task::spawn_blocking(move || {
                let _ = p.flush(Timeout::After(Duration::from_secs(5)));
            })
            .await;
        }
        Ok(())
    }
}

#[async_trait]
impl InputBinding for Kafka {
    async fn init(&self) -> Result<()> {
        let c = self.open_consumer().await?;
        *self.consumer.lock().unwrap() = Some(c);
        Ok(())
    }

    async fn read(&self, ctx: InputContext) -> Result<()> {
        let cfg = &self.cfg;
        let consumer = match self.consumer.lock().unwrap().clone() {
            Some(c) => c,
            None => return Ok(()),
        };
        loop {
            let next = tokio::select! {
                biased;
                _ = ctx.shutdown.cancelled() => break,
                m = consumer.recv() => m.map(|m| m.detach()),
            };
            let msg = match next {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!(component = %cfg.name, "consuming from Kafka at {}: {e}; trying again in {:?}", crate::redact::url(&cfg.brokers), cfg.retry_interval);
                    if !delivery::pause(cfg.retry_interval, &ctx.shutdown).await {
                        break;
                    }
                    continue;
                }
            };
            // With it, whatever else librdkafka already holds, so that one run crosses to
            // the handler (it may be Python or JavaScript) instead of one trip per message.
            let mut run = vec![msg];
            while run.len() < RUN_MAX {
                match consumer.recv().now_or_never() {
                    Some(Ok(m)) => run.push(m.detach()),
                    _ => break,
                }
            }
            if !self.handle_run(&ctx, &consumer, &run).await {
                break;
            }
        }
        Ok(())
    }

    async fn close(&self) -> Result<()> {
        let consumer = self.consumer.lock().unwrap().take();
        if let Some(c) = consumer {
            // Commit what was stored, leave the group; librdkafka blocks for this.
            let _ = tokio::task::spawn_blocking(move || {
                if let Err(e) = c.commit_consumer_state(rdkafka::consumer::CommitMode::Sync) {
                    tracing::debug!("final Kafka commit: {e}");
                }
                drop(c);
            })
            .await;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hint_reads_the_failure_not_the_broker_protocol() {
        let sasl = "sasl_ssl://127.0.0.1:9093/bootstrap: SASL authentication error: SASL SCRAM authentication failed: broker responded with unknown-user";
        assert!(
            hint(sasl, false).contains("saslUsername"),
            "{}",
            hint(sasl, false)
        );
        assert!(
            hint(sasl, true).contains("OIDC token"),
            "{}",
            hint(sasl, true)
        );
        let tls = "sasl_ssl://127.0.0.1:9094/bootstrap: Receive failed: error:0A00045C:SSL routines::tlsv13 alert certificate required";
        assert!(
            hint(tls, false).contains("clientCert"),
            "{}",
            hint(tls, false)
        );
        let ca = "ssl://127.0.0.1:9094/bootstrap: SSL handshake failed: error:0A000086:SSL routines::certificate verify failed";
        assert!(hint(ca, false).contains("caCert"), "{}", hint(ca, false));
        assert_eq!(
            hint("ssl://127.0.0.1:9094/bootstrap: Connection refused", false),
            ""
        );
    }

    #[test]
    fn retry_interval_is_milliseconds_or_a_duration() {
        let interval = |v: &str| {
            crate::binding::with_settings(
                &[("consumeRetryInterval", v)],
                declaration().fields,
                |s| s.duration("consumeRetryInterval"),
            )
            .0
        };
        assert_eq!(interval("200"), Some(Duration::from_millis(200)));
        assert_eq!(interval("1s"), Some(Duration::from_secs(1)));
    }

    fn config(pairs: &[(&str, &str)]) -> (Option<Config>, Vec<crate::binding::FieldProblem>) {
        let mut all = vec![("brokers", "localhost:9092")];
        all.extend_from_slice(pairs);
        crate::binding::with_settings(&all, declaration().fields, read_config)
    }

    fn setting<'a>(c: &'a Config, key: &str) -> Option<&'a str> {
        c.common
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn producer_and_consumer_settings_as_dapr_names_them() {
        let (c, problems) = config(&[
            ("authType", "none"),
            ("compression", "GZIP"),
            ("consumerGroupRebalanceStrategy", "sticky"),
            ("producerRequiredAcks", "local"),
            ("producerRetryMax", "3"),
            ("dialTimeout", "2s"),
            ("readTimeout", "7s"),
            ("clientConnectionKeepAliveInterval", "1m"),
        ]);
        assert!(problems.is_empty(), "{problems:?}");
        let c = c.unwrap();
        assert_eq!(c.compression, "gzip");
        assert_eq!(c.assignment, "cooperative-sticky");
        assert_eq!((c.acks, c.send_retries), ("1", Some(3)));
        assert_eq!(
            setting(&c, "socket.connection.setup.timeout.ms"),
            Some("2000")
        );
        assert_eq!(setting(&c, "socket.timeout.ms"), Some("7000"));
        assert_eq!(setting(&c, "socket.keepalive.enable"), Some("true"));
        // Dapr's defaults: no compression, range, every in-sync replica.
        let c = config(&[("authType", "none")]).0.unwrap();
        assert_eq!(
            (c.compression, c.assignment, c.acks),
            ("none", "range", "all")
        );
        assert_eq!(setting(&c, "security.protocol"), Some("plaintext"));
    }

    #[test]
    fn oidc_logs_in_with_oauthbearer_over_tls_unless_disabled() {
        let oidc = |tls: &str| {
            config(&[
                ("authType", "oidc"),
                ("disableTls", tls),
                ("oidcTokenEndpoint", "http://127.0.0.1:1/token"),
                ("oidcClientID", "app"),
                ("oidcClientSecret", "s3cret"),
            ])
        };
        let (c, problems) = oidc("true");
        assert!(problems.is_empty(), "{problems:?}");
        let c = c.unwrap();
        assert_eq!(setting(&c, "security.protocol"), Some("sasl_plaintext"));
        assert_eq!(setting(&c, "sasl.mechanism"), Some("OAUTHBEARER"));
        assert_eq!(setting(&c, "sasl.username"), None);
        let source = c.oidc.as_ref().unwrap();
        assert_eq!(source.scopes, ["openid"], "Dapr's default scope");
        let c = oidc("false").0.unwrap();
        assert_eq!(setting(&c, "security.protocol"), Some("sasl_ssl"));
        // Each field the authType needs is named when missing.
        let (c, problems) = config(&[("authType", "oidc")]);
        assert!(c.is_none());
        let named: Vec<_> = problems.iter().filter_map(|p| p.field.clone()).collect();
        assert_eq!(
            named,
            ["oidcTokenEndpoint", "oidcClientID", "oidcClientSecret"],
            "{problems:?}"
        );
        let (_, problems) = config(&[("authType", "oidc_private_key_jwt")]);
        let named: Vec<_> = problems.iter().filter_map(|p| p.field.clone()).collect();
        assert_eq!(
            named,
            [
                "oidcTokenEndpoint",
                "oidcClientID",
                "oidcClientAssertionCert",
                "oidcClientAssertionKey"
            ],
            "{problems:?}"
        );
    }

    #[test]
    fn partition_numbers_as_dapr_parses_them() {
        assert_eq!(partition_number("2"), Ok(2));
        assert!(partition_number("-1").unwrap_err().contains("0 or more"));
        assert!(partition_number("two")
            .unwrap_err()
            .contains("not a whole number"));
        assert!(partition_number("4294967296").is_err());
    }

    #[test]
    fn versions_as_sarama_parses_them() {
        assert!(valid_version("2.0.0"));
        assert!(valid_version("0.10.2.0"));
        assert!(!valid_version("2"));
        assert!(!valid_version("v2.0.0"));
    }

    #[test]
    fn auth_type_from_deprecated_auth_required() {
        let auth =
            |p: &[(&str, &str)]| crate::binding::with_settings(p, declaration().fields, auth_type);
        assert_eq!(auth(&[("authType", "None")]).0, Some("none"));
        assert_eq!(
            auth(&[("authRequired", "true"), ("saslPassword", "x")]).0,
            Some("password")
        );
        assert_eq!(auth(&[("authRequired", "false")]).0, Some("none"));
        let (none, problems) = auth(&[]);
        assert_eq!(none, None);
        assert_eq!(problems[0].field.as_deref(), Some("authType"));
    }
}
