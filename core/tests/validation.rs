//! Validation of component files: every problem reported together, each with file, line,
//! component, what is wrong and the fix. Purpose-made bad files, messages asserted.

use std::path::{Path, PathBuf};

use bindery::component::{self, Diagnostic, Severity, Validated};
use bindery::{ErrorKind, Registry, Runtime};

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// A folder holding one file, `name` with `text`.
fn one_file(name: &str, text: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), name, text);
    dir
}

/// A folder holding the cron component `ticker` (`@every 1s`) with `from` written `to`.
fn ticker_with(from: &str, to: &str) -> tempfile::TempDir {
    one_file("c.yaml", &cron("ticker", "@every 1s").replace(from, to))
}

fn check(dir: &Path) -> Validated {
    let (components, diags) = component::load_paths(&[dir.to_path_buf()]);
    component::validate(components, &Registry::builtin(), None, diags)
}

fn errors(v: &Validated) -> Vec<&Diagnostic> {
    v.diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .collect()
}

fn warnings(v: &Validated) -> Vec<&Diagnostic> {
    v.diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Warning)
        .collect()
}

fn only_error(v: &Validated) -> &Diagnostic {
    let e = errors(v);
    assert_eq!(e.len(), 1, "expected one error, got: {:#?}", v.diagnostics);
    e[0]
}

/// The folder `path` (from the crate's), validated: without any diagnostic.
fn clean(path: &str) -> Validated {
    let v = check(&Path::new(env!("CARGO_MANIFEST_DIR")).join(path));
    assert!(v.diagnostics.is_empty(), "{:#?}", v.diagnostics);
    v
}

fn cron(name: &str, schedule: &str) -> String {
    format!(
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: {name}\nspec:\n  type: bindings.cron\n  version: v1\n  metadata:\n  - name: schedule\n    value: \"{schedule}\"\n"
    )
}

#[test]
fn the_seed_component_files_validate_unchanged() {
    let v = clean("tests/fixtures/seed");
    let names: Vec<&str> = v.bindings.iter().map(|b| b.config.name.as_str()).collect();
    assert_eq!(names, ["cleanup-cron", "monitoring-webhook"]);
    let cron = &v.bindings[0];
    assert!(
        cron.parts.input.is_some() && cron.parts.output.is_none(),
        "direction: input"
    );
    let http = &v.bindings[1];
    assert!(
        http.parts.input.is_none() && http.parts.output.is_some(),
        "direction: output"
    );
}

#[test]
fn the_examples_validate() {
    let v = clean("../examples/components");
    assert_eq!(v.bindings.len(), 3);
}

#[test]
fn yaml_syntax_error_names_line_and_column() {
    let dir = one_file("broken.yaml", "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: x\nspec:\n  type: [bindings.cron\n  version: v1\n");
    let v = check(dir.path());
    let e = only_error(&v);
    assert!(e.location.file.ends_with("broken.yaml"));
    assert!(e.location.line >= 6, "{e}");
    assert!(e.location.column > 0, "{e}");
    assert!(e.message.starts_with("YAML syntax error"), "{e}");
    assert!(e.fix.is_some());
    let shown = e.to_string();
    assert!(shown.contains("broken.yaml:"), "{shown}");
}

/// The ticker with `from` written `to` has one error, `message`, with the fix `fix`.
fn ticker_refused(from: &str, to: &str, message: &str, fix: &str) -> Diagnostic {
    let dir = ticker_with(from, to);
    let e = only_error(&check(dir.path())).clone();
    assert_eq!(e.message, message);
    assert_eq!(e.fix.as_deref(), Some(fix));
    e
}

#[test]
fn unknown_type_suggests_the_nearest() {
    let corn = "unknown binding type \"bindings.corn\"";
    let e = ticker_refused(
        "bindings.cron",
        "bindings.corn",
        corn,
        "did you mean \"bindings.cron\"?",
    );
    assert_eq!(e.component.as_deref(), Some("ticker"));
    assert_eq!(e.location.line, 6, "points at spec.type");

    let binding = "unknown component type \"binding.http\"";
    ticker_refused(
        "bindings.cron",
        "binding.http",
        binding,
        "did you mean \"bindings.http\"?",
    );
}

#[test]
fn unknown_version_lists_the_known_ones() {
    let v2 = "bindings.cron has no version \"v2\"";
    ticker_refused("version: v1", "version: v2", v2, "write `version: v1`");
}

