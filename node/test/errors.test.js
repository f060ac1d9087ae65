"use strict";
// Every failure is a BinderyError with a stable .code and .errno, and a message that helps.

const test = require("node:test");
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");

const { Runtime, BinderyError, ErrorCodes } = require("bindery");
const {
  component,
  componentsDir,
  cron,
  deadPort,
  echoServer,
  quietLogger,
  storage,
  tempDir,
} = require("./helpers.js");

/** An assert.throws/rejects matcher: a BinderyError with this code (and message pattern). */
function bindery(code, message) {
  return (err) => {
    assert.ok(err instanceof BinderyError, `expected a BinderyError, got ${err && err.stack}`);
    assert.ok(err instanceof Error);
    assert.equal(err.name, "BinderyError");
    assert.equal(err.code, code, err.message);
    assert.equal(err.errno, ErrorCodes[code]);
    if (message) assert.match(err.message, message);
    return true;
  };
}

test("ErrorCodes are the C ABI's numbers, frozen", () => {
  assert.deepEqual(ErrorCodes, {
    invalid_config: 1,
    not_found: 2,
    unsupported_operation: 3,
    invalid_argument: 4,
    timeout: 5,
    circuit_open: 6,
    upstream: 7,
    closed: 8,
    internal: 9,
    invalid_state: 10,
    handler_failed: 11,
  });
  assert.ok(Object.isFrozen(ErrorCodes));
});

test("not_found: a typo in on() and in invoke() names the nearest bindings", async (t) => {
  const [yaml] = storage("files");
  const rt = new Runtime(componentsDir({ "files.yaml": yaml, "tick.yaml": cron("tick") }), {
    logger: quietLogger(),
  });
  t.after(() => rt.stop());
  assert.throws(() => rt.on("tik", async () => {}), bindery("not_found", /"tik".*nearest first\): tick/));
  assert.equal(ErrorCodes.not_found, 2);
  await assert.rejects(rt.invoke("file", "get"), bindery("not_found", /"file".*nearest first\): files/));
  // A missing file is not_found too.
  await assert.rejects(
    rt.invoke("files", "get", null, { fileName: "nope.txt" }),
    bindery("not_found", /nope\.txt/),
  );
});

test("unsupported_operation names the operations there are", async (t) => {
  const [yaml] = storage("files");
  const rt = new Runtime(componentsDir({ "files.yaml": yaml }), { logger: quietLogger() });
  t.after(() => rt.stop());
  await assert.rejects(
    rt.invoke("files", "post", "x"),
    bindery("unsupported_operation", /operations are: create, get, list, delete/),
  );
});

test('invalid_argument: fileName "../x" is refused and nothing is written outside', async (t) => {
  const [yaml, root] = storage("files");
  const rt = new Runtime(componentsDir({ "files.yaml": yaml }), { logger: quietLogger() });
  t.after(() => rt.stop());
  // A name of its own beside the root (in the shared temp folder, where another process may
  // well have left an "x").
  const outside = `x-${process.pid}-${Date.now()}`;
  await assert.rejects(
    rt.invoke("files", "create", "escape", { fileName: `../${outside}` }),
    bindery("invalid_argument", new RegExp(`"\\.\\./${outside}"`)),
  );
  assert.equal(fs.existsSync(path.join(root, "..", outside)), false);
  assert.throws(() => new Runtime([]), bindery("invalid_argument"));
  assert.throws(
    () => new Runtime(componentsDir({ "files.yaml": yaml }), { concurrency: 0, logger: quietLogger() }),
    bindery("invalid_argument"),
  );
});

test("upstream: HTTP 503, and a server that is down", async (t) => {
  const web = await echoServer();
  t.after(web.close);
  const port = await deadPort();
  const rt = new Runtime(
    componentsDir({
      "web.yaml": component("web", "bindings.http", { url: web.url }),
      "down.yaml": component("down", "bindings.http", { url: `http://127.0.0.1:${port}/hook` }),
    }),
    { logger: quietLogger() },
  );
  t.after(() => rt.stop());
  await assert.rejects(
    rt.invoke("web", "get", null, { path: "/status/503" }),
    bindery("upstream", /received status code 503/),
  );
  await assert.rejects(rt.invoke("down", "post", "x"), bindery("upstream", /onnection refused/));
});

