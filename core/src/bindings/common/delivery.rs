//! Delivering a broker's messages to the handler in order, with in-process redelivery.
//!
//! # Redelivery
//!
//! A broker binding hands the events it has ready to the handler as one run and acknowledges
//! each one as the handler reports it handled (`settle_run`), so events of one queue/topic
//! reach the handler in order and a stop mid-run keeps the work done. When the handler
//! fails, the same event is delivered again after a backoff delay, up to `backOffMaxRetries`
//! times, before any later event (`deliver_run`). When those retries are used up, the
//! binding hands the event back to its broker (RabbitMQ: it is requeued and the channel is
//! closed, which requeues every later unacknowledged message in their order; MQTT: the
//! session is dropped and resumed, and the broker resends what was not acknowledged), waits
//! one more backoff delay, and consumes again. Nothing is acknowledged before the handler
//! succeeded on it. (RabbitMQ with a `prefetchCount` other than 1 keeps no order, as Dapr:
//! a failed message waits out its delay aside while the later ones go on; see `rabbitmq`.)
//!
//! # Rejects
//!
//! An event the handler rejects is never delivered again: the source settles it as rejected
//! (`RunSource::reject`: RabbitMQ rejects it without requeue, so a dead-letter exchange gets
//! it; MQTT acknowledges it and logs) and goes on with the next.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::backoff::Backoff;
use crate::binding::{EventSink, MetadataMap, Refusal, RunStep, RunVerdict, Verdict};

/// What happened to one event.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// The handler succeeded: acknowledge it at the broker.
    Acked,
    /// The handler rejected it: settle it as rejected, never deliver it again.
    Rejected { reason: String },
    /// The handler failed and no in-process retry is left (or the runtime is stopping):
    /// hand it back to the broker, `retries` retries in.
    GaveUp { reason: String, retries: u64 },
}

/// Deliver one event, retrying it in-process with `backoff` while the handler fails.
/// `failed_first`: the event was delivered already (in a run) and failed for this reason, so
/// the first attempt here is its first retry.
pub(crate) async fn deliver(
    sink: &EventSink,
    shutdown: &CancellationToken,
    backoff: &Backoff,
    data: Vec<u8>,
    metadata: MetadataMap,
    mut failed_first: Option<String>,
) -> Outcome {
    let started = tokio::time::Instant::now();
    let mut retries = 0u64;
    loop {
        // Not raced against shutdown: an event in the handler is settled before `read` ends,
        // and one still queued at shutdown resolves to a nack.
        let verdict = match failed_first.take() {
            Some(reason) => Verdict::Nack(reason),
            None => sink.deliver(data.clone(), metadata.clone()).await,
        };
        match verdict {
            Verdict::Ack => return Outcome::Acked,
            Verdict::Reject(reason) => return Outcome::Rejected { reason },
            Verdict::Nack(reason) => {
                if shutdown.is_cancelled() || !backoff.allows(retries, started.elapsed()) {
                    return Outcome::GaveUp { reason, retries };
                }
                retries += 1;
                let wait = backoff.delay(retries);
                tracing::info!(
                    binding = sink.binding(),
                    "the handler failed ({reason}); delivering the event again in {wait:?} (retry {retries})"
                );
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = shutdown.cancelled() => return Outcome::GaveUp { reason, retries },
                }
            }
        }
    }
}

/// A source's messages, as a run of them needs them: the event of one, how to settle
/// (acknowledge) one the handler acked, and how to settle one it rejected.
pub(crate) trait RunSource: Sync {
    type Msg: Sync;
    fn event(&self, m: &Self::Msg) -> (Vec<u8>, MetadataMap);
    fn settle(&self, m: &Self::Msg) -> impl std::future::Future<Output = ()> + Send;
    /// The handler rejected `m` (for `reason`): make sure it is not delivered again
    /// (dead-letter it where the source can) and log what became of it.
    fn reject(&self, m: &Self::Msg, reason: &str) -> impl std::future::Future<Output = ()> + Send;
}

/// Where a run stopped: the handler failed on the message at `index` and no in-process retry
/// is left (or the runtime is stopping).
pub(crate) struct GaveUpAt {
    pub index: usize,
    pub reason: String,
    pub retries: u64,
}

/// Hand `run` (messages in the order received) to the handler as one run, settling each
/// message it handled as the handler reports it, in order. A message it fails on is retried
/// alone with `backoff` (the run's attempt is its first delivery), then the ones after it go
/// on as a new run; one it rejects is settled as rejected (`RunSource::reject`) and the ones
/// after it go on. Returns where it gave up, if it did (or where the handler stopped because
/// the runtime is stopping): the caller hands that message back to the broker.
pub(crate) async fn deliver_run<S: RunSource>(
    ctx: &crate::binding::InputContext,
    backoff: &Backoff,
    source: &S,
    run: &[S::Msg],
) -> Option<GaveUpAt> {
    let mut next = 0;
    while next < run.len() {
        let rest = &run[next..];
        let verdict = settle_run(ctx, source, rest).await;
        next += verdict.acked.min(rest.len());
        let reason = match verdict.refused {
            None => {
                if next < run.len() && ctx.shutdown.is_cancelled() {
                    // The handler stopped short: the runtime is stopping.
                    return Some(GaveUpAt {
                        index: next,
                        reason: "the runtime is shutting down".into(),
                        retries: 0,
                    });
                }
                continue;
            }
            Some(Refusal::Reject(reason)) => {
                let Some(m) = run.get(next) else { break };
                source.reject(m, &reason).await;
                next += 1;
                continue;
            }
            Some(Refusal::Nack(reason)) => reason,
        };
        let Some(m) = run.get(next) else { break };
        let (data, metadata) = source.event(m);
        match deliver(
            &ctx.sink,
            &ctx.shutdown,
            backoff,
            data,
            metadata,
            Some(reason),
        )
        .await
        {
            Outcome::Acked => {
                source.settle(m).await;
                next += 1;
            }
            Outcome::Rejected { reason } => {
                source.reject(m, &reason).await;
                next += 1;
            }
            Outcome::GaveUp { reason, retries } => {
                return Some(GaveUpAt {
                    index: next,
                    reason,
                    retries,
                })
            }
        }
    }
    None
}

/// Hand `msgs` to the handler as one run and settle each message it acks as it completes,
/// in order, also after the runtime began stopping, until the run is over. Returns the run's
/// verdict (a refused message is the caller's to settle).
pub(crate) async fn settle_run<S: RunSource>(
    ctx: &crate::binding::InputContext,
    source: &S,
    msgs: &[S::Msg],
) -> RunVerdict {
    let mut run = ctx
        .sink
        .start_run(msgs.iter().map(|m| source.event(m)).collect())
        .await;
    loop {
        match run.next().await {
            RunStep::Acked(step) => {
                for m in &msgs[step] {
                    source.settle(m).await;
                }
            }
            RunStep::Done(v) => return v,
        }
    }
}

/// Sleep for `d`, or until `shutdown`; false when shut down.
pub(crate) async fn pause(d: Duration, shutdown: &CancellationToken) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => true,
        _ = shutdown.cancelled() => false,
    }
}