#[test]
fn unknown_metadata_field_is_a_warning_with_the_nearest_field() {
    let dir = tempfile::tempdir().unwrap();
    let text = cron("ticker", "@every 1s") + "  - name: schedul\n    value: \"@daily\"\n";
    write(dir.path(), "c.yaml", &text);
    let v = check(dir.path());
    assert!(errors(&v).is_empty(), "{:#?}", v.diagnostics);
    let w = warnings(&v);
    assert_eq!(w.len(), 1);
    assert_eq!(
        w[0].message,
        "unknown metadata field \"schedul\" for bindings.cron; it is ignored"
    );
    assert_eq!(w[0].fix.as_deref(), Some("did you mean \"schedule\"?"));
    assert_eq!(w[0].location.line, 11);
    // A warning does not stop the runtime from loading.
    let rt = Runtime::from_path(dir.path()).unwrap();
    assert_eq!(rt.diagnostics().len(), 1);
}

#[test]
fn values_of_the_wrong_kind_are_errors() {
    let dir = one_file(
        "hook.yaml",
        r#"apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: hook
spec:
  type: bindings.http
  version: v1
  metadata:
  - name: url
    value: http://localhost:1234
  - name: responseTimeout
    value: soon
  - name: maxResponseBodySize
    value: lots
  - name: errorIfNot2XX
    value: maybe
  - name: MTLSRenegotiation
    value: Sometimes
"#,
    );
    let v = check(dir.path());
    let e = errors(&v);
    let messages: Vec<&str> = e.iter().map(|d| d.message.as_str()).collect();
    assert_eq!(
        messages,
        [
            "metadata field \"responseTimeout\": \"soon\" is not a duration; write a Go duration (\"10s\", \"1m30s\") or a whole number of seconds",
            "metadata field \"maxResponseBodySize\": \"lots\" is not a size (use e.g. 100Mi, 512Ki or 1048576)",
            "metadata field \"MTLSRenegotiation\": \"Sometimes\" is not one of RenegotiateNever, RenegotiateOnceAsClient, RenegotiateFreelyAsClient",
        ]
    );
    assert_eq!(
        e.iter().map(|d| d.location.line).collect::<Vec<_>>(),
        [11, 13, 17]
    );
    assert!(e[0].fix.as_deref().unwrap().contains("Go duration"));
    // A boolean Dapr reads as false (it is no true spelling) loads, with a warning; so does a
    // field bindery ignores (with its reason).
    let w: Vec<&Diagnostic> = v.diagnostics.iter().filter(|d| !d.is_error()).collect();
    assert_eq!(w.len(), 2, "{w:#?}");
    assert_eq!((w[0].location.line, w[1].location.line), (15, 17));
    assert!(
        w[0].message
            .contains("\"maybe\" is not a boolean spelling; Dapr reads it as false"),
        "{}",
        w[0]
    );
    assert!(
        w[1].message.contains("\"MTLSRenegotiation\" is accepted as in Dapr but ignored by bindery: rustls never renegotiates"),
        "{}",
        w[1]
    );
}

/// Dapr's cron parser takes the seconds field as optional: five fields load as standard cron
/// (minute first, at second 0), with a warning that shows the six-field form.
#[test]
fn five_field_cron_loads_as_dapr_reads_it_with_a_warning() {
    let dir = one_file("c.yaml", &cron("nightly", "*/5 * * * *"));
    let v = check(dir.path());
    assert!(v.is_ok(), "{:#?}", v.diagnostics);
    assert_eq!(v.diagnostics.len(), 1, "{:#?}", v.diagnostics);
    let w = &v.diagnostics[0];
    assert!(!w.is_error());
    assert!(w.message.contains("has 5 fields"), "{w}");
    assert!(w.message.contains("standard cron"), "{w}");
    assert_eq!(
        w.fix.as_deref(),
        Some("write the 6-field form, seconds first, to say so: \"0 */5 * * * *\"")
    );
    assert_eq!(w.location.line, 9, "points at the schedule entry");

    // The time zone prefix is kept in the suggested form.
    let dir = one_file(
        "c.yaml",
        &cron("nightly", "CRON_TZ=Europe/Berlin 30 4 * * *"),
    );
    let v = check(dir.path());
    assert!(v.diagnostics[0]
        .fix
        .as_deref()
        .unwrap()
        .contains("\"CRON_TZ=Europe/Berlin 0 30 4 * * *\""));
}

