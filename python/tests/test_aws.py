"""The AWS bindings from Python, against moto's server on 127.0.0.1:5000 (a local AWS, started
by tests/servers/start). The bucket and the queues are made with plain HTTP requests to moto
(it checks no signature), not with the binding under test; names are new per test."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

import bindery
from conftest import component

MOTO = "http://127.0.0.1:5000"
WAIT = 30.0


def unique(what: str) -> str:
    return f"bindery-py-{what}-{uuid.uuid4().hex[:16]}"


def moto(service: str, path: str = "/", method: str = "POST", target: str = "", body: dict | None = None) -> dict:
    """One unsigned request to moto: the Authorization header only names the service."""
    headers = {
        "Authorization": f"AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/{service}/aws4_request, "
        "SignedHeaders=host, Signature=00"
    }
    data = None
    if target:
        headers["X-Amz-Target"] = target
        headers["Content-Type"] = "application/x-amz-json-1.0"
        data = json.dumps(body or {}).encode()
    req = urllib.request.Request(MOTO + path, data=data, headers=headers, method=method)
    with urllib.request.urlopen(req, timeout=10) as resp:
        text = resp.read()
    return json.loads(text) if target and text else {}


def aws_component(name: str, type_: str, **metadata: str) -> str:
    return component(
        name,
        type_,
        region="us-east-1",
        endpoint=MOTO,
        accessKey="test-access-key",
        secretKey="test-secret-key",
        **metadata,
    )


def test_s3_create_get_list_delete_round_trip(tmp_path: Path) -> None:
    bucket = unique("bucket")
    moto("s3", f"/{bucket}", method="PUT")
    folder = tmp_path / "components"
    folder.mkdir()
    (folder / "files.yaml").write_text(
        aws_component("files", "bindings.aws.s3", bucket=bucket, forcePathStyle="true")
    )
    rt = bindery.Runtime(folder)
    rt.start()
    try:
        created = rt.invoke("files", "create", b"hello \x00\xff", {"key": "a/one.bin"})
        # Dapr's answer: where the object is, its version (none without versioning).
        assert created.json()["location"] == f"{MOTO}/{bucket}/a/one.bin"
        assert created.metadata["key"] == "a/one.bin"
        # Without a key, a UUID names the object.
        other = rt.invoke("files", "create", {"n": 2}).metadata["key"]
        assert uuid.UUID(other)

        assert rt.invoke("files", "get", metadata={"key": "a/one.bin"}).data == b"hello \x00\xff"
        listed = rt.invoke("files", "list", {"maxResults": 10}).json()
        assert sorted(o["Key"] for o in listed["Contents"]) == sorted(["a/one.bin", other])
        assert listed["IsTruncated"] is False
        only_a = rt.invoke("files", "list", {"prefix": "a/"}).json()
        assert [o["Key"] for o in only_a["Contents"]] == ["a/one.bin"]

        rt.invoke("files", "delete", metadata={"key": "a/one.bin"})
        with pytest.raises(bindery.NotFoundError) as info:
            rt.invoke("files", "get", metadata={"key": "a/one.bin"})
        assert "object not found" in str(info.value)
        with pytest.raises(bindery.InvalidArgumentError) as info:
            rt.invoke("files", "get")
        assert "required metadata 'key' missing" in str(info.value)
    finally:
        assert rt.stop() is True


def test_sqs_a_message_failed_twice_comes_a_third_time_and_nothing_is_lost(tmp_path: Path) -> None:
    queue = unique("queue")
    url = moto(
        "sqs",
        target="AmazonSQS.CreateQueue",
        body={"QueueName": queue, "Attributes": {"VisibilityTimeout": "1"}},
    )["QueueUrl"]
    folder = tmp_path / "components"
    folder.mkdir()
    (folder / "jobs.yaml").write_text(aws_component("jobs", "bindings.aws.sqs", queueName=queue))
    rt = bindery.Runtime(folder)
    seen: list = []
    done = threading.Event()

    @rt.input("jobs")
    def on_job(event: bindery.Event) -> None:
        seen.append(event)
        if event.text() == "m0" and sum(1 for e in seen if e.text() == "m0") <= 2:
            raise RuntimeError("not yet")
        texts = [e.text() for e in seen]
        if texts.count("m0") == 3 and all(f"m{i}" in texts for i in range(10)):
            done.set()

    rt.start()
    try:
        resp = rt.invoke("jobs", "create", "m0")
        assert resp.data == b"" and resp.metadata == {}
        for i in range(1, 10):
            rt.invoke("jobs", "create", f"m{i}")
        assert done.wait(WAIT), f"seen: {[e.text() for e in seen]}"
        time.sleep(1.5)  # past the visibility timeout: a message not deleted would be back
    finally:
        assert rt.stop() is True

    texts = [e.text() for e in seen]
    assert texts.count("m0") == 3, texts
    assert sorted(t for t in texts if t != "m0") == [f"m{i}" for i in range(1, 10)], texts
    # SQS's metadata: the third delivery of m0 says it is the third.
    last_m0 = [e for e in seen if e.text() == "m0"][-1]
    assert last_m0.metadata["receiveCount"] == "3"
    assert last_m0.metadata["messageId"]
    assert rt.stats("jobs") == {"delivered": 12, "acked": 10, "nacked": 2}
    # Every acked message was deleted: the queue is empty.
    left = moto(
        "sqs",
        target="AmazonSQS.ReceiveMessage",
        body={"QueueUrl": url, "MaxNumberOfMessages": 10, "WaitTimeSeconds": 0},
    )
    assert not left.get("Messages"), left
