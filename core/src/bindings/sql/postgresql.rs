//! `bindings.postgresql` (also `bindings.postgres`): SQL on PostgreSQL with Dapr's operations
//! `exec`, `query` and `close`.
//!
//! Request metadata `sql` (required) and `params`, a JSON array bound as `$1..$n`: each value
//! is sent in PostgreSQL's text form for the type the server says the parameter has (so
//! `"2024-01-02T03:04:05Z"` binds to a `timestamptz`, `"{1,2}"` or `[1,2]` to an `int[]`,
//! any JSON to a `json`/`jsonb`, and a string to a `json` is sent as JSON text, as pgx does),
//! after checking that whole numbers go to integer parameters and booleans to `boolean`.
//!
//! `query` answers a JSON array of rows, each an array of column values (Dapr's pgx
//! `rows.Values()` form): integers and floats as numbers, `numeric` as a number with every
//! digit (NaN and infinities as strings), text as strings, `json`/`jsonb` embedded,
//! timestamps as RFC 3339 in UTC (`date` at midnight UTC, as pgx reads it), `uuid` as its
//! text, `bytea` as base64, arrays as JSON arrays, NULL as null. Other column types are an
//! error naming the column and the cast to add.
//!
//! Response metadata as Dapr's: `operation`, `sql`, `start-time`, `end-time`, `duration`, and
//! `rows-affected` for `exec`. `close` closes the pool; later calls answer `Closed`, as Dapr's
//! "component is closed".
//!
//! The connection string is tokio-postgres's (key=value or URL, as pgx takes); pgx's pool
//! options in it (`pool_max_conns`, `pool_max_conn_lifetime`, `pool_max_conn_idle_time`, ...)
//! are honoured or accepted, and other unknown options are sent as run-time parameters (`-c`),
//! as pgx does.
//!
//! TLS (rustls) is set in the connection string as pgx (and libpq) read it: `sslmode=disable`
//! is plain; `prefer` (the default) and `allow` use TLS when the server offers it, without
//! checking its certificate; `require` insists on TLS without checking the certificate, unless
//! `sslrootcert` is given, when it checks it as `verify-ca` does; `verify-ca` checks that the
//! certificate is signed by the CAs in the file `sslrootcert` (else the machine's trusted CAs,
//! `SSL_CERT_FILE` honoured; `sslrootcert=system` asks for those), and `verify-full` also that
//! it is issued for the host connected to. `sslcert` and `sslkey` (files, both or neither)
//! present a client certificate; `sslsni=0` sends no server name.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime};
use tokio_postgres::config::SslMode;
use tokio_postgres::types::{FromSql, IsNull, Kind, ToSql, Type};
use tokio_postgres_rustls::MakeRustlsConnect;
use tokio_util::bytes::BytesMut;

use super::{json_kind, json_params, required_sql, timed, Json, Param};
use crate::binding::{BindingConfig, BindingParts, InvokeRequest, InvokeResponse, OutputBinding};
use crate::binding::{BindingSpec, Field, FieldKind, FieldProblem};
use crate::bindings::common::gotext::{base64, rfc3339_nano};
use crate::bindings::common::scrub;
use crate::bindings::common::tls::{parse_pem_pair, read_pem_certs, rustls, TlsTrouble};
use crate::component::values::{parse_go_bool, parse_go_duration, parse_int};
use crate::component::Metadata;
use crate::error::source_chain;
use crate::error::{Error, ErrorKind, Result};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;

const OPERATIONS: &[&str] = &["exec", "query", "close"];
const QUERY_EXEC_MODES: &[&str] = &[
    "cache_statement",
    "cache_describe",
    "describe_exec",
    "exec",
    "simple_protocol",
];
const FIELDS: &[Field] = &[
    // Required, but Dapr also takes the older name `url`: `check` asks for one of the two.
    Field::optional(
        "connectionString",
        FieldKind::Text,
        "host=localhost user=postgres password=secret port=5432 dbname=app",
    )
    .sensitive(),
    Field::optional(
        "url",
        FieldKind::Text,
        "postgres://user:secret@localhost:5432/app",
    )
    .sensitive(),
    Field::optional("timeout", FieldKind::Text, "20s"),
    Field::optional("timeoutInSeconds", FieldKind::Text, "20"),
    Field::optional("maxConns", FieldKind::Int, "4"),
    Field::optional("connectionMaxIdleTime", FieldKind::Duration, "5m"),
    Field::optional(
        "queryExecMode",
        FieldKind::OneOf(QUERY_EXEC_MODES),
        "cache_statement",
    ),
    Field::optional("useAzureAD", FieldKind::Bool, "false"),
    Field::optional("useAWSIAM", FieldKind::Bool, "false"),
    Field::optional("awsRegion", FieldKind::Text, "us-east-1"),
    Field::optional("awsAccessKey", FieldKind::Text, "<access key>"),
    Field::optional("awsSecretKey", FieldKind::Text, "<secret key>").sensitive(),
];