#[test]
fn bad_schedules_are_named() {
    for (schedule, expect) in [
        ("@every", "empty duration"),
        ("@every 10", "without a unit"),
        ("@evry 10s", "did you mean \"@every\"?"),
        (
            "TZ=Mars/Olympus 0 * * * * *",
            "unknown time zone \"Mars/Olympus\"",
        ),
        ("0 0 25 * * *", "is not valid"),
        ("0 0 0 * * 7", "day of week 7 is out of range"),
        ("0 0 * *", "has 4 fields"),
    ] {
        let dir = one_file("c.yaml", &cron("c", schedule));
        let v = check(dir.path());
        let e = only_error(&v);
        let all = format!("{} {}", e.message, e.fix.clone().unwrap_or_default());
        assert!(all.contains(expect), "{schedule:?}: {all}");
    }
}

#[test]
fn duplicate_names_point_at_both() {
    let dir = one_file("a.yaml", &cron("ticker", "@every 1s"));
    write(dir.path(), "b.yaml", &cron("ticker", "@every 2s"));
    let v = check(dir.path());
    let e = only_error(&v);
    assert!(e.location.file.ends_with("b.yaml"));
    assert!(e.message.contains("\"ticker\" is already used at"), "{e}");
    assert!(e.message.contains("a.yaml:4"), "{e}");
}

#[test]
fn multi_document_files_load_components_and_skip_other_kinds() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "{}---\napiVersion: dapr.io/v2alpha1\nkind: Subscription\nmetadata:\n  name: sub\nspec:\n  topic: orders\n---\n# comment only\n---\napiVersion: dapr.io/v1alpha1\nkind: Resiliency\nmetadata:\n  name: r\n---\n{}",
        cron("first", "@every 1s"),
        cron("second", "@hourly")
    );
    write(dir.path(), "many.yml", &text);
    write(dir.path(), "notes.txt", "not yaml: [");
    let v = check(dir.path());
    assert!(v.diagnostics.is_empty(), "{:#?}", v.diagnostics);
    let names: Vec<&str> = v.bindings.iter().map(|b| b.config.name.as_str()).collect();
    assert_eq!(names, ["first", "second"]);
    assert_eq!(v.bindings[1].component.name_location.line, 29);
}

