//! Binding types by `spec.type` and `spec.version`, with the schema of their metadata.

pub use crate::binding::{BindingSpec, Factory, Field, FieldKind, FieldProblem, Settings};

/// The set of binding types a runtime knows.
#[derive(Debug, Clone)]
pub struct Registry {
    specs: Vec<BindingSpec>,
}

impl Default for Registry {
    fn default() -> Self {
        Registry::builtin()
    }
}

impl Registry {
    /// An empty registry.
    pub fn empty() -> Self {
        Registry { specs: Vec::new() }
    }

    /// Every binding compiled in through cargo features (`bindings::builtin`).
    pub fn builtin() -> Self {
        Registry {
            specs: crate::bindings::builtin(),
        }
    }

    /// Add (or replace) a binding type.
    pub fn register(&mut self, spec: BindingSpec) {
        self.specs.retain(|s| s.type_name != spec.type_name);
        self.specs.push(spec);
    }

    /// Every binding type, in registration order.
    pub fn specs(&self) -> &[BindingSpec] {
        &self.specs
    }

    /// The spec answering to `type_name`.
    pub fn find(&self, type_name: &str) -> Option<&BindingSpec> {
        self.specs.iter().find(|s| s.answers_to(type_name))
    }

    /// Every type name and alias known.
    pub fn type_names(&self) -> Vec<&'static str> {
        self.specs
            .iter()
            .flat_map(|s| std::iter::once(s.type_name).chain(s.aliases.iter().copied()))
            .collect()
    }
}
