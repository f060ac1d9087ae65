//! Checking loaded components against the registry: types, versions, metadata fields and
//! their kinds, secrets, direction, duplicates. Every problem is collected; nothing starts.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;

use super::secrets::{self, SecretStore, SECRET_STORE_TYPES};
use super::{nearest, Component, Diagnostic, Metadata, MetadataSource, MetadataValue};
use crate::binding::{typed_value, BindingSpec, Settings};
use crate::binding::{
    BindingConfig, BindingParts, Direction, InputBinding, InputContext, InvokeRequest,
    InvokeResponse, OutputBinding,
};
use crate::error::Result;
use crate::redact::{self, Secrets};
use crate::registry::Registry;

/// Dapr's metadata names that every binding takes, besides its own fields.
pub const BUILTIN_FIELDS: [&str; 2] = ["direction", "route"];

/// Component type families Dapr has that bindery does not run; they are skipped with a warning.
const OTHER_FAMILIES: [&str; 9] = [
    "state",
    "pubsub",
    "configuration",
    "lock",
    "middleware",
    "workflow",
    "crypto",
    "conversation",
    "nameresolution",
];

/// A binding component that passed validation, built and ready to start.
#[derive(Clone)]
pub struct ValidBinding {
    /// The component as written.
    pub component: Component,
    /// Its type.
    pub spec: BindingSpec,
    /// Name, metadata (secrets resolved) and direction.
    pub config: BindingConfig,
    /// Dapr's `route` metadata for an input binding (default `/<name>`).
    pub route: String,
    /// The built binding.
    pub parts: BindingParts,
}

/// The outcome of validation: the valid bindings and every diagnostic (errors and warnings).
#[derive(Default)]
pub struct Validated {
    /// Bindings that passed (all of them, when there is no error).
    pub bindings: Vec<ValidBinding>,
    /// Every problem found, in file order.
    pub diagnostics: Vec<Diagnostic>,
}

