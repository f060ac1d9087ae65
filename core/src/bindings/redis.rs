//! `bindings.redis`: an output binding to one Redis node, with Dapr's operations and metadata.
//!
//! Operations (request metadata `key` is required by all):
//! - `create`: `SET key data`; `ttlInSeconds` (or `ttl`: whole seconds or a Go duration) sets
//!   an expiry, in the same command.
//! - `get`: `GET key`, or `GETDEL` with `delete=true`; a missing key answers empty data.
//! - `delete`: `DEL key`.
//! - `increment`: `INCR key`, then `EXPIRE` when a TTL is given and INCR worked, as Dapr
//!   does (one atomic script here). Like Dapr, it answers no data.
//!
//! One multiplexed connection (redis-rs `ConnectionManager`, which reconnects) serves every
//! call. `redisType: cluster`, `failover` (Sentinel), `useEntraID` and `useOIDC` are refused
//! before start; the pool fields of go-redis (`poolSize`, `minIdleConns`, ...) are accepted
//! with a warning that they are ignored (there is no pool), and the Sentinel and OIDC fields
//! given without `failover` or `useOIDC` with a warning that Dapr reads them only with it.
//!
//! TLS as in Dapr: `enableTLS: true` connects over TLS (rustls) and checks the server's
//! certificate against the CAs this machine trusts (the system's store, or `SSL_CERT_FILE` /
//! `SSL_CERT_DIR`, as Go's does; Dapr's redis has no CA field), and its name against the host
//! in `redisHost`; `insecureSkipTLSVerify: true` skips that check; `clientCert` and
//! `clientKey` (PEM text, both or neither) present a client certificate.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{
    AsyncConnectionConfig, ClientTlsConfig, ConnectionAddr, ConnectionInfo, RedisConnectionInfo,
    TlsCertificates,
};
use async_trait::async_trait;

use crate::binding::{declare, Settings};
use crate::binding::{BindingParts, InvokeRequest, InvokeResponse, OutputBinding};
use crate::bindings::common::tls::{parse_pem_pair, TlsTrouble};
use crate::component::values::{parse_go_bool, parse_go_duration};
use crate::error::source_chain;
use crate::error::{Error, ErrorKind, Result};

/// Dapr's redis duration fields take a Go duration, a whole number of milliseconds, or -1.
const DURATION_FIELDS: &[&str] = &[
    "redisMinRetryInterval",
    "redisMaxRetryInterval",
    "dialTimeout",
    "readTimeout",
    "writeTimeout",
    "poolTimeout",
    "maxConnAge",
    "idleCheckFrequency",
    "idleTimeout",
];

/// Dapr's defaults for a binding: go-redis's 3 retries, 8ms..512ms backoff, 5s dial, 3s read.
const DEFAULT_MAX_RETRIES: usize = 3;
const DEFAULT_MAX_RETRY_INTERVAL: Duration = Duration::from_millis(512);
const DEFAULT_DIAL_TIMEOUT: Duration = Duration::from_secs(5);
const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(3);

declare!("redis.metadata.yaml", build);

/// A Dapr redis duration: `None` when disabled (`-1` or any negative), else the duration.
/// A whole number is milliseconds.
fn parse_redis_duration(value: &str) -> std::result::Result<Option<Duration>, String> {
    let v = value.trim();
    if let Ok(n) = v.parse::<i64>() {
        return Ok((n >= 0).then(|| Duration::from_millis(n as u64)));
    }
    if let Some(positive) = v.strip_prefix('-') {
        return parse_go_duration(positive)
            .map(|_| None)
            .map_err(|e| format!("{e} (use a Go duration such as 500ms, milliseconds, or -1)"));
    }
    parse_go_duration(v)
        .map(Some)
        .map_err(|e| format!("{e} (use a Go duration such as 500ms, milliseconds, or -1)"))
}

