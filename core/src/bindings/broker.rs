//! What the message-broker input bindings (`bindings.rabbitmq`, `bindings.mqtt3`) share:
//! in-process redelivery with backoff, and TLS configuration from PEM metadata.
//!
//! # Redelivery
//!
//! A broker binding hands the events it has ready to the handler as one run and acknowledges
//! each one as the handler reports it handled (`settle_run`), so events of one queue/topic
//! reach the handler in order and a stop mid-run keeps the work done. When the handler
//! fails, the same event is delivered again after a backoff delay, up to `backOffMaxRetries`
//! times, before any later event (`deliver_run`). When those retries are used up, the
//! binding hands the event back to its broker (RabbitMQ: it is requeued and the channel is
//! closed, which requeues every later unacknowledged message in their order; MQTT: the
//! session is dropped and resumed, and the broker resends what was not acknowledged), waits
//! one more backoff delay, and consumes again. Nothing is acknowledged before the handler
//! succeeded on it. (RabbitMQ with a `prefetchCount` other than 1 keeps no order, as Dapr:
//! a failed message waits out its delay aside while the later ones go on; see `rabbitmq`.)
//!
//! The delays are configured with the metadata names of Dapr's retry settings
//! (`github.com/dapr/kit/retry`, read with the `backOff` prefix by Dapr's MQTT and RabbitMQ
//! components): `backOffPolicy` (`constant`, the default, or `exponential`),
//! `backOffDuration` (constant delay, default 5s), `backOffInitialInterval` (500ms),
//! `backOffMaxInterval` (60s), `backOffMultiplier` (1.5), `backOffRandomizationFactor` (0.5),
//! `backOffMaxElapsedTime` (15m, exponential only) and `backOffMaxRetries` (default 0, as in
//! Dapr's MQTT binding: the first failure hands the event back; `-1` retries in-process until
//! the handler succeeds or the runtime shuts down).

use std::sync::Arc;
use std::time::Duration;

use crate::binding::{EventSink, MetadataMap, Verdict};
use crate::component::values::{parse_go_duration, parse_int};
use crate::component::Metadata;
use crate::registry::{Field, FieldKind, FieldProblem};
use tokio_util::sync::CancellationToken;

pub(crate) use tokio_rustls::rustls;

/// The back-off policies of Dapr's retry settings.
pub(crate) const POLICIES: &[&str] = &["constant", "exponential"];

pub(crate) const BACKOFF_POLICY: Field =
    Field::optional("backOffPolicy", FieldKind::OneOf(POLICIES), "constant");
pub(crate) const BACKOFF_DURATION: Field =
    Field::optional("backOffDuration", FieldKind::Duration, "5s");
pub(crate) const BACKOFF_INITIAL_INTERVAL: Field =
    Field::optional("backOffInitialInterval", FieldKind::Duration, "500ms");
pub(crate) const BACKOFF_MAX_INTERVAL: Field =
    Field::optional("backOffMaxInterval", FieldKind::Duration, "60s");
pub(crate) const BACKOFF_MULTIPLIER: Field =
    Field::optional("backOffMultiplier", FieldKind::Text, "1.5");
pub(crate) const BACKOFF_RANDOMIZATION_FACTOR: Field =
    Field::optional("backOffRandomizationFactor", FieldKind::Text, "0.5");
pub(crate) const BACKOFF_MAX_ELAPSED_TIME: Field =
    Field::optional("backOffMaxElapsedTime", FieldKind::Duration, "15m");
pub(crate) const BACKOFF_MAX_RETRIES: Field =
    Field::optional("backOffMaxRetries", FieldKind::Int, "3");

/// A broker binding's metadata fields followed by Dapr's retry settings (the `BACKOFF_*`
/// fields), which every broker binding takes:
/// `const FIELDS: &[Field] = broker::fields_with_backoff![...];`.
macro_rules! fields_with_backoff {
    ($($field:expr),* $(,)?) => {
        &[
            $($field,)*
            $crate::bindings::broker::BACKOFF_POLICY,
            $crate::bindings::broker::BACKOFF_DURATION,
            $crate::bindings::broker::BACKOFF_INITIAL_INTERVAL,
            $crate::bindings::broker::BACKOFF_MAX_INTERVAL,
            $crate::bindings::broker::BACKOFF_MULTIPLIER,
            $crate::bindings::broker::BACKOFF_RANDOMIZATION_FACTOR,
            $crate::bindings::broker::BACKOFF_MAX_ELAPSED_TIME,
            $crate::bindings::broker::BACKOFF_MAX_RETRIES,
        ]
    };
}
pub(crate) use fields_with_backoff;

