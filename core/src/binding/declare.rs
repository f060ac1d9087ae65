//! A built-in binding's declaration, read from the YAML file beside its module: its type name,
//! versions, directions, operations and metadata fields, in the shape of the `metadata.yaml`
//! Dapr keeps beside each of its components (so the two can be held side by side).
//!
//! ```yaml
//! type: bindings
//! name: http                      # spec.type is bindings.http
//! version: v1                     # or versions: [v1, v2]
//! aliases: [bindings.https]       # other spec.type names that mean this binding (optional)
//! binding:
//!   input: false
//!   output: true
//!   operations: [create, get]     # or Dapr's form, a list of {name, description}
//! metadata:
//!   - name: url
//!     type: string                # string (the default), bool, number, float, duration,
//!                                 # bytesize; with allowedValues, one of them
//!     required: true
//!     sensitive: true             # scrubbed from every message and log line
//!     example: "http://localhost:8080"
//!     decode: config              # read as Dapr's config.Decode reads it: a strict boolean,
//!                                 # a bare-number duration in milliseconds
//!     aliases: [oldName]          # older names Dapr also reads (mapstructurealiases)
//!     ignored: "librdkafka negotiates the protocol version itself"
//!                                 # a field of Dapr's bindery accepts but does not act on:
//!                                 # giving it is a warning that says so, with this reason
//!     deprecated: "use authType"  # deprecated in Dapr, still read: a warning saying what to
//!                                 # use instead (an alias, Dapr's older name, warns too)
//! ```
//!
//! A declaration is read once, when the binding's `spec()` is first asked for; a declaration
//! that does not read is a bug in bindery, found by any test that builds the registry.

use yaml_rust2::{Yaml, YamlLoader};

use super::schema::{BindingSpec, Factory, Field, FieldKind};

fn leak(s: &str) -> &'static str {
    Box::leak(s.to_owned().into_boxed_str())
}

fn leak_list(items: Vec<&'static str>) -> &'static [&'static str] {
    Box::leak(items.into_boxed_slice())
}

fn words(y: &Yaml, what: &str) -> Vec<&'static str> {
    match y {
        Yaml::BadValue | Yaml::Null => Vec::new(),
        Yaml::Array(items) => items
            .iter()
            .map(|i| match i {
                Yaml::String(s) => leak(s),
                // Dapr's form of an operation: {name, description}.
                Yaml::Hash(_) => leak(
                    i["name"]
                        .as_str()
                        .unwrap_or_else(|| panic!("{what}: an entry without a name")),
                ),
                other => panic!("{what}: {other:?} is not a word"),
            })
            .collect(),
        Yaml::String(s) => vec![leak(s)],
        other => panic!("{what}: {other:?} is not a list"),
    }
}

fn flag(y: &Yaml, what: &str) -> bool {
    match y {
        Yaml::BadValue | Yaml::Null => false,
        Yaml::Boolean(b) => *b,
        other => panic!("{what}: {other:?} is not true or false"),
    }
}

fn field(y: &Yaml, binding: &str) -> Field {
    let name = y["name"]
        .as_str()
        .unwrap_or_else(|| panic!("{binding}: a metadata entry without a name"));
    let what = format!("{binding} field {name}");
    let config_decode = match y["decode"].as_str() {
        None => false,
        Some("config") => true,
        Some(other) => panic!("{what}: decode {other:?} is not `config`"),
    };
    let allowed = words(&y["allowedValues"], &what);
    let kind = if !allowed.is_empty() {
        FieldKind::OneOf(leak_list(allowed))
    } else {
        match (y["type"].as_str().unwrap_or("string"), config_decode) {
            ("string", _) => FieldKind::Text,
            ("bool", false) => FieldKind::Bool,
            ("bool", true) => FieldKind::StrictBool,
            ("number", _) => FieldKind::Int,
            ("float", _) => FieldKind::Float,
            ("duration", false) => FieldKind::Duration,
            ("duration", true) => FieldKind::DurationMs,
            ("bytesize", _) => FieldKind::Size,
            (other, _) => panic!("{what}: unknown type {other:?}"),
        }
    };
    let example = match &y["example"] {
        Yaml::String(s) => leak(s),
        Yaml::Integer(n) => leak(&n.to_string()),
        Yaml::Real(r) => leak(r),
        Yaml::Boolean(b) => leak(&b.to_string()),
        _ => "",
    };
    Field {
        name: leak(name),
        kind,
        required: flag(&y["required"], &what),
        sensitive: flag(&y["sensitive"], &what),
        example,
        aliases: leak_list(words(&y["aliases"], &what)),
        ignored: match &y["ignored"] {
            Yaml::BadValue | Yaml::Null => None,
            Yaml::String(reason) if !reason.trim().is_empty() => Some(leak(reason.trim())),
            other => panic!("{what}: ignored {other:?} is not a reason"),
        },
        deprecated: match &y["deprecated"] {
            Yaml::BadValue | Yaml::Null => None,
            Yaml::String(instead) if !instead.trim().is_empty() => Some(leak(instead.trim())),
            other => panic!("{what}: deprecated {other:?} does not say what to use instead"),
        },
    }
}

