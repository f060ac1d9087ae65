//! `bindings.aws.kinesis`: an input and output binding on one Kinesis data stream
//! (components-contrib `bindings/aws/kinesis`).
//!
//! Output `create` puts the data as one record, with request metadata `partitionKey` as its
//! partition key (a random UUID when there is none, as Dapr); the answer is empty, as Dapr's.
//!
//! # Input: shared throughput with a KCL lease table
//! Dapr's input (`mode: shared`, the default) runs the Kinesis Client Library (vmware-go-kcl),
//! which keeps a DynamoDB table named after `consumerName` with one lease item per shard:
//! `ShardID` (the key), `AssignedTo` (the worker holding it), `LeaseTimeout` (RFC 3339, when
//! the lease is free unless renewed), `Checkpoint` (the sequence number of the last record
//! handled, `SHARD_END` once a closed shard is done), `ParentShardId` and `ClaimRequest` (a
//! worker asking for the lease). bindery keeps the same table the same way:
//! - Every runtime is a worker of its own (Dapr names every worker after the consumer, so two
//!   Dapr runtimes with one `consumerName` both take every shard). Workers with one
//!   `consumerName` split the shards between them: each takes free or expired leases up to
//!   its share (the shards over the live workers, rounded up), and one below its share claims
//!   a lease of a worker above it (`ClaimRequest`), which that worker gives up at its next
//!   renewal after checkpointing. Leases last 10 s (KCL's `failoverTimeMillis`) and are
//!   renewed every few seconds, so the shards of a runtime that died go to the others within
//!   about 12 s. A runtime that stops gives its leases up at once.
//! - Records are read per shard (up to 1,000 a `GetRecords`, every 0.5 s while a shard is
//!   idle) and handed to the handler as a run, in shard order. The checkpoint moves only past
//!   records the handler acked (or rejected): it is written at most every 250 ms while a run
//!   goes on, when the run ends, and when the shard is given up. A record the handler fails on
//!   is delivered again in-process with the `backOff*` settings (as the broker bindings), and
//!   the records after it wait; when the retries are spent, it is delivered again after one
//!   more back-off delay, never skipped. Dapr's KCL processor ignores the handler's error and
//!   checkpoints the batch anyway. A record the handler rejects is logged and checkpointed past
//!   (Kinesis has no dead-letter of its own).
//! - A shard new to the consumer starts where KCL's default starts, at the stream's end
//!   (`LATEST`), and the lease item keeps that moment (`StartTimestamp`, bindery's own
//!   attribute): until a first checkpoint, whoever takes the lease reads from it
//!   (`AT_TIMESTAMP`), so a record put after the first runtime started is never skipped, even
//!   when that runtime died before it acked anything. The first leases are taken when the
//!   runtime starts, so a record put after `start` returns reaches the handler.
//! - A shard that was split or merged is read to its end before its children are.
//!
//! Event metadata (Dapr's carries none): `partitionKey`, `sequenceNumber`, `shardId` and
//! `approximateArrivalTimestamp` (RFC 3339).
//!
//! `mode: extended` (enhanced fan-out, a consumer registered on the stream with records
//! pushed over HTTP/2) is not built yet: an input with it fails at start, saying so. The
//! input needs `consumerName` (the lease table's name): one without it fails at start too.
//! The stream is looked up at start, so one that does not exist is an error then, naming it.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, KeySchemaElement, KeyType, ProvisionedThroughput,
    ReturnValue, ScalarAttributeType, TableStatus,
};
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::{Record, ShardIteratorType};
use aws_smithy_types::date_time::DateTime;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{Connection, Started};
use crate::binding::{
    declare, BindingParts, Field, InputBinding, InputContext, InvokeRequest, InvokeResponse,
    MetadataMap, OutputBinding, Settings,
};
use crate::bindings::common::backoff::{self, Backoff};
use crate::bindings::common::delivery::{self, pause, RunSource};
use crate::bindings::common::gotext::rfc3339_nano;
use crate::error::{Error, ErrorKind, Result};

declare!("kinesis.metadata.yaml", build, extra_fields());

/// The AWS connection fields and the in-process redelivery fields.
fn extra_fields() -> &'static [Field] {
    static FIELDS: OnceLock<&'static [Field]> = OnceLock::new();
    FIELDS.get_or_init(|| Box::leak([super::fields(), backoff::fields()].concat().into()))
}

