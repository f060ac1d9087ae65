//! `bindings.cron`: every accepted schedule form parsed to the right next fire times (no
//! sleeping: fixed instants, and tokio's paused clock for delivery), and `delete`.
//! What every binding does is tested once for all in `behaviour.rs` (`cron::*`).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bindery::bindings::cron::Schedule;
use bindery::{Event, MetadataMap, Runtime};
use chrono::{DateTime, TimeZone, Utc};

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn next(schedule: &str, after: &str) -> String {
    let s = Schedule::parse(schedule).unwrap_or_else(|e| panic!("{schedule}: {e:?}"));
    s.next_after(utc(after)).unwrap().to_rfc3339()
}

#[test]
fn six_field_schedules() {
    assert_eq!(
        next("TZ=UTC 0 */5 * * * *", "2024-06-05T10:02:30Z"),
        "2024-06-05T10:05:00+00:00"
    );
    assert_eq!(
        next("TZ=UTC */10 * * * * *", "2024-06-05T10:02:30Z"),
        "2024-06-05T10:02:40+00:00"
    );
    assert_eq!(
        next("TZ=UTC 15 30 4 * * *", "2024-06-05T10:00:00Z"),
        "2024-06-06T04:30:15+00:00"
    );
    // Day of week as Dapr numbers it: 0 is Sunday, 1-5 Monday to Friday.
    assert_eq!(
        next("TZ=UTC 30 0 9 * * 1-5", "2024-06-01T00:00:00Z"),
        "2024-06-03T09:00:30+00:00"
    ); // Sat -> Mon
    assert_eq!(
        next("TZ=UTC 0 0 12 * * 0", "2024-06-05T00:00:00Z"),
        "2024-06-09T12:00:00+00:00"
    ); // Wed -> Sun
    assert_eq!(
        next("TZ=UTC 0 0 12 * * SAT", "2024-06-05T00:00:00Z"),
        "2024-06-08T12:00:00+00:00"
    );
    assert_eq!(
        next("TZ=UTC 0 0 0 1 JAN *", "2024-06-05T00:00:00Z"),
        "2025-01-01T00:00:00+00:00"
    );
    assert_eq!(
        next("TZ=UTC 0 0 */6 ? * *", "2024-06-05T07:00:00Z"),
        "2024-06-05T12:00:00+00:00"
    );
}

#[test]
fn descriptors() {
    let at = "2024-06-05T10:02:30Z"; // a Wednesday
    assert_eq!(next("TZ=UTC @yearly", at), "2025-01-01T00:00:00+00:00");
    assert_eq!(next("TZ=UTC @annually", at), "2025-01-01T00:00:00+00:00");
    assert_eq!(next("TZ=UTC @monthly", at), "2024-07-01T00:00:00+00:00");
    assert_eq!(next("TZ=UTC @weekly", at), "2024-06-09T00:00:00+00:00");
    assert_eq!(next("TZ=UTC @daily", at), "2024-06-06T00:00:00+00:00");
    assert_eq!(next("TZ=UTC @midnight", at), "2024-06-06T00:00:00+00:00");
    assert_eq!(next("TZ=UTC @hourly", at), "2024-06-05T11:00:00+00:00");
}

#[test]
fn every_duration() {
    assert_eq!(
        next("@every 30s", "2024-06-05T10:00:00Z"),
        "2024-06-05T10:00:30+00:00"
    );
    assert_eq!(
        next("@every 1h30m", "2024-06-05T10:00:00Z"),
        "2024-06-05T11:30:00+00:00"
    );
    assert_eq!(
        next("@every 1.5s", "2024-06-05T10:00:00Z"),
        "2024-06-05T10:00:01.500+00:00"
    );
}

#[test]
fn time_zones() {
    // 04:30 in New York is 09:30 UTC in winter (EST) and 08:30 UTC in summer (EDT).
    assert_eq!(
        next(
            "CRON_TZ=America/New_York 0 30 4 * * *",
            "2024-01-10T00:00:00Z"
        ),
        "2024-01-10T09:30:00+00:00"
    );
    assert_eq!(
        next(
            "CRON_TZ=America/New_York 0 30 4 * * *",
            "2024-07-10T00:00:00Z"
        ),
        "2024-07-10T08:30:00+00:00"
    );
    assert_eq!(
        next("TZ=Asia/Tokyo @daily", "2024-01-10T00:00:00Z"),
        "2024-01-10T15:00:00+00:00"
    );
    let s = Schedule::parse("TZ=Europe/Berlin @hourly").unwrap();
    assert_eq!(s.zone().name(), "Europe/Berlin");
    assert_eq!(Schedule::parse("@hourly").unwrap().zone().name(), "Local");
}

fn component(dir: &std::path::Path, schedule: &str, direction: Option<&str>) {
    let direction = direction
        .map(|d| format!("  - name: direction\n    value: \"{d}\"\n"))
        .unwrap_or_default();
    std::fs::write(
        dir.join("tick.yaml"),
        format!("apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: tick\nspec:\n  type: bindings.cron\n  version: v1\n  metadata:\n  - name: schedule\n    value: \"{schedule}\"\n{direction}"),
    )
    .unwrap();
}

