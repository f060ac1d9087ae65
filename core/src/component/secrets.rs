//! The local secret stores Dapr has for self-hosted use: `secretstores.local.env` and
//! `secretstores.local.file`. They resolve `secretKeyRef`s while components are validated.
//! No secret value ever appears in an error message.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::values::parse_go_bool;
use super::{Component, Diagnostic, MetadataSource};

/// The secret store types bindery knows.
pub const SECRET_STORE_TYPES: [&str; 2] = ["secretstores.local.env", "secretstores.local.file"];

/// The metadata fields of each secret store type: (type, field, required).
const FIELDS: [(&str, &str, bool); 4] = [
    ("secretstores.local.env", "prefix", false),
    ("secretstores.local.file", "secretsFile", true),
    ("secretstores.local.file", "nestedSeparator", false),
    ("secretstores.local.file", "multiValued", false),
];

/// The metadata field names known for a secret store type.
pub fn fields_of(type_name: &str) -> impl Iterator<Item = (&'static str, bool)> + '_ {
    FIELDS
        .iter()
        .filter(move |(t, _, _)| *t == type_name)
        .map(|(_, f, r)| (*f, *r))
}

/// A loaded secret store.
#[derive(Clone)]
pub enum SecretStore {
    /// Environment variables, optionally under a prefix.
    Env {
        /// Prepended to the secret name to form the variable name.
        prefix: String,
    },
    /// A JSON file read once: secret name -> (key -> value).
    File {
        /// The file, for messages.
        path: PathBuf,
        /// The secrets.
        secrets: BTreeMap<String, BTreeMap<String, String>>,
    },
}

impl std::fmt::Debug for SecretStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretStore::Env { prefix } => write!(f, "SecretStore::Env {{ prefix: {prefix:?} }}"),
            SecretStore::File { path, secrets } => write!(
                f,
                "SecretStore::File {{ path: {}, secrets: {} }}",
                path.display(),
                secrets.len()
            ),
        }
    }
}

/// Environment variables the env store refuses to hand out, as Dapr's does.
fn env_blocked(var: &str) -> bool {
    let up = var.to_ascii_uppercase();
    up == "APP_API_TOKEN" || up.starts_with("DAPR_")
}

impl SecretStore {
    /// Build a store from its component; problems go to `diags`. Reads the secrets file.
    pub fn load(c: &Component, diags: &mut Vec<Diagnostic>) -> Option<SecretStore> {
        let get = |field: &str| {
            c.metadata
                .iter()
                .find(|m| m.name.eq_ignore_ascii_case(field))
                .map(|m| match &m.source {
                    MetadataSource::Value(v) => (v.clone(), m),
                    MetadataSource::SecretRef { .. } => (String::new(), m),
                })
        };
        match c.type_name.as_str() {
            "secretstores.local.env" => Some(SecretStore::Env {
                prefix: get("prefix").map(|(v, _)| v).unwrap_or_default(),
            }),
            "secretstores.local.file" => {
                let Some((file, item)) = get("secretsFile").filter(|(v, _)| !v.is_empty()) else {
                    diags.push(
                        Diagnostic::error(c.name_location.clone(), Some(&c.name), "secret store needs the metadata field \"secretsFile\"")
                            .with_fix("add `- name: secretsFile` with `value: ./secrets.json` (relative to the current directory)"),
                    );
                    return None;
                };
                let sep = get("nestedSeparator")
                    .map(|(v, _)| v)
                    .filter(|v| !v.is_empty())
                    .unwrap_or_else(|| ":".to_string());
                let multi = match get("multiValued") {
                    Some((v, m)) if !v.is_empty() => match parse_go_bool(&v) {
                        Ok(b) => b,
                        Err(e) => {
                            diags.push(
                                Diagnostic::error(
                                    m.value_location.clone(),
                                    Some(&c.name),
                                    format!("multiValued: {e}"),
                                )
                                .with_fix("write \"true\" or \"false\""),
                            );
                            false
                        }
                    },
                    _ => false,
                };
                let path = PathBuf::from(&file);
                let text = match std::fs::read_to_string(&path) {
                    Ok(t) => t,
                    Err(e) => {
                        diags.push(
                            Diagnostic::error(item.value_location.clone(), Some(&c.name), format!("cannot read secretsFile {file:?}: {e}"))
                                .with_fix("the path is relative to the directory the app runs in; create the file or fix the path"),
                        );
                        return None;
                    }
                };
                let json: serde_json::Value = match serde_json::from_str(&text) {
                    Ok(j) => j,
                    Err(e) => {
                        // serde_json's message names line and column but never echoes the content.
                        diags.push(
                            Diagnostic::error(
                                item.value_location.clone(),
                                Some(&c.name),
                                format!(
                                    "secretsFile {file:?} is not valid JSON (line {}, column {})",
                                    e.line(),
                                    e.column()
                                ),
                            )
                            .with_fix("the secrets file must be one JSON object"),
                        );
                        return None;
                    }
                };
                let Some(obj) = json.as_object() else {
                    diags.push(Diagnostic::error(
                        item.value_location.clone(),
                        Some(&c.name),
                        format!("secretsFile {file:?} must hold a JSON object"),
                    ));
                    return None;
                };
                let mut secrets = BTreeMap::new();
                if multi {
                    for (k, v) in obj {
                        let mut inner = BTreeMap::new();
                        match v {
                            serde_json::Value::Object(_) | serde_json::Value::Array(_) => {
                                flatten("", v, &sep, &mut inner)
                            }
                            other => {
                                inner.insert(k.clone(), leaf(other));
                            }
                        }
                        secrets.insert(k.clone(), inner);
                    }
                } else {
                    let mut flat = BTreeMap::new();
                    flatten("", &json, &sep, &mut flat);
                    for (k, v) in flat {
                        secrets.insert(k.clone(), BTreeMap::from([(k, v)]));
                    }
                }
                Some(SecretStore::File { path, secrets })
            }
            _ => None,
        }
    }

