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

mod connstr;
mod params;
mod rows;
mod verify;

use connstr::*;
use params::*;
use rows::*;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime};
use tokio_postgres::config::SslMode;
use tokio_postgres::types::{FromSql, IsNull, Kind, ToSql, Type};
use tokio_postgres_rustls::MakeRustlsConnect;
use tokio_util::bytes::BytesMut;

use super::{json_kind, statement, timed, Json, Param};
use crate::binding::{declare, Settings};
use crate::binding::{BindingParts, InvokeRequest, InvokeResponse, OutputBinding};
use crate::bindings::common::gotext::{base64, rfc3339_nano};
use crate::bindings::common::tls::{parse_pem_pair, read_pem_certs, rustls, TlsTrouble};
use crate::component::values::parse_go_duration;
use crate::error::source_chain;
use crate::error::{Error, ErrorKind, Result};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;

/// Dapr's default timeout for database operations.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);

declare!("metadata.yaml", build);

/// Dapr's separate connection fields (Dapr 1.16) and the connection string keys they set:
/// each replaces its key in `connectionString`, or is added to it.
const CONNECTION_FIELDS: [(&str, &str); 7] = [
    ("host", "host"),
    ("hostaddr", "hostaddr"),
    ("port", "port"),
    ("database", "database"),
    ("user", "user"),
    ("password", "password"),
    ("sslRootCert", "sslrootcert"),
];

/// Fields Dapr reads only with `useAzureAD` or `useAWSIAM` (its built-in authentication
/// profiles), which bindery refuses.
const AZURE_AD_FIELDS: &[&str] = &[
    "azureClientId",
    "azureClientSecret",
    "azureTenantId",
    "azureCertificate",
    "azureCertificateFile",
    "azureCertificatePassword",
    "azureEnvironment",
];
const AWS_IAM_FIELDS: &[&str] = &[
    "region",
    "awsRegion",
    "accessKey",
    "awsAccessKey",
    "secretKey",
    "awsSecretKey",
    "sessionToken",
    "assumeRoleArn",
    "sessionName",
    "trustAnchorArn",
    "trustProfileArn",
];

fn build(s: &mut Settings) -> Result<BindingParts> {
    let conn = s.text("connectionString");
    let mut anchor = conn.map(|_| "connectionString");
    let mut overrides: Vec<(&str, String)> = Vec::new();
    for (field, key) in CONNECTION_FIELDS {
        if let Some(v) = s.text(field) {
            anchor.get_or_insert(field);
            overrides.push((key, v.to_string()));
        }
    }
    // Required, under its name or Dapr's older `url` (an alias in the declaration), unless the
    // separate fields say where to connect; a problem is reported at the first of them given.
    let Some(anchor) = anchor else {
        s.component_problem(
            "bindings.postgresql needs the metadata field \"connectionString\" (or host, port, database, user and password)",
            "add `- name: connectionString` with `value: \"host=localhost user=postgres password=secret port=5432 dbname=app\"` (or a postgres:// URL) under spec.metadata, best from a secretKeyRef",
        );
        return Ok(BindingParts::default());
    };
    let what = match conn {
        Some(_) => format!("{} is", s.written("connectionString")),
        None => "the connection fields are".to_string(),
    };
    let parsed = s.parse(
        anchor,
        "write key=value pairs (host=localhost port=5432 user=postgres dbname=app) or a URL (postgres://user:password@localhost:5432/app)",
        |_| {
            ConnString::parse_with(conn.unwrap_or(""), &overrides).map_err(|e| {
                format!("{what} not a usable PostgreSQL connection string: {e}")
            })
        },
    );
    s.only_with("useAzureAD", AZURE_AD_FIELDS);
    s.only_with("useAWSIAM", AWS_IAM_FIELDS);
    for field in ["useAzureAD", "useAWSIAM"] {
        if s.flag(field, false) {
            s.problem(
                field,
                format!("{field} authentication is not supported by bindery's bindings.postgresql"),
                "put the user and password in connectionString (from a secretKeyRef) and set this to false",
            );
        }
    }
    let (Some(parsed), true) = (parsed, s.ok()) else {
        return Ok(BindingParts::default());
    };
    let timeout = s
        .duration("timeout")
        .filter(|t| !t.is_zero())
        .unwrap_or(DEFAULT_TIMEOUT);
    // Dapr: maxConns above 1 wins; else pool_max_conns; else the greater of 4 and the CPUs.
    let max_conns = s
        .int("maxConns")
        .filter(|n| *n > 1)
        .map(|n| n as usize)
        .or(parsed.max_conns)
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
                .max(4)
        });
    let max_idle = s
        .duration("connectionMaxIdleTime")
        .or(parsed.max_idle)
        .filter(|d| !d.is_zero());
    let mut config = parsed.config;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(timeout);
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
                .with_source(text)
                .with_retryable(retryable);
        }
        let mut text = source_chain(e);
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
            other => Error::upstream(context.to_string()).with_source(other.to_string()),
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
                        idle.is_none_or(|i| m.last_used() < i) && life.is_none_or(|l| m.age() < l)
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
        let Some((op, sql, params)) = statement(&req)? else {
            // Like Dapr: close the pool; no response. Closing twice is fine.
            self.close().await?;
            return Ok(InvokeResponse::default());
        };
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
