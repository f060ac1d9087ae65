//! The `bindery` command knows every binding the packages ship: `cargo install --path cli`
//! builds the CLI alone, with its own feature resolution, so its dependency on the core must
//! ask for `all-bindings` itself (the workspace's test run unifies features and would hide a
//! CLI that does not).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

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

/// The features of the core's `all-bindings`, read from its Cargo.toml through cargo.
fn all_bindings_features() -> BTreeSet<String> {
    let meta: serde_json::Value =
        serde_json::from_str(&cargo(&["metadata", "--no-deps", "--format-version", "1"])).unwrap();
    let core = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "bindery")
        .expect("the core package");
    let features: BTreeSet<String> = core["features"]["all-bindings"]
        .as_array()
        .expect("the core has an all-bindings feature")
        .iter()
        .map(|f| f.as_str().unwrap().to_string())
        .collect();
    assert!(features.len() >= 9, "{features:?}");
    features
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
    // The registry compiled in here is the all-bindings one: each feature's type is in it.
    for feature in all_bindings_features() {
        assert!(
            registry.find(&format!("bindings.{feature}")).is_some(),
            "bindings.{feature} (feature {feature:?} of all-bindings) is not compiled in: {names:?}"
        );
    }
}
