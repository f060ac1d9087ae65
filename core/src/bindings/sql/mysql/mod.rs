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

mod dsn;
mod rows;

use dsn::*;
use rows::*;

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

use super::{statement, timed, Json, Param};
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

declare!("metadata.yaml", build);

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
        let Some((op, sql, params)) = statement(&req)? else {
            self.close().await?;
            return Ok(InvokeResponse::default());
        };
        let params: Vec<Value> = params.iter().map(param_value).collect();
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
