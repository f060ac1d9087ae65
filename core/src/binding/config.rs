//! A binding's configuration as its factory reads it: the declared fields' values, parsed once
//! at load the way Dapr reads them, and a place to report what is wrong, at the field's line.

use std::collections::HashMap;
use std::time::Duration;

use super::schema::{Field, FieldKind, FieldProblem};
use super::{BindingConfig, Direction};
use crate::component::{Metadata, MetadataValue};

/// A declared field's value, parsed by its kind.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Typed {
    Bool(bool),
    Int(i64),
    Float(f64),
    Duration(Duration),
    Size(u64),
    /// A `OneOf` word, spelled as the declaration spells it.
    Word(&'static str),
}

/// A typed getter of `Settings`: the value of a field declared of one of `kinds`.
macro_rules! getter {
    ($(#[$doc:meta])* $name:ident -> $t:ty, $variant:ident, $kinds:pat) => {
        $(#[$doc])*
        pub fn $name(&self, name: &str) -> Option<$t> {
            match self.typed(name, |k| matches!(k, $kinds)) {
                Some(Typed::$variant(v)) => Some(*v),
                _ => None,
            }
        }
    };
}

/// What a binding's factory builds from: the component's name, directions and metadata, the
/// typed value of every declared field it gives (parsed at load, as Dapr reads it), and the
/// problems the factory finds in them, each reported at its field's file and line with a fix.
///
/// The typed getters answer for fields the binding declares, of the kind it declares (a
/// getter of another kind, or of a field not declared, is a bug in the binding: it panics in
/// debug builds and answers `None` in release ones). A field that is missing, empty, or whose
/// value was refused at load answers `None`.
pub struct Settings<'a> {
    config: &'a BindingConfig,
    fields: &'static [Field],
    typed: HashMap<String, Typed>,
    problems: Vec<FieldProblem>,
}

impl std::fmt::Debug for Settings<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("name", &self.config.name)
            .field("problems", &self.problems.len())
            .finish()
    }
}

impl<'a> Settings<'a> {
    pub(crate) fn new(
        config: &'a BindingConfig,
        fields: &'static [Field],
        typed: HashMap<String, Typed>,
    ) -> Self {
        Settings {
            config,
            fields,
            typed,
            problems: Vec::new(),
        }
    }

    /// Settings of a component given as plain pairs, every field parsed by its declared kind
    /// (for tests and programmatic use): `Err` holds the values that do not parse.
    pub fn of(config: &'a BindingConfig, fields: &'static [Field]) -> Result<Self, String> {
        let mut typed = HashMap::new();
        let mut errors = Vec::new();
        for f in fields {
            if let Some(v) = config.metadata.get_nonempty(f.name) {
                match typed_value(f.kind, v) {
                    Ok((Some(t), _)) => {
                        typed.insert(f.name.to_ascii_lowercase(), t);
                    }
                    Ok((None, _)) => {}
                    Err(e) => errors.push(format!("{}: {e}", f.name)),
                }
            }
        }
        if errors.is_empty() {
            Ok(Settings::new(config, fields, typed))
        } else {
            Err(errors.join("; "))
        }
    }

    /// The component's name (`metadata.name`).
    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// The directions the component is used in.
    pub fn direction(&self) -> Direction {
        self.config.direction
    }

    /// The component's name, type, metadata and directions.
    pub fn config(&self) -> &BindingConfig {
        self.config
    }

    /// The metadata as written (secrets resolved), for what no declared field covers.
    pub fn metadata(&self) -> &Metadata {
        &self.config.metadata
    }