/// Dapr's default timeout for database operations.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);

/// The `bindings.postgresql` type (also `bindings.postgres`).
pub fn spec() -> BindingSpec {
    BindingSpec {
        type_name: "bindings.postgresql",
        aliases: &["bindings.postgres"],
        versions: &["v1"],
        input: false,
        output: true,
        operations: OPERATIONS,
        fields: FIELDS,
        check: Some(check),
        build,
    }
}

fn problem(
    field: Option<&str>,
    message: impl Into<String>,
    fix: impl Into<String>,
) -> FieldProblem {
    FieldProblem {
        field: field.map(str::to_string),
        message: message.into(),
        fix: Some(fix.into()),
    }
}

/// The connection string field in use: `connectionString`, or Dapr's older name `url`.
fn conn_field(md: &Metadata) -> Option<(&'static str, &str)> {
    md.get_nonempty("connectionString")
        .map(|v| ("connectionString", v))
        .or_else(|| md.get_nonempty("url").map(|v| ("url", v)))
}

/// Dapr's `timeout`: a Go duration, or a whole number of seconds (`timeoutInSeconds`).
fn parse_timeout(v: &str) -> std::result::Result<Duration, String> {
    match v.trim().parse::<u64>() {
        Ok(secs) => Ok(Duration::from_secs(secs)),
        Err(_) => parse_go_duration(v),
    }
}

fn check(md: &Metadata) -> Vec<FieldProblem> {
    let mut problems = Vec::new();
    match conn_field(md) {
        None => problems.push(problem(
            None,
            "bindings.postgresql needs the metadata field \"connectionString\"",
            "add `- name: connectionString` with `value: \"host=localhost user=postgres password=secret port=5432 dbname=app\"` (or a postgres:// URL) under spec.metadata, best from a secretKeyRef",
        )),
        Some((field, value)) => {
            if let Err(e) = ConnString::parse(value) {
                problems.push(problem(
                    Some(field),
                    format!("{field} is not a usable PostgreSQL connection string: {e}"),
                    "write key=value pairs (host=localhost port=5432 user=postgres dbname=app) or a URL (postgres://user:password@localhost:5432/app)",
                ));
            }
        }
    }
    for field in ["timeout", "timeoutInSeconds"] {
        if let Some(v) = md.get_nonempty(field) {
            if let Err(e) = parse_timeout(v) {
                problems.push(problem(
                    Some(field),
                    format!("metadata field {field:?}: {e}"),
                    "write a Go duration such as \"20s\", or a number of seconds",
                ));
            }
        }
    }
    for field in ["useAzureAD", "useAWSIAM"] {
        if md
            .get_nonempty(field)
            .and_then(|v| parse_go_bool(v).ok())
            .unwrap_or(false)
        {
            problems.push(problem(
                Some(field),
                format!("{field} authentication is not supported by bindery's bindings.postgresql"),
                "put the user and password in connectionString (from a secretKeyRef) and set this to false",
            ));
        }
    }
    problems
}

/// Options tokio-postgres reads from a connection string itself.
const TOKIO_POSTGRES_KEYS: &[&str] = &[
    "user",
    "password",
    "dbname",
    "options",
    "application_name",
    "host",
    "hostaddr",
    "port",
    "connect_timeout",
    "tcp_user_timeout",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_retries",
    "target_session_attrs",
    "channel_binding",
    "load_balance_hosts",
];

/// pgx options with nothing to do here (no encrypted client keys, no statement cache choice,
/// no Kerberos).
const IGNORED_KEYS: &[&str] = &[
    "sslpassword",
    "sslnegotiation",
    "krbsrvname",
    "krbspn",
    "statement_cache_capacity",
    "description_cache_capacity",
    "default_query_exec_mode",
    "pool_min_conns",
    "pool_health_check_period",
    "pool_max_conn_lifetime_jitter",
    "min_read_buffer_size",
];