/// How long a lease lasts unless renewed (KCL's default `failoverTimeMillis`).
const LEASE: Duration = Duration::from_secs(10);
/// How often a worker looks at the lease table (renews, takes, claims, gives up).
const TICK: Duration = Duration::from_secs(2);
/// A lease with less than this left is renewed.
const RENEW_WITHIN: Duration = Duration::from_secs(7);
/// How long a lease freed for a claim waits for its claimer before anyone may take it.
const CLAIM_WAIT: Duration = Duration::from_secs(20);
/// How often the shard list is read again (resharding).
const SHARDS_EVERY: Duration = Duration::from_secs(30);
/// The most records one `GetRecords` answers here.
const MAX_RECORDS: i32 = 1000;
/// The wait before reading an idle shard again.
const IDLE: Duration = Duration::from_millis(500);
/// How often a checkpoint is written while a run goes on.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);
/// The wait after a failed read.
const RETRY_WAIT: Duration = Duration::from_secs(2);
/// The `Checkpoint` of a closed shard read to its end (KCL's).
const SHARD_END: &str = "SHARD_END";

// The lease item's attributes, as vmware-go-kcl names them (and `StartTimestamp`, bindery's).
const KEY: &str = "ShardID";
const OWNER: &str = "AssignedTo";
const TIMEOUT: &str = "LeaseTimeout";
const CHECKPOINT: &str = "Checkpoint";
const CLAIM: &str = "ClaimRequest";
const START: &str = "StartTimestamp";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Shared,
    Extended,
}

struct Clients {
    kinesis: aws_sdk_kinesis::Client,
    dynamo: aws_sdk_dynamodb::Client,
}

/// A shard of the stream, as the lease logic needs it.
#[derive(Clone, Debug)]
struct Shard {
    id: String,
    parents: Vec<String>,
}

/// How far a shard's reader got: the last record settled (acked or rejected), and the last
/// checkpoint written.
#[derive(Default)]
struct Progress {
    settled: Mutex<Option<String>>,
    written: Mutex<Option<String>>,
    last_write: Mutex<Option<Instant>>,
}

impl Progress {
    fn settled(&self) -> Option<String> {
        self.settled.lock().unwrap().clone()
    }
}

/// A lease this worker holds.
struct Held {
    /// `LeaseTimeout` as this worker last wrote it.
    timeout_text: String,
    timeout: SystemTime,
    /// `Checkpoint` and `StartTimestamp` when it was taken.
    checkpoint: Option<String>,
    start: Option<String>,
    progress: Arc<Progress>,
    /// Stops the shard's reader.
    stop: CancellationToken,
    reader: Option<JoinHandle<()>>,
}

#[derive(Default)]
struct Leases {
    held: HashMap<String, Held>,
    shards: Vec<Shard>,
    shards_read: Option<Instant>,
}

/// One lease item as read from the table.
#[derive(Debug, Default)]
struct Row {
    owner: Option<String>,
    timeout_text: Option<String>,
    timeout: Option<SystemTime>,
    checkpoint: Option<String>,
    claim: Option<String>,
}

struct Inner {
    name: String,
    stream: String,
    consumer: String,
    mode: Mode,
    conn: Connection,
    backoff: Backoff,
    started: Started<Clients>,
    /// This runtime's worker id in the lease table.
    worker: String,
    leases: tokio::sync::Mutex<Leases>,
}

struct Kinesis(Arc<Inner>);

fn build(s: &mut Settings) -> Result<BindingParts> {
    let conn = Connection::read(s, false);
    let backoff = Backoff::read(s);
    let mode = match s.word("mode") {
        Some("extended") => Mode::Extended,
        _ => Mode::Shared,
    };
    // Dapr compares the mode as written: "Shared" fails there.
    let written = s
        .metadata()
        .get_nonempty("mode")
        .map(|v| v.trim().to_string())
        .unwrap_or_default();
    if !written.is_empty() && written != "shared" && written != "extended" {
        s.problem(
            "mode",
            format!("mode {written:?} is not \"shared\" or \"extended\" as Dapr spells them"),
            format!("write it in lower case: {:?}", written.to_ascii_lowercase()),
        );
    }
    let consumer = s
        .text("consumerName")
        .unwrap_or_default()
        .trim()
        .to_string();
    let d = s.direction();
    if d.explicit && d.input {
        if let Some(e) = input_refused(mode, &consumer) {
            s.component_problem(e, INPUT_FIX[(mode == Mode::Shared) as usize]);
        }
    }
    let inner = Arc::new(Inner {
        name: s.name().to_string(),
        stream: s.text("streamName").unwrap_or_default().trim().to_string(),
        consumer,
        mode,
        conn,
        backoff,
        started: Started::default(),
        worker: format!(
            "bindery-{}-{}",
            std::process::id(),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        ),
        leases: tokio::sync::Mutex::new(Leases::default()),
    });
    Ok(BindingParts {
        input: d
            .input
            .then(|| Arc::new(Kinesis(inner.clone())) as Arc<dyn InputBinding>),
        output: d
            .output
            .then(|| Arc::new(Kinesis(inner)) as Arc<dyn OutputBinding>),
    })
}