/// How long to wait between deliveries of an event the handler failed on, and how often.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Backoff {
    exponential: bool,
    duration: Duration,
    initial: Duration,
    max_interval: Duration,
    multiplier: f64,
    randomization: f64,
    max_elapsed: Option<Duration>,
    /// `None`: retry until the handler succeeds.
    max_retries: Option<u64>,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            exponential: false,
            duration: Duration::from_secs(5),
            initial: Duration::from_millis(500),
            max_interval: Duration::from_secs(60),
            multiplier: 1.5,
            randomization: 0.5,
            max_elapsed: Some(Duration::from_secs(15 * 60)),
            max_retries: Some(0),
        }
    }
}

fn problem(field: &str, message: String, fix: &str) -> FieldProblem {
    FieldProblem {
        field: Some(field.to_string()),
        message,
        fix: Some(fix.to_string()),
    }
}

fn parse_float(md: &Metadata, name: &str, min: f64) -> Result<Option<f64>, FieldProblem> {
    let Some(v) = md.get_nonempty(name) else {
        return Ok(None);
    };
    match v.trim().parse::<f64>() {
        Ok(f) if f.is_finite() && f >= min => Ok(Some(f)),
        _ => Err(problem(
            name,
            format!("metadata field {name:?}: {v:?} is not a number of at least {min}"),
            "write a decimal number, e.g. \"1.5\"",
        )),
    }
}

impl Backoff {
    /// Read the `backOff*` fields; field kinds were checked already.
    pub(crate) fn from_metadata(md: &Metadata) -> Result<Backoff, FieldProblem> {
        let mut b = Backoff::default();
        if let Some(p) = md.get_nonempty("backOffPolicy") {
            b.exponential = p.trim().eq_ignore_ascii_case("exponential");
        }
        let duration = |name: &str| -> Result<Option<Duration>, FieldProblem> {
            match md.get_nonempty(name) {
                None => Ok(None),
                Some(v) => parse_go_duration(v).map(Some).map_err(|e| {
                    problem(
                        name,
                        format!("metadata field {name:?}: {e}"),
                        "write a Go duration, e.g. \"500ms\" or \"5s\"",
                    )
                }),
            }
        };
        if let Some(d) = duration("backOffDuration")? {
            b.duration = d;
        }
        if let Some(d) = duration("backOffInitialInterval")? {
            b.initial = d;
        }
        if let Some(d) = duration("backOffMaxInterval")? {
            b.max_interval = d;
        }
        if let Some(d) = duration("backOffMaxElapsedTime")? {
            // As in Go's backoff package: 0 means no limit.
            b.max_elapsed = (!d.is_zero()).then_some(d);
        }
        if let Some(m) = parse_float(md, "backOffMultiplier", 1.0)? {
            b.multiplier = m;
        }
        if let Some(r) = parse_float(md, "backOffRandomizationFactor", 0.0)? {
            if r > 1.0 {
                return Err(problem(
                    "backOffRandomizationFactor",
                    format!("metadata field \"backOffRandomizationFactor\": {r} is more than 1"),
                    "write a number from 0 to 1, e.g. \"0.5\"",
                ));
            }
            b.randomization = r;
        }
        if let Some(v) = md.get_nonempty("backOffMaxRetries") {
            let n = parse_int(v).map_err(|e| {
                problem(
                    "backOffMaxRetries",
                    format!("metadata field \"backOffMaxRetries\": {e}"),
                    "write a whole number, e.g. \"3\", or \"-1\" to retry until the handler succeeds",
                )
            })?;
            b.max_retries = match n {
                -1 => None,
                n if n >= 0 => Some(n as u64),
                n => {
                    return Err(problem(
                        "backOffMaxRetries",
                        format!("metadata field \"backOffMaxRetries\": {n} is below -1"),
                        "write 0 or more, or \"-1\" to retry until the handler succeeds",
                    ))
                }
            };
        }
        Ok(b)
    }

    /// The problems of the `backOff*` fields, for a binding's `check`.
    pub(crate) fn check(md: &Metadata) -> Vec<FieldProblem> {
        Backoff::from_metadata(md).err().into_iter().collect()
    }

