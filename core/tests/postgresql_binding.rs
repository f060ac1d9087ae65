#![cfg(feature = "postgresql")]
//! `bindings.postgresql` against the real PostgreSQL on 127.0.0.1:5432 (`tests/servers/start
//! postgres`: trust auth, user postgres, database test), through `bindery::Runtime`. Every
//! test uses its own tables, so they run in parallel.
//! What every binding does is tested once for all in `behaviour.rs` (`postgresql::*`).

use std::time::Duration;

use bindery::{ErrorKind, Runtime};
use serde_json::{json, Value};

#[path = "suite/mod.rs"]
mod suite;
use suite::fixtures::postgresql::{Postgresql, CONN};
use suite::harness::{self, meta as md};
use suite::scenarios::{plain, subject};
use suite::sql::{self, exec, query, raw, table};

const NAME: &str = "postgresql";

#[tokio::test]
async fn params_of_every_common_type_bind_and_columns_come_back_as_json() {
    let (_dir, rt) = plain::<Postgresql>().await;
    let t = table("types");
    let mood = table("mood");
    let stmt = format!("CREATE TYPE {mood} AS ENUM ('sad', 'happy')");
    exec(&rt, &stmt, json!([])).await;
    exec(
        &rt,
        &format!(
            "CREATE TABLE {t} (id int, small int2, big int8, r float4, d float8, n numeric(30,10), \
             s text, v varchar(10), c char(3), b bool, j json, jb jsonb, ts timestamp, \
             tstz timestamptz, dt date, tm time, u uuid, byt bytea, arr_i int[], arr_t text[], \
             iv interval, m {mood}, nul text)"
        ),
        json!([]),
    )
    .await;
    let insert = format!(
        "INSERT INTO {t} VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22,$23)"
    );
    let resp = exec(
        &rt,
        &insert,
        json!([
            1,
            -7,
            9_007_199_254_740_993_i64,
            1.5,
            2.25,
            "12345678901234567890.0123456789",
            "text with \"quotes\" and ünïcödé",
            "short",
            "ab",
            true,
            {"a": [1, 2], "b": null},
            "{\"k\": true}",
            "2024-01-02 03:04:05",
            "2024-01-02T03:04:05.5+02:00",
            "2024-02-29",
            "13:14:15.25",
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
            "\\xdeadbeef",
            [1, 2, null],
            ["a", "b c", "d\"e"],
            "1 day 02:00:00",
            "happy",
            null
        ]),
    )
    .await;
    assert_eq!(resp.metadata["rows-affected"], "1");
    // A numeric given as a JSON number binds too.
    let stmt = format!("INSERT INTO {t} (id, n, b) VALUES ($1, $2, $3)");
    exec(&rt, &stmt, json!([2, 0.5, false])).await;

    let resp = raw(&rt, "query", &format!("SELECT * FROM {t} ORDER BY id"), "")
        .await
        .unwrap();
    let text = resp.text();
    // numeric keeps every digit (a JSON number, as Dapr's pgx writes it).
    assert!(
        text.contains("12345678901234567890.0123456789"),
        "exact numeric: {text}"
    );
    let rows: Value = serde_json::from_str(&text).unwrap();
    let row = &rows[0];
    assert_eq!(row[0], json!(1));
    assert_eq!(row[1], json!(-7));
    assert_eq!(row[2], json!(9_007_199_254_740_993_i64), "int8 is exact");
    assert_eq!(row[3], json!(1.5));
    assert_eq!(row[4], json!(2.25));
    assert!(row[5].is_number());
    assert_eq!(row[6], json!("text with \"quotes\" and ünïcödé"));
    assert_eq!(row[7], json!("short"));
    assert_eq!(row[8], json!("ab "), "char(3) is padded");
    assert_eq!(row[9], json!(true));
    assert_eq!(row[10], json!({"a": [1, 2], "b": null}), "json is embedded");
    assert_eq!(row[11], json!({"k": true}), "jsonb is embedded");
    assert_eq!(row[12], json!("2024-01-02T03:04:05Z"));
    assert_eq!(
        row[13],
        json!("2024-01-02T01:04:05.5Z"),
        "timestamptz in UTC"
    );
    assert_eq!(
        row[14],
        json!("2024-02-29T00:00:00Z"),
        "date at midnight UTC"
    );
    assert_eq!(row[15], json!("13:14:15.25"));
    assert_eq!(row[16], json!("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"));
    assert_eq!(row[17], json!("3q2+7w=="), "bytea as base64");
    assert_eq!(row[18], json!([1, 2, null]));
    assert_eq!(row[19], json!(["a", "b c", "d\"e"]));
    assert_eq!(row[20], json!("1 day 02:00:00"));
    assert_eq!(row[21], json!("happy"));
    assert_eq!(row[22], Value::Null);
    assert_eq!(row.as_array().unwrap().len(), 23);
    let row = &rows[1];
    assert!(
        text.contains(",0.5000000000,"),
        "numeric scale kept: {text}"
    );
    assert_eq!(row[9], json!(false));
    assert_eq!(row[1], Value::Null);

    // A few more shapes.
    let rows = query(
        &rt,
        "SELECT '{{1,2},{3,4}}'::int[], '{}'::text[], 'NaN'::numeric, '-0.00001'::numeric, \
         'infinity'::timestamp, $1::int8 + 1, $2::bool, $3::text, $4::float8",
        json!(["41", "true", 42, "1e3"]),
    )
    .await;
    assert_eq!(
        rows,
        json!([[
            [[1, 2], [3, 4]],
            [],
            "NaN",
            -0.00001,
            "infinity",
            42,
            true,
            "42",
            1000.0
        ]])
    );

    exec(&rt, &format!("DROP TABLE {t}"), json!([])).await;
    exec(&rt, &format!("DROP TYPE {mood}"), json!([])).await;
}

