//! Scenarios of the output side and of reaching the server: Dapr's conformance steps for
//! outputs (init, the operations, create/get/list/delete, close) and bindery's own errors.

use std::time::Duration;

use bindery::{ErrorKind, InvokeResponse, MetadataMap, Runtime};
use serde_json::{json, Value};

use super::{folder, name, one, only, ready, unique_key, yaml, Case, Fixture};
use crate::suite::harness::{self, collect, components};
use crate::suite::sql;

/// Invoke `op` on the subject and expect success.
async fn call<F: Fixture>(rt: &Runtime, op: &str, data: &[u8], md: MetadataMap) -> InvokeResponse {
    rt.invoke(name::<F>(), op, data.to_vec(), md)
        .await
        .unwrap_or_else(|e| panic!("{op}: {e}"))
}

/// Invoke `op` on the subject and expect an error.
async fn refused<F: Fixture>(rt: &Runtime, op: &str, md: MetadataMap) -> bindery::Error {
    rt.invoke(name::<F>(), op, b"x".to_vec(), md)
        .await
        .expect_err(op)
}

/// Init (Dapr's first conformance step): the component loads without a warning, lists its
/// sides and its operations, starts (connecting where it connects) and shuts down drained.
pub async fn init_lists_the_operations_and_directions<F: Fixture>() {
    let fx = ready::<F>().await;
    let n = name::<F>();
    let dir = folder(&fx, n, Case::Plain);
    let rt = harness::runtime(&dir);
    assert!(rt.diagnostics().is_empty(), "{:?}", rt.diagnostics());
    let b = rt.bindings().remove(0);
    assert_eq!(b.type_name, F::TYPE);
    assert_eq!((b.input, b.output), (F::INPUT, !F::OPERATIONS.is_empty()));
    assert_eq!(b.operations, F::OPERATIONS);
    let _events = F::INPUT.then(|| collect(&rt, n));
    rt.start().await.unwrap_or_else(|e| panic!("start: {e}"));
    assert!(rt.unhandled_inputs().is_empty());
    let report = rt.shutdown(Duration::from_secs(10)).await.unwrap();
    assert!(report.drained);
    fx.cleanup().await;
}

/// An operation the binding does not have is refused before anything reaches the server,
/// naming the binding's operations; a near miss gets a "did you mean", and operations are
/// case-sensitive.
pub async fn an_unknown_operation_names_the_real_ones<F: Fixture>() {
    let fx = F::new().await;
    let n = name::<F>();
    let rt = harness::runtime(&folder(&fx, n, Case::Plain));
    let sent = fx.requests_seen();
    let ops = F::OPERATIONS.join(", ");
    let err = refused::<F>(&rt, "frobnicate", MetadataMap::new()).await;
    assert_eq!(err.kind(), ErrorKind::UnsupportedOperation, "{err}");
    assert!(!err.is_retryable());
    assert_eq!(err.component(), Some(n));
    assert_eq!(err.operation(), Some("frobnicate"));
    assert_eq!(
        err.to_string(),
        format!(
            "{n} (frobnicate): {} has no operation \"frobnicate\"; its operations are: {ops}",
            F::TYPE
        )
    );
    for op in F::OPERATIONS {
        let typo = format!("{op}{}", &op[op.len() - 1..]);
        let err = refused::<F>(&rt, &typo, MetadataMap::new()).await;
        assert_eq!(err.kind(), ErrorKind::UnsupportedOperation, "{err}");
        let text = err.to_string();
        assert!(
            text.contains(&format!("(did you mean \"{op}\"?)")),
            "{text}"
        );
        assert!(
            text.ends_with(&format!("its operations are: {ops}")),
            "{text}"
        );
        let upper = refused::<F>(&rt, &op.to_uppercase(), MetadataMap::new()).await;
        assert_eq!(upper.kind(), ErrorKind::UnsupportedOperation, "{upper}");
    }
    assert_eq!(fx.requests_seen(), sent, "no request reached the server");
}

