//! Dapr's conformance test files (`tests/dapr-components`), run as components-contrib's
//! conformance test runs them: each file as it is (but Dapr's test servers' addresses, which a
//! fixture maps to the local ones), with the operations its `tests/config/bindings/tests.yml`
//! lists for it.

use std::path::Path;
use std::time::Duration;

use bindery::{Event, MetadataMap, Runtime};
use serde_json::json;
use tokio::sync::mpsc;
use yaml_rust2::{Yaml, YamlLoader};

use super::{ready, Fixture};
use crate::suite::harness::{self, collect};
use crate::suite::sql;

/// The corpus folder.
fn corpus() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/dapr-components")
}

/// The entries of components-contrib's `tests.yml`.
fn tests_yml() -> Vec<Yaml> {
    let path = corpus().join("dapr/components-contrib/tests/config/bindings/tests.yml");
    let mut docs = YamlLoader::load_from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    match docs.swap_remove(0)["components"].clone() {
        Yaml::Array(entries) => entries,
        other => panic!("tests.yml components: {other:?}"),
    }
}

/// What `tests.yml` gives the component `id` (`component`, with `.profile` when the entry has
/// one): its operations, output request metadata and `outputData` (for `list`).
struct Entry {
    ops: Vec<String>,
    output: Vec<(String, String)>,
    output_data: Option<String>,
}

fn operations_of(entries: &[Yaml], id: &str) -> Entry {
    let entry = entries
        .iter()
        .find(|e| {
            let component = e["component"].as_str().unwrap_or_default();
            match e["profile"].as_str() {
                Some(profile) => id == format!("{component}.{profile}"),
                None => id == component,
            }
        })
        .unwrap_or_else(|| panic!("tests.yml has no component {id}"));
    let ops = entry["operations"]
        .as_vec()
        .expect("operations")
        .iter()
        .map(|o| o.as_str().unwrap().to_string())
        .collect();
    let output = match &entry["config"]["output"] {
        Yaml::Hash(h) => h
            .iter()
            .map(|(k, v)| (k.as_str().unwrap().into(), v.as_str().unwrap().into()))
            .collect(),
        _ => Vec::new(),
    };
    let output_data = entry["config"]["outputData"].as_str().map(str::to_string);
    Entry {
        ops,
        output,
        output_data,
    }
}

