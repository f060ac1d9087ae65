//! The traits every binding implements, and the types that cross them.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot};
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
}

impl Verdict {
    /// True for `Ack`.
    pub fn is_ack(&self) -> bool {
        matches!(self, Verdict::Ack)
    }
}

/// How a run of events delivered in order fared: the first `acked` were acked; when `failed`
/// is set, the event right after them was nacked for that reason and the ones after it were
/// not handled at all (so the source may deliver them again, after the failed one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchVerdict {
    /// How many events, from the first, were acked.
    pub acked: usize,
    /// Why the event at index `acked` was nacked, if one was.
    pub failed: Option<String>,
}

impl BatchVerdict {
    /// Every one of `n` events acked.
    pub fn all(n: usize) -> Self {
        BatchVerdict {
            acked: n,
            failed: None,
        }
    }

    /// The events before `index` acked, the one at `index` nacked.
    pub fn failed_at(index: usize, reason: impl Into<String>) -> Self {
        BatchVerdict {
            acked: index,
            failed: Some(reason.into()),
        }
    }
}

/// Events on their way to the handler, with the channel for the verdict: one event, or a run
/// to handle one after the other, stopping at the first that fails.
pub(crate) enum Delivery {
    One {
        event: Event,
        reply: oneshot::Sender<Verdict>,
    },
    InOrder {
        events: Vec<Event>,
        reply: oneshot::Sender<BatchVerdict>,
    },
}

/// Where an input binding hands its events. Delivery is bounded: when the handler is busy
/// and the queue is full, `submit` waits, so a slow handler slows the source.
#[derive(Clone)]
pub struct EventSink {
    binding: Arc<str>,
    tx: mpsc::Sender<Delivery>,
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

impl EventSink {
    pub(crate) fn new(binding: Arc<str>, tx: mpsc::Sender<Delivery>) -> Self {
        EventSink { binding, tx }
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
    /// order, stopping at the first that fails; wait for how far it got. For a source that
    /// has several events ready and must keep their order: one trip to a handler in another
    /// language for the run rather than one per event. Takes one place in the queue.
    pub async fn deliver_in_order(&self, events: Vec<(Vec<u8>, MetadataMap)>) -> BatchVerdict {
        if events.is_empty() {
            return BatchVerdict::all(0);
        }
        let events = events
            .into_iter()
            .map(|(data, metadata)| self.event(data, metadata))
            .collect();
        let (reply, rx) = oneshot::channel();
        if self
            .tx
            .send(Delivery::InOrder { events, reply })
            .await
            .is_err()
        {
            return BatchVerdict::failed_at(0, self.closed().to_string());
        }
        rx.await.unwrap_or_else(|_| {
            BatchVerdict::failed_at(0, "the runtime shut down before the events were handled")
        })
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

    /// Read events and deliver each through `ctx.sink`, acking or nacking at the source from
    /// the verdict, until `ctx.shutdown` is cancelled (or the source ends).
    async fn read(&self, ctx: InputContext) -> Result<()>;

    /// Release the source's resources; called after `read` returned.
    async fn close(&self) -> Result<()> {
        Ok(())
    }
}

/// An output binding: answers operations.
#[async_trait]
pub trait OutputBinding: Send + Sync + 'static {
    /// The operations this binding supports.
    fn operations(&self) -> &[&'static str];

    /// Connect to the target. Runs at start, bounded by `spec.initTimeout`.
    async fn init(&self) -> Result<()> {
        Ok(())
    }

    /// Run one operation. The runtime has already checked that the operation is listed.
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
