//! Reading resources folders into `Component`s, with a diagnostic for every problem of shape.

use std::path::{Path, PathBuf};

use super::values::{parse_go_bool, parse_go_duration};
use super::yaml::{parse_documents, Node, Value};
use super::{
    nearest, Component, Diagnostic, Location, MetadataItem, MetadataSource, DEFAULT_INIT_TIMEOUT,
};

/// The only component API version Dapr has.
pub const API_VERSION: &str = "dapr.io/v1alpha1";

/// Load every component under the given resources paths (folders of `.yaml`/`.yml` files,
/// or single files). Returns the components in file order and every problem found.
pub fn load_paths(paths: &[PathBuf]) -> (Vec<Component>, Vec<Diagnostic>) {
    let mut components = Vec::new();
    let mut diags = Vec::new();
    if paths.is_empty() {
        diags.push(
            Diagnostic::error(Location::default(), None, "no resources path given").with_fix(
                "pass the folder that holds your component YAML files, e.g. ./components",
            ),
        );
    }
    for path in paths {
        for file in files_under(path, &mut diags) {
            // One byte past the limit is enough for parse_documents to refuse the file.
            let limit = super::yaml::MAX_FILE_BYTES as u64 + 1;
            let read = std::fs::File::open(&file).and_then(|f| {
                let mut bytes = Vec::new();
                std::io::Read::read_to_end(&mut std::io::Read::take(f, limit), &mut bytes)
                    .map(|_| bytes)
            });
            match read {
                // Too long: refused by its length, whatever bytes the cut split.
                Ok(bytes) if bytes.len() as u64 >= limit => load_text(
                    &file,
                    &String::from_utf8_lossy(&bytes),
                    &mut components,
                    &mut diags,
                ),
                Ok(bytes) => match String::from_utf8(bytes) {
                    Ok(text) => load_text(&file, &text, &mut components, &mut diags),
                    Err(e) => diags.push(Diagnostic::error(
                        Location {
                            file: file.clone(),
                            ..Location::default()
                        },
                        None,
                        format!(
                            "the file is not UTF-8 text (byte {})",
                            e.utf8_error().valid_up_to()
                        ),
                    )),
                },
                Err(e) => diags.push(Diagnostic::error(
                    Location {
                        file: file.clone(),
                        ..Location::default()
                    },
                    None,
                    format!("cannot read the file: {e}"),
                )),
            }
        }
    }
    (components, diags)
}

fn files_under(path: &Path, diags: &mut Vec<Diagnostic>) -> Vec<PathBuf> {
    let here = Location {
        file: path.to_path_buf(),
        ..Location::default()
    };
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) => {
            diags.push(
                Diagnostic::error(here, None, format!("resources path cannot be read: {e}"))
                    .with_fix("check the path; it is relative to the current directory"),
            );
            return Vec::new();
        }
    };
    if meta.is_file() {
        return vec![path.to_path_buf()];
    }
    let mut files: Vec<PathBuf> = match std::fs::read_dir(path) {
        Ok(entries) => entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.is_file()
                    && matches!(
                        p.extension().and_then(|e| e.to_str()),
                        Some("yaml") | Some("yml")
                    )
            })
            .collect(),
        Err(e) => {
            diags.push(Diagnostic::error(
                here,
                None,
                format!("resources path cannot be listed: {e}"),
            ));
            return Vec::new();
        }
    };
    files.sort();
    files
}

/// Load the components of one file's text.
pub fn load_text(file: &Path, text: &str, out: &mut Vec<Component>, diags: &mut Vec<Diagnostic>) {
    let docs = match parse_documents(text) {
        Ok(d) => d,
        Err(e) => {
            let (message, fix) = match e.fix {
                // A limit of bindery's (size, nesting, aliases): the message says which.
                Some(fix) => (e.message, fix),
                None => (format!("YAML syntax error: {}", e.message), "check indentation and quoting at that line (values with ':' or '#' or starting with '@' or '*' need quotes)".to_string()),
            };
            diags.push(Diagnostic::error(Location::at(file, e.pos), None, message).with_fix(fix));
            return;
        }
    };
    for doc in &docs {
        if doc.is_null() {
            continue;
        }
        if let Some(c) = load_document(file, doc, diags) {
            out.push(c);
        }
    }
}

