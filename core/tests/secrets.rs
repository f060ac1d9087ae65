//! secretKeyRef through `secretstores.local.file` and `secretstores.local.env`, and the
//! errors when a store or key is missing. No secret value ever appears in a message.

use std::path::Path;

use bindery::component::{self, Validated};
use bindery::Registry;

fn check(dir: &Path) -> Validated {
    let (components, diags) = component::load_paths(&[dir.to_path_buf()]);
    component::validate(components, &Registry::builtin(), None, diags)
}

fn file_store(name: &str, secrets_file: &Path, extra: &str) -> String {
    format!(
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: {name}\nspec:\n  type: secretstores.local.file\n  version: v1\n  metadata:\n  - name: secretsFile\n    value: {}\n{extra}",
        secrets_file.display()
    )
}

fn env_store(name: &str, prefix: &str) -> String {
    format!(
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: {name}\nspec:\n  type: secretstores.local.env\n  version: v1\n  metadata:\n  - name: prefix\n    value: \"{prefix}\"\n"
    )
}

/// An HTTP binding whose securityToken (and optionally another field) come from a secret.
fn hook(store: Option<&str>, field: &str, secret_name: &str, key: &str) -> String {
    let auth = store
        .map(|s| format!("auth:\n  secretStore: {s}\n"))
        .unwrap_or_default();
    format!(
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: hook\nspec:\n  type: bindings.http\n  version: v1\n  metadata:\n  - name: url\n    value: http://localhost:1\n  - name: securityTokenHeader\n    value: Authorization\n  - name: {field}\n    secretKeyRef:\n      name: \"{secret_name}\"\n      key: \"{key}\"\n{auth}"
    )
}

fn resolved(v: &Validated, field: &str) -> String {
    assert!(v.is_ok(), "{:#?}", v.diagnostics);
    let b = v.bindings.iter().find(|b| b.config.name == "hook").unwrap();
    let entry = b.config.metadata.entry(field).unwrap();
    assert!(entry.secret, "marked as coming from a secret");
    entry.value.clone()
}

const SECRETS: &str =
    r#"{"db": {"password": "pw-nested", "hosts": ["h1", "h2"]}, "token": "tok-top", "port": 5432}"#;

#[test]
fn file_store_flattens_nested_keys() {
    let dir = tempfile::tempdir().unwrap();
    let secrets = dir.path().join("secrets.json");
    std::fs::write(&secrets, SECRETS).unwrap();
    let comps = dir.path().join("components");
    std::fs::create_dir(&comps).unwrap();
    std::fs::write(comps.join("store.yaml"), file_store("files", &secrets, "")).unwrap();

    for (name, key, want) in [
        ("db:password", "", "pw-nested"),
        ("db:password", "db:password", "pw-nested"),
        ("db:hosts:1", "", "h2"),
        ("token", "", "tok-top"),
        ("port", "", "5432"),
    ] {
        std::fs::write(
            comps.join("hook.yaml"),
            hook(Some("files"), "securityToken", name, key),
        )
        .unwrap();
        assert_eq!(
            resolved(&check(&comps), "securityToken"),
            want,
            "{name}/{key}"
        );
    }
}

#[test]
fn file_store_with_another_separator_and_multi_valued() {
    let dir = tempfile::tempdir().unwrap();
    let secrets = dir.path().join("secrets.json");
    std::fs::write(&secrets, SECRETS).unwrap();
    let comps = dir.path().join("components");
    std::fs::create_dir(&comps).unwrap();

    std::fs::write(
        comps.join("store.yaml"),
        file_store(
            "files",
            &secrets,
            "  - name: nestedSeparator\n    value: \".\"\n",
        ),
    )
    .unwrap();
    std::fs::write(
        comps.join("hook.yaml"),
        hook(Some("files"), "securityToken", "db.password", ""),
    )
    .unwrap();
    assert_eq!(resolved(&check(&comps), "securityToken"), "pw-nested");

    std::fs::write(
        comps.join("store.yaml"),
        file_store(
            "files",
            &secrets,
            "  - name: multiValued\n    value: \"true\"\n",
        ),
    )
    .unwrap();
    std::fs::write(
        comps.join("hook.yaml"),
        hook(Some("files"), "securityToken", "db", "password"),
    )
    .unwrap();
    assert_eq!(resolved(&check(&comps), "securityToken"), "pw-nested");
    std::fs::write(
        comps.join("hook.yaml"),
        hook(Some("files"), "securityToken", "token", ""),
    )
    .unwrap();
    assert_eq!(resolved(&check(&comps), "securityToken"), "tok-top");
}