/// Metadata fields declared on their own (`metadata:` only), shared by several bindings;
/// `what` names them in a panic. Their strings live as long as the process: call it once.
#[cfg_attr(not(feature = "all-bindings"), allow(dead_code))]
pub(crate) fn declared_fields(text: &str, what: &str) -> &'static [Field] {
    let docs = YamlLoader::load_from_str(text).unwrap_or_else(|e| panic!("{what}: {e}"));
    let fields: Vec<Field> = match &docs.first().expect("a declaration")["metadata"] {
        Yaml::Array(items) => items.iter().map(|f| field(f, what)).collect(),
        other => panic!("{what}: metadata {other:?} is not a list"),
    };
    Box::leak(fields.into_boxed_slice())
}

/// The spec of a built-in binding from its declaration `text`, its factory, and metadata
/// fields it shares with others (`extra`, e.g. Dapr's retry settings). The strings live as
/// long as the process: call it once per binding (`declare!` does).
#[cfg_attr(not(feature = "all-bindings"), allow(dead_code))]
pub(crate) fn declared(text: &str, build: Factory, extra: &[Field]) -> BindingSpec {
    let docs = YamlLoader::load_from_str(text).unwrap_or_else(|e| panic!("declaration: {e}"));
    let y = docs.first().expect("a declaration");
    let family = y["type"].as_str().expect("type: bindings");
    assert_eq!(family, "bindings", "a binding declares `type: bindings`");
    let name = y["name"].as_str().expect("name");
    let type_name = leak(&format!("{family}.{name}"));
    let mut versions = words(&y["versions"], type_name);
    if versions.is_empty() {
        versions = vec![leak(y["version"].as_str().unwrap_or("v1"))];
    }
    let binding = &y["binding"];
    let mut fields: Vec<Field> = match &y["metadata"] {
        Yaml::Array(items) => items.iter().map(|f| field(f, type_name)).collect(),
        Yaml::BadValue | Yaml::Null => Vec::new(),
        other => panic!("{type_name}: metadata {other:?} is not a list"),
    };
    fields.extend_from_slice(extra);
    BindingSpec {
        type_name,
        aliases: leak_list(words(&y["aliases"], type_name)),
        versions: leak_list(versions),
        input: flag(&binding["input"], type_name),
        output: flag(&binding["output"], type_name),
        operations: leak_list(words(&binding["operations"], type_name)),
        fields: Box::leak(fields.into_boxed_slice()),
        build,
    }
}

/// `declare!(FILE, build)` (or `declare!(FILE, build, extra_fields)`): the binding's
/// `pub fn spec() -> BindingSpec`, read from the declaration `FILE` beside the module once.
#[cfg_attr(not(feature = "all-bindings"), allow(unused_macros))]
macro_rules! declare {
    ($file:literal, $build:expr) => {
        $crate::binding::declare!($file, $build, &[]);
    };
    ($file:literal, $build:expr, $extra:expr) => {
        /// This binding type, as declared in the YAML file beside this module.
        pub fn spec() -> $crate::binding::BindingSpec {
            declaration().clone()
        }

        /// The declaration, read once.
        #[allow(dead_code)]
        fn declaration() -> &'static $crate::binding::BindingSpec {
            static SPEC: ::std::sync::OnceLock<$crate::binding::BindingSpec> =
                ::std::sync::OnceLock::new();
            SPEC.get_or_init(|| $crate::binding::declared(include_str!($file), $build, $extra))
        }
    };
}
pub(crate) use declare;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binding::{BindingParts, Settings};

    fn build(_: &mut Settings) -> crate::Result<BindingParts> {
        Ok(BindingParts::default())
    }

    #[test]
    fn a_declaration_reads_as_dapr_writes_its_metadata_yaml() {
        let spec = declared(
            r#"
type: bindings
name: demo
version: v1
aliases: [bindings.demo2]
binding:
  input: true
  output: true
  operations:
    - name: create
      description: "make one"
    - get
metadata:
  - name: url
    required: true
    sensitive: true
    example: "http://x"
  - name: timeout
    type: duration
    decode: config
  - name: mode
    allowedValues: [a, b]
  - name: on
    type: bool
    example: true
    aliases: [enabled]
    ignored: "bindery does not need it"
"#,
            build,
            &[Field::optional("extra", FieldKind::Int, "1")],
        );
        assert_eq!(spec.type_name, "bindings.demo");
        assert_eq!(spec.aliases, ["bindings.demo2"]);
        assert_eq!(spec.versions, ["v1"]);
        assert!(spec.input && spec.output);
        assert_eq!(spec.operations, ["create", "get"]);
        let f = spec.fields;
        assert_eq!(f.len(), 5);
        assert!(f[0].required && f[0].sensitive && f[0].kind == FieldKind::Text);
        assert_eq!(f[0].example, "http://x");
        assert_eq!(f[1].kind, FieldKind::DurationMs);
        assert_eq!(f[2].kind, FieldKind::OneOf(&["a", "b"]));
        assert_eq!((f[3].kind, f[3].example), (FieldKind::Bool, "true"));
        assert_eq!(f[3].aliases, ["enabled"]);
        assert_eq!(f[3].ignored, Some("bindery does not need it"));
        assert_eq!(f[0].ignored, None);
        assert_eq!(f[4].name, "extra");
    }
}
