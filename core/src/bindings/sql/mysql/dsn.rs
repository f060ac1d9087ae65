//! The DSN, as the Go MySQL driver takes it: `user:password@tcp(host:port)/db?params`.

use super::*;

/// Go driver parameters with nothing to act on here.
pub(super) const IGNORED_PARAMS: &[&str] = &[
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

/// Where times are read in (the DSN's `loc`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Loc {
    Utc,
    Local,
}

/// A Go MySQL driver DSN, taken apart.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Dsn {
    pub(super) user: Option<String>,
    pub(super) pass: Option<String>,
    /// `Tcp(host, port)` or a unix socket path.
    pub(super) addr: Addr,
    pub(super) db: Option<String>,
    pub(super) loc: Loc,
    pub(super) init: Vec<String>,
    pub(super) client_found_rows: bool,
    pub(super) cleartext: bool,
    pub(super) max_allowed_packet: Option<usize>,
    pub(super) tls: Tls,
    /// `allowFallbackToPlaintext`: plain when the server does not offer TLS.
    pub(super) fallback: bool,
    /// `multiStatements`: several statements in one SQL (off by default, as in the Go driver).
    pub(super) multi_statements: bool,
}

/// The DSN's `tls`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Tls {
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
pub(super) enum Addr {
    Tcp(String, u16),
    Unix(String),
}

/// `host:port` (`[v6]:port`), adding MySQL's port 3306 when none is given.
pub(super) fn tcp_addr(addr: &str) -> std::result::Result<(String, u16), String> {
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
    pub(super) fn parse(dsn: &str) -> std::result::Result<Dsn, String> {
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
}