#[tokio::test]
async fn params_that_do_not_fit_are_invalid_arguments() {
    let (_dir, rt) = plain::<Postgresql>().await;
    let cases = [
        (
            "SELECT $1::int",
            json!(["abc"]),
            "params[0] ($1, of type int4)",
        ),
        ("SELECT $1::int2", json!([70000]), "out of range"),
        ("SELECT $1::int", json!([1.5]), "not a whole number"),
        ("SELECT $1::bool", json!([1]), "not a boolean"),
        (
            "SELECT $1::int, $2::int",
            json!([1]),
            "has 2 parameters ($1..$2) but params has 1 value",
        ),
        (
            "SELECT 1",
            json!([1]),
            "has no parameters but params has 1 value",
        ),
    ];
    for (sql, params, want) in cases {
        let err = raw(&rt, "query", sql, &params.to_string())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{sql}: {err}");
        assert!(err.to_string().contains(want), "{sql}: {err}");
    }
}

#[tokio::test]
async fn a_missing_table_is_the_server_s_error_and_a_type_without_json_form_names_a_cast() {
    let (_dir, rt) = plain::<Postgresql>().await;
    let err = raw(
        &rt,
        "exec",
        &format!("DELETE FROM {}", table("missing")),
        "",
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("does not exist"), "{err}");

    let err = raw(&rt, "query", "SELECT point(1, 2)", "")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    assert!(err.to_string().contains("::text"), "a cast to add: {err}");
}