/// Why the input cannot run with these settings, if it cannot.
fn input_refused(mode: Mode, consumer: &str) -> Option<&'static str> {
    if mode == Mode::Extended {
        Some("bindings.aws.kinesis as an input does not support mode \"extended\" (enhanced fan-out) yet")
    } else if consumer.is_empty() {
        Some("bindings.aws.kinesis as an input needs the metadata field \"consumerName\": it names the DynamoDB lease table that keeps each shard's owner and checkpoint")
    } else {
        None
    }
}

/// The fixes of `input_refused`: for mode extended, and for no consumerName.
const INPUT_FIX: [&str; 2] = [
    "remove mode (or set it to \"shared\"): the input then reads with a lease table, as Dapr's default mode does",
    "add\n  - name: consumerName\n    value: \"my-app\"\n(runtimes with one consumerName split the shards between them)",
];

/// A time as vmware-go-kcl writes `LeaseTimeout` (Go's `time.RFC3339Nano`, UTC).
fn rfc3339(t: SystemTime) -> String {
    rfc3339_nano(chrono::DateTime::<chrono::Utc>::from(t))
}

/// A time of the lease table as Go's `time.Parse(time.RFC3339Nano, ...)` reads it (any offset).
fn parse_time(s: &str) -> Option<chrono::DateTime<chrono::FixedOffset>> {
    chrono::DateTime::parse_from_rfc3339(s).ok()
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn text(item: &HashMap<String, AttributeValue>, k: &str) -> Option<String> {
    item.get(k)
        .and_then(|v| v.as_s().ok())
        .filter(|v| !v.is_empty())
        .cloned()
}

/// Whether an SDK error is DynamoDB's "the condition did not hold".
fn condition_failed<E: ProvideErrorMetadata>(
    e: &aws_smithy_runtime_api::client::result::SdkError<
        E,
        aws_smithy_runtime_api::client::orchestrator::HttpResponse,
    >,
) -> bool {
    e.as_service_error()
        .and_then(|se| se.code())
        .is_some_and(|c| c == "ConditionalCheckFailedException")
}

impl Inner {
    fn clients(&self) -> Result<&Clients> {
        self.started.get(&self.name)
    }

    /// The clients, and the stream looked up once for both sides.
    async fn start(&self) -> Result<()> {
        self.started
            .start(|| async {
                let config = self.conn.sdk_config().await?;
                let kinesis = aws_sdk_kinesis::Client::new(&config);
                kinesis
                    .describe_stream_summary()
                    .stream_name(&self.stream)
                    .send()
                    .await
                    .map_err(|e| {
                        self.conn.error_or_gone(
                            &format!("look up stream {:?}", self.stream),
                            e,
                            || format!("stream {:?} does not exist", self.stream),
                        )
                    })?;
                Ok(Clients {
                    kinesis,
                    dynamo: aws_sdk_dynamodb::Client::new(&config),
                })
            })
            .await
    }

    fn table(&self) -> &str {
        &self.consumer
    }

    /// Create the lease table unless it is there, and wait until it is active.
    async fn lease_table(&self) -> Result<()> {
        let db = &self.clients()?.dynamo;
        let doing = format!("look up lease table {:?}", self.table());
        let mut created = false;
        for _ in 0..120 {
            match db.describe_table().table_name(self.table()).send().await {
                Ok(out) => {
                    let status = out.table().and_then(|t| t.table_status());
                    if status == Some(&TableStatus::Active) {
                        return Ok(());
                    }
                }
                Err(e)
                    if !created
                        && e.as_service_error()
                            .is_some_and(|se| se.is_resource_not_found_exception()) =>
                {
                    let made = db
                        .create_table()
                        .table_name(self.table())
                        .attribute_definitions(
                            AttributeDefinition::builder()
                                .attribute_name(KEY)
                                .attribute_type(ScalarAttributeType::S)
                                .build()
                                .map_err(|e| Error::internal(e.to_string()))?,
                        )
                        .key_schema(
                            KeySchemaElement::builder()
                                .attribute_name(KEY)
                                .key_type(KeyType::Hash)
                                .build()
                                .map_err(|e| Error::internal(e.to_string()))?,
                        )
                        // KCL's initial capacity of the lease table.
                        .provisioned_throughput(
                            ProvisionedThroughput::builder()
                                .read_capacity_units(10)
                                .write_capacity_units(10)
                                .build()
                                .map_err(|e| Error::internal(e.to_string()))?,
                        )
                        .send()
                        .await;
                    match made {
                        Ok(_) => {
                            tracing::info!(component = %self.name, table = %self.table(), "created the lease table");
                        }
                        // Another worker made it meanwhile.
                        Err(e) if e.code() == Some("ResourceInUseException") => {}
                        Err(e) => {
                            return Err(self.conn.error(
                                &format!(
                                    "create lease table {:?} (DynamoDB, named after consumerName)",
                                    self.table()
                                ),
                                e,
                            ))
                        }
                    }
                    created = true;
                    continue;
                }
                Err(e) => return Err(self.conn.error(&doing, e)),
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        Err(Error::upstream(format!(
            "lease table {:?} did not become active within a minute",
            self.table()
        ))
        .with_component(&self.name))
    }

    /// The stream's shards.
    async fn list_shards(&self) -> Result<Vec<Shard>> {
        let k = &self.clients()?.kinesis;
        let mut shards = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let req = match &token {
                Some(t) => k.list_shards().next_token(t),
                None => k.list_shards().stream_name(&self.stream),
            };
            let out = req.send().await.map_err(|e| {
                self.conn
                    .error(&format!("list the shards of stream {:?}", self.stream), e)
            })?;
            for sh in out.shards() {
                let parents = [sh.parent_shard_id(), sh.adjacent_parent_shard_id()]
                    .into_iter()
                    .flatten()
                    .map(str::to_string)
                    .collect();
                shards.push(Shard {
                    id: sh.shard_id().to_string(),
                    parents,
                });
            }
            token = out.next_token().map(str::to_string);
            if token.is_none() {
                return Ok(shards);
            }
        }
    }

    /// Every lease item.
    async fn rows(&self) -> Result<HashMap<String, Row>> {
        let db = &self.clients()?.dynamo;
        let mut rows = HashMap::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let out = db
                .scan()
                .table_name(self.table())
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| {
                    self.conn
                        .error(&format!("read lease table {:?}", self.table()), e)
                })?;
            for item in out.items() {
                let Some(shard) = text(item, KEY) else {
                    continue;
                };
                let timeout_text = text(item, TIMEOUT);
                rows.insert(
                    shard,
                    Row {
                        owner: text(item, OWNER),
                        timeout: timeout_text
                            .as_deref()
                            .and_then(parse_time)
                            .map(SystemTime::from),
                        timeout_text,
                        checkpoint: text(item, CHECKPOINT),
                        claim: text(item, CLAIM),
                    },
                );
            }
            match out.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => return Ok(rows),
            }
        }
    }

    /// Take the lease of `shard` as `row` has it; `None` when another worker got it first.
    async fn acquire(&self, shard: &Shard, row: Option<&Row>) -> Result<Option<Held>> {
        let db = &self.clients()?.dynamo;
        let now = SystemTime::now();
        let timeout = now + LEASE;
        let timeout_text = rfc3339(timeout);
        let mut req = db
            .update_item()
            .table_name(self.table())
            .key(KEY, s(&shard.id))
            .expression_attribute_values(":me", s(&self.worker))
            .expression_attribute_values(":timeout", s(&timeout_text))
            .expression_attribute_values(":start", s(rfc3339(now)))
            .return_values(ReturnValue::AllNew);
        let mut update =
            "SET AssignedTo = :me, LeaseTimeout = :timeout, StartTimestamp = if_not_exists(StartTimestamp, :start)"
                .to_string();
        if let Some(p) = shard.parents.first() {
            update.push_str(", ParentShardId = :parent");
            req = req.expression_attribute_values(":parent", s(p));
        }
        update.push_str(" REMOVE ClaimRequest");
        match row.and_then(|r| r.owner.as_ref().zip(r.timeout_text.as_ref())) {
            Some((owner, t)) => {
                req = req
                    .condition_expression("AssignedTo = :owner AND LeaseTimeout = :was")
                    .expression_attribute_values(":owner", s(owner))
                    .expression_attribute_values(":was", s(t));
            }
            None => req = req.condition_expression("attribute_not_exists(AssignedTo)"),
        }
        match req.update_expression(update).send().await {
            Ok(out) => {
                let item = out.attributes().cloned().unwrap_or_default();
                tracing::info!(component = %self.name, shard = %shard.id, worker = %self.worker,
                    "took the lease of shard {} (checkpoint {})", shard.id,
                    text(&item, CHECKPOINT).as_deref().unwrap_or("none yet"));
                Ok(Some(Held {
                    timeout_text,
                    timeout,
                    checkpoint: text(&item, CHECKPOINT),
                    start: text(&item, START),
                    progress: Arc::default(),
                    stop: CancellationToken::new(),
                    reader: None,
                }))
            }
            Err(e) if condition_failed(&e) => Ok(None),
            Err(e) => Err(self.conn.error(
                &format!(
                    "take the lease of shard {} in table {:?}",
                    shard.id,
                    self.table()
                ),
                e,
            )),
        }
    }

    /// Update the lease item of `shard` with `update` when `condition` holds (with `:me`, this
    /// worker, among `values`): true when it did, false when the condition did not hold.
    async fn update_if(
        &self,
        shard: &str,
        update: &str,
        condition: &str,
        values: &[(&str, &str)],
        doing: &str,
    ) -> Result<bool> {
        let db = &self.clients()?.dynamo;
        let mut req = db
            .update_item()
            .table_name(self.table())
            .key(KEY, s(shard))
            .update_expression(update)
            .condition_expression(condition)
            .expression_attribute_values(":me", s(&self.worker));
        for (k, v) in values {
            req = req.expression_attribute_values(*k, s(*v));
        }
        match req.send().await {
            Ok(_) => Ok(true),
            Err(e) if condition_failed(&e) => Ok(false),
            Err(e) => Err(self.conn.error(
                &format!("{doing} of shard {shard} in lease table {:?}", self.table()),
                e,
            )),
        }
    }

    /// Renew a lease held; false when it is no longer this worker's.
    async fn renew(&self, shard: &str, held: &mut Held) -> Result<bool> {
        let timeout = SystemTime::now() + LEASE;
        let timeout_text = rfc3339(timeout);
        let renewed = self
            .update_if(
                shard,
                "SET LeaseTimeout = :timeout",
                "AssignedTo = :me AND LeaseTimeout = :was",
                &[(":was", &held.timeout_text), (":timeout", &timeout_text)],
                "renew the lease",
            )
            .await?;
        if renewed {
            held.timeout = timeout;
            held.timeout_text = timeout_text;
        }
        Ok(renewed)
    }

    /// Write `checkpoint` for `shard` while this worker holds it; false when it does not.
    async fn write_checkpoint(&self, shard: &str, checkpoint: &str) -> Result<bool> {
        self.update_if(
            shard,
            "SET Checkpoint = :checkpoint",
            "AssignedTo = :me",
            &[(":checkpoint", checkpoint)],
            "write the checkpoint",
        )
        .await
    }

    /// Write the progress of `shard` if it moved since the last write (`due`: only when the
    /// last write is `CHECKPOINT_EVERY` old).
    async fn checkpoint(&self, shard: &str, progress: &Progress, due: bool) {
        let Some(at) = progress.settled() else {
            return;
        };
        if progress.written.lock().unwrap().as_deref() == Some(at.as_str()) {
            return;
        }
        if due
            && progress
                .last_write
                .lock()
                .unwrap()
                .is_some_and(|t| t.elapsed() < CHECKPOINT_EVERY)
        {
            return;
        }
        *progress.last_write.lock().unwrap() = Some(Instant::now());
        match self.write_checkpoint(shard, &at).await {
            Ok(true) => *progress.written.lock().unwrap() = Some(at),
            Ok(false) => {
                tracing::warn!(component = %self.name, shard, "the lease of shard {shard} is no longer this runtime's, so its checkpoint {at} is not written; its new owner delivers the records since its last checkpoint again");
            }
            Err(e) => {
                tracing::warn!(component = %self.name, shard, "{}; the records since the last checkpoint may be delivered again", e.message());
            }
        }
    }

    /// Give a lease up: its last checkpoint written, then the lease free at once.
    async fn release(&self, shard: &str, held: &mut Held) {
        held.stop.cancel();
        if let Some(reader) = held.reader.take() {
            let _ = reader.await;
        }
        self.checkpoint(shard, &held.progress, false).await;
        let now = rfc3339(SystemTime::now());
        let released = self
            .update_if(
                shard,
                "SET LeaseTimeout = :now REMOVE AssignedTo",
                "AssignedTo = :me",
                &[(":now", &now)],
                "give up the lease",
            )
            .await;
        match released {
            Ok(true) => {
                tracing::info!(component = %self.name, shard, worker = %self.worker, "gave up the lease of shard {shard}")
            }
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(component = %self.name, shard, "{}; it is free once it times out", e.message());
            }
        }
    }

    /// One look at the lease table: renew what is held, give up what another worker claims
    /// or what is done, take free leases up to this worker's share, or claim one.
    async fn balance(self: &Arc<Self>, ctx: Option<&InputContext>) -> Result<()> {
        let mut leases = self.leases.lock().await;
        if leases
            .shards_read
            .is_none_or(|t| t.elapsed() >= SHARDS_EVERY)
        {
            leases.shards = self.list_shards().await?;
            leases.shards_read = Some(Instant::now());
        }
        let rows = self.rows().await?;
        let now = SystemTime::now();
        let live = |r: &Row| r.timeout.is_some_and(|t| t > now);

        // What is held: renewed, or given up.
        let held: Vec<String> = leases.held.keys().cloned().collect();
        for shard in held {
            let row = rows.get(&shard);
            let ended = leases.held[&shard]
                .reader
                .as_ref()
                .is_some_and(|r| r.is_finished());
            let claimed = row
                .and_then(|r| r.claim.as_deref())
                .is_some_and(|c| c != self.worker);
            let lost = row.is_none_or(|r| r.owner.as_deref() != Some(&self.worker));
            if lost {
                tracing::warn!(component = %self.name, shard = %shard, "the lease of shard {shard} was taken by another worker; its reader stops");
                let h = leases.held.remove(&shard).unwrap();
                h.stop.cancel();
                continue;
            }
            let h = leases.held.get_mut(&shard).unwrap();
            if claimed || ended {
                if claimed && !h.stop.is_cancelled() {
                    tracing::info!(component = %self.name, shard = %shard, "another worker claims shard {shard}: giving it up once its reader is done with the records in hand");
                }
                h.stop.cancel();
                if h.reader.as_ref().is_none_or(|r| r.is_finished()) {
                    let mut h = leases.held.remove(&shard).unwrap();
                    self.release(&shard, &mut h).await;
                    continue;
                }
                // Held (and renewed) until its reader is done.
            }
            let left = h.timeout.duration_since(now).unwrap_or_default();
            if left < RENEW_WITHIN && !self.renew(&shard, h).await? {
                tracing::warn!(component = %self.name, shard = %shard, "the lease of shard {shard} was lost before it was renewed; its reader stops");
                let h = leases.held.remove(&shard).unwrap();
                h.stop.cancel();
            }
        }

        // The shards to read: not done, their parents done.
        let done = |id: &str| {
            rows.get(id)
                .is_some_and(|r| r.checkpoint.as_deref() == Some(SHARD_END))
        };
        let listed: HashSet<&str> = leases.shards.iter().map(|s| s.id.as_str()).collect();
        let readable: Vec<Shard> = leases
            .shards
            .iter()
            .filter(|sh| !done(&sh.id))
            .filter(|sh| {
                sh.parents
                    .iter()
                    .all(|p| !listed.contains(p.as_str()) || done(p))
            })
            .cloned()
            .collect();
        let mut workers: HashMap<&str, usize> = HashMap::new();
        workers.insert(&self.worker, 0);
        for sh in &readable {
            if let Some(r) = rows.get(&sh.id) {
                if let (Some(o), true) = (r.owner.as_deref(), live(r)) {
                    *workers.entry(o).or_default() += 1;
                }
                if let Some(c) = r.claim.as_deref() {
                    workers.entry(c).or_default();
                }
            }
        }
        let share = readable.len().div_ceil(workers.len());
        let mut mine = leases.held.len();

        // Free leases, up to the share.
        for sh in &readable {
            if mine >= share {
                break;
            }
            if leases.held.contains_key(&sh.id) {
                continue;
            }
            let row = rows.get(&sh.id);
            let taken = row.is_some_and(|r| r.owner.is_some() && live(r));
            let claimed_by_other = row.is_some_and(|r| {
                r.claim.as_deref().is_some_and(|c| c != self.worker)
                    && r.timeout.is_some_and(|t| t + CLAIM_WAIT > now)
            });
            if taken || claimed_by_other {
                continue;
            }
            if let Some(mut h) = self.acquire(sh, row).await? {
                if let Some(ctx) = ctx {
                    self.spawn_reader(ctx, &sh.id, &mut h);
                }
                leases.held.insert(sh.id.clone(), h);
                mine += 1;
            }
        }

        // Below the share with nothing free: claim a lease of the busiest worker above it,
        // unless a claim of this worker waits already.
        let waiting = rows
            .values()
            .any(|r| r.claim.as_deref() == Some(&self.worker));
        if mine < share && !waiting {
            let busiest = workers
                .iter()
                .filter(|(w, n)| **w != self.worker.as_str() && **n > share)
                .max_by_key(|(_, n)| **n)
                .map(|(w, _)| w.to_string());
            if let Some(owner) = busiest {
                let target = readable.iter().find(|sh| {
                    rows.get(&sh.id).is_some_and(|r| {
                        r.owner.as_deref() == Some(&owner) && live(r) && r.claim.is_none()
                    })
                });
                if let Some(sh) = target {
                    self.claim(&sh.id, &owner).await?;
                }
            }
        }
        Ok(())
    }

    /// Ask `owner` for the lease of `shard`.
    async fn claim(&self, shard: &str, owner: &str) -> Result<()> {
        let claimed = self
            .update_if(
                shard,
                "SET ClaimRequest = :me",
                "AssignedTo = :owner AND attribute_not_exists(ClaimRequest)",
                &[(":owner", owner)],
                "claim the lease",
            )
            .await?;
        if claimed {
            tracing::info!(component = %self.name, shard, "claimed shard {shard} of worker {owner} to even out the shards");
        }
        Ok(())
    }

    fn spawn_reader(self: &Arc<Self>, ctx: &InputContext, shard: &str, h: &mut Held) {
        // The reader stops with the runtime too.
        h.stop = ctx.shutdown.child_token();
        let reader = ShardReader {
            inner: self.clone(),
            shard: shard.to_string(),
            progress: h.progress.clone(),
            ctx: InputContext {
                sink: ctx.sink.clone(),
                shutdown: h.stop.clone(),
            },
            start: match h.checkpoint.clone() {
                Some(c) => Position::After(c),
                None => Position::Since(h.start.clone()),
            },
        };
        h.reader = Some(tokio::spawn(reader.run()));
    }

    /// Give up every lease held (at shutdown): once its reader is done with the records in
    /// hand (`wait`), or at once, its reader stopped where it is. A lease stays in the table
    /// of held ones until it is given up, so that a stop cut short here leaves it to `close`.
    async fn release_all(&self, wait: bool) {
        let mut leases = self.leases.lock().await;
        for h in leases.held.values_mut() {
            h.stop.cancel();
            if !wait {
                if let Some(r) = h.reader.take() {
                    r.abort();
                    let _ = r.await;
                }
            }
        }
        while leases
            .held
            .values()
            .any(|h| h.reader.as_ref().is_some_and(|r| !r.is_finished()))
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let held: Vec<String> = leases.held.keys().cloned().collect();
        for shard in held {
            if let Some(h) = leases.held.get_mut(&shard) {
                self.release(&shard, h).await;
            }
            leases.held.remove(&shard);
        }
    }
}