/// After shutdown (Dapr's close step) an output answers `Closed`, and sends nothing.
pub async fn after_shutdown_invoke_is_closed<F: Fixture>() {
    let fx = ready::<F>().await;
    let n = name::<F>();
    let rt = harness::runtime(&folder(&fx, n, Case::Plain));
    rt.start().await.unwrap();
    let (op, md) = fx.harmless();
    call::<F>(&rt, op, &fx.harmless_data(), md.clone()).await;
    rt.shutdown(Duration::from_secs(5)).await.unwrap();
    let sent = fx.requests_seen();
    let err = refused::<F>(&rt, op, md).await;
    assert_eq!(err.kind(), ErrorKind::Closed, "{err}");
    assert_eq!(err.component(), Some(n));
    assert_eq!(err.operation(), Some(op));
    assert_eq!(fx.requests_seen(), sent, "nothing is sent after shutdown");
    fx.cleanup().await;
}

/// Dapr's conformance steps for a binding that keeps data: create, get returns the data,
/// list shows it, delete, then get finds nothing; data goes through unchanged.
pub async fn create_get_list_delete_round_trip<F: Fixture>() {
    let fx = ready::<F>().await;
    let store = F::caps().store.expect("a store");
    let n = name::<F>();
    let rt = harness::runtime(&folder(&fx, n, Case::Plain));
    rt.start().await.unwrap();
    let (k1, k2) = (unique_key("one"), unique_key("two"));
    let key = |k: &str| one(store.key, k);
    let data: Vec<u8> = (0..=255u8).collect();

    let created = call::<F>(&rt, store.create, &data, key(&k1)).await;
    match (store.created)(&k1) {
        None => assert!(created.data.is_empty(), "create answers no data"),
        Some(want) => assert_eq!(
            serde_json::from_slice::<Value>(&created.data).unwrap(),
            want
        ),
    }
    if store.echoes_key {
        assert_eq!(created.metadata, key(&k1), "create answers the key");
    } else {
        assert!(created.metadata.is_empty(), "{:?}", created.metadata);
    }
    call::<F>(&rt, store.create, b"second", key(&k2)).await;
    let got = call::<F>(&rt, store.get, b"", key(&k1)).await;
    assert_eq!(got.data, data, "binary data goes through unchanged");
    assert!(got.metadata.is_empty(), "{:?}", got.metadata);
    if let Some(list) = store.list {
        let keys = listed(&fx, &rt, list).await;
        assert!(keys.contains(&k1) && keys.contains(&k2), "{keys:?}");
    }

    let deleted = call::<F>(&rt, store.delete, b"", key(&k1)).await;
    assert!(deleted.data.is_empty() && deleted.metadata.is_empty());
    match store.gone {
        None => {
            let got = call::<F>(&rt, store.get, b"", key(&k1)).await;
            assert!(
                got.data.is_empty(),
                "a missing key is empty data, as in Dapr"
            );
        }
        Some(says) => {
            let err = refused::<F>(&rt, store.get, key(&k1)).await;
            assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
            assert!(err.message().contains(says), "{err}");
            assert!(err.message().contains(&k1), "names the key: {err}");
            assert!(!err.is_retryable());
        }
    }
    if let Some(list) = store.list {
        let keys = listed(&fx, &rt, list).await;
        assert!(!keys.contains(&k1) && keys.contains(&k2), "{keys:?}");
        if store.own {
            assert_eq!(keys, std::slice::from_ref(&k2));
        }
    }
    let again = rt
        .invoke(n, store.delete, Vec::new(), key(&k1))
        .await
        .map(|_| ())
        .map_err(|e| e.kind());
    let want = if store.delete_gone_fails {
        Err(ErrorKind::NotFound)
    } else {
        Ok(())
    };
    assert_eq!(again, want, "deleting what is not there");
    call::<F>(&rt, store.delete, b"", key(&k2)).await;
    rt.shutdown(Duration::from_secs(5)).await.unwrap();
    fx.cleanup().await;
}

/// The keys `list` answers.
async fn listed<F: Fixture>(fx: &F, rt: &Runtime, list: &str) -> Vec<String> {
    let resp = call::<F>(rt, list, b"", MetadataMap::new()).await;
    fx.listed(&resp.data)
}

