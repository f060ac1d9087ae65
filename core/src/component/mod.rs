//! Dapr component files: schema, loading, validation, templating and secrets.
//!
//! The schema is Dapr's own (`apiVersion: dapr.io/v1alpha1`, `kind: Component`), so a Dapr
//! user's components folder loads unchanged. Everything here runs before any network I/O.

mod load;
pub mod secrets;
mod validate;
pub mod values;
pub mod yaml;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use load::load_paths;
pub use validate::{validate, ValidBinding, Validated, BUILTIN_FIELDS};

/// Where something stands in a component file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Location {
    /// The file, as it was found under the resources path.
    pub file: PathBuf,
    /// 1-based line (0 when the problem is about the whole file or folder).
    pub line: usize,
    /// 1-based column (0 when unknown).
    pub column: usize,
}

impl Location {
    /// A location in `file` at `pos`.
    pub fn at(file: &Path, pos: yaml::Pos) -> Self {
        Location {
            file: file.to_path_buf(),
            line: pos.line,
            column: pos.column,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if self.line > 0 {
            write!(f, ":{}", self.line)?;
            if self.column > 0 {
                write!(f, ":{}", self.column)?;
            }
        }
        Ok(())
    }
}

/// How serious a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// The components cannot be loaded until this is fixed.
    Error,
    /// Loading goes on, but the file most likely does not mean what it says.
    Warning,
}

/// One problem found in the component files, with where it is and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// File, line and column.
    pub location: Location,
    /// The component's `metadata.name`, when known.
    pub component: Option<String>,
    /// What is wrong.
    pub message: String,
    /// How to fix it, when there is one thing to do.
    pub fix: Option<String>,
}

impl Diagnostic {
    /// A new error diagnostic.
    pub fn error(location: Location, component: Option<&str>, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            location,
            component: component.map(str::to_string),
            message: message.into(),
            fix: None,
        }
    }

    /// A new warning diagnostic.
    pub fn warning(
        location: Location,
        component: Option<&str>,
        message: impl Into<String>,
    ) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(location, component, message)
        }
    }

    /// Attach how to fix it.
    pub fn with_fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = Some(fix.into());
        self
    }

    /// True for an error, false for a warning.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// Replace every form of `secrets` in the message and the fix with `<secret>`, and every
    /// URL password in the message with `***` (a fix's URLs are bindery's own examples).
    pub fn redact(&mut self, secrets: &crate::redact::Secrets) {
        self.message = secrets.scrub(&self.message).into_owned();
        if let Some(f) = &self.fix {
            self.fix = Some(secrets.scrub_values(f).into_owned());
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{}: {sev}", self.location)?;
        if let Some(c) = &self.component {
            write!(f, " in component {c:?}")?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(fix) = &self.fix {
            write!(f, "\n  fix: {fix}")?;
        }
        Ok(())
    }
}

/// Where a metadata item's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetadataSource {
    /// A literal `value` (numbers and booleans are kept as their text, as Dapr does).
    Value(String),
    /// A `secretKeyRef` to be resolved through the component's `auth.secretStore`.
    SecretRef {
        /// The secret's name.
        name: String,
        /// The key within the secret (empty: the secret's name).
        key: String,
    },
}

/// One `spec.metadata[]` entry as written in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataItem {
    /// The field name.
    pub name: String,
    /// Its value or secret reference.
    pub source: MetadataSource,
    /// Where the entry starts.
    pub location: Location,
    /// Where its value (or `secretKeyRef`) starts.
    pub value_location: Location,
}