/// Where a shard's reader starts.
enum Position {
    /// After this sequence number (the checkpoint).
    After(String),
    /// At records that arrived from this moment (RFC 3339); the end of the stream without one.
    Since(Option<String>),
}

struct ShardReader {
    inner: Arc<Inner>,
    shard: String,
    progress: Arc<Progress>,
    ctx: InputContext,
    start: Position,
}

impl RunSource for ShardReader {
    type Msg = Record;

    fn event(&self, r: &Record) -> (Vec<u8>, MetadataMap) {
        let mut md = MetadataMap::new();
        md.insert(
            "partitionKey".into(),
            r.partition_key().unwrap_or_default().to_string(),
        );
        md.insert("sequenceNumber".into(), r.sequence_number().to_string());
        md.insert("shardId".into(), self.shard.clone());
        if let Some(t) = r
            .approximate_arrival_timestamp()
            .and_then(|t| chrono::DateTime::from_timestamp(t.secs(), t.subsec_nanos()))
        {
            md.insert("approximateArrivalTimestamp".into(), rfc3339_nano(t));
        }
        (r.data().as_ref().to_vec(), md)
    }

    async fn settle(&self, r: &Record) {
        *self.progress.settled.lock().unwrap() = Some(r.sequence_number().to_string());
        self.inner
            .checkpoint(&self.shard, &self.progress, true)
            .await;
    }

