//! The connection string, as pgx reads it: key=value pairs or a URL, pgx's pool options,
//! run-time parameters, and the TLS settings (`sslmode`, `sslrootcert`, ...).

use super::*;
use crate::component::values::unescape;
use crate::redact::percent_encode;

/// Options tokio-postgres reads from a connection string itself.
pub(super) const TOKIO_POSTGRES_KEYS: &[&str] = &[
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
pub(super) const IGNORED_KEYS: &[&str] = &[
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
pub(super) struct ConnString {
    pub(super) config: tokio_postgres::Config,
    pub(super) max_conns: Option<usize>,
    pub(super) max_lifetime: Option<Duration>,
    pub(super) max_idle: Option<Duration>,
    pub(super) tls: TlsSettings,
}

/// How the server's certificate is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verify {
    /// Not at all (`prefer`, `allow`, `require` without `sslrootcert`).
    Nothing,
    /// Signed by a trusted CA (`verify-ca`, `require` with `sslrootcert`).
    Ca,
    /// Signed by a trusted CA and issued for the host (`verify-full`).
    Full,
}

/// The TLS options of a connection string; files are read at init.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct TlsSettings {
    pub(super) verify: Verify,
    /// `sslrootcert`: a PEM file of CAs, or `system`.
    pub(super) root_cert: Option<String>,
    /// `sslcert` and `sslkey`: PEM files.
    pub(super) client: Option<(String, String)>,
    /// `sslsni`: send the server name (default yes).
    pub(super) sni: bool,
}

impl ConnString {
    /// Parse a key=value or URL connection string. Errors never quote a value (the string
    /// holds the password).
    #[cfg(test)]
    pub(super) fn parse(s: &str) -> std::result::Result<ConnString, String> {
        Self::parse_with(s, &[])
    }