    /// Whether another in-process retry is allowed after `retries` retries over `elapsed`.
    pub(crate) fn allows(&self, retries: u64, elapsed: Duration) -> bool {
        if self.max_retries.is_some_and(|m| retries >= m) {
            return false;
        }
        !(self.exponential && self.max_elapsed.is_some_and(|m| elapsed >= m))
    }

    /// The delay before retry number `retry` (1 for the first).
    pub(crate) fn delay(&self, retry: u64) -> Duration {
        if !self.exponential {
            return self.duration;
        }
        let exp = retry.saturating_sub(1).min(64) as i32;
        let base = (self.initial.as_secs_f64() * self.multiplier.powi(exp))
            .min(self.max_interval.as_secs_f64());
        // Jitter as Go's backoff does: uniformly within +-randomization of the interval.
        let r = (uuid::Uuid::new_v4().as_u128() % 1_000_000) as f64 / 1_000_000.0;
        let jittered = base * (1.0 - self.randomization + 2.0 * self.randomization * r);
        Duration::from_secs_f64(jittered.max(0.0))
    }
}

/// What happened to one event.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// The handler succeeded: acknowledge it at the broker.
    Acked,
    /// The handler failed and no in-process retry is left (or the runtime is stopping):
    /// hand it back to the broker, `retries` retries in.
    GaveUp { reason: String, retries: u64 },
}

/// Deliver one event, retrying it in-process with `backoff` while the handler fails.
/// `failed_first`: the event was delivered already (in a run) and failed for this reason, so
/// the first attempt here is its first retry.
pub(crate) async fn deliver(
    sink: &EventSink,
    shutdown: &CancellationToken,
    backoff: &Backoff,
    data: Vec<u8>,
    metadata: MetadataMap,
    mut failed_first: Option<String>,
) -> Outcome {
    let started = tokio::time::Instant::now();
    let mut retries = 0u64;
    loop {
        // Not raced against shutdown: an event in the handler is settled before `read` ends,
        // and one still queued at shutdown resolves to a nack.
        let verdict = match failed_first.take() {
            Some(reason) => Verdict::Nack(reason),
            None => sink.deliver(data.clone(), metadata.clone()).await,
        };
        match verdict {
            Verdict::Ack => return Outcome::Acked,
            Verdict::Nack(reason) => {
                if shutdown.is_cancelled() || !backoff.allows(retries, started.elapsed()) {
                    return Outcome::GaveUp { reason, retries };
                }
                retries += 1;
                let wait = backoff.delay(retries);
                tracing::info!(
                    binding = sink.binding(),
                    "the handler failed ({reason}); delivering the event again in {wait:?} (retry {retries})"
                );
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = shutdown.cancelled() => return Outcome::GaveUp { reason, retries },
                }
            }
        }
    }
}

/// A source's messages, as a run of them needs them: the event of one, and how to settle
/// (acknowledge) one the handler acked.
#[cfg(any(feature = "rabbitmq", feature = "mqtt"))]
pub(crate) trait RunSource: Sync {
    type Msg: Sync;
    fn event(&self, m: &Self::Msg) -> (Vec<u8>, MetadataMap);
    fn settle(&self, m: &Self::Msg) -> impl std::future::Future<Output = ()> + Send;
}

/// Where a run stopped: the handler failed on the message at `index` and no in-process retry
/// is left (or the runtime is stopping).
#[cfg(any(feature = "rabbitmq", feature = "mqtt"))]
pub(crate) struct GaveUpAt {
    pub index: usize,
    pub reason: String,
    pub retries: u64,
}

/// Hand `run` (messages in the order received) to the handler as one run, settling each
/// message it handled as the handler reports it, in order. A message it fails on is retried
/// alone with `backoff` (the run's attempt is its first delivery), then the ones after it go
/// on as a new run. Returns where it gave up, if it did (or where the handler stopped because
/// the runtime is stopping): the caller hands that message back to the broker.
#[cfg(any(feature = "rabbitmq", feature = "mqtt"))]
pub(crate) async fn deliver_run<S: RunSource>(
    ctx: &crate::binding::InputContext,
    backoff: &Backoff,
    source: &S,
    run: &[S::Msg],
) -> Option<GaveUpAt> {
    let mut next = 0;
    while next < run.len() {
        let rest = &run[next..];
        let verdict = settle_run(ctx, source, rest).await;
        next += verdict.acked.min(rest.len());
        let Some(reason) = verdict.failed else {
            if next < run.len() && ctx.shutdown.is_cancelled() {
                // The handler stopped short: the runtime is stopping.
                return Some(GaveUpAt {
                    index: next,
                    reason: "the runtime is shutting down".into(),
                    retries: 0,
                });
            }
            continue;
        };
        let Some(m) = run.get(next) else { break };
        let (data, metadata) = source.event(m);
        match deliver(
            &ctx.sink,
            &ctx.shutdown,
            backoff,
            data,
            metadata,
            Some(reason),
        )
        .await
        {
            Outcome::Acked => {
                source.settle(m).await;
                next += 1;
            }
            Outcome::GaveUp { reason, retries } => {
                return Some(GaveUpAt {
                    index: next,
                    reason,
                    retries,
                })
            }
        }
    }
    None
}