#[test]
fn env_store_reads_variables_under_its_prefix() {
    std::env::set_var("BINDERY_TEST_HOOK_TOKEN", "tok-from-env");
    std::env::set_var("DAPR_TEST_SECRET", "never");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("store.yaml"),
        env_store("env", "BINDERY_TEST_"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("hook.yaml"),
        hook(Some("env"), "securityToken", "HOOK_TOKEN", ""),
    )
    .unwrap();
    assert_eq!(
        resolved(&check(dir.path()), "securityToken"),
        "tok-from-env"
    );

    // A variable that is not set is an error (Dapr would quietly give an empty value).
    std::fs::write(
        dir.path().join("hook.yaml"),
        hook(Some("env"), "securityToken", "NOT_SET_ANYWHERE", ""),
    )
    .unwrap();
    let v = check(dir.path());
    let e = v.diagnostics.iter().find(|d| d.is_error()).unwrap();
    assert!(
        e.message
            .contains("\"BINDERY_TEST_NOT_SET_ANYWHERE\" is not set"),
        "{e}"
    );

    // DAPR_* and APP_API_TOKEN are refused, as in Dapr.
    std::fs::write(dir.path().join("store.yaml"), env_store("env", "")).unwrap();
    std::fs::write(
        dir.path().join("hook.yaml"),
        hook(Some("env"), "securityToken", "DAPR_TEST_SECRET", ""),
    )
    .unwrap();
    let v = check(dir.path());
    let e = v.diagnostics.iter().find(|d| d.is_error()).unwrap();
    assert!(e.message.contains("may not be read as a secret"), "{e}");
    assert!(!e.to_string().contains("never"));
}

#[test]
fn missing_store_key_and_auth_are_errors_with_fixes() {
    let dir = tempfile::tempdir().unwrap();
    let secrets = dir.path().join("secrets.json");
    std::fs::write(&secrets, SECRETS).unwrap();
    let comps = dir.path().join("components");
    std::fs::create_dir(&comps).unwrap();
    std::fs::write(comps.join("store.yaml"), file_store("files", &secrets, "")).unwrap();

    let first_error = |text: String| {
        std::fs::write(comps.join("hook.yaml"), text).unwrap();
        let v = check(&comps);
        v.diagnostics
            .into_iter()
            .find(|d| d.is_error())
            .expect("an error")
    };

    let e = first_error(hook(None, "securityToken", "token", ""));
    assert!(e.message.contains("names no auth.secretStore"), "{e}");
    assert_eq!(
        e.fix.as_deref(),
        Some("add `auth: {secretStore: files}` to the component")
    );
    assert_eq!(e.location.line, 15, "points at secretKeyRef");

    let e = first_error(hook(Some("filez"), "securityToken", "token", ""));
    assert!(
        e.message
            .contains("auth.secretStore \"filez\" is not a secret store component"),
        "{e}"
    );
    assert_eq!(e.fix.as_deref(), Some("did you mean \"files\"?"));

    let e = first_error(hook(Some("files"), "securityToken", "tokn", ""));
    assert!(e.message.contains("secret \"tokn\" is not in"), "{e}");
    assert!(e.message.contains("did you mean \"token\"?"), "{e}");
}

#[test]
fn secret_values_never_appear_in_messages() {
    let dir = tempfile::tempdir().unwrap();
    let secrets = dir.path().join("secrets.json");
    std::fs::write(&secrets, r#"{"timeout": "hunter2-is-not-a-duration"}"#).unwrap();
    let comps = dir.path().join("components");
    std::fs::create_dir(&comps).unwrap();
    std::fs::write(comps.join("store.yaml"), file_store("files", &secrets, "")).unwrap();
    std::fs::write(
        comps.join("hook.yaml"),
        hook(Some("files"), "responseTimeout", "timeout", ""),
    )
    .unwrap();
    let v = check(&comps);
    let all: String = v.diagnostics.iter().map(|d| format!("{d}\n")).collect();
    assert!(
        all.contains("metadata field \"responseTimeout\" (from a secret) is not a Go duration"),
        "{all}"
    );
    assert!(!all.contains("hunter2"), "{all}");
    // Nor in the Debug form of resolved metadata.
    std::fs::write(&secrets, r#"{"timeout": "hunter2-token"}"#).unwrap();
    std::fs::write(
        comps.join("hook.yaml"),
        hook(Some("files"), "securityToken", "timeout", ""),
    )
    .unwrap();
    let v = check(&comps);
    let dbg = format!("{:?}", v.bindings[0].config);
    assert!(!dbg.contains("hunter2"), "{dbg}");
}

#[test]
fn broken_secrets_files_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let secrets = dir.path().join("secrets.json");
    std::fs::write(&secrets, "{\"a\": \"top-secret\",").unwrap();
    std::fs::write(
        dir.path().join("store.yaml"),
        file_store("files", &secrets, ""),
    )
    .unwrap();
    let v = check(dir.path());
    let e = v.diagnostics.iter().find(|d| d.is_error()).unwrap();
    assert!(e.message.contains("is not valid JSON"), "{e}");
    assert!(!e.to_string().contains("top-secret"));

    std::fs::write(
        dir.path().join("store.yaml"),
        file_store("files", &dir.path().join("missing.json"), ""),
    )
    .unwrap();
    let v = check(dir.path());
    let e = v.diagnostics.iter().find(|d| d.is_error()).unwrap();
    assert!(e.message.contains("cannot read secretsFile"), "{e}");
}