impl Validated {
    /// True when no diagnostic is an error.
    pub fn is_ok(&self) -> bool {
        !self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// Validate components loaded from files. `app_id`, when given, applies `scopes`.
pub fn validate(
    components: Vec<Component>,
    registry: &Registry,
    app_id: Option<&str>,
    mut diags: Vec<Diagnostic>,
) -> Validated {
    // Scopes: a component scoped to other apps is not loaded by this one.
    let components: Vec<Component> = components
        .into_iter()
        .filter(|c| match app_id {
            Some(id) if !c.scopes.is_empty() => {
                let keep = c.scopes.iter().any(|s| s == id);
                if !keep {
                    tracing::debug!(component = %c.name, "skipped: scopes do not include app id {id}");
                }
                keep
            }
            _ => true,
        })
        .collect();

    // Duplicate names.
    let mut seen: HashMap<&str, &Component> = HashMap::new();
    for c in &components {
        if let Some(first) = seen.get(c.name.as_str()) {
            diags.push(
                Diagnostic::error(
                    c.name_location.clone(),
                    Some(&c.name),
                    format!(
                        "the component name {:?} is already used at {}",
                        c.name, first.name_location
                    ),
                )
                .with_fix("give each component its own metadata.name"),
            );
        } else {
            seen.insert(&c.name, c);
        }
    }

    // Secret stores first: bindings resolve their secretKeyRefs through them.
    let mut stores: HashMap<String, SecretStore> = HashMap::new();
    for c in components.iter().filter(|c| c.family() == "secretstores") {
        if !SECRET_STORE_TYPES.contains(&c.type_name.as_str()) {
            let mut d = Diagnostic::error(
                c.type_location.clone(),
                Some(&c.name),
                format!("unknown secret store type {:?}", c.type_name),
            );
            d = match nearest(&c.type_name, SECRET_STORE_TYPES) {
                Some(n) => d.with_fix(format!(
                    "did you mean {n:?}? bindery has {}",
                    SECRET_STORE_TYPES.join(" and ")
                )),
                None => d.with_fix(format!("bindery has {}", SECRET_STORE_TYPES.join(" and "))),
            };
            diags.push(d);
            continue;
        }
        let known: Vec<&str> = secrets::fields_of(&c.type_name).map(|(f, _)| f).collect();
        for m in &c.metadata {
            if !known.iter().any(|k| k.eq_ignore_ascii_case(&m.name)) {
                diags.push(unknown_field(c, &m.name, &known, m.location.clone()));
            }
        }
        if let Some(s) = SecretStore::load(c, &mut diags) {
            stores.insert(c.name.clone(), s);
        }
    }

    let mut out = Validated::default();
    // Every secret value resolved: no diagnostic may hold one, whichever check wrote it.
    let mut all_secrets = Secrets::new();
    let all_types = registry.type_names();
    for c in &components {
        let family = c.family();
        if family == "secretstores" {
            continue;
        }
        if family != "bindings" {
            if OTHER_FAMILIES.contains(&family) {
                diags.push(Diagnostic::warning(
                    c.type_location.clone(),
                    Some(&c.name),
                    format!("component type {:?} is not a binding; bindery runs bindings and secret stores only, so it is skipped", c.type_name),
                ));
                continue;
            }
            let candidates = all_types.iter().copied().chain(SECRET_STORE_TYPES);
            let mut d = Diagnostic::error(
                c.type_location.clone(),
                Some(&c.name),
                format!("unknown component type {:?}", c.type_name),
            );
            if let Some(n) = nearest(&c.type_name, candidates) {
                d = d.with_fix(format!("did you mean {n:?}?"));
            }
            diags.push(d);
            continue;
        }
        let Some(spec) = registry.find(&c.type_name) else {
            let mut d = Diagnostic::error(
                c.type_location.clone(),
                Some(&c.name),
                format!("unknown binding type {:?}", c.type_name),
            );
            d = match nearest(&c.type_name, all_types.iter().copied()) {
                Some(n) => d.with_fix(format!("did you mean {n:?}?")),
                None => d.with_fix(format!(
                    "the binding types compiled in are: {}",
                    all_types.join(", ")
                )),
            };
            diags.push(d);
            continue;
        };
        if !spec.accepts_version(&c.version) {
            diags.push(
                Diagnostic::error(
                    c.type_location.clone(),
                    Some(&c.name),
                    format!("{} has no version {:?}", spec.type_name, c.version),
                )
                .with_fix(format!(
                    "write `version: {}`",
                    spec.versions.join("` or `version: ")
                )),
            );
            continue;
        }
        let mut secrets = Secrets::new();
        let checked = check_binding(c, spec, &stores, app_id, &mut diags, &mut secrets);
        redact::register(&secrets);
        all_secrets.extend(&secrets);
        if let Some(vb) = checked {
            out.bindings.push(redacting(vb, secrets));
        }
    }
    for d in &mut diags {
        d.redact(&all_secrets);
    }
    diags.sort_by(|a, b| {
        (&a.location.file, a.location.line, a.location.column).cmp(&(
            &b.location.file,
            b.location.line,
            b.location.column,
        ))
    });
    out.diagnostics = diags;
    out
}

fn unknown_field(c: &Component, name: &str, known: &[&str], loc: super::Location) -> Diagnostic {
    let d = Diagnostic::warning(
        loc,
        Some(&c.name),
        format!(
            "unknown metadata field {name:?} for {}; it is ignored",
            c.type_name
        ),
    );
    match nearest(name, known.iter().copied()) {
        Some(n) => d.with_fix(format!("did you mean {n:?}?")),
        None if known.is_empty() => d,
        None => d.with_fix(format!(
            "the fields of {} are: {}",
            c.type_name,
            known.join(", ")
        )),
    }
}

/// Replace Dapr's template tags in a metadata value, as daprd does: `{uuid}` (a new one each),
/// `{podName}` (`POD_NAME`, else this host's name), `{namespace}` (`<NAMESPACE>.<app id>`,
/// the namespace `default` when `NAMESPACE` is not set) and `{appID}`. Without an app id the
/// last two stay as written; the second value says so.
fn template(value: &str, app_id: Option<&str>) -> (String, bool) {
    let namespace = || std::env::var("NAMESPACE").unwrap_or_else(|_| "default".into());
    fill_templates(value, app_id, namespace, pod_name)
}

/// `template` with the namespace and the pod name given (read only when the value asks).
fn fill_templates(
    value: &str,
    app_id: Option<&str>,
    namespace: impl FnOnce() -> String,
    pod: impl FnOnce() -> String,
) -> (String, bool) {
    let mut v = value.to_string();
    while let Some(i) = v.find("{uuid}") {
        v.replace_range(i..i + 6, &uuid::Uuid::new_v4().to_string());
    }
    if v.contains("{podName}") {
        v = v.replace("{podName}", &pod());
    }
    let mut missing_app_id = false;
    match app_id {
        Some(id) => {
            if v.contains("{namespace}") {
                v = v.replace("{namespace}", &format!("{}.{id}", namespace()));
            }
            v = v.replace("{appID}", id);
        }
        None => missing_app_id = v.contains("{namespace}") || v.contains("{appID}"),
    }
    (v, missing_app_id)
}

/// `POD_NAME`, as Kubernetes sets it for daprd, else this host's name.
fn pod_name() -> String {
    if let Some(p) = std::env::var("POD_NAME").ok().filter(|p| !p.is_empty()) {
        return p;
    }
    for file in ["/proc/sys/kernel/hostname", "/etc/hostname"] {
        if let Ok(h) = std::fs::read_to_string(file) {
            if !h.trim().is_empty() {
                return h.trim().to_string();
            }
        }
    }
    std::env::var("HOSTNAME").unwrap_or_else(|_| "localhost".into())
}

/// Register the value of a sensitive field for scrubbing: the password alone of a URL or DSN
/// (the rest of it names a host, which messages need), else the whole value.
/// Whether `value` is an http(s) or ws(s) URL.
fn is_web_url(value: &str) -> bool {
    let scheme = value.split_once("://").map_or("", |(s, _)| s);
    ["http", "https", "ws", "wss"]
        .iter()
        .any(|w| scheme.eq_ignore_ascii_case(w))
}

fn add_sensitive(secrets: &mut Secrets, value: &str) {
    match redact::userinfo(value) {
        Some((user, Some(password))) if !password.is_empty() => {
            secrets.add(password);
            secrets.add(&format!("{user}:{password}"));
        }
        // A web URL's userinfo without a password may be a token (https://<token>@host); a
        // database or broker URL's is a user name (postgres://postgres@host), not scrubbed
        // (it would blank that word out of every message).
        Some((user, None)) if !user.is_empty() && is_web_url(value) => secrets.add(user),
        Some(_) => {}
        None if value.contains("://") => {}
        None => secrets.add(value),
    }
}

fn check_binding(
    c: &Component,
    spec: &BindingSpec,
    stores: &HashMap<String, SecretStore>,
    app_id: Option<&str>,
    diags: &mut Vec<Diagnostic>,
    secrets: &mut Secrets,
) -> Option<ValidBinding> {
    let before = diags.iter().filter(|d| d.is_error()).count();
    let name = Some(c.name.as_str());

    // Resolve values and secrets; flag duplicates and unknown fields.
    let mut values: Vec<MetadataValue> = Vec::new();
    let known: Vec<&str> = spec
        .fields
        .iter()
        .flat_map(|f| f.names())
        .chain(BUILTIN_FIELDS)
        .collect();
    for m in &c.metadata {
        if let Some(i) = values.iter().position(|v| v.name == m.name) {
            // Dapr reads the list into a map: the last entry of a name wins.
            diags.push(
                Diagnostic::warning(
                    m.location.clone(),
                    name,
                    format!(
                        "metadata field {:?} is given twice, at lines {} and {}; the last one wins, as in Dapr",
                        m.name, values[i].location.line, m.location.line
                    ),
                )
                .with_fix("keep one of the two entries"),
            );
            values.remove(i);
        } else if let Some(prev) = values.iter().find(|v| v.name.eq_ignore_ascii_case(&m.name)) {
            // Dapr's DecodeMetadata refuses two keys that differ only in case.
            diags.push(
                Diagnostic::error(
                    m.location.clone(),
                    name,
                    format!(
                        "metadata field {:?} is given twice, as {:?} at line {} and {:?} here; Dapr refuses keys that differ only in case",
                        m.name, prev.name, prev.location.line, m.name
                    ),
                )
                .with_fix("keep one of the two entries"),
            );
            continue;
        }
        if !known.iter().any(|k| k.eq_ignore_ascii_case(&m.name)) {
            diags.push(unknown_field(c, &m.name, &known, m.location.clone()));
        }
        let (value, secret) = match &m.source {
            MetadataSource::Value(v) => {
                let (v, missing_app_id) = template(v, app_id);
                if missing_app_id {
                    diags.push(
                        Diagnostic::warning(
                            m.value_location.clone(),
                            name,
                            format!(
                                "metadata field {:?} uses {{appID}} or {{namespace}}, but no app id is set, so it stays as written",
                                m.name
                            ),
                        )
                        .with_fix("give the runtime an app id (RuntimeBuilder::app_id, `--app-id` on the CLI, `app_id=` in Python, `appId` in Node)"),
                    );
                }
                (v, false)
            }
            MetadataSource::SecretRef { name: sname, key } => {
                let Some(store_name) = &c.secret_store else {
                    let fix = if stores.is_empty() {
                        "add a secretstores.local.file or secretstores.local.env component, and name it under `auth: {secretStore: <name>}`".to_string()
                    } else {
                        let mut names: Vec<&str> = stores.keys().map(String::as_str).collect();
                        names.sort();
                        format!("add `auth: {{secretStore: {}}}` to the component", names[0])
                    };
                    diags.push(
                        Diagnostic::error(
                            m.value_location.clone(),
                            name,
                            format!("metadata field {:?} uses secretKeyRef, but the component names no auth.secretStore", m.name),
                        )
                        .with_fix(fix),
                    );
                    continue;
                };
                let Some(store) = stores.get(store_name) else {
                    let mut d = Diagnostic::error(
                        m.value_location.clone(),
                        name,
                        format!("auth.secretStore {store_name:?} is not a secret store component in the resources path"),
                    );
                    let names: Vec<&str> = stores.keys().map(String::as_str).collect();
                    d = match nearest(store_name, names.iter().copied()) {
                        Some(n) => d.with_fix(format!("did you mean {n:?}?")),
                        None if names.is_empty() => d.with_fix(
                            "add a secretstores.local.file or secretstores.local.env component",
                        ),
                        None => d.with_fix(format!("the secret stores are: {}", names.join(", "))),
                    };
                    diags.push(d);
                    continue;
                };
                match store.resolve(sname, key) {
                    Ok(v) => {
                        secrets.add(&v);
                        (v, true)
                    }
                    Err(e) => {
                        diags.push(
                            Diagnostic::error(
                                m.value_location.clone(),
                                name,
                                format!(
                                    "secretKeyRef of {:?} through store {store_name:?}: {e}",
                                    m.name
                                ),
                            )
                            .with_fix(
                                "add the secret to the store, or fix secretKeyRef's name and key",
                            ),
                        );
                        continue;
                    }
                }
            }
        };
        values.push(MetadataValue {
            name: m.name.clone(),
            value,
            secret,
            location: m.location.clone(),
        });
    }
    let metadata = Metadata::new(values);

    // Direction and route, as Dapr reads them.
    let mut direction = Direction {
        input: spec.input,
        output: spec.output,
        explicit: false,
    };
    if let Some(d) = metadata.entry("direction") {
        let mut dir = Direction {
            input: false,
            output: false,
            explicit: true,
        };
        let mut ok = true;
        for part in d.value.split(',').map(|p| p.trim().to_ascii_lowercase()) {
            match part.as_str() {
                "input" => dir.input = true,
                "output" => dir.output = true,
                _ => ok = false,
            }
        }
        let wrong = if !ok || (!dir.input && !dir.output) {
            vec![format!(
                "direction {:?} is not one of input, output, \"input, output\"",
                d.value
            )]
        } else {
            [
                (dir.input, spec.input, "input"),
                (dir.output, spec.output, "output"),
            ]
            .into_iter()
            .filter(|(asked, has, _)| *asked && !has)
            .map(|(_, _, word)| {
                format!(
                    "{} is not an {word} binding, but direction says {word}",
                    spec.type_name
                )
            })
            .collect()
        };
        if wrong.is_empty() {
            direction = dir;
        }
        for message in wrong {
            diags.push(
                Diagnostic::error(d.location.clone(), name, message)
                    .with_fix(format!("write `value: \"{}\"`", possible_direction(spec))),
            );
        }
    }
    let route = match metadata.get_nonempty("route") {
        Some(r) if r.starts_with('/') => r.to_string(),
        Some(r) => format!("/{r}"),
        None => format!("/{}", c.name),
    };

    // Fields: required ones present, every value of the right kind, parsed once.
    let mut typed = HashMap::new();
    for f in spec.fields {
        // The field under its own name, else under the first alias given (as Dapr's
        // resolveAliases); an alias beside the field itself is ignored, as in Dapr.
        let given: Vec<&MetadataValue> = f.names().filter_map(|n| metadata.entry(n)).collect();
        for ignored in given.iter().skip(1) {
            diags.push(
                Diagnostic::warning(
                    ignored.location.clone(),
                    name,
                    format!(
                        "{} is ignored: {} is given, and Dapr reads it first",
                        ignored.name, given[0].name
                    ),
                )
                .with_fix("keep one of the two"),
            );
        }
        // Dapr's older name for the field, or a field Dapr deprecated: read, with a warning
        // naming the current one.
        if let Some(v) = given
            .first()
            .filter(|v| !v.name.eq_ignore_ascii_case(f.name))
        {
            diags.push(
                Diagnostic::warning(
                    v.location.clone(),
                    name,
                    format!(
                        "metadata field {:?} is Dapr's older name for {:?}; it is read as that, as in Dapr",
                        v.name, f.name
                    ),
                )
                .with_fix(format!("rename it {}", f.name)),
            );
        } else if let (Some(v), Some(instead)) = (given.first(), f.deprecated) {
            diags.push(
                Diagnostic::warning(
                    v.location.clone(),
                    name,
                    format!(
                        "metadata field {:?} is deprecated in Dapr; it is still read, as in Dapr",
                        v.name
                    ),
                )
                .with_fix(instead),
            );
        }
        match given.first().copied() {
            None if f.required => diags.push(
                Diagnostic::error(
                    c.name_location.clone(),
                    name,
                    format!("{} needs the metadata field {:?}", spec.type_name, f.name),
                )
                .with_fix(format!(
                    "add `- name: {}` with `value: \"{}\"` under spec.metadata",
                    f.name, f.example
                )),
            ),
            Some(v) if v.value.trim().is_empty() && f.required => diags.push(
                Diagnostic::error(
                    v.location.clone(),
                    name,
                    format!("metadata field {:?} is empty", v.name),
                )
                .with_fix(format!("give it a value, e.g. \"{}\"", f.example)),
            ),
            Some(v) if !v.value.trim().is_empty() => {
                if f.sensitive && !v.secret {
                    add_sensitive(secrets, &v.value);
                }
                if let Some(reason) = f.ignored {
                    diags.push(
                        Diagnostic::warning(
                            v.location.clone(),
                            name,
                            format!(
                                "metadata field {:?} is accepted as in Dapr but ignored by bindery: {reason}",
                                v.name
                            ),
                        )
                        .with_fix(format!("remove {}, or leave it for Dapr", v.name)),
                    );
                }
                match typed_value(f.kind, &v.value) {
                    Ok((t, note)) => {
                        if let Some(t) = t {
                            typed.insert(f.name.to_ascii_lowercase(), t);
                        }
                        if let Some(note) = note {
                            diags.push(
                                Diagnostic::warning(
                                    v.location.clone(),
                                    name,
                                    format!("metadata field {:?}: {note}", v.name),
                                )
                                .with_fix("write true or false"),
                            );
                        }
                    }
                    Err(e) => {
                        let msg = if v.secret || f.sensitive {
                            format!(
                                "metadata field {:?} ({}) is not a {}",
                                v.name,
                                if v.secret {
                                    "from a secret"
                                } else {
                                    "a sensitive field"
                                },
                                f.kind.describe()
                            )
                        } else {
                            format!("metadata field {:?}: {e}", v.name)
                        };
                        diags.push(Diagnostic::error(v.location.clone(), name, msg).with_fix(
                            format!("write a {}, e.g. \"{}\"", f.kind.describe(), f.example),
                        ));
                    }
                }
            }
            _ => {}
        }
    }

    // The binding's own reading of its settings: it reports through `Settings`, at the
    // field's line. It runs even when a field was refused above (that field reads as
    // missing), so that every problem is reported at once; its parts are used only when
    // there is no error.
    let config = BindingConfig {
        name: c.name.clone(),
        type_name: spec.type_name.to_string(),
        metadata,
        direction,
    };
    let mut settings = Settings::new(&config, spec.fields, typed);
    let built = (spec.build)(&mut settings);
    for p in settings.into_problems() {
        let loc = p
            .field
            .as_deref()
            .and_then(|f| config.metadata.entry(f))
            .map(|e| e.location.clone())
            .unwrap_or_else(|| c.name_location.clone());
        let mut d = if p.warning {
            Diagnostic::warning(loc, name, p.message)
        } else {
            Diagnostic::error(loc, name, p.message)
        };
        if let Some(fix) = p.fix {
            d = d.with_fix(fix);
        }
        diags.push(d);
    }

    if diags.iter().filter(|d| d.is_error()).count() > before {
        return None;
    }
    match built {
        Ok(parts) => Some(ValidBinding {
            component: c.clone(),
            spec: spec.clone(),
            config,
            route,
            parts,
        }),
        Err(e) => {
            diags.push(Diagnostic::error(
                c.name_location.clone(),
                name,
                e.message().to_string(),
            ));
            None
        }
    }
}

fn possible_direction(spec: &BindingSpec) -> &'static str {
    match (spec.input, spec.output) {
        (true, true) => "input, output",
        (true, false) => "input",
        _ => "output",
    }
}

/// A binding whose component has secrets, with its outputs' and inputs' errors scrubbed of
/// them on the way out (a driver's error may quote the URL or the password it was given).
fn redacting(mut vb: ValidBinding, secrets: Secrets) -> ValidBinding {
    if secrets.is_empty() {
        return vb;
    }
    let secrets = Arc::new(secrets);
    if let Some(inner) = vb.parts.output.take() {
        vb.parts.output = Some(Arc::new(RedactedOutput {
            inner,
            secrets: secrets.clone(),
        }));
    }
    if let Some(inner) = vb.parts.input.take() {
        vb.parts.input = Some(Arc::new(RedactedInput { inner, secrets }));
    }
    vb
}

/// A binding with the errors of its calls scrubbed of `secrets`.
struct Redacted<B: ?Sized> {
    inner: Arc<B>,
    secrets: Arc<Secrets>,
}

type RedactedOutput = Redacted<dyn OutputBinding>;
type RedactedInput = Redacted<dyn InputBinding>;

impl<B: ?Sized> Redacted<B> {
    async fn scrubbed<T>(&self, call: impl std::future::Future<Output = Result<T>>) -> Result<T> {
        call.await.map_err(|e| e.redacted(&self.secrets))
    }
}

#[async_trait]
impl OutputBinding for RedactedOutput {
    async fn init(&self) -> Result<()> {
        self.scrubbed(self.inner.init()).await
    }

