//! Dapr's own component files load as they are: every bindings component of a type bindery has,
//! from components-contrib's conformance and certification tests, dapr/dapr's end-to-end tests
//! and dapr/quickstarts (`tests/dapr-components`, each file's repository, path and commit in
//! its `SOURCES`; refreshed by `tests/dapr-components/collect`).
//!
//! A file passes when it loads without an error, and gives exactly the warnings listed for it
//! in [`WARNINGS`] (each a mistake in the file that Dapr is silent about). The only files that
//! do not load are the [`EXCEPTIONS`], each with its reason and the error it gives. The
//! conformance files of the types with a local server also run their round trip, in the
//! behaviour suite (`conformance` in `behaviour.rs`).
#![cfg(feature = "all-bindings")]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Once;

use bindery::component::{self, Diagnostic, Severity};
use bindery::Registry;

/// The corpus folder.
fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/dapr-components")
}

/// Environment variables Dapr's tests set for their files: `envRef` in the end-to-end tests'
/// cron component (`tests/e2e/healthcheck` runs daprd with `CRON_SCHEDULE="@every 1s"`), and
/// what the S3 certification tests' `envvar-secret-store` (secretstores.local.env) reads.
const ENV: &[(&str, &str)] = &[
    ("CRON_SCHEDULE", "@every 1s"),
    ("BINDINGS_AWS_S3_BUCKET", "certification-bucket"),
    ("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE"),
    (
        "AWS_SECRET_ACCESS_KEY",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    ),
    ("AWS_REGION", "us-east-1"),
];

/// What Dapr's conformance runner puts for a `${{NAME}}` value (it reads the environment
/// variable NAME: `ParseConfigurationMap` in components-contrib's `tests/conformance/common.go`);
/// these are what its CI sets them to, in shape.
const PLACEHOLDERS: &[(&str, &str)] = &[
    (
        "AzureDBPostgresConnectionString",
        "host=localhost user=dapr-test port=5432 database=dapr_test sslmode=require",
    ),
    (
        "AzureDBPostgresClientId",
        "00000000-0000-0000-0000-000000000001",
    ),
    ("AzureDBPostgresClientSecret", "conformance-client-secret"),
    ("BINDINGS_AWS_S3_BUCKET", "conformance-test-terraform"),
    ("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE"),
    (
        "AWS_SECRET_ACCESS_KEY",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    ),
    ("AWS_REGION", "us-east-1"),
    (
        "AzureDBPostgresTenantId",
        "00000000-0000-0000-0000-000000000002",
    ),
];

/// Files that do not load: the file, why, and what its one error says.
const EXCEPTIONS: &[(&str, &str, &str)] = &[(
    "dapr/components-contrib/tests/config/bindings/postgresql/azure/bindings.yml",
    "useAzureAD: logging in to Azure Database for PostgreSQL with an Azure AD token is not \
     built yet (Azure credentials come with the Azure bindings); bindery refuses the file \
     rather than connect without the token",
    "useAzureAD authentication is not supported",
)];

/// Warnings many of Dapr's files get: a field Dapr deprecated, or an older name of one.
const AUTH_REQUIRED: &str = "\"authRequired\" is deprecated in Dapr; it is still read";
const URL: &str = "\"url\" is Dapr's older name for \"connectionString\"";
const TTL_IN_SECONDS: &str = "\"ttlInSeconds\" is Dapr's older name for \"ttl\"";
const FIVE_FIELDS: &str = "has 5 fields: it is read as standard cron";
const QOS: &str = "\"qos\" is deprecated (as in Dapr) and ignored";
const BACKOFF_TWICE: &str = "\"backOffDuration\" is given twice, at lines 23 and 25";

