//! What the C tests need beyond the real bindings (cargo feature `testing`, which `tests/c/run`
//! builds with; never in an installed library): `bindings.bindery.test`, a binding whose output
//! feeds its input, so that a test decides each event, and reaches the paths no real binding
//! should: a binding's `invoke` that panics, and a panic where a handler runs.
//!
//! Operations: `emit` delivers the request's data and metadata as one event and answers once
//! the handler's verdict came, with `ack`, `nack` or `reject` as data; `panic` panics. An
//! event whose metadata has `bindery.test.panic` makes the C handler's wrapper panic before the
//! C callback is called.

use std::sync::Arc;

use async_trait::async_trait;
use bindery_core::binding::{
    BindingParts, BindingSpec, InputBinding, InputContext, InvokeRequest, InvokeResponse,
    OutputBinding, Settings,
};
use bindery_core::{Error, ErrorKind, Event, Registry, Result, Verdict};
use tokio::sync::{mpsc, oneshot, Mutex};

/// The metadata key of an event that makes the handler's wrapper panic.
const PANIC_KEY: &str = "bindery.test.panic";

/// The built-in bindings and `bindings.bindery.test`.
pub(crate) fn registry() -> Registry {
    let mut registry = Registry::builtin();
    registry.register(BindingSpec {
        type_name: "bindings.bindery.test",
        aliases: &[],
        versions: &["v1"],
        input: true,
        output: true,
        operations: &["emit", "panic"],
        fields: &[],
        build,
    });
    registry
}

/// Panic when the event asks for it (see the module's documentation).
pub(crate) fn maybe_panic(ev: &Event) {
    if let Some(why) = ev.metadata.get(PANIC_KEY) {
        panic!("bindery.test.panic: {why}");
    }
}

type Emitted = (Vec<u8>, bindery_core::MetadataMap, oneshot::Sender<Verdict>);

struct Test {
    tx: mpsc::UnboundedSender<Emitted>,
    rx: Mutex<Option<mpsc::UnboundedReceiver<Emitted>>>,
}

fn build(_: &mut Settings) -> Result<BindingParts> {
    let (tx, rx) = mpsc::unbounded_channel();
    let test = Arc::new(Test {
        tx,
        rx: Mutex::new(Some(rx)),
    });
    Ok(BindingParts {
        input: Some(test.clone()),
        output: Some(test),
    })
}

#[async_trait]
impl InputBinding for Test {
    async fn read(&self, ctx: InputContext) -> Result<()> {
        let Some(mut rx) = self.rx.lock().await.take() else {
            return Ok(());
        };
        loop {
            let (data, metadata, reply) = tokio::select! {
                _ = ctx.shutdown.cancelled() => return Ok(()),
                e = rx.recv() => match e { Some(e) => e, None => return Ok(()) },
            };
            let _ = reply.send(ctx.sink.deliver(data, metadata).await);
        }
    }
}

#[async_trait]
impl OutputBinding for Test {
    async fn invoke(&self, req: InvokeRequest) -> Result<InvokeResponse> {
        match req.operation.as_str() {
            "panic" => panic!("bindings.bindery.test was asked to panic"),
            _ => {
                let (reply, verdict) = oneshot::channel();
                self.tx
                    .send((req.data, req.metadata, reply))
                    .map_err(|_| Error::new(ErrorKind::Closed, "the input side is gone"))?;
                let verdict = verdict.await.map_err(|_| {
                    Error::new(ErrorKind::Closed, "the input side did not start or stopped")
                })?;
                let word = match verdict {
                    Verdict::Ack => "ack",
                    Verdict::Nack(_) => "nack",
                    Verdict::Reject(_) => "reject",
                };
                Ok(InvokeResponse {
                    data: word.as_bytes().to_vec(),
                    ..Default::default()
                })
            }
        }
    }
}
