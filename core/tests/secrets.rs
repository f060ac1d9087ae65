//! secretKeyRef through `secretstores.local.file` and `secretstores.local.env`, and the
//! errors when a store or key is missing. No secret value ever appears in a message.

use std::path::{Path, PathBuf};

use bindery::component::{self, Diagnostic, Validated};
use bindery::Registry;

#[path = "suite/mod.rs"]
mod suite;

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

/// A components folder, and beside it a secrets file.
struct Folder {
    tmp: tempfile::TempDir,
}

impl Folder {
    /// With `secrets` in the secrets file.
    fn new(secrets: &str) -> Folder {
        let f = Folder {
            tmp: tempfile::tempdir().unwrap(),
        };
        std::fs::create_dir(f.comps()).unwrap();
        std::fs::write(f.secrets(), secrets).unwrap();
        f
    }

    fn comps(&self) -> PathBuf {
        self.tmp.path().join("components")
    }

    fn secrets(&self) -> PathBuf {
        self.tmp.path().join("secrets.json")
    }

    /// Write `file` of the components folder.
    fn put(&self, file: &str, text: String) -> &Folder {
        std::fs::write(self.comps().join(file), text).unwrap();
        self
    }

    /// The file store `files` over the secrets file, with `extra` metadata.
    fn file_store(&self, extra: &str) -> &Folder {
        self.put("store.yaml", file_store("files", &self.secrets(), extra))
    }

    /// The components checked.
    fn check(&self) -> Validated {
        check(&self.comps())
    }

    /// The hook's `field` from the secret `name` (its `key`) of `store`, resolved.
    fn resolve(&self, store: &str, field: &str, name: &str, key: &str) -> String {
        self.put("hook.yaml", hook(Some(store), field, name, key));
        resolved(&self.check(), field)
    }

    /// The first error once `file` holds `text`.
    fn first_error(&self, file: &str, text: String) -> Diagnostic {
        let v = self.put(file, text).check();
        let e = v.diagnostics.into_iter().find(|d| d.is_error());
        e.expect("an error")
    }
}

#[test]
fn file_store_flattens_nested_keys() {
    let f = Folder::new(SECRETS);
    f.file_store("");
    for (name, key, want) in [
        ("db:password", "", "pw-nested"),
        ("db:password", "db:password", "pw-nested"),
        ("db:hosts:1", "", "h2"),
        ("token", "", "tok-top"),
        ("port", "", "5432"),
    ] {
        let got = f.resolve("files", "securityToken", name, key);
        assert_eq!(got, want, "{name}/{key}");
    }
}

#[test]
fn file_store_with_another_separator_and_multi_valued() {
    let f = Folder::new(SECRETS);
    f.file_store("  - name: nestedSeparator\n    value: \".\"\n");
    let got = f.resolve("files", "securityToken", "db.password", "");
    assert_eq!(got, "pw-nested");

    f.file_store("  - name: multiValued\n    value: \"true\"\n");
    let got = f.resolve("files", "securityToken", "db", "password");
    assert_eq!(got, "pw-nested");
    assert_eq!(f.resolve("files", "securityToken", "token", ""), "tok-top");
}

#[test]
fn env_store_reads_variables_under_its_prefix() {
    std::env::set_var("BINDERY_TEST_HOOK_TOKEN", "tok-from-env");
    std::env::set_var("DAPR_TEST_SECRET", "never");
    let f = Folder::new("");
    f.put("store.yaml", env_store("env", "BINDERY_TEST_"));
    let got = f.resolve("env", "securityToken", "HOOK_TOKEN", "");
    assert_eq!(got, "tok-from-env");

    // A variable that is not set is an error (Dapr would quietly give an empty value).
    let unset = hook(Some("env"), "securityToken", "NOT_SET_ANYWHERE", "");
    let e = f.first_error("hook.yaml", unset);
    let says = "\"BINDERY_TEST_NOT_SET_ANYWHERE\" is not set";
    assert!(e.message.contains(says), "{e}");

    // DAPR_* and APP_API_TOKEN are refused, as in Dapr.
    f.put("store.yaml", env_store("env", ""));
    let dapr = hook(Some("env"), "securityToken", "DAPR_TEST_SECRET", "");
    let e = f.first_error("hook.yaml", dapr);
    assert!(e.message.contains("may not be read as a secret"), "{e}");
    assert!(!e.to_string().contains("never"));
}

