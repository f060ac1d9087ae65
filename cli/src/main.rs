//! The `bindery` command: validate a components folder, invoke an output binding, print an
//! input binding's events, list the binding types it knows, or run an app with Dapr's
//! bindings HTTP API (`bindery run`). Flags are named as the Dapr
//! CLI names them.

mod bindings;
mod run;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use bindery::component::{self, Severity};
use bindery::{MetadataMap, Registry, Runtime};
use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "bindery",
    version,
    about = "Dapr-compatible bindings in-process: validate, invoke, listen, list bindings"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args)]
struct Resources {
    /// A folder of Dapr component YAML files (repeatable).
    #[arg(
        long = "resources-path",
        short = 'd',
        visible_alias = "components-path",
        default_value = "./components"
    )]
    resources_path: Vec<PathBuf>,
    /// The app ID, for components with `scopes`.
    #[arg(long = "app-id", short = 'a')]
    app_id: Option<String>,
}

impl Resources {
    fn runtime(&self, name: &str) -> Result<Runtime, bindery::Error> {
        let mut b = Runtime::builder()
            .resources_paths(self.resources_path.clone())
            .only([name]);
        if let Some(id) = &self.app_id {
            b = b.app_id(id.clone());
        }
        b.build()
    }
}

#[derive(Subcommand)]
enum Command {
    /// Check every component file and print every problem; exit 1 when any is an error.
    Validate {
        #[command(flatten)]
        resources: Resources,
    },
    /// Call an output binding; the response data goes to stdout, its metadata to stderr.
    Invoke {
        #[command(flatten)]
        resources: Resources,
        /// The output binding's component name.
        name: String,
        /// The operation, e.g. create, get, post.
        operation: String,
        /// The request data, as text.
        #[arg(long, conflicts_with = "data_file")]
        data: Option<String>,
        /// A file whose bytes are the request data.
        #[arg(long = "data-file")]
        data_file: Option<PathBuf>,
        /// Request metadata as KEY=VALUE (repeatable).
        #[arg(long = "metadata", short = 'm', value_parser = parse_key_value)]
        metadata: Vec<(String, String)>,
    },
    /// Print each event of an input binding as a JSON line {"binding","data","metadata"}.
    Listen {
        #[command(flatten)]
        resources: Resources,
        /// The input binding's component name.
        name: String,
        /// Exit after this many events.
        #[arg(long)]
        count: Option<u64>,
    },
    /// Run an app as `dapr run` does, with bindery in place of the sidecar: Dapr's bindings
    /// HTTP API on 127.0.0.1 (--dapr-http-port), input bindings POSTed to the app's routes
    /// (--app-port); exits with the app's exit code.
    Run(run::RunArgs),
    /// List the binding types this command knows: aliases, versions, directions, operations
    /// and metadata fields (kind, required, sensitive, example, ignored).
    Bindings {
        /// Only these types (type names or aliases); every one when none is given.
        types: Vec<String>,
        /// Print JSON: an array of objects {type, aliases, versions, directions, operations,
        /// metadata: [{name, kind, description, values, required, sensitive, example, ignored}]}.
        #[arg(long)]
        json: bool,
    },
}

fn parse_key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("{s:?} is not KEY=VALUE")),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Run(args) = &cli.command {
        args.apply_log_level();
    }
    // BINDERY_LOG (default warn) on stderr; libraries that log credentials are capped and
    // every line is scrubbed of secrets, whatever the level.
    bindery::logging::init();
    match cli.command {
        Command::Validate { resources } => validate(&resources),
        Command::Invoke {
            resources,
            name,
            operation,
            data,
            data_file,
            metadata,
        } => {
            let data = match (data, data_file) {
                (Some(d), _) => d.into_bytes(),
                (None, Some(f)) => match std::fs::read(&f) {
                    Ok(b) => b,
                    Err(e) => {
                        eprintln!("error: cannot read --data-file {}: {e}", f.display());
                        return ExitCode::FAILURE;
                    }
                },
                (None, None) => Vec::new(),
            };
            let metadata: MetadataMap = metadata.into_iter().collect();
            run(invoke(resources, name, operation, data, metadata))
        }
        Command::Listen {
            resources,
            name,
            count,
        } => run(listen(resources, name, count)),
        Command::Bindings { types, json } => list_bindings(&types, json),
        Command::Run(args) => ExitCode::from(run::main(args)),
    }
}