/// A connection string taken apart: what tokio-postgres reads, and what bindery handles.
struct ConnString {
    config: tokio_postgres::Config,
    max_conns: Option<usize>,
    max_lifetime: Option<Duration>,
    max_idle: Option<Duration>,
    tls: TlsSettings,
}

/// How the server's certificate is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verify {
    /// Not at all (`prefer`, `allow`, `require` without `sslrootcert`).
    Nothing,
    /// Signed by a trusted CA (`verify-ca`, `require` with `sslrootcert`).
    Ca,
    /// Signed by a trusted CA and issued for the host (`verify-full`).
    Full,
}

/// The TLS options of a connection string; files are read at init.
#[derive(Debug, Clone, PartialEq)]
struct TlsSettings {
    verify: Verify,
    /// `sslrootcert`: a PEM file of CAs, or `system`.
    root_cert: Option<String>,
    /// `sslcert` and `sslkey`: PEM files.
    client: Option<(String, String)>,
    /// `sslsni`: send the server name (default yes).
    sni: bool,
}

impl ConnString {
    /// Parse a key=value or URL connection string. Errors never quote a value (the string
    /// holds the password).
    fn parse(s: &str) -> std::result::Result<ConnString, String> {
        let s = s.trim();
        let is_url = s.starts_with("postgres://") || s.starts_with("postgresql://");
        let pairs = if is_url {
            url_pairs(s)?
        } else {
            key_value_pairs(s)?
        };
        let mut kept: Vec<(String, String, String)> = Vec::new(); // key, value, raw (URL)
        let mut runtime_params = Vec::new();
        let mut out = ConnString {
            config: tokio_postgres::Config::new(),
            max_conns: None,
            max_lifetime: None,
            max_idle: None,
            tls: TlsSettings {
                verify: Verify::Nothing,
                root_cert: None,
                client: None,
                sni: true,
            },
        };
        let mut ssl_mode = "prefer".to_string();
        let (mut cert, mut cert_key) = (None, None);
        for (key, value, raw) in pairs {
            match key.as_str() {
                "sslmode" => {
                    if ![
                        "disable",
                        "allow",
                        "prefer",
                        "require",
                        "verify-ca",
                        "verify-full",
                    ]
                    .contains(&value.as_str())
                    {
                        return Err("the value of sslmode is not disable, allow, prefer, require, verify-ca or verify-full".into());
                    }
                    ssl_mode = value;
                }
                "sslrootcert" => out.tls.root_cert = Some(value).filter(|v| !v.is_empty()),
                "sslcert" => cert = Some(value).filter(|v| !v.is_empty()),
                "sslkey" => cert_key = Some(value).filter(|v| !v.is_empty()),
                "sslsni" => {
                    out.tls.sni = match value.as_str() {
                        "0" => false,
                        "1" => true,
                        _ => return Err("the value of sslsni is not 0 or 1".into()),
                    }
                }
                "pool_max_conns" => {
                    let n: usize = value
                        .parse()
                        .ok()
                        .filter(|n| *n > 0)
                        .ok_or("pool_max_conns is not a whole number above 0")?;
                    out.max_conns = Some(n);
                }
                "pool_max_conn_lifetime" => {
                    out.max_lifetime = Some(
                        parse_go_duration(&value)
                            .map_err(|_| "pool_max_conn_lifetime is not a Go duration")?,
                    )
                }
                "pool_max_conn_idle_time" => {
                    out.max_idle = Some(
                        parse_go_duration(&value)
                            .map_err(|_| "pool_max_conn_idle_time is not a Go duration")?,
                    )
                }
                "service" | "servicefile" | "passfile" => {
                    return Err(format!(
                        "the option {key} (a file of connection settings) is not supported; write the settings into the connection string"
                    ))
                }
                k if IGNORED_KEYS.contains(&k) => {}
                k if TOKIO_POSTGRES_KEYS.contains(&k) => kept.push((key, value, raw)),
                _ => runtime_params.push((key, value)),
            }
        }
        out.tls.client = match (cert, cert_key) {
            (Some(c), Some(k)) => Some((c, k)),
            (None, None) => None,
            _ if ssl_mode == "disable" => None,
            _ => return Err(
                "both sslcert and sslkey are needed for a client certificate; only one is given"
                    .into(),
            ),
        };
        // As pgx and libpq: `require` with a root certificate checks the chain as verify-ca.
        out.tls.verify = match ssl_mode.as_str() {
            "verify-full" => Verify::Full,
            "verify-ca" => Verify::Ca,
            "require" if out.tls.root_cert.is_some() => Verify::Ca,
            _ => Verify::Nothing,
        };
        let tls_mode = match ssl_mode.as_str() {
            "disable" => SslMode::Disable,
            "allow" | "prefer" => SslMode::Prefer,
            _ => SslMode::Require,
        };
        let text = if is_url {
            let base = s.split_once('?').map(|(b, _)| b).unwrap_or(s);
            let query: Vec<&str> = kept.iter().map(|(_, _, raw)| raw.as_str()).collect();
            if query.is_empty() {
                base.to_string()
            } else {
                format!("{base}?{}", query.join("&"))
            }
        } else {
            kept.iter()
                .map(|(k, v, _)| format!("{k}='{}'", v.replace('\\', "\\\\").replace('\'', "\\'")))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let mut secrets = vec![s.to_string(), text.clone()];
        secrets.extend(
            kept.iter()
                .filter(|(k, _, _)| k == "password")
                .map(|(_, v, _)| v.clone()),
        );
        let mut config: tokio_postgres::Config =
            text.parse().map_err(|e: tokio_postgres::Error| {
                // tokio-postgres's parse errors name options, not values; scrub anyway.
                scrub(&source_chain(&e), &secrets)
            })?;
        config.ssl_mode(tls_mode);
        if !runtime_params.is_empty() {
            let mut options = config.get_options().unwrap_or_default().to_string();
            for (k, v) in runtime_params {
                if !options.is_empty() {
                    options.push(' ');
                }
                options.push_str(&format!(
                    "-c {k}={}",
                    v.replace('\\', "\\\\").replace(' ', "\\ ")
                ));
            }
            config.options(options);
        }
        out.config = config;
        Ok(out)
    }
}

/// The query options of a postgres:// URL as (key, decoded value, raw `k=v` text).
fn url_pairs(s: &str) -> std::result::Result<Vec<(String, String, String)>, String> {
    let Some((_, query)) = s.split_once('?') else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for raw in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = raw.split_once('=').unwrap_or((raw, ""));
        let key = percent_decode(k).ok_or("a URL option name is not valid percent-encoding")?;
        let value = percent_decode(v).ok_or_else(|| {
            format!("the value of the URL option {key} is not valid percent-encoding")
        })?;
        out.push((key, value, raw.to_string()));
    }
    Ok(out)
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// The pairs of a libpq key=value string (`host=h port=5432 password='a b\'c'`).
fn key_value_pairs(s: &str) -> std::result::Result<Vec<(String, String, String)>, String> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c.is_whitespace() {
                break;
            }
            key.push(c);
            chars.next();
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.next() != Some('=') {
            // The text may be part of a password: not quoted here.
            return Err(
                "a word has no '=' and value (quote values with spaces: password='a b')".into(),
            );
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut value = String::new();
        if chars.peek() == Some(&'\'') {
            chars.next();
            loop {
                match chars.next() {
                    Some('\'') => break,
                    Some('\\') => match chars.next() {
                        Some(c) => value.push(c),
                        None => return Err(format!("the quoted value of {key} is not closed")),
                    },
                    Some(c) => value.push(c),
                    None => return Err(format!("the quoted value of {key} is not closed")),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                chars.next();
                if c == '\\' {
                    if let Some(n) = chars.next() {
                        value.push(n);
                    }
                } else {
                    value.push(c);
                }
            }
        }
        if key.is_empty() {
            return Err("an option has an empty name".into());
        }
        out.push((key, value, String::new()));
    }
    Ok(out)
}

fn build(cfg: &BindingConfig) -> Result<BindingParts> {
    let md = &cfg.metadata;
    let (_, conn) = conn_field(md).ok_or_else(|| {
        Error::new(
            ErrorKind::InvalidConfig,
            "bindings.postgresql needs the metadata field \"connectionString\"",
        )
    })?;
    let parsed = ConnString::parse(conn).map_err(|e| {
        Error::new(
            ErrorKind::InvalidConfig,
            format!("connectionString is not a usable PostgreSQL connection string: {e}"),
        )
    })?;
    let timeout = match md
        .get_nonempty("timeout")
        .or_else(|| md.get_nonempty("timeoutInSeconds"))
    {
        Some(v) => parse_timeout(v).map_err(Error::invalid_argument)?,
        None => DEFAULT_TIMEOUT,
    };
    let timeout = if timeout.is_zero() {
        DEFAULT_TIMEOUT
    } else {
        timeout
    };
    // Dapr: maxConns above 1 wins; else pool_max_conns; else the greater of 4 and the CPUs.
    let max_conns = md
        .get_nonempty("maxConns")
        .and_then(|v| parse_int(v).ok())
        .filter(|n| *n > 1)
        .map(|n| n as usize)
        .or(parsed.max_conns)
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
                .max(4)
        });
    let max_idle = match md.get_nonempty("connectionMaxIdleTime") {
        Some(v) => Some(parse_go_duration(v).map_err(Error::invalid_argument)?),
        None => parsed.max_idle,
    }
    .filter(|d| !d.is_zero());
    let mut config = parsed.config;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(timeout);
    }
    let mut secrets = vec![conn.to_string()];
    if let Some(p) = config.get_password() {
        secrets.push(String::from_utf8_lossy(p).into_owned());
    }
    Ok(BindingParts {
        input: None,
        output: Some(Arc::new(Postgres {
            config,
            tls: parsed.tls,
            max_conns,
            max_idle,
            max_lifetime: parsed.max_lifetime.filter(|d| !d.is_zero()),
            timeout,
            secrets,
            state: Mutex::new(State::New),
        })),
    })
}

