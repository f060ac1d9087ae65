"""Kafka input into a Python handler: bindery's `bindings.kafka` input beside confluent-kafka's
`Consumer`, both reading the same pre-produced topic on 127.0.0.1:9092, each round with a
fresh consumer group from the oldest offset.

    python kafka_consume.py produce <topic> <messages>   # a fresh 1-partition topic, filled
    python kafka_consume.py consume <topic> <messages>   # the benchmark
    python kafka_consume.py delete <topic> 0             # drop the topic afterwards

- bindery: a `Runtime` whose `@rt.input` handler counts the messages (and their bytes); the
  binding stores each offset after its handler returned and commits stored offsets every
  second (defaults: one event at a time, a queue of 16).
- baseline: `Consumer.poll()` in a loop calling the same counting function, confluent-kafka's
  defaults otherwise: auto-commit every 5 s of the offsets stored when `poll` returned the
  message (before the app handled it).

Both are timed from the start of the consumer (bindery: `rt.start()`, which creates the
client and subscribes; baseline: `Consumer(...)` and `subscribe`) to the Nth message handled.
The wait for the first message (group join, partition assignment, first fetch) is printed on
its own, and the rate is over the messages after the first: (N - 1) / (t_N - t_1).

Prints "<name> <value>" lines (messages/s, and ms to the first message), each the median of
5 rounds; the rounds of bindery and the baseline alternate.

tansu (0.6) answers every Fetch after at least half the client's max wait (librdkafka's
fetch.wait.max.ms, 500 ms by default: 250 ms) with at most 5 MiB. So ~45,000 messages of
100 bytes (~110 bytes each in the log) come in the first fetch; beyond that a client that
handles messages faster than 5 MiB per 250 ms waits on the broker, not on itself.
"""

import os
import statistics
import sys
import tempfile
import threading
import time
import uuid

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

import bindery

BROKERS = "127.0.0.1:9092"
ROUNDS = 5
SIZE = 100


def produce(topic, n):
    admin = AdminClient({"bootstrap.servers": BROKERS})
    for fut in admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)]).values():
        fut.result(30)
    # Large batches, whatever the machine's load, so that the log's layout (and how many
    # messages fit in one fetch) is the same in every run.
    producer = Producer({"bootstrap.servers": BROKERS, "linger.ms": 50})
    failed = []

    def report(err, msg):
        if err is not None:
            failed.append(err)

    for i in range(n):
        value = f"{i:010d}".encode().ljust(SIZE, b".")
        while True:
            try:
                producer.produce(topic, value, on_delivery=report)
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    if producer.flush(60) or failed:
        sys.exit(f"producing to {topic} failed: {failed[:3]}")


def delete(topic, _n):
    admin = AdminClient({"bootstrap.servers": BROKERS})
    for fut in admin.delete_topics([topic]).values():
        fut.result(30)


class Counter:
    """The handler's work in both: count the messages and their bytes; note the 1st and Nth."""

    def __init__(self, n):
        self.n = n
        self.count = 0
        self.bytes = 0
        self.first = None
        self.last = None
        self.done = threading.Event()

    def __call__(self, data):
        self.count += 1
        self.bytes += len(data)
        if self.count == 1:
            self.first = time.perf_counter_ns()
        if self.count == self.n:
            self.last = time.perf_counter_ns()
            self.done.set()

    def figures(self, start, what):
        if self.count != self.n or self.bytes != self.n * SIZE:
            sys.exit(f"{what}: {self.count} messages of {self.bytes} bytes, expected {self.n} of {self.n * SIZE}")
        rate = (self.n - 1) / ((self.last - self.first) / 1e9)
        return rate, (self.first - start) / 1e6


def component(folder, topic, group):
    path = os.path.join(folder, "events.yaml")
    with open(path, "w") as f:
        f.write(
            "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: events\nspec:\n"
            "  type: bindings.kafka\n  version: v1\n  metadata:\n"
            f"  - name: brokers\n    value: {BROKERS}\n"
            f"  - name: topics\n    value: {topic}\n"
            f"  - name: consumerGroup\n    value: {group}\n"
            "  - name: authType\n    value: none\n"
            "  - name: initialOffset\n    value: oldest\n"
            "  - name: direction\n    value: input\n"
        )
    return folder


def timeout(n):
    return 120 + n / 1000


def bindery_round(topic, n):
    with tempfile.TemporaryDirectory() as folder:
        rt = bindery.Runtime(component(folder, topic, f"bench-bindery-{uuid.uuid4().hex}"))
        counter = Counter(n)

        @rt.input("events")
        def handle(event):
            counter(event.data)

        start = time.perf_counter_ns()
        rt.start()
        try:
            if not counter.done.wait(timeout(n)):
                sys.exit(f"bindery: {counter.count} of {n} messages within {timeout(n)} s")
        finally:
            rt.stop()
        return counter.figures(start, "bindery")


def confluent_round(topic, n):
    counter = Counter(n)
    start = time.perf_counter_ns()
    consumer = Consumer(
        {
            "bootstrap.servers": BROKERS,
            "group.id": f"bench-confluent-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topic])
    deadline = time.monotonic() + timeout(n)
    try:
        while counter.count < n:
            if time.monotonic() > deadline:
                sys.exit(f"confluent-kafka: {counter.count} of {n} messages within {timeout(n)} s")
            msg = consumer.poll(1.0)
            if msg is None:
                continue
            if msg.error():
                print(f"confluent-kafka: {msg.error()}", file=sys.stderr)
                continue
            counter(msg.value())
    finally:
        consumer.close()
    return counter.figures(start, "confluent-kafka")


def consume(topic, n):
    rounds = {"bindery": [], "confluent": []}
    for _ in range(ROUNDS):
        rounds["bindery"].append(bindery_round(topic, n))
        rounds["confluent"].append(confluent_round(topic, n))
    for name, figures in rounds.items():
        print(f"py_kafka_{name}_rate {statistics.median(f[0] for f in figures):.0f}")
        print(f"py_kafka_{name}_first_ms {statistics.median(f[1] for f in figures):.1f}")
        print(
            f"# py_kafka_{name} rounds: "
            + ", ".join(f"{rate:.0f}/s after {first:.0f} ms" for rate, first in figures),
            file=sys.stderr,
        )


if __name__ == "__main__":
    modes = {"produce": produce, "consume": consume, "delete": delete}
    if len(sys.argv) != 4 or sys.argv[1] not in modes:
        sys.exit(__doc__)
    modes[sys.argv[1]](sys.argv[2], int(sys.argv[3]))