    /// Resolve `secretKeyRef {name, key}` as Dapr does: fetch the secret `name`, then take
    /// its entry `key` (or `name` when `key` is empty). The error never holds a value.
    pub fn resolve(&self, name: &str, key: &str) -> Result<String, String> {
        let key = if key.is_empty() { name } else { key };
        match self {
            SecretStore::Env { prefix } => {
                let var = format!("{prefix}{name}");
                if key != name {
                    return Err(format!(
                        "the env secret store has one value per secret: key {key:?} must be empty or equal to the name {name:?}"
                    ));
                }
                if env_blocked(&var) {
                    return Err(format!("the environment variable {var:?} may not be read as a secret (APP_API_TOKEN and DAPR_* are refused, as in Dapr)"));
                }
                std::env::var(&var)
                    .map_err(|_| format!("the environment variable {var:?} is not set"))
            }
            SecretStore::File { path, secrets } => {
                let Some(secret) = secrets.get(name) else {
                    let known: Vec<&str> = secrets.keys().map(String::as_str).collect();
                    let hint = super::nearest(name, known.iter().copied())
                        .map(|n| format!(" (did you mean {n:?}?)"))
                        .unwrap_or_default();
                    return Err(format!(
                        "secret {name:?} is not in {}{hint}",
                        path.display()
                    ));
                };
                secret.get(key).cloned().ok_or_else(|| {
                    let hint = super::nearest(key, secret.keys().map(String::as_str))
                        .map(|n| format!(" (did you mean {n:?}?)"))
                        .unwrap_or_default();
                    format!("secret {name:?} has no key {key:?}{hint}")
                })
            }
        }
    }
}

fn leaf(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn flatten(prefix: &str, v: &serde_json::Value, sep: &str, out: &mut BTreeMap<String, String>) {
    let join = |k: &str| {
        if prefix.is_empty() {
            k.to_string()
        } else {
            format!("{prefix}{sep}{k}")
        }
    };
    match v {
        serde_json::Value::Object(map) => {
            for (k, child) in map {
                flatten(&join(k), child, sep, out);
            }
        }
        serde_json::Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                flatten(&join(&i.to_string()), child, sep, out);
            }
        }
        other => {
            out.insert(prefix.to_string(), leaf(other));
        }
    }
}
