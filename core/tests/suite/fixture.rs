//! What a binding tells the behaviour suite about itself: the [`Fixture`] trait, and the
//! capabilities ([`Caps`]) that decide which scenarios run against it.
//!
//! A fixture is offline until [`Fixture::prepare`]: `new` only picks the names one test uses
//! (a key prefix, a queue, a topic, a temporary folder, a local HTTP server), so the scenarios
//! about component files run without any server. `prepare` reaches the server (failing with
//! the command that starts it when it does not answer) and sets up what the test needs there.

use std::future::Future;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::Duration;

use bindery::{ErrorKind, Event, MetadataMap};
use futures::future::BoxFuture;
use serde_json::Value;

/// Component metadata: name and value pairs.
pub type Fields = Vec<(String, String)>;

/// Owned fields from pairs.
pub fn fields(pairs: &[(&str, &str)]) -> Fields {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// What a component is for, when a binding wants other metadata for it (a queue read in
/// order, a topic with several partitions, a session that survives the consumer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Case {
    /// Both directions, the binding's ordinary settings.
    Plain,
    /// An input that keeps order and retries a failed event `backOffMaxRetries` (the value
    /// given) times, after a short back-off, before the source gets it back.
    InOrder(&'static str),
    /// An input that sets a failed event aside for its back-off (retried the given number of
    /// times) while the rest go on.
    Aside(&'static str),
    /// The same, the source handing what it has over in runs.
    AsideRuns(&'static str),
    /// An input shut down with events queued for its handler.
    Shutdown,
    /// The input of the crash scenario, in a process of its own.
    Crash,
    /// An input that keeps its place at the source while the server restarts.
    Restart,
}

/// A server a binding talks to, and how to start it.
pub struct Server {
    /// Its name, as people know it ("RabbitMQ").
    pub what: &'static str,
    /// Where the tests reach it.
    pub addr: &'static str,
    /// The argument of `tests/servers/start` that starts it.
    pub start: &'static str,
}

impl Server {
    /// `what` on `addr`, started by `tests/servers/start <start>`.
    pub const fn at(what: &'static str, addr: &'static str, start: &'static str) -> Server {
        Server { what, addr, start }
    }

    /// Fail, naming the command that starts it, when the server does not answer.
    pub fn reach(&self) {
        let addr = self.addr.parse().expect("a socket address");
        if let Err(e) = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(5)) {
            panic!(
                "{} does not answer on {} ({e}): start it with `tests/servers/start {}`",
                self.what, self.addr, self.start
            );
        }
    }
}

/// Output operations that keep data under a key (Dapr's create, get, list and delete).
pub struct Store {
    /// The operations that create (or overwrite), get, list (if any) and delete.
    pub create: &'static str,
    pub get: &'static str,
    pub list: Option<&'static str>,
    pub delete: &'static str,
    /// The request metadata field that names the key.
    pub key: &'static str,
    /// What `create` answers for a key: `None` for no data, else this JSON.
    pub created: fn(&str) -> Option<Value>,
    /// What `get` of a deleted key answers: empty data, or `NotFound` with this text.
    pub gone: Option<&'static str>,
    /// Whether deleting what is not there is `NotFound` (else it is fine).
    pub delete_gone_fails: bool,
    /// Whether each test has a store of its own: then `list` shows exactly what it made.
    pub own: bool,
    /// Whether `create` answers the key in its metadata (under the `key` field's name), as
    /// S3's does; else its metadata is empty.
    pub echoes_key: bool,
}

/// A request metadata field that operations need.
pub struct RequestField {
    pub field: &'static str,
    /// The operations that refuse a request without it.
    pub ops: &'static [&'static str],
    /// What the error says.
    pub says: &'static str,
    /// Whether an empty value counts as missing too.
    pub empty_is_missing: bool,
}

/// A request metadata value the binding refuses as an invalid argument.
pub struct BadRequest {
    pub op: &'static str,
    /// The request metadata, the bad value last.
    pub fields: &'static [(&'static str, &'static str)],
    /// What the error says; "": the name of the field with the bad value.
    pub says: &'static str,
}

impl BadRequest {
    /// `op` refuses `fields`, saying `says` ("": the bad field's name).
    pub const fn new(
        op: &'static str,
        fields: &'static [(&'static str, &'static str)],
        says: &'static str,
    ) -> BadRequest {
        BadRequest { op, fields, says }
    }
}

/// A component file with mistakes, and what the diagnostics say about them.
pub struct Mistake {
    /// Its metadata: `name=value` pairs, `; ` between them.
    pub fields: &'static str,
    /// Per mistake, text of an error's message; the error has a fix, which shows the text
    /// after ` => ` when there is one.
    pub says: &'static [&'static str],
}

impl Mistake {
    /// The metadata, as fields.
    pub fn fields(&self) -> Fields {
        let pairs = self
            .fields
            .split("; ")
            .map(|p| p.split_once('=').expect("name=value"));
        pairs.map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }
}

