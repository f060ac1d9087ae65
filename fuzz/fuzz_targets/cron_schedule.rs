//! The cron schedule parser (`bindings.cron`'s `schedule`: six fields, descriptors, `@every`,
//! `TZ=`/`CRON_TZ=`) and the next-fire computation, from a few instants onwards.

#![no_main]

use bindery_core::bindings::cron::Schedule;
use chrono::{DateTime, Utc};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (u32, &str)| {
    let (seconds, text) = input;
    let Ok(schedule) = Schedule::parse(text) else {
        return;
    };
    assert_eq!(schedule.text(), text.trim());
    let _ = schedule.zone().name();
    // From an instant between 1970 and 2106, the next few fire times.
    let Some(mut t) = DateTime::<Utc>::from_timestamp(i64::from(seconds), 0) else {
        return;
    };
    for _ in 0..4 {
        match schedule.next_after(t) {
            Some(next) => {
                assert!(next > t, "{text:?}: {next} is not after {t}");
                t = next;
            }
            None => break,
        }
    }
});