/// A Dapr component as written in a file, before its type is looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Component {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`, if given.
    pub namespace: Option<String>,
    /// `spec.type`, e.g. `bindings.cron`.
    pub type_name: String,
    /// `spec.version` (empty when not given; Dapr then takes `v1`).
    pub version: String,
    /// `spec.metadata[]`.
    pub metadata: Vec<MetadataItem>,
    /// `spec.initTimeout` (Dapr's default is 5s).
    pub init_timeout: Duration,
    /// `spec.ignoreErrors`: a component that fails to initialise is skipped instead of failing start.
    pub ignore_errors: bool,
    /// `scopes`: app IDs allowed to load the component (empty: all).
    pub scopes: Vec<String>,
    /// `auth.secretStore`: the secret store that resolves `secretKeyRef`s.
    pub secret_store: Option<String>,
    /// Where the document starts.
    pub location: Location,
    /// Where `metadata.name` is.
    pub name_location: Location,
    /// Where `spec.type` is.
    pub type_location: Location,
}

impl Component {
    /// The family of the type: `bindings`, `secretstores`, `state`, ...
    pub fn family(&self) -> &str {
        self.type_name.split('.').next().unwrap_or("")
    }
}

/// The default `spec.initTimeout`, as in Dapr.
pub const DEFAULT_INIT_TIMEOUT: Duration = Duration::from_secs(5);

/// One resolved metadata value.
#[derive(Clone)]
pub struct MetadataValue {
    /// The field name as written.
    pub name: String,
    /// The resolved value (secret values are resolved too: never print it for those).
    pub value: String,
    /// True when the value came from a secret store.
    pub secret: bool,
    /// Where the entry is.
    pub location: Location,
}

impl fmt::Debug for MetadataValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = if self.secret { "<secret>" } else { &self.value };
        write!(f, "{}={:?}", self.name, shown)
    }
}

/// A component's metadata after secrets are resolved. Names match case-insensitively,
/// as Dapr's metadata decoding does.
#[derive(Clone, Default, Debug)]
pub struct Metadata {
    items: Vec<MetadataValue>,
}

impl Metadata {
    /// Metadata from resolved items.
    pub fn new(items: Vec<MetadataValue>) -> Self {
        Metadata { items }
    }

    /// Metadata from plain pairs (for tests and programmatic use).
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Metadata {
            items: pairs
                .into_iter()
                .map(|(k, v)| MetadataValue {
                    name: k.into(),
                    value: v.into(),
                    secret: false,
                    location: Location::default(),
                })
                .collect(),
        }
    }

    /// The entry named `name` (case-insensitive).
    pub fn entry(&self, name: &str) -> Option<&MetadataValue> {
        self.items
            .iter()
            .find(|i| i.name.eq_ignore_ascii_case(name))
    }

    /// The value named `name` (case-insensitive), if given.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.entry(name).map(|i| i.value.as_str())
    }

    /// The value named `name`, when given and not empty.
    pub fn get_nonempty(&self, name: &str) -> Option<&str> {
        self.get(name).filter(|v| !v.trim().is_empty())
    }

    /// Every entry, in file order.
    pub fn iter(&self) -> impl Iterator<Item = &MetadataValue> {
        self.items.iter()
    }

    /// The values that came from a secret store, with every form in which they could show in
    /// a message ([`crate::redact::Secrets`]).
    pub fn secrets(&self) -> crate::redact::Secrets {
        crate::redact::Secrets::of(
            self.items
                .iter()
                .filter(|i| i.secret)
                .map(|i| i.value.as_str()),
        )
    }
}

/// Suggest the candidate nearest to `word`, if one is near enough to be a likely typo.
pub fn nearest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    ranked(word, candidates).into_iter().next().filter(|c| {
        let d = strsim::levenshtein(&word.to_lowercase(), &c.to_lowercase());
        d <= (word.len().max(c.len()) / 3).max(2)
            || c.to_lowercase().contains(&word.to_lowercase())
            || word.to_lowercase().contains(&c.to_lowercase())
    })
}

/// Every candidate, nearest to `word` first.
pub fn ranked<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let w = word.to_lowercase();
    let mut all: Vec<(usize, &str)> = candidates
        .into_iter()
        .map(|c| (strsim::levenshtein(&w, &c.to_lowercase()), c))
        .collect();
    all.sort();
    all.dedup_by(|a, b| a.1 == b.1);
    all.into_iter().map(|(_, c)| c).collect()
}
