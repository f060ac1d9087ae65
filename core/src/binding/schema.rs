//! What a binding type declares: its type names, directions, operations and metadata fields.

use super::{BindingConfig, BindingParts};
use crate::component::Metadata;
use crate::error::Result;

/// The kind of value a metadata field takes, checked before anything starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// Any text.
    Text,
    /// A Go boolean: true/false/1/0.
    Bool,
    /// A whole number.
    Int,
    /// A Go duration: 10s, 1m30s, 500ms.
    Duration,
    /// A byte size as a Kubernetes quantity: 100Mi, 1024.
    Size,
    /// One of a fixed set of words.
    OneOf(&'static [&'static str]),
}

/// One metadata field of a binding type.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    /// The field name, spelled as Dapr spells it.
    pub name: &'static str,
    /// The kind of value.
    pub kind: FieldKind,
    /// Whether the component must give it.
    pub required: bool,
    /// An example value, shown in the fix of a message.
    pub example: &'static str,
}

impl Field {
    /// A required field.
    pub const fn required(name: &'static str, kind: FieldKind, example: &'static str) -> Self {
        Field {
            name,
            kind,
            required: true,
            example,
        }
    }

    /// An optional field.
    pub const fn optional(name: &'static str, kind: FieldKind, example: &'static str) -> Self {
        Field {
            name,
            kind,
            required: false,
            example,
        }
    }
}

/// A problem a binding type's own check found in its metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldProblem {
    /// The field it is about, if one.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub fix: Option<String>,
}

/// Builds a binding from its configuration; must do no I/O (that belongs in `init`).
pub type Factory = fn(&BindingConfig) -> Result<BindingParts>;

/// Checks metadata beyond field kinds (e.g. a cron schedule); must do no I/O.
pub type Check = fn(&Metadata) -> Vec<FieldProblem>;

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
    /// Its own checks, beyond field kinds.
    pub check: Option<Check>,
    /// Its factory.
    pub build: Factory,
}

impl BindingSpec {
    /// Whether this spec answers to `type_name`.
    pub fn answers_to(&self, type_name: &str) -> bool {
        self.type_name == type_name || self.aliases.contains(&type_name)
    }

    /// Whether `version` is accepted (empty is `v1`).
    pub fn accepts_version(&self, version: &str) -> bool {
        let v = if version.is_empty() { "v1" } else { version };
        self.versions.contains(&v)
    }
}
