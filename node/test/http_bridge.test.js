"use strict";
// bindery/http: input bindings delivered into an Express app's routes, or any http.Server
// request listener, in-process (no port), as a Dapr sidecar posts them: OPTIONS probe per
// input route, then POST <route> with the data as body and the metadata as headers; 2xx acks,
// anything else nacks. RabbitMQ at 127.0.0.1:5672 for events with data.

const test = require("node:test");
const assert = require("node:assert/strict");
const crypto = require("node:crypto");

const express = require("express");
const { bindings, deliverTo, request } = require("bindery/http");
const { DaprClient } = require("bindery/dapr");
const { component, componentsDir, quietLogger, waitFor } = require("./helpers.js");

const unique = (prefix) => `${prefix}-${process.pid}-${crypto.randomBytes(4).toString("hex")}`;
const rabbit = { host: "amqp://guest:guest@127.0.0.1:5672", durable: "false", deleteWhenUnused: "true" };

test("Express: each event is a POST to /<binding> with the data as body and the metadata as headers; 2xx acks, else nacks", async () => {
  const queue = unique("bindery-node-express");
  const resourcesPath = componentsDir({
    "orders.yaml": component("orders", "bindings.rabbitmq", { queueName: queue, backOffDuration: "50ms", backOffMaxRetries: "1", ...rabbit }),
    "tick.yaml": component("tick", "bindings.cron", { schedule: "@every 100ms", route: "/cron/tick" }),
    "unrouted.yaml": component("unrouted", "bindings.cron", { schedule: "@every 100ms" }),
  });
  const app = express();
  app.use(express.json());
  const orders = [];
  const ticks = [];
  let failedOnce = false;
  app.post("/orders", (req, res) => {
    orders.push({ body: req.body, type: req.headers["content-type"] });
    if (req.body.id === 2 && !failedOnce) {
      failedOnce = true;
      return res.status(503).send("not now");
    }
    res.sendStatus(200);
  });
  app.post("/cron/tick", (req, res) => {
    ticks.push(req.headers);
    res.json({ ok: true });
  });
  const logger = quietLogger();
  const bridge = bindings(app, { resourcesPath, logger });
  await bridge.start();
  try {
    // The app has no route for /unrouted: its probe answered 404, so it was not started.
    assert.deepEqual(bridge.taken.sort(), ["orders", "tick"]);
    assert.equal(bridge.runtime.stats("unrouted"), null);
    const client = new DaprClient({ resourcesPath });
    for (const id of [1, 2, 3]) await client.binding.send("orders", "create", { id });
    await waitFor(() => orders.length >= 4 && ticks.length >= 1, 30000, "four orders and a tick");
  } finally {
    await bridge.stop();
  }
  assert.deepEqual(orders.map((o) => o.body.id).sort(), [1, 2, 2, 3]);
  assert.ok(orders.every((o) => o.type === "application/json"));
  assert.ok(ticks[0].readtimeutc, JSON.stringify(ticks[0])); // cron's metadata, as headers
  assert.ok(
    logger.errors.some((e) => String(e[1] && e[1].message).includes("answered POST /orders with status 503: not now")),
    JSON.stringify(logger.errors.map((e) => String(e[1]))),
  );
  assert.deepEqual(logger.warnings, []); // the declined binding is not warned about
});

test("a bare (req, res) listener: the body and headers arrive, a throw or a 500 nacks", async () => {
  const resourcesPath = componentsDir({ "tick.yaml": component("tick", "bindings.cron", { schedule: "@every 100ms" }) });
  const seen = [];
  let n = 0;
  const listener = (req, res) => {
    if (req.method === "OPTIONS") {
      res.statusCode = 405; // Dapr takes a 405 too
      return res.end();
    }
    n += 1;
    seen.push({ method: req.method, url: req.url, timezone: req.headers.timezone });
    if (n === 1) throw new Error("the first one throws");
    res.statusCode = n === 2 ? 500 : 204;
    res.end();
  };
  const logger = quietLogger();
  const bridge = deliverTo(listener, { resourcesPath, logger });
  await bridge.start();
  await waitFor(() => (bridge.runtime.stats("tick") || {}).acked >= 2, 10000, "two acks");
  const stats = bridge.runtime.stats("tick");
  await bridge.stop();
  assert.equal(stats.nacked, 2, JSON.stringify(stats));
  assert.deepEqual(seen[0], { method: "POST", url: "/tick", timezone: seen[0].timezone });
  assert.ok(seen[0].timezone);
  assert.ok(logger.errors.some((e) => String(e[1] && e[1].message).includes("the app threw on POST /tick")));

  // request() is the same in-process call, for an app's own tests.
  const answer = await request(
    (req, res) => {
      let body = "";
      req.on("data", (c) => (body += c));
      req.on("end", () => {
        res.setHeader("x-got", req.headers["x-trace"]);
        res.statusCode = 201;
        res.end(`echo ${body}`);
      });
    },
    { method: "POST", url: "/echo", headers: { "X-Trace": "t1" }, body: "hello" },
  );
  assert.equal(answer.status, 201);
  assert.equal(answer.headers["x-got"], "t1");
  assert.equal(answer.body.toString(), "echo hello");
});

test("Express: app.listen() starts the bindings and closing its server stops them", async () => {
  const resourcesPath = componentsDir({ "tick.yaml": component("tick", "bindings.cron", { schedule: "@every 100ms" }) });
  const app = express();
  let ticks = 0;
  app.post("/tick", (req, res) => {
    ticks += 1;
    res.sendStatus(200);
  });
  const bridge = bindings(app, { resourcesPath, logger: quietLogger() });
  const server = app.listen(6141, "127.0.0.1");
  await waitFor(() => ticks >= 2, 10000, "ticks once the app listens");
  await waitFor(() => (bridge.runtime.stats("tick") || {}).acked >= 2, 10000, "acks");
  await new Promise((resolve) => server.close(resolve));
  await waitFor(() => bridge._starting === null, 10000, "the bridge to stop");
  const after = ticks;
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.ok(ticks <= after + 1, `no ticks after the server closed (${after} -> ${ticks})`);
});
