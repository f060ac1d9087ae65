"""The AWS bindings from Python against moto's server on 127.0.0.1:5000, beside boto3:

- S3: put then get of a 1 KiB object, a distinct key per pair. bindery:
  `rt.invoke("files", "create", data, {"key": k})` then `rt.invoke("files", "get", ...)`;
  baseline: boto3's `put_object` then `get_object(...)["Body"].read()`.
- SQS: a queue holding <messages> messages, consumed into a Python handler until all are
  handled. bindery: an `@rt.input` handler (the binding long-polls, hands each receive of 10 to
  the handler as one run and deletes what it acked in batches); baseline: a boto3 loop of
  `receive_message(MaxNumberOfMessages=10, WaitTimeSeconds=1)`, the handler called on each
  message, then `delete_message_batch` of the ten.

moto answers slowly (tens of milliseconds a call, more for SQS receives), so these figures say
what bindery costs beside boto3 against the same slow server, not what AWS would give.

Usage: python aws.py <work-dir> <s3 pairs per round> <sqs messages per round>
Prints "<name> <value>" lines, each the median of the rounds.
"""

import statistics
import sys
import threading
import time
import uuid
from pathlib import Path

import boto3

import bindery

ENDPOINT = "http://127.0.0.1:5000"
ROUNDS = 3
KEYS = dict(region_name="us-east-1", aws_access_key_id="bench", aws_secret_access_key="bench")
DATA = bytes(range(256)) * 4  # 1 KiB


def component(name, type_, **metadata):
    items = "".join(f"  - name: {k}\n    value: \"{v}\"\n" for k, v in metadata.items())
    return (
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n"
        f"  name: {name}\nspec:\n  type: {type_}\n  version: v1\n  metadata:\n{items}"
    )


def aws(name, type_, **metadata):
    return component(
        name, type_, region="us-east-1", endpoint=ENDPOINT, accessKey="bench", secretKey="bench", **metadata
    )


def s3(work: Path, pairs: int):
    bucket = f"bindery-bench-{uuid.uuid4().hex[:12]}"
    client = boto3.client("s3", endpoint_url=ENDPOINT, **KEYS)
    client.create_bucket(Bucket=bucket)
    folder = work / "s3-components"
    folder.mkdir(exist_ok=True)
    (folder / "files.yaml").write_text(aws("files", "bindings.aws.s3", bucket=bucket, forcePathStyle="true"))
    rt = bindery.Runtime(folder)
    rt.start()

    def with_bindery(key):
        rt.invoke("files", "create", DATA, {"key": key})
        assert rt.invoke("files", "get", metadata={"key": key}).data == DATA

    def with_boto3(key):
        client.put_object(Bucket=bucket, Key=key, Body=DATA)
        assert client.get_object(Bucket=bucket, Key=key)["Body"].read() == DATA

    results = {}
    for name, pair in (("bindery", with_bindery), ("boto3", with_boto3)):
        for i in range(20):  # warm-up: connections, credentials, first-call paths
            pair(f"warm-{name}-{i}")
        per_round = []
        for r in range(ROUNDS):
            started = time.perf_counter_ns()
            for i in range(pairs):
                pair(f"{name}-{r}-{i}")
            per_round.append((time.perf_counter_ns() - started) / pairs / 1000)
        results[name] = statistics.median(per_round)
    rt.stop()
    print(f"py_s3_bindery_us {results['bindery']:.1f}")
    print(f"py_s3_boto3_us {results['boto3']:.1f}")


def fill(client, url, messages):
    for start in range(0, messages, 10):
        n = min(10, messages - start)
        client.send_message_batch(
            QueueUrl=url, Entries=[{"Id": str(j), "MessageBody": f"m{start + j}"} for j in range(n)]
        )


def sqs(work: Path, messages: int):
    client = boto3.client("sqs", endpoint_url=ENDPOINT, **KEYS)
    rates = {"bindery": [], "boto3": []}
    for r in range(ROUNDS):
        # bindery
        queue = f"bindery-bench-{uuid.uuid4().hex[:12]}"
        url = client.create_queue(QueueName=queue)["QueueUrl"]
        fill(client, url, messages)
        folder = work / f"sqs-components-{r}"
        folder.mkdir()
        (folder / "jobs.yaml").write_text(aws("jobs", "bindings.aws.sqs", queueName=queue))
        rt = bindery.Runtime(folder)
        handled = 0
        first = [0]
        done = threading.Event()

        @rt.input("jobs")
        def on_job(event):
            nonlocal handled
            handled += 1
            if handled == 1:
                first[0] = time.perf_counter_ns()
            if handled == messages:
                done.set()

        rt.start()
        assert done.wait(600), f"bindery handled {handled} of {messages}"
        rates["bindery"].append((messages - 1) / ((time.perf_counter_ns() - first[0]) / 1e9))
        rt.stop()
        client.delete_queue(QueueUrl=url)

        # boto3
        queue = f"bindery-bench-{uuid.uuid4().hex[:12]}"
        url = client.create_queue(QueueName=queue)["QueueUrl"]
        fill(client, url, messages)
        seen = 0
        started = None

        def handler(body):
            return body

        while seen < messages:
            got = client.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
            for m in got:
                handler(m["Body"])
                seen += 1
                if seen == 1:
                    started = time.perf_counter_ns()
            if got:
                client.delete_message_batch(
                    QueueUrl=url,
                    Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)],
                )
        rates["boto3"].append((messages - 1) / ((time.perf_counter_ns() - started) / 1e9))
        client.delete_queue(QueueUrl=url)
    print(f"py_sqs_bindery_rate {statistics.median(rates['bindery']):.1f}")
    print(f"py_sqs_boto3_rate {statistics.median(rates['boto3']):.1f}")


if __name__ == "__main__":
    work, pairs, messages = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    s3(work, pairs)
    sqs(work, messages)