/// The warnings each file gets: the file and a text of each warning's message, in order.
const WARNINGS: &[(&str, &[&str])] = &[
    (
        "dapr/components-contrib/tests/certification/bindings/cron/components/cron15m.yaml",
        &[FIVE_FIELDS],
    ),
    (
        "dapr/components-contrib/tests/certification/bindings/cron/components/cronMonthly.yaml",
        &[FIVE_FIELDS],
    ),
    (
        "dapr/components-contrib/tests/certification/bindings/kafka/components/consumer1/kafka.yaml",
        &[BACKOFF_TWICE],
    ),
    (
        "dapr/components-contrib/tests/certification/bindings/kafka/components/consumer2/kafka.yaml",
        &[BACKOFF_TWICE],
    ),
    (
        "dapr/components-contrib/tests/certification/bindings/kafka/components/sasl-password/kafka-binding.yaml",
        &[AUTH_REQUIRED],
    ),
    (
        "dapr/components-contrib/tests/certification/bindings/rabbitmq/components/ttl/rabbitmq_overwrite_ttl.yaml",
        &[TTL_IN_SECONDS],
    ),
    (
        "dapr/components-contrib/tests/certification/bindings/rabbitmq/components/ttl/rabbitmq_queue_ttl.yaml",
        &[TTL_IN_SECONDS],
    ),
    (
        "dapr/components-contrib/tests/certification/bindings/redis/components/retryOptions/redis.yaml",
        &["\"initTimeout\" in metadata"],
    ),
    (
        "dapr/components-contrib/tests/config/bindings/kafka/confluent/bindings.yml",
        &[AUTH_REQUIRED],
    ),
    (
        "dapr/components-contrib/tests/config/bindings/kafka/wurstmeister/bindings.yml",
        &[AUTH_REQUIRED],
    ),
    ("dapr/components-contrib/tests/config/bindings/mqtt3/emqx/bindings.yml", &[QOS]),
    ("dapr/components-contrib/tests/config/bindings/mqtt3/mosquitto/bindings.yml", &[QOS]),
    ("dapr/components-contrib/tests/config/bindings/mqtt3/vernemq/bindings.yml", &[QOS]),
    ("dapr/components-contrib/tests/config/bindings/postgresql/docker/bindings.yml", &[URL]),
    ("dapr/components-contrib/tests/config/bindings/rabbitmq/bindings.yml", &[TTL_IN_SECONDS]),
    ("dapr/dapr/tests/config/dapr_kafka_bindings.yaml", &[AUTH_REQUIRED]),
    ("dapr/dapr/tests/config/dapr_kafka_bindings_custom_route.yaml", &[AUTH_REQUIRED]),
    ("dapr/dapr/tests/config/dapr_kafka_bindings_grpc.yaml", &[AUTH_REQUIRED]),
    ("dapr/dapr/tests/config/resiliency_kafka_bindings.yaml", &[AUTH_REQUIRED]),
    ("dapr/dapr/tests/config/resiliency_kafka_bindings_grpc.yaml", &[AUTH_REQUIRED]),
    ("dapr/quickstarts/bindings/components/binding-postgres.yaml", &[URL]),
    ("dapr/quickstarts/tutorials/bindings/components/kafka_bindings.yaml", &[AUTH_REQUIRED]),
    ("dapr/quickstarts/tutorials/bindings/deploy/kafka_bindings.yaml", &[AUTH_REQUIRED]),
];

/// Every file `SOURCES` lists: `(repository/path, commit)`.
fn sources() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(corpus().join("SOURCES")).expect("SOURCES");
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let parts: Vec<&str> = l.split_whitespace().collect();
            assert_eq!(
                parts.len(),
                3,
                "SOURCES line {l:?}: want repository, path, commit"
            );
            assert_eq!(
                parts[2].len(),
                40,
                "SOURCES line {l:?}: a commit is 40 hex digits"
            );
            (format!("{}/{}", parts[0], parts[1]), parts[2].to_string())
        })
        .collect()
}

/// Every file of the corpus folder, relative to it (but the folder's own SOURCES and collect).
fn files_on_disk(dir: &Path, base: &Path, out: &mut BTreeSet<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files_on_disk(&path, base, out);
        } else {
            let rel = path
                .strip_prefix(base)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if rel != "SOURCES" && rel != "collect" {
                out.insert(rel);
            }
        }
    }
}

/// Whether corpus file `file` is a secret store (one a binding file beside it takes secrets
/// from).
fn is_secret_store(file: &str) -> bool {
    std::fs::read_to_string(corpus().join(file))
        .unwrap()
        .lines()
        .any(|l| l.trim_start().starts_with("type: secretstores."))
}

/// The component files: what SOURCES lists but the conformance tests' `tests.yml` and the
/// secret stores.
fn component_files() -> Vec<String> {
    sources()
        .into_iter()
        .map(|(f, _)| f)
        .filter(|f| !f.ends_with("/tests.yml") && !is_secret_store(f))
        .collect()
}