/// `host:port`, `[v6]:port`, or a bare host (Redis's port 6379, or `redisPort`).
fn host_and_port(
    host: &str,
    port_field: Option<u16>,
) -> std::result::Result<(String, u16), String> {
    let host = host.trim();
    let shown = crate::redact::url(host); // for messages: a password as ***
    let (name, port) = if let Some(rest) = host.strip_prefix('[') {
        let Some((name, after)) = rest.split_once(']') else {
            return Err(format!("redisHost {shown:?} has an unclosed '['"));
        };
        match after.strip_prefix(':') {
            Some(p) => (name.to_string(), Some(p)),
            None if after.is_empty() => (name.to_string(), None),
            None => return Err(format!("redisHost {shown:?} is not host:port")),
        }
    } else if host.matches(':').count() == 1 {
        let (name, p) = host.split_once(':').unwrap_or((host, ""));
        (name.to_string(), Some(p))
    } else {
        (host.to_string(), None)
    };
    if name.is_empty() {
        return Err(format!("redisHost {shown:?} has no host name"));
    }
    let port = match port {
        Some(p) => {
            let p: u16 = p
                .parse()
                .map_err(|_| format!("redisHost {shown:?}: the port {p:?} is not a port number"))?;
            if let Some(pf) = port_field.filter(|pf| *pf != 0 && *pf != p) {
                return Err(format!(
                    "redis host {shown:?} already contains port {p}, but redisPort is set to {pf}; either remove the port from redisHost or remove the redisPort setting"
                ));
            }
            p
        }
        None => port_field.filter(|p| *p != 0).unwrap_or(6379),
    };
    Ok((name, port))
}

/// What `build` reads from the settings; no I/O.
#[derive(Clone)]
struct Options {
    host: String,
    port: u16,
    username: Option<String>,
    password: Option<String>,
    db: i64,
    max_retries: usize,
    max_retry_interval: Duration,
    dial_timeout: Option<Duration>,
    read_timeout: Option<Duration>,
    /// `enableTLS`: connect over TLS.
    tls: Option<Tls>,
}

/// The TLS settings of a connection.
#[derive(Clone)]
struct Tls {
    /// `insecureSkipTLSVerify`: accept any server certificate.
    insecure: bool,
    /// `clientCert` and `clientKey`, PEM text.
    client: Option<(String, String)>,
}

const DURATION_FIX: &str = "write e.g. \"500ms\", \"5s\", or -1 to disable";

fn build(s: &mut Settings) -> Result<BindingParts> {
    if s.word("redisType") == Some("cluster") {
        s.problem(
            "redisType",
            "redisType \"cluster\" (Redis Cluster) is not supported by bindery's bindings.redis; it talks to one Redis node",
            "point redisHost at a single node and set redisType to \"node\" (or remove it)",
        );
    }
    if s.flag("failover", false) {
        s.problem(
            "failover",
            "failover (Redis Sentinel) is not supported by bindery's bindings.redis",
            "point redisHost at the Redis primary and set failover to false",
        );
    }
    let client = match (s.text("clientCert"), s.text("clientKey")) {
        (Some(c), Some(k)) => {
            match parse_pem_pair("clientCert", c.as_bytes(), "clientKey", k.as_bytes()) {
                Ok(_) => Some((c.to_string(), k.to_string())),
                Err(e) => {
                    let field = if e.starts_with("clientKey") {
                        "clientKey"
                    } else {
                        "clientCert"
                    };
                    s.problem(field, e, "give the PEM text itself (-----BEGIN CERTIFICATE----- ... / -----BEGIN PRIVATE KEY----- ...), best from a secretKeyRef");
                    None
                }
            }
        }
        (Some(_), None) | (None, Some(_)) => {
            let missing = if s.text("clientCert").is_some() {
                "clientKey"
            } else {
                "clientCert"
            };
            s.problem(
                missing,
                "clientCert and clientKey go together; only one is given",
                "give both (PEM text), or neither",
            );
            None
        }
        (None, None) => None,
    };
    s.only_with(
        "failover",
        &["sentinelMasterName", "sentinelUsername", "sentinelPassword"],
    );
    s.only_with(
        "useOIDC",
        &[
            "oidcTokenEndpoint",
            "oidcClientID",
            "oidcClientAssertionCert",
            "oidcClientAssertionKey",
            "oidcResource",
            "oidcAudience",
            "oidcScopes",
            "oidcKid",
            "oidcCACert",
        ],
    );
    for field in ["useEntraID", "useAzureAD", "useOIDC"] {
        if s.flag(field, false) {
            s.problem(
                field,
                format!("{field} authentication is not supported by bindery's bindings.redis"),
                "authenticate with redisUsername/redisPassword instead",
            );
        }
    }
    let port_field = match s.int("redisPort") {
        Some(p) if !(0..=65535).contains(&p) => {
            s.problem(
                "redisPort",
                format!("redisPort {p} is not a port number"),
                "write a port between 1 and 65535, e.g. \"6379\"",
            );
            None
        }
        p => p.and_then(|p| u16::try_from(p).ok()),
    };
    let address = s.parse(
        "redisHost",
        "write redisHost as host:port, e.g. \"localhost:6379\"",
        |host| {
            if host.contains(',') {
                return Err("redisHost lists several addresses; that is a cluster or Sentinel setup, which bindery's bindings.redis does not support".into());
            }
            host_and_port(host, port_field)
        },
    );
    let db = s.int("redisDB").unwrap_or(0);
    if db < 0 {
        s.problem(
            "redisDB",
            format!("redisDB {db} is negative"),
            "write a database number, e.g. \"0\"",
        );
    }
    let mut durations = std::collections::HashMap::new();
    for field in DURATION_FIELDS {
        let parsed = s.parse(field, DURATION_FIX, |v| {
            parse_redis_duration(v).map_err(|e| format!("metadata field {field:?}: {e}"))
        });
        if let Some(d) = parsed {
            durations.insert(*field, d);
        }
    }
    let duration =
        |field: &str, default: Duration| durations.get(field).copied().unwrap_or(Some(default));
    let max_retries = match s.int("redisMaxRetries") {
        Some(n) if n < 0 => 0, // -1 disables retries, as in go-redis
        Some(n) => n as usize,
        None => DEFAULT_MAX_RETRIES,
    };
    let (Some((host, port)), true) = (address, s.ok()) else {
        return Ok(BindingParts::default());
    };
    let options = Options {
        host,
        port,
        username: s.text("redisUsername").map(str::to_string),
        password: s.text("redisPassword").map(str::to_string),
        db,
        max_retries,
        max_retry_interval: duration("redisMaxRetryInterval", DEFAULT_MAX_RETRY_INTERVAL)
            .unwrap_or(DEFAULT_MAX_RETRY_INTERVAL),
        dial_timeout: duration("dialTimeout", DEFAULT_DIAL_TIMEOUT),
        read_timeout: duration("readTimeout", DEFAULT_READ_TIMEOUT),
        tls: s.flag("enableTLS", false).then(|| Tls {
            insecure: s.flag("insecureSkipTLSVerify", false),
            client,
        }),
    };
    Ok(BindingParts {
        input: None,
        output: Some(Arc::new(Redis {
            options,
            conn: Mutex::new(State::New),
        })),
    })
}

