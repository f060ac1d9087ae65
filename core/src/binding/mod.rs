//! The contract: the traits every binding implements, the types that cross them, and the
//! schema a binding type declares (`schema`).

mod config;
mod declare;
mod schema;
pub(crate) use config::typed_value;
#[cfg(test)]
#[cfg_attr(not(feature = "all-bindings"), allow(unused_imports))]
pub(crate) use config::with_settings;
pub use config::Settings;
#[cfg_attr(not(feature = "all-bindings"), allow(unused_imports))]
pub(crate) use declare::{declare, declared, declared_fields};
pub use schema::{BindingSpec, Factory, Field, FieldKind, FieldProblem};

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot, Notify};
use tokio_util::sync::CancellationToken;

use crate::component::Metadata;
use crate::error::{Error, ErrorKind, Result};

/// String metadata carried by events, requests and responses.
pub type MetadataMap = HashMap<String, String>;

/// An input event, as the app's handler sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Event {
    /// The component name of the binding that delivered it.
    pub binding: String,
    /// The payload.
    pub data: Vec<u8>,
    /// Metadata from the source (e.g. `timeZone` and `readTimeUTC` for cron).
    pub metadata: MetadataMap,
}

impl Event {
    /// The data as UTF-8 text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.data).into_owned()
    }
}

/// A call to an output binding.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InvokeRequest {
    /// The operation, e.g. `create`, `get`, `post`.
    pub operation: String,
    /// The payload.
    pub data: Vec<u8>,
    /// Per-request metadata (e.g. `fileName`, `path`, headers).
    pub metadata: MetadataMap,
}

impl InvokeRequest {
    /// A request for `operation` with no data and no metadata.
    pub fn new(operation: impl Into<String>) -> Self {
        InvokeRequest {
            operation: operation.into(),
            ..Default::default()
        }
    }

    /// Set the data.
    pub fn data(mut self, data: impl Into<Vec<u8>>) -> Self {
        self.data = data.into();
        self
    }

    /// Add one metadata entry.
    pub fn meta(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }
}

/// The answer of an output binding.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InvokeResponse {
    /// The payload.
    pub data: Vec<u8>,
    /// Response metadata (e.g. `statusCode` and headers for HTTP).
    pub metadata: MetadataMap,
}

impl InvokeResponse {
    /// The data as UTF-8 text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.data).into_owned()
    }
}

/// The handler's verdict on an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The handler succeeded: the source may forget the event.
    Ack,
    /// The handler failed (or never ran): the source should redeliver where it can.
    Nack(String),
    /// The handler rejected the event (`Reject`): the source must not redeliver it. It
    /// dead-letters it where it can (RabbitMQ: basic.reject without requeue, so a queue with a
    /// dead-letter exchange routes it there); elsewhere it settles it as handled and logs it
    /// (Kafka commits past it, MQTT acknowledges it).
    Reject(String),
}

impl Verdict {
    /// True for `Ack`.
    pub fn is_ack(&self) -> bool {
        matches!(self, Verdict::Ack)
    }

    /// True for `Reject`.
    pub fn is_reject(&self) -> bool {
        matches!(self, Verdict::Reject(_))
    }
}

/// What a handler returns as its error to reject an event rather than fail on it: the source
/// does not redeliver it, and dead-letters it where it can (see `Verdict::Reject`). For an
/// event that can never succeed (it does not parse, it is not for this app), which would
/// otherwise come back again and again.
///
/// ```
/// # fn parse(_: &[u8]) -> Result<u32, String> { Ok(1) }
/// # async fn handle(event: bindery::Event) -> bindery::HandlerResult {
/// let order = parse(&event.data).map_err(|e| bindery::Reject::new(format!("not an order: {e}")))?;
/// # let _ = order; Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    reason: String,
}

impl Reject {
    /// A rejection, for `reason` (logged, and carried by the verdict).
    pub fn new(reason: impl std::fmt::Display) -> Self {
        Reject {
            reason: reason.to_string(),
        }
    }

