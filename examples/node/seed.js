"use strict";
// The bindery quickstart in Node.js: a cron input binding (`cleanup-cron`, every second) whose
// handler writes a record through local storage (`records`), reads it back, and posts it to an
// HTTP webhook (`monitoring-webhook`). The webhook is a tiny server this script starts itself on
// 127.0.0.1:18088, so nothing external is needed. It stops by itself after three ticks: it
// stops the runtime and closes the server, and Node exits because nothing is left to wait for.
//
// Run from the repository root: `node examples/node/seed.js` (or pass another components folder
// as the first argument). Records go to `./quickstart-data`, as in the Rust, C and Python examples.

const http = require("node:http");
const path = require("node:path");

const { Runtime } = require("bindery");

const TICKS = 3;
const COMPONENTS = path.join(__dirname, "..", "components");

/** The monitoring webhook the HTTP output binding points at. */
function startWebhook() {
  const webhook = { calls: 0 };
  webhook.server = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (chunk) => chunks.push(chunk));
    req.on("end", () => {
      webhook.calls += 1;
      console.log(`  webhook received ${Buffer.concat(chunks).toString("utf8")}`);
      res.writeHead(200, { "Content-Type": "text/plain" });
      res.end("ok");
    });
  });
  return new Promise((resolve, reject) => {
    webhook.server.once("error", reject);
    webhook.server.listen(18088, "127.0.0.1", () => resolve(webhook));
  });
}

async function main() {
  const components = process.argv[2] || COMPONENTS;
  const webhook = await startWebhook();

  const rt = new Runtime(components); // every file is validated here
  let ticks = 0;
  let finished;
  const done = new Promise((resolve) => (finished = resolve));

  rt.on("cleanup-cron", async (event) => {
    const n = ++ticks;
    if (n > TICKS) return; // a tick that came while stopping: ack it, do nothing
    const record = JSON.stringify({
      tick: n,
      firedAt: event.metadata.readTimeUTC,
      timeZone: event.metadata.timeZone,
    });
    const meta = { fileName: `node-tick-${n}.json` };
    await rt.invoke("records", "create", record, meta);
    const stored = await rt.invoke("records", "get", null, meta);
    console.log(`tick ${n}: wrote ${meta.fileName}: ${stored.text()}`);
    const resp = await rt.invoke("monitoring-webhook", "post", record);
    console.log(`  webhook answered ${resp.metadata.statusCode} ${resp.text()}`);
    if (n === TICKS) finished(true);
    // Resolving acks the event; throwing (or rejecting) nacks it, and the schedule goes on.
  });

  await rt.start();
  let timer;
  const inTime = await Promise.race([
    done,
    new Promise((resolve) => (timer = setTimeout(resolve, 30_000, false))),
  ]);
  clearTimeout(timer);
  // Not from inside the handler: stop() waits for the handlers in flight, that one included.
  await rt.stop({ timeoutMs: 5000 });

  // List the records with a fresh runtime, the way a second program would.
  const lister = new Runtime(components);
  const listing = (await lister.invoke("records", "list")).json();
  await lister.stop();
  await new Promise((resolve) => webhook.server.close(resolve));

  const mine = listing.map((p) => path.basename(p)).filter((name) => name.startsWith("node-tick-")).sort();
  console.log(
    `done: ${Math.min(ticks, TICKS)} ticks, ${webhook.calls} webhook calls, records stored: ${JSON.stringify(mine)}`,
  );
  if (!inTime || webhook.calls < TICKS) {
    console.error(`error: expected ${TICKS} ticks within 30 s`);
    process.exitCode = 1;
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