enum State {
    New,
    Ready(Pool, Option<tokio::task::AbortHandle>, MakeRustlsConnect),
    Closed,
}

struct Postgres {
    config: tokio_postgres::Config,
    tls: TlsSettings,
    max_conns: usize,
    max_idle: Option<Duration>,
    max_lifetime: Option<Duration>,
    timeout: Duration,
    secrets: Vec<String>,
    state: Mutex<State>,
}

impl Postgres {
    /// The pool, and the TLS connector (a cancel request goes through it too).
    fn pool(&self) -> Result<(Pool, MakeRustlsConnect)> {
        match &*self.state.lock().unwrap() {
            State::Ready(pool, _, tls) => Ok((pool.clone(), tls.clone())),
            State::New => Err(Error::new(
                ErrorKind::InvalidState,
                "the postgresql binding is not initialised",
            )),
            State::Closed => Err(Error::new(
                ErrorKind::Closed,
                "component is closed (a close operation closed its connection pool)",
            )),
        }
    }

    fn pg_error(&self, context: &str, e: &tokio_postgres::Error) -> Error {
        if let Some(db) = e.as_db_error() {
            let mut text = format!(
                "{}: {} (SQLSTATE {})",
                db.severity(),
                db.message(),
                db.code().code()
            );
            if let Some(d) = db.detail() {
                text.push_str(&format!("; detail: {d}"));
            }
            if let Some(h) = db.hint() {
                text.push_str(&format!("; hint: {h}"));
            }
            let code = db.code().code();
            let retryable = matches!(code, "40001" | "40P01")
                || code.starts_with("08")
                || code.starts_with("53")
                || code.starts_with("57P");
            if code == "28000" && db.message().contains("no encryption") {
                text.push_str("; TLS: the server takes this user over TLS only; use sslmode=require, verify-ca or verify-full rather than disable");
            }
            return Error::upstream(context.to_string())
                .with_source(scrub(&text, &self.secrets))
                .with_retryable(retryable);
        }
        let mut text = scrub(&source_chain(e), &self.secrets);
        let mut retryable = true;
        if let Some(trouble) = TlsTrouble::of(&text) {
            text = format!(
                "{text}; {}",
                trouble.explain(
                    "give the CA that signed it in sslrootcert (a PEM file)",
                    "use sslmode=require without sslrootcert, which encrypts without checking the certificate"
                )
            );
            retryable = false;
        } else if text.contains("server does not support TLS") {
            text.push_str("; TLS: the server does not take TLS connections; use sslmode=prefer or disable, or turn ssl on in the server");
            retryable = false;
        }
        Error::upstream(context.to_string())
            .with_source(text)
            .with_retryable(retryable)
    }

