//! The bindings the packages ship, as the `bindery` command and the repository see them:
//!
//! - `cargo install --path cli` builds the CLI alone, with its own feature resolution, so its
//!   dependency on the core must ask for `all-bindings` itself (the workspace's test run
//!   unifies features and would hide a CLI that does not);
//! - `bindery bindings` lists every type of the core's registry, as text and as JSON;
//! - every binding feature of core/Cargo.toml is in `all-bindings` and registers a type;
//! - README.md's bindings table is the one generated from the registry (regenerate it with
//!   `BINDERY_BLESS=1 cargo test -p bindery-cli --test bindings readme`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use bindery::registry::{BindingSpec, FieldKind};
use bindery::Registry;
use support::bindery;

mod support;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Run cargo (the one running these tests) in the workspace; no build, no network.
fn cargo(args: &[&str]) -> String {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(&cargo)
        .args(args)
        .args(["--locked", "--offline"])
        .current_dir(workspace())
        .env("CARGO_TERM_COLOR", "never")
        .output()
        .expect("cargo runs");
    assert!(
        out.status.success(),
        "{cargo} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The core's features as core/Cargo.toml declares them (read through cargo): each name
/// with what it enables.
fn core_features() -> BTreeMap<String, Vec<String>> {
    let meta: serde_json::Value =
        serde_json::from_str(&cargo(&["metadata", "--no-deps", "--format-version", "1"])).unwrap();
    let core = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "bindery")
        .expect("the core package");
    core["features"]
        .as_object()
        .expect("the core has features")
        .iter()
        .map(|(name, enables)| {
            let enables = enables
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f.as_str().unwrap().to_string())
                .collect();
            (name.clone(), enables)
        })
        .collect()
}

/// The features of the core's `all-bindings`.
fn all_bindings_features() -> BTreeSet<String> {
    let features: BTreeSet<String> = core_features()
        .remove("all-bindings")
        .expect("the core has an all-bindings feature")
        .into_iter()
        .collect();
    assert!(features.len() >= 9, "{features:?}");
    features
}

/// The core's binding features: every feature but `default`, `all-bindings`, `logging` and
/// the internal ones (`_*`), the rule tests/run's per-feature loop follows too.
fn binding_features() -> BTreeSet<String> {
    core_features()
        .into_keys()
        .filter(|f| !matches!(f.as_str(), "default" | "all-bindings" | "logging"))
        .filter(|f| !f.starts_with('_'))
        .collect()
}

/// One line of `bindings::builtin` (core/src/bindings/mod.rs): the feature of its
/// `#[cfg(feature = "...")]`, if it has one, and the expression it adds.
#[derive(Debug)]
struct Registration {
    feature: Option<String>,
    expr: String,
}

/// The registration lines of `bindings::builtin`, in order. They are the one place that says
/// which feature compiles which binding in: each is `#[cfg(feature = "<feature>")]` followed
/// by `<module>::spec(),`.
fn registrations() -> Vec<Registration> {
    let path = workspace().join("core/src/bindings/mod.rs");
    let source = std::fs::read_to_string(&path).unwrap();
    let body = source
        .split_once("pub fn builtin()")
        .unwrap_or_else(|| panic!("{} has no `pub fn builtin()`", path.display()))
        .1;
    let mut out = Vec::new();
    let mut pending: Option<String> = None;
    for line in body.lines().skip(1).map(str::trim) {
        if line == "}" {
            break;
        }
        if line.starts_with("//") {
            continue;
        }
        if let Some(cfg) = line.strip_prefix("#[cfg(") {
            assert!(
                pending.is_none(),
                "{}: `{line}`: one #[cfg(feature = \"...\")] per binding line of builtin()",
                path.display()
            );
            let feature = cfg
                .strip_prefix("feature = \"")
                .and_then(|f| f.strip_suffix("\")]"))
                .unwrap_or_else(|| {
                    panic!(
                        "{}: `{line}`: a binding's line in builtin() is gated by exactly one \
                         #[cfg(feature = \"<its feature>\")]",
                        path.display()
                    )
                });
            pending = Some(feature.to_string());
        } else if line.ends_with("),") || line.ends_with(')') {
            out.push(Registration {
                feature: pending.take(),
                expr: line.trim_end_matches(',').to_string(),
            });
        }
    }
    out
}

