"use strict";
// The secret-leak test through the Node addon: the fixture of tests/leak (every binding type,
// passwords and URLs from a secret store; one set failing validation, one failing to connect)
// driven by a child process at every BINDERY_LOG level (constructor, start with a handler,
// invoke), whose whole stdout and stderr must hold no secret in any form (tests/leak/check.py
// greps them). The fixture is found through BINDERY_LEAK_FIXTURES (tests/node/run sets it) or
// beside this file in the source tree.

const test = require("node:test");
const assert = require("node:assert/strict");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { spawnSync } = require("node:child_process");

const leak = process.env.BINDERY_LEAK_FIXTURES || path.resolve(__dirname, "../../tests/leak");

const CHILD = `
const { Runtime } = require("bindery");
process.chdir(process.argv[1]);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function attempt(what, fn) {
  try {
    console.log(what, "->", JSON.stringify(await fn()));
  } catch (e) {
    console.log(what, "->", e && e.code, String(e && e.message));
  }
}
const outputs = [["http", "post", {}], ["redis", "get", { key: "leak" }], ["redis-closed", "get", { key: "leak" }],
  ["postgresql", "query", { sql: "select 1" }], ["mysql", "query", { sql: "select 1" }],
  ["rabbitmq", "create", {}], ["mqtt", "create", {}], ["mqtt-closed", "create", {}],
  ["kafka", "create", {}], ["kafka-brokers", "create", {}]];
const inputs = ["cron", "rabbitmq", "mqtt", "mqtt-closed", "kafka", "kafka-brokers"];
(async () => {
  await attempt("Runtime(invalid)", () => new Runtime(["store.yaml", "invalid"]));
  for (const [file, op, md] of outputs) {
    await attempt("invoke " + file, async () => {
      const rt = new Runtime(["store.yaml", "unreachable/" + file + ".yaml"]);
      try {
        const r = await rt.invoke("leak-" + file, op, "leak", md);
        return r.text();
      } finally {
        await rt.stop({ timeoutMs: 2000 });
      }
    });
  }
  for (const file of inputs) {
    await attempt("start " + file, async () => {
      const rt = new Runtime(["store.yaml", "unreachable/" + file + ".yaml"]);
      rt.on("leak-" + file, async () => {});
      try {
        await rt.start();
        await sleep(1000);
        return rt.bindings;
      } finally {
        await rt.stop({ timeoutMs: 2000 });
      }
    });
  }
  console.log("done");
})();
`;

for (const level of ["error", "warn", "info", "debug", "trace"]) {
  test(`no secret leaks through Node at BINDERY_LOG=${level}`, { timeout: 300_000 }, () => {
    assert.ok(fs.existsSync(path.join(leak, "secrets.json")), `no leak fixture at ${leak}: set BINDERY_LEAK_FIXTURES`);
    const child = spawnSync(process.execPath, ["-e", CHILD, leak], {
      cwd: __dirname, // where require("bindery") resolves
      env: { ...process.env, BINDERY_LOG: level },
      encoding: "utf8",
      timeout: 280_000,
    });
    const out = child.stdout + child.stderr;
    // The runs did what they are for: secrets resolved, validation refused, servers refused.
    assert.match(child.stdout, /^done$/m, out);
    assert.match(out, /Runtime\(invalid\) -> invalid_config/, out);
    assert.doesNotMatch(out, /secretKeyRef/, out);
    for (const file of fs.readdirSync(path.join(leak, "invalid"))) {
      assert.ok(out.includes(`error in component "leak-${path.basename(file, ".yaml")}"`), out);
    }
    assert.match(out, /Access denied/, out);
    if (level === "trace") assert.match(out, /lapin/, "BINDERY_LOG=trace printed no library log:\n" + out);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bindery-leak-"));
    try {
      fs.writeFileSync(path.join(dir, `node-${level}.out`), out);
      const check = spawnSync("python3", [path.join(leak, "check.py"), path.join(leak, "secrets.json"), dir], {
        encoding: "utf8",
      });
      assert.equal(check.status, 0, `secrets leaked through Node at BINDERY_LOG=${level}:\n${check.stdout}${check.stderr}`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
}
