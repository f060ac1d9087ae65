//! The `bindery` command end to end: the binary is spawned as a user would run it.

use std::path::Path;

use support::bindery;

mod support;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn examples() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/components")
        .display()
        .to_string()
}

fn storage_component(dir: &Path) -> std::path::PathBuf {
    let comps = dir.join("components");
    std::fs::create_dir_all(&comps).unwrap();
    std::fs::write(
        comps.join("files.yaml"),
        format!(
            "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: files\nspec:\n  type: bindings.localstorage\n  version: v1\n  metadata:\n  - name: rootPath\n    value: {}\n",
            dir.join("root").display()
        ),
    )
    .unwrap();
    comps
}

#[test]
fn validate_accepts_the_examples() {
    let out = bindery(&["validate", "--resources-path", &examples()]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert_has(
        &stdout,
        &[
            "ok: cleanup-cron (bindings.cron, input)",
            "ok: monitoring-webhook (bindings.http, output)",
            "ok: records (bindings.localstorage, output)",
            "3 component(s) valid, 0 warning(s)",
        ],
    );
}

#[test]
fn validate_prints_every_problem_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("cron.yaml"),
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: nightly\nspec:\n  type: bindings.cron\n  version: v1\n  metadata:\n  - name: schedule\n    value: \"0 3 * * *\"\n  - name: timezone\n    value: UTC\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("hook.yaml"),
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: hook\nspec:\n  type: bindings.htp\n  version: v1\n",
    )
    .unwrap();
    let out = bindery(&[
        "validate",
        "--resources-path",
        &dir.path().display().to_string(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert_has(
        &stdout,
        &[
            "cron.yaml:9:5: warning in component \"nightly\": cron schedule \"0 3 * * *\" has 5 fields: it is read as standard cron",
            "fix: write the 6-field form, seconds first, to say so: \"0 0 3 * * *\"",
            "cron.yaml:11:5: warning in component \"nightly\": unknown metadata field \"timezone\"",
            "hook.yaml:6:9: error in component \"hook\": unknown binding type \"bindings.htp\"",
            "fix: did you mean \"bindings.http\"?",
            "1 error(s), 2 warning(s) in 2 component(s)",
        ],
    );
}

/// `bindery validate` shows when each cron component fires, in its time zone: a standard
/// 5-field schedule (as Dapr reads it) fires at second 0 of the minute it names.
#[test]
fn validate_shows_the_next_fire_times_of_a_cron() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("cron.yaml"),
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: nightly\nspec:\n  type: bindings.cron\n  version: v1\n  metadata:\n  - name: schedule\n    value: \"CRON_TZ=Europe/Berlin 0 3 * * *\"\n",
    )
    .unwrap();
    let out = bindery(&[
        "validate",
        "--resources-path",
        &dir.path().display().to_string(),
    ]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("has 5 fields"), "{stdout}");
    let line = stdout
        .lines()
        .find(|l| l.contains("next fire times (Europe/Berlin): "))
        .unwrap_or_else(|| panic!("{stdout}"));
    let times: Vec<&str> = line.split(": ").nth(1).unwrap().split(", ").collect();
    assert_eq!(times.len(), 3, "{line}");
    for t in times {
        assert!(t.contains(" 03:00:00 +0"), "{line}");
    }
}