/// A request without a field its operation needs is an invalid argument naming it.
pub async fn a_request_without_a_required_field_names_it<F: Fixture>() {
    let fx = ready::<F>().await;
    let rf = F::caps().request_field.expect("a required request field");
    let rt = harness::runtime(&folder(&fx, name::<F>(), Case::Plain));
    let mut requests = vec![MetadataMap::new()];
    if rf.empty_is_missing {
        requests.push(one(rf.field, ""));
    }
    for op in rf.ops {
        for md in &requests {
            let err = refused::<F>(&rt, op, md.clone()).await;
            assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{op} {md:?}: {err}");
            assert!(err.message().contains(rf.says), "{op}: {err}");
            assert!(err.message().contains(rf.field), "{op}: {err}");
            assert_eq!(err.operation(), Some(*op));
            assert_eq!(err.component(), Some(name::<F>()));
        }
    }
    fx.cleanup().await;
}

/// A request metadata value the binding cannot take is an invalid argument naming it, and
/// nothing is sent.
pub async fn a_bad_request_value_is_an_invalid_argument_naming_it<F: Fixture>() {
    let fx = ready::<F>().await;
    let rt = harness::runtime(&folder(&fx, name::<F>(), Case::Plain));
    let sent = fx.requests_seen();
    for bad in F::caps().bad_requests.iter() {
        let err = refused::<F>(&rt, bad.op, harness::meta(bad.fields)).await;
        assert_eq!(
            err.kind(),
            ErrorKind::InvalidArgument,
            "{:?}: {err}",
            bad.fields
        );
        let field = bad.fields.last().expect("a bad field").0;
        let says = if bad.says.is_empty() { field } else { bad.says };
        assert!(err.message().contains(says), "{err}");
        assert_eq!(err.operation(), Some(bad.op));
    }
    assert_eq!(fx.requests_seen(), sent, "nothing is sent");
    fx.cleanup().await;
}

/// The operation that closes the output: answers nothing, every later call is `Closed`, and
/// closing again is fine (as in Dapr).
pub async fn the_close_operation_closes_it_for_good<F: Fixture>() {
    let fx = ready::<F>().await;
    let close = F::caps().close.expect("a close operation");
    let rt = harness::runtime(&folder(&fx, name::<F>(), Case::Plain));
    rt.start().await.unwrap();
    let resp = call::<F>(&rt, close, b"", MetadataMap::new()).await;
    assert!(resp.data.is_empty() && resp.metadata.is_empty());
    let (op, md) = fx.harmless();
    let err = refused::<F>(&rt, op, md).await;
    assert_eq!(err.kind(), ErrorKind::Closed, "{err}");
    call::<F>(&rt, close, b"", MetadataMap::new()).await;
    rt.shutdown(Duration::from_secs(1)).await.unwrap();
}