    async fn reject(&self, r: &Record, reason: &str) {
        tracing::warn!(component = %self.inner.name, shard = %self.shard,
            "the handler rejected record {} of shard {} ({reason}); Kinesis has no dead-letter, so the checkpoint moves past it and it is not delivered again",
            r.sequence_number(), self.shard);
        *self.progress.settled.lock().unwrap() = Some(r.sequence_number().to_string());
    }
}

impl ShardReader {
    /// A shard iterator from where the reader is.
    async fn iterator(&self) -> Result<Option<String>> {
        let k = &self.inner.clients()?.kinesis;
        let mut req = k
            .get_shard_iterator()
            .stream_name(&self.inner.stream)
            .shard_id(&self.shard);
        let resume = self.progress.settled().or_else(|| match &self.start {
            Position::After(seq) => Some(seq.clone()),
            Position::Since(_) => None,
        });
        req = match (resume, &self.start) {
            (Some(seq), _) => req
                .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                .starting_sequence_number(seq),
            (None, Position::Since(Some(t))) => match parse_time(t) {
                Some(t) => req
                    .shard_iterator_type(ShardIteratorType::AtTimestamp)
                    .timestamp(DateTime::from_secs_and_nanos(
                        t.timestamp(),
                        t.timestamp_subsec_nanos(),
                    )),
                None => req.shard_iterator_type(ShardIteratorType::Latest),
            },
            (None, _) => req.shard_iterator_type(ShardIteratorType::Latest),
        };
        let out = req.send().await.map_err(|e| {
            self.inner.conn.error(
                &format!(
                    "read shard {} of stream {:?}",
                    self.shard, self.inner.stream
                ),
                e,
            )
        })?;
        Ok(out.shard_iterator().map(str::to_string))
    }

