//! What a binding type declares: its type names, directions, operations and metadata fields.

use super::config::Settings;
use super::BindingParts;
use crate::error::Result;

/// The kind of value a metadata field takes, read as Dapr reads it (`github.com/dapr/kit`):
/// `DecodeMetadata` for most components, `config.Decode` for some (redis, the `backOff*`
/// retry settings), which differ on booleans and on a duration given as a bare number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// Any text.
    Text,
    /// A boolean as `DecodeMetadata` reads one: `y yes true t on 1` (any case) are true,
    /// anything else is false, never an error (bindery warns on a spelling that is neither a
    /// true nor a false one).
    Bool,
    /// A boolean as Go's `strconv.ParseBool` reads one (`config.Decode`): `1 t T TRUE true
    /// True`, `0 f F FALSE false False`; anything else is an error.
    StrictBool,
    /// A whole number.
    Int,
    /// A decimal number.
    Float,
    /// A duration as `DecodeMetadata` reads one: a Go duration (10s, 1m30s, 500ms) or a
    /// bare whole number of seconds.
    Duration,
    /// A duration as `config.Decode` reads one: a Go duration or a bare whole number of
    /// milliseconds.
    DurationMs,
    /// A byte size as a Kubernetes quantity: 100Mi, 1024.
    Size,
    /// One of a fixed set of words (any case).
    OneOf(&'static [&'static str]),
}

impl FieldKind {
    /// What a value of this kind is, for messages and listings.
    pub fn describe(&self) -> String {
        match self {
            FieldKind::Text => "text".into(),
            FieldKind::Bool => "boolean (true or false)".into(),
            FieldKind::StrictBool => "boolean (true or false)".into(),
            FieldKind::Int => "whole number".into(),
            FieldKind::Float => "number".into(),
            FieldKind::Duration => {
                "Go duration (e.g. 10s, 1m30s, 500ms) or a whole number of seconds".into()
            }
            FieldKind::DurationMs => {
                "Go duration (e.g. 10s, 1m30s, 500ms) or a whole number of milliseconds".into()
            }
            FieldKind::Size => "size (e.g. 100Mi, 512Ki or a number of bytes)".into(),
            FieldKind::OneOf(words) => format!("one of {}", words.join(", ")),
        }
    }

    /// A short name of the kind: `text`, `bool`, `int`, `float`, `duration`, `size`, `enum`.
    pub fn short_name(&self) -> &'static str {
        match self {
            FieldKind::Text => "text",
            FieldKind::Bool | FieldKind::StrictBool => "bool",
            FieldKind::Int => "int",
            FieldKind::Float => "float",
            FieldKind::Duration | FieldKind::DurationMs => "duration",
            FieldKind::Size => "size",
            FieldKind::OneOf(_) => "enum",
        }
    }
}

/// One metadata field of a binding type.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    /// The field name, spelled as Dapr spells it (matched in any case).
    pub name: &'static str,
    /// The kind of value.
    pub kind: FieldKind,
    /// Whether the component must give it.
    pub required: bool,
    /// Whether its value is a secret (a password, key, token, connection string, SAS, client
    /// secret): the runtime scrubs it from every error, diagnostic and log line, whether the
    /// component gives it as a value or through `secretKeyRef`.
    pub sensitive: bool,
    /// An example value, shown in the fix of a message.
    pub example: &'static str,
    /// Older names Dapr also reads for this field (its `mapstructurealiases`): one is used when
    /// the field itself is not given.
    pub aliases: &'static [&'static str],
    /// Why bindery accepts this field of Dapr's but does not act on it (`None` for a field
    /// it reads): validation warns with this reason when a component gives it, so that a
    /// Dapr file loads and says what it does not get.
    pub ignored: Option<&'static str>,
    /// What Dapr says to use instead of this field, when Dapr deprecated it (`None` for a
    /// current field): validation warns with it when a component gives the field, which is
    /// still read as Dapr reads it.
    pub deprecated: Option<&'static str>,
}

impl Field {
    /// A required field.
    pub const fn required(name: &'static str, kind: FieldKind, example: &'static str) -> Self {
        Field {
            name,
            kind,
            required: true,
            sensitive: false,
            example,
            aliases: &[],
            ignored: None,
            deprecated: None,
        }
    }

    /// An optional field.
    pub const fn optional(name: &'static str, kind: FieldKind, example: &'static str) -> Self {
        Field {
            name,
            kind,
            required: false,
            sensitive: false,
            example,
            aliases: &[],
            ignored: None,
            deprecated: None,
        }
    }

    /// The names a component may give this field under: its own, then its aliases.
    pub fn names(&self) -> impl Iterator<Item = &'static str> {
        std::iter::once(self.name).chain(self.aliases.iter().copied())
    }

    /// The same field, accepted but not acted on, for `reason` (a warning when given).
    pub const fn ignored(self, reason: &'static str) -> Self {
        Field {
            ignored: Some(reason),
            ..self
        }
    }

    /// The same field, marked sensitive.
    pub const fn sensitive(self) -> Self {
        Field {
            sensitive: true,
            ..self
        }
    }
}

/// A problem found in a component's metadata: an error (the component does not load) or a
/// warning (it loads, as in Dapr, but likely not as meant).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldProblem {
    /// The field it is about, if one.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub fix: Option<String>,
    /// A warning rather than an error.
    pub warning: bool,
}

impl FieldProblem {
    /// An error about `field`.
    pub fn error(field: &str, message: impl Into<String>, fix: impl Into<String>) -> Self {
        FieldProblem {
            field: Some(field.into()),
            message: message.into(),
            fix: Some(fix.into()),
            warning: false,
        }
    }
}

/// Builds a binding from its settings (`Settings`: the declared fields, parsed at load),
/// reporting what is wrong with them through `Settings::problem`; must do no network I/O
/// (that belongs in `init`). Its parts are used only when no error was reported.
pub type Factory = fn(&mut Settings<'_>) -> Result<BindingParts>;

/// A binding type.
#[derive(Debug, Clone)]
pub struct BindingSpec {
    /// `spec.type`, e.g. `bindings.cron`.
    pub type_name: &'static str,
    /// Other type names that mean the same binding (e.g. `bindings.mqtt` for `bindings.mqtt3`).
    pub aliases: &'static [&'static str],
    /// The versions accepted (`""` always means `v1`).
    pub versions: &'static [&'static str],
    /// Whether it can be an input binding.
    pub input: bool,
    /// Whether it can be an output binding.
    pub output: bool,
    /// The operations of its output side.
    pub operations: &'static [&'static str],
    /// Its metadata fields (besides Dapr's built-in `direction` and `route`).
    pub fields: &'static [Field],
    /// Its factory.
    pub build: Factory,
}

impl BindingSpec {
    /// Whether this spec answers to `type_name`.
    pub fn answers_to(&self, type_name: &str) -> bool {
        self.type_name == type_name || self.aliases.contains(&type_name)
    }

    /// The names of the fields a component must give.
    pub fn required_fields(&self) -> Vec<&'static str> {
        self.fields
            .iter()
            .filter(|f| f.required)
            .map(|f| f.name)
            .collect()
    }

    /// Whether `version` is accepted (empty is `v1`).
    pub fn accepts_version(&self, version: &str) -> bool {
        let v = if version.is_empty() { "v1" } else { version };
        self.versions.contains(&v)
    }
}