#[test]
fn every_problem_is_reported_at_once() {
    let dir = one_file("a.yaml", &cron("a", "5 * * *"));
    write(
        dir.path(),
        "b.yaml",
        &cron("b", "@every 1s").replace("bindings.cron", "bindings.crom"),
    );
    write(
        dir.path(),
        "c.yaml",
        "kind: Component\nmetadata:\n  name: c\nspec:\n  type: bindings.cron\n",
    );
    write(dir.path(), "d.yaml", "a: [");
    let err = Runtime::from_path(dir.path()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidConfig);
    let files: Vec<String> = err
        .diagnostics()
        .iter()
        .filter(|d| d.is_error())
        .map(|d| {
            d.location
                .file
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    // c.yaml: no apiVersion and no schedule.
    assert_eq!(files, ["a.yaml", "b.yaml", "c.yaml", "c.yaml", "d.yaml"]);
    let text = err.to_string();
    assert!(
        text.starts_with("5 problems in the component files"),
        "{text}"
    );
    assert!(text.contains("has no apiVersion"), "{text}");
}

#[test]
fn schema_mistakes_are_named() {
    let dir = one_file("c.yaml", "apiVersion: dapr.io/v1\nkind: component\nmetadata:\n  name: c\nspec:\n  type: bindings.cron\n");
    write(
        dir.path(),
        "d.yaml",
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: d\nspec:\n  type: bindings.cron\n  metdata:\n  - name: schedule\n    value: '@daily'\n",
    );
    write(
        dir.path(),
        "e.yaml",
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: e\nspec:\n  type: bindings.cron\n  metadata:\n    schedule: '@daily'\n",
    );
    let v = check(dir.path());
    let shown: Vec<String> = v
        .diagnostics
        .iter()
        .map(|d| {
            format!(
                "{}:{} {}",
                d.location.file.file_name().unwrap().to_string_lossy(),
                d.location.line,
                d.message
            )
        })
        .collect();
    assert!(
        shown.contains(&"c.yaml:2 kind \"component\" is spelled wrong".to_string()),
        "{shown:#?}"
    );
    for starts in [
        "d.yaml:7 unknown field \"metdata\" in spec",
        "d.yaml:4 bindings.cron needs the metadata field \"schedule\"",
        "e.yaml:8 spec.metadata must be a list",
    ] {
        assert!(shown.iter().any(|s| s.starts_with(starts)), "{shown:#?}");
    }
    let d_fix = v
        .diagnostics
        .iter()
        .find(|d| d.message.contains("metdata"))
        .unwrap();
    assert_eq!(d_fix.fix.as_deref(), Some("did you mean \"metadata\"?"));
}

#[test]
fn other_families_are_skipped_with_a_warning() {
    let dir = one_file("state.yaml", "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: statestore\nspec:\n  type: state.redis\n  version: v1\n  metadata:\n  - name: redisHost\n    value: localhost:6379\n");
    write(dir.path(), "c.yaml", &cron("ticker", "@every 1s"));
    let v = check(dir.path());
    assert!(errors(&v).is_empty());
    assert_eq!(warnings(&v).len(), 1);
    assert!(warnings(&v)[0].message.contains("is not a binding"));
    assert_eq!(v.bindings.len(), 1);
}

#[test]
fn direction_is_checked() {
    let dir = one_file(
        "c.yaml",
        &(cron("c", "@every 1s") + "  - name: direction\n    value: inbound\n"),
    );
    let e = only_error(&check(dir.path())).clone();
    assert_eq!(
        e.message,
        "direction \"inbound\" is not one of input, output, \"input, output\""
    );

    let dir = one_file("h.yaml", "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: h\nspec:\n  type: bindings.http\n  version: v1\n  metadata:\n  - name: url\n    value: http://x\n  - name: direction\n    value: input\n");
    let e = only_error(&check(dir.path())).clone();
    assert_eq!(
        e.message,
        "bindings.http is not an input binding, but direction says input"
    );
    assert_eq!(e.fix.as_deref(), Some("write `value: \"output\"`"));

    // "input, output" on cron: both sides; no direction: every side the type has.
    for extra in ["  - name: direction\n    value: \"input, output\"\n", ""] {
        let dir = one_file("c.yaml", &(cron("c", "@every 1s") + extra));
        let v = check(dir.path());
        assert!(v.diagnostics.is_empty());
        assert!(v.bindings[0].parts.input.is_some() && v.bindings[0].parts.output.is_some());
    }
}

#[test]
fn route_metadata_sets_the_input_route() {
    let dir = one_file(
        "a.yaml",
        &(cron("a", "@every 1s") + "  - name: route\n    value: /onevent\n"),
    );
    write(dir.path(), "b.yaml", &cron("b", "@every 1s"));
    let rt = Runtime::from_path(dir.path()).unwrap();
    let routes: Vec<(String, String)> = rt
        .bindings()
        .into_iter()
        .map(|b| (b.name, b.route))
        .collect();
    assert_eq!(
        routes,
        [
            ("a".to_string(), "/onevent".to_string()),
            ("b".to_string(), "/b".to_string())
        ]
    );
}

#[test]
fn missing_resources_path_is_an_error() {
    let err = Runtime::from_path("/definitely/not/here").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidConfig);
    assert!(err.diagnostics()[0]
        .message
        .starts_with("resources path cannot be read"));
}

#[test]
fn scopes_limit_components_to_their_apps() {
    let dir = one_file("a.yaml", &(cron("a", "@every 1s") + "scopes:\n- billing\n"));
    write(dir.path(), "b.yaml", &cron("b", "@every 1s"));
    let names = |id: &str| -> Vec<String> {
        Runtime::builder()
            .resources_path(dir.path())
            .app_id(id)
            .build()
            .unwrap()
            .bindings()
            .into_iter()
            .map(|b| b.name)
            .collect()
    };
    assert_eq!(names("billing"), ["a", "b"]);
    assert_eq!(names("shipping"), ["b"]);
}

#[test]
fn spec_init_timeout_and_ignore_errors_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let text = cron("c", "@every 1s").replace(
        "  version: v1\n",
        "  version: v1\n  initTimeout: 5\n  ignoreErrors: perhaps\n",
    );
    write(dir.path(), "c.yaml", &text);
    let v = check(dir.path());
    let messages: Vec<String> = errors(&v)
        .iter()
        .map(|d| format!("{} {}", d.location.line, d.message))
        .collect();
    assert_eq!(
        messages,
        [
            "8 spec.initTimeout: \"5\" has a number without a unit (use e.g. \"5s\")",
            "9 spec.ignoreErrors: \"perhaps\" is not a boolean (use true or false)",
        ]
    );

    let text = cron("c", "@every 1s").replace(
        "  version: v1\n",
        "  version: v1\n  initTimeout: 1m30s\n  ignoreErrors: true\n",
    );
    write(dir.path(), "c.yaml", &text);
    let v = check(dir.path());
    assert!(v.diagnostics.is_empty(), "{:#?}", v.diagnostics);
    assert_eq!(
        v.bindings[0].component.init_timeout,
        std::time::Duration::from_secs(90)
    );
    assert!(v.bindings[0].component.ignore_errors);
}