enum State {
    New,
    Ready(ConnectionManager),
    Closed,
}

struct Redis {
    options: Options,
    conn: Mutex<State>,
}

impl Redis {
    fn address(&self) -> String {
        if self.options.host.contains(':') {
            format!("[{}]:{}", self.options.host, self.options.port)
        } else {
            format!("{}:{}", self.options.host, self.options.port)
        }
    }

    fn connection_info(&self) -> ConnectionInfo {
        let (host, port) = (self.options.host.clone(), self.options.port);
        ConnectionInfo {
            addr: match &self.options.tls {
                Some(tls) => ConnectionAddr::TcpTls {
                    host,
                    port,
                    insecure: tls.insecure,
                    tls_params: None,
                },
                None => ConnectionAddr::Tcp(host, port),
            },
            redis: RedisConnectionInfo {
                db: self.options.db,
                username: self.options.username.clone(),
                password: self.options.password.clone(),
                ..Default::default()
            },
        }
    }

    fn connection(&self) -> Result<ConnectionManager> {
        match &*self.conn.lock().unwrap() {
            State::Ready(c) => Ok(c.clone()),
            State::New => Err(Error::new(
                ErrorKind::InvalidState,
                "the redis binding is not initialised",
            )),
            State::Closed => Err(Error::new(ErrorKind::Closed, "the redis binding is closed")),
        }
    }

    /// The client for `connection_info`, with the client certificate when one is given.
    fn client(&self) -> ::redis::RedisResult<::redis::Client> {
        match self.options.tls.as_ref().and_then(|t| t.client.as_ref()) {
            Some((cert, key)) => ::redis::Client::build_with_tls(
                self.connection_info(),
                TlsCertificates {
                    client_tls: Some(ClientTlsConfig {
                        client_cert: cert.as_bytes().to_vec(),
                        client_key: key.as_bytes().to_vec(),
                    }),
                    root_cert: None,
                },
            ),
            None => ::redis::Client::open(self.connection_info()),
        }
    }

