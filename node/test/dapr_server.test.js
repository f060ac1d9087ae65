"use strict";
// bindery/dapr's DaprServer (the js-sdk's, for input bindings), the gRPC shape of
// client.binding.send, the app ID taken from APP_ID / DAPR_APP_ID, and one runtime per process
// shared by DaprServer, DaprClient and the HTTP bridge. Against the real RabbitMQ
// (127.0.0.1:5672) and PostgreSQL (127.0.0.1:5432), as tests/servers/start runs them.

const test = require("node:test");
const assert = require("node:assert/strict");
const { execFileSync } = require("node:child_process");
const crypto = require("node:crypto");
const fs = require("node:fs");
const path = require("node:path");

const { DaprServer, DaprClient, CommunicationProtocolEnum } = require("bindery/dapr");
const { bindings } = require("bindery/http");
const { BinderyError } = require("bindery");
const { component, componentsDir, storage, quietLogger, waitFor } = require("./helpers.js");

const { GRPC, HTTP } = CommunicationProtocolEnum;
const unique = (prefix) => `${prefix}-${process.pid}-${crypto.randomBytes(4).toString("hex")}`;
const rabbit = { host: "amqp://guest:guest@127.0.0.1:5672", durable: "false", deleteWhenUnused: "true" };

/** The js-sdk's logger option, kept quiet: { service } with error and warn. */
function sdkLogger() {
  const service = quietLogger();
  return { logger: { service }, service };
}

test("receive: data arrives parsed as JSON, or as text when it is not JSON; a throw nacks and the event comes again", async () => {
  const queue = unique("bindery-node-receive");
  const resourcesPath = componentsDir({
    "jobs.yaml": component("jobs", "bindings.rabbitmq", { queueName: queue, backOffDuration: "50ms", backOffMaxRetries: "1", ...rabbit }),
  });
  const { logger, service } = sdkLogger();
  const server = new DaprServer({ serverHost: "127.0.0.1", serverPort: "6140", resourcesPath, logger });
  const got = [];
  let failed = false;
  await server.binding.receive("jobs", async (data) => {
    got.push(data);
    if (data === "plain words, not JSON" && !failed) {
      failed = true;
      throw new Error("the first delivery fails");
    }
  });
  await server.start();
  try {
    await server.client.binding.send("jobs", "create", "plain words, not JSON");
    await server.client.binding.send("jobs", "create", { order: 7, items: ["a", "b"] });
    await waitFor(() => got.length >= 3, 30000, "three deliveries");
  } finally {
    await server.stop();
  }
  // The retried one may come before or after the next message (RabbitMQ's retry aside).
  const texts = got.filter((d) => typeof d === "string");
  assert.deepEqual(texts, ["plain words, not JSON", "plain words, not JSON"]);
  assert.deepEqual(got.filter((d) => typeof d !== "string"), [{ order: 7, items: ["a", "b"] }]);
  assert.ok(
    service.errors.some((e) => String(e[0]).includes('handler for "jobs" failed; the event is nacked')),
    JSON.stringify(service.errors),
  );
});

test("receive: no data is {} over HTTP and \"\" over gRPC, as the js-sdk gives it; over HTTP a binding's route picks it", async () => {
  const resourcesPath = componentsDir({
    "tick.yaml": component("tick", "bindings.cron", { schedule: "@every 100ms" }),
    "tock.yaml": component("tock", "bindings.cron", { schedule: "@every 100ms", route: "/ticktock" }),
  });
  const http = new DaprServer({ resourcesPath, logger: sdkLogger().logger });
  const overHttp = [];
  const routed = [];
  await http.binding.receive("tick", (data) => overHttp.push(data));
  await http.binding.receive("ticktock", (data) => routed.push(data)); // daprd posts tock's events to /ticktock
  await http.start();
  await waitFor(() => overHttp.length >= 1 && routed.length >= 1, 10000, "events of tick and tock");
  await http.stop();
  assert.deepEqual(overHttp[0], {});
  assert.deepEqual(routed[0], {});

  const grpc = new DaprServer({ resourcesPath, communicationProtocol: GRPC, logger: sdkLogger().logger });
  const overGrpc = [];
  await grpc.binding.receive("tick", (data) => overGrpc.push(data));
  await grpc.start();
  await waitFor(() => overGrpc.length >= 1, 10000, "an event over gRPC");
  await grpc.stop();
  assert.equal(overGrpc[0], "");
});