/// A field of spec written under metadata (as in one of Dapr's certification files): Dapr
/// ignores it without a word; bindery warns and says where it belongs.
#[test]
fn a_spec_field_under_metadata_is_a_warning_saying_where_it_goes() {
    let text = cron("c", "@every 1s").replace("  name: c\n", "  name: c\n  initTimeout: 5m\n");
    let dir = one_file("c.yaml", &text);
    let v = check(dir.path());
    let w = warnings(&v);
    assert_eq!(w.len(), 1, "{:#?}", v.diagnostics);
    assert_eq!(w[0].location.line, 5);
    assert!(w[0]
        .message
        .contains("unknown field \"initTimeout\" in metadata; it is ignored"));
    assert_eq!(
        w[0].fix.as_deref(),
        Some("\"initTimeout\" is a field of spec: move it there")
    );
    assert!(errors(&v).is_empty());
}

/// Nine anchors, each a list of nine aliases of the one before (`a: &a ["lol", ...]`,
/// `b: &b [*a, ...]`, ...): 685 bytes that, expanded,
/// are 9^9 (387 million) scalars. Before bindery bounded alias expansion, loading this file
/// allocated past 4 GB and aborted.
fn billion_laughs() -> String {
    let mut text = cron("lol", "@every 1s");
    let mut entry = |name: char, items: String| {
        let list = vec![items; 9].join(",");
        text.push_str(&format!("  - name: {name}\n    value: &{name} [{list}]\n"));
    };
    entry('a', "\"lol\"".into());
    for (before, name) in "abcdefgh".chars().zip("bcdefghi".chars()) {
        entry(name, format!("*{before}"));
    }
    text
}

#[test]
fn a_billion_laughs_of_aliases_is_refused_quickly_with_the_limit_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "lol.yaml", &billion_laughs());
    let started = std::time::Instant::now();
    let v = check(dir.path());
    let took = started.elapsed();
    let e = only_error(&v);
    assert_eq!(e.location.file, file);
    // The alias that passes 100,000 copied nodes: the lines of b to e copy 90, 819, 7,380
    // and 66,429 (each alias its anchor's 10, 91, 820, 7,381 nodes), so the first *e, on
    // line 22, is the one.
    assert_eq!(e.location.line, 22, "{e}");
    assert!(e.location.column > 0, "{e}");
    assert!(e.message.contains("aliases"), "{e}");
    assert!(e.message.contains("100000 nodes"), "{e}");
    assert!(e.message.contains("limit"), "{e}");
    let fix = e.fix.as_deref().unwrap_or_default();
    assert!(fix.contains("billion laughs"), "{e}");
    assert!(
        took < std::time::Duration::from_secs(2),
        "loading took {took:?}"
    );

    // What every SDK constructor does: one InvalidConfig error carrying the diagnostic.
    let err = Runtime::from_path(dir.path()).expect_err("the bomb is refused");
    assert_eq!(err.kind(), ErrorKind::InvalidConfig);
    assert!(err.to_string().contains("aliases"), "{err}");
}

#[test]
fn ordinary_anchors_and_aliases_still_work() {
    let dir = one_file("hook.yaml", "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: hook\nspec:\n  type: bindings.http\n  version: v1\n  metadata:\n  - &url\n    name: url\n    value: \"http://localhost:1/hook\"\n  - name: securityTokenHeader\n    value: &token X-Token\n  - name: securityToken\n    value: *token\n---\napiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: tick\nspec:\n  type: bindings.cron\n  version: v1\n  metadata: &md\n  - name: schedule\n    value: \"@every 1s\"\n");
    let v = check(dir.path());
    assert!(v.diagnostics.is_empty(), "{:#?}", v.diagnostics);
    assert_eq!(v.bindings.len(), 2);

    let docs = bindery::component::yaml::parse_documents("a: &x {k: [1, 2]}\nb: *x\nc: [*x, *x]\n")
        .unwrap();
    assert_eq!(
        docs[0].get("b"),
        docs[0].get("a"),
        "an alias is its anchor's value"
    );
    let a = docs[0].get("a").unwrap().clone();
    let c = docs[0].get("c").unwrap();
    assert_eq!(
        c.value,
        bindery::component::yaml::Value::Seq(vec![a.clone(), a])
    );
}

