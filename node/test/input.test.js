"use strict";
// Input bindings: cron events reach handlers, acks and nacks, stop() draining, process exit.

const test = require("node:test");
const assert = require("node:assert/strict");
const { spawn } = require("node:child_process");

const { Runtime } = require("bindery");
const { componentsDir, cron, quietLogger, sleep, waitFor } = require("./helpers.js");

/** "2026-11-26 10:22:19.472696315 +0000 UTC" (Go's time.String of a UTC time) -> ms. */
function readTimeMs(readTimeUTC) {
  const m = /^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d)(\.\d+)? \+0000 UTC$/.exec(readTimeUTC);
  assert.ok(m, `readTimeUTC ${JSON.stringify(readTimeUTC)} has Dapr's format`);
  return Date.parse(`${m[1]}T${m[2]}${(m[3] || "").slice(0, 4)}Z`);
}

test("cron events reach an async handler with Dapr's metadata and empty data", async () => {
  const rt = new Runtime(componentsDir({ "tick.yaml": cron("tick") }), { logger: quietLogger() });
  const events = [];
  const returned = rt.on("tick", async (event) => {
    await sleep(1);
    events.push(event);
  });
  assert.equal(returned, rt, "on() chains");
  assert.equal(await rt.start(), rt, "start() resolves to the runtime");
  await waitFor(() => events.length >= 3, 5000, "3 cron events");
  assert.equal(await rt.stop(), true);

  for (const event of events) {
    assert.equal(event.binding, "tick");
    assert.ok(Buffer.isBuffer(event.data), "data is a Buffer");
    assert.equal(event.data.length, 0, "cron events carry no data");
    assert.equal(event.text(), "");
    assert.throws(() => event.json(), SyntaxError, "json() of empty data throws as JSON.parse does");
    assert.deepEqual(Object.keys(event.metadata).sort(), ["readTimeUTC", "timeZone"]);
    assert.ok(event.metadata.timeZone.length > 0);
    readTimeMs(event.metadata.readTimeUTC);
  }
  const gap = readTimeMs(events[1].metadata.readTimeUTC) - readTimeMs(events[0].metadata.readTimeUTC);
  assert.ok(gap >= 50 && gap < 1000, `@every 100ms: events ${gap} ms apart`);
  const stats = rt.stats("tick");
  assert.ok(stats.acked >= 3, `acked ${stats.acked}`);
  assert.equal(stats.nacked, 0);
  assert.equal(stats.delivered, stats.acked + stats.nacked);
});

test("a synchronous handler that returns acks", async () => {
  const rt = new Runtime(componentsDir({ "tick.yaml": cron("tick") }), { logger: quietLogger() });
  let calls = 0;
  rt.on("tick", () => {
    calls += 1;
  });
  await rt.start();
  await waitFor(() => rt.stats("tick").acked >= 2, 5000, "2 acks");
  await rt.stop();
  assert.ok(calls >= 2);
  assert.equal(rt.stats("tick").nacked, 0);
});

test("a rejecting handler nacks; the next event still arrives and acks", async () => {
  const logger = quietLogger();
  const rt = new Runtime(componentsDir({ "tick.yaml": cron("tick") }), { logger });
  let calls = 0;
  rt.on("tick", async () => {
    calls += 1;
    await sleep(1);
    if (calls === 1) throw new Error("rejected on purpose");
  });
  await rt.start();
  await waitFor(() => rt.stats("tick").acked >= 1, 5000, "an ack after the nack");
  await rt.stop();
  const stats = rt.stats("tick");
  assert.equal(stats.nacked, 1);
  assert.ok(stats.acked >= 1);
  assert.ok(calls >= 2);
  const logged = logger.errors.map((args) => args.map(String).join(" ")).join("\n");
  assert.match(logged, /handler for "tick" failed; the event is nacked/);
  assert.match(logged, /rejected on purpose/);
});

test("a handler that throws synchronously nacks; the next event still arrives and acks", async () => {
  const logger = quietLogger();
  const rt = new Runtime(componentsDir({ "tick.yaml": cron("tick") }), { logger });
  let calls = 0;
  rt.on("tick", () => {
    calls += 1;
    if (calls === 1) throw new TypeError("thrown on purpose");
  });
  await rt.start();
  await waitFor(() => rt.stats("tick").acked >= 1, 5000, "an ack after the nack");
  await rt.stop();
  const stats = rt.stats("tick");
  assert.equal(stats.nacked, 1);
  assert.ok(stats.acked >= 1);
  assert.match(logger.errors.map((args) => args.map(String).join(" ")).join("\n"), /thrown on purpose/);
});

test("events of one input are handled one at a time by default", async () => {
  const rt = new Runtime(componentsDir({ "tick.yaml": cron("tick") }), { logger: quietLogger() });
  let running = 0;
  let most = 0;
  let calls = 0;
  rt.on("tick", async () => {
    running += 1;
    most = Math.max(most, running);
    calls += 1;
    await sleep(150); // longer than the schedule's period
    running -= 1;
  });
  await rt.start();
  await waitFor(() => calls >= 3, 5000, "3 events");
  await rt.stop();
  assert.equal(most, 1);
});

