//! `bindings.mysql`: SQL on MySQL or MariaDB with Dapr's operations `exec`, `query` and
//! `close`.
//!
//! `url` is a DSN in the Go MySQL driver's form, as Dapr takes it:
//! `user:password@tcp(host:port)/dbname?param=value&...` (also `unix(/path/to/socket)`).
//! Of the driver's parameters, `loc` (`UTC` or `Local`), `charset`, `collation`,
//! `clientFoundRows`, `allowCleartextPasswords`, `multiStatements` and `maxAllowedPacket` are
//! honoured, the others of the driver are accepted (`parseTime` is always on, as in Dapr), and any other
//! parameter is set as a session system variable (`SET name=value`), as the Go driver does.
//!
//! TLS (rustls) as with the Go driver in Dapr: the DSN's `tls=true` checks the server's
//! certificate against the CAs this machine trusts (`SSL_CERT_FILE` honoured) and its name
//! against the DSN's host; `tls=custom` checks it against the CA file `pemPath` only (Dapr
//! registers that file as the TLS config "custom"); `tls=skip-verify` encrypts without
//! checking; `tls=preferred` uses TLS without checking when the server offers it, else plain
//! (decided when the binding starts), as does `allowFallbackToPlaintext=true` for the others.
//! `pemPath` without `tls=custom` is not used, as in Dapr.
//!
//! Request metadata `sql` (required) and `params`, a JSON array bound to the `?` markers
//! (numbers, strings, booleans as 1/0, null; arrays and objects as their JSON text). Without
//! params the SQL goes as a plain text query, as the Go driver sends it.
//!
//! As with the Go driver, one SQL is one statement unless the DSN says `multiStatements=true`:
//! without it, SQL holding several statements fails with the server's syntax error before any
//! of them runs (`Mysql::one_statement`).
//!
//! `query` answers a JSON array of objects keyed by column name (keys sorted), as Dapr's: a
//! NULL column is left out of its row, as Dapr does; integers and floats are numbers,
//! DECIMAL, TIME and JSON columns strings, DATE/DATETIME/TIMESTAMP RFC 3339 in `loc`, text
//! strings, binary columns (BLOB, BINARY, ...) base64, BIT a number. No rows is `[]`.
//! Response metadata: `operation`, `sql`, `start-time`, `end-time`, `duration`, and
//! `rows-affected` for `exec`. `close` closes the pool; later calls answer `Closed`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{NaiveDate, NaiveDateTime, TimeZone};
use mysql_async::consts::ColumnType;
use mysql_async::prelude::Queryable;
use mysql_async::{
    Column, Conn, DriverError, Opts, OptsBuilder, Params, Pool, PoolConstraints, PoolOpts, Row,
    SslOpts, Value,
};

use super::{json_params, required_sql, timed, Json, Param};
use crate::binding::{declare, Settings};
use crate::binding::{BindingParts, InvokeRequest, InvokeResponse, OutputBinding};
use crate::bindings::common::gotext::{base64, rfc3339_nano};
use crate::bindings::common::tls::rustls::pki_types::CertificateDer;
use crate::bindings::common::tls::{read_pem_certs, TlsTrouble};
use crate::component::values::{parse_go_bool, unescape};
use crate::error::source_chain;
use crate::error::{Error, ErrorKind, Result};

/// The Go driver's defaults: 2 idle connections kept; bindery caps open ones at 10 unless
/// `maxOpenConns` says otherwise (Go has no cap).
const DEFAULT_MAX_IDLE: usize = 2;
const DEFAULT_MAX_OPEN: usize = 10;

/// Go driver parameters with nothing to act on here.
const IGNORED_PARAMS: &[&str] = &[
    "allowAllFiles",
    "allowNativePasswords",
    "allowOldPasswords",
    "checkConnLiveness",
    "columnsWithAlias",
    "compress",
    "connectionAttributes",
    "interpolateParams",
    "parseTime",
    "readTimeout",
    "rejectReadOnly",
    "serverPubKey",
    "timeTruncate",
    "timeout",
    "writeTimeout",
];

declare!("mysql.metadata.yaml", build);

/// Where times are read in (the DSN's `loc`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Loc {
    Utc,
    Local,
}

/// A Go MySQL driver DSN, taken apart.
#[derive(Debug, Clone, PartialEq)]
struct Dsn {
    user: Option<String>,
    pass: Option<String>,
    /// `Tcp(host, port)` or a unix socket path.
    addr: Addr,
    db: Option<String>,
    loc: Loc,
    init: Vec<String>,
    client_found_rows: bool,
    cleartext: bool,
    max_allowed_packet: Option<usize>,
    tls: Tls,
    /// `allowFallbackToPlaintext`: plain when the server does not offer TLS.
    fallback: bool,
    /// `multiStatements`: several statements in one SQL (off by default, as in the Go driver).
    multi_statements: bool,
}