    /// Why the event was rejected.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl std::fmt::Display for Reject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "rejected: {}", self.reason)
    }
}

impl std::error::Error for Reject {}

/// Why a handler did not ack an event of a run: it failed on it (redeliver it) or rejected it
/// (do not).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The handler failed on the event: the source should redeliver it where it can.
    Nack(String),
    /// The handler rejected the event: the source must not redeliver it.
    Reject(String),
}

impl Refusal {
    /// The reason given.
    pub fn reason(&self) -> &str {
        match self {
            Refusal::Nack(r) | Refusal::Reject(r) => r,
        }
    }

    /// True for `Reject`.
    pub fn is_reject(&self) -> bool {
        matches!(self, Refusal::Reject(_))
    }
}

impl From<Refusal> for Verdict {
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::Nack(why) => Verdict::Nack(why),
            Refusal::Reject(why) => Verdict::Reject(why),
        }
    }
}

/// How a run of events fared: the first `acked` were acked; when `refused` is set, the event
/// right after them was nacked or rejected and the ones after it were not handled at all (so
/// the source may deliver them again, after settling the refused one). Fewer than all acked
/// and none refused: the handler stopped short because the runtime is stopping, and the rest
/// were not handled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunVerdict {
    /// How many events, from the first, were acked.
    pub acked: usize,
    /// What became of the event at index `acked`, if the handler did not ack it.
    pub refused: Option<Refusal>,
}

/// The old name of `RunVerdict`.
#[deprecated(
    since = "0.1.0",
    note = "renamed `RunVerdict` (one word, run, for a run of events)"
)]
pub type BatchVerdict = RunVerdict;

impl RunVerdict {
    /// Every one of `n` events acked.
    pub fn all(n: usize) -> Self {
        RunVerdict {
            acked: n,
            refused: None,
        }
    }

    /// The events before `index` acked, the one at `index` nacked (to be redelivered).
    pub fn failed_at(index: usize, reason: impl Into<String>) -> Self {
        RunVerdict {
            acked: index,
            refused: Some(Refusal::Nack(reason.into())),
        }
    }

    /// The events before `index` acked, the one at `index` rejected (not to be redelivered).
    pub fn rejected_at(index: usize, reason: impl Into<String>) -> Self {
        RunVerdict {
            acked: index,
            refused: Some(Refusal::Reject(reason.into())),
        }
    }

    /// The events before `index` acked, the rest not handled because the runtime is stopping.
    pub fn stopped_at(index: usize) -> Self {
        RunVerdict {
            acked: index,
            refused: None,
        }
    }
}

/// How long a source lets the progress of a run gather before it settles it again (unless
/// the runtime is stopping): a handler of slow events gets each one settled as it completes,
/// one of fast events costs the source a wake-up per this much time, not one per event.
const SETTLE_EVERY: Duration = Duration::from_millis(1);

struct Progress {
    /// Events acked so far, from the first.
    acked: AtomicUsize,
    /// The run's length.
    len: usize,
    /// Wakes the source when `acked` moved.
    moved: Notify,
    /// The runtime's stop.
    stop: CancellationToken,
}

/// What a handler of runs (`Runtime::on_runs`) reports through as it goes: how
/// many events of the run it has handled, so that the source settles each one (stores the
/// Kafka offset, sends basic.ack or PUBACK) as it completes rather than when the whole run
/// did; and whether the runtime is stopping, so that it returns after the event in hand. Cheap
/// to call per event: an atomic update, and a wake-up of the source at most every
/// millisecond or so.
#[derive(Clone)]
pub struct RunProgress(Arc<Progress>);

impl std::fmt::Debug for RunProgress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunProgress")
            .field("acked", &self.acked_so_far())
            .field("len", &self.0.len)
            .field("stopping", &self.stopping())
            .finish()
    }
}

impl RunProgress {
    pub(crate) fn new(len: usize, stop: CancellationToken) -> Self {
        RunProgress(Arc::new(Progress {
            acked: AtomicUsize::new(0),
            len,
            moved: Notify::new(),
            stop,
        }))
    }