fn list_bindings(types: &[String], json: bool) -> ExitCode {
    let registry = Registry::builtin();
    let specs = match bindings::select(&registry, types) {
        Ok(specs) => specs,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let text = if json {
        let mut text = serde_json::to_string_pretty(&bindings::to_json(&specs))
            .expect("a JSON value serializes");
        text.push('\n');
        text
    } else {
        bindings::to_text(&specs)
    };
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
    ExitCode::SUCCESS
}

fn run(fut: impl std::future::Future<Output = Result<(), bindery::Error>>) -> ExitCode {
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(fut) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn validate(resources: &Resources) -> ExitCode {
    let (components, diags) = component::load_paths(&resources.resources_path);
    let count = components.len();
    let v = component::validate(
        components,
        &Registry::builtin(),
        resources.app_id.as_deref(),
        diags,
    );
    for d in &v.diagnostics {
        println!("{d}");
    }
    let errors = v
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    let warnings = v.diagnostics.len() - errors;
    if errors > 0 {
        println!("{errors} error(s), {warnings} warning(s) in {count} component(s)");
        return ExitCode::FAILURE;
    }
    for b in &v.bindings {
        let dir = match (b.parts.input.is_some(), b.parts.output.is_some()) {
            (true, true) => "input, output",
            (true, false) => "input",
            _ => "output",
        };
        println!("ok: {} ({}, {dir})", b.config.name, b.config.type_name);
        if let Some(next) = next_fire_times(b) {
            println!("  {next}");
        }
    }
    println!("{count} component(s) valid, {warnings} warning(s)");
    ExitCode::SUCCESS
}

/// For a cron component: its next three fire times in its time zone, so that a schedule read
/// otherwise than meant is seen before it is deployed.
fn next_fire_times(b: &component::ValidBinding) -> Option<String> {
    if b.spec.type_name != "bindings.cron" {
        return None;
    }
    let schedule =
        bindery::bindings::cron::Schedule::parse(b.config.metadata.get("schedule")?).ok()?;
    let times: Vec<String> = schedule
        .next_times(chrono::Utc::now(), 3)
        .iter()
        .map(|t| t.format("%Y-%m-%d %H:%M:%S %:z").to_string())
        .collect();
    Some(format!(
        "next fire times ({}): {}",
        schedule.zone().name(),
        times.join(", ")
    ))
}

async fn invoke(
    resources: Resources,
    name: String,
    operation: String,
    data: Vec<u8>,
    metadata: MetadataMap,
) -> Result<(), bindery::Error> {
    let rt = resources.runtime(&name)?;
    let result = rt.invoke(&name, &operation, data, metadata).await;
    let _ = rt.shutdown(Duration::from_secs(5)).await;
    let resp = result?;
    let sorted: BTreeMap<_, _> = resp.metadata.iter().collect();
    for (k, v) in sorted {
        eprintln!("{k}: {v}");
    }
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(&resp.data);
    let _ = out.flush();
    Ok(())
}

fn event_json(ev: &bindery::Event) -> serde_json::Value {
    let mut obj = serde_json::json!({
        "binding": ev.binding,
        "metadata": ev.metadata,
    });
    match std::str::from_utf8(&ev.data) {
        Ok(text) => obj["data"] = serde_json::Value::String(text.to_string()),
        Err(_) => {
            obj["data"] = serde_json::Value::String(
                base64::engine::general_purpose::STANDARD.encode(&ev.data),
            );
            obj["dataEncoding"] = serde_json::Value::String("base64".into());
        }
    }
    obj
}

async fn listen(
    resources: Resources,
    name: String,
    count: Option<u64>,
) -> Result<(), bindery::Error> {
    let rt = resources.runtime(&name)?;
    let seen = Arc::new(AtomicU64::new(0));
    let done = Arc::new(tokio::sync::Notify::new());
    {
        let seen = seen.clone();
        let done = done.clone();
        rt.on_event(&name, move |ev| {
            let seen = seen.clone();
            let done = done.clone();
            async move {
                if count.is_some_and(|c| seen.load(Ordering::SeqCst) >= c) {
                    return Err("enough events were printed".into());
                }
                let line = event_json(&ev).to_string();
                let mut out = std::io::stdout().lock();
                writeln!(out, "{line}")?;
                out.flush()?;
                let n = seen.fetch_add(1, Ordering::SeqCst) + 1;
                if count.is_some_and(|c| n >= c) {
                    done.notify_one();
                }
                Ok(())
            }
        })?;
    }
    rt.start().await?;
    tokio::select! {
        _ = done.notified() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    rt.shutdown(Duration::from_secs(5)).await?;
    Ok(())
}