/// The DSN's `tls`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tls {
    /// `false` (or none): plain.
    Off,
    /// `preferred`: TLS without checks when the server offers it, else plain.
    Preferred,
    /// `skip-verify`: TLS without checking the certificate.
    SkipVerify,
    /// `true`: TLS, the certificate checked against the system's CAs and the host name.
    Verify,
    /// `custom`: TLS, the certificate checked against `pemPath` and the host name.
    Custom,
}

#[derive(Debug, Clone, PartialEq)]
enum Addr {
    Tcp(String, u16),
    Unix(String),
}

/// `host:port` (`[v6]:port`), adding MySQL's port 3306 when none is given.
fn tcp_addr(addr: &str) -> std::result::Result<(String, u16), String> {
    let (host, port) = if let Some(rest) = addr.strip_prefix('[') {
        let (h, after) = rest
            .split_once(']')
            .ok_or("the address has an unclosed '['")?;
        (h.to_string(), after.strip_prefix(':'))
    } else if addr.matches(':').count() == 1 {
        let (h, p) = addr.split_once(':').unwrap_or((addr, ""));
        (h.to_string(), Some(p))
    } else {
        (addr.to_string(), None)
    };
    let port = match port {
        Some(p) => p
            .parse()
            .map_err(|_| format!("the port {p:?} is not a port number"))?,
        None => 3306,
    };
    Ok((host, port))
}

impl Dsn {
    /// Parse the Go driver's DSN. Errors never quote the DSN (it holds the password).
    fn parse(dsn: &str) -> std::result::Result<Dsn, String> {
        let dsn = dsn.trim();
        let slash = dsn
            .rfind('/')
            .ok_or("invalid DSN: missing the slash separating the database name")?;
        let (prefix, rest) = (&dsn[..slash], &dsn[slash + 1..]);
        let (userpass, netaddr) = match prefix.rfind('@') {
            Some(at) => (Some(&prefix[..at]), &prefix[at + 1..]),
            None => (None, prefix),
        };
        let (user, pass) = match userpass {
            Some(up) => match up.split_once(':') {
                Some((u, p)) => (Some(u.to_string()), Some(p.to_string())),
                None => (Some(up.to_string()), None),
            },
            None => (None, None),
        };
        let (net, addr) = match netaddr.find('(') {
            Some(open) => {
                if !netaddr.ends_with(')') {
                    return Err("invalid DSN: the network address is not closed with ')'".into());
                }
                (&netaddr[..open], &netaddr[open + 1..netaddr.len() - 1])
            }
            None => (netaddr, ""),
        };
        let addr = match net {
            "" | "tcp" | "tcp4" | "tcp6" => {
                let a = if addr.is_empty() { "127.0.0.1:3306" } else { addr };
                let (h, p) = tcp_addr(a).map_err(|e| format!("invalid DSN: {e}"))?;
                Addr::Tcp(h, p)
            }
            "unix" => Addr::Unix(if addr.is_empty() {
                "/tmp/mysql.sock".into()
            } else {
                addr.into()
            }),
            other => {
                return Err(format!(
                    "invalid DSN: network {:?} is not supported (use tcp(host:port) or unix(/path/to/socket))",
                    crate::redact::word(other)
                ))
            }
        };
        let (db, query) = rest.split_once('?').unwrap_or((rest, ""));
        let db = unescape(db, false)
            .ok_or("invalid DSN: the database name is not valid percent-encoding")?;
        let mut out = Dsn {
            user,
            pass,
            addr,
            db: (!db.is_empty()).then_some(db),
            loc: Loc::Utc,
            init: Vec::new(),
            client_found_rows: false,
            cleartext: false,
            max_allowed_packet: None,
            tls: Tls::Off,
            fallback: false,
            multi_statements: false,
        };
        let mut charset = None;
        let mut collation = None;
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair
                .split_once('=')
                .ok_or("invalid DSN: a parameter has no '=' and value")?;
            let v = unescape(v, true).ok_or_else(|| {
                format!("invalid DSN: the value of {k} is not valid percent-encoding")
            })?;
            let flag =
                || parse_go_bool(&v).map_err(|_| format!("invalid DSN: {k}={v} is not a boolean"));
            match k {
                "tls" => {
                    out.tls = match v.as_str() {
                        "preferred" => Tls::Preferred,
                        "skip-verify" => Tls::SkipVerify,
                        "custom" => Tls::Custom,
                        other => match parse_go_bool(other) {
                            Ok(true) => Tls::Verify,
                            Ok(false) => Tls::Off,
                            Err(_) => {
                                return Err(format!(
                                    "invalid DSN: tls={other} is not a TLS setting; use true, false, skip-verify, preferred, or custom (with pemPath)"
                                ))
                            }
                        },
                    }
                }
                "allowFallbackToPlaintext" => out.fallback = flag()?,
                "multiStatements" => out.multi_statements = flag()?,
                "loc" => {
                    out.loc = match v.as_str() {
                        "UTC" => Loc::Utc,
                        "Local" => Loc::Local,
                        other => {
                            return Err(format!(
                                "loc={other} is not supported; use loc=UTC (the default) or loc=Local"
                            ))
                        }
                    }
                }
                "clientFoundRows" => out.client_found_rows = flag()?,
                "allowCleartextPasswords" => out.cleartext = flag()?,
                "maxAllowedPacket" => {
                    let n: usize = v
                        .parse()
                        .map_err(|_| format!("invalid DSN: maxAllowedPacket={v} is not a number"))?;
                    out.max_allowed_packet = (n > 0).then_some(n);
                }
                "charset" => charset = v.split(',').next().map(str::to_string),
                "collation" => collation = Some(v),
                k if IGNORED_PARAMS.contains(&k) => {}
                k => {
                    if !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                        return Err(format!("invalid DSN: parameter {k:?} is not a system variable name"));
                    }
                    out.init.push(format!("SET {k}={v}"));
                }
            }
        }
        let charset = charset.filter(|c| !c.is_empty());
        match (charset, collation) {
            (Some(cs), Some(co)) => out.init.insert(0, format!("SET NAMES {cs} COLLATE {co}")),
            (Some(cs), None) => out.init.insert(0, format!("SET NAMES {cs}")),
            (None, Some(co)) => out
                .init
                .insert(0, format!("SET collation_connection = {co}")),
            (None, None) => {}
        }
        Ok(out)
    }
}