/// Check the time metadata of a SQL answer: Go's RFC 3339 in UTC, start before end, and a Go
/// duration.
fn assert_go_times(md: &MetadataMap) {
    for key in ["start-time", "end-time"] {
        let s = &md[key];
        let t = chrono::DateTime::parse_from_rfc3339(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        assert!(s.ends_with('Z'), "UTC: {s}");
        assert_eq!(t.offset().local_minus_utc(), 0);
    }
    assert!(md["start-time"] <= md["end-time"]);
    let d = &md["duration"];
    assert!(
        ["ns", "µs", "ms", "s"].iter().any(|u| d.ends_with(u)),
        "Go duration: {d}"
    );
}

/// `exec` and `query` answer as Dapr's SQL bindings do: `exec` no data and the rows affected,
/// `query` the rows, both the operation, the SQL and its times.
pub async fn exec_and_query_answer_with_dapr_metadata<F: Fixture>() {
    let fx = ready::<F>().await;
    let dialect = F::caps().sql.expect("SQL");
    let p = dialect.param;
    let rt = harness::runtime(&folder(&fx, name::<F>(), Case::Plain));
    rt.start().await.unwrap();
    let t = sql::table("meta");
    let exec = |s: String, params: Value| {
        let rt = rt.clone();
        async move { call::<F>(&rt, "exec", b"", sql::request(&s, &params)).await }
    };

    let create = format!("CREATE TABLE {t} (id INT PRIMARY KEY, name VARCHAR(20), note TEXT)");
    let resp = exec(create.clone(), json!([])).await;
    assert!(resp.data.is_empty());
    assert_eq!(resp.metadata["operation"], "exec");
    assert_eq!(resp.metadata["sql"], create);
    assert_eq!(resp.metadata["rows-affected"], "0");

    let places: Vec<String> = (1..=6).map(p).collect();
    let insert = format!(
        "INSERT INTO {t} (id, name, note) VALUES ({}), ({})",
        places[..3].join(", "),
        places[3..].join(", ")
    );
    let resp = exec(insert, json!([1, "one", "first", 2, "two", null])).await;
    assert_eq!(resp.metadata["rows-affected"], "2");
    let mut keys: Vec<&str> = resp.metadata.keys().map(String::as_str).collect();
    keys.sort();
    let want = [
        "duration",
        "end-time",
        "operation",
        "rows-affected",
        "sql",
        "start-time",
    ];
    assert_eq!(keys, want);
    assert_go_times(&resp.metadata);

    let select = format!("SELECT id, name, note FROM {t} ORDER BY id");
    let resp = call::<F>(&rt, "query", b"", one("sql", &select)).await;
    let want = (dialect.rows)(&[
        vec![
            ("id", json!(1)),
            ("name", json!("one")),
            ("note", json!("first")),
        ],
        vec![
            ("id", json!(2)),
            ("name", json!("two")),
            ("note", Value::Null),
        ],
    ]);
    assert_eq!(serde_json::from_slice::<Value>(&resp.data).unwrap(), want);
    assert_eq!(
        resp.text(),
        want.to_string(),
        "as Go writes it (map keys sorted)"
    );
    assert_eq!(resp.metadata["operation"], "query");
    assert_eq!(resp.metadata["sql"], select);
    assert!(!resp.metadata.contains_key("rows-affected"));
    assert_go_times(&resp.metadata);

    let none = format!("SELECT * FROM {t} WHERE id > {}", p(1));
    let resp = call::<F>(&rt, "query", b"", sql::request(&none, &json!([10]))).await;
    assert_eq!(resp.text(), "[]", "no rows is an empty array");
    let resp = exec(format!("UPDATE {t} SET name = UPPER(name)"), json!([])).await;
    assert_eq!(resp.metadata["rows-affected"], "2");
    let delete = format!("DELETE FROM {t} WHERE id = {}", p(1));
    let resp = exec(delete, json!(["1"])).await;
    assert_eq!(
        resp.metadata["rows-affected"], "1",
        "a numeric string binds to int"
    );
    exec(format!("DROP TABLE {t}"), json!([])).await;
    rt.shutdown(Duration::from_secs(1)).await.unwrap();
}

/// `params` that are not a JSON array are refused as an invalid argument.
pub async fn params_that_are_not_a_json_array_are_refused<F: Fixture>() {
    let fx = ready::<F>().await;
    let dialect = F::caps().sql.expect("SQL");
    let rt = harness::runtime(&folder(&fx, name::<F>(), Case::Plain));
    let select = format!("SELECT {}", (dialect.param)(1));
    for bad in ["{\"a\": 1}", "[1, 2", "7"] {
        let md = harness::meta(&[("sql", &select), ("params", bad)]);
        let err = refused::<F>(&rt, "query", md).await;
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{bad}: {err}");
        assert!(
            err.message().contains("invalid metadata property params"),
            "{err}"
        );
    }
}

/// A syntax error is the server's answer, with its code; retrying does not help.
pub async fn a_syntax_error_is_the_server_s_and_not_retryable<F: Fixture>() {
    let fx = ready::<F>().await;
    let dialect = F::caps().sql.expect("SQL");
    let rt = harness::runtime(&folder(&fx, name::<F>(), Case::Plain));
    let err = refused::<F>(&rt, "query", one("sql", "SELEC 1")).await;
    assert_eq!(err.kind(), ErrorKind::Upstream, "{err}");
    assert!(!err.is_retryable());
    for says in dialect.syntax_error {
        assert!(err.to_string().contains(says), "{err}");
    }
}

/// A server that is not there: `start` (where the output connects at start) and the first
/// call fail with an error that names the component and says where it could not connect;
/// the input's start fails the same way. No password shows.
pub async fn a_server_that_is_down_gives_a_clear_error_naming_the_component<F: Fixture>() {
    let fx = F::new().await;
    let down = (F::caps().down.expect("a server"))(harness::closed_port());
    let check = |e: &bindery::Error, who: &str, prefix: String| {
        match down.kind {
            Some(kind) => assert_eq!(e.kind(), kind, "{e}"),
            None => assert!(
                matches!(e.kind(), ErrorKind::Upstream | ErrorKind::Timeout),
                "{e}"
            ),
        }
        assert_eq!(e.component(), Some(who));
        let text = e.to_string();
        assert!(text.starts_with(&prefix), "{text}");
        for says in &down.says {
            assert!(text.contains(says.as_str()), "{text}");
        }
        if let Some(secret) = down.secret {
            assert!(!text.contains(secret), "a password leaked: {text}");
            assert!(
                !format!("{e:?}").contains(secret),
                "a password leaked: {e:?}"
            );
        }
    };
    let both = F::INPUT && !F::OPERATIONS.is_empty();
    let side = |who: &str, direction: &str| {
        let mut all = down.fields.clone();
        if both {
            all.push(("direction".into(), direction.into()));
        }
        yaml::<F>(who, &all)
    };
    let mut docs = Vec::new();
    if !F::OPERATIONS.is_empty() {
        docs.push(side("out", "output"));
    }
    if F::INPUT {
        docs.push(side("in", "input"));
    }
    let dir = components(&docs);
    if !F::OPERATIONS.is_empty() {
        if down.connects_at_start {
            let err = only(&dir, "out").start().await.unwrap_err();
            check(&err, "out", "out: ".into());
            assert!(err.is_retryable(), "the server may come back: {err}");
        }
        // Before start, the first call initialises the output, and fails the same way.
        let (op, md) = fx.harmless();
        let err = only(&dir, "out")
            .invoke("out", op, fx.harmless_data(), md)
            .await
            .unwrap_err();
        check(&err, "out", format!("out ({op}): "));
        assert!(err.is_retryable(), "the server may come back: {err}");
    }
    if F::INPUT {
        let rt = only(&dir, "in");
        let _events = collect(&rt, "in");
        let err = rt.start().await.unwrap_err();
        check(&err, "in", "in: ".into());
    }
}

/// A wrong password fails the start, not retryable (it stays wrong), saying why and never
/// showing the password; the right one is taken.
pub async fn a_wrong_password_fails_without_showing_it<F: Fixture>() {
    let fx = ready::<F>().await;
    let secret = "s3cr3t-Pa55word-0f-bindery";
    let login = (F::caps().login.expect("a login"))(secret);
    let n = name::<F>();
    if let Some(right) = &login.right {
        let rt = harness::runtime(&components(&[yaml::<F>(n, right)]));
        rt.start().await.expect("the right password is accepted");
        rt.shutdown(Duration::from_secs(5)).await.unwrap();
    }
    let rt = harness::runtime(&components(&[yaml::<F>(n, &login.fields)]));
    let err = rt.start().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Upstream, "{err}");
    assert_eq!(err.component(), Some(n));
    assert!(!err.is_retryable(), "a wrong password stays wrong: {err}");
    let text = err.to_string();
    for says in login.says {
        assert!(text.contains(says), "{text}");
    }
    assert!(!text.contains(secret), "the password leaked: {text}");
    assert!(
        !format!("{err:?}").contains(secret),
        "the password leaked: {err:?}"
    );
    fx.cleanup().await;
}
