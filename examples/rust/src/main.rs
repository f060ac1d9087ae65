//! The bindery quickstart: a cron input binding (`cleanup-cron`, every second) whose handler
//! writes a record through local storage (`records`), reads it back, and posts it to an HTTP
//! webhook (`monitoring-webhook`). The webhook is a tiny server this program starts itself,
//! so nothing external is needed. It stops by itself after three ticks.
//!
//! Run from the repository root: `cargo run -p bindery-example-quickstart`
//! (or pass another components folder as the first argument).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bindery::{MetadataMap, Runtime};

const TICKS: u64 = 3;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // BINDERY_LOG (default warn), as the CLI reads it: credentials never reach the log.
    bindery::logging::init();
    let components = std::env::args()
        .nth(1)
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/../components").to_string());

    // The webhook the HTTP output binding points at.
    let received = Arc::new(AtomicU64::new(0));
    let counter = received.clone();
    let app = axum::Router::new().route(
        "/webhook",
        axum::routing::post(move |body: String| {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                println!("  webhook received {body}");
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:18088").await?;
    tokio::spawn(async move { axum::serve(listener, app).await });

    let rt = Runtime::from_path(&components)?;
    let ticks = Arc::new(AtomicU64::new(0));
    let done = Arc::new(tokio::sync::Notify::new());
    {
        let out = rt.clone();
        let ticks = ticks.clone();
        let done = done.clone();
        rt.on_event("cleanup-cron", move |event| {
            let out = out.clone();
            let ticks = ticks.clone();
            let done = done.clone();
            async move {
                let n = ticks.fetch_add(1, Ordering::SeqCst) + 1;
                if n > TICKS {
                    return Ok(());
                }
                let record = serde_json::json!({
                    "tick": n,
                    "firedAt": event.metadata.get("readTimeUTC"),
                    "timeZone": event.metadata.get("timeZone"),
                })
                .to_string();
                let file = format!("tick-{n}.json");
                let meta = MetadataMap::from([("fileName".to_string(), file.clone())]);
                out.invoke("records", "create", record.clone(), meta.clone())
                    .await?;
                let stored = out.invoke("records", "get", Vec::new(), meta).await?;
                println!("tick {n}: wrote {file}: {}", stored.text());
                let resp = out
                    .invoke("monitoring-webhook", "post", record, MetadataMap::new())
                    .await?;
                println!(
                    "  webhook answered {} {}",
                    resp.metadata["statusCode"],
                    resp.text()
                );
                if n == TICKS {
                    done.notify_one();
                }
                Ok(())
            }
        })?;
    }
    rt.start().await?;
    tokio::time::timeout(Duration::from_secs(30), done.notified()).await?;
    rt.shutdown(Duration::from_secs(5)).await?;

    let listing = rt_list(&components).await?;
    println!(
        "done: {TICKS} ticks, {} webhook calls, records stored: {listing}",
        received.load(Ordering::SeqCst)
    );
    Ok(())
}

/// List the records with a fresh runtime, the way a second program would.
async fn rt_list(components: &str) -> Result<String, bindery::Error> {
    let rt = Runtime::builder()
        .resources_path(components)
        .only(["records"])
        .build()?;
    let list = rt
        .invoke("records", "list", Vec::new(), MetadataMap::new())
        .await?;
    rt.shutdown(Duration::from_secs(1)).await?;
    Ok(list.text())
}