#[test]
fn nesting_past_the_limit_is_refused_without_overflowing_the_stack() {
    let dir = tempfile::tempdir().unwrap();
    // 400,000 levels of "- " (800 kB): Parser::load would recurse once per level.
    write(
        dir.path(),
        "deep.yaml",
        &format!("{}x\n", "- ".repeat(400_000)),
    );
    write(
        dir.path(),
        "flow.yaml",
        &format!("a: {}\n", "[".repeat(200)),
    );
    let v = check(dir.path());
    let errs = errors(&v);
    assert_eq!(errs.len(), 2, "{:#?}", v.diagnostics);
    for e in errs {
        assert!(e.message.contains("deeper than 64 levels"), "{e}");
        assert_eq!(e.location.line, 1, "{e}");
        assert!(e.fix.is_some(), "{e}");
    }
}

#[test]
fn a_file_over_the_size_limit_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = cron("big", "@every 1s");
    text.push_str(&format!("# {}\n", "x".repeat(1 << 20)));
    let file = write(dir.path(), "big.yaml", &text);
    // Exactly at the limit is still read.
    write(
        dir.path(),
        "fits.yaml",
        &format!(
            "{}#{}",
            cron("fits", "@every 1s"),
            "x".repeat((1 << 20) - cron("fits", "@every 1s").len() - 1)
        ),
    );
    assert_eq!(
        std::fs::metadata(dir.path().join("fits.yaml"))
            .unwrap()
            .len(),
        1 << 20
    );
    let v = check(dir.path());
    let e = only_error(&v);
    assert_eq!(e.location.file, file);
    assert!(e.message.contains("larger than 1 MiB"), "{e}");
    assert!(
        e.fix
            .as_deref()
            .unwrap_or_default()
            .contains("several files"),
        "{e}"
    );
    assert_eq!(v.bindings.len(), 1, "fits.yaml loads");
}

#[test]
fn an_alias_inside_its_own_anchor_is_an_error() {
    let dir = one_file(
        "self.yaml",
        &format!(
            "{}  - name: loop\n    value: &me [1, *me]\n",
            cron("self", "@every 1s")
        ),
    );
    let v = check(dir.path());
    let e = only_error(&v);
    assert_eq!(e.location.line, 12, "{e}");
    assert!(e.message.contains("contains the alias itself"), "{e}");
}

/// A URL a message quotes shows its password as `***`, even when it is no secret.
#[cfg(all(
    feature = "mqtt",
    feature = "rabbitmq",
    feature = "mysql",
    feature = "redis",
    feature = "http",
    feature = "kafka"
))]
#[test]
fn messages_never_quote_a_url_password() {
    let doc = |name: &str, ty: &str, fields: &[(&str, &str)]| {
        let items: String = fields
            .iter()
            .map(|(k, v)| format!("  - name: {k}\n    value: \"{v}\"\n"))
            .collect();
        format!("apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: {name}\nspec:\n  type: {ty}\n  version: v1\n  metadata:\n{items}")
    };
    let dir = tempfile::tempdir().unwrap();
    for (name, ty, fields) in [
        (
            "mq",
            "bindings.mqtt3",
            vec![
                ("url", "tcp://u:pw1plain@127.0.0.1:18x83"),
                ("topic", "t"),
                ("consumerID", "c"),
            ],
        ),
        (
            "mq2",
            "bindings.mqtt3",
            vec![
                ("url", "u:pw2plain@127.0.0.1:1883"),
                ("topic", "t"),
                ("consumerID", "c"),
            ],
        ),
        (
            "rb",
            "bindings.rabbitmq",
            vec![
                ("host", "guest:pw3plain@127.0.0.1:5672"),
                ("queueName", "q"),
            ],
        ),
        (
            "my",
            "bindings.mysql",
            vec![("url", "root:pw4plain@bogus(127.0.0.1:3306)/db")],
        ),
        ("my2", "bindings.mysql", vec![("url", "root:pw5plain/db")]),
        (
            "rd",
            "bindings.redis",
            vec![("redisHost", "pw6plain@127.0.0.1:63x79")],
        ),
        (
            "ht",
            "bindings.http",
            vec![("url", "http://u:pw7plain@127.0.0.1:99999/x")],
        ),
    ] {
        write(dir.path(), &format!("{name}.yaml"), &doc(name, ty, &fields));
    }
    let v = check(dir.path());
    let all: String = v.diagnostics.iter().map(|d| format!("{d}\n")).collect();
    assert_eq!(errors(&v).len(), 7, "{all}");
    for n in 1..=7 {
        assert!(
            !all.contains(&format!("pw{n}plain")),
            "pw{n}plain in:\n{all}"
        );
    }
    assert!(
        all.contains("url \"tcp://u:***@127.0.0.1:18x83\" has an invalid port"),
        "{all}"
    );
    assert!(
        all.contains("host \"guest:***@127.0.0.1:5672\" is not an amqp:// URL"),
        "{all}"
    );
    assert!(
        all.contains("url \"http://u:***@127.0.0.1:99999/x\" is not a URL"),
        "{all}"
    );
}