    /// The first `n` events of the run were handled and acked (`n` only grows; a smaller
    /// one than before is ignored). The final `RunVerdict` may not ack fewer.
    pub fn acked(&self, n: usize) {
        let n = n.min(self.0.len);
        if self.0.acked.fetch_max(n, Ordering::AcqRel) < n {
            self.0.moved.notify_one();
        }
    }

    /// How many events the handler reported acked so far.
    pub fn acked_so_far(&self) -> usize {
        self.0.acked.load(Ordering::Acquire)
    }

    /// Whether the runtime is stopping: the handler should return after the event in hand
    /// (with `RunVerdict::stopped_at`), leaving the rest to be delivered again later.
    pub fn stopping(&self) -> bool {
        self.0.stop.is_cancelled()
    }

    /// Resolves when the runtime starts stopping.
    pub async fn stopped(&self) {
        self.0.stop.cancelled().await
    }
}

/// Events on their way to the handler, with the channel for the verdict: one event, or a run
/// to handle one after the other, stopping at the first that fails.
pub(crate) enum Delivery {
    One {
        event: Event,
        reply: oneshot::Sender<Verdict>,
    },
    Run {
        events: Vec<Event>,
        progress: RunProgress,
        reply: oneshot::Sender<RunVerdict>,
    },
}

/// Where an input binding hands its events. Delivery is bounded: when the handler is busy
/// and the queue is full, `submit` waits, so a slow handler slows the source.
#[derive(Clone)]
pub struct EventSink {
    binding: Arc<str>,
    tx: mpsc::Sender<Delivery>,
    stop: CancellationToken,
}

/// A verdict that is not known yet.
pub struct PendingVerdict(oneshot::Receiver<Verdict>);

impl PendingVerdict {
    /// Wait for the handler's verdict. An event dropped unhandled (at shutdown) is a nack.
    pub async fn wait(self) -> Verdict {
        self.0.await.unwrap_or_else(|_| {
            Verdict::Nack("the runtime shut down before the event was handled".into())
        })
    }
}

/// What a run of events in the handler did next, as its source follows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunStep {
    /// These events (indexes into the run, in order, right after the ones of the step
    /// before) were handled and acked: settle them at the source now.
    Acked(std::ops::Range<usize>),
    /// The run is over; every event it acked was in an `Acked` step before this.
    Done(RunVerdict),
}

/// A run of events handed to the handler (`EventSink::start_run`), followed step by step:
/// `next` answers the events acked since the step before, as the handler reports them, and
/// finally how the run ended.
pub struct PendingRun {
    progress: Option<RunProgress>,
    reply: Option<oneshot::Receiver<RunVerdict>>,
    verdict: Option<RunVerdict>,
    settled: usize,
    last_step: tokio::time::Instant,
}

/// The old name of `PendingRun`.
#[deprecated(
    since = "0.1.0",
    note = "renamed `PendingRun` (one word, run, for a run of events)"
)]
pub type InOrderRun = PendingRun;

impl PendingRun {
    fn done(verdict: RunVerdict) -> Self {
        PendingRun {
            progress: None,
            reply: None,
            verdict: Some(verdict),
            settled: 0,
            last_step: tokio::time::Instant::now(),
        }
    }