fn build(s: &mut Settings) -> Result<BindingParts> {
    let dsn = s.parse(
        "url",
        "write it as the Go MySQL driver takes it: user:password@tcp(host:3306)/dbname",
        |url| Dsn::parse(url).map_err(|e| format!("url is not a usable MySQL DSN: {e}")),
    );
    if dsn.as_ref().is_some_and(|d| d.tls == Tls::Custom) && s.text("pemPath").is_none() {
        s.problem(
            "url",
            "the url asks for tls=custom, the TLS config made from pemPath, but pemPath is not set",
            "add `- name: pemPath` with the path of the CA's PEM file, or use tls=true to trust this machine's CAs",
        );
    }
    for field in ["maxIdleConns", "maxOpenConns"] {
        if let Some(n) = s.int(field).filter(|n| *n > 100_000) {
            s.problem(
                field,
                format!("{field} {n} is far more connections than a server takes"),
                "use a number such as 10",
            );
        }
    }
    let (Some(dsn), true) = (dsn, s.ok()) else {
        return Ok(BindingParts::default());
    };
    let dur = |f: &str| s.duration(f).filter(|d| !d.is_zero());
    let max_open = s
        .int("maxOpenConns")
        .filter(|n| *n > 0)
        .map_or(DEFAULT_MAX_OPEN, |n| n as usize);
    let max_idle = match s.int("maxIdleConns") {
        Some(n) if n > 0 => n as usize,
        Some(_) => 0,
        None => DEFAULT_MAX_IDLE,
    }
    .min(max_open);
    let mut pool_opts =
        PoolOpts::default().with_constraints(PoolConstraints::new(max_idle, max_open).ok_or_else(
            || Error::invalid_argument("maxIdleConns and maxOpenConns do not make a pool"),
        )?);
    if let Some(idle) = dur("connMaxIdleTime") {
        pool_opts = pool_opts
            .with_inactive_connection_ttl(idle)
            .with_ttl_check_interval(idle.clamp(Duration::from_secs(1), Duration::from_secs(30)));
    }
    pool_opts = pool_opts.with_abs_conn_ttl(dur("connMaxLifetime"));
    let mut builder = OptsBuilder::default()
        .user(dsn.user.clone())
        .pass(dsn.pass.clone())
        .db_name(dsn.db.clone())
        .init(dsn.init.clone())
        .client_found_rows(dsn.client_found_rows)
        .enable_cleartext_plugin(dsn.cleartext)
        .max_allowed_packet(dsn.max_allowed_packet)
        .prefer_socket(false)
        .pool_opts(pool_opts);
    let target = match &dsn.addr {
        Addr::Tcp(h, p) => {
            builder = builder.ip_or_hostname(h.clone()).tcp_port(*p);
            if h.contains(':') {
                format!("[{h}]:{p}")
            } else {
                format!("{h}:{p}")
            }
        }
        Addr::Unix(path) => {
            builder = builder.socket(Some(path.clone()));
            path.clone()
        }
    };
    Ok(BindingParts {
        input: None,
        output: Some(Arc::new(Mysql {
            opts: Opts::from(builder),
            tls: dsn.tls,
            fallback: dsn.fallback,
            pem_path: s.text("pemPath").map(str::to_string),
            target,
            loc: dsn.loc,
            multi_statements: dsn.multi_statements,
            state: Mutex::new(State::New),
        })),
    })
}