#[tokio::test]
async fn the_postgres_alias_the_url_field_and_pool_options_work() {
    let conn = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable&pool_max_conns=2&pool_max_conn_idle_time=30s&application_name=bindery-test";
    let (_dir, path) = harness::one_component(
        "bindings.postgres",
        NAME,
        &[
            ("url", conn),
            ("maxConns", "3"),
            ("connectionMaxIdleTime", "1m"),
            ("timeout", "10s"),
            ("queryExecMode", "cache_describe"),
        ],
    );
    let rt = Runtime::from_path(path).unwrap();
    let d = rt.diagnostics();
    assert_eq!(d.len(), 2, "{d:?}");
    assert!(
        d[0].message
            .contains("\"url\" is Dapr's older name for \"connectionString\""),
        "{}",
        d[0]
    );
    assert!(
        d[1].message.contains("\"queryExecMode\" is accepted as in Dapr but ignored by bindery: tokio-postgres prepares"),
        "{}",
        d[1]
    );
    let rows = query(&rt, "SELECT current_setting('application_name')", json!([])).await;
    assert_eq!(rows, json!([["bindery-test"]]));

    // Unknown options become run-time parameters, as pgx sends them.
    let (_dir, rt) = subject::<Postgresql>(&[(
        "connectionString",
        "host=127.0.0.1 user=postgres dbname=test search_path=pg_catalog,public",
    )]);
    let rows = query(&rt, "SHOW search_path", json!([])).await;
    assert_eq!(rows, json!([["pg_catalog,public"]]));
}

#[tokio::test]
async fn a_slow_statement_times_out_and_is_cancelled() {
    let (_dir, rt) = subject::<Postgresql>(&[("connectionString", CONN), ("timeout", "1s")]);
    let err = raw(&rt, "query", "SELECT pg_sleep(10)", "")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    // The binding goes on working.
    let rows = query(&rt, "SELECT 1", json!([])).await;
    assert_eq!(rows, json!([[1]]));
}

/// Whether the binding's connection is TLS, as the server sees it.
async fn server_says_ssl(rt: &Runtime) -> Value {
    query(
        rt,
        "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
        json!([]),
    )
    .await
}

#[tokio::test]
async fn verify_full_with_the_test_ca_round_trips_over_tls() {
    let ca = harness::tls_file("ca.crt");
    // By IP address (the certificate lists 127.0.0.1), by name (connecting to the address
    // given in hostaddr), and in URL form.
    for conn in [
        format!("host=127.0.0.1 port=5432 user=postgres dbname=test sslmode=verify-full sslrootcert={ca}"),
        format!("host=localhost hostaddr=127.0.0.1 port=5432 user=postgres dbname=test sslmode=verify-full sslrootcert={ca}"),
        format!("postgres://postgres@127.0.0.1:5432/test?sslmode=verify-full&sslrootcert={ca}"),
    ] {
        let (_dir, rt) = subject::<Postgresql>(&[("connectionString", &conn)]);
        rt.start().await.unwrap_or_else(|e| panic!("{conn}: {e}"));
        assert_eq!(server_says_ssl(&rt).await, json!([[true]]), "{conn}");
        let rows = sql::one_row_back(&rt, "$1, $2").await;
        assert_eq!(rows, json!([[1, "over tls"]]));
        rt.shutdown(Duration::from_secs(5)).await.unwrap();
    }
}

#[tokio::test]
async fn sslmode_require_is_tls_disable_is_not_and_prefer_takes_tls_when_offered() {
    for (mode, ssl) in [
        ("sslmode=require", true),
        ("sslmode=disable", false),
        ("sslmode=prefer", true),
        ("", true), // pgx's default is prefer
    ] {
        let conn = format!("host=127.0.0.1 port=5432 user=postgres dbname=test {mode}");
        let (_dir, rt) = subject::<Postgresql>(&[("connectionString", &conn)]);
        rt.start().await.unwrap_or_else(|e| panic!("{mode}: {e}"));
        assert_eq!(server_says_ssl(&rt).await, json!([[ssl]]), "{mode:?}");
        rt.shutdown(Duration::from_secs(5)).await.unwrap();
    }
}

#[tokio::test]
async fn verify_ca_checks_the_ca_but_not_the_name_and_verify_full_both() {
    let ca = harness::tls_file("ca.crt");
    // The server's certificate is not for db.invalid: verify-ca takes it, verify-full not.
    let conn = |mode: &str| {
        format!("host=db.invalid hostaddr=127.0.0.1 port=5432 user=postgres dbname=test sslmode={mode} sslrootcert={ca}")
    };
    let (_dir, rt) = subject::<Postgresql>(&[("connectionString", &conn("verify-ca"))]);
    rt.start().await.unwrap();
    assert_eq!(server_says_ssl(&rt).await, json!([[true]]));
    rt.shutdown(Duration::from_secs(5)).await.unwrap();

    let (_dir, rt) = subject::<Postgresql>(&[("connectionString", &conn("verify-full"))]);
    harness::start_fails(
        &rt,
        ErrorKind::Upstream,
        &[
            "not valid for name",
            "TLS: the server's certificate is not issued for the host name",
        ],
    )
    .await;
}

