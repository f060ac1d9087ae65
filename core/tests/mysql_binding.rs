#![cfg(feature = "mysql")]
//! `bindings.mysql` against the real MariaDB on 127.0.0.1:3306 (`tests/servers/start
//! mariadb`: root with an empty password, database test), through `bindery::Runtime`, and its
//! TLS against the TLS-only instance on 127.0.0.1:3307 (`tests/servers/start mariadb-tls`).
//! Every test uses its own tables, so they run in parallel.
//! What every binding does is tested once for all in `behaviour.rs` (`mysql::*`).

use std::time::Duration;

use bindery::{ErrorKind, Runtime};
use serde_json::json;

#[path = "suite/mod.rs"]
mod suite;
use suite::fixtures::mysql::{Mysql, TLS_URL, URL};
use suite::harness::{self, meta as md};
use suite::scenarios::{plain, subject};
use suite::sql::{self, exec, query, raw, table};

const NAME: &str = "mysql";

#[tokio::test]
async fn dsn_parameters_become_session_settings() {
    let url = "root:@tcp(127.0.0.1:3306)/test?parseTime=true&charset=utf8mb4&sql_mode=%27ANSI_QUOTES%27&loc=UTC";
    let (_dir, rt) = subject::<Mysql>(&[
        ("url", url),
        ("maxIdleConns", "2"),
        ("maxOpenConns", "4"),
        ("connMaxLifetime", "1m"),
        ("connMaxIdleTime", "30s"),
        ("pemPath", "/nonexistent/ca.pem"),
    ]);
    assert!(rt.diagnostics().is_empty(), "{:?}", rt.diagnostics());
    let rows = query(
        &rt,
        "SELECT @@SESSION.sql_mode AS mode, @@character_set_client AS cs, DATABASE() AS db",
        json!([]),
    )
    .await;
    assert_eq!(
        rows,
        json!([{"mode": "ANSI_QUOTES", "cs": "utf8mb4", "db": "test"}])
    );
}

/// Unlike PostgreSQL, where the binding counts them, the server refuses a statement given
/// fewer parameters than it has.
#[tokio::test]
async fn params_of_every_common_type_bind_and_columns_come_back_as_json() {
    let (_dir, rt) = plain::<Mysql>().await;
    let t = table("types");
    exec(
        &rt,
        &format!(
            "CREATE TABLE {t} (id INT, tiny TINYINT, flag TINYINT(1), small SMALLINT, big BIGINT, \
             ubig BIGINT UNSIGNED, r FLOAT, d DOUBLE, n DECIMAL(30,10), v VARCHAR(40), \
             txt TEXT, c CHAR(3), blb BLOB, vb VARBINARY(8), dt DATE, dtm DATETIME(6), \
             ts TIMESTAMP NULL, tm TIME(3), yr YEAR, bits BIT(8), js JSON, e ENUM('x','y'), \
             nul VARCHAR(5))"
        ),
        json!([]),
    )
    .await;
    let stmt = format!("INSERT INTO {t} VALUES (?,?,?,?,?,?,?,?,?,?,?,?,UNHEX('DEADBEEF'),UNHEX('00FF'),?,?,?,?,?,b'101',?,?,?)");
    let resp = exec(&rt, &stmt, json!([1, -5, true, 300, 9_007_199_254_740_993_i64, 18_446_744_073_709_551_615_u64, 1.1, 2.25, "12345678901234567890.0123456789", "ünïcödé \"quoted\"", "long text", "ab", "2024-02-29", "2024-01-02 03:04:05.123456", "2024-01-02 03:04:05", "12:34:56.789", 2024, {"a": [1, 2]}, "y", null])).await;
    assert_eq!(resp.metadata["rows-affected"], "1");

    let want = json!([{
        "id": 1,
        "tiny": -5,
        "flag": 1,
        "small": 300,
        "big": 9_007_199_254_740_993_i64,
        "ubig": 18_446_744_073_709_551_615_u64,
        "r": 1.1,
        "d": 2.25,
        "n": "12345678901234567890.0123456789",
        "v": "ünïcödé \"quoted\"",
        "txt": "long text",
        "c": "ab",
        "blb": "3q2+7w==",
        "vb": "AP8=",
        "dt": "2024-02-29T00:00:00Z",
        "dtm": "2024-01-02T03:04:05.123456Z",
        "ts": "2024-01-02T03:04:05Z",
        "tm": "12:34:56.789",
        "yr": 2024,
        "bits": 5,
        "js": "{\"a\":[1,2]}",
        "e": "y"
    }]);
    // Text protocol (no params) and binary protocol (params) read the same.
    let text_rows = query(&rt, &format!("SELECT * FROM {t}"), json!([])).await;
    assert_eq!(text_rows, want, "text protocol");
    let bin_rows = query(&rt, &format!("SELECT * FROM {t} WHERE id = ?"), json!([1])).await;
    assert_eq!(bin_rows, want, "binary protocol");

    // Expressions with params of each JSON kind.
    let rows = query(
        &rt,
        "SELECT ? + 1 AS i, ? AS s, ? * 2 AS f, ? AS b, ? AS n",
        json!([41, "text", 1.25, false, null]),
    )
    .await;
    assert_eq!(rows, json!([{"i": 42, "s": "text", "f": 2.5, "b": 0}]));
    exec(&rt, &format!("DROP TABLE {t}"), json!([])).await;
}