/// A component whose server is not there (nothing listens on its port).
pub struct Down {
    pub fields: Fields,
    /// What every error says.
    pub says: Vec<String>,
    /// The error kind: `None` for `Upstream` or `Timeout`.
    pub kind: Option<ErrorKind>,
    /// Whether the output connects at `start` (else only at its first call).
    pub connects_at_start: bool,
    /// A password in `fields` that no message may show.
    pub secret: Option<&'static str>,
}

impl Down {
    /// A server's component at `fields` that is not there, failing `Upstream` or `Timeout`
    /// from `start` on, saying `says`.
    pub fn new(fields: Fields, says: &[&str]) -> Down {
        Down {
            fields,
            says: says.iter().map(|s| s.to_string()).collect(),
            kind: None,
            connects_at_start: true,
            secret: None,
        }
    }

    /// It fails `Upstream`, and `secret` (a password in its URL) shows nowhere.
    pub fn upstream(self, secret: Option<&'static str>) -> Down {
        Down {
            kind: Some(ErrorKind::Upstream),
            secret,
            ..self
        }
    }
}

/// A login the server refuses.
pub struct Login {
    /// The component, with the wrong password in it.
    pub fields: Fields,
    /// What the error says.
    pub says: &'static [&'static str],
    /// The same login with the right password, which the server takes.
    pub right: Option<Fields>,
}

/// A row: its columns, in order, with their values.
pub type Row<'a> = Vec<(&'a str, Value)>;

/// The SQL bindings' `exec` and `query`.
pub struct Sql {
    /// The placeholder of the `i`th parameter (from 1).
    pub param: fn(usize) -> String,
    /// Rows as `query` answers them, from their columns in order.
    pub rows: fn(&[Row]) -> Value,
    /// What a syntax error says (the server's code among it).
    pub syntax_error: &'static [&'static str],
}

/// How the suite makes an event.
pub enum MadeBy {
    /// With this operation of the binding's own output, from a runtime of its own.
    Operation(&'static str),
    /// The source fires by itself, with this data.
    Itself(&'static [u8]),
}

/// Events that come from outside.
pub struct Input {
    /// How an event is made.
    pub made_by: MadeBy,
    /// Order holds (with [`Case::InOrder`]) and a failed event comes again before the next.
    pub in_order: bool,
    /// In order, ready events come in runs of more than one.
    pub runs_in_order: bool,
    /// A failed event can wait aside while the rest go on ([`Case::Aside`]).
    pub aside: bool,
    /// Events nacked, or not handled when the runtime stopped, come again to the next runtime.
    pub redelivered: bool,
    /// What was handled before a stop mid-run is settled, so it does not come again.
    pub settles_mid_run: bool,
    /// The source keeps what a killed consumer did not ack (the crash scenario).
    pub crash_safe: bool,
    /// The source carries text only (SQS): events are made with UTF-8 data.
    pub text_only: bool,
}

impl Input {
    /// A source with none of the promises above: it delivers, and that is all.
    pub const fn plain(made_by: MadeBy) -> Input {
        Input {
            made_by,
            in_order: false,
            runs_in_order: false,
            aside: false,
            redelivered: false,
            settles_mid_run: false,
            crash_safe: false,
            text_only: false,
        }
    }

    /// A broker that keeps what is not acked, its events made with `op`: in order, in runs,
    /// redelivered, settled mid-run and crash safe; nothing aside.
    pub const fn broker(op: &'static str) -> Input {
        Input {
            in_order: true,
            runs_in_order: true,
            redelivered: true,
            settles_mid_run: true,
            crash_safe: true,
            ..Input::plain(MadeBy::Operation(op))
        }
    }
}

/// A server the suite may stop and start again.
pub struct Restart {
    /// Why it cannot be done here, if it cannot (the scenario is then skipped).
    pub unavailable: fn() -> Option<String>,
    /// Stop it; return once it is down.
    pub stop: fn(),
    /// Start it again; return once it answers.
    pub start: fn(),
}

impl Restart {
    /// Skipped when `unavailable` says why; `stop` and `start` the server.
    pub const fn new(unavailable: fn() -> Option<String>, stop: fn(), start: fn()) -> Restart {
        Restart {
            unavailable,
            stop,
            start,
        }
    }
}

/// TLS through the suite's TLS front ([`super::tls_proxy`]) to the plain server.
pub struct TlsProxy {
    /// The plain server's port.
    pub upstream: u16,
    /// What a failed connection to the front says, before `:<its port>`.
    pub says: &'static str,
}

/// Dapr's test files of a binding type (paths in `tests/dapr-components`), run against the
/// local server with Dapr's conformance operations.
pub struct Conformance {
    /// components-contrib's conformance files: the entry of `tests.yml` (its `component`, with
    /// `.profile` where it has one), and the file.
    pub files: &'static [(&'static str, &'static str)],
    /// Other files of Dapr's (certification tests), with the operations run on them.
    pub more: &'static [(&'static str, &'static [&'static str])],
}