    fn pool_error(&self, context: &str, e: PoolError) -> Error {
        match e {
            PoolError::Backend(e) => self.pg_error(context, &e),
            PoolError::Timeout(_) => Error::new(
                ErrorKind::Timeout,
                format!("{context}: no connection within {:?}", self.timeout),
            ),
            PoolError::Closed => Error::new(ErrorKind::Closed, "component is closed"),
            other => Error::upstream(context.to_string())
                .with_source(scrub(&other.to_string(), &self.secrets)),
        }
    }

    fn target(&self) -> String {
        let host = self
            .config
            .get_hosts()
            .first()
            .map(|h| match h {
                tokio_postgres::config::Host::Tcp(h) => h.clone(),
                #[cfg(unix)]
                tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
            })
            .unwrap_or_else(|| "localhost".into());
        let port = self.config.get_ports().first().copied().unwrap_or(5432);
        format!("{host}:{port}")
    }

    async fn run(
        &self,
        (pool, tls): &(Pool, MakeRustlsConnect),
        op: &str,
        sql: &str,
        params: &[Param],
    ) -> Result<InvokeResponse> {
        let client = pool.get().await.map_err(|e| {
            self.pool_error(
                &format!("cannot connect to PostgreSQL at {}", self.target()),
                e,
            )
        })?;
        let cancel = client.cancel_token();
        let work = async {
            let stmt = client
                .prepare(sql)
                .await
                .map_err(|e| self.pg_error("error executing query", &e))?;
            let args = bind_params(stmt.params(), params)?;
            let refs: Vec<&(dyn ToSql + Sync)> =
                args.iter().map(|a| a as &(dyn ToSql + Sync)).collect();
            if op == "exec" {
                let n = client
                    .execute(&stmt, &refs)
                    .await
                    .map_err(|e| self.pg_error("error executing query", &e))?;
                Ok((Vec::new(), Some(n)))
            } else {
                let rows = client
                    .query(&stmt, &refs)
                    .await
                    .map_err(|e| self.pg_error("error executing query", &e))?;
                Ok((rows_to_json(stmt.columns(), &rows)?.into_bytes(), None))
            }
        };
        match tokio::time::timeout(self.timeout, work).await {
            Ok(res) => {
                let (data, affected) = res?;
                let mut resp = InvokeResponse {
                    data,
                    ..Default::default()
                };
                if let Some(n) = affected {
                    resp.metadata.insert("rows-affected".into(), n.to_string());
                }
                Ok(resp)
            }
            Err(_) => {
                let tls = tls.clone();
                tokio::spawn(async move {
                    let _ = cancel.cancel_query(tls).await;
                });
                Err(Error::new(
                    ErrorKind::Timeout,
                    format!(
                        "the statement did not finish within the timeout ({:?}); it was cancelled",
                        self.timeout
                    ),
                ))
            }
        }
    }
}