    /// The next step: events newly acked, or, once the handler returned and every acked
    /// event was answered, `Done` with the run's verdict (again on every later call). The
    /// events a handler acks are answered as they complete, at most about a millisecond
    /// apart while the runtime runs, at once while it is stopping; a source should keep
    /// settling them after its shutdown token is cancelled, until `Done`.
    pub async fn next(&mut self) -> RunStep {
        loop {
            if let Some(v) = &self.verdict {
                if self.settled < v.acked {
                    let step = self.settled..v.acked;
                    self.settled = v.acked;
                    return RunStep::Acked(step);
                }
                return RunStep::Done(v.clone());
            }
            let (Some(progress), Some(reply)) = (&self.progress, &mut self.reply) else {
                unreachable!("a run without a verdict has its progress and reply");
            };
            let acked = progress.acked_so_far();
            let stopping = progress.stopping();
            let due = self.last_step + SETTLE_EVERY;
            let early = tokio::time::Instant::now() < due;
            if acked > self.settled && (stopping || !early) {
                let step = self.settled..acked;
                self.settled = acked;
                self.last_step = tokio::time::Instant::now();
                return RunStep::Acked(step);
            }
            if early && !stopping {
                // Within a millisecond of the step before (or of the start): let progress
                // gather without being woken for it (a run of fast events then costs its
                // handler no wake-up of the source), unless the run ends or the runtime stops.
                tokio::select! {
                    biased;
                    v = reply => self.verdict = Some(Self::closing(v, progress)),
                    _ = tokio::time::sleep_until(due) => {}
                    _ = progress.stopped() => {}
                }
            } else {
                tokio::select! {
                    biased;
                    v = reply => self.verdict = Some(Self::closing(v, progress)),
                    _ = progress.0.moved.notified() => {}
                }
            }
        }
    }

    /// The run's verdict; when the handler's task is gone without one, what it acked so
    /// far, and a failure of the next.
    fn closing(
        v: std::result::Result<RunVerdict, oneshot::error::RecvError>,
        progress: &RunProgress,
    ) -> RunVerdict {
        let mut v = v.unwrap_or_else(|_| {
            RunVerdict::failed_at(0, "the runtime shut down before the events were handled")
        });
        let floor = progress.acked_so_far();
        if v.acked < floor {
            v.acked = floor;
        }
        if v.acked >= progress.0.len {
            v = RunVerdict::all(progress.0.len);
        }
        v
    }

    /// Follow the run to its end, answering only the verdict.
    pub async fn finish(mut self) -> RunVerdict {
        loop {
            if let RunStep::Done(v) = self.next().await {
                return v;
            }
        }
    }
}

impl EventSink {
    pub(crate) fn new(
        binding: Arc<str>,
        tx: mpsc::Sender<Delivery>,
        stop: CancellationToken,
    ) -> Self {
        EventSink { binding, tx, stop }
    }

    /// The component name events are delivered for.
    pub fn binding(&self) -> &str {
        &self.binding
    }

    fn event(&self, data: Vec<u8>, metadata: MetadataMap) -> Event {
        Event {
            binding: self.binding.to_string(),
            data,
            metadata,
        }
    }

    fn closed(&self) -> Error {
        Error::new(ErrorKind::Closed, "the runtime is shutting down").with_component(&*self.binding)
    }

    /// Queue an event for the handler, waiting for room in the queue. Returns the verdict to
    /// wait for, or a `Closed` error when the runtime no longer takes events.
    pub async fn submit(&self, data: Vec<u8>, metadata: MetadataMap) -> Result<PendingVerdict> {
        let (reply, rx) = oneshot::channel();
        let event = self.event(data, metadata);
        self.tx
            .send(Delivery::One { event, reply })
            .await
            .map_err(|_| self.closed())?;
        Ok(PendingVerdict(rx))
    }

    /// Queue an event and wait for the handler's verdict.
    pub async fn deliver(&self, data: Vec<u8>, metadata: MetadataMap) -> Verdict {
        match self.submit(data, metadata).await {
            Ok(p) => p.wait().await,
            Err(e) => Verdict::Nack(e.to_string()),
        }
    }