/// Hand `msgs` to the handler as one run and settle each message it acks as it completes,
/// in order, also after the runtime began stopping, until the run is over. Returns the run's
/// verdict.
#[cfg(any(feature = "rabbitmq", feature = "mqtt"))]
pub(crate) async fn settle_run<S: RunSource>(
    ctx: &crate::binding::InputContext,
    source: &S,
    msgs: &[S::Msg],
) -> crate::binding::BatchVerdict {
    use crate::binding::RunStep;
    let mut run = ctx
        .sink
        .start_in_order(msgs.iter().map(|m| source.event(m)).collect())
        .await;
    loop {
        match run.next().await {
            RunStep::Acked(step) => {
                for m in &msgs[step] {
                    source.settle(m).await;
                }
            }
            RunStep::Done(v) => return v,
        }
    }
}

/// Sleep for `d`, or until `shutdown`; false when shut down.
pub(crate) async fn pause(d: Duration, shutdown: &CancellationToken) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => true,
        _ = shutdown.cancelled() => false,
    }
}

/// PEM text as given, or the contents of the file it names.
pub(crate) fn pem_or_file(field: &str, value: &str) -> Result<Vec<u8>, String> {
    if value.contains("-----BEGIN") {
        return Ok(value.as_bytes().to_vec());
    }
    std::fs::read(value.trim()).map_err(|e| {
        format!("{field} is neither PEM text (-----BEGIN ...) nor a readable file: {e}")
    })
}

/// Check the TLS fields: each PEM, and `clientCert` with `clientKey`.
pub(crate) fn check_tls(md: &Metadata, ca: &str, cert: &str, key: &str) -> Vec<FieldProblem> {
    let mut out = Vec::new();
    let files = TlsFiles::from_metadata(md, ca, cert, key);
    let built = files.and_then(|f| {
        if f.is_set() {
            f.client_config().map(drop)
        } else {
            Ok(())
        }
    });
    if let Err(e) = built {
        let field = [ca, cert, key]
            .into_iter()
            .find(|f| e.starts_with(*f))
            .unwrap_or(cert);
        out.push(problem(
            field,
            e,
            "give PEM text (-----BEGIN CERTIFICATE----- ...) or the path of a PEM file",
        ));
    }
    let (has_cert, has_key) = (
        md.get_nonempty(cert).is_some(),
        md.get_nonempty(key).is_some(),
    );
    if has_cert != has_key {
        out.push(problem(
            if has_cert { cert } else { key },
            format!("{cert} and {key} go together; only one is given"),
            "give both, or neither",
        ));
    }
    out
}

/// The PEM inputs of a TLS connection.
#[derive(Debug, Clone, Default)]
pub(crate) struct TlsFiles {
    ca: Option<Vec<u8>>,
    client: Option<(Vec<u8>, Vec<u8>)>,
}

impl TlsFiles {
    pub(crate) fn from_metadata(
        md: &Metadata,
        ca: &str,
        cert: &str,
        key: &str,
    ) -> Result<TlsFiles, String> {
        let read = |f: &str| md.get_nonempty(f).map(|v| pem_or_file(f, v)).transpose();
        let ca_pem = read(ca)?;
        let client = match (read(cert)?, read(key)?) {
            (Some(c), Some(k)) => Some((c, k)),
            _ => None,
        };
        Ok(TlsFiles { ca: ca_pem, client })
    }

    /// Whether any TLS field was given.
    pub(crate) fn is_set(&self) -> bool {
        self.ca.is_some() || self.client.is_some()
    }