fn scalar<'a>(
    file: &Path,
    node: &'a Node,
    what: &str,
    component: Option<&str>,
    diags: &mut Vec<Diagnostic>,
) -> Option<&'a str> {
    match node.as_str() {
        Some(s) if !node.is_null() => Some(s),
        _ => {
            diags.push(Diagnostic::error(
                Location::at(file, node.pos),
                component,
                format!("{what} must be a string, found a {}", node.kind_name()),
            ));
            None
        }
    }
}

/// The fields of each level of a component document, for a field written at the wrong one
/// (Dapr ignores it there without a word).
const LEVELS: &[(&str, &[&str])] = &[
    (
        "the component",
        &["apiVersion", "kind", "metadata", "spec", "auth", "scopes"],
    ),
    ("metadata", &["name", "namespace", "labels", "annotations"]),
    (
        "spec",
        &["type", "version", "metadata", "initTimeout", "ignoreErrors"],
    ),
];

/// The fields of `context`, one of [`LEVELS`].
fn level(context: &str) -> &'static [&'static str] {
    LEVELS
        .iter()
        .find(|(l, _)| *l == context)
        .expect("a level")
        .1
}

fn check_keys(
    file: &Path,
    node: &Node,
    known: &[&str],
    context: &str,
    component: Option<&str>,
    diags: &mut Vec<Diagnostic>,
) {
    if let Value::Map(entries) = &node.value {
        for (k, _) in entries {
            let key = k.as_str().unwrap_or("");
            if !known.contains(&key) {
                let mut d = Diagnostic::warning(
                    Location::at(file, k.pos),
                    component,
                    format!("unknown field {key:?} in {context}; it is ignored"),
                );
                let home = LEVELS
                    .iter()
                    .find(|(level, keys)| *level != context && keys.contains(&key));
                if let Some((level, _)) = home {
                    d = d.with_fix(format!("{key:?} is a field of {level}: move it there"));
                } else if let Some(n) = nearest(key, known.iter().copied()) {
                    d = d.with_fix(format!("did you mean {n:?}?"));
                } else {
                    d = d.with_fix(format!("the fields of {context} are: {}", known.join(", ")));
                }
                diags.push(d);
            }
        }
    }
}