test("receive: a name that is no input binding rejects naming the inputs; after start() it is an invalid_state", async () => {
  const [files] = storage("files");
  const resourcesPath = componentsDir({ "tick.yaml": component("tick", "bindings.cron", { schedule: "@every 1h" }), "files.yaml": files });
  const server = new DaprServer({ resourcesPath, logger: sdkLogger().logger });
  await assert.rejects(server.binding.receive("tik", () => {}), (err) => {
    assert.ok(err instanceof BinderyError);
    assert.equal(err.code, "not_found");
    assert.match(err.message, /tick/);
    return true;
  });
  await assert.rejects(server.binding.receive("files", () => {}), { code: "not_found" });
  await server.binding.receive("tick", () => {});
  await server.start();
  const late = new DaprServer({ resourcesPath, logger: sdkLogger().logger });
  await assert.rejects(late.binding.receive("tick", () => {}), (err) => {
    assert.equal(err.code, "invalid_state");
    assert.match(err.message, /before the first start\(\)/);
    return true;
  });
  await server.stop();
  assert.throws(() => new DaprServer("127.0.0.1", "50000"), TypeError);
});

test("gRPC: client.binding.send resolves to { data, metadata, operation } as the js-sdk's gRPC client; HTTP keeps the parsed data", async () => {
  const [files, root] = storage("files");
  const resourcesPath = componentsDir({ "files.yaml": files });
  const grpc = new DaprClient({ resourcesPath, communicationProtocol: GRPC });
  assert.equal(grpc.options.communicationProtocol, GRPC);

  const created = await grpc.binding.send("files", "create", { a: 1 }, { fileName: "a.json" });
  assert.deepEqual(Object.keys(created).sort(), ["data", "metadata", "operation"]);
  assert.ok(created.data instanceof Uint8Array);
  assert.deepEqual(JSON.parse(Buffer.from(created.data).toString()), { fileName: "a.json" });
  assert.deepEqual(created.metadata, {});
  assert.equal(created.operation, "create");
  assert.equal(fs.readFileSync(path.join(root, "a.json"), "utf8"), '{"a":1}');

  const got = await grpc.binding.send("files", "get", undefined, { fileName: "a.json" });
  assert.equal(Buffer.from(got.data).toString(), '{"a":1}');
  assert.equal(got.operation, "get");
  // Falsy data is not sent, as in the js-sdk's gRPC client.
  await grpc.binding.send("files", "create", "", { fileName: "empty.txt" });
  assert.equal(fs.readFileSync(path.join(root, "empty.txt"), "utf8"), "");

  // HTTP (the default, and what HTTP says) keeps the data parsed.
  assert.deepEqual(await new DaprClient({ resourcesPath }).binding.send("files", "get", null, { fileName: "a.json" }), { a: 1 });
  const http = new DaprClient({ resourcesPath, communicationProtocol: HTTP });
  assert.deepEqual(await http.binding.send("files", "get", null, { fileName: "a.json" }), { a: 1 });

  // A server's client speaks the server's protocol unless its clientOptions say otherwise.
  const server = new DaprServer({ resourcesPath, communicationProtocol: GRPC });
  assert.equal(server.client.options.communicationProtocol, GRPC);
  assert.equal((await server.client.binding.send("files", "get", null, { fileName: "a.json" })).operation, "get");
  const mixed = new DaprServer({ resourcesPath, communicationProtocol: GRPC, clientOptions: { communicationProtocol: HTTP } });
  assert.deepEqual(await mixed.client.binding.send("files", "get", null, { fileName: "a.json" }), { a: 1 });
  assert.equal(new DaprServer({ resourcesPath }).serverOptions.communicationProtocol, HTTP);
});