    /// Hand a run of events to the handler at once, to be handled one after the other in this
    /// order, stopping at the first it does not ack, and follow it with `PendingRun::next`:
    /// each event acked is answered as it completes, so that the source settles it then (and a
    /// stop mid-run loses none of the work done). For a source that has several events ready
    /// and must keep their order: one trip to a handler in another language for the run rather
    /// than one per event. Takes one place in the queue (waiting for room).
    pub async fn start_run(&self, events: Vec<(Vec<u8>, MetadataMap)>) -> PendingRun {
        if events.is_empty() {
            return PendingRun::done(RunVerdict::all(0));
        }
        let events: Vec<Event> = events
            .into_iter()
            .map(|(data, metadata)| self.event(data, metadata))
            .collect();
        let progress = RunProgress::new(events.len(), self.stop.clone());
        let (reply, rx) = oneshot::channel();
        let delivery = Delivery::Run {
            events,
            progress: progress.clone(),
            reply,
        };
        if self.tx.send(delivery).await.is_err() {
            return PendingRun::done(RunVerdict::failed_at(0, self.closed().to_string()));
        }
        PendingRun {
            progress: Some(progress),
            reply: Some(rx),
            verdict: None,
            settled: 0,
            last_step: tokio::time::Instant::now(),
        }
    }

    /// `start_run` followed to its end: how far the handler got. For a source that settles
    /// nothing before the whole run is over.
    pub async fn deliver_run(&self, events: Vec<(Vec<u8>, MetadataMap)>) -> RunVerdict {
        self.start_run(events).await.finish().await
    }

    /// The old name of `start_run`.
    #[deprecated(since = "0.1.0", note = "renamed `start_run`")]
    pub async fn start_in_order(&self, events: Vec<(Vec<u8>, MetadataMap)>) -> PendingRun {
        self.start_run(events).await
    }

    /// The old name of `deliver_run`.
    #[deprecated(since = "0.1.0", note = "renamed `deliver_run`")]
    pub async fn deliver_in_order(&self, events: Vec<(Vec<u8>, MetadataMap)>) -> RunVerdict {
        self.deliver_run(events).await
    }
}

/// What an input binding's `read` gets: where to deliver, and when to stop.
pub struct InputContext {
    /// Deliver events here.
    pub sink: EventSink,
    /// Cancelled when the runtime shuts down; `read` must then return promptly.
    pub shutdown: CancellationToken,
}

/// An input binding: reads events from its source until shut down.
#[async_trait]
pub trait InputBinding: Send + Sync + 'static {
    /// Connect to the source. Runs at start, bounded by `spec.initTimeout`.
    async fn init(&self) -> Result<()> {
        Ok(())
    }

    /// Read events and deliver each through `ctx.sink`, acking, nacking or rejecting at the
    /// source from the verdict, until `ctx.shutdown` is cancelled (or the source ends).
    async fn read(&self, ctx: InputContext) -> Result<()>;

    /// Release the source's resources; called after `read` returned.
    async fn close(&self) -> Result<()> {
        Ok(())
    }
}

/// An output binding: answers operations.
#[async_trait]
pub trait OutputBinding: Send + Sync + 'static {
    /// Connect to the target. Runs at start, bounded by `spec.initTimeout`.
    async fn init(&self) -> Result<()> {
        Ok(())
    }

    /// Run one operation. The runtime has already checked that its type declares the
    /// operation (`BindingSpec::operations`).
    async fn invoke(&self, req: InvokeRequest) -> Result<InvokeResponse>;

    /// Release connections; called at shutdown after the inputs stopped.
    async fn close(&self) -> Result<()> {
        Ok(())
    }
}

/// Which directions a binding component is used in (Dapr's `direction` metadata).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Direction {
    /// Used as an input binding.
    pub input: bool,
    /// Used as an output binding.
    pub output: bool,
    /// Whether `direction` was given explicitly.
    pub explicit: bool,
}

/// What a factory gets: the component's name and resolved metadata.
#[derive(Debug, Clone)]
pub struct BindingConfig {
    /// `metadata.name`.
    pub name: String,
    /// `spec.type`.
    pub type_name: String,
    /// `spec.metadata`, secrets resolved.
    pub metadata: Metadata,
    /// The directions the component is used in.
    pub direction: Direction,
}

/// What a factory builds: the input side, the output side, or both.
#[derive(Clone, Default)]
pub struct BindingParts {
    /// The input side, when the binding reads events.
    pub input: Option<Arc<dyn InputBinding>>,
    /// The output side, when the binding answers operations.
    pub output: Option<Arc<dyn OutputBinding>>,
}