enum State {
    New,
    Ready(Pool),
    Closed,
}

struct Mysql {
    /// The connection options, without TLS (init adds it).
    opts: Opts,
    tls: Tls,
    fallback: bool,
    /// Dapr's `pemPath`: the CA file of `tls=custom`.
    pem_path: Option<String>,
    target: String,
    loc: Loc,
    /// The DSN's `multiStatements`.
    multi_statements: bool,
    state: Mutex<State>,
}

impl Mysql {
    fn pool(&self) -> Result<Pool> {
        match &*self.state.lock().unwrap() {
            State::Ready(p) => Ok(p.clone()),
            State::New => Err(Error::new(
                ErrorKind::InvalidState,
                "the mysql binding is not initialised",
            )),
            State::Closed => Err(Error::new(
                ErrorKind::Closed,
                "component is closed (a close operation closed its connection pool)",
            )),
        }
    }

    /// The TLS options of the DSN's `tls`; reads `pemPath` or the system's CAs.
    fn ssl_opts(&self) -> std::result::Result<Option<SslOpts>, String> {
        // Each CA as DER bytes (the driver's `PathOrBuf` is not exported: `Vec<u8>` converts).
        let trusting = |certs: Vec<CertificateDer<'static>>| {
            SslOpts::default()
                .with_disable_built_in_roots(true)
                .with_root_certs(certs.into_iter().map(|c| c.to_vec().into()).collect())
        };
        Ok(match self.tls {
            Tls::Off => None,
            // The driver's built-in roots stay: its verifier needs some, and checks nothing.
            Tls::Preferred | Tls::SkipVerify => {
                Some(SslOpts::default().with_danger_accept_invalid_certs(true))
            }
            Tls::Verify => Some(trusting(crate::bindings::common::tls::system_roots()?)),
            Tls::Custom => {
                let path = self
                    .pem_path
                    .as_deref()
                    .ok_or("tls=custom needs pemPath, the CA's PEM file, which is not set")?;
                Some(trusting(read_pem_certs("pemPath", path)?))
            }
        })
    }

    fn error(&self, context: &str, e: mysql_async::Error) -> Error {
        let text = match &e {
            mysql_async::Error::Server(s) => {
                format!("ERROR {} ({}): {}", s.code, s.state, s.message)
            }
            mysql_async::Error::Io(_) => {
                // The driver wraps the OS error twice; its own words are the useful part.
                let mut inner: &(dyn std::error::Error + 'static) = &e;
                while let Some(next) = inner.source() {
                    inner = next;
                }
                inner.to_string()
            }
            _ => source_chain(&e),
        };
        let mut text = text;
        let mut retryable = match &e {
            // Deadlock, lock wait timeout, too many connections.
            mysql_async::Error::Server(s) => matches!(s.code, 1213 | 1205 | 1040),
            mysql_async::Error::Io(_) => true,
            mysql_async::Error::Driver(_) => e.is_fatal(),
            _ => false,
        };
        if let Some(trouble) = TlsTrouble::of(&text) {
            text = format!(
                "{text}; {}",
                trouble.explain(
                    if self.tls == Tls::Custom {
                        "give the CA that signed it in pemPath"
                    } else {
                        "add its CA to this machine's trusted CAs (the system's store, or SSL_CERT_FILE), or give it in pemPath with tls=custom"
                    },
                    "use tls=skip-verify, which encrypts without checking the certificate"
                )
            );
            retryable = false;
        } else if matches!(
            e,
            mysql_async::Error::Driver(DriverError::NoClientSslFlagFromServer)
        ) {
            text.push_str("; TLS: the server does not take TLS connections; use tls=preferred or remove tls from the url, or set allowFallbackToPlaintext=true");
            retryable = false;
        } else if self.tls == Tls::Off {
            if let mysql_async::Error::Server(s) = &e {
                // MariaDB answers "access denied" to a plain connection when it requires
                // TLS; MySQL says so (3159).
                if matches!(s.code, 1045 | 3159) {
                    text.push_str("; if the user and password are right and the server takes TLS connections only (require_secure_transport), add tls=true (or tls=custom with pemPath, or tls=skip-verify) to the url");
                }
            }
        }
        Error::upstream(context.to_string())
            .with_source(text)
            .with_retryable(retryable)
    }

    /// Without `multiStatements`, the Go driver does not let the server run several statements
    /// in one query; mysql_async always does (it asks for CLIENT_MULTI_STATEMENTS and cannot be
    /// told otherwise). So the server first parses the SQL as a prepared statement, which is one
    /// statement or a syntax error (1064, as the Go driver gets) before anything runs. A
    /// statement the server cannot prepare (1295) was parsed whole as one statement, so it runs.
    /// SQL with params is sent as a prepared statement anyway, which refuses several statements.
    async fn one_statement(&self, conn: &mut Conn, sql: &str) -> Result<()> {
        match conn.prep(sql).await {
            Ok(_) => Ok(()),
            Err(mysql_async::Error::Server(e)) if e.code == 1295 => Ok(()),
            Err(e) => {
                let several = matches!(&e, mysql_async::Error::Server(s) if s.code == 1064)
                    && sql.trim_end().trim_end_matches(';').contains(';');
                Err(self.error(
                    if several {
                        "error executing query (one statement at a time: several statements in one SQL need multiStatements=true in the url)"
                    } else {
                        "error executing query"
                    },
                    e,
                ))
            }
        }
    }

    async fn run(
        &self,
        pool: &Pool,
        op: &str,
        sql: &str,
        params: Vec<Value>,
    ) -> Result<InvokeResponse> {
        let mut conn = pool.get_conn().await.map_err(|e| {
            self.error(&format!("unable to connect to MySQL at {}", self.target), e)
        })?;
        let fail = |e| self.error("error executing query", e);
        if params.is_empty() && !self.multi_statements {
            self.one_statement(&mut conn, sql).await?;
        }
        let mut resp = InvokeResponse::default();
        if op == "exec" {
            if params.is_empty() {
                conn.query_drop(sql).await.map_err(fail)?;
            } else {
                conn.exec_drop(sql, Params::Positional(params))
                    .await
                    .map_err(fail)?;
            }
            resp.metadata
                .insert("rows-affected".into(), conn.affected_rows().to_string());
        } else {
            let rows: Vec<Row> = if params.is_empty() {
                let mut result = conn.query_iter(sql).await.map_err(fail)?;
                let rows = result.collect::<Row>().await.map_err(fail)?;
                result.drop_result().await.map_err(fail)?;
                rows
            } else {
                let mut result = conn
                    .exec_iter(sql, Params::Positional(params))
                    .await
                    .map_err(fail)?;
                let rows = result.collect::<Row>().await.map_err(fail)?;
                result.drop_result().await.map_err(fail)?;
                rows
            };
            let out: Vec<Json> = rows.iter().map(|r| row_json(r, self.loc)).collect();
            resp.data = Json::Array(out).to_text().into_bytes();
        }
        Ok(resp)
    }
}