    /// Read the shard and hand its records over until stopped or the shard ended.
    async fn run(self) {
        let stop = self.ctx.shutdown.clone();
        let mut iterator: Option<String> = None;
        loop {
            if stop.is_cancelled() {
                break;
            }
            let it = match iterator.take() {
                Some(it) => it,
                None => match self.iterator().await {
                    Ok(Some(it)) => it,
                    Ok(None) => {
                        self.ended().await;
                        return;
                    }
                    Err(e) => {
                        tracing::warn!(component = %self.inner.name, shard = %self.shard, "{}; trying again in {RETRY_WAIT:?}", e.message());
                        if !pause(RETRY_WAIT, &stop).await {
                            break;
                        }
                        continue;
                    }
                },
            };
            let Ok(c) = self.inner.clients() else { return };
            let got = tokio::select! {
                r = c.kinesis.get_records().shard_iterator(&it).limit(MAX_RECORDS).send() => r,
                _ = stop.cancelled() => break,
            };
            let out = match got {
                Ok(out) => out,
                Err(e) => {
                    let e = self.inner.conn.error(
                        &format!(
                            "read shard {} of stream {:?}",
                            self.shard, self.inner.stream
                        ),
                        e,
                    );
                    tracing::warn!(component = %self.inner.name, shard = %self.shard, "{}; trying again in {RETRY_WAIT:?}", e.message());
                    if !pause(RETRY_WAIT, &stop).await {
                        break;
                    }
                    continue;
                }
            };
            let records = out.records();
            if !records.is_empty() && !self.deliver(records).await {
                break;
            }
            self.inner
                .checkpoint(&self.shard, &self.progress, false)
                .await;
            match out.next_shard_iterator() {
                Some(next) => iterator = Some(next.to_string()),
                None => {
                    self.ended().await;
                    return;
                }
            }
            if records.is_empty() && !pause(IDLE, &stop).await {
                break;
            }
        }
        self.inner
            .checkpoint(&self.shard, &self.progress, false)
            .await;
    }

