"use strict";
// The Kafka binding from Node, against the real Kafka-protocol broker on 127.0.0.1:9092
// (tansu, started by tests/servers/start kafka). The topic is made with kafkajs' admin client
// (the broker does not create topics on use); topic and consumer group are new per test.
const test = require("node:test");
const assert = require("node:assert/strict");
const crypto = require("node:crypto");
const { Kafka, logLevel } = require("kafkajs");

const { Runtime } = require("bindery");
const { component, componentsDir, quietLogger, sleep } = require("./helpers.js");

const BROKERS = "127.0.0.1:9092";
// Joining the consumer group and getting the first assignment takes a few seconds.
const WAIT_MS = 60000;

const unique = (what) => `bindery-node-${what}-${crypto.randomUUID()}`;

async function createTopic(topic) {
  const admin = new Kafka({ clientId: "bindery-node-tests", brokers: [BROKERS], logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    assert.equal(await admin.createTopics({ topics: [{ topic, numPartitions: 1, replicationFactor: 1 }] }), true);
  } finally {
    await admin.disconnect();
  }
}

test("kafka: create reaches the handler with every metadata key; a failed message comes back first", async () => {
  const topic = unique("orders");
  await createTopic(topic);
  const dir = componentsDir({
    "orders.yaml": component("orders", "bindings.kafka", {
      brokers: BROKERS,
      authType: "none",
      topics: topic,
      publishTopic: topic,
      consumerGroup: unique("group"),
      initialOffset: "oldest",
      backOffDuration: "50ms",
      backOffMaxRetries: "1",
    }),
  });
  const logger = quietLogger();
  const rt = new Runtime(dir, { logger });
  const seen = [];
  let lastArrived;
  const last = new Promise((resolve) => (lastArrived = resolve));
  // Not async: the first failure throws, the second rejects; both nack.
  rt.on("orders", (event) => {
    seen.push(event);
    const tries = seen.filter((e) => e.data.equals(event.data)).length;
    if (event.text() === "m0" && tries === 1) throw new Error("failure 1 of m0");
    if (event.text() === "m0" && tries === 2) return Promise.reject(new Error("failure 2 of m0"));
    if (event.text() === "m9") lastArrived();
    return undefined;
  });
  await rt.start();
  let beforeMs;
  try {
    beforeMs = Date.now();
    const hello = Buffer.from([0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x20, 0x00, 0xff]);
    const resp = await rt.invoke("orders", "create", hello, { partitionKey: "customer-7", traceId: "a b&c" });
    assert.equal(resp.data.length, 0);
    assert.deepEqual(resp.metadata, {});
    for (let i = 0; i < 10; i++) await rt.invoke("orders", "create", `m${i}`);
    let timer;
    await Promise.race([
      last,
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`m9 did not arrive; seen: ${seen.map((e) => e.text())}`)), WAIT_MS);
      }),
    ]).finally(() => clearTimeout(timer));
    await sleep(300); // room for a duplicate to show up, were there one
  } finally {
    assert.equal(await rt.stop(), true);
  }

  // m0 failed twice and came back before m1; nothing was lost, skipped or repeated.
  const want = ["m0", "m0", ...Array.from({ length: 10 }, (_, i) => `m${i}`)];
  assert.deepEqual(seen.slice(1).map((e) => e.text()), want);
  assert.deepEqual(
    seen.map((e) => e.metadata.__offset),
    ["0", "1", "1", ...Array.from({ length: 10 }, (_, i) => String(i + 1))],
  );
  assert.deepEqual(rt.stats("orders"), { delivered: 13, acked: 11, nacked: 2 });
  const logged = logger.errors.map((args) => args.map(String).join(" "));
  assert.equal(logged.length, 2, logged.join("\n"));
  assert.match(logged[0], /handler for "orders" failed; the event is nacked:.*failure 1 of m0/);
  assert.match(logged[1], /failure 2 of m0/);

  // Dapr's event metadata: key, topic, partition, offset, timestamp and every record header
  // (partitionKey is sent as a header too, as Dapr does).
  const first = seen[0];
  assert.equal(first.binding, "orders");
  assert.ok(Buffer.isBuffer(first.data));
  assert.deepEqual([...first.data], [0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x20, 0x00, 0xff]);
  const { __timestamp, ...rest } = first.metadata;
  const timestamp = Number(__timestamp);
  assert.ok(timestamp >= beforeMs - 5000 && timestamp <= beforeMs + 60000, `${beforeMs} ${__timestamp}`);
  assert.deepEqual(rest, {
    __key: "customer-7",
    __topic: topic,
    __partition: "0",
    __offset: "0",
    partitionKey: "customer-7",
    traceId: "a b&c",
  });
  assert.deepEqual(Object.keys(seen.at(-1).metadata).sort(), ["__offset", "__partition", "__timestamp", "__topic"]);
});

test("kafka: runtimes stopped with a short timeout in the middle of a run still make progress", async () => {
  // Each event handled is settled (its offset stored) as it completes, and a stop ends the run
  // after the event in hand: rounds of start, 0.3 s of slow events, stop({ timeoutMs: 50 })
  // get through 1,000 messages, each handled about once.
  const topic = unique("short-runs");
  await createTopic(topic);
  const dir = componentsDir({
    "orders.yaml": component("orders", "bindings.kafka", {
      brokers: BROKERS,
      authType: "none",
      topics: topic,
      publishTopic: topic,
      consumerGroup: unique("group"),
      initialOffset: "oldest",
    }),
  });
  const producer = new Runtime(dir, { logger: quietLogger() });
  for (let i = 0; i < 1000; i++) await producer.invoke("orders", "create", `m${i}`);
  await producer.stop();

  const handled = [];
  let rounds = 0;
  while (new Set(handled).size < 1000 && rounds < 12) {
    rounds += 1;
    const rt = new Runtime(dir, { logger: quietLogger() });
    let arrived;
    const first = new Promise((resolve) => (arrived = resolve));
    rt.on("orders", async (event) => {
      await sleep(1);
      handled.push(event.text());
      arrived();
    });
    await rt.start();
    let timer;
    await Promise.race([
      first,
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`round ${rounds}: nothing arrived`)), WAIT_MS);
      }),
    ]).finally(() => clearTimeout(timer));
    await sleep(300);
    await rt.stop({ timeoutMs: 50 });
  }
  const distinct = new Set(handled).size;
  const duplicates = handled.length - distinct;
  assert.equal(distinct, 1000, `${distinct} of 1000 handled in ${rounds} rounds (${duplicates} duplicates)`);
  assert.ok(rounds <= 8, `${rounds} rounds`);
  // At most the event in hand at each stop may come again.
  assert.ok(duplicates <= rounds, `${duplicates} duplicates in ${rounds} rounds`);
});