/// A JSON parameter as a MySQL value. An integer beyond 64 bits goes as its digits (text, which
/// the server reads exactly into a DECIMAL and refuses as out of range for an integer column),
/// not as a float that has lost some of them; arrays and objects as their JSON text as written.
fn param_value(p: &Param) -> Value {
    use serde_json::Value as V;
    match &p.value {
        V::Null => Value::NULL,
        V::Bool(b) => Value::Int(i64::from(*b)),
        V::Number(n) => match p.big_integer() {
            Some(digits) => Value::Bytes(digits.as_bytes().to_vec()),
            None => n
                .as_i64()
                .map(Value::Int)
                .or_else(|| n.as_u64().map(Value::UInt))
                .unwrap_or_else(|| Value::Double(n.as_f64().unwrap_or(0.0))),
        },
        V::String(s) => Value::Bytes(s.clone().into_bytes()),
        V::Array(_) | V::Object(_) => Value::Bytes(p.raw.clone().into_bytes()),
    }
}

/// A row as Dapr writes it: an object keyed by column name, NULL columns left out.
fn row_json(row: &Row, loc: Loc) -> Json {
    let mut obj = BTreeMap::new();
    for (i, col) in row.columns_ref().iter().enumerate() {
        if let Some(v) = row.as_ref(i).and_then(|v| cell(col, v, loc)) {
            obj.insert(col.name_str().into_owned(), v);
        }
    }
    Json::Object(obj)
}

