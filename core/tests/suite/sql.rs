//! What the SQL bindings' tests share: `exec` and `query` through a runtime's one component,
//! tables of a test's own, and the capabilities of the family.

use std::marker::PhantomData;

use bindery::{InvokeResponse, MetadataMap, Runtime};
use serde_json::{json, Value};

use super::fixture::{fields, Caps, Case, Down, Fields, Fixture, Login, Mistake, RequestField};
use super::fixture::{Server, Sql};
use super::harness::meta;

/// A table name no other test (or run) uses.
pub fn table(what: &str) -> String {
    format!("bindery_{what}_{}", uuid::Uuid::new_v4().simple())
}

/// `sql` with `params` (left out when empty).
pub fn request(sql: &str, params: &Value) -> MetadataMap {
    let mut md = meta(&[("sql", sql)]);
    if params != &json!([]) {
        md.insert("params".into(), params.to_string());
    }
    md
}

/// Invoke `op` with `sql` and `params` given as JSON text as written (serde_json's `Value`
/// cannot hold an integer beyond 64 bits; "" for none) on `rt`'s one component.
pub async fn raw(
    rt: &Runtime,
    op: &str,
    sql: &str,
    params: &str,
) -> bindery::Result<InvokeResponse> {
    let mut md = meta(&[("sql", sql)]);
    if !params.is_empty() {
        md.insert("params".into(), params.into());
    }
    let name = rt.bindings().remove(0).name;
    rt.invoke(&name, op, Vec::new(), md).await
}

/// `exec`, which must succeed.
pub async fn exec(rt: &Runtime, sql: &str, params: Value) -> InvokeResponse {
    let name = rt.bindings().remove(0).name;
    rt.invoke(&name, "exec", Vec::new(), request(sql, &params))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// `query`, which must succeed: the rows.
pub async fn query(rt: &Runtime, sql: &str, params: Value) -> Value {
    let name = rt.bindings().remove(0).name;
    let resp = rt
        .invoke(&name, "query", Vec::new(), request(sql, &params))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    serde_json::from_slice(&resp.data).unwrap()
}

/// Make a table of the test's own, insert the row (1, "over tls") with the placeholders
/// `places` (`$1, $2` or `?, ?`), and read it back: the rows `query` answers.
pub async fn one_row_back(rt: &Runtime, places: &str) -> Value {
    let t = table("tls");
    exec(
        rt,
        &format!("CREATE TABLE {t} (id INT, name TEXT)"),
        json!([]),
    )
    .await;
    let insert = format!("INSERT INTO {t} VALUES ({places})");
    let resp = exec(rt, &insert, json!([1, "over tls"])).await;
    assert_eq!(resp.metadata["rows-affected"], "1");
    let rows = query(rt, &format!("SELECT id, name FROM {t}"), json!([])).await;
    exec(rt, &format!("DROP TABLE {t}"), json!([])).await;
    rows
}

/// What a SQL binding can do, as Dapr's: `exec`, `query` and `close`, `sql` required;
/// `hidden` a password in `mistakes` that no diagnostic may show.
pub fn caps(
    sql: Sql,
    mistakes: &'static [Mistake],
    hidden: &'static str,
    down: fn(u16) -> Down,
    login: fn(&str) -> Login,
) -> Caps {
    Caps {
        request_field: Some(RequestField {
            field: "sql",
            ops: &["exec", "query"],
            says: "required metadata not set: sql",
            empty_is_missing: false,
        }),
        mistakes,
        mistakes_hide: Some(hidden),
        close: Some("close"),
        sql: Some(sql),
        down: Some(down),
        login: Some(login),
        ..Caps::default()
    }
}

/// What tells one SQL binding from another, for the suite: its [`Fixture`] is
/// [`SqlFixture`] of it.
pub trait Dialect: Send + Sync + 'static {
    const TYPE: &'static str;
    const ALIASES: &'static [&'static str] = &[];
    /// The metadata field that says where to connect, and a working value.
    const CONNECTION: (&'static str, &'static str);
    const SERVER: Server;

    /// What it can do: [`caps`] with its dialect, mistakes, down server and login.
    fn caps() -> Caps;
}

/// The fixture of the SQL binding of dialect `D`.
pub struct SqlFixture<D>(PhantomData<D>);

impl<D: Dialect> Fixture for SqlFixture<D> {
    const TYPE: &'static str = D::TYPE;
    const ALIASES: &'static [&'static str] = D::ALIASES;
    const REQUIRED: &'static [&'static str] = &[D::CONNECTION.0];
    const OPERATIONS: &'static [&'static str] = &["exec", "query", "close"];
    const SERVER: Option<Server> = Some(D::SERVER);

    fn caps() -> Caps {
        D::caps()
    }

    async fn new() -> Self {
        SqlFixture(PhantomData)
    }

    fn fields(&self, _case: Case) -> Fields {
        fields(&[D::CONNECTION])
    }

    fn harmless(&self) -> (&'static str, MetadataMap) {
        ("query", meta(&[("sql", "SELECT 1")]))
    }
}