/// Everything a binding can do that a scenario needs; `None`/`false`: it cannot.
#[derive(Default)]
pub struct Caps {
    pub store: Option<Store>,
    pub request_field: Option<RequestField>,
    pub bad_requests: Vec<BadRequest>,
    pub mistakes: &'static [Mistake],
    /// A secret in `mistakes` that no diagnostic may show.
    pub mistakes_hide: Option<&'static str>,
    /// An operation that closes the output for good.
    pub close: Option<&'static str>,
    pub sql: Option<Sql>,
    /// A component pointing at a port on 127.0.0.1 where nothing listens.
    pub down: Option<fn(u16) -> Down>,
    /// A component logging in with the password given.
    pub login: Option<fn(&str) -> Login>,
    pub input: Option<Input>,
    pub restart: Option<Restart>,
    pub tls_proxy: Option<TlsProxy>,
    pub conformance: Option<Conformance>,
}

/// One binding type, as the behaviour suite drives it.
pub trait Fixture: Sized + Send + Sync + 'static {
    /// `spec.type`.
    const TYPE: &'static str;
    /// Other types that load the same binding.
    const ALIASES: &'static [&'static str] = &[];
    /// The metadata fields a component cannot do without.
    const REQUIRED: &'static [&'static str];
    /// The output operations, in the binding's order (empty: no output side).
    const OPERATIONS: &'static [&'static str];
    /// Whether it has an input side.
    const INPUT: bool = false;
    /// The server it talks to, if any.
    const SERVER: Option<Server> = None;
    /// How long an event may take to arrive.
    const WAIT: Duration = Duration::from_secs(30);
    /// The crash scenario's waits: the most the first consumer may take to handle
    /// [`super::crash::KILL_AFTER`] messages, and the second the rest.
    const CRASH_WAITS: (Duration, Duration) = (Duration::from_secs(60), Duration::from_secs(90));

    /// What it can do.
    fn caps() -> Caps;

    /// The names one test uses; offline.
    fn new() -> impl Future<Output = Self> + Send;

    /// Reach the server and set up what the test needs on it.
    fn prepare(&self) -> impl Future<Output = ()> + Send {
        async {
            if let Some(server) = Self::SERVER {
                server.reach();
            }
        }
    }

    /// Remove what the test left on the server.
    fn cleanup(&self) -> impl Future<Output = ()> + Send {
        async {}
    }

    /// The metadata of a working component for `case`.
    fn fields(&self, case: Case) -> Fields;

    /// An operation and request metadata the binding answers without changing anything that
    /// matters (a read where there is one).
    fn harmless(&self) -> (&'static str, MetadataMap);

    /// The data of the harmless operation.
    fn harmless_data(&self) -> Vec<u8> {
        b"x".to_vec()
    }

    /// The addresses of Dapr's test servers in its conformance files, and the local
    /// servers' to put in their place (each must occur in some file).
    fn local_addresses(&self) -> Vec<(&'static str, String)> {
        Vec::new()
    }

    /// Set up on the local server what Dapr's conformance environment has and it lacks.
    fn conformance_prepare(&self) -> impl Future<Output = ()> + Send {
        async {}
    }

    /// How many requests reached the server, where the fixture can tell.
    fn requests_seen(&self) -> Option<usize> {
        None
    }

    /// Check what the binding adds to an event made with no request metadata.
    fn check_event(&self, _event: &Event) {}

    /// The keys in the answer of the store's `list`.
    fn listed(&self, _answer: &[u8]) -> Vec<String> {
        unimplemented!("{} has no list", Self::TYPE)
    }

    /// Set the source up so that what is produced from now on waits for the input (an MQTT
    /// persistent session subscribes once).
    fn before_producing(&self, _dir: &super::harness::Dir) -> impl Future<Output = ()> + Send {
        async {}
    }

    /// Before the crash scenario's first consumer starts: set the source up, and produce what
    /// it wants waiting (its messages are the ids 0..[`super::crash::MESSAGES`] as text).
    fn crash_prepare(&self) -> impl Future<Output = ()> + Send {
        async {}
    }

    /// What produces them alongside the consumers, if anything; `handled` counts the ids
    /// handled so far (for a producer that must not run too far ahead).
    fn crash_producer(&self, _handled: Arc<AtomicUsize>) -> Option<BoxFuture<'static, ()>> {
        None
    }

    /// Once every id was handled: what the source promises beyond none lost, checked against
    /// the ids in the order the consumers handled them.
    fn crash_check(&self, _order: &[usize]) {}

    /// The component of the TLS scenario, through the front on `port` (scheme and the
    /// fields it needs besides the certificates).
    fn tls_target(&self, _port: u16) -> Fields {
        unimplemented!("{} has no TLS through the front", Self::TYPE)
    }
}