test("timeout: responseTimeout 200ms against a slow route", async (t) => {
  const web = await echoServer();
  t.after(web.close);
  const rt = new Runtime(
    componentsDir({ "web.yaml": component("web", "bindings.http", { url: web.url, responseTimeout: "200ms" }) }),
    { logger: quietLogger() },
  );
  t.after(() => rt.stop());
  const t0 = Date.now();
  await assert.rejects(rt.invoke("web", "get", null, { path: "/slow" }), bindery("timeout"));
  const ms = Date.now() - t0;
  assert.ok(ms >= 150 && ms < 1500, `gave up after ${ms} ms`);
  // The binding still works afterwards.
  assert.equal((await rt.invoke("web", "get", null, { path: "/fast" })).metadata.statusCode, "200");
});

test("invalid_config: a bad folder reports every problem with file:line", () => {
  const dir = tempDir("bindery-bad-");
  // The last line opens a flow sequence that is never closed: a YAML syntax error.
  fs.writeFileSync(
    path.join(dir, "broken.yaml"),
    component("broken", "bindings.cron", { schedule: "@every 1s" }) + "  - name: extra\n    value: [unclosed\n",
  );
  // A 4-field cron schedule, in the metadata entry that starts on line 9 of its file.
  fs.writeFileSync(path.join(dir, "nightly.yaml"), component("nightly", "bindings.cron", { schedule: "3 * * *" }));
  let message = "";
  assert.throws(
    () => new Runtime(dir, { logger: quietLogger() }),
    (err) => bindery("invalid_config", /2 problems/)(err) && (message = err.message) !== "",
  );
  assert.match(message, new RegExp(`${path.join(dir, "broken.yaml")}:\\d+:\\d+: error: YAML syntax error`));
  assert.match(message, new RegExp(`${path.join(dir, "nightly.yaml")}:9:\\d+: error in component "nightly"`));
  assert.match(message, /has 4 fields; it needs 6/);
  assert.throws(() => new Runtime(path.join(dir, "missing")), bindery("invalid_config"));
});

test("closed: invoke after stop()", async () => {
  const [yaml] = storage("files");
  const rt = new Runtime(componentsDir({ "files.yaml": yaml }), { logger: quietLogger() });
  await rt.invoke("files", "create", "x", { fileName: "x" });
  await rt.stop();
  await assert.rejects(rt.invoke("files", "get", null, { fileName: "x" }), bindery("closed"));
});

test("invalid_argument: concurrency and queueCapacity out of 1..4294967295 (they used to wrap)", () => {
  const dir = componentsDir({ "tick.yaml": cron("tick") });
  const range = /must be an integer from 1 to 4294967295, got /;
  for (const [option, value] of [
    ["queueCapacity", 2 ** 32 + 1],
    ["queueCapacity", 2 ** 53],
    ["concurrency", 2 ** 32],
    ["concurrency", -1],
    ["concurrency", 1.5],
    ["queueCapacity", 0],
  ]) {
    assert.throws(
      () => new Runtime(dir, { [option]: value, logger: quietLogger() }),
      bindery("invalid_argument", new RegExp(`^${option} ${range.source}${value}$`)),
      `${option}: ${value}`,
    );
  }
  const rt = new Runtime(dir, { concurrency: 2 ** 32 - 1, queueCapacity: 2 ** 32 - 1, logger: quietLogger() });
  return rt.stop();
});

test("invalid_state: on() after start()", async (t) => {
  const rt = new Runtime(componentsDir({ "tick.yaml": cron("tick") }), { logger: quietLogger() });
  rt.on("tick", async () => {});
  await rt.start();
  t.after(() => rt.stop());
  assert.throws(() => rt.on("tick", async () => {}), bindery("invalid_state", /before start/));
});

test("a handler that is not a function is a TypeError", () => {
  const rt = new Runtime(componentsDir({ "tick.yaml": cron("tick") }), { logger: quietLogger() });
  assert.throws(() => rt.on("tick", 42), TypeError);
});