    /// Hand `records` over until each is settled; false when stopped first.
    async fn deliver(&self, records: &[Record]) -> bool {
        let mut from = 0;
        while from < records.len() {
            let Some(gave_up) =
                delivery::deliver_run(&self.ctx, &self.inner.backoff, self, &records[from..]).await
            else {
                return true;
            };
            from += gave_up.index;
            if self.ctx.shutdown.is_cancelled() {
                return false;
            }
            let wait = self.inner.backoff.delay(gave_up.retries + 1);
            tracing::warn!(component = %self.inner.name, shard = %self.shard,
                "the handler failed on record {} of shard {} ({}); delivering it again in {wait:?}, before any later record of the shard",
                records[from].sequence_number(), self.shard, gave_up.reason);
            if !pause(wait, &self.ctx.shutdown).await {
                return false;
            }
        }
        true
    }

    /// The shard is closed and read to its end: checkpoint `SHARD_END`, so its children are
    /// read next.
    async fn ended(&self) {
        *self.progress.settled.lock().unwrap() = Some(SHARD_END.to_string());
        self.inner
            .checkpoint(&self.shard, &self.progress, false)
            .await;
        tracing::info!(component = %self.inner.name, shard = %self.shard, "shard {} is closed and read to its end", self.shard);
    }
}