    /// A redis error as a bindery error (the runtime scrubs the sensitive fields from it), and what a TLS failure
    /// (or a plain connection to a TLS port) means.
    fn error(&self, context: &str, e: ::redis::RedisError) -> Error {
        let mut text = if e.kind() == ::redis::ErrorKind::AuthenticationFailed {
            "the server refused the username or password (redisUsername/redisPassword)".to_string()
        } else {
            source_chain(&e)
        };
        let trouble = TlsTrouble::of(&text).filter(|_| self.options.tls.is_some());
        match (trouble, &self.options.tls) {
            (Some(trouble), Some(_)) => {
                let explained = match trouble {
                    TlsTrouble::NotTls => "TLS: the server did not answer in TLS; it takes plain connections, so set enableTLS to false".to_string(),
                    t => t.explain(
                        "add its CA to this machine's trusted CAs (the system's store, or a PEM bundle named by SSL_CERT_FILE)",
                        "set insecureSkipTLSVerify: true (no check: for tests only)",
                    ),
                };
                text = format!("{text}; {explained}");
            }
            (None, Some(_)) if e.is_timeout() => {
                // A plain server waits for the end of a line that a TLS hello never sends.
                text = format!(
                    "{text}; no TLS answer in time: if the server takes plain connections, set enableTLS to false"
                );
            }
            (_, None)
                if e.is_connection_dropped()
                    || e.kind() == ::redis::ErrorKind::ParseError
                    || text.contains("reset by peer") =>
            {
                text = format!(
                    "{text}; the server closed the connection: if it takes TLS connections only, set enableTLS: true"
                );
            }
            _ => {}
        }
        let (kind, retryable) = if trouble.is_some() {
            // A certificate that is refused now is refused on the next try too.
            (ErrorKind::Upstream, false)
        } else if e.is_timeout() {
            (ErrorKind::Timeout, true)
        } else if e.is_io_error() || e.is_connection_refusal() || e.is_connection_dropped() {
            (ErrorKind::Upstream, true)
        } else {
            // An error reply from the server (WRONGTYPE, NOAUTH, ...): retrying will not help.
            (ErrorKind::Upstream, false)
        };
        Error::new(kind, context.to_string())
            .with_source(text)
            .with_retryable(retryable)
    }
}

/// INCR the key, then EXPIRE it; an INCR error stops the script before EXPIRE.
const INCR_THEN_EXPIRE: &str =
    "local v = redis.call('INCR', KEYS[1]); redis.call('EXPIRE', KEYS[1], ARGV[1]); return v";

/// Dapr's TTL request metadata (`ttlInSeconds`, or `ttl`): whole seconds > 0, or a Go
/// duration. Returns whole seconds for EXPIRE.
fn ttl_seconds(req: &InvokeRequest) -> Result<Option<u64>> {
    let Some((key, value)) = ["ttlInSeconds", "ttl"].iter().find_map(|k| {
        req.metadata
            .get(*k)
            .filter(|v| !v.trim().is_empty())
            .map(|v| (*k, v.trim()))
    }) else {
        return Ok(None);
    };
    let secs = crate::component::values::parse_ttl(key, value)
        .map_err(Error::invalid_argument)?
        .as_secs();
    if secs == 0 {
        // Redis would delete the key at once (EXPIRE key 0); say so instead.
        return Err(Error::invalid_argument(format!(
            "{key} {value:?} is shorter than one second; Redis expiries are whole seconds"
        )));
    }
    Ok(Some(secs))
}

#[async_trait]
impl OutputBinding for Redis {
    async fn init(&self) -> Result<()> {
        if !matches!(*self.conn.lock().unwrap(), State::New) {
            return Ok(());
        }
        let address = crate::redact::url(&self.address()).into_owned(); // for messages
        if self.options.tls.is_some() {
            crate::bindings::common::tls::ensure_provider();
        }
        let client = self
            .client()
            .map_err(|e| self.error(&format!("invalid redis address {address}"), e))?;
        // One plain connection and PING first: its error is the server's answer (refused,
        // wrong password), where the manager would retry it into a timeout.
        let mut probe_cfg = AsyncConnectionConfig::new();
        if let Some(t) = self.options.dial_timeout {
            probe_cfg = probe_cfg.set_connection_timeout(t);
        }
        if let Some(t) = self.options.read_timeout {
            probe_cfg = probe_cfg.set_response_timeout(t);
        }
        let context = match &self.options.tls {
            Some(_) => format!("error connecting to redis at {address} over TLS"),
            None => format!("error connecting to redis at {address}"),
        };
        let mut probe = client
            .get_multiplexed_async_connection_with_config(&probe_cfg)
            .await
            .map_err(|e| self.error(&context, e))?;
        ::redis::cmd("PING")
            .query_async::<()>(&mut probe)
            .await
            .map_err(|e| self.error(&context, e))?;
        drop(probe);

        let mut cfg = ConnectionManagerConfig::new()
            .set_number_of_retries(self.options.max_retries)
            .set_factor(2)
            .set_max_delay(self.options.max_retry_interval.as_millis() as u64);
        if let Some(t) = self.options.dial_timeout {
            cfg = cfg.set_connection_timeout(t);
        }
        if let Some(t) = self.options.read_timeout {
            cfg = cfg.set_response_timeout(t);
        }
        let manager = ConnectionManager::new_with_config(client, cfg)
            .await
            .map_err(|e| self.error(&context, e))?;
        let mut state = self.conn.lock().unwrap();
        if matches!(*state, State::New) {
            *state = State::Ready(manager);
        }
        Ok(())
    }