#[tokio::test]
async fn a_ca_that_did_not_sign_the_server_certificate_fails_the_start() {
    let other = harness::other_ca_file();
    let other = other.path().to_str().unwrap();
    // verify-full and verify-ca check it; so does require once a root certificate is given,
    // as in libpq and pgx.
    for mode in ["verify-full", "verify-ca", "require"] {
        let conn = format!(
            "host=127.0.0.1 port=5432 user=postgres dbname=test sslmode={mode} sslrootcert={other}"
        );
        let (_dir, rt) = subject::<Postgresql>(&[("connectionString", &conn)]);
        let text = harness::untrusted(&rt.start().await.unwrap_err(), NAME, "sslrootcert");
        let says = "invalid peer certificate: UnknownIssuer";
        assert!(text.contains(says), "{mode}: {text}");
    }
    // Without sslrootcert, verify-full trusts this machine's CAs, which did not sign it.
    let conn = "host=127.0.0.1 port=5432 user=postgres dbname=test sslmode=verify-full";
    let (_dir, rt) = subject::<Postgresql>(&[("connectionString", conn)]);
    let text = rt.start().await.unwrap_err().to_string();
    assert!(text.contains("UnknownIssuer"), "{text}");
}

#[tokio::test]
async fn a_missing_root_certificate_file_fails_the_start() {
    let conn = "host=127.0.0.1 port=5432 user=postgres dbname=test sslmode=verify-full sslrootcert=/nonexistent/ca.pem";
    let (_dir, rt) = subject::<Postgresql>(&[("connectionString", conn)]);
    let err = rt.start().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidConfig, "{err}");
    let text = err.to_string();
    assert!(
        text.contains("cannot set up TLS") && text.contains("sslrootcert \"/nonexistent/ca.pem\""),
        "{text}"
    );
}

#[tokio::test]
async fn a_plain_connection_to_a_tls_only_role_is_refused_with_the_fix() {
    // tests/servers/start lets the role bindery_tls in over TLS only.
    let conn = |mode: &str| {
        format!("host=127.0.0.1 port=5432 user=bindery_tls dbname=test sslmode={mode}")
    };
    let (_dir, rt) = subject::<Postgresql>(&[("connectionString", &conn("disable"))]);
    let fix = "TLS: the server takes this user over TLS only; use sslmode=require";
    harness::start_fails(&rt, ErrorKind::Upstream, &["no encryption", fix]).await;

    let (_dir, rt) = subject::<Postgresql>(&[("connectionString", &conn("require"))]);
    rt.start().await.unwrap();
    assert_eq!(
        query(&rt, "SELECT current_user", json!([])).await,
        json!([["bindery_tls"]])
    );
}

#[tokio::test]
async fn a_client_certificate_from_sslcert_and_sslkey_logs_in() {
    // tests/servers/start lets the role bindery_cert in only with the test client
    // certificate (its common name is the role's).
    let ca = harness::tls_file("ca.crt");
    let conn = format!(
        "host=127.0.0.1 port=5432 user=bindery_cert dbname=test sslmode=verify-full sslrootcert={ca}"
    );
    let with_cert = format!(
        "{conn} sslcert={} sslkey={}",
        harness::tls_file("client.crt"),
        harness::tls_file("client.key")
    );
    let (_dir, rt) = subject::<Postgresql>(&[("connectionString", &with_cert)]);
    rt.start().await.unwrap();
    assert_eq!(
        query(&rt, "SELECT current_user", json!([])).await,
        json!([["bindery_cert"]])
    );

    let (_dir, rt) = subject::<Postgresql>(&[("connectionString", &conn)]);
    let text = rt.start().await.unwrap_err().to_string();
    assert!(
        text.contains("requires a valid client certificate"),
        "{text}"
    );
}