#[tokio::test]
async fn too_few_params_are_the_server_s_error() {
    let (_dir, rt) = plain::<Mysql>().await;
    let err = rt
        .invoke(
            NAME,
            "query",
            Vec::new(),
            md(&[("sql", "SELECT ?, ?"), ("params", "[1]")]),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Upstream, "{err}");
}

/// The cipher of the binding's connection, as the server sees it ("" when plain).
async fn ssl_cipher(rt: &Runtime) -> String {
    let rows = query(rt, "SHOW STATUS LIKE 'Ssl_cipher'", json!([])).await;
    rows[0]["Value"].as_str().unwrap_or_default().to_string()
}

#[tokio::test]
async fn tls_custom_with_pem_path_round_trips_over_tls() {
    let ca = harness::tls_file("ca.crt");
    // By address (the certificate lists 127.0.0.1) and by name.
    for url in [
        format!("{TLS_URL}?tls=custom"),
        "root:@tcp(localhost:3307)/test?tls=custom".to_string(),
    ] {
        let (_dir, rt) = subject::<Mysql>(&[("url", &url), ("pemPath", &ca)]);
        rt.start().await.unwrap_or_else(|e| panic!("{url}: {e}"));
        let cipher = ssl_cipher(&rt).await;
        assert!(!cipher.is_empty(), "{url}: no TLS cipher");
        let rows = sql::one_row_back(&rt, "?, ?").await;
        assert_eq!(rows, json!([{"id": 1, "name": "over tls"}]));
        rt.shutdown(Duration::from_secs(5)).await.unwrap();
    }
}

#[tokio::test]
async fn tls_skip_verify_encrypts_without_a_ca() {
    let url = format!("{TLS_URL}?tls=skip-verify");
    let (_dir, rt) = subject::<Mysql>(&[("url", &url)]);
    rt.start().await.unwrap();
    assert!(!ssl_cipher(&rt).await.is_empty());
}

#[tokio::test]
async fn a_certificate_from_an_untrusted_ca_fails_the_start() {
    let other = harness::other_ca_file();
    let other = other.path().to_str().unwrap().to_string();
    // tls=custom with another CA's file, and tls=true, which trusts this machine's CAs only.
    for fields in [
        vec![("url", format!("{TLS_URL}?tls=custom")), ("pemPath", other)],
        vec![("url", format!("{TLS_URL}?tls=true"))],
    ] {
        let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (_dir, rt) = subject::<Mysql>(&fields);
        harness::untrusted(&rt.start().await.unwrap_err(), NAME, "");
    }
}

#[tokio::test]
async fn a_plain_connection_to_the_tls_only_server_says_to_use_tls() {
    let (_dir, rt) = subject::<Mysql>(&[("url", TLS_URL)]);
    harness::start_fails(
        &rt,
        ErrorKind::Upstream,
        &[
            "Access denied",
            "TLS connections only (require_secure_transport), add tls=true",
        ],
    )
    .await;
}

#[tokio::test]
async fn tls_preferred_takes_tls_when_offered_and_plain_otherwise() {
    let (_dir, rt) = subject::<Mysql>(&[("url", &format!("{TLS_URL}?tls=preferred"))]);
    rt.start().await.unwrap();
    assert!(!ssl_cipher(&rt).await.is_empty(), "TLS on the TLS server");

    // The server on 3306 has TLS off.
    let (_dir, rt) = subject::<Mysql>(&[("url", &format!("{URL}?tls=preferred"))]);
    rt.start().await.unwrap();
    assert_eq!(ssl_cipher(&rt).await, "", "plain on the plain server");
}

#[tokio::test]
async fn tls_to_a_server_without_tls_fails_unless_plain_is_allowed() {
    let (_dir, rt) = subject::<Mysql>(&[("url", &format!("{URL}?tls=skip-verify"))]);
    harness::start_fails(
        &rt,
        ErrorKind::Upstream,
        &["TLS: the server does not take TLS connections"],
    )
    .await;

    let url = format!("{URL}?tls=skip-verify&allowFallbackToPlaintext=true");
    let (_dir, rt) = subject::<Mysql>(&[("url", &url)]);
    rt.start().await.unwrap();
    assert_eq!(ssl_cipher(&rt).await, "");
}