const BINARY_CHARSET: u16 = 63;

fn bytes_text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// MySQL's date and time parts: year, month, day, hour, minute, second, microsecond.
type DateParts = (u16, u8, u8, u8, u8, u8, u32);

/// A time in `loc` as RFC 3339 (Go's zero time for MySQL's zero date).
fn date_time((y, mo, d, h, mi, s, us): DateParts, loc: Loc) -> Json {
    if y == 0 && mo == 0 && d == 0 {
        return Json::String("0001-01-01T00:00:00Z".into());
    }
    let naive: Option<NaiveDateTime> =
        NaiveDate::from_ymd_opt(i32::from(y), u32::from(mo), u32::from(d))
            .and_then(|date| date.and_hms_micro_opt(u32::from(h), u32::from(mi), u32::from(s), us));
    let Some(naive) = naive else {
        return Json::String(format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}"));
    };
    match loc {
        Loc::Utc => Json::String(rfc3339_nano(chrono::Utc.from_utc_datetime(&naive))),
        Loc::Local => match chrono::Local.from_local_datetime(&naive).earliest() {
            Some(t) => Json::String(rfc3339_nano(t)),
            None => Json::String(rfc3339_nano(chrono::Utc.from_utc_datetime(&naive))),
        },
    }
}

/// MySQL's text form of a DATE/DATETIME/TIMESTAMP: `2024-01-02` or `2024-01-02 03:04:05.5`.
fn parse_date_time(text: &str, loc: Loc) -> Option<Json> {
    let (date, time) = text.split_once(' ').unwrap_or((text, "00:00:00"));
    let mut d = date.split('-').map(|p| p.parse::<u32>().ok());
    let (y, mo, day) = (d.next()??, d.next()??, d.next()??);
    let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
    let mut t = hms.split(':').map(|p| p.parse::<u32>().ok());
    let (h, mi, s) = (t.next()??, t.next()??, t.next()??);
    let us = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<6}").get(..6)?.parse().ok()?
    };
    Some(date_time(
        (
            y as u16, mo as u8, day as u8, h as u8, mi as u8, s as u8, us,
        ),
        loc,
    ))
}

/// One column value as JSON; `None` for NULL.
fn cell(col: &Column, v: &Value, loc: Loc) -> Option<Json> {
    use ColumnType::*;
    if matches!(v, Value::NULL) {
        return None;
    }
    let ty = col.column_type();
    // Bytes of a string or blob column with the binary character set are not text.
    let binary = col.character_set() == BINARY_CHARSET
        && matches!(
            ty,
            MYSQL_TYPE_STRING
                | MYSQL_TYPE_VAR_STRING
                | MYSQL_TYPE_VARCHAR
                | MYSQL_TYPE_TINY_BLOB
                | MYSQL_TYPE_MEDIUM_BLOB
                | MYSQL_TYPE_LONG_BLOB
                | MYSQL_TYPE_BLOB
                | MYSQL_TYPE_GEOMETRY
                | MYSQL_TYPE_VECTOR
                | MYSQL_TYPE_BIT
        );
    Some(match (ty, v) {
        (
            MYSQL_TYPE_TINY | MYSQL_TYPE_SHORT | MYSQL_TYPE_LONG | MYSQL_TYPE_INT24
            | MYSQL_TYPE_LONGLONG | MYSQL_TYPE_YEAR,
            _,
        ) => match v {
            Value::Int(i) => Json::Number(i.to_string()),
            Value::UInt(u) => Json::Number(u.to_string()),
            Value::Bytes(b) => {
                let t = bytes_text(b);
                if !t.is_empty()
                    && t.trim_start_matches('-')
                        .chars()
                        .all(|c| c.is_ascii_digit())
                {
                    Json::Number(t)
                } else {
                    Json::String(t)
                }
            }
            other => generic(other, binary),
        },
        (MYSQL_TYPE_FLOAT, Value::Float(f)) => Json::float32(*f),
        (MYSQL_TYPE_FLOAT | MYSQL_TYPE_DOUBLE, Value::Double(f)) => Json::float(*f),
        (MYSQL_TYPE_FLOAT, Value::Bytes(b)) => match bytes_text(b).parse::<f32>() {
            Ok(f) => Json::float32(f),
            Err(_) => Json::String(bytes_text(b)),
        },
        (MYSQL_TYPE_DOUBLE, Value::Bytes(b)) => match bytes_text(b).parse::<f64>() {
            Ok(f) => Json::float(f),
            Err(_) => Json::String(bytes_text(b)),
        },
        (MYSQL_TYPE_DECIMAL | MYSQL_TYPE_NEWDECIMAL, Value::Bytes(b)) => {
            Json::String(bytes_text(b))
        }
        (
            MYSQL_TYPE_DATE
            | MYSQL_TYPE_NEWDATE
            | MYSQL_TYPE_DATETIME
            | MYSQL_TYPE_DATETIME2
            | MYSQL_TYPE_TIMESTAMP
            | MYSQL_TYPE_TIMESTAMP2,
            _,
        ) => match v {
            Value::Date(y, mo, d, h, mi, s, us) => date_time((*y, *mo, *d, *h, *mi, *s, *us), loc),
            Value::Bytes(b) => {
                let t = bytes_text(b);
                parse_date_time(&t, loc).unwrap_or(Json::String(t))
            }
            other => generic(other, binary),
        },
        (MYSQL_TYPE_TIME | MYSQL_TYPE_TIME2, Value::Time(neg, days, h, m, s, us)) => {
            let hours = u64::from(*days) * 24 + u64::from(*h);
            let mut t = format!("{}{hours:02}:{m:02}:{s:02}", if *neg { "-" } else { "" });
            let digits = usize::from(col.decimals()).min(6);
            if digits > 0 {
                t.push('.');
                t.push_str(&format!("{us:06}")[..digits]);
            }
            Json::String(t)
        }
        (MYSQL_TYPE_TIME | MYSQL_TYPE_TIME2, Value::Bytes(b)) => Json::String(bytes_text(b)),
        (MYSQL_TYPE_BIT, Value::Bytes(b)) if b.len() <= 8 => Json::Number(
            b.iter()
                .fold(0u64, |acc, x| (acc << 8) | u64::from(*x))
                .to_string(),
        ),
        (MYSQL_TYPE_JSON, Value::Bytes(b)) => Json::String(bytes_text(b)),
        (_, other) => generic(other, binary),
    })
}