/// `file` as Dapr's test gives it to Dapr (placeholders filled), in a folder of its own with
/// the secret stores of its folder; how many of those.
fn prepared(file: &str) -> (tempfile::TempDir, usize) {
    static ENV_SET: Once = Once::new();
    // Every test of this binary comes here before it loads anything.
    ENV_SET.call_once(|| {
        for (k, v) in ENV {
            std::env::set_var(k, v);
        }
    });
    let mut text = std::fs::read_to_string(corpus().join(file)).unwrap();
    for (name, value) in PLACEHOLDERS {
        text = text.replace(&format!("${{{{{name}}}}}"), value);
    }
    assert!(
        !text.contains("${{"),
        "{file}: a placeholder without a value in PLACEHOLDERS"
    );
    let dir = tempfile::tempdir().unwrap();
    let name = Path::new(file).file_name().unwrap();
    std::fs::write(dir.path().join(name), text).unwrap();
    // The secret stores of its folder, which Dapr loads with it.
    let folder = Path::new(file).parent().unwrap();
    let mut stores = 0;
    for (store, _) in sources() {
        let store_path = Path::new(&store);
        if store_path.parent() == Some(folder) && is_secret_store(&store) {
            std::fs::copy(
                corpus().join(&store),
                dir.path().join(store_path.file_name().unwrap()),
            )
            .unwrap();
            stores += 1;
        }
    }
    (dir, stores)
}

/// `file`'s diagnostics, loaded and validated as `bindery validate` does.
fn diagnostics(file: &str) -> (usize, Vec<Diagnostic>) {
    let (dir, stores) = prepared(file);
    let (components, diags) = component::load_paths(&[dir.path().to_path_buf()]);
    let count = components.len() - stores;
    let v = component::validate(components, &Registry::builtin(), None, diags);
    (count, v.diagnostics)
}

#[test]
fn sources_lists_every_file_of_the_corpus_and_nothing_else() {
    let listed: BTreeSet<String> = sources().into_iter().map(|(f, _)| f).collect();
    let mut on_disk = BTreeSet::new();
    files_on_disk(&corpus(), &corpus(), &mut on_disk);
    assert_eq!(
        listed, on_disk,
        "tests/dapr-components/SOURCES and the files there differ: run its collect script"
    );
    assert!(
        listed.len() >= 49,
        "the corpus shrank: {} files",
        listed.len()
    );
}

#[test]
fn every_dapr_component_file_loads_with_only_the_warnings_listed() {
    let files = component_files();
    let mut failures = Vec::new();
    let (mut loaded, mut excepted, mut warned) = (0, 0, 0);
    for file in &files {
        let (count, diags) = diagnostics(file);
        let errors: Vec<&Diagnostic> = diags.iter().filter(|d| d.is_error()).collect();
        let warnings: Vec<&Diagnostic> = diags
            .iter()
            .filter(|d| d.severity == Severity::Warning)
            .collect();
        let exception = EXCEPTIONS.iter().find(|(f, _, _)| f == file);
        match exception {
            Some((_, _, says)) => {
                if errors.len() != 1 || !errors[0].message.contains(says) {
                    failures.push(format!(
                        "{file}: excepted for saying {says:?}, but its errors are {errors:#?}"
                    ));
                }
                excepted += 1;
            }
            None if !errors.is_empty() => failures.push(format!("{file}: {errors:#?}")),
            None => {
                assert_eq!(count, 1, "{file}: one component");
                loaded += 1;
            }
        }
        let want: &[&str] = WARNINGS
            .iter()
            .find(|(f, _)| f == file)
            .map_or(&[], |(_, w)| *w);
        let matches = warnings.len() == want.len()
            && warnings
                .iter()
                .zip(want)
                .all(|(d, w)| d.message.contains(w));
        if !matches {
            failures.push(format!("{file}: want warnings {want:?}, got {warnings:#?}"));
        }
        warned += usize::from(!want.is_empty());
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    println!(
        "{} files: {loaded} loaded ({warned} with the warnings listed), {excepted} excepted",
        files.len()
    );
}

#[test]
fn the_exception_and_warning_lists_name_files_of_the_corpus() {
    let files = component_files();
    for (f, why, _) in EXCEPTIONS {
        assert!(
            files.iter().any(|x| x == f),
            "EXCEPTIONS names {f}, not in the corpus"
        );
        assert!(!why.is_empty());
    }
    for (f, _) in WARNINGS {
        assert!(
            files.iter().any(|x| x == f),
            "WARNINGS names {f}, not in the corpus"
        );
    }
}

/// No file gives an "unknown field" warning: every field Dapr's files use is one bindery
/// knows (read, or said to be ignored and why).
#[test]
fn no_field_of_dapr_s_files_is_unknown() {
    for file in component_files() {
        let (_, diags) = diagnostics(&file);
        for d in diags {
            assert!(
                !(d.message.contains("unknown metadata field")),
                "{file}: {d}"
            );
        }
    }
}