fn http(name: &str, entries: &[(&str, &str)]) -> String {
    let mut yaml = format!(
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: {name}\nspec:\n  type: bindings.http\n  version: v1\n  metadata:\n"
    );
    for (k, v) in entries {
        yaml.push_str(&format!("  - name: {k}\n    value: \"{v}\"\n"));
    }
    yaml
}

/// Values in the spellings Dapr accepts load without a word: a truthy boolean (`off`), a
/// duration as a bare number of seconds.
#[test]
fn dapr_spellings_of_values_load_silently() {
    let dir = one_file(
        "hook.yaml",
        &http(
            "hook",
            &[
                ("url", "http://localhost:1234"),
                ("errorIfNot2XX", "off"),
                ("responseTimeout", "10"),
            ],
        ),
    );
    let v = check(dir.path());
    assert!(v.diagnostics.is_empty(), "{:#?}", v.diagnostics);
    assert_eq!(v.bindings.len(), 1);
}

/// A field given twice: the last one wins, as in Dapr, with a warning naming both lines; the
/// same name in another case is refused, as Dapr's DecodeMetadata refuses it.
#[test]
fn a_field_given_twice_last_one_wins_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "c.yaml",
        &format!(
            "{}  - name: schedule\n    value: \"@every 2s\"\n",
            cron("c", "@every 1s")
        ),
    );
    let v = check(dir.path());
    assert!(v.is_ok(), "{:#?}", v.diagnostics);
    assert_eq!(v.diagnostics.len(), 1, "{:#?}", v.diagnostics);
    let w = &v.diagnostics[0];
    assert!(
        w.message
            .contains("is given twice, at lines 9 and 11; the last one wins"),
        "{w}"
    );
    assert_eq!(w.location.line, 11);
    assert_eq!(
        v.bindings[0].config.metadata.get("schedule"),
        Some("@every 2s")
    );

    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "c.yaml",
        &format!(
            "{}  - name: Schedule\n    value: \"@every 2s\"\n",
            cron("c", "@every 1s")
        ),
    );
    let e = only_error(&check(dir.path())).clone();
    assert!(e.message.contains("differ only in case"), "{e}");
    assert_eq!(e.location.line, 11);
}

/// Dapr's templates: `{appID}`, `{namespace}` (`<NAMESPACE>.<app id>`), `{podName}`
/// (`POD_NAME`, else the host name) and `{uuid}`; without an app id the first two stay as
/// written, with a warning.
#[test]
fn templates_are_replaced_as_daprd_replaces_them() {
    let dir = one_file(
        "hook.yaml",
        &http(
            "hook",
            &[
                (
                    "url",
                    "http://localhost:1234/{namespace}/{appID}/{podName}/{uuid}",
                ),
                ("securityTokenHeader", "X-Id"),
            ],
        ),
    );
    // The process's own NAMESPACE (Dapr's default namespace when unset); the pod name is
    // POD_NAME or the host name, so only its place is checked here (the unit test of
    // `fill_templates` checks the values; this test changes no environment variable).
    let (components, diags) = component::load_paths(&[dir.path().to_path_buf()]);
    let v = component::validate(components, &Registry::builtin(), Some("orders"), diags);
    assert!(v.diagnostics.is_empty(), "{:#?}", v.diagnostics);
    let url = v.bindings[0]
        .config
        .metadata
        .get("url")
        .unwrap()
        .to_string();
    let namespace = std::env::var("NAMESPACE").unwrap_or_else(|_| "default".into());
    let prefix = format!("http://localhost:1234/{namespace}.orders/orders/");
    assert!(url.starts_with(&prefix), "{url}");
    let rest: Vec<&str> = url[prefix.len()..].split('/').collect();
    assert!(
        rest.len() == 2 && !rest[0].is_empty() && !rest[0].contains('{'),
        "{url}"
    );
    assert_eq!(rest[1].len(), 36, "a UUID: {url}");

    let v = check(dir.path());
    assert!(v.is_ok());
    let w = &v.diagnostics[0];
    assert!(w.message.contains("no app id is set"), "{w}");
    assert!(v.bindings[0]
        .config
        .metadata
        .get("url")
        .unwrap()
        .contains("{appID}"));
}

