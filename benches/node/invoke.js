"use strict";
// Node invoke overhead: a local storage `get` of a 32-byte file through bindery (the addon in
// node/, as built by `node node/build.js --release`), awaited one at a time and with 100 in
// flight, beside an HTTP GET of the same file on loopback to a keep-alive HTTP/1.1 server in
// another process (the shape of a call to a Dapr sidecar), also one at a time and 100 in flight.
//
// Usage: node invoke.js <components-dir> <root-dir> <iterations>
// Prints "<name> <nanoseconds per call>" lines, each the median of 5 rounds.

const { spawn } = require("node:child_process");
const { once } = require("node:events");
const http = require("node:http");
const path = require("node:path");
const readline = require("node:readline");

const { Runtime } = require(path.join(__dirname, "..", "..", "node"));

const ROUNDS = 5;
const IN_FLIGHT = 100;

/** ns per call of `run(n)` (which makes n calls): the median of ROUNDS rounds, after a warm-up. */
async function perCall(run, n) {
  await run(Math.min(n, 1000));
  const rounds = [];
  for (let r = 0; r < ROUNDS; r++) {
    const t = process.hrtime.bigint();
    await run(n);
    rounds.push(Number(process.hrtime.bigint() - t) / n);
  }
  rounds.sort((a, b) => a - b);
  return rounds[ROUNDS >> 1];
}

/** n calls of `call()` awaited one at a time. */
const sequential = (call) => async (n) => {
  for (let i = 0; i < n; i++) await call();
};

/** n calls of `call()` in batches of IN_FLIGHT started at once (Promise.all). */
const batched = (call) => async (n) => {
  for (let done = 0; done < n; done += IN_FLIGHT) {
    const batch = [];
    for (let i = 0; i < IN_FLIGHT && done + i < n; i++) batch.push(call());
    await Promise.all(batch);
  }
};

async function main() {
  const [components, root, iterations] = process.argv.slice(2);
  const n = Number(iterations);
  const rt = new Runtime(components);
  const md = { fileName: "small.txt" };
  await rt.invoke("files", "create", Buffer.from("a small file of 32 bytes........"), md);

  const invoke = () => rt.invoke("files", "get", null, md);

  const server = spawn(process.execPath, [path.join(__dirname, "server.js"), root], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const [line] = await once(readline.createInterface({ input: server.stdout }), "line");
  const port = Number(line);
  const agent = new http.Agent({ keepAlive: true });
  const get = () =>
    new Promise((resolve, reject) => {
      const req = http.get({ host: "127.0.0.1", port, path: "/small.txt", agent }, (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () =>
          res.statusCode === 200 ? resolve(Buffer.concat(chunks)) : reject(new Error(`HTTP ${res.statusCode}`)),
        );
        res.on("error", reject);
      });
      req.on("error", reject);
    });

  try {
    if ((await invoke()).data.length !== 32 || (await get()).length !== 32) throw new Error("not the 32-byte file");
    const httpN = Math.max(Math.floor(n / 10), 1000);
    console.log(`node_invoke_seq ${(await perCall(sequential(invoke), n)).toFixed(0)}`);
    console.log(`node_invoke_100 ${(await perCall(batched(invoke), n)).toFixed(0)}`);
    console.log(`node_http_seq ${(await perCall(sequential(get), httpN)).toFixed(0)}`);
    console.log(`node_http_100 ${(await perCall(batched(get), httpN)).toFixed(0)}`);
  } finally {
    agent.destroy();
    server.kill();
    await rt.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
