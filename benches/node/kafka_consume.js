"use strict";
// Kafka input into a Node handler: bindery's `bindings.kafka` input (the addon in node/, as
// built by `node node/build.js --release`) beside kafkajs `consumer.run({ eachMessage })`, both
// reading the same pre-produced topic on 127.0.0.1:9092 (benches/python/kafka_consume.py
// produce), each round with a fresh consumer group from the oldest offset.
//
// - bindery: `rt.on("events", handler)`; the handler counts the messages (and their bytes).
//   The binding stores each offset after its handler returned and commits stored offsets every
//   second (defaults: one event at a time, a queue of 16).
// - baseline: kafkajs with its defaults but one: `eachMessage` runs the same counting
//   function, each offset is resolved after its handler returned, and resolved offsets are
//   committed at the end of each fetched batch. The one change: `maxWaitTimeInMs` is 500, as
//   librdkafka's fetch.wait.max.ms (bindery's), instead of 5000, because tansu answers every
//   Fetch after half the client's max wait: with 5000 the first message takes 2.5 s more.
//
// Both are timed from the start of the consumer (bindery: `rt.start()`, which creates the
// client and subscribes; kafkajs: `connect()`, `subscribe()`, `run()`) to the Nth message
// handled. The wait for the first message (group join, assignment, first fetch) is printed on
// its own and the rate is over the messages after the first: (N - 1) / (t_N - t_1).
//
// Usage: node kafka_consume.js <dir with node_modules/kafkajs> <topic> <messages>
// Prints "<name> <value>" lines (messages/s, and ms to the first message), each the median of
// 5 rounds; the rounds of bindery and kafkajs alternate.

const crypto = require("node:crypto");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");

const { Runtime } = require(path.join(__dirname, "..", "..", "node"));

const BROKERS = "127.0.0.1:9092";
const ROUNDS = 5;
const SIZE = 100;

const now = () => process.hrtime.bigint();
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

/** The handler's work in both: count the messages and their bytes; note the 1st and Nth. */
class Counter {
  constructor(n) {
    this.n = n;
    this.count = 0;
    this.bytes = 0;
    this.first = null;
    this.last = null;
    this.done = new Promise((resolve) => (this.resolve = resolve));
  }

  add(data) {
    this.count += 1;
    this.bytes += data.length;
    if (this.count === 1) this.first = now();
    if (this.count === this.n) {
      this.last = now();
      this.resolve();
    }
  }

  /** [messages/s after the first, ms from start to the first] */
  figures(start, what) {
    if (this.count !== this.n || this.bytes !== this.n * SIZE) {
      throw new Error(`${what}: ${this.count} messages of ${this.bytes} bytes, expected ${this.n} of ${this.n * SIZE}`);
    }
    return [(this.n - 1) / (Number(this.last - this.first) / 1e9), Number(this.first - start) / 1e6];
  }
}

function within(promise, n, counter, what) {
  const ms = 120_000 + n;
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: ${counter.count} of ${n} messages within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

const group = (who) => `bench-${who}-${crypto.randomUUID()}`;

async function binderyRound(topic, n) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bindery-bench-"));
  try {
    fs.writeFileSync(
      path.join(dir, "events.yaml"),
      [
        "apiVersion: dapr.io/v1alpha1",
        "kind: Component",
        "metadata:",
        "  name: events",
        "spec:",
        "  type: bindings.kafka",
        "  version: v1",
        "  metadata:",
        ...[
          ["brokers", BROKERS],
          ["topics", topic],
          ["consumerGroup", group("bindery")],
          ["authType", "none"],
          ["initialOffset", "oldest"],
          ["direction", "input"],
        ].flatMap(([k, v]) => [`  - name: ${k}`, `    value: ${v}`]),
        "",
      ].join("\n"),
    );
    const rt = new Runtime(dir);
    const counter = new Counter(n);
    rt.on("events", (event) => {
      counter.add(event.data);
    });
    const start = now();
    await rt.start();
    try {
      await within(counter.done, n, counter, "bindery");
    } finally {
      await rt.stop();
    }
    return counter.figures(start, "bindery");
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function kafkajsRound(Kafka, logLevel, topic, n) {
  const kafka = new Kafka({ clientId: "bindery-bench", brokers: [BROKERS], logLevel: logLevel.ERROR });
  const consumer = kafka.consumer({ groupId: group("kafkajs"), maxWaitTimeInMs: 500 });
  const counter = new Counter(n);
  const start = now();
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        counter.add(message.value);
      },
    });
    await within(counter.done, n, counter, "kafkajs");
  } finally {
    await consumer.disconnect();
  }
  return counter.figures(start, "kafkajs");
}

async function main() {
  const [kafkajsDir, topic, messages] = process.argv.slice(2);
  const n = Number(messages);
  if (!kafkajsDir || !topic || !(n > 1)) throw new Error("usage: node kafka_consume.js <kafkajs-dir> <topic> <messages>");
  const { Kafka, logLevel } = require(path.join(path.resolve(kafkajsDir), "node_modules", "kafkajs"));
  const rounds = { bindery: [], kafkajs: [] };
  for (let r = 0; r < ROUNDS; r++) {
    rounds.bindery.push(await binderyRound(topic, n));
    rounds.kafkajs.push(await kafkajsRound(Kafka, logLevel, topic, n));
  }
  for (const [name, figures] of Object.entries(rounds)) {
    console.log(`node_kafka_${name}_rate ${median(figures.map((f) => f[0])).toFixed(0)}`);
    console.log(`node_kafka_${name}_first_ms ${median(figures.map((f) => f[1])).toFixed(1)}`);
    console.error(
      `# node_kafka_${name} rounds: ${figures.map(([rate, first]) => `${rate.toFixed(0)}/s after ${first.toFixed(0)} ms`).join(", ")}`,
    );
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