test("stop() waits for the handler in flight, then resolves true", async () => {
  const rt = new Runtime(componentsDir({ "tick.yaml": cron("tick") }), { logger: quietLogger() });
  let entered = 0;
  let finishedAt = 0;
  rt.on("tick", async () => {
    entered += 1;
    if (entered === 1) {
      await sleep(300);
      finishedAt = Date.now();
    }
  });
  await rt.start();
  await waitFor(() => entered >= 1, 5000, "the first event");
  const stopCalledAt = Date.now();
  const drained = await rt.stop();
  const stoppedAt = Date.now();
  assert.equal(drained, true, "every handler finished in time");
  assert.ok(finishedAt > 0, "the handler finished before stop() resolved");
  assert.ok(finishedAt <= stoppedAt);
  assert.ok(stoppedAt - stopCalledAt >= 200, `stop() took ${stoppedAt - stopCalledAt} ms`);
  assert.equal(entered, 1, "no event is delivered once stop() began");
  assert.equal(rt.stats("tick").acked, 1, "the drained event was acked");
});

test("stop({timeoutMs}) resolves false when a handler outlives the deadline", async () => {
  const rt = new Runtime(componentsDir({ "tick.yaml": cron("tick") }), { logger: quietLogger() });
  let entered = 0;
  rt.on("tick", async () => {
    entered += 1;
    await sleep(600);
  });
  await rt.start();
  await waitFor(() => entered >= 1, 5000, "the first event");
  const t0 = Date.now();
  assert.equal(await rt.stop({ timeoutMs: 50 }), false);
  assert.ok(Date.now() - t0 < 500, "stop() gave up at the deadline");
});

test("stop() twice is fine, and so is stop() of a runtime never started", async () => {
  const rt = new Runtime(componentsDir({ "tick.yaml": cron("tick") }), { logger: quietLogger() });
  rt.on("tick", async () => {});
  await rt.start();
  assert.equal(await rt.stop(), true);
  assert.equal(await rt.stop(), true);

  const idle = new Runtime(componentsDir({ "tick.yaml": cron("tick") }), { logger: quietLogger() });
  assert.equal(await idle.stop(), true);
  assert.equal(await idle.stop({ timeoutMs: 10 }), true);
});

test("an input without a handler is not started, with a warning", async () => {
  const logger = quietLogger();
  const rt = new Runtime(componentsDir({ "tick.yaml": cron("tick") }), { logger });
  await rt.start();
  await rt.stop();
  assert.equal(rt.stats("tick"), null);
  assert.match(logger.warnings.map(String).join("\n"), /input binding "tick" has no handler/);
});

/** Run a `node -e` script in this folder (so that require("bindery") resolves as here). */
function runChild(script, args, timeoutMs) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["-e", script, ...args], { cwd: __dirname, stdio: "pipe" });
    let out = "";
    child.stdout.on("data", (c) => (out += c));
    child.stderr.on("data", (c) => (out += c));
    const t0 = Date.now();
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, out, ms: Date.now() - t0 });
    });
  });
}

test("after stop() the process exits by itself (no process.exit)", async () => {
  const dir = componentsDir({ "tick.yaml": cron("tick") });
  const script = `
    const { Runtime } = require("bindery");
    (async () => {
      const rt = new Runtime(process.argv[1]);
      let seen = 0;
      let twice;
      const two = new Promise((resolve) => (twice = resolve));
      rt.on("tick", async (event) => {
        if (++seen === 2) twice();
      });
      await rt.start();
      await two;
      console.log("stopped, drained:", await rt.stop());
    })();
  `;
  const { code, signal, out, ms } = await runChild(script, [dir], 8000);
  assert.equal(signal, null, `the child was killed after ${ms} ms; it did not exit by itself:\n${out}`);
  assert.equal(code, 0, out);
  assert.match(out, /stopped, drained: true/);
  assert.ok(ms < 5000, `exited ${ms} ms after start`);
});

test("a runtime used only for invoke, never started nor stopped, lets the process exit", async () => {
  const { storage } = require("./helpers.js");
  const [yaml] = storage("files");
  const dir = componentsDir({ "files.yaml": yaml });
  const script = `
    const { Runtime } = require("bindery");
    const rt = new Runtime(process.argv[1]);
    rt.invoke("files", "create", "hi", { fileName: "a.txt" })
      .then(() => rt.invoke("files", "get", null, { fileName: "a.txt" }))
      .then((r) => console.log("read", r.text()));
  `;
  const { code, signal, out, ms } = await runChild(script, [dir], 8000);
  assert.equal(signal, null, `killed after ${ms} ms:\n${out}`);
  assert.equal(code, 0, out);
  assert.match(out, /read hi/);
});