fn load_document(file: &Path, doc: &Node, diags: &mut Vec<Diagnostic>) -> Option<Component> {
    let at = |n: &Node| Location::at(file, n.pos);
    if !matches!(doc.value, Value::Map(_)) {
        diags.push(Diagnostic::error(
            at(doc),
            None,
            format!(
                "a resource document must be a mapping, found a {}",
                doc.kind_name()
            ),
        ));
        return None;
    }
    let kind = doc.get("kind").and_then(Node::as_str);
    match kind {
        Some("Component") => {}
        Some(other) => {
            if other.eq_ignore_ascii_case("component") {
                diags.push(
                    Diagnostic::error(
                        at(doc.get("kind")?),
                        None,
                        format!("kind {other:?} is spelled wrong"),
                    )
                    .with_fix("write `kind: Component`"),
                );
            } else {
                tracing::debug!(file = %file.display(), kind = other, "skipping a document that is not a Component");
            }
            return None;
        }
        None => {
            diags.push(
                Diagnostic::error(at(doc), None, "the document has no `kind`")
                    .with_fix("add `kind: Component` (documents of other kinds are skipped)"),
            );
            return None;
        }
    }

    let meta = doc.get("metadata");
    let name_node = meta.and_then(|m| m.get("name"));
    let name = match name_node {
        Some(n) => scalar(file, n, "metadata.name", None, diags).map(str::to_string),
        None => {
            diags.push(
                Diagnostic::error(at(meta.unwrap_or(doc)), None, "the component has no metadata.name")
                    .with_fix("add `metadata: {name: my-binding}`; the name is how your app refers to the binding"),
            );
            None
        }
    };
    let cname = name.as_deref();
    if let Some(m) = meta {
        check_keys(file, m, level("metadata"), "metadata", cname, diags);
    }

    match doc.entry("apiVersion") {
        Some((_, v)) if v.as_str() == Some(API_VERSION) => {}
        Some((_, v)) => diags.push(
            Diagnostic::error(
                at(v),
                cname,
                format!(
                    "apiVersion {:?} is not a Dapr component API version",
                    v.as_str().unwrap_or("")
                ),
            )
            .with_fix(format!("write `apiVersion: {API_VERSION}`")),
        ),
        None => diags.push(
            Diagnostic::error(at(doc), cname, "the component has no apiVersion")
                .with_fix(format!("add `apiVersion: {API_VERSION}`")),
        ),
    }
    check_keys(
        file,
        doc,
        level("the component"),
        "the component",
        cname,
        diags,
    );

    let Some(spec) = doc.get("spec") else {
        diags.push(
            Diagnostic::error(at(doc), cname, "the component has no spec")
                .with_fix("add `spec:` with `type`, `version` and `metadata`"),
        );
        return None;
    };
    check_keys(file, spec, level("spec"), "spec", cname, diags);
    let type_node = spec.get("type");
    let type_name = match type_node {
        Some(t) => scalar(file, t, "spec.type", cname, diags).map(str::to_string),
        None => {
            diags.push(
                Diagnostic::error(at(spec), cname, "the component has no spec.type")
                    .with_fix("add e.g. `type: bindings.cron`"),
            );
            None
        }
    };
    let version = spec
        .get("version")
        .and_then(|v| scalar(file, v, "spec.version", cname, diags))
        .unwrap_or("")
        .to_string();

    let init_timeout = spec_value(
        file,
        spec,
        "initTimeout",
        parse_go_duration,
        cname,
        diags,
        "use a Go duration such as 5s, 1m or 500ms",
    )
    .unwrap_or(DEFAULT_INIT_TIMEOUT);
    let ignore_errors = spec_value(
        file,
        spec,
        "ignoreErrors",
        parse_go_bool,
        cname,
        diags,
        "write `ignoreErrors: true` or `ignoreErrors: false`",
    )
    .unwrap_or(false);

    let mut metadata = Vec::new();
    match spec.get("metadata") {
        None => {}
        Some(m) if m.is_null() => {}
        Some(Node {
            value: Value::Seq(items),
            ..
        }) => {
            for item in items {
                if let Some(mi) = load_metadata_item(file, item, cname, diags) {
                    metadata.push(mi);
                }
            }
        }
        Some(m) => diags.push(
            Diagnostic::error(
                at(m),
                cname,
                format!(
                    "spec.metadata must be a list of `- name: ... value: ...` entries, found a {}",
                    m.kind_name()
                ),
            )
            .with_fix("write each field as `- name: <field>` followed by `value: <value>`"),
        ),
    }

    let scopes = match doc.get("scopes") {
        Some(Node {
            value: Value::Seq(items),
            ..
        }) => items
            .iter()
            .filter_map(|n| n.as_str().map(str::to_string))
            .collect(),
        Some(n) if !n.is_null() => {
            diags.push(Diagnostic::error(
                at(n),
                cname,
                "scopes must be a list of app IDs",
            ));
            Vec::new()
        }
        _ => Vec::new(),
    };
    let auth = doc.get("auth");
    if let Some(a) = auth {
        check_keys(file, a, &["secretStore"], "auth", cname, diags);
    }
    let secret_store = auth
        .and_then(|a| a.get("secretStore"))
        .and_then(|s| scalar(file, s, "auth.secretStore", cname, diags))
        .map(str::to_string);

    Some(Component {
        name: name?,
        namespace: meta
            .and_then(|m| m.get("namespace"))
            .and_then(Node::as_str)
            .map(str::to_string),
        type_name: type_name?,
        version,
        metadata,
        init_timeout,
        ignore_errors,
        scopes,
        secret_store,
        location: at(doc),
        name_location: at(name_node?),
        type_location: at(type_node?),
    })
}

/// A scalar under `spec` read with `parse`; a bad value is an error diagnostic with `fix`.
fn spec_value<T>(
    file: &Path,
    spec: &Node,
    key: &str,
    parse: fn(&str) -> Result<T, String>,
    cname: Option<&str>,
    diags: &mut Vec<Diagnostic>,
    fix: &str,
) -> Option<T> {
    let v = spec.get(key)?;
    match parse(v.as_str()?) {
        Ok(x) => Some(x),
        Err(e) => {
            diags.push(
                Diagnostic::error(Location::at(file, v.pos), cname, format!("spec.{key}: {e}"))
                    .with_fix(fix),
            );
            None
        }
    }
}