    fn declared(&self, name: &str, ok: fn(&FieldKind) -> bool) -> bool {
        let found = self
            .fields
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name));
        debug_assert!(
            found.is_some_and(|f| ok(&f.kind)),
            "{}: field {name:?} is read as a kind it is not declared with (or is not declared)",
            self.config.type_name
        );
        found.is_some()
    }

    fn typed(&self, name: &str, ok: fn(&FieldKind) -> bool) -> Option<&Typed> {
        if !self.declared(name, ok) {
            return None;
        }
        self.typed.get(&name.to_ascii_lowercase())
    }

    /// A text field's value, when given and not blank.
    pub fn text(&self, name: &str) -> Option<&'a str> {
        self.declared(name, |k| matches!(k, FieldKind::Text));
        self.given(name).map(|e| e.value.as_str())
    }

    /// The entry of field `name` as the component gives it: under its own name, else under
    /// the first of its aliases given; blank values are not given.
    fn given(&self, name: &str) -> Option<&'a MetadataValue> {
        let md = &self.config.metadata;
        let blank = |e: &&MetadataValue| !e.value.trim().is_empty();
        match self
            .fields
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name))
        {
            Some(f) => f.names().find_map(|n| md.entry(n).filter(blank)),
            None => md.entry(name).filter(blank),
        }
    }

    /// The name field `name` is written under in the component (its own, or an alias), for
    /// messages; its own name when not given.
    pub fn written(&self, name: &str) -> &'a str {
        match self.given(name) {
            Some(e) => e.name.as_str(),
            None => self
                .fields
                .iter()
                .find(|f| f.name.eq_ignore_ascii_case(name))
                .map_or("", |f| f.name),
        }
    }

    /// A text field's value, or `""` when it is not given (for a required field: load has
    /// refused a component without it before the binding is used).
    pub fn text_or_empty(&self, name: &str) -> &'a str {
        self.text(name).unwrap_or_default()
    }

    getter!(
        /// A boolean field's value.
        bool -> bool, Bool, FieldKind::Bool | FieldKind::StrictBool
    );
    getter!(
        /// A whole-number field's value.
        int -> i64, Int, FieldKind::Int
    );
    getter!(
        /// A decimal-number field's value.
        float -> f64, Float, FieldKind::Float
    );
    getter!(
        /// A duration field's value.
        duration -> Duration, Duration, FieldKind::Duration | FieldKind::DurationMs
    );
    getter!(
        /// A size field's value, in bytes.
        size -> u64, Size, FieldKind::Size
    );
    getter!(
        /// A `OneOf` field's word, spelled as declared (the component may write it in any
        /// case).
        word -> &'static str, Word, FieldKind::OneOf(_)
    );

    /// A boolean field's value, or `default` when it is not given.
    pub fn flag(&self, name: &str, default: bool) -> bool {
        self.bool(name).unwrap_or(default)
    }

    /// A text field's value read by the binding's own parser; what the parser refuses is
    /// reported at the field with `fix`.
    pub fn parse<T>(
        &mut self,
        name: &str,
        fix: &str,
        parser: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        let value = self.text(name)?;
        match parser(value) {
            Ok(v) => Some(v),
            Err(message) => {
                self.problem(name, message, fix);
                None
            }
        }
    }

    /// Report a problem with field `name` (at its line, or at the component's name when the
    /// component does not give it).
    pub fn problem(&mut self, name: &str, message: impl Into<String>, fix: impl Into<String>) {
        self.push(Some(name), message.into(), fix.into(), false);
    }

    /// One problem, at field `name` as the component writes it (or at the component).
    fn push(&mut self, name: Option<&str>, message: String, fix: String, warning: bool) {
        let field = name.map(|n| {
            let written = self.written(n);
            if written.is_empty() { n } else { written }.to_string()
        });
        self.problems.push(FieldProblem {
            field,
            message,
            fix: Some(fix).filter(|f| !f.is_empty()),
            warning,
        });
    }

    /// Report a problem of the component as a whole (at its name).
    pub fn component_problem(&mut self, message: impl Into<String>, fix: impl Into<String>) {
        self.push(None, message.into(), fix.into(), false);
    }

    /// Warn about each of the text `fields` given while the boolean `flag` is not true: Dapr
    /// reads them only with it (an authentication profile's fields, say), so they do nothing.
    pub fn only_with(&mut self, flag: &str, fields: &[&str]) {
        if self.flag(flag, false) {
            return;
        }
        for field in fields {
            if self.given(field).is_some() {
                self.warn(
                    field,
                    format!("{field} is read only with {flag}: true (as in Dapr); it is ignored"),
                    format!("remove it, or set {flag}"),
                );
            }
        }
    }

    /// Warn about field `name`: the component loads, as in Dapr, but likely not as meant.
    pub fn warn(&mut self, name: &str, message: impl Into<String>, fix: impl Into<String>) {
        self.push(Some(name), message.into(), fix.into(), true);
    }

    /// Add problems found by a shared check.
    pub fn extend(&mut self, problems: impl IntoIterator<Item = FieldProblem>) {
        self.problems.extend(problems);
    }

    /// Whether no error was reported so far.
    pub fn ok(&self) -> bool {
        !self.problems.iter().any(|p| !p.warning)
    }

    pub(crate) fn into_problems(self) -> Vec<FieldProblem> {
        self.problems
    }
}