/// `query` with `params` as written, answering the response's text.
async fn query_raw(rt: &Runtime, sql: &str, params: &str) -> bindery::Result<String> {
    raw(rt, "query", sql, params).await.map(|r| r.text())
}

#[tokio::test]
async fn integers_beyond_64_bits_bind_exactly_or_are_refused() {
    let (_dir, rt) = plain::<Postgresql>().await;
    let big = "123456789012345678901234567890";
    for (sql, params, want) in [
        (
            "SELECT $1::numeric::text",
            format!("[{big}]"),
            format!(r#"[["{big}"]]"#),
        ),
        (
            "SELECT $1::numeric::text, $2::numeric::text, $3::numeric::text",
            "[18446744073709551616, -9223372036854775809, 18446744073709551615]".to_string(),
            r#"[["18446744073709551616","-9223372036854775809","18446744073709551615"]]"#
                .to_string(),
        ),
        // A u64 above i64::MAX is exact too.
        (
            "SELECT $1::numeric::text",
            "[9223372036854775808]".to_string(),
            r#"[["9223372036854775808"]]"#.to_string(),
        ),
        (
            "SELECT $1::text",
            format!("[{big}]"),
            format!(r#"[["{big}"]]"#),
        ),
        (
            "SELECT ($1::numeric[])::text",
            format!("[[{big}, -{big}, 1.5]]"),
            format!(r#"[["{{{big},-{big},1.5}}"]]"#),
        ),
        (
            "SELECT ($1::jsonb -> 'n')::text",
            format!(r#"[{{"n": {big}}}]"#),
            format!(r#"[["{big}"]]"#),
        ),
    ] {
        let got = query_raw(&rt, sql, &params)
            .await
            .unwrap_or_else(|e| panic!("{sql} {params}: {e}"));
        assert_eq!(got, want, "{sql} {params}");
    }

    // A numeric column keeps every digit, and the answer carries them as a JSON number.
    let t = table("bigint");
    exec(&rt, &format!("CREATE TABLE {t} (n numeric)"), json!([])).await;
    rt.invoke(
        NAME,
        "exec",
        Vec::new(),
        md(&[
            ("sql", &format!("INSERT INTO {t} VALUES ($1), ($2)")),
            ("params", &format!("[{big}, -{big}]")),
        ]),
    )
    .await
    .unwrap();
    let got = query_raw(&rt, &format!("SELECT n FROM {t} ORDER BY n"), "[]")
        .await
        .unwrap();
    assert_eq!(got, format!("[[-{big}],[{big}]]"));
    exec(&rt, &format!("DROP TABLE {t}"), json!([])).await;

    // An integer parameter cannot take them: refused, naming the parameter and the value.
    for (sql, params, want) in [
        (
            "SELECT $1::int8",
            "[-9223372036854775809]",
            "params[0] ($1, of type int8): -9223372036854775809 is out of range",
        ),
        (
            "SELECT $1::int4, $2::int8",
            "[1, 18446744073709551616]",
            "params[1] ($2, of type int8): 18446744073709551616 is out of range",
        ),
        (
            "SELECT $1::int8",
            "[123456789012345678901234567890123456789012]",
            "params[0] ($1, of type int8): 123456789012345678901234567890123456789012 is out of range",
        ),
    ] {
        let err = query_raw(&rt, sql, params).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{sql}: {err}");
        assert!(err.to_string().contains(want), "{sql}: {err}");
    }
}

/// The connection string of Dapr's PostgreSQL certification components names the database
/// `database=`, as pgx takes it (with a password the local server, trusting, ignores): it is
/// the database, not a setting sent to the server (which would refuse "database").
#[tokio::test]
async fn a_connection_string_naming_the_database_as_pgx_does_connects_to_it() {
    let conn =
        "host=localhost user=postgres password=example port=5432 connect_timeout=10 database=test";
    let (_dir, rt) = subject::<Postgresql>(&[("connectionString", conn)]);
    let rows = query(&rt, "SELECT current_database()", json!([])).await;
    assert_eq!(rows, json!([["test"]]));
    rt.shutdown(Duration::from_secs(5)).await.unwrap();
}

/// Dapr 1.16's separate fields: alone they are the connection; beside a connection string
/// (either form) each replaces its part of it; `sslRootCert` names the CA as `sslrootcert`.
#[tokio::test]
async fn the_separate_connection_fields_connect_alone_or_replace_their_part() {
    let ca = harness::tls_file("ca.crt");
    let cases: Vec<Vec<(&str, String)>> = vec![
        vec![
            ("host", "127.0.0.1".into()),
            ("port", "5432".into()),
            ("user", "postgres".into()),
            ("database", "dapr_test".into()),
        ],
        vec![
            (
                "connectionString",
                "host=127.0.0.1 port=1 user=nobody dbname=test".into(),
            ),
            ("port", "5432".into()),
            ("user", "postgres".into()),
            ("database", "dapr_test".into()),
        ],
        vec![
            (
                "connectionString",
                "postgres://nobody:pw@db.invalid:1/test?sslmode=verify-full".into(),
            ),
            ("hostaddr", "127.0.0.1".into()),
            ("port", "5432".into()),
            ("user", "postgres".into()),
            ("database", "dapr_test".into()),
            ("sslRootCert", ca.clone()),
        ],
    ];
    for (i, fields) in cases.iter().enumerate() {
        let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (_dir, rt) = subject::<Postgresql>(&pairs);
        assert!(rt.diagnostics().is_empty(), "{i}: {:?}", rt.diagnostics());
        rt.start().await.unwrap_or_else(|e| panic!("{i}: {e}"));
        let rows = query(&rt, "SELECT current_database(), current_user", json!([])).await;
        assert_eq!(rows, json!([["dapr_test", "postgres"]]), "{i}");
        rt.shutdown(Duration::from_secs(5)).await.unwrap();
    }
}

/// Without a connection string and without the separate fields there is nowhere to connect;
/// the fields of Dapr's Azure AD and AWS IAM profiles are warned about without their switch.
#[test]
fn no_connection_is_an_error_and_auth_profile_fields_alone_are_ignored_with_a_warning() {
    let (dir, path) = harness::one_component("bindings.postgresql", NAME, &[("timeout", "5s")]);
    let err = Runtime::from_path(&path).unwrap_err();
    let d = err.diagnostics();
    assert_eq!(d.len(), 1, "{d:?}");
    assert!(d[0].message.contains("needs the metadata field \"connectionString\" (or host, port, database, user and password)"), "{}", d[0]);
    drop(dir);
    // A bad separate field is reported at the first of them given.
    let (dir, path) = harness::one_component(
        "bindings.postgresql",
        NAME,
        &[("host", "localhost"), ("port", "fivefourthreetwo")],
    );
    let err = Runtime::from_path(&path).unwrap_err();
    let d = err.diagnostics();
    assert_eq!(d.len(), 1, "{d:?}");
    assert!(
        d[0].message
            .starts_with("the connection fields are not a usable PostgreSQL connection string"),
        "{}",
        d[0]
    );
    assert_eq!(d[0].location.line, 9, "at host: {}", d[0]);
    drop(dir);
    let (_dir, path) = harness::one_component(
        "bindings.postgresql",
        NAME,
        &[
            ("connectionString", CONN),
            ("azureClientId", "id"),
            ("accessKey", "AKIA"),
        ],
    );
    let rt = Runtime::from_path(&path).unwrap();
    assert_eq!(
        harness::said(&rt),
        [
            "azureClientId is read only with useAzureAD: true (as in Dapr); it is ignored",
            "accessKey is read only with useAWSIAM: true (as in Dapr); it is ignored",
        ]
    );
}