#[test]
fn missing_store_key_and_auth_are_errors_with_fixes() {
    let f = Folder::new(SECRETS);
    f.file_store("");
    let first_error = |text: String| f.first_error("hook.yaml", text);

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
    let f = Folder::new(r#"{"timeout": "hunter2-is-not-a-duration"}"#);
    f.file_store("");
    let v = f
        .put(
            "hook.yaml",
            hook(Some("files"), "responseTimeout", "timeout", ""),
        )
        .check();
    let all: String = v.diagnostics.iter().map(|d| format!("{d}\n")).collect();
    assert!(
        all.contains("metadata field \"responseTimeout\" (from a secret) is not a Go duration"),
        "{all}"
    );
    assert!(!all.contains("hunter2"), "{all}");
    // Nor in the Debug form of resolved metadata.
    std::fs::write(f.secrets(), r#"{"timeout": "hunter2-token"}"#).unwrap();
    let v = f
        .put(
            "hook.yaml",
            hook(Some("files"), "securityToken", "timeout", ""),
        )
        .check();
    let dbg = format!("{:?}", v.bindings[0].config);
    assert!(!dbg.contains("hunter2"), "{dbg}");
}

#[test]
fn broken_secrets_files_are_errors() {
    let f = Folder::new("{\"a\": \"top-secret\",");
    let e = f.first_error("store.yaml", file_store("files", &f.secrets(), ""));
    assert!(e.message.contains("is not valid JSON"), "{e}");
    assert!(!e.to_string().contains("top-secret"));

    let missing = f.tmp.path().join("missing.json");
    let e = f.first_error("store.yaml", file_store("files", &missing, ""));
    assert!(e.message.contains("cannot read secretsFile"), "{e}");
}

// -- Scrubbing: whichever check, factory or driver wrote a message, it holds no secret. --

mod scrubbing {
    use std::sync::Arc;

    use async_trait::async_trait;
    use bindery::binding::{
        BindingParts, InputBinding, InputContext, InvokeRequest, InvokeResponse, OutputBinding,
        Settings,
    };
    use bindery::registry::{Field, FieldKind};
    use bindery::{Error, Registry, Runtime};

    use super::file_store;

    const PASSWORD: &str = "Zk3Lq8Vw2Xp6Rt9N";
    const URL: &str = "amqp://guest:Zk3Lq8Vw2Xp6Rt9N@127.0.0.1:5672";

    /// Standard base64 with padding.
    fn b64(s: &str) -> String {
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for c in s.as_bytes().chunks(3) {
            let n = (u32::from(c[0]) << 16)
                | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
                | u32::from(*c.get(2).unwrap_or(&0));
            for i in 0..4 {
                out.push(if i <= c.len() {
                    A[(n >> (18 - 6 * i) & 63) as usize] as char
                } else {
                    '='
                });
            }
        }
        out
    }

    /// Every form of the password a careless message could carry.
    fn careless(value: &str) -> String {
        format!(
            "{value:?}, the password {PASSWORD}, {} in base64, Basic {}, PLAIN {}, bytes {:?}",
            b64(value),
            b64(&format!("guest:{PASSWORD}")),
            b64(&format!("\0guest\0{PASSWORD}")),
            PASSWORD.as_bytes()
        )
    }

    fn assert_clean(text: &str) {
        for bad in [
            PASSWORD.to_string(),
            b64(URL),
            b64(&format!("guest:{PASSWORD}")),
            b64(&format!("\0guest\0{PASSWORD}")),
            format!("{:?}", PASSWORD.as_bytes())
                .trim_matches(['[', ']'])
                .to_string(),
        ] {
            assert!(!text.contains(&bad), "{bad:?} in: {text}");
        }
    }

    /// A binding type whose settings check, factory and connection all quote their `url`
    /// carelessly.
    fn careless_check(s: &mut Settings) {
        if let (Some(u), true) = (s.text("url"), s.flag("failCheck", false)) {
            s.problem(
                "url",
                format!("bad url {}", careless(u)),
                format!("not {}", careless(u)),
            );
        }
    }

    struct Careless(String);

    #[async_trait]
    impl OutputBinding for Careless {
        async fn init(&self) -> bindery::Result<()> {
            Err(
                Error::upstream(format!("cannot connect to {}", careless(&self.0)))
                    .with_source(format!("driver said {}", self.0)),
            )
        }
        async fn invoke(&self, _: InvokeRequest) -> bindery::Result<InvokeResponse> {
            unreachable!("init fails")
        }
    }

    #[async_trait]
    impl InputBinding for Careless {
        async fn init(&self) -> bindery::Result<()> {
            OutputBinding::init(self).await
        }
        async fn read(&self, _: InputContext) -> bindery::Result<()> {
            Ok(())
        }
    }

    fn careless_build(s: &mut Settings) -> bindery::Result<BindingParts> {
        careless_check(s);
        let url = s.text_or_empty("url").to_string();
        if s.flag("failBuild", false) {
            return Err(Error::invalid_argument(format!(
                "cannot build {}",
                careless(&url)
            )));
        }
        let b = Arc::new(Careless(url));
        Ok(BindingParts {
            input: Some(b.clone() as Arc<dyn InputBinding>),
            output: Some(b as Arc<dyn OutputBinding>),
        })
    }

    const FIELDS: &[Field] = &[
        Field::required("url", FieldKind::Text, "amqp://host").sensitive(),
        Field::optional("failCheck", FieldKind::Bool, "false"),
        Field::optional("failBuild", FieldKind::Bool, "false"),
        Field::optional("plain", FieldKind::Text, ""),
    ];

    fn registry() -> Registry {
        crate::suite::harness::registry_with("bindings.careless", &["get"], FIELDS, careless_build)
    }

    /// A folder with a file store holding URL and a careless component reading it.
    fn folder(extra: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let secrets = dir.path().join("secrets.json");
        std::fs::write(&secrets, format!(r#"{{"url": "{URL}"}}"#)).unwrap();
        std::fs::write(
            dir.path().join("store.yaml"),
            file_store("files", &secrets, ""),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("careless.yaml"),
            format!("apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: careless\nspec:\n  type: bindings.careless\n  version: v1\n  initTimeout: 2s\n  metadata:\n  - name: url\n    secretKeyRef: {{name: url}}\n{extra}auth:\n  secretStore: files\n"),
        )
        .unwrap();
        dir
    }

    fn diagnostics(dir: &std::path::Path) -> String {
        let (components, diags) = bindery::component::load_paths(&[dir.to_path_buf()]);
        let v = bindery::component::validate(components, &registry(), None, diags);
        v.diagnostics.iter().map(|d| format!("{d}\n")).collect()
    }

    #[test]
    fn a_check_quoting_a_secret_is_scrubbed() {
        let dir = folder("  - name: failCheck\n    value: \"true\"\n");
        let all = diagnostics(dir.path());
        assert!(all.contains("bad url \"<secret>\""), "{all}");
        assert!(all.contains("fix: not \"<secret>\""), "{all}");
        assert_clean(&all);
        // Runtime::build's error carries the same diagnostics, scrubbed.
        let e = Runtime::builder()
            .resources_path(dir.path())
            .registry(registry())
            .build()
            .unwrap_err();
        assert!(e.to_string().contains("<secret>"), "{e}");
        assert_clean(&e.to_string());
    }

    #[test]
    fn a_factory_error_quoting_a_secret_is_scrubbed() {
        let dir = folder("  - name: failBuild\n    value: \"true\"\n");
        let all = diagnostics(dir.path());
        assert!(all.contains("cannot build \"<secret>\""), "{all}");
        assert_clean(&all);
    }

    #[test]
    fn a_plain_value_equal_to_a_secret_is_scrubbed_too() {
        // Another field holding the secret's value: still a secret, wherever it is quoted.
        let dir = folder(&format!(
            "  - name: failCheck\n    value: \"true\"\n  - name: plain\n    value: {PASSWORD}\n  - name: unknownField\n    value: {PASSWORD}\n"
        ));
        let all = diagnostics(dir.path());
        assert_clean(&all);
    }

    /// The careless binding of the folder at `dir` called: its error, with its source and
    /// its Debug form.
    async fn invoke_error(dir: &std::path::Path) -> (bindery::Error, String) {
        let rt = Runtime::builder()
            .resources_path(dir)
            .registry(registry())
            .build()
            .unwrap();
        let e = rt
            .invoke("careless", "get", Vec::new(), Default::default())
            .await
            .unwrap_err();
        let text = format!("{e} | {} | {:?}", e.source_text().unwrap_or(""), e);
        (e, text)
    }

    #[tokio::test]
    async fn connection_errors_quoting_a_secret_are_scrubbed() {
        let dir = folder("");
        let (e, text) = invoke_error(dir.path()).await;
        assert!(text.contains("cannot connect to \"<secret>\""), "{text}");
        assert!(text.contains("driver said <secret>"), "{text}");
        assert_clean(&text);
        assert_eq!(e.component(), Some("careless"));

        // The input side's init failure, at start.
        let rt = Runtime::builder()
            .resources_path(dir.path())
            .registry(registry())
            .build()
            .unwrap();
        rt.on_event("careless", |_| async { Ok(()) }).unwrap();
        let e = rt.start().await.unwrap_err();
        let text = format!("{e} | {:?}", e);
        assert!(text.contains("<secret>"), "{text}");
        assert_clean(&text);
    }

    /// A field the binding declares sensitive is scrubbed by the runtime when the component
    /// writes its value in the file, not through a secret store: for a URL, its password (the
    /// host stays, messages need it).
    #[tokio::test]
    async fn a_sensitive_field_written_in_the_file_is_scrubbed_too() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("careless.yaml"),
            format!("apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: careless\nspec:\n  type: bindings.careless\n  version: v1\n  initTimeout: 2s\n  metadata:\n  - name: url\n    value: {URL}\n  - name: failCheck\n    value: \"true\"\n"),
        )
        .unwrap();
        let all = diagnostics(dir.path());
        assert!(all.contains("127.0.0.1:5672"), "the host stays: {all}");
        assert_clean(&all);

        std::fs::write(
            dir.path().join("careless.yaml"),
            format!("apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: careless\nspec:\n  type: bindings.careless\n  version: v1\n  initTimeout: 2s\n  metadata:\n  - name: url\n    value: {URL}\n"),
        )
        .unwrap();
        let (_, text) = invoke_error(dir.path()).await;
        assert!(text.contains("127.0.0.1:5672"), "the host stays: {text}");
        assert_clean(&text);
    }
}
