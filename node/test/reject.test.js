"use strict";
// Reject: a handler that throws (or rejects with) a `Reject` rejects the event, which is not
// delivered again (beside a nack, which is), and is counted as rejected. Against the real
// RabbitMQ on 127.0.0.1:5672 (tests/servers/start), in a queue whose rejects a policy
// dead-letters, as an operator would set it up: the rejected messages land in the dead-letter
// queue.

const test = require("node:test");
const assert = require("node:assert/strict");
const { execFileSync } = require("node:child_process");
const crypto = require("node:crypto");

const { Runtime, Reject, BinderyError } = require("bindery");
const { component, componentsDir, cron, quietLogger, sleep, waitFor } = require("./helpers.js");

/** Run rabbitmqctl, trying again for up to 30 s (another test may be restarting the broker). */
async function rabbitmqctl(...args) {
  for (let attempt = 0; ; attempt++) {
    try {
      execFileSync("rabbitmqctl", ["-q", ...args], { stdio: "ignore" });
      return;
    } catch (err) {
      if (attempt >= 30) throw err;
      await sleep(1000);
    }
  }
}

test("a Reject is an Error of its own, not a BinderyError", () => {
  const r = new Reject("not an order");
  assert.ok(r instanceof Error);
  assert.ok(!(r instanceof BinderyError));
  assert.equal(r.name, "Reject");
  assert.equal(r.reason, "not an order");
  assert.equal(r.message, "not an order");
  assert.equal(new Reject().reason, "rejected by the handler");
});

test("a handler's Reject is counted as rejected, apart from nacks", async () => {
  const logger = quietLogger();
  const rt = new Runtime(componentsDir({ "tick.yaml": cron("tick") }), { logger });
  let n = 0;
  rt.on("tick", async () => {
    n += 1;
    if (n === 1) throw new Reject("the first tick is not welcome");
    if (n === 2) throw new Error("the second one fails");
    if (n === 3) return Promise.reject(new Reject("so is the third"));
  });
  await rt.start();
  await waitFor(() => (rt.stats("tick") || {}).acked >= 1, 5000, "an ack");
  const stats = rt.stats("tick");
  await rt.stop();
  assert.equal(stats.rejected, 2, JSON.stringify(stats));
  assert.ok(Object.keys(stats).includes("rejected"), "a counter not 0 is enumerable");
  assert.ok(!Object.keys(stats).includes("panicked"), "one at 0 is not (deepEqual with the first three holds)");
  assert.equal(stats.nacked, 1, JSON.stringify(stats));
  assert.equal(stats.panicked, 0, JSON.stringify(stats));
  assert.ok(logger.warnings.some((w) => String(w[0]).includes("rejected the event: the first tick is not welcome")));
});

test("a rejected message is dead-lettered and a nacked one comes again (RabbitMQ)", async () => {
  const queue = `bindery-node-reject-${crypto.randomUUID()}`;
  const dead = `${queue}-dead`;
  await rabbitmqctl(
    "set_policy", queue, `^${queue}$`,
    JSON.stringify({ "dead-letter-exchange": "", "dead-letter-routing-key": dead }), "--apply-to", "queues",
  );
  const common = { host: "amqp://guest:guest@127.0.0.1:5672", durable: "false", deleteWhenUnused: "true" };
  const handled = [];
  const deadLetters = [];
  let m5Failed = false;
  let jobs, deadStats;
  try {
    const rt = new Runtime(
      componentsDir({
        "jobs.yaml": component("jobs", "bindings.rabbitmq", {
          queueName: queue, backOffDuration: "50ms", backOffMaxRetries: "1", ...common,
        }),
        "dead.yaml": component("dead", "bindings.rabbitmq", { queueName: dead, direction: "input", ...common }),
      }),
      { logger: quietLogger() },
    );
    rt.on("jobs", async (event) => {
      const text = event.text();
      handled.push(text);
      if (text === "m3" || text === "m7") throw new Reject(`${text} is not welcome`);
      if (text === "m5" && !m5Failed) {
        m5Failed = true;
        throw new Error("m5 fails once");
      }
    });
    rt.on("dead", (event) => {
      deadLetters.push(event.text());
    });
    await rt.start();
    for (let i = 0; i < 10; i++) await rt.invoke("jobs", "create", `m${i}`);
    await waitFor(() => handled.length >= 11 && deadLetters.length >= 2, 30000, "every message and two dead letters");
    await sleep(500); // a redelivered reject would show up by now
    jobs = rt.stats("jobs");
    deadStats = rt.stats("dead");
    await rt.stop();
  } finally {
    await rabbitmqctl("clear_policy", queue);
  }
  const want = [...Array.from({ length: 10 }, (_, i) => `m${i}`), "m5"].sort();
  assert.deepEqual([...handled].sort(), want);
  assert.deepEqual([...deadLetters].sort(), ["m3", "m7"]);
  assert.deepEqual(
    [jobs.delivered, jobs.acked, jobs.nacked, jobs.rejected],
    [11, 8, 1, 2],
    JSON.stringify(jobs),
  );
  assert.equal(deadStats.acked, 2);
});