/// Every conformance file of `F`, and the other files of Dapr's its fixture names, run with
/// their operations against the local server.
pub async fn dapr_s_conformance_files_run_their_operations<F: Fixture>() {
    let fx = ready::<F>().await;
    fx.conformance_prepare().await;
    let conformance = F::caps().conformance.expect("conformance files");
    let local = fx.local_addresses();
    let mut used = vec![false; local.len()];
    let entries = tests_yml();
    let from_tests_yml = conformance
        .files
        .iter()
        .map(|(id, file)| (*file, operations_of(&entries, id)));
    let more = conformance.more.iter().map(|(file, ops)| {
        let ops = ops.iter().map(|o| o.to_string()).collect();
        let entry = Entry {
            ops,
            output: Vec::new(),
            output_data: None,
        };
        (*file, entry)
    });
    for (file, entry) in from_tests_yml.chain(more) {
        let mut text =
            std::fs::read_to_string(corpus().join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        for (i, (from, to)) in local.iter().enumerate() {
            if text.contains(from) {
                text = text.replace(from, to);
                used[i] = true;
            }
        }
        run(&fx, file, text, &entry).await;
    }
    let unused: Vec<_> = local.iter().zip(&used).filter(|(_, u)| !**u).collect();
    assert!(unused.is_empty(), "addresses in no file: {unused:?}");
    fx.cleanup().await;
}

/// The next event whose data is `data` (a queue or topic Dapr's files name may hold what
/// earlier runs left).
async fn the_event(rx: &mut mpsc::UnboundedReceiver<Event>, data: &[u8], wait: Duration) {
    tokio::time::timeout(wait, async {
        while let Some(ev) = rx.recv().await {
            if ev.data == data {
                return;
            }
        }
        panic!("the input stopped");
    })
    .await
    .unwrap_or_else(|_| {
        panic!(
            "no event {:?} within {wait:?}",
            String::from_utf8_lossy(data)
        )
    });
}

/// One file: init, then Dapr's operations in its order (create, with read: the created
/// event arrives; read alone: the source fires; get: the created data comes back; list;
/// exec and query; close), then close.
async fn run<F: Fixture>(fx: &F, file: &str, text: String, entry: &Entry) {
    let (ops, output) = (&entry.ops, &entry.output);
    let has = |op: &str| ops.iter().any(|o| o == op);
    let dir = harness::components(&[text]);
    let rt = Runtime::from_path(dir.0.path())
        .unwrap_or_else(|e| panic!("{file}: {e}: {:#?}", e.diagnostics()));
    let b = rt.bindings().remove(0);
    let name = b.name.clone();
    if has("operations") {
        assert_eq!(b.operations, F::OPERATIONS, "{file}: the operations");
    }
    let mut events = has("read").then(|| collect(&rt, &name));
    rt.start()
        .await
        .unwrap_or_else(|e| panic!("{file}: start: {e}"));
    if has("create") {
        let id = uuid::Uuid::new_v4().to_string();
        let data = format!("conformance test {id}").into_bytes();
        // tests.yml's `$((uuid))`: a new UUID.
        let md: MetadataMap = output
            .iter()
            .map(|(k, v)| (k.clone(), v.replace("$((uuid))", &id)))
            .collect();
        let seen = fx.requests_seen();
        rt.invoke(&name, "create", data.clone(), md.clone())
            .await
            .unwrap_or_else(|e| panic!("{file}: create: {e}"));
        if let Some(before) = seen {
            assert_eq!(
                fx.requests_seen(),
                Some(before + 1),
                "{file}: the server saw it"
            );
        }
        if let Some(rx) = events.as_mut() {
            the_event(rx, &data, F::WAIT).await;
        }
        if has("get") {
            let got = rt
                .invoke(&name, "get", Vec::new(), md.clone())
                .await
                .unwrap_or_else(|e| panic!("{file}: get: {e}"));
            assert_eq!(got.data, data, "{file}: get answers what create stored");
        }
    } else if let Some(rx) = events.as_mut() {
        harness::next_within(rx, F::WAIT).await;
    }
    if has("list") {
        // tests.yml's outputData is the request, as {"data": <the list request>}.
        let request = entry
            .output_data
            .as_deref()
            .and_then(|d| serde_json::from_str::<serde_json::Value>(d).ok())
            .map(|d| d["data"].to_string().into_bytes())
            .unwrap_or_default();
        rt.invoke(&name, "list", request, MetadataMap::new())
            .await
            .unwrap_or_else(|e| panic!("{file}: list: {e}"));
    }
    if has("exec") {
        let p = F::caps().sql.expect("exec is SQL").param;
        let t = sql::table("conformance");
        let call = |sql: String, params: serde_json::Value, op: &'static str| {
            let (rt, name) = (rt.clone(), name.clone());
            async move {
                rt.invoke(&name, op, Vec::new(), sql::request(&sql, &params))
                    .await
                    .unwrap_or_else(|e| panic!("{op} {sql}: {e}"))
            }
        };
        call(
            format!("CREATE TABLE {t} (id INT, v TEXT)"),
            json!([]),
            "exec",
        )
        .await;
        let insert = format!("INSERT INTO {t} (id, v) VALUES ({}, {})", p(1), p(2));
        let resp = call(insert, json!([1, "conformance"]), "exec").await;
        assert_eq!(resp.metadata["rows-affected"], "1", "{file}");
        if has("query") {
            let select = format!("SELECT id, v FROM {t} WHERE id = {}", p(1));
            let resp = call(select, json!([1]), "query").await;
            let rows: serde_json::Value = serde_json::from_slice(&resp.data).unwrap();
            assert_eq!(rows.as_array().map(Vec::len), Some(1), "{file}: {rows}");
            assert!(rows.to_string().contains("conformance"), "{file}: {rows}");
        }
        call(format!("DROP TABLE {t}"), json!([]), "exec").await;
    }
    if has("close") {
        rt.invoke(&name, "close", Vec::new(), MetadataMap::new())
            .await
            .unwrap_or_else(|e| panic!("{file}: close: {e}"));
    }
    rt.shutdown(Duration::from_secs(10))
        .await
        .unwrap_or_else(|e| panic!("{file}: shutdown: {e}"));
}