    async fn invoke(&self, req: InvokeRequest) -> Result<InvokeResponse> {
        let key = req
            .metadata
            .get("key")
            .filter(|k| !k.is_empty())
            .cloned()
            .ok_or_else(|| {
                Error::invalid_argument(
                    "redis binding: missing key in request metadata (give the Redis key in the request metadata \"key\", e.g. key=orders:1)",
                )
            })?;
        let mut conn = self.connection()?;
        match req.operation.as_str() {
            "create" => {
                let ttl = ttl_seconds(&req)?;
                let mut cmd = ::redis::cmd("SET");
                cmd.arg(&key).arg(&req.data);
                if let Some(secs) = ttl {
                    cmd.arg("EX").arg(secs);
                }
                cmd.query_async::<()>(&mut conn)
                    .await
                    .map_err(|e| self.error("SET failed", e))?;
                Ok(InvokeResponse::default())
            }
            "get" => {
                let delete = match req.metadata.get("delete").filter(|v| !v.trim().is_empty()) {
                    Some(v) => parse_go_bool(v)
                        .map_err(|e| Error::invalid_argument(format!("delete: {e}")))?,
                    None => false,
                };
                let command = if delete { "GETDEL" } else { "GET" };
                let value: Option<Vec<u8>> = ::redis::cmd(command)
                    .arg(&key)
                    .query_async(&mut conn)
                    .await
                    .map_err(|e| self.error(&format!("{command} failed"), e))?;
                // A missing key is empty data, as in Dapr.
                Ok(InvokeResponse {
                    data: value.unwrap_or_default(),
                    ..Default::default()
                })
            }
            "delete" => {
                ::redis::cmd("DEL")
                    .arg(&key)
                    .query_async::<()>(&mut conn)
                    .await
                    .map_err(|e| self.error("DEL failed", e))?;
                Ok(InvokeResponse::default())
            }
            "increment" => {
                let ttl = ttl_seconds(&req)?;
                let cmd = match ttl {
                    // INCR, then EXPIRE only when INCR worked (as Dapr), in one atomic step.
                    Some(secs) => {
                        let mut c = ::redis::cmd("EVAL");
                        c.arg(INCR_THEN_EXPIRE).arg(1).arg(&key).arg(secs);
                        c
                    }
                    None => {
                        let mut c = ::redis::cmd("INCR");
                        c.arg(&key);
                        c
                    }
                };
                cmd.query_async::<()>(&mut conn)
                    .await
                    .map_err(|e| self.error("INCR failed", e))?;
                Ok(InvokeResponse::default())
            }
            _ => unreachable!("the runtime lets only the declared operations through"),
        }
    }

    async fn close(&self) -> Result<()> {
        *self.conn.lock().unwrap() = State::Closed;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_take_a_port_or_the_default() {
        assert_eq!(host_and_port("h:1", None).unwrap(), ("h".into(), 1));
        assert_eq!(host_and_port("h", None).unwrap(), ("h".into(), 6379));
        assert_eq!(host_and_port("h", Some(7000)).unwrap(), ("h".into(), 7000));
        assert_eq!(host_and_port("[::1]:7", None).unwrap(), ("::1".into(), 7));
        assert!(host_and_port("h:x", None).is_err());
        assert!(host_and_port("h:1", Some(2)).is_err());
    }

    #[test]
    fn redis_durations_take_milliseconds_and_minus_one() {
        assert_eq!(
            parse_redis_duration("250").unwrap(),
            Some(Duration::from_millis(250))
        );
        assert_eq!(parse_redis_duration("-1").unwrap(), None);
        assert_eq!(
            parse_redis_duration("2s").unwrap(),
            Some(Duration::from_secs(2))
        );
        assert!(parse_redis_duration("soon").is_err());
    }
}