fn recording_runtime(dir: &std::path::Path) -> (Runtime, Arc<Mutex<Vec<Event>>>) {
    let rt = Runtime::from_path(dir).unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    rt.on_event("tick", move |ev| {
        let s = s.clone();
        async move {
            s.lock().unwrap().push(ev);
            Ok(())
        }
    })
    .unwrap();
    (rt, seen)
}

#[tokio::test(start_paused = true)]
async fn cron_events_are_delivered_on_schedule() {
    let dir = tempfile::tempdir().unwrap();
    component(dir.path(), "@every 1s", Some("input"));
    let (rt, seen) = recording_runtime(dir.path());
    rt.start().await.unwrap();
    tokio::time::sleep(Duration::from_millis(3500)).await;
    {
        let events = seen.lock().unwrap();
        assert_eq!(events.len(), 3);
        let ev = &events[0];
        assert_eq!(ev.binding, "tick");
        assert!(ev.data.is_empty());
        assert_eq!(ev.metadata["timeZone"], "Local");
        assert!(
            ev.metadata["readTimeUTC"].ends_with(" +0000 UTC"),
            "{:?}",
            ev.metadata
        );
        // One second apart on the (paused) clock.
        let t = |e: &Event| {
            chrono::NaiveDateTime::parse_from_str(
                e.metadata["readTimeUTC"].trim_end_matches(" +0000 UTC"),
                "%Y-%m-%d %H:%M:%S%.f",
            )
            .unwrap()
        };
        assert_eq!((t(&events[1]) - t(&events[0])).num_milliseconds(), 1000);
        assert_eq!((t(&events[2]) - t(&events[1])).num_milliseconds(), 1000);
    }
    assert_eq!(rt.input_stats("tick").unwrap().acked, 3);
    let report = rt.shutdown(Duration::from_secs(1)).await.unwrap();
    assert!(report.drained);
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(seen.lock().unwrap().len(), 3, "nothing after shutdown");
}

#[tokio::test(start_paused = true)]
async fn delete_stops_the_schedule() {
    let dir = tempfile::tempdir().unwrap();
    component(dir.path(), "@every 1s", None);
    let (rt, seen) = recording_runtime(dir.path());
    rt.start().await.unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(seen.lock().unwrap().len(), 2);
    let resp = rt
        .invoke("tick", "delete", Vec::new(), MetadataMap::new())
        .await
        .unwrap();
    assert_eq!(resp.metadata["schedule"], "@every 1s");
    assert!(resp.metadata["stopTimeUTC"].ends_with(" UTC"));
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(seen.lock().unwrap().len(), 2, "no event after delete");
    rt.shutdown(Duration::from_secs(1)).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_slow_handler_slows_the_schedule_instead_of_piling_up() {
    let dir = tempfile::tempdir().unwrap();
    component(dir.path(), "@every 1s", Some("input"));
    let rt = Runtime::builder()
        .resources_path(dir.path())
        .options(bindery::Options {
            input: bindery::InputOptions {
                concurrency: 1,
                queue_capacity: 1,
            },
            ..Default::default()
        })
        .build()
        .unwrap();
    let handled = Arc::new(Mutex::new(0u32));
    let h = handled.clone();
    rt.on_event("tick", move |_| {
        let h = h.clone();
        async move {
            tokio::time::sleep(Duration::from_secs(10)).await;
            *h.lock().unwrap() += 1;
            Ok(())
        }
    })
    .unwrap();
    rt.start().await.unwrap();
    tokio::time::sleep(Duration::from_millis(31_500)).await;
    // 31s of a 10s handler from the first tick at 1s: three handled, not thirty queued.
    let stats = rt.input_stats("tick").unwrap();
    assert!(stats.delivered <= 4, "{stats:?}");
    assert_eq!(*handled.lock().unwrap(), 3);
    rt.shutdown(Duration::from_secs(20)).await.unwrap();
}

#[test]
fn a_fixed_instant_sanity_check() {
    // chrono's own arithmetic, so the expectations above are read the right way.
    assert_eq!(
        Utc.with_ymd_and_hms(2024, 6, 1, 0, 0, 0)
            .unwrap()
            .format("%a")
            .to_string(),
        "Sat"
    );
}

/// Dapr's cron parser takes the seconds field as optional: `0 3 * * *` is standard cron, minute
/// first, and fires at 03:00:00.
#[test]
fn a_five_field_schedule_fires_at_second_zero_of_the_minute_it_names() {
    let s = Schedule::parse("CRON_TZ=UTC 0 3 * * *").unwrap();
    assert!(s.warning().is_some());
    let from = chrono::DateTime::parse_from_rfc3339("2026-11-29T10:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let next: Vec<String> = s
        .next_times(from, 3)
        .iter()
        .map(|t| t.to_rfc3339())
        .collect();
    assert_eq!(
        next,
        [
            "2026-11-30T03:00:00+00:00",
            "2026-12-01T03:00:00+00:00",
            "2026-12-02T03:00:00+00:00"
        ]
    );
    assert!(Schedule::parse("0 0 3 * * *").unwrap().warning().is_none());
}