/// A value by its own kind: text as a string (binary as base64), numbers as numbers.
fn generic(v: &Value, binary: bool) -> Json {
    match v {
        Value::NULL => Json::Null,
        Value::Bytes(b) if binary => Json::String(base64(b)),
        Value::Bytes(b) => Json::String(bytes_text(b)),
        Value::Int(i) => Json::Number(i.to_string()),
        Value::UInt(u) => Json::Number(u.to_string()),
        Value::Float(f) => Json::float32(*f),
        Value::Double(f) => Json::float(*f),
        Value::Date(y, mo, d, h, mi, s, us) => date_time((*y, *mo, *d, *h, *mi, *s, *us), Loc::Utc),
        Value::Time(neg, days, h, m, s, us) => Json::String(format!(
            "{}{:02}:{m:02}:{s:02}.{us:06}",
            if *neg { "-" } else { "" },
            u64::from(*days) * 24 + u64::from(*h)
        )),
    }
}

#[async_trait]
impl OutputBinding for Mysql {
    async fn init(&self) -> Result<()> {
        if !matches!(*self.state.lock().unwrap(), State::New) {
            return Ok(());
        }
        let ssl = self.ssl_opts().map_err(|e| {
            Error::new(
                ErrorKind::InvalidConfig,
                format!("cannot set up TLS for MySQL at {}: {e}", self.target),
            )
        })?;
        if ssl.is_some() {
            crate::bindings::common::tls::ensure_provider();
        }
        let context = match ssl {
            Some(_) => format!("unable to ping the DB at {} over TLS", self.target),
            None => format!("unable to ping the DB at {}", self.target),
        };
        let with_tls = OptsBuilder::from_opts(self.opts.clone()).ssl_opts(ssl.clone());
        // Connect and ping now, so a wrong address or password fails the start.
        let mut pool = Pool::new(with_tls);
        if let Err(e) = ping(&pool).await {
            let _ = pool.disconnect().await;
            let plain_allowed = self.tls == Tls::Preferred || self.fallback;
            let no_tls = matches!(
                e,
                mysql_async::Error::Driver(DriverError::NoClientSslFlagFromServer)
            );
            if !(ssl.is_some() && plain_allowed && no_tls) {
                return Err(self.error(&context, e));
            }
            // The server offers no TLS, and the DSN allows plain connections.
            pool = Pool::new(self.opts.clone());
            if let Err(e) = ping(&pool).await {
                let _ = pool.disconnect().await;
                return Err(self.error(&format!("unable to ping the DB at {}", self.target), e));
            }
        }
        let mut state = self.state.lock().unwrap();
        match *state {
            State::New => *state = State::Ready(pool),
            _ => drop(tokio::spawn(pool.disconnect())),
        }
        Ok(())
    }