    /// Parse a connection string with Dapr's separate connection fields merged in as Dapr
    /// merges them: each `(key, value)` replaces that key of a key=value string or is added
    /// to it; in a URL, `user`, `password`, `host`, `hostaddr`, `port` and `database` replace
    /// those parts, and `sslrootcert` the option.
    pub(super) fn parse_with(
        s: &str,
        overrides: &[(&str, String)],
    ) -> std::result::Result<ConnString, String> {
        let s = s.trim();
        let is_url = s.starts_with("postgres://") || s.starts_with("postgresql://");
        let mut base = s.split_once('?').map(|(b, _)| b).unwrap_or(s).to_string();
        let mut pairs = if is_url {
            url_pairs(s)?
        } else {
            key_value_pairs(s)?
        };
        for (key, value) in overrides {
            if is_url && *key != "sslrootcert" {
                continue;
            }
            // `database` and libpq's `dbname` are one option.
            let same = |k: &str| k == *key || (*key == "database" && k == "dbname");
            pairs.retain(|(k, _, _)| !same(k));
            pairs.push((
                key.to_string(),
                value.clone(),
                format!("{key}={}", percent_encode(value)),
            ));
        }
        if is_url {
            base = url_with(&base, overrides)?;
        }
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
            // pgx takes `database` as well as libpq's `dbname` (Dapr's certification
            // components write `database=`); tokio-postgres knows only `dbname`.
            let (key, raw) = match key.as_str() {
                "database" => ("dbname".to_string(), raw.replacen("database", "dbname", 1)),
                _ => (key, raw),
            };
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
        // tokio-postgres's parse errors name options, not values (and the connection
        // string's password is scrubbed from every message anyway: it is sensitive).
        let mut config: tokio_postgres::Config = text
            .parse()
            .map_err(|e: tokio_postgres::Error| source_chain(&e))?;
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

/// A postgres:// URL without its options (`base`), with the separate fields' user, password,
/// host (or hostaddr), port and database in place of its own.
fn url_with(base: &str, overrides: &[(&str, String)]) -> std::result::Result<String, String> {
    let get = |key: &str| overrides.iter().find(|(k, _)| *k == key).map(|(_, v)| v);
    let (scheme, rest) = base.split_once("://").ok_or("not a URL")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let (userinfo, hosts) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    let (user, password) = match userinfo {
        Some(u) => match u.split_once(':') {
            Some((n, p)) => (n.to_string(), Some(p.to_string())),
            None => (u.to_string(), None),
        },
        None => (String::new(), None),
    };
    let user = get("user").map(|u| percent_encode(u)).unwrap_or(user);
    let password = get("password").map(|p| percent_encode(p)).or(password);
    let mut hosts = match get("hostaddr").or(get("host")) {
        Some(h) => h.clone(),
        None => hosts.to_string(),
    };
    if let Some(port) = get("port") {
        // Each host without the port it had (an IPv6 address keeps its brackets).
        hosts = hosts
            .split(',')
            .map(|h| {
                let bare = match h.rfind(':') {
                    Some(i) if !h[i..].contains(']') => &h[..i],
                    _ => h,
                };
                format!("{bare}:{port}")
            })
            .collect::<Vec<_>>()
            .join(",");
    }
    let path = match get("database") {
        Some(db) => format!("/{}", percent_encode(db.trim_start_matches('/'))),
        None => path.to_string(),
    };
    let userinfo = match (user.is_empty(), password) {
        (true, None) => String::new(),
        (_, None) => format!("{user}@"),
        (_, Some(p)) => format!("{user}:{p}@"),
    };
    Ok(format!("{scheme}://{userinfo}{hosts}{path}"))
}

/// The query options of a postgres:// URL as (key, decoded value, raw `k=v` text).
pub(super) fn url_pairs(s: &str) -> std::result::Result<Vec<(String, String, String)>, String> {
    let Some((_, query)) = s.split_once('?') else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for raw in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = raw.split_once('=').unwrap_or((raw, ""));
        let key = unescape(k, true).ok_or("a URL option name is not valid percent-encoding")?;
        let value = unescape(v, true).ok_or_else(|| {
            format!("the value of the URL option {key} is not valid percent-encoding")
        })?;
        out.push((key, value, raw.to_string()));
    }
    Ok(out)
}

/// The pairs of a libpq key=value string (`host=h port=5432 password='a b\'c'`).
pub(super) fn key_value_pairs(
    s: &str,
) -> std::result::Result<Vec<(String, String, String)>, String> {
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

#[cfg(test)]
mod tests {
    use super::*;

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

    /// Dapr's certification components name the database `database=`, as pgx takes it; it is
    /// the database, not a run-time parameter for the server.
    #[test]
    fn database_is_the_database_as_pgx_reads_it() {
        let c = ConnString::parse(
            "host=localhost user=postgres password=example port=5432 connect_timeout=10 database=dapr_test",
        )
        .unwrap();
        assert_eq!(c.config.get_dbname(), Some("dapr_test"));
        assert_eq!(c.config.get_options(), None, "no run-time parameter");
        let c = ConnString::parse("postgres://u@db:5432/?database=app&sslmode=disable").unwrap();
        assert_eq!(c.config.get_dbname(), Some("app"));
        assert_eq!(c.config.get_options(), None);
    }

    /// Dapr 1.16's separate fields replace their part of either form, or are added to it.
    #[test]
    fn separate_fields_merge_into_the_connection_string_as_dapr_merges_them() {
        let with = |s: &str, o: &[(&str, &str)]| {
            let o: Vec<(&str, String)> = o.iter().map(|(k, v)| (*k, v.to_string())).collect();
            ConnString::parse_with(s, &o).unwrap()
        };
        let c = with(
            "host=old port=1 user=u dbname=old password=x",
            &[
                ("host", "db"),
                ("port", "6543"),
                ("database", "app"),
                ("password", "p w'"),
            ],
        );
        assert_eq!(c.config.get_hosts().len(), 1);
        assert_eq!(c.config.get_ports(), &[6543]);
        assert_eq!(c.config.get_dbname(), Some("app"));
        assert_eq!(c.config.get_user(), Some("u"));
        assert_eq!(c.config.get_password(), Some(&b"p w'"[..]));
        // With no connection string at all, the fields are the whole of it.
        let c = with(
            "",
            &[
                ("host", "localhost"),
                ("user", "postgres"),
                ("database", "test"),
            ],
        );
        assert_eq!(c.config.get_dbname(), Some("test"));
        assert_eq!(c.config.get_user(), Some("postgres"));
        let c = with("host=h sslmode=require", &[("sslrootcert", "/ca.pem")]);
        assert_eq!(c.tls.root_cert.as_deref(), Some("/ca.pem"));
        assert_eq!(c.tls.verify, Verify::Ca);

        let c = with(
            "postgres://u:old@h1:5432/olddb?sslmode=disable",
            &[
                ("user", "me@corp"),
                ("password", "p@ss:/"),
                ("host", "db.example"),
                ("port", "6000"),
                ("database", "app"),
                ("sslrootcert", "/ca.pem"),
            ],
        );
        assert_eq!(c.config.get_user(), Some("me@corp"));
        assert_eq!(c.config.get_password(), Some(&b"p@ss:/"[..]));
        assert_eq!(c.config.get_ports(), &[6000]);
        assert_eq!(c.config.get_dbname(), Some("app"));
        assert_eq!(c.tls.root_cert.as_deref(), Some("/ca.pem"));
        assert_eq!(c.config.get_ssl_mode(), SslMode::Disable);
        // A port alone replaces the URL's own.
        let c = with("postgres://u@h:5432/db", &[("port", "7000")]);
        assert_eq!(c.config.get_ports(), &[7000]);
        assert_eq!(c.config.get_user(), Some("u"));
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
}