#[async_trait]
impl OutputBinding for Postgres {
    fn operations(&self) -> &[&'static str] {
        OPERATIONS
    }

    async fn init(&self) -> Result<()> {
        if !matches!(*self.state.lock().unwrap(), State::New) {
            return Ok(());
        }
        let tls = self.tls.connector().map_err(|e| {
            Error::new(
                ErrorKind::InvalidConfig,
                format!("cannot set up TLS for PostgreSQL at {}: {e}", self.target()),
            )
        })?;
        let manager = Manager::from_config(
            self.config.clone(),
            tls.clone(),
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(self.max_conns)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(self.timeout))
            .create_timeout(Some(self.timeout))
            .recycle_timeout(Some(self.timeout))
            .build()
            .map_err(|e| Error::internal("cannot build the connection pool").with_source(e))?;
        // Connect once now, so a wrong address or password fails the start, not the first call.
        let first = pool.get().await.map_err(|e| {
            self.pool_error(
                &format!("unable to connect to PostgreSQL at {}", self.target()),
                e,
            )
        })?;
        drop(first);
        let reaper = (self.max_idle.is_some() || self.max_lifetime.is_some()).then(|| {
            let pool = pool.clone();
            let (idle, life) = (self.max_idle, self.max_lifetime);
            let every = idle
                .into_iter()
                .chain(life)
                .min()
                .unwrap_or(Duration::from_secs(60))
                .div_f64(2.0)
                .clamp(Duration::from_millis(100), Duration::from_secs(60));
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(every).await;
                    pool.retain(|_, m| {
                        idle.map_or(true, |i| m.last_used() < i)
                            && life.map_or(true, |l| m.age() < l)
                    });
                }
            })
            .abort_handle()
        });
        let mut state = self.state.lock().unwrap();
        match *state {
            State::New => *state = State::Ready(pool, reaper, tls),
            _ => {
                pool.close();
                if let Some(r) = reaper {
                    r.abort();
                }
            }
        }
        Ok(())
    }

    async fn invoke(&self, req: InvokeRequest) -> Result<InvokeResponse> {
        let op = req.operation.as_str();
        if op == "close" {
            // Like Dapr: close the pool; no response. Closing twice is fine.
            self.close().await?;
            return Ok(InvokeResponse::default());
        }
        // Only exec and query are left: the runtime lets no other operation through.
        let sql = required_sql(&req.metadata)?;
        let params = json_params(&req.metadata)?;
        let pool = self.pool()?;
        timed(op, &sql, self.run(&pool, op, &sql, &params)).await
    }

    async fn close(&self) -> Result<()> {
        let old = std::mem::replace(&mut *self.state.lock().unwrap(), State::Closed);
        if let State::Ready(pool, reaper, _) = old {
            if let Some(r) = reaper {
                r.abort();
            }
            pool.close();
        }
        Ok(())
    }
}

