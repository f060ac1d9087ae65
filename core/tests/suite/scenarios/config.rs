//! Scenarios about component files: loading, and the diagnostics of what is wrong in them.
//! They talk to no server.

use bindery::component::Diagnostic;
use bindery::{ErrorKind, Runtime};

use super::{name, yaml, Case, Fixture};
use crate::suite::harness::{self, components};

/// Build a runtime over `docs`; the error, which must be `InvalidConfig`.
fn refused(docs: &[String]) -> bindery::Error {
    let dir = components(docs);
    let err = Runtime::from_path(dir.0.path()).expect_err("the component files are refused");
    assert_eq!(err.kind(), ErrorKind::InvalidConfig, "{err}");
    err
}

/// The error diagnostics of `err`.
fn errors(err: &bindery::Error) -> Vec<&Diagnostic> {
    err.diagnostics().iter().filter(|d| d.is_error()).collect()
}

/// Every alias of the type loads the same binding: the same sides and operations.
pub async fn every_alias_loads_the_same_binding<F: Fixture>() {
    let fx = F::new().await;
    let doc = yaml::<F>(name::<F>(), &fx.fields(Case::Plain));
    let info = |doc: String| {
        let dir = components(&[doc]);
        let b = harness::runtime(&dir).bindings().remove(0);
        (b.input, b.output, b.operations)
    };
    let want = info(doc.clone());
    assert_eq!(want, (F::INPUT, !F::OPERATIONS.is_empty(), ops::<F>()));
    for alias in F::ALIASES {
        let aliased = doc.replacen(
            &format!("type: {}\n", F::TYPE),
            &format!("type: {alias}\n"),
            1,
        );
        assert_eq!(info(aliased), want, "{alias}");
    }
}

fn ops<F: Fixture>() -> Vec<String> {
    F::OPERATIONS.iter().map(|s| s.to_string()).collect()
}

/// A component without one of its required fields is refused, naming the field, pointing at
/// the component's name, with the entry to add as the fix.
pub async fn a_missing_required_field_is_an_error_naming_it<F: Fixture>() {
    let fx = F::new().await;
    let n = name::<F>();
    for field in F::REQUIRED {
        let mut all = fx.fields(Case::Plain);
        all.retain(|(k, _)| k != field);
        let err = refused(&[yaml::<F>(n, &all)]);
        let want = format!("{} needs the metadata field \"{field}\"", F::TYPE);
        let errors = errors(&err);
        // The message may go on to say what values the field takes.
        let d = errors
            .iter()
            .find(|d| d.message == want || d.message.starts_with(&format!("{want} (")))
            .unwrap_or_else(|| panic!("no error {want:?} in {errors:#?}"));
        assert_eq!(d.component.as_deref(), Some(n), "{d}");
        assert_eq!(d.location.line, 4, "points at metadata.name: {d}");
        let fix = d.fix.as_deref().unwrap_or_default();
        assert!(fix.contains(&format!("- name: {field}")), "{d}");
    }
}

/// Each file of the fixture's mistakes is refused before anything starts; every mistake in it
/// is an error of that component, with a fix, and no error shows the secret in them.
pub async fn configuration_mistakes_are_named_with_a_fix<F: Fixture>() {
    let caps = F::caps();
    let n = name::<F>();
    for mistake in caps.mistakes {
        let err = refused(&[yaml::<F>(n, &mistake.fields())]);
        let errors = errors(&err);
        for says in mistake.says {
            let (says, fix_says) = says.split_once(" => ").unwrap_or((says, ""));
            let d = errors
                .iter()
                .find(|d| d.message.contains(says))
                .unwrap_or_else(|| panic!("no error saying {says:?} in {errors:#?}"));
            assert_eq!(d.component.as_deref(), Some(n), "{d}");
            let fix = d.fix.as_deref().unwrap_or_else(|| panic!("no fix: {d}"));
            assert!(fix.contains(fix_says), "{d}");
        }
        if let Some(secret) = caps.mistakes_hide {
            for e in &errors {
                assert!(!e.to_string().contains(secret), "a secret leaked: {e}");
            }
        }
    }
}
