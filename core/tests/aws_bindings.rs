#![cfg(all(
    feature = "aws-s3",
    feature = "aws-sqs",
    feature = "aws-sns",
    feature = "aws-dynamodb",
    feature = "aws-kinesis"
))]
//! The AWS bindings against moto (`tests/servers/start moto`): what only these bindings do
//! (SQS redelivery after the visibility timeout and its dead-letter queue, SQS event metadata,
//! an S3 presigned URL fetched with a plain GET, S3's list and bulk operations, SNS's data
//! reaching a subscribed queue, DynamoDB's item as Dapr maps it, Kinesis's shards split
//! between runtimes and its KCL lease table, things that do not exist named, wrong keys). The behaviour every binding shares is in `behaviour.rs` (`aws_*::*`).

use std::time::Duration;

use bindery::ErrorKind;
use serde_json::{json, Value};

#[path = "suite/mod.rs"]
mod suite;
use suite::fixtures::aws::{
    self, connection, create_bucket, create_queue, create_table, delete_queue, drain_queue,
    get_item, queue_arn, sns_call, unique, xml_text, BUCKET, CHECKING_ENDPOINT,
};
use suite::harness::{self, components, meta, next, next_within, runtime, WAIT};

fn yaml(type_name: &str, name: &str, extra: &[(&str, &str)]) -> String {
    let base = connection();
    let mut fields: Vec<(&str, &str)> = base.iter().map(|(k, v)| (&k[..], &v[..])).collect();
    for (k, v) in extra {
        fields.retain(|(n, _)| n != k);
        fields.push((k, v));
    }
    harness::component_yaml(type_name, name, &fields)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqs_a_message_failed_twice_comes_a_third_time_and_nothing_is_lost() {
    let queue = unique("nack");
    create_queue(&queue, json!({ "VisibilityTimeout": "1" })).await;
    let rt = runtime(&components(&[yaml(
        "bindings.aws.sqs",
        "jobs",
        &[("queueName", &queue)],
    )]));
    let (seen, mut done) = harness::fail_m0_twice(&rt, "jobs");
    rt.start().await.unwrap();
    for i in 0..10 {
        harness::create(&rt, "jobs", format!("m{i}"), &[]).await;
    }
    tokio::time::timeout(WAIT, async {
        loop {
            let s = seen.lock().unwrap().clone();
            let m0 = s.iter().filter(|t| *t == "m0").count();
            if m0 >= 3 && (1..10).all(|i| s.contains(&format!("m{i}"))) {
                break;
            }
            drop(s);
            let _ = tokio::time::timeout(Duration::from_millis(200), done.recv()).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("seen: {:?}", seen.lock().unwrap()));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    rt.shutdown(Duration::from_secs(10)).await.unwrap();
    let s = seen.lock().unwrap().clone();
    assert_eq!(s.iter().filter(|t| *t == "m0").count(), 3, "{s:?}");
    assert!(
        drain_queue(&queue).await.is_empty(),
        "every message deleted"
    );
    delete_queue(&queue).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqs_a_rejected_message_goes_to_the_dead_letter_queue_with_its_attributes() {
    let (queue, dlq) = (unique("src"), unique("dlq"));
    create_queue(&dlq, json!({})).await;
    let policy = json!({ "deadLetterTargetArn": queue_arn(&dlq), "maxReceiveCount": "5" });
    let url = create_queue(
        &queue,
        json!({ "VisibilityTimeout": "1", "RedrivePolicy": policy.to_string() }),
    )
    .await;
    aws::json_call(
        "sqs",
        "AmazonSQS.SendMessage",
        json!({ "QueueUrl": url, "MessageBody": "poison",
                "MessageAttributes": { "origin": { "DataType": "String", "StringValue": "test" } } }),
    )
    .await;
    aws::json_call(
        "sqs",
        "AmazonSQS.SendMessage",
        json!({ "QueueUrl": url, "MessageBody": "fine" }),
    )
    .await;
    let rt = runtime(&components(&[yaml(
        "bindings.aws.sqs",
        "jobs",
        &[("queueName", &queue), ("direction", "input")],
    )]));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    rt.on_event("jobs", move |ev| {
        let tx = tx.clone();
        async move {
            let _ = tx.send(ev.clone());
            if ev.text() == "poison" {
                return Err(bindery::Reject::new("cannot parse it").into());
            }
            Ok(())
        }
    })
    .unwrap();
    rt.start().await.unwrap();
    let mut texts = Vec::new();
    while texts.len() < 2 {
        let ev = next_within(&mut rx, WAIT).await;
        if ev.text() == "poison" {
            assert_eq!(ev.metadata.get("origin").map(String::as_str), Some("test"));
            assert_eq!(
                ev.metadata.get("receiveCount").map(String::as_str),
                Some("1")
            );
            assert!(ev.metadata.contains_key("messageId"), "{:?}", ev.metadata);
        }
        texts.push(ev.text());
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    rt.shutdown(Duration::from_secs(10)).await.unwrap();
    assert!(
        rx.try_recv().is_err(),
        "a rejected message is not delivered again"
    );
    let dead = drain_queue(&dlq).await;
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0].0, "poison");
    assert_eq!(
        dead[0].1["origin"]["StringValue"], "test",
        "{:?}",
        dead[0].1
    );
    assert!(drain_queue(&queue).await.is_empty());
    delete_queue(&queue).await;
    delete_queue(&dlq).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqs_a_queue_that_does_not_exist_is_named_at_start() {
    let rt = runtime(&components(&[yaml(
        "bindings.aws.sqs",
        "jobs",
        &[("queueName", "no-such-queue-here")],
    )]));
    let err = harness::start_fails(
        &rt,
        ErrorKind::NotFound,
        &["queue \"no-such-queue-here\" does not exist"],
    )
    .await;
    assert_eq!(err.component(), Some("jobs"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_presign_list_and_bulk_operations_answer_as_dapr() {
    create_bucket(BUCKET).await;
    let rt = runtime(&components(&[yaml(
        "bindings.aws.s3",
        "files",
        &[("bucket", BUCKET), ("forcePathStyle", "true")],
    )]));
    rt.start().await.unwrap();
    let prefix = unique("dir");
    let key = format!("{prefix}/one.txt");
    // A JSON string is stored without its quotes, as Dapr does; presignTTL adds the URL.
    let created = rt
        .invoke(
            "files",
            "create",
            br#""hello s3""#.to_vec(),
            meta(&[
                ("key", &key),
                ("presignTTL", "5m"),
                ("Content-Type", "text/plain"),
                ("tags", "a=1, b=2"),
            ]),
        )
        .await
        .unwrap();
    let answer: Value = serde_json::from_slice(&created.data).unwrap();
    let url = answer["presignURL"].as_str().expect("a presigned URL");
    assert!(url.contains("X-Amz-Signature="), "{url}");
    let fetched = reqwest::get(url).await.unwrap();
    assert_eq!(fetched.status(), 200);
    assert_eq!(fetched.text().await.unwrap(), "hello s3");
    let presigned = rt
        .invoke(
            "files",
            "presign",
            Vec::new(),
            meta(&[("key", &key), ("presignTTL", "1h")]),
        )
        .await
        .unwrap();
    let answer: Value = serde_json::from_slice(&presigned.data).unwrap();
    assert!(answer["presignURL"]
        .as_str()
        .unwrap()
        .contains("X-Amz-Expires=3600"));

    // bulkCreate, list with a prefix, bulkGet (base64), bulkDelete.
    let items = json!({ "items": [
        { "key": format!("{prefix}/a"), "data": "A" },
        { "key": format!("{prefix}/b"), "data": "Qg==" },
        { "key": "" },
    ]});
    let out = rt
        .invoke(
            "files",
            "bulkCreate",
            items.to_string().into_bytes(),
            meta(&[]),
        )
        .await
        .unwrap();
    let out: Value = serde_json::from_slice(&out.data).unwrap();
    assert_eq!(out[0]["key"], format!("{prefix}/a"));
    assert!(out[0]["location"]
        .as_str()
        .unwrap()
        .ends_with(&format!("{BUCKET}/{prefix}/a")));
    assert_eq!(out[2]["error"], "key is required");
    let listed = rt
        .invoke(
            "files",
            "list",
            json!({ "prefix": format!("{prefix}/"), "maxResults": 2 })
                .to_string()
                .into_bytes(),
            meta(&[]),
        )
        .await
        .unwrap();
    let listed: Value = serde_json::from_slice(&listed.data).unwrap();
    assert_eq!(listed["MaxKeys"], 2);
    assert_eq!(listed["IsTruncated"], true, "{listed}");
    assert_eq!(listed["Contents"].as_array().unwrap().len(), 2, "{listed}");
    assert_eq!(listed["Contents"][0]["Key"], format!("{prefix}/a"));
    assert_eq!(listed["Contents"][0]["Size"], 1);
    let got = rt
        .invoke(
            "files",
            "bulkGet",
            json!({ "items": [{ "key": format!("{prefix}/a") }, { "key": format!("{prefix}/none") }] })
                .to_string()
                .into_bytes(),
            meta(&[("encodeBase64", "true")]),
        )
        .await
        .unwrap();
    let got: Value = serde_json::from_slice(&got.data).unwrap();
    assert_eq!(got[0]["data"], "QQ==");
    assert_eq!(
        got[1]["error"],
        "object not found: key \"".to_string() + &prefix + "/none\" in bucket \"" + BUCKET + "\""
    );
    let deleted = rt
        .invoke(
            "files",
            "bulkDelete",
            json!({ "keys": [format!("{prefix}/a"), format!("{prefix}/b"), key, " "] })
                .to_string()
                .into_bytes(),
            meta(&[]),
        )
        .await
        .unwrap();
    let deleted: Value = serde_json::from_slice(&deleted.data).unwrap();
    assert_eq!(deleted[3]["error"], "key is required");
    assert!(deleted[0].get("error").is_none(), "{deleted}");
    let listed = rt
        .invoke(
            "files",
            "list",
            json!({ "prefix": prefix }).to_string().into_bytes(),
            meta(&[]),
        )
        .await
        .unwrap();
    let listed: Value = serde_json::from_slice(&listed.data).unwrap();
    assert!(listed["Contents"].is_null(), "{listed}");
    rt.shutdown(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_a_bucket_that_does_not_exist_and_wrong_keys_are_named() {
    let rt = runtime(&components(&[
        yaml(
            "bindings.aws.s3",
            "missing",
            &[
                ("bucket", "no-such-bucket-here"),
                ("forcePathStyle", "true"),
            ],
        ),
        yaml(
            "bindings.aws.s3",
            "wrong",
            &[
                ("bucket", BUCKET),
                ("endpoint", CHECKING_ENDPOINT),
                ("secretKey", "Sup3rSecretKeyValue0"),
            ],
        ),
    ]));
    rt.start().await.unwrap();
    let err = rt
        .invoke("missing", "create", b"x".to_vec(), meta(&[("key", "k")]))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert!(err.message().contains("NoSuchBucket"), "{err}");
    assert!(err.message().contains("no-such-bucket-here"), "{err}");
    let err = rt
        .invoke("wrong", "get", Vec::new(), meta(&[("key", "k")]))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Upstream, "{err}");
    assert!(!err.is_retryable(), "wrong keys stay wrong: {err}");
    assert!(!format!("{err} {err:?}").contains("Sup3rSecretKeyValue0"));
    rt.shutdown(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sns_publishes_dapr_s_message_and_subject_to_a_subscribed_queue() {
    let (topic, queue) = (unique("topic"), unique("sub"));
    let created = sns_call(&[("Action", "CreateTopic"), ("Name", &topic)]).await;
    let arn = xml_text(&created, "TopicArn").unwrap();
    create_queue(&queue, json!({})).await;
    sns_call(&[
        ("Action", "Subscribe"),
        ("TopicArn", &arn),
        ("Protocol", "sqs"),
        ("Endpoint", &queue_arn(&queue)),
    ])
    .await;
    let rt = runtime(&components(&[yaml(
        "bindings.aws.sns",
        "notify",
        &[("topicArn", &arn)],
    )]));
    rt.start().await.unwrap();
    let resp = harness::create(
        &rt,
        "notify",
        br#"{"message": "order 7 shipped", "subject": "orders"}"#.to_vec(),
        &[],
    )
    .await;
    assert!(resp.data.is_empty() && resp.metadata.is_empty());
    let err = rt
        .invoke("notify", "create", b"not json".to_vec(), meta(&[]))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    let mut got = Vec::new();
    for _ in 0..50 {
        got = drain_queue(&queue).await;
        if !got.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(got.len(), 1, "{got:?}");
    let envelope: Value = serde_json::from_str(&got[0].0).unwrap();
    assert_eq!(envelope["Message"], "order 7 shipped");
    assert_eq!(envelope["Subject"], "orders");
    let missing = runtime(&components(&[yaml(
        "bindings.aws.sns",
        "gone",
        &[(
            "topicArn",
            "arn:aws:sns:us-east-1:123456789012:no-such-topic",
        )],
    )]));
    missing.start().await.unwrap();
    let err = missing
        .invoke("gone", "create", br#"{"message": "x"}"#.to_vec(), meta(&[]))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert!(err.message().contains("no-such-topic"), "{err}");
    rt.shutdown(Duration::from_secs(5)).await.unwrap();
    delete_queue(&queue).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_puts_the_json_document_as_dapr_maps_it() {
    let table = unique("items");
    create_table(&table).await;
    let rt = runtime(&components(&[yaml(
        "bindings.aws.dynamodb",
        "items",
        &[("table", &table)],
    )]));
    rt.start().await.unwrap();
    let doc = json!({ "id": "o-1", "qty": 3, "price": 9.5, "paid": true, "note": null,
                      "tags": ["a", 1], "address": { "city": "Lyon", "zip": "69001" } });
    let resp = harness::create(&rt, "items", doc.to_string().into_bytes(), &[]).await;
    assert!(resp.data.is_empty() && resp.metadata.is_empty());
    let item = get_item(&table, "o-1").await;
    assert_eq!(item["id"], json!({ "S": "o-1" }));
    assert_eq!(item["qty"], json!({ "N": "3" }));
    assert_eq!(item["price"], json!({ "N": "9.5" }));
    assert_eq!(item["paid"], json!({ "BOOL": true }));
    assert_eq!(item["note"], json!({ "NULL": true }));
    assert_eq!(item["tags"], json!({ "L": [{ "S": "a" }, { "N": "1" }] }));
    assert_eq!(item["address"]["M"]["city"], json!({ "S": "Lyon" }));
    let err = rt
        .invoke("items", "create", b"[1, 2]".to_vec(), meta(&[]))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    assert!(err.message().contains("not an object"), "{err}");
    let missing = runtime(&components(&[yaml(
        "bindings.aws.dynamodb",
        "gone",
        &[("table", "no-such-table-here")],
    )]));
    missing.start().await.unwrap();
    let err = missing
        .invoke("gone", "create", br#"{"id": "x"}"#.to_vec(), meta(&[]))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert!(err.message().contains("no-such-table-here"), "{err}");
    rt.shutdown(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warnings_name_what_dapr_ignores_or_reads_late() {
    let dir = components(&[yaml(
        "bindings.aws.s3",
        "files",
        &[
            ("bucket", BUCKET),
            ("awsRegion", "eu-west-1"),
            ("assumeRoleArn", "arn:aws:iam::1:role/r"),
            ("accessKey", "AKIAONLY"),
            ("secretKey", ""),
        ],
    )]);
    let rt = runtime(&dir);
    let said = harness::said(&rt).join("\n");
    assert!(said.contains("awsRegion"), "{said}");
    assert!(said.contains("assumeRoleArn"), "{said}");
    assert!(said.contains("accessKey without secretKey"), "{said}");

    // A presignTTL that is no duration loads, as in Dapr, with a warning; create names it.
    create_bucket(BUCKET).await;
    let rt = runtime(&components(&[yaml(
        "bindings.aws.s3",
        "files",
        &[
            ("bucket", BUCKET),
            ("forcePathStyle", "true"),
            ("presignTTL", "soon"),
        ],
    )]));
    let said = harness::said(&rt).join("\n");
    assert!(said.contains("presignTTL"), "{said}");
    rt.start().await.unwrap();
    let err = rt
        .invoke(
            "files",
            "create",
            b"x".to_vec(),
            meta(&[("key", &unique("ttl"))]),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    assert!(err.message().contains("presignTTL"), "{err}");
    rt.shutdown(Duration::from_secs(5)).await.unwrap();

    // Kinesis: Dapr reads partitionKey from requests only; in the component it is ignored.
    let rt = runtime(&components(&[kinesis(
        "stream",
        "s",
        "c",
        &[("partitionKey", "fixed")],
    )]));
    let said = harness::said(&rt).join("\n");
    assert!(
        said.contains("partitionKey") && said.contains("each create request's metadata"),
        "{said}"
    );
}

/// A Kinesis component on `stream`, consumer `consumer`.
fn kinesis(name: &str, stream: &str, consumer: &str, extra: &[(&str, &str)]) -> String {
    let mut f = vec![("streamName", stream), ("consumerName", consumer)];
    f.extend_from_slice(extra);
    yaml("bindings.aws.kinesis", name, &f)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kinesis_two_runtimes_with_one_consumer_split_four_shards_and_see_every_record() {
    let (stream, consumer) = (unique("split"), unique("split-consumer"));
    aws::create_stream(&stream, 4).await;
    let dir = components(&[kinesis("jobs", &stream, &consumer, &[])]);
    let (a, b) = (runtime(&dir), runtime(&dir));
    let mut rx = harness::collect_each(&[('a', &a), ('b', &b)], "jobs");
    a.start().await.unwrap();
    assert_eq!(
        aws::lease_owners(&consumer)
            .await
            .values()
            .copied()
            .collect::<Vec<_>>(),
        [4],
        "the first runtime takes every shard at its start"
    );
    b.start().await.unwrap();
    // The second claims its share; the first gives each claimed shard up at its next renewal.
    let started = std::time::Instant::now();
    loop {
        let owners = aws::lease_owners(&consumer).await;
        if owners.len() == 2 && owners.values().all(|n| *n == 2) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(40),
            "the shards were not split: {owners:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let records: Vec<(String, String)> = (0..200)
        .map(|i| (format!("r{i}"), format!("key{i}")))
        .collect();
    aws::put_records(&stream, &records).await;
    let mut seen: std::collections::BTreeMap<String, char> = Default::default();
    let mut by: std::collections::BTreeMap<char, std::collections::BTreeSet<String>> =
        Default::default();
    tokio::time::timeout(WAIT, async {
        while seen.len() < records.len() {
            let (who, ev) = rx.recv().await.unwrap();
            by.entry(who)
                .or_default()
                .insert(ev.metadata["shardId"].clone());
            seen.insert(ev.text(), who);
        }
    })
    .await
    .unwrap_or_else(|_| panic!("only {} of {} records arrived", seen.len(), records.len()));
    // Each shard was read by one runtime, two shards each.
    assert_eq!(by.len(), 2, "{by:?}");
    assert!(by.values().all(|shards| shards.len() == 2), "{by:?}");
    assert!(by[&'a'].is_disjoint(&by[&'b']), "{by:?}");
    a.shutdown(Duration::from_secs(10)).await.unwrap();
    b.shutdown(Duration::from_secs(10)).await.unwrap();
    aws::delete_stream(&stream, &consumer).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kinesis_keeps_a_kcl_lease_table_and_a_new_runtime_resumes_after_the_last_ack() {
    let (stream, consumer) = (unique("lease"), unique("lease-consumer"));
    aws::create_stream(&stream, 1).await;
    let dir = components(&[kinesis("jobs", &stream, &consumer, &[])]);
    let rt = runtime(&dir);
    let mut rx = harness::collect(&rt, "jobs");
    rt.start().await.unwrap();
    // The request's partitionKey is the record's; without one it is a UUID.
    harness::create(&rt, "jobs", "keyed", &[("partitionKey", "order-7")]).await;
    harness::create(&rt, "jobs", "random", &[]).await;
    let keyed = next(&mut rx).await;
    assert_eq!(
        (
            keyed.text().as_str(),
            keyed.metadata["partitionKey"].as_str()
        ),
        ("keyed", "order-7")
    );
    let random = next(&mut rx).await;
    assert_eq!(random.text(), "random");
    assert!(
        uuid::Uuid::parse_str(&random.metadata["partitionKey"]).is_ok(),
        "{:?}",
        random.metadata
    );

    // While it runs: the item of vmware-go-kcl's layout, held by this runtime.
    let item = &aws::leases(&consumer).await["shardId-000000000000"];
    let owner = item["AssignedTo"]["S"].as_str().unwrap().to_string();
    assert!(owner.starts_with("bindery-"), "{item}");
    assert!(
        item["LeaseTimeout"]["S"].as_str().unwrap().ends_with('Z'),
        "{item}"
    );
    rt.shutdown(Duration::from_secs(10)).await.unwrap();

    // Stopped: the lease is free, its checkpoint the last record acked.
    let item = &aws::leases(&consumer).await["shardId-000000000000"];
    assert!(item.get("AssignedTo").is_none(), "{item}");
    assert_eq!(
        item["Checkpoint"]["S"],
        random.metadata["sequenceNumber"].as_str(),
        "{item}"
    );

    let out = rt_output(&dir).await;
    harness::create(&out, "jobs", "later", &[]).await;
    let rt = runtime(&dir);
    let mut rx = harness::collect(&rt, "jobs");
    rt.start().await.unwrap();
    assert_eq!(next(&mut rx).await.text(), "later");
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(
        rx.try_recv().is_err(),
        "only the record after the checkpoint"
    );
    rt.shutdown(Duration::from_secs(10)).await.unwrap();
    aws::delete_stream(&stream, &consumer).await;
}

/// A runtime over `dir` with no input handler, for its output.
async fn rt_output(dir: &harness::Dir) -> bindery::Runtime {
    let rt = runtime(dir);
    rt.decline("jobs").unwrap();
    rt.start().await.unwrap();
    rt
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kinesis_what_the_input_cannot_run_with_is_named_at_start() {
    let stream = unique("start");
    aws::create_stream(&stream, 1).await;
    // Not a stream.
    let rt = runtime(&components(&[kinesis(
        "jobs",
        "no-such-stream-here",
        "c",
        &[],
    )]));
    let err = harness::start_fails(
        &rt,
        ErrorKind::NotFound,
        &["stream \"no-such-stream-here\" does not exist"],
    )
    .await;
    assert_eq!(err.component(), Some("jobs"));
    // Enhanced fan-out, and no consumerName: the file loads (its output works), the input
    // does not start.
    for (extra, says) in [
        (
            &[("consumerName", "c"), ("mode", "extended")][..],
            "mode \"extended\" (enhanced fan-out)",
        ),
        (&[][..], "needs the metadata field \"consumerName\""),
    ] {
        let mut f = vec![("streamName", stream.as_str())];
        f.extend_from_slice(extra);
        let rt = runtime(&components(&[yaml("bindings.aws.kinesis", "jobs", &f)]));
        let _rx = harness::collect(&rt, "jobs");
        harness::start_fails(&rt, ErrorKind::InvalidConfig, &[says]).await;
        let rt = rt_output(&components(&[yaml("bindings.aws.kinesis", "jobs", &f)])).await;
        harness::create(&rt, "jobs", "out", &[]).await;
    }
    aws::delete_stream(&stream, "c").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_keys_are_a_clear_error_without_the_secret_for_every_output() {
    let secret = "Wr0ngSecretKeyOfTheTest";
    let wrong = |type_name: &str, name: &str, own: (&str, &str)| {
        yaml(
            type_name,
            name,
            &[own, ("endpoint", CHECKING_ENDPOINT), ("secretKey", secret)],
        )
    };
    let rt = runtime(&components(&[
        wrong(
            "bindings.aws.sns",
            "topic",
            ("topicArn", "arn:aws:sns:us-east-1:123456789012:t"),
        ),
        wrong("bindings.aws.dynamodb", "table", ("table", "t")),
    ]));
    rt.start().await.unwrap();
    for (name, data) in [
        ("topic", r#"{"message": "m"}"#),
        ("table", r#"{"id": "x"}"#),
    ] {
        let err = rt
            .invoke(name, "create", data.as_bytes().to_vec(), meta(&[]))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Upstream, "{name}: {err}");
        assert!(!err.is_retryable(), "{name}: wrong keys stay wrong: {err}");
        assert!(
            err.message().contains("InvalidClientTokenId")
                || err.message().contains("UnrecognizedClientException"),
            "{name}: the service's refusal: {err}"
        );
        assert!(
            !format!("{err} {err:?}").contains(secret),
            "{name}: {err:?}"
        );
    }
    rt.shutdown(Duration::from_secs(5)).await.unwrap();
}