impl TlsSettings {
    /// The rustls connector for these settings; reads the files they name.
    fn connector(&self) -> std::result::Result<MakeRustlsConnect, String> {
        let provider = crate::bindings::common::tls::provider();
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS setup failed: {e}"))?;
        let builder = if self.verify == Verify::Nothing {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(CertCheck {
                    roots: None,
                    provider,
                }))
        } else {
            let certs = match self.root_cert.as_deref() {
                None | Some("system") => crate::bindings::common::tls::system_roots()?,
                Some(path) => read_pem_certs("sslrootcert", path)?,
            };
            let mut roots = rustls::RootCertStore::empty();
            let (added, _) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err("sslrootcert holds no usable CA certificate".into());
            }
            if self.verify == Verify::Full {
                builder.with_root_certificates(roots)
            } else {
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(CertCheck {
                        roots: Some(Arc::new(roots)),
                        provider,
                    }))
            }
        };
        let mut config = match &self.client {
            Some((cert, key)) => {
                let read = |field: &str, path: &str| {
                    std::fs::read(path).map_err(|e| format!("cannot read {field} {path:?}: {e}"))
                };
                let (chain, key) = parse_pem_pair(
                    "sslcert",
                    &read("sslcert", cert)?,
                    "sslkey",
                    &read("sslkey", key)?,
                )?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| format!("sslcert and sslkey do not make a pair: {e}"))?
            }
            None => builder.with_no_client_auth(),
        };
        config.enable_sni = self.sni;
        Ok(MakeRustlsConnect::new(config))
    }
}