    async fn invoke(&self, req: InvokeRequest) -> Result<InvokeResponse> {
        self.scrubbed(self.inner.invoke(req)).await
    }

    async fn close(&self) -> Result<()> {
        self.scrubbed(self.inner.close()).await
    }
}

#[async_trait]
impl InputBinding for RedactedInput {
    async fn init(&self) -> Result<()> {
        self.scrubbed(self.inner.init()).await
    }

    async fn read(&self, ctx: InputContext) -> Result<()> {
        self.scrubbed(self.inner.read(ctx)).await
    }

    async fn close(&self) -> Result<()> {
        self.scrubbed(self.inner.close()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sensitive URL gives its password to scrub; a web URL's lone userinfo is taken for a
    /// token, a database URL's for the user name it is (left in messages).
    #[test]
    fn sensitive_urls_give_their_password_or_token_to_scrub() {
        let scrubbed = |value: &str, text: &str| {
            let mut secrets = Secrets::default();
            add_sensitive(&mut secrets, value);
            secrets.scrub(text).into_owned()
        };
        assert_eq!(
            scrubbed("postgres://app:hunter2@db/x", "login hunter2 app"),
            "login <secret> app"
        );
        assert_eq!(
            scrubbed("https://ghp_token123@example.com/hook", "sent ghp_token123"),
            "sent <secret>"
        );
        assert_eq!(
            scrubbed("postgres://postgres@127.0.0.1/test", "tokio-postgres says"),
            "tokio-postgres says"
        );
    }

    #[test]
    fn templates_are_filled_as_daprd_fills_them() {
        let fill = |v: &str, app: Option<&str>| {
            fill_templates(v, app, || "shop".into(), || "pod-7".into())
        };
        let (v, missing) = fill("x/{namespace}/{appID}/{podName}/{uuid}", Some("orders"));
        assert!(!missing);
        let prefix = "x/shop.orders/orders/pod-7/";
        assert!(v.starts_with(prefix), "{v}");
        assert_eq!(v[prefix.len()..].len(), 36, "a UUID: {v}");
        assert_ne!(
            fill("{uuid}", None).0,
            fill("{uuid}", None).0,
            "a new one each"
        );
        assert_eq!(
            fill("{namespace}-{appID}", None),
            ("{namespace}-{appID}".into(), true)
        );
        assert_eq!(fill("plain", None), ("plain".into(), false));
    }
}