/// RabbitMQ's `ttl` (Dapr's name since 1.13) loads; `ttlInSeconds` beside it is its older
/// name, which Dapr ignores when `ttl` is given, so bindery says so.
#[test]
fn rabbitmq_ttl_is_dapr_s_name_and_ttl_in_seconds_its_older_one() {
    let rabbit = |extra: &str| {
        format!("apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: q\nspec:\n  type: bindings.rabbitmq\n  version: v1\n  metadata:\n  - name: host\n    value: amqp://localhost:5672\n  - name: queueName\n    value: q\n{extra}")
    };
    let v = check(one_file("q.yaml", &rabbit("  - name: ttl\n    value: 90s\n")).path());
    assert!(v.diagnostics.is_empty(), "{:#?}", v.diagnostics);
    let v = check(
        one_file(
            "q.yaml",
            &rabbit(
                "  - name: ttl\n    value: \"90\"\n  - name: ttlInSeconds\n    value: \"60\"\n",
            ),
        )
        .path(),
    );
    assert!(v.is_ok(), "{:#?}", v.diagnostics);
    assert_eq!(v.diagnostics.len(), 1, "{:#?}", v.diagnostics);
    assert!(v.diagnostics[0]
        .message
        .contains("ttlInSeconds is ignored: ttl is given"));
    let e = only_error(&check(
        one_file("q.yaml", &rabbit("  - name: ttl\n    value: \"-5\"\n")).path(),
    ))
    .clone();
    assert!(
        e.message.contains("ttl value must be higher than zero"),
        "{e}"
    );
}

/// A field's older names (Dapr's aliases) load as the field, each with a warning naming the
/// current one: PostgreSQL's `url` for `connectionString` and `timeoutInSeconds` for
/// `timeout`; an alias beside the field itself is ignored, as Dapr ignores it, with a warning
/// at the alias.
#[test]
fn older_field_names_load_as_the_field_and_beside_it_are_ignored_with_a_warning() {
    let pg = |entries: &str| {
        format!("apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: db\nspec:\n  type: bindings.postgresql\n  version: v1\n  metadata:\n{entries}")
    };
    let v = check(
        one_file(
            "db.yaml",
            &pg("  - name: url\n    value: postgres://u@localhost:5432/app\n  - name: timeoutInSeconds\n    value: \"5\"\n"),
        )
        .path(),
    );
    assert_eq!(v.bindings.len(), 1);
    let said: Vec<(usize, &str, Option<&str>)> = v
        .diagnostics
        .iter()
        .map(|d| {
            assert!(!d.is_error(), "{d}");
            (d.location.line, d.message.as_str(), d.fix.as_deref())
        })
        .collect();
    assert_eq!(
        said,
        [
            (9, "metadata field \"url\" is Dapr's older name for \"connectionString\"; it is read as that, as in Dapr", Some("rename it connectionString")),
            (11, "metadata field \"timeoutInSeconds\" is Dapr's older name for \"timeout\"; it is read as that, as in Dapr", Some("rename it timeout")),
        ]
    );
    let v = check(
        one_file(
            "db.yaml",
            &pg("  - name: connectionString\n    value: host=localhost dbname=app\n  - name: url\n    value: postgres://u@localhost:5432/other\n"),
        )
        .path(),
    );
    assert!(v.is_ok(), "{:#?}", v.diagnostics);
    assert_eq!(v.diagnostics.len(), 1, "{:#?}", v.diagnostics);
    assert_eq!(v.diagnostics[0].location.line, 11, "at the alias");
    assert!(v.diagnostics[0]
        .message
        .contains("url is ignored: connectionString is given"));
    // A bad value under the alias is reported under the name written.
    let e = only_error(&check(
        one_file(
            "db.yaml",
            &pg("  - name: url\n    value: postgres://u@localhost/app\n  - name: timeoutInSeconds\n    value: soon\n"),
        )
        .path(),
    ))
    .clone();
    assert!(e.message.contains("\"timeoutInSeconds\""), "{e}");
    assert_eq!(e.location.line, 11);
}
