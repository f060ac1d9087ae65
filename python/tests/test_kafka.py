"""The Kafka binding from Python, against the real Kafka-protocol broker on 127.0.0.1:9092
(tansu, started by tests/servers/start kafka). The topic is made with kafka-python's admin
client (the broker does not create topics on use); topic and consumer group are new per test."""

from __future__ import annotations

import logging
import threading
import time
import uuid
import warnings
from pathlib import Path

import bindery
from conftest import component

with warnings.catch_warnings():
    # kafka-python reads its protocol schemas with importlib.resources.read_text, which
    # Python 3.11 deprecates: a warning per schema, none of them about this test.
    warnings.simplefilter("ignore", DeprecationWarning)
    from kafka.admin import KafkaAdminClient, NewTopic

BROKERS = "127.0.0.1:9092"
# Joining the consumer group and getting the first assignment takes a few seconds.
WAIT = 60.0


def unique(what: str) -> str:
    return f"bindery-py-{what}-{uuid.uuid4().hex}"


def create_topic(name: str) -> None:
    admin = KafkaAdminClient(bootstrap_servers=BROKERS, client_id="bindery-python-tests")
    try:
        admin.create_topics([NewTopic(name=name, num_partitions=1, replication_factor=1)])
    finally:
        admin.close()


def test_create_reaches_the_handler_with_every_metadata_key_and_a_failed_message_comes_back_first(
    tmp_path: Path, caplog
) -> None:
    topic = unique("orders")
    create_topic(topic)
    folder = tmp_path / "components"
    folder.mkdir()
    (folder / "orders.yaml").write_text(
        component(
            "orders",
            "bindings.kafka",
            brokers=BROKERS,
            authType="none",
            topics=topic,
            publishTopic=topic,
            consumerGroup=unique("group"),
            initialOffset="oldest",
            backOffDuration="50ms",
            backOffMaxRetries="1",
        )
    )
    rt = bindery.Runtime(folder)
    seen = []
    last = threading.Event()

    @rt.input("orders")
    def on_order(event: bindery.Event) -> None:
        seen.append(event)
        tries = sum(1 for e in seen if e.data == event.data)
        if event.data == b"m0" and tries <= 2:
            raise RuntimeError(f"failure {tries} of m0")
        if event.data == b"m9":
            last.set()

    with caplog.at_level(logging.ERROR, logger="bindery"):
        rt.start()
        try:
            before_ms = int(time.time() * 1000)
            resp = rt.invoke(
                "orders", "create", b"hello \x00\xff", {"partitionKey": "customer-7", "traceId": "a b&c"}
            )
            assert resp.data == b"" and resp.metadata == {}
            for i in range(10):
                rt.invoke("orders", "create", f"m{i}")
            assert last.wait(WAIT), f"m9 did not arrive; seen: {[e.data for e in seen]}"
            time.sleep(0.3)  # room for a duplicate to show up, were there one
        finally:
            assert rt.stop() is True

    # m0 failed twice and came back before m1; nothing was lost, skipped or repeated.
    assert [e.data for e in seen] == [b"hello \x00\xff", b"m0", b"m0"] + [f"m{i}".encode() for i in range(10)]
    assert [e.metadata["__offset"] for e in seen] == ["0", "1", "1"] + [str(i) for i in range(1, 11)]
    assert rt.stats("orders") == {"delivered": 13, "acked": 11, "nacked": 2}
    failures = [r.exc_text for r in caplog.records if r.exc_text and "failure" in r.exc_text]
    assert len(failures) == 2 and "RuntimeError: failure 2 of m0" in failures[1], caplog.text

    # Dapr's event metadata: key, topic, partition, offset, timestamp and every record header
    # (partitionKey is sent as a header too, as Dapr does).
    first = seen[0]
    assert first.binding == "orders"
    timestamp = int(first.metadata["__timestamp"])
    assert before_ms - 5000 <= timestamp <= before_ms + 60_000, (before_ms, timestamp)
    assert {k: v for k, v in first.metadata.items() if k != "__timestamp"} == {
        "__key": "customer-7",
        "__topic": topic,
        "__partition": "0",
        "__offset": "0",
        "partitionKey": "customer-7",
        "traceId": "a b&c",
    }
    assert sorted(seen[-1].metadata) == ["__offset", "__partition", "__timestamp", "__topic"]


def test_short_runs_stopped_with_a_short_timeout_make_progress(tmp_path: Path) -> None:
    """A runtime stopped with a short timeout in the middle of a run keeps the work done: each
    event handled was acked (its offset stored) as it completed and the run ended after the
    event in hand, so runtimes started and stopped one after the other get through 1,000
    messages in a few rounds, each message handled about once."""
    topic = unique("short-runs")
    create_topic(topic)
    folder = tmp_path / "components"
    folder.mkdir()
    (folder / "orders.yaml").write_text(
        component(
            "orders",
            "bindings.kafka",
            brokers=BROKERS,
            authType="none",
            topics=topic,
            publishTopic=topic,
            consumerGroup=unique("group"),
            initialOffset="oldest",
        )
    )
    producer = bindery.Runtime(folder)
    for i in range(1000):
        producer.invoke("orders", "create", f"m{i}")
    producer.stop()

    handled: list = []
    rounds = 0
    while len(set(handled)) < 1000 and rounds < 12:
        rounds += 1
        rt = bindery.Runtime(folder)
        first = threading.Event()

        @rt.input("orders")
        def on_order(event: bindery.Event) -> None:
            time.sleep(0.001)
            handled.append(event.data)
            first.set()

        rt.start()
        assert first.wait(WAIT), f"round {rounds}: nothing arrived"
        time.sleep(0.3)
        rt.stop(timeout=0.05)

    distinct = len(set(handled))
    duplicates = len(handled) - distinct
    assert distinct == 1000, f"{distinct} of 1000 handled in {rounds} rounds ({duplicates} duplicates)"
    assert rounds <= 8, f"{rounds} rounds"
    # At most the event in hand at each stop may come again.
    assert duplicates <= rounds, f"{duplicates} duplicates in {rounds} rounds"