#[async_trait]
impl OutputBinding for Kinesis {
    async fn init(&self) -> Result<()> {
        self.0.start().await
    }

    async fn invoke(&self, req: InvokeRequest) -> Result<InvokeResponse> {
        let k = self.0.clients()?;
        let key = req
            .metadata
            .get("partitionKey")
            .filter(|k| !k.is_empty())
            .cloned()
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let out = k
            .kinesis
            .put_record()
            .stream_name(&self.0.stream)
            .data(Blob::new(req.data))
            .partition_key(key)
            .send()
            .await
            .map_err(|e| {
                self.0.conn.error_or_gone(
                    &format!("put a record in stream {:?}", self.0.stream),
                    e,
                    || format!("stream {:?} does not exist", self.0.stream),
                )
            })?;
        // As Dapr: no answer.
        tracing::debug!(component = %self.0.name, "put record {} in shard {}", out.sequence_number(), out.shard_id());
        Ok(InvokeResponse::default())
    }
}

#[async_trait]
impl InputBinding for Kinesis {
    async fn init(&self) -> Result<()> {
        let inner = &self.0;
        if let Some(e) = input_refused(inner.mode, &inner.consumer) {
            let fix = INPUT_FIX[(inner.mode == Mode::Shared) as usize];
            return Err(Error::new(ErrorKind::InvalidConfig, format!("{e}; {fix}"))
                .with_component(&inner.name));
        }
        inner.start().await?;
        inner.lease_table().await?;
        // The first leases now, so that a record put after the start reaches the handler.
        inner.balance(None).await
    }

    async fn read(&self, ctx: InputContext) -> Result<()> {
        let inner = &self.0;
        {
            let mut leases = inner.leases.lock().await;
            let shards: Vec<String> = leases.held.keys().cloned().collect();
            for shard in shards {
                let h = leases.held.get_mut(&shard).unwrap();
                inner.spawn_reader(&ctx, &shard, h);
            }
        }
        loop {
            if !pause(TICK, &ctx.shutdown).await {
                break;
            }
            if let Err(e) = inner.balance(Some(&ctx)).await {
                tracing::warn!(component = %inner.name, "{}; trying again in {TICK:?}", e.message());
            }
        }
        inner.release_all(true).await;
        Ok(())
    }

    async fn close(&self) -> Result<()> {
        // After a stop that did not wait for `read`: what is held is given up here.
        self.0.release_all(false).await;
        Ok(())
    }
}