#[test]
fn invoke_local_storage_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let comps = storage_component(dir.path()).display().to_string();
    let out = bindery(&[
        "invoke",
        "--resources-path",
        &comps,
        "files",
        "create",
        "--data",
        "hello bindery",
        "--metadata",
        "fileName=greeting.txt",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), r#"{"fileName":"greeting.txt"}"#);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("root/greeting.txt")).unwrap(),
        "hello bindery"
    );

    let payload = dir.path().join("payload.bin");
    std::fs::write(&payload, [0u8, 159, 146, 150]).unwrap();
    let out = bindery(&[
        "invoke",
        "-d",
        &comps,
        "files",
        "create",
        "--data-file",
        &payload.display().to_string(),
        "-m",
        "fileName=raw.bin",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    let out = bindery(&[
        "invoke",
        "--resources-path",
        &comps,
        "files",
        "get",
        "--metadata",
        "fileName=greeting.txt",
    ]);
    assert!(out.status.success());
    assert_eq!(text(&out.stdout), "hello bindery");
    let out = bindery(&[
        "invoke",
        "--resources-path",
        &comps,
        "files",
        "get",
        "--metadata",
        "fileName=raw.bin",
    ]);
    assert_eq!(out.stdout, [0u8, 159, 146, 150]);
}

#[test]
fn invoke_failures_exit_1_with_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let comps = storage_component(dir.path()).display().to_string();
    let out = bindery(&["invoke", "--resources-path", &comps, "files", "read"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr).trim(),
        "error: files (read): bindings.localstorage has no operation \"read\"; its operations are: create, get, list, delete"
    );
    let out = bindery(&["invoke", "--resources-path", &comps, "fles", "get"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr)
            .contains("no binding named \"fles\"; the bindings are (nearest first): files"),
        "{}",
        text(&out.stderr)
    );
    let out = bindery(&[
        "invoke",
        "--resources-path",
        &comps,
        "files",
        "get",
        "-m",
        "fileName=../../etc/passwd",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("leaves rootPath"),
        "{}",
        text(&out.stderr)
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn invoke_http_prints_body_and_metadata() {
    let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = server.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            server.set_nonblocking(true).unwrap();
            let listener = tokio::net::TcpListener::from_std(server).unwrap();
            let app = axum::Router::new().route(
                "/hooks/alert",
                axum::routing::post(|body: String| async move {
                    ([("x-seen", "yes")], format!("got {body}"))
                }),
            );
            axum::serve(listener, app).await.unwrap();
        });
    });
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("hook.yaml"),
        format!("apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: hook\nspec:\n  type: bindings.http\n  version: v1\n  metadata:\n  - name: url\n    value: http://127.0.0.1:{port}/hooks\n"),
    )
    .unwrap();
    let out = bindery(&[
        "invoke",
        "--resources-path",
        &dir.path().display().to_string(),
        "hook",
        "post",
        "--data",
        "disk full",
        "-m",
        "path=/alert",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "got disk full");
    let stderr = text(&out.stderr);
    assert!(stderr.contains("statusCode: 200\n"), "{stderr}");
    assert!(stderr.contains("X-Seen: yes\n"), "{stderr}");
}

#[test]
fn listen_prints_json_lines_and_stops_after_count() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("tick.yaml"),
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: tick\nspec:\n  type: bindings.cron\n  version: v1\n  metadata:\n  - name: schedule\n    value: \"@every 100ms\"\n",
    )
    .unwrap();
    let out = bindery(&[
        "listen",
        "--resources-path",
        &dir.path().display().to_string(),
        "tick",
        "--count",
        "3",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    for l in &lines {
        assert_eq!(l["binding"], "tick");
        assert_eq!(l["data"], "");
        assert_eq!(l["metadata"]["timeZone"], "Local");
        assert!(l["metadata"]["readTimeUTC"]
            .as_str()
            .unwrap()
            .ends_with("UTC"));
    }
}

#[test]
fn listen_to_a_name_that_is_no_binding_fails() {
    let out = bindery(&[
        "listen",
        "--resources-path",
        &examples(),
        "cleanup-corn",
        "--count",
        "1",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(
            "no binding named \"cleanup-corn\"; the bindings are (nearest first): cleanup-cron"
        ),
        "{stderr}"
    );
}

/// Assert that `text` contains each of `wanted`.
fn assert_has(text: &str, wanted: &[&str]) {
    for w in wanted {
        assert!(text.contains(w), "{w:?} is missing from:\n{text}");
    }
}