    async fn invoke(&self, req: InvokeRequest) -> Result<InvokeResponse> {
        let op = req.operation.as_str();
        if op == "close" {
            self.close().await?;
            return Ok(InvokeResponse::default());
        }
        // Only exec and query are left: the runtime lets no other operation through.
        let sql = required_sql(&req.metadata)?;
        let params: Vec<Value> = json_params(&req.metadata)?
            .iter()
            .map(param_value)
            .collect();
        let pool = self.pool()?;
        timed(op, &sql, self.run(&pool, op, &sql, params)).await
    }

    async fn close(&self) -> Result<()> {
        let old = std::mem::replace(&mut *self.state.lock().unwrap(), State::Closed);
        if let State::Ready(pool) = old {
            let _ = pool.disconnect().await;
        }
        Ok(())
    }
}

/// Connect and ping.
async fn ping(pool: &Pool) -> mysql_async::Result<()> {
    let mut conn = pool.get_conn().await?;
    conn.ping().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_dsns_parse() {
        let d = Dsn::parse(
            "root:p@ss:w0rd@tcp(db.example:3307)/orders?parseTime=true&loc=Local&sql_mode=ANSI",
        )
        .unwrap();
        assert_eq!(d.user.as_deref(), Some("root"));
        assert_eq!(d.pass.as_deref(), Some("p@ss:w0rd"));
        assert_eq!(d.addr, Addr::Tcp("db.example".into(), 3307));
        assert_eq!(d.db.as_deref(), Some("orders"));
        assert_eq!(d.loc, Loc::Local);
        assert_eq!(d.init, vec!["SET sql_mode=ANSI".to_string()]);

        let d = Dsn::parse("u@tcp(localhost)/").unwrap();
        assert_eq!(d.addr, Addr::Tcp("localhost".into(), 3306));
        assert_eq!(d.pass, None);
        assert_eq!(d.db, None);

        let d = Dsn::parse("/test").unwrap();
        assert_eq!(d.addr, Addr::Tcp("127.0.0.1".into(), 3306));
        let d = Dsn::parse("u:p@unix(/run/mysqld/mysqld.sock)/test?charset=utf8mb4").unwrap();
        assert_eq!(d.addr, Addr::Unix("/run/mysqld/mysqld.sock".into()));
        assert_eq!(d.init, vec!["SET NAMES utf8mb4".to_string()]);

        assert!(Dsn::parse("root:secret@tcp(h:3306)")
            .unwrap_err()
            .contains("slash"));
        for (tls, want) in [
            ("true", Tls::Verify),
            ("1", Tls::Verify),
            ("false", Tls::Off),
            ("skip-verify", Tls::SkipVerify),
            ("preferred", Tls::Preferred),
            ("custom", Tls::Custom),
        ] {
            let d = Dsn::parse(&format!("root:secret@tcp(h:3306)/db?tls={tls}")).unwrap();
            assert_eq!(d.tls, want, "{tls}");
        }
        let e = Dsn::parse("root:secret@tcp(h:3306)/db?tls=mine").unwrap_err();
        assert!(e.contains("tls=mine") && !e.contains("secret"), "{e}");
    }

    #[test]
    fn multi_statements_is_off_unless_the_dsn_turns_it_on() {
        let dsn = |q: &str| Dsn::parse(&format!("root:@tcp(h:3306)/db{q}"));
        assert!(!dsn("").unwrap().multi_statements);
        assert!(!dsn("?multiStatements=false").unwrap().multi_statements);
        assert!(dsn("?multiStatements=true").unwrap().multi_statements);
        assert!(dsn("?multiStatements=1").unwrap().multi_statements);
        assert!(dsn("?multiStatements=maybe").is_err());
        assert!(dsn("?multiStatements=true").unwrap().init.is_empty());
    }

    #[test]
    fn text_times_become_rfc3339() {
        assert_eq!(
            parse_date_time("2024-01-02 03:04:05.120000", Loc::Utc).unwrap(),
            Json::String("2024-01-02T03:04:05.12Z".into())
        );
        assert_eq!(
            parse_date_time("2024-01-02", Loc::Utc).unwrap(),
            Json::String("2024-01-02T00:00:00Z".into())
        );
        assert_eq!(
            parse_date_time("0000-00-00 00:00:00", Loc::Utc).unwrap(),
            Json::String("0001-01-01T00:00:00Z".into())
        );
    }
}