#[tokio::test]
async fn several_statements_in_one_sql_run_only_with_multi_statements_in_the_dsn() {
    let (_dir, rt) = plain::<Mysql>().await;
    let t = table("multi");
    exec(&rt, &format!("CREATE TABLE {t} (id INT)"), json!([])).await;
    let count = |rt: &Runtime| {
        let (rt, sql) = (rt.clone(), format!("SELECT COUNT(*) AS n FROM {t}"));
        async move { query(&rt, &sql, json!([])).await[0]["n"].clone() }
    };

    // Off by default, as in the Go driver: the server's syntax error, and nothing runs.
    for (op, sql, params) in [
        (
            "exec",
            format!("INSERT INTO {t} VALUES (1); INSERT INTO {t} VALUES (2)"),
            "",
        ),
        ("query", format!("SELECT 1; INSERT INTO {t} VALUES (2)"), ""),
        ("exec", format!("SELECT 1;INSERT INTO {t} VALUES (2);"), ""),
        (
            "exec",
            format!("INSERT INTO {t} VALUES (?); INSERT INTO {t} VALUES (2)"),
            "[1]",
        ),
    ] {
        let err = raw(&rt, op, &sql, params).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Upstream, "{sql}: {err}");
        assert!(err.to_string().contains("1064"), "{sql}: {err}");
        assert!(!err.is_retryable(), "{sql}");
        assert_eq!(count(&rt).await, json!(0), "{sql} ran a statement");
    }
    let err = raw(
        &rt,
        "exec",
        &format!("INSERT INTO {t} VALUES (1); SELECT 2"),
        "",
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("multiStatements=true"), "{err}");
    // multiStatements=false says the same.
    let (_dir2, off) = subject::<Mysql>(&[("url", &format!("{URL}?multiStatements=false"))]);
    let err = raw(
        &off,
        "exec",
        &format!("INSERT INTO {t} VALUES (1); SELECT 2"),
        "",
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Upstream, "{err}");
    assert_eq!(count(&rt).await, json!(0));

    // One statement still runs: with a trailing semicolon, a semicolon in a string, and a
    // compound statement whose body holds semicolons.
    exec(&rt, &format!("INSERT INTO {t} VALUES (1);"), json!([])).await;
    let rows = query(&rt, "SELECT 'a;b' AS s", json!([])).await;
    assert_eq!(rows, json!([{"s": "a;b"}]));
    let p = table("proc");
    exec(
        &rt,
        &format!(
            "CREATE PROCEDURE {p}() BEGIN INSERT INTO {t} VALUES (10); INSERT INTO {t} VALUES (11); END"
        ),
        json!([]),
    )
    .await;
    exec(&rt, &format!("CALL {p}()"), json!([])).await;
    assert_eq!(count(&rt).await, json!(3));
    exec(&rt, &format!("DROP PROCEDURE {p}"), json!([])).await;

    // multiStatements=true runs them all.
    let (_dir3, on) = subject::<Mysql>(&[("url", &format!("{URL}?multiStatements=true"))]);
    exec(
        &on,
        &format!("INSERT INTO {t} VALUES (20); INSERT INTO {t} VALUES (21)"),
        json!([]),
    )
    .await;
    assert_eq!(count(&rt).await, json!(5));
    exec(&rt, &format!("DROP TABLE {t}"), json!([])).await;
}

#[tokio::test]
async fn integers_beyond_64_bits_bind_exactly_or_are_refused() {
    let (_dir, rt) = plain::<Mysql>().await;
    let big = "123456789012345678901234567890";
    let t = table("bigint");
    let stmt = format!("CREATE TABLE {t} (id INT, n DECIMAL(40,0), u BIGINT UNSIGNED, i BIGINT)");
    exec(&rt, &stmt, json!([])).await;
    raw(
        &rt,
        "exec",
        &format!("INSERT INTO {t} VALUES (1, ?, ?, ?), (2, ?, ?, ?)"),
        &format!(
            "[{big}, 18446744073709551615, -9223372036854775808, -18446744073709551616, 9223372036854775808, 9223372036854775807]"
        ),
    )
    .await
    .unwrap();
    let rows = raw(&rt, "query", &format!("SELECT * FROM {t} ORDER BY id"), "")
        .await
        .unwrap()
        .text();
    assert_eq!(
        rows,
        format!(
            r#"[{{"i":-9223372036854775808,"id":1,"n":"{big}","u":18446744073709551615}},{{"i":9223372036854775807,"id":2,"n":"-18446744073709551616","u":9223372036854775808}}]"#
        )
    );
    // As an expression's value, the digits come back as given.
    let got = raw(&rt, "query", "SELECT ? AS v", &format!("[{big}]"))
        .await
        .unwrap()
        .text();
    assert_eq!(got, format!(r#"[{{"v":"{big}"}}]"#));
    // An integer column cannot take them: the server refuses (strict mode), nothing is stored.
    for (col, value) in [("u", "18446744073709551616"), ("i", "-9223372036854775809")] {
        let err = raw(
            &rt,
            "exec",
            &format!("INSERT INTO {t} (id, {col}) VALUES (3, ?)"),
            &format!("[{value}]"),
        )
        .await
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Upstream, "{col}: {err}");
        assert!(err.to_string().contains("Out of range"), "{col}: {err}");
    }
    let rows = query(&rt, &format!("SELECT id FROM {t} WHERE id = 3"), json!([])).await;
    assert_eq!(rows, json!([]));
    exec(&rt, &format!("DROP TABLE {t}"), json!([])).await;
}
