//! bindery's log output, set up once for the CLI, the Python package and the Node addon.
//!
//! `BINDERY_LOG` is an `EnvFilter` directive string (`warn`, `debug`, `bindery=trace,lapin=info`;
//! default `warn`). Whatever it says, two things hold:
//!
//! - the libraries that log credentials at fine levels are capped below those levels ([`CAPS`]):
//!   the cap is a second filter that every event must also pass, so no directive, however
//!   specific, opens it;
//! - every line is written through [`Scrub`], which replaces each secret value a component
//!   resolved (and its encodings) with `<secret>`, and every URL password with `***`
//!   ([`crate::redact`]).

use std::io::{self, Write};

use tracing::level_filters::LevelFilter;
use tracing::Subscriber;
use tracing_subscriber::filter::{EnvFilter, FilterExt, Targets};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Filter, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;

use crate::redact;

/// The environment variable read for the log filter.
pub const ENV: &str = "BINDERY_LOG";

/// The filter when `BINDERY_LOG` is unset or cannot be read.
pub const DEFAULT: &str = "warn";

/// Log targets (and every target under them) whose finer levels print credentials, with the
/// finest level each may log at.
pub const CAPS: &[(&str, LevelFilter)] = &[
    // lapin logs every AMQP frame at trace, Connection.StartOk too: its SASL PLAIN response is
    // `\0user\0password`. Its debug lines are about heartbeats and channels.
    ("lapin", LevelFilter::DEBUG),
    // amq-protocol (and -tcp, -uri, -types) parse and write those frames and the URI.
    ("amq_protocol", LevelFilter::DEBUG),
    // reqwest's verbose connections dump every byte written at trace, Authorization included.
    ("reqwest", LevelFilter::DEBUG),
];

/// The caps of [`CAPS`], passing everything else.
fn caps() -> Targets {
    Targets::new()
        .with_default(LevelFilter::TRACE)
        .with_targets(CAPS.iter().copied())
}

/// The filter for directives `spec` (an `EnvFilter` string), capped by [`CAPS`]. A `spec` that
/// does not parse gives [`DEFAULT`].
pub fn filter_from<S>(spec: &str) -> impl Filter<S> + Send + Sync + 'static
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let env = EnvFilter::try_new(spec).unwrap_or_else(|_| EnvFilter::new(DEFAULT));
    env.and(caps())
}

/// The filter `BINDERY_LOG` asks for (default [`DEFAULT`]), capped by [`CAPS`].
pub fn filter<S>() -> impl Filter<S> + Send + Sync + 'static
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let spec = std::env::var(ENV).unwrap_or_default();
    filter_from(if spec.trim().is_empty() {
        DEFAULT
    } else {
        &spec
    })
}

/// A `MakeWriter` whose writers scrub each write (one formatted event) of every registered
/// secret before handing it on.
#[derive(Debug, Clone, Copy, Default)]
pub struct Scrub<M>(pub M);

/// The writer of [`Scrub`].
#[derive(Debug)]
pub struct ScrubWriter<W>(W);

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for Scrub<M> {
    type Writer = ScrubWriter<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        ScrubWriter(self.0.make_writer())
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> Self::Writer {
        ScrubWriter(self.0.make_writer_for(meta))
    }
}

impl<W: Write> Write for ScrubWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        self.0
            .write_all(redact::scrub_registered(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

/// bindery's log layer: text lines on stderr (coloured only when stderr is a terminal),
/// filtered by [`filter`], scrubbed by [`Scrub`].
pub fn layer<S>() -> impl Layer<S> + Send + Sync + 'static
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    use std::io::IsTerminal;
    tracing_subscriber::fmt::layer()
        .with_ansi(io::stderr().is_terminal())
        .with_writer(Scrub(io::stderr))
        .with_filter(filter())
}

/// Install [`layer`] as the process's subscriber (and route the `log` records of libraries
/// to it). False when the process already has one, which is then left as it is.
pub fn init() -> bool {
    tracing_subscriber::registry()
        .with(layer())
        .try_init()
        .is_ok()
}

/// [`init`], once per process and only when `BINDERY_LOG` is set: the Python package and the
/// Node addon log nothing unless asked to. True when this call installed bindery's logging.
pub fn init_if_asked() -> bool {
    static ONCE: std::sync::Once = std::sync::Once::new();
    let mut installed = false;
    ONCE.call_once(|| installed = std::env::var_os(ENV).is_some() && init());
    installed
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);

    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn capture(spec: &str, emit: impl FnOnce()) -> String {
        let buf = Buf::default();
        let out = buf.clone();
        let layer = tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_writer(Scrub(move || out.clone()))
            .with_filter(filter_from(spec));
        let sub = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(sub, emit);
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        text
    }

    #[test]
    fn caps_hold_against_any_directive() {
        for spec in [
            "trace",
            "lapin=trace",
            "lapin::channels=trace",
            "amq_protocol_tcp=trace",
        ] {
            let text = capture(spec, || {
                tracing::trace!(target: "lapin::channels", "frame StartOk");
                tracing::trace!(target: "amq_protocol_tcp", "uri");
                tracing::trace!(target: "reqwest::connect", "write bytes");
                tracing::debug!(target: "lapin::channels", "send heartbeat");
                tracing::trace!(target: "bindery::kafka", "ours");
            });
            assert!(!text.contains("StartOk"), "{spec}: {text}");
            assert!(!text.contains("uri"), "{spec}: {text}");
            assert!(!text.contains("write bytes"), "{spec}: {text}");
            if spec == "trace" || spec.starts_with("lapin") {
                assert!(text.contains("send heartbeat"), "{spec}: {text}");
            }
            assert_eq!(text.contains("ours"), spec == "trace", "{spec}: {text}");
        }
        let text = capture("warn", || {
            tracing::info!(target: "bindery", "info line");
            tracing::warn!(target: "bindery", "warn line");
        });
        assert!(
            !text.contains("info line") && text.contains("warn line"),
            "{text}"
        );
    }

    #[test]
    fn lines_are_scrubbed_of_registered_secrets_and_url_passwords() {
        redact::register(&redact::Secrets::of(["Wq4LogScrubTestVal9"]));
        let text = capture("info", || {
            tracing::warn!("login with Wq4LogScrubTestVal9 to amqp://u:plain1@h failed");
        });
        assert!(!text.contains("Wq4LogScrubTestVal9"), "{text}");
        assert!(!text.contains("plain1"), "{text}");
        assert!(
            text.contains("login with <secret> to amqp://u:***@h failed"),
            "{text}"
        );
    }
}
