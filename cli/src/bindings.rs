//! `bindery bindings`: the binding types compiled in, as text or as JSON.
//!
//! The JSON shape is documented in README.md ("The `bindery` command") and is stable: an
//! array of objects, one per binding type, sorted by type name, each with every key below
//! (empty arrays rather than missing keys).

use bindery::registry::{BindingSpec, Field, FieldKind};
use bindery::Registry;
use serde_json::{json, Value};

/// Every binding type of `registry` (aliases folded into their type), sorted by type name.
pub fn specs(registry: &Registry) -> Vec<&BindingSpec> {
    let mut specs: Vec<&BindingSpec> = registry.specs().iter().collect();
    specs.sort_by_key(|s| s.type_name);
    specs
}

/// The specs `wanted` names (a type name or an alias each, `bindings.` may be left out), or
/// every one when it is empty.
pub fn select<'a>(
    registry: &'a Registry,
    wanted: &[String],
) -> Result<Vec<&'a BindingSpec>, String> {
    if wanted.is_empty() {
        return Ok(specs(registry));
    }
    let mut out: Vec<&BindingSpec> = Vec::new();
    for name in wanted {
        let found = registry
            .find(name)
            .or_else(|| registry.find(&format!("bindings.{name}")));
        match found {
            Some(spec) => {
                if !out.iter().any(|s| s.type_name == spec.type_name) {
                    out.push(spec);
                }
            }
            None => {
                let known: Vec<&str> = specs(registry).iter().map(|s| s.type_name).collect();
                return Err(format!(
                    "unknown binding type {name:?}; known: {}",
                    known.join(", ")
                ));
            }
        }
    }
    Ok(out)
}

/// `input`, `output`, or both, as the spec allows.
pub fn directions(spec: &BindingSpec) -> Vec<&'static str> {
    let mut d = Vec::new();
    if spec.input {
        d.push("input");
    }
    if spec.output {
        d.push("output");
    }
    d
}

fn values(kind: &FieldKind) -> &'static [&'static str] {
    match kind {
        FieldKind::OneOf(words) => words,
        _ => &[],
    }
}

fn field_json(f: &Field) -> Value {
    json!({
        "name": f.name,
        "kind": f.kind.short_name(),
        "description": f.kind.describe(),
        "values": values(&f.kind),
        "required": f.required,
        "sensitive": f.sensitive,
        "example": f.example,
        "ignored": f.ignored.unwrap_or(""),
    })
}

/// One binding type as JSON (the shape README.md documents).
pub fn spec_json(spec: &BindingSpec) -> Value {
    json!({
        "type": spec.type_name,
        "aliases": spec.aliases,
        "versions": spec.versions,
        "directions": directions(spec),
        "operations": spec.operations,
        "metadata": spec.fields.iter().map(field_json).collect::<Vec<_>>(),
    })
}

/// The listing as JSON: an array of `spec_json` objects.
pub fn to_json(specs: &[&BindingSpec]) -> Value {
    Value::Array(specs.iter().map(|s| spec_json(s)).collect())
}

/// The listing as readable text: a block per binding type, a line per metadata field.
pub fn to_text(specs: &[&BindingSpec]) -> String {
    let mut out = String::new();
    for (i, spec) in specs.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(spec.type_name);
        if !spec.aliases.is_empty() {
            out.push_str(&format!(" (also {})", spec.aliases.join(", ")));
        }
        out.push('\n');
        out.push_str(&format!("  versions:   {}\n", spec.versions.join(", ")));
        out.push_str(&format!("  directions: {}\n", directions(spec).join(", ")));
        let ops = if spec.operations.is_empty() {
            "(none)".to_string()
        } else {
            spec.operations.join(", ")
        };
        out.push_str(&format!("  operations: {ops}\n"));
        if spec.fields.is_empty() {
            out.push_str("  metadata:   (none)\n");
            continue;
        }
        out.push_str("  metadata:\n");
        let rows: Vec<[String; 4]> = spec
            .fields
            .iter()
            .map(|f| {
                let mut flags = vec![if f.required { "required" } else { "optional" }];
                if f.sensitive {
                    flags.push("sensitive");
                }
                if f.ignored.is_some() {
                    flags.push("ignored");
                }
                let mut notes = Vec::new();
                if !f.example.is_empty() {
                    notes.push(format!("e.g. {}", f.example));
                }
                if let FieldKind::OneOf(words) = f.kind {
                    notes.push(format!("one of {}", words.join(", ")));
                }
                [
                    f.name.to_string(),
                    f.kind.short_name().to_string(),
                    flags.join(", "),
                    notes.join("; "),
                ]
            })
            .collect();
        let width = |c: usize| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0);
        let (w0, w1, w2) = (width(0), width(1), width(2));
        for [name, kind, flags, example] in rows {
            let line = format!("    {name:w0$}  {kind:w1$}  {flags:w2$}  {example}");
            out.push_str(line.trim_end());
            out.push('\n');
        }
    }
    out
}