/// The certificate check of `sslmode` below `verify-full`: with `roots`, the certificate must
/// be signed by one of them, for whatever name (`verify-ca`); without, any certificate goes
/// (`prefer`, `allow`, `require` without `sslrootcert`, as in libpq): the connection is
/// encrypted, the server not authenticated. The handshake's signatures are checked either way.
#[derive(Debug)]
struct CertCheck {
    roots: Option<Arc<rustls::RootCertStore>>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for CertCheck {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        if let Some(roots) = &self.roots {
            let cert = ParsedCertificate::try_from(end_entity)?;
            rustls::client::verify_server_cert_signed_by_trust_anchor(
                &cert,
                roots,
                intermediates,
                now,
                self.provider.signature_verification_algorithms.all,
            )?;
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// One parameter in PostgreSQL's text form (the server parses it as the parameter's type).
#[derive(Debug)]
struct TextParam(Option<String>);

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
fn base_type(ty: &Type) -> &Type {
    match ty.kind() {
        Kind::Domain(inner) => base_type(inner),
        _ => ty,
    }
}

fn bind_params(types: &[Type], params: &[Param]) -> Result<Vec<TextParam>> {
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
fn whole(p: &Param, min: i128, max: i128) -> std::result::Result<String, String> {
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
fn param_text(ty: &Type, p: &Param) -> std::result::Result<Option<String>, String> {
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
fn array_literal(items: &[Param]) -> String {
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

/// Any column as its raw binary value (or NULL), to decode by type here.
struct RawCell<'a>(Option<&'a [u8]>);

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

fn rows_to_json(
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

enum Decode {
    Unsupported(String),
    Bad(String),
}

fn bad(why: &str) -> Decode {
    Decode::Bad(why.to_string())
}

fn be<const N: usize>(raw: &[u8], at: usize) -> std::result::Result<[u8; N], Decode> {
    raw.get(at..at + N)
        .and_then(|s| s.try_into().ok())
        .ok_or_else(|| bad("value too short"))
}

fn text(raw: &[u8]) -> std::result::Result<String, Decode> {
    String::from_utf8(raw.to_vec()).map_err(|_| bad("text is not UTF-8"))
}

/// Seconds between the Unix epoch and PostgreSQL's (2000-01-01).
const PG_EPOCH: i64 = 946_684_800;

fn timestamp(raw: &[u8]) -> std::result::Result<Json, Decode> {
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

fn time_of_day(micros: i64) -> String {
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

fn decode(ty: &Type, raw: &[u8]) -> std::result::Result<Json, Decode> {
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
fn numeric(raw: &[u8]) -> std::result::Result<Json, Decode> {
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
fn interval(micros: i64, days: i32, months: i32) -> String {
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
fn array(elem: &Type, raw: &[u8]) -> std::result::Result<Json, Decode> {
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
    fn connection_strings_lose_pgx_pool_options() {
        let c = ConnString::parse(
            "host=localhost port=5432 user=postgres password='a b\\'c' dbname=test pool_max_conns=7 pool_max_conn_idle_time=1m search_path=app",
        )
        .unwrap();
        assert_eq!(c.max_conns, Some(7));
        assert_eq!(c.max_idle, Some(Duration::from_secs(60)));
        assert_eq!(c.config.get_password(), Some(&b"a b'c"[..]));
        assert_eq!(c.config.get_options(), Some("-c search_path=app"));
        let c = ConnString::parse(
            "postgres://u:p%40ss@db:6543/app?sslmode=disable&pool_max_conns=3&application_name=x",
        )
        .unwrap();
        assert_eq!(c.max_conns, Some(3));
        assert_eq!(c.config.get_password(), Some(&b"p@ss"[..]));
        assert_eq!(c.config.get_ports(), &[6543]);
        assert_eq!(c.config.get_application_name(), Some("x"));
        let Err(err) = ConnString::parse("host=h password=hunter2 sslmode=verify-everything")
        else {
            panic!("an unknown sslmode is refused");
        };
        assert!(err.contains("sslmode") && !err.contains("hunter2"), "{err}");
    }

    #[test]
    fn sslmodes_read_as_pgx_reads_them() {
        let tls = |s: &str| ConnString::parse(s).unwrap().tls;
        let mode = |s: &str| ConnString::parse(s).unwrap().config.get_ssl_mode();
        assert_eq!(mode("host=h"), SslMode::Prefer);
        assert_eq!(mode("host=h sslmode=disable"), SslMode::Disable);
        assert_eq!(mode("host=h sslmode=allow"), SslMode::Prefer);
        assert_eq!(mode("host=h sslmode=verify-ca"), SslMode::Require);
        assert_eq!(tls("host=h sslmode=require").verify, Verify::Nothing);
        // A root certificate makes `require` check the chain, as libpq and pgx do.
        assert_eq!(
            tls("host=h sslmode=require sslrootcert=/ca.pem").verify,
            Verify::Ca
        );
        assert_eq!(tls("host=h sslmode=verify-ca").verify, Verify::Ca);
        let t = tls("postgres://u@h/db?sslmode=verify-full&sslrootcert=%2Fca.pem&sslcert=%2Fc.pem&sslkey=%2Fk.pem&sslsni=0");
        assert_eq!(t.verify, Verify::Full);
        assert_eq!(t.root_cert.as_deref(), Some("/ca.pem"));
        assert_eq!(t.client, Some(("/c.pem".into(), "/k.pem".into())));
        assert!(!t.sni);
        let Err(err) = ConnString::parse("host=h sslcert=/c.pem") else {
            panic!("sslcert without sslkey is refused");
        };
        assert!(err.contains("sslkey"), "{err}");
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