/// Each compiled-in binding type with the feature that compiles it in: `bindings::builtin()`
/// (every feature is on in these tests) paired, in order, with its registration lines.
fn features_of_types() -> BTreeMap<&'static str, String> {
    let specs = bindery::bindings::builtin();
    let lines = registrations();
    assert_eq!(
        specs.len(),
        lines.len(),
        "bindings::builtin() gives {} bindings but core/src/bindings/mod.rs has {} registration lines: {lines:#?}",
        specs.len(),
        lines.len()
    );
    specs
        .iter()
        .zip(lines)
        .map(|(spec, line)| {
            let feature = line.feature.unwrap_or_else(|| {
                panic!(
                    "`{}` ({}) in bindings::builtin has no #[cfg(feature = \"...\")]",
                    line.expr, spec.type_name
                )
            });
            (spec.type_name, feature)
        })
        .collect()
}

/// Every binding type of `registry`, aliases folded into their type, sorted by type name.
fn specs(registry: &Registry) -> Vec<&BindingSpec> {
    let mut specs: Vec<&BindingSpec> = registry.specs().iter().collect();
    specs.sort_by_key(|s| s.type_name);
    specs
}

#[test]
fn the_cli_alone_builds_the_core_with_every_binding() {
    // What `cargo install --path cli` / `cargo build -p bindery-cli` resolves: the CLI's own
    // normal and build dependencies, no dev-dependencies, no other workspace member.
    let tree = cargo(&[
        "tree",
        "-p",
        "bindery-cli",
        "-e",
        "normal,build",
        "--prefix",
        "none",
        "--format",
        "{p}|{f}",
    ]);
    let line = tree
        .lines()
        .find(|l| l.starts_with("bindery v"))
        .unwrap_or_else(|| panic!("the CLI depends on the core:\n{tree}"));
    let enabled: BTreeSet<String> = line
        .split_once('|')
        .map(|(_, f)| {
            f.trim_end_matches(" (*)")
                .split(',')
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let wanted = all_bindings_features();
    let missing: Vec<&String> = wanted.difference(&enabled).collect();
    assert!(
        missing.is_empty(),
        "the CLI built alone (cargo install --path cli) leaves out the bindings {missing:?}: \
         its core features are {enabled:?}; depend on bindery with features = [\"all-bindings\"]"
    );
}

/// A component's metadata entries, name and value.
type Metadata<'a> = &'a [(&'a str, &'a str)];

fn component(name: &str, type_name: &str, metadata: &[(&str, &str)]) -> String {
    let mut s = format!(
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: {name}\nspec:\n  type: {type_name}\n  version: v1\n  metadata:\n"
    );
    for (k, v) in metadata {
        s.push_str(&format!("  - name: {k}\n    value: {v:?}\n"));
    }
    s
}

#[test]
fn validate_accepts_every_server_binding() {
    let dir = tempfile::tempdir().unwrap();
    let components: [(&str, &str, Metadata); 6] = [
        (
            "events",
            "bindings.kafka",
            &[
                ("brokers", "localhost:9092"),
                ("topics", "orders"),
                ("consumerGroup", "group1"),
                ("publishTopic", "orders"),
                ("authType", "none"),
            ],
        ),
        (
            "cache",
            "bindings.redis",
            &[("redisHost", "localhost:6379")],
        ),
        (
            "pg",
            "bindings.postgresql",
            &[(
                "connectionString",
                "host=localhost user=postgres password=example port=5432 database=db",
            )],
        ),
        (
            "db",
            "bindings.mysql",
            &[("url", "user:password@tcp(localhost:3306)/db")],
        ),
        (
            "queue",
            "bindings.rabbitmq",
            &[
                ("queueName", "orders"),
                ("host", "amqp://guest:guest@localhost:5672"),
            ],
        ),
        (
            "sensors",
            "bindings.mqtt3",
            &[
                ("url", "tcp://localhost:1883"),
                ("topic", "sensors"),
                ("consumerID", "{uuid}"),
            ],
        ),
    ];
    for (name, type_name, md) in components {
        std::fs::write(
            dir.path().join(format!("{name}.yaml")),
            component(name, type_name, md),
        )
        .unwrap();
    }
    let out = bindery(&["validate", "-d", dir.path().to_str().unwrap()]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "validate failed:\n{stdout}\n{stderr}");
    assert!(!stdout.contains("error"), "{stdout}");
}

#[test]
fn every_binding_type_of_the_core_is_known_to_the_cli() {
    let registry = Registry::builtin();
    let names = registry.type_names();
    let dir = tempfile::tempdir().unwrap();
    for (i, type_name) in names.iter().enumerate() {
        let spec = registry.find(type_name).unwrap();
        let md: Vec<(&str, &str)> = spec
            .fields
            .iter()
            .filter(|f| f.required)
            .map(|f| (f.name, f.example))
            .collect();
        std::fs::write(
            dir.path().join(format!("c{i}.yaml")),
            component(&format!("c{i}"), type_name, &md),
        )
        .unwrap();
    }
    let out = bindery(&["validate", "-d", dir.path().to_str().unwrap()]);
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let unknown: Vec<&str> = report
        .lines()
        .filter(|l| l.contains("unknown binding type"))
        .collect();
    assert!(unknown.is_empty(), "{unknown:#?}");
    // The registry compiled in here is the all-bindings one: each feature's types are in it.
    let features = features_of_types();
    for feature in all_bindings_features() {
        assert!(
            features.values().any(|f| *f == feature),
            "no binding type of feature {feature:?} (in all-bindings) is compiled in: {features:?}"
        );
    }
}

#[test]
fn all_bindings_names_every_binding_feature() {
    let all = all_bindings_features();
    let bindings = binding_features();
    let missing: Vec<&String> = bindings.difference(&all).collect();
    assert!(
        missing.is_empty(),
        "core/Cargo.toml: all-bindings leaves out the binding features {missing:?}; add them \
         (the C, Python and Node packages and the CLI ship all-bindings)"
    );
    let extra: Vec<&String> = all.difference(&bindings).collect();
    assert!(
        extra.is_empty(),
        "core/Cargo.toml: all-bindings names {extra:?}, which are not binding features"
    );
}

/// Each binding feature alone registers a binding type: its registration line in
/// `bindings::builtin` is gated by that feature and nothing else, so the feature alone
/// compiles it in (tests/run builds each binding feature alone). Every registration line is
/// gated by a binding feature, so no binding is compiled in by another feature.
#[test]
fn every_binding_feature_registers_a_binding_type() {
    let bindings = binding_features();
    let features = features_of_types();
    for (type_name, feature) in &features {
        assert!(
            bindings.contains(feature),
            "{type_name} is registered under the feature {feature:?}, which is not a binding \
             feature of core/Cargo.toml: {bindings:?}"
        );
    }
    for feature in &bindings {
        assert!(
            features.values().any(|f| f == feature),
            "the binding feature {feature:?} registers no binding type in \
             core/src/bindings/mod.rs::builtin: {features:?}"
        );
    }
}

#[test]
fn bindings_lists_every_type_of_the_registry_as_text() {
    let out = bindery(&["bindings"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let blocks: BTreeMap<&str, &str> = text
        .split("\n\n")
        .map(|b| (b.split_whitespace().next().unwrap_or(""), b))
        .collect();
    let registry = Registry::builtin();
    let specs = specs(&registry);
    let listed: BTreeSet<&str> = blocks.keys().copied().collect();
    let known: BTreeSet<&str> = specs.iter().map(|s| s.type_name).collect();
    assert_eq!(listed, known, "{text}");
    for spec in specs {
        let block = blocks[spec.type_name];
        for alias in spec.aliases {
            assert!(block.lines().next().unwrap().contains(alias), "{block}");
        }
        for op in spec.operations {
            assert!(block.contains(op), "{}: {op}\n{block}", spec.type_name);
        }
        for field in spec.fields {
            let line = block
                .lines()
                .find(|l| l.split_whitespace().next() == Some(field.name))
                .unwrap_or_else(|| {
                    panic!("{}: no line for {}\n{block}", spec.type_name, field.name)
                });
            assert!(line.contains(field.kind.short_name()), "{line}");
            let required = if field.required {
                "required"
            } else {
                "optional"
            };
            assert!(line.contains(required), "{line}");
            assert_eq!(line.contains("sensitive"), field.sensitive, "{line}");
            assert!(line.contains(field.example), "{line}");
        }
    }
}

#[test]
fn bindings_json_is_an_array_with_every_type_and_field() {
    let out = bindery(&["bindings", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let listed = json.as_array().expect("an array");
    let registry = Registry::builtin();
    let specs = specs(&registry);
    assert_eq!(listed.len(), specs.len(), "{json:#}");
    let strings = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .unwrap_or_else(|| panic!("an array: {v}"))
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect()
    };
    let keys = |v: &serde_json::Value| -> BTreeSet<String> {
        v.as_object()
            .unwrap_or_else(|| panic!("an object: {v}"))
            .keys()
            .cloned()
            .collect()
    };
    let set =
        |names: &[&str]| -> BTreeSet<String> { names.iter().map(|s| s.to_string()).collect() };
    // The shape README.md documents, key for key.
    let spec_keys = set(&[
        "type",
        "aliases",
        "versions",
        "directions",
        "operations",
        "metadata",
    ]);
    let field_keys = set(&[
        "name",
        "kind",
        "description",
        "values",
        "required",
        "sensitive",
        "example",
        "ignored",
    ]);
    for (obj, spec) in listed.iter().zip(specs) {
        assert_eq!(keys(obj), spec_keys, "{obj}");
        assert_eq!(obj["type"], spec.type_name);
        assert_eq!(strings(&obj["aliases"]), spec.aliases);
        assert_eq!(strings(&obj["versions"]), spec.versions);
        let mut directions = Vec::new();
        if spec.input {
            directions.push("input");
        }
        if spec.output {
            directions.push("output");
        }
        assert_eq!(strings(&obj["directions"]), directions);
        assert_eq!(strings(&obj["operations"]), spec.operations);
        let fields = obj["metadata"].as_array().expect("metadata is an array");
        assert_eq!(fields.len(), spec.fields.len(), "{}", spec.type_name);
        for (f, field) in fields.iter().zip(spec.fields) {
            assert_eq!(keys(f), field_keys, "{f}");
            assert_eq!(f["name"], field.name);
            assert_eq!(f["kind"], field.kind.short_name());
            assert_eq!(f["description"], field.kind.describe());
            let words: &[&str] = match field.kind {
                FieldKind::OneOf(words) => words,
                _ => &[],
            };
            assert_eq!(strings(&f["values"]), words, "{f}");
            assert_eq!(f["required"], field.required);
            assert_eq!(f["sensitive"], field.sensitive);
            assert_eq!(f["example"], field.example);
            assert_eq!(f["ignored"], field.ignored.unwrap_or(""));
        }
    }
}

#[test]
fn bindings_marks_sensitive_fields() {
    let registry = Registry::builtin();
    let (spec, field) = specs(&registry)
        .into_iter()
        .find_map(|s| s.fields.iter().find(|f| f.sensitive).map(|f| (s, f)))
        .expect("some binding has a sensitive field");
    let out = bindery(&["bindings", "--json", spec.type_name]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let listed = json.as_array().unwrap();
    assert_eq!(listed.len(), 1, "{json:#}");
    let f = listed[0]["metadata"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == field.name)
        .unwrap();
    assert_eq!(f["sensitive"], true, "{f}");
    let out = bindery(&["bindings", spec.type_name]);
    let text = String::from_utf8(out.stdout).unwrap();
    let line = text
        .lines()
        .find(|l| l.split_whitespace().next() == Some(field.name))
        .unwrap();
    assert!(line.contains("sensitive"), "{line}");
}

#[test]
fn bindings_of_one_type_by_alias_and_of_an_unknown_one() {
    let registry = Registry::builtin();
    let spec = specs(&registry)
        .into_iter()
        .find(|s| !s.aliases.is_empty())
        .expect("some binding has an alias");
    let out = bindery(&["bindings", "--json", spec.aliases[0]]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 1, "{json:#}");
    assert_eq!(json[0]["type"], spec.type_name);

    let out = bindery(&["bindings", "bindings.nope"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("unknown binding type \"bindings.nope\""),
        "{stderr}"
    );
    assert!(stderr.contains(spec.type_name), "{stderr}");
}

const TABLE_START: &str = "<!-- bindings table: generated from the registry by \
    `BINDERY_BLESS=1 cargo test -p bindery-cli --test bindings readme`; do not edit -->";
const TABLE_END: &str = "<!-- end of the bindings table -->";

/// README.md's bindings table, from the registry and core/Cargo.toml.
fn bindings_table() -> String {
    let registry = Registry::builtin();
    let features = features_of_types();
    let defaults = core_features().remove("default").unwrap_or_default();
    let code = |items: &[&str], sep: &str| -> String {
        items
            .iter()
            .map(|i| format!("`{i}`"))
            .collect::<Vec<_>>()
            .join(sep)
    };
    let mut out = String::from(
        "| type | directions | operations | required metadata | cargo feature |\n|---|---|---|---|---|\n",
    );
    for spec in specs(&registry) {
        let mut names = vec![spec.type_name];
        names.extend(spec.aliases);
        let mut directions = Vec::new();
        if spec.input {
            directions.push("input");
        }
        if spec.output {
            directions.push("output");
        }
        let required = spec.required_fields();
        let feature = &features[spec.type_name];
        let feature = if defaults.contains(feature) {
            format!("`{feature}` (default)")
        } else {
            format!("`{feature}`")
        };
        out.push_str(&format!(
            "| {} | {} | {} | {} | {feature} |\n",
            code(&names, " / "),
            directions.join(", "),
            code(spec.operations, " "),
            if required.is_empty() {
                "-".to_string()
            } else {
                code(&required, ", ")
            },
        ));
    }
    out
}

#[test]
fn readme_bindings_table_is_up_to_date() {
    let path = workspace().join("README.md");
    let readme = std::fs::read_to_string(&path).unwrap();
    let (before, rest) = readme
        .split_once(TABLE_START)
        .unwrap_or_else(|| panic!("README.md has no line {TABLE_START}"));
    let (table, after) = rest
        .split_once(TABLE_END)
        .unwrap_or_else(|| panic!("README.md has no line {TABLE_END} after the table"));
    let generated = format!("\n\n{}\n", bindings_table());
    if std::env::var_os("BINDERY_BLESS").is_some() {
        std::fs::write(
            &path,
            format!("{before}{TABLE_START}{generated}{TABLE_END}{after}"),
        )
        .unwrap();
        return;
    }
    assert!(
        table == generated,
        "README.md's bindings table is stale: regenerate it with \
         `BINDERY_BLESS=1 cargo test -p bindery-cli --test bindings readme` and commit it\n\
         committed:\n{table}\ngenerated:\n{generated}"
    );
}

/// `bindery validate` takes a folder with one component of every binding type the CLI knows,
/// each written from its declaration alone: its required fields with their examples, plus
/// any field the binding then says it needs (a requirement that depends on others, such as
/// Kafka's `authType` or PostgreSQL's `connectionString`-or-`url`), with its example.
#[test]
fn validate_takes_one_component_of_every_binding_type() {
    let registry = Registry::builtin();
    let dir = tempfile::tempdir().unwrap();
    let write = |spec: &BindingSpec, fields: &[&str]| {
        let name = spec.type_name.trim_start_matches("bindings.");
        let mut yaml = format!(
            "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: {name}\nspec:\n  type: {}\n  version: v1\n  metadata:\n",
            spec.type_name
        );
        for f in spec.fields.iter().filter(|f| fields.contains(&f.name)) {
            yaml.push_str(&format!(
                "  - name: {}\n    value: {:?}\n",
                f.name, f.example
            ));
        }
        std::fs::write(dir.path().join(format!("{name}.yaml")), yaml).unwrap();
    };
    let mut wanted: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for spec in registry.specs() {
        let required = spec.required_fields();
        write(spec, &required);
        wanted.insert(spec.type_name, required);
    }
    let path = dir.path().display().to_string();
    let mut stdout = String::new();
    for _ in 0..4 {
        let out = bindery(&["validate", "--resources-path", &path]);
        stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() {
            break;
        }
        // Add each field a binding says it needs, and try again.
        for line in stdout.lines() {
            let Some((_, after)) = line.split_once(" needs the metadata field \"") else {
                continue;
            };
            let field = after.split('"').next().unwrap();
            let spec = registry
                .specs()
                .iter()
                .find(|s| line.contains(&format!("{} ", s.type_name)))
                .unwrap_or_else(|| panic!("whose need is it? {line}"));
            let fields = wanted.get_mut(spec.type_name).unwrap();
            let declared = spec.fields.iter().find(|f| f.name == field);
            assert!(declared.is_some(), "{field} is not declared: {line}");
            fields.push(declared.unwrap().name);
            write(spec, fields);
        }
    }
    assert!(
        stdout.contains(&format!("{} component(s) valid", registry.specs().len())),
        "{stdout}"
    );
    assert!(
        wanted["bindings.kafka"].contains(&"authType"),
        "Kafka asked for authType: {wanted:?}"
    );
    for spec in registry.specs() {
        let name = spec.type_name.trim_start_matches("bindings.");
        assert!(
            stdout.contains(&format!("ok: {name} ({}, ", spec.type_name)),
            "{}: {stdout}",
            spec.type_name
        );
    }
}