fn load_metadata_item(
    file: &Path,
    item: &Node,
    cname: Option<&str>,
    diags: &mut Vec<Diagnostic>,
) -> Option<MetadataItem> {
    let at = |n: &Node| Location::at(file, n.pos);
    if !matches!(item.value, Value::Map(_)) {
        diags.push(
            Diagnostic::error(
                at(item),
                cname,
                format!(
                    "a spec.metadata entry must be a mapping, found a {}",
                    item.kind_name()
                ),
            )
            .with_fix("write `- name: <field>` and, under it, `value: <value>`"),
        );
        return None;
    }
    check_keys(
        file,
        item,
        &["name", "value", "secretKeyRef", "envRef"],
        "a metadata entry",
        cname,
        diags,
    );
    let name = match item.get("name") {
        Some(n) => scalar(file, n, "a metadata entry's name", cname, diags)?.to_string(),
        None => {
            diags.push(
                Diagnostic::error(at(item), cname, "a spec.metadata entry has no name")
                    .with_fix("add `name: <field>` to the entry"),
            );
            return None;
        }
    };
    let value = item.get("value");
    let secret = item.get("secretKeyRef");
    let env = item.get("envRef");
    let (source, vloc) = match (value, secret, env) {
        (Some(v), None, None) => (MetadataSource::Value(value_text(v)), at(v)),
        (None, Some(s), None) => {
            let n = s.get("name").and_then(Node::as_str).unwrap_or("");
            if n.is_empty() {
                diags.push(
                    Diagnostic::error(
                        at(s),
                        cname,
                        format!("secretKeyRef of {name:?} has no name"),
                    )
                    .with_fix("write `secretKeyRef: {name: <secret>, key: <key>}`"),
                );
                return None;
            }
            check_keys(file, s, &["name", "key"], "secretKeyRef", cname, diags);
            let k = s.get("key").and_then(Node::as_str).unwrap_or("");
            (
                MetadataSource::SecretRef {
                    name: n.to_string(),
                    key: k.to_string(),
                },
                at(s),
            )
        }
        (None, None, Some(e)) => {
            let var = e.as_str().unwrap_or("");
            match std::env::var(var) {
                Ok(v) => (MetadataSource::Value(v), at(e)),
                Err(_) => {
                    diags.push(
                        Diagnostic::error(at(e), cname, format!("envRef of {name:?} names the environment variable {var:?}, which is not set"))
                            .with_fix(format!("set {var} before starting, or give the value with `value:`")),
                    );
                    return None;
                }
            }
        }
        (None, None, None) => (MetadataSource::Value(String::new()), at(item)),
        _ => {
            diags.push(
                Diagnostic::error(at(item), cname, format!("metadata entry {name:?} has more than one of value, secretKeyRef and envRef"))
                    .with_fix("keep exactly one of them"),
            );
            return None;
        }
    };
    Some(MetadataItem {
        name,
        source,
        location: at(item),
        value_location: vloc,
    })
}

/// A metadata value as Dapr reads it: scalars as their text, null as empty,
/// lists and mappings as JSON.
fn value_text(node: &Node) -> String {
    if node.is_null() {
        return String::new();
    }
    match &node.value {
        Value::Scalar { text, .. } => text.clone(),
        _ => to_json(node).to_string(),
    }
}

fn to_json(node: &Node) -> serde_json::Value {
    match &node.value {
        Value::Scalar { text, plain } => {
            if node.is_null() {
                serde_json::Value::Null
            } else if *plain {
                serde_json::from_str::<serde_json::Value>(text)
                    .ok()
                    .filter(|v| v.is_number() || v.is_boolean())
                    .unwrap_or_else(|| serde_json::Value::String(text.clone()))
            } else {
                serde_json::Value::String(text.clone())
            }
        }
        Value::Seq(items) => serde_json::Value::Array(items.iter().map(to_json).collect()),
        Value::Map(entries) => serde_json::Value::Object(
            entries
                .iter()
                .map(|(k, v)| (k.as_str().unwrap_or("").to_string(), to_json(v)))
                .collect(),
        ),
    }
}