    /// A rustls client configuration: the CA given (else the system's roots) and the client
    /// certificate when given.
    pub(crate) fn client_config(&self) -> Result<Arc<rustls::ClientConfig>, String> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};

        let mut roots = rustls::RootCertStore::empty();
        match &self.ca {
            Some(pem) => {
                let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem)
                    .collect::<Result<_, _>>()
                    .map_err(|e| format!("caCert is not a PEM certificate: {e}"))?;
                if certs.is_empty() {
                    return Err("caCert holds no PEM certificate".into());
                }
                roots.add_parsable_certificates(certs);
            }
            None => {
                roots.add_parsable_certificates(super::tls::system_roots()?);
            }
        }
        let builder = rustls::ClientConfig::builder_with_provider(super::tls::provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS setup failed: {e}"))?
            .with_root_certificates(roots);
        let config = match &self.client {
            Some((cert, key)) => {
                let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert)
                    .collect::<Result<_, _>>()
                    .map_err(|e| format!("clientCert is not a PEM certificate: {e}"))?;
                if chain.is_empty() {
                    return Err("clientCert holds no PEM certificate".into());
                }
                let key = PrivateKeyDer::from_pem_slice(key)
                    .map_err(|e| format!("clientKey is not a PEM private key: {e}"))?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| format!("clientCert and clientKey do not make a pair: {e}"))?
            }
            None => builder.with_no_client_auth(),
        };
        Ok(Arc::new(config))
    }
}

/// Go's `url.QueryEscape`, which Dapr applies to event metadata taken from message headers.
#[cfg(any(feature = "rabbitmq", feature = "kafka"))]
pub(crate) fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A duration the way Dapr's metadata decoder reads one: a Go duration, or whole seconds.
#[cfg(feature = "rabbitmq")]
pub(crate) fn seconds_or_duration(v: &str) -> Result<Duration, String> {
    let v = v.trim();
    if let Ok(n) = v.parse::<u64>() {
        return Ok(Duration::from_secs(n));
    }
    parse_go_duration(v)
        .map_err(|e| format!("{e}; write whole seconds (\"5\") or a Go duration (\"5s\")"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn md(pairs: &[(&str, &str)]) -> Metadata {
        Metadata::from_pairs(pairs.iter().copied())
    }

    #[test]
    fn backoff_defaults_are_dapr_s() {
        let b = Backoff::from_metadata(&md(&[])).unwrap();
        assert_eq!(b.delay(1), Duration::from_secs(5));
        assert!(!b.allows(0, Duration::ZERO), "0 retries by default");
    }

    #[test]
    fn backoff_constant_and_exponential() {
        let b = Backoff::from_metadata(&md(&[
            ("backOffDuration", "100ms"),
            ("backOffMaxRetries", "2"),
        ]))
        .unwrap();
        assert_eq!(b.delay(3), Duration::from_millis(100));
        assert!(b.allows(1, Duration::ZERO));
        assert!(!b.allows(2, Duration::ZERO));

        let b = Backoff::from_metadata(&md(&[
            ("backOffPolicy", "Exponential"),
            ("backOffInitialInterval", "1s"),
            ("backOffMultiplier", "2"),
            ("backOffRandomizationFactor", "0"),
            ("backOffMaxInterval", "5s"),
            ("backOffMaxRetries", "-1"),
        ]))
        .unwrap();
        assert_eq!(b.delay(1), Duration::from_secs(1));
        assert_eq!(b.delay(3), Duration::from_secs(4));
        assert_eq!(b.delay(9), Duration::from_secs(5));
        assert!(b.allows(1000, Duration::from_secs(60)));
        assert!(!b.allows(1000, Duration::from_secs(15 * 60)));
    }

    #[test]
    fn backoff_problems_name_the_field() {
        let p = Backoff::check(&md(&[("backOffMaxRetries", "-2")]));
        assert_eq!(p[0].field.as_deref(), Some("backOffMaxRetries"));
        let p = Backoff::check(&md(&[("backOffMultiplier", "x")]));
        assert_eq!(p[0].field.as_deref(), Some("backOffMultiplier"));
    }

    #[cfg(any(feature = "rabbitmq", feature = "kafka"))]
    #[test]
    fn go_query_escape() {
        assert_eq!(query_escape("a b&c=d/é~"), "a+b%26c%3Dd%2F%C3%A9~");
    }

    #[cfg(feature = "rabbitmq")]
    #[test]
    fn durations_in_seconds_or_go_form() {
        assert_eq!(seconds_or_duration("5").unwrap(), Duration::from_secs(5));
        assert_eq!(
            seconds_or_duration("250ms").unwrap(),
            Duration::from_millis(250)
        );
        assert!(seconds_or_duration("soon").is_err());
    }
}