/// How a value of a field of `kind` reads, as Dapr reads it. `Ok((typed, note))`: `note` is a
/// warning for a value Dapr accepts but likely not as meant (a boolean spelled neither as a
/// true nor as a false one).
pub(crate) fn typed_value(
    kind: FieldKind,
    value: &str,
) -> Result<(Option<Typed>, Option<String>), String> {
    use crate::component::values as v;
    Ok(match kind {
        FieldKind::Text => (None, None),
        FieldKind::Bool => {
            let (b, recognised) = v::parse_truthy(value);
            let note = (!recognised).then(|| {
                format!(
                    "{:?} is not a boolean spelling; Dapr reads it as false",
                    value.trim()
                )
            });
            (Some(Typed::Bool(b)), note)
        }
        FieldKind::StrictBool => (Some(Typed::Bool(v::parse_go_bool(value)?)), None),
        FieldKind::Int => (Some(Typed::Int(v::parse_int(value)?)), None),
        FieldKind::Float => (Some(Typed::Float(v::parse_float(value)?)), None),
        FieldKind::Duration => (
            Some(Typed::Duration(v::parse_duration(
                value,
                v::BareNumber::Seconds,
            )?)),
            None,
        ),
        FieldKind::DurationMs => (
            Some(Typed::Duration(v::parse_duration(
                value,
                v::BareNumber::Milliseconds,
            )?)),
            None,
        ),
        FieldKind::Size => (Some(Typed::Size(v::parse_quantity(value)?)), None),
        FieldKind::OneOf(words) => {
            let t = value.trim();
            match words.iter().find(|w| w.eq_ignore_ascii_case(t)) {
                Some(w) => (Some(Typed::Word(w)), None),
                None => return Err(format!("{value:?} is not one of {}", words.join(", "))),
            }
        }
    })
}

/// Read settings of a component given as plain pairs through `read`, answering what it
/// returned and the problems it reported (for tests of a binding's reading of its fields).
/// Panics when a value does not parse as its field's kind.
#[cfg(test)]
#[cfg_attr(not(feature = "all-bindings"), allow(dead_code))]
pub(crate) fn with_settings<T>(
    pairs: &[(&str, &str)],
    fields: &'static [Field],
    read: impl FnOnce(&mut Settings) -> T,
) -> (T, Vec<FieldProblem>) {
    let config = BindingConfig {
        name: "test".into(),
        type_name: "bindings.test".into(),
        metadata: Metadata::from_pairs(pairs.iter().copied()),
        direction: Direction {
            input: true,
            output: true,
            explicit: false,
        },
    };
    let mut s = Settings::of(&config, fields).expect("values of their fields' kinds");
    let out = read(&mut s);
    (out, s.into_problems())
}