test("the app ID comes from APP_ID, else DAPR_APP_ID, as dapr run sets them, so scopes apply without code changes", async () => {
  const [files] = storage("ledger");
  const scoped = files + "scopes:\n  - billing\n";
  const resourcesPath = componentsDir({ "ledger.yaml": scoped });
  const saved = { APP_ID: process.env.APP_ID, DAPR_APP_ID: process.env.DAPR_APP_ID };
  try {
    delete process.env.APP_ID;
    delete process.env.DAPR_APP_ID;
    process.env.APP_ID = "billing";
    const billing = new DaprClient({ resourcesPath });
    assert.equal(billing.options.appId, "billing");
    await billing.binding.send("ledger", "create", "x", { fileName: "x.txt" });

    process.env.APP_ID = "shipping";
    const shipping = new DaprClient({ resourcesPath });
    await assert.rejects(shipping.binding.send("ledger", "create", "x", { fileName: "x.txt" }), { code: "not_found" });

    delete process.env.APP_ID;
    process.env.DAPR_APP_ID = "billing";
    await new DaprServer({ resourcesPath }).client.binding.send("ledger", "create", "y", { fileName: "y.txt" });
    process.env.DAPR_APP_ID = "shipping";
    assert.equal(new DaprServer({ resourcesPath }).client.options.appId, "shipping");
    // An appId passed wins over the environment.
    await new DaprClient({ resourcesPath, appId: "billing" }).binding.send("ledger", "create", "z", { fileName: "z.txt" });
    const bridge = bindings(() => {}, { resourcesPath });
    assert.ok(!bridge.runtime.bindings.some((b) => b.name === "ledger"));
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
});

function backends(applicationName) {
  const out = execFileSync(
    "psql",
    ["-h", "127.0.0.1", "-U", "postgres", "-d", "test", "-X", "-A", "-t", "-c",
      `SELECT count(*) FROM pg_stat_activity WHERE application_name = '${applicationName}'`],
    { encoding: "utf8" },
  );
  return Number(out.trim());
}

test("one runtime per process: an app with the HTTP bridge, a DaprServer and a DaprClient opens one PostgreSQL pool", async () => {
  const applicationName = unique("bindery_node_share").replace(/-/g, "_");
  // At most one connection in a pool: each runtime that opened the output holds exactly one.
  const url = `host=127.0.0.1 port=5432 user=postgres dbname=test application_name=${applicationName} pool_max_conns=1`;
  const resourcesPath = componentsDir({
    "db.yaml": component("db", "bindings.postgresql", { connectionString: url }),
    "tick.yaml": component("tick", "bindings.cron", { schedule: "@every 100ms" }),
    "tock.yaml": component("tock", "bindings.cron", { schedule: "@every 100ms" }),
  });
  const logger = quietLogger();
  const client = new DaprClient({ resourcesPath });
  const server = new DaprServer({ resourcesPath, logger: { service: logger } });
  let fromServer = 0;
  let fromBridge = 0;
  await server.binding.receive("tock", async () => {
    await server.client.binding.send("db", "query", "", { sql: "SELECT 1 AS one" });
    fromServer += 1;
  });
  // A bare request listener: POST /tick queries through the DaprClient.
  const app = async (req, res) => {
    if (req.method === "OPTIONS") return res.end();
    await client.binding.send("db", "exec", "", { sql: "SELECT 1" });
    fromBridge += 1;
    res.statusCode = 204;
    res.end();
  };
  const bridge = bindings(app, { resourcesPath, logger });
  assert.equal(bridge.runtime, server.client._runtime(), "one runtime");
  await bridge.start();
  await server.start();
  let shared;
  try {
    await waitFor(() => fromServer >= 3 && fromBridge >= 3, 20000, "queries from the server and from the bridge");
    assert.deepEqual(await client.binding.send("db", "query", "", { sql: "SELECT 1 AS one" }), [[1]]);
    shared = backends(applicationName);
    // Beside it, a runtime of another app ID is another pool: the count tells them apart.
    await new DaprClient({ resourcesPath, appId: "another-app" }).binding.send("db", "exec", "", { sql: "SELECT 1" });
    assert.equal(backends(applicationName), 2);
  } finally {
    await bridge.stop();
    await server.stop();
  }
  assert.equal(shared, 1, "backends with this application_name while the three shared one runtime");
  assert.deepEqual(logger.errors, []);
});

test("serverHttp: an express-style app given to DaprServer is served on serverPort, as the js-sdk does", async () => {
  const resourcesPath = componentsDir({ "tick.yaml": component("tick", "bindings.cron", { schedule: "@every 1h" }) });
  const app = require("node:http").createServer((req, res) => res.end("own route"));
  const serverHttp = { listen: (port, host, cb) => app.listen(port, host, cb) };
  const server = new DaprServer({ serverHost: "127.0.0.1", serverPort: 6143, serverHttp, resourcesPath });
  await server.binding.receive("tick", () => {});
  await server.start();
  try {
    const body = await (await fetch("http://127.0.0.1:6143/")).text();
    assert.equal(body, "own route");
  } finally {
    await server.stop();
  }
  assert.equal(app.listening, false);
});
