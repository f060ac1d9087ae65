"use strict";
// The Redis output binding from Node, against the real Redis on 127.0.0.1:6379
// (started by tests/servers/start).
const test = require("node:test");
const assert = require("node:assert");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const crypto = require("node:crypto");
const { Runtime, BinderyError } = require("bindery");

test("redis: create, get, increment, delete, errors", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bindery-redis-"));
  fs.writeFileSync(
    path.join(dir, "cache.yaml"),
    "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: cache\nspec:\n" +
      "  type: bindings.redis\n  version: v1\n  metadata:\n  - name: redisHost\n    value: 127.0.0.1:6379\n",
  );
  const rt = new Runtime(dir);
  const key = `bindery-node-${crypto.randomUUID()}`;
  const counter = `${key}-counter`;
  try {
    await rt.invoke("cache", "create", { n: 1, from: "node" }, { key, ttlInSeconds: 60 });
    assert.deepStrictEqual((await rt.invoke("cache", "get", null, { key })).json(), { n: 1, from: "node" });
    await Promise.all([1, 2, 3].map(() => rt.invoke("cache", "increment", null, { key: counter })));
    assert.strictEqual((await rt.invoke("cache", "get", null, { key: counter })).text(), "3");
    assert.strictEqual((await rt.invoke("cache", "get", null, { key, delete: "true" })).json().n, 1);
    assert.strictEqual((await rt.invoke("cache", "get", null, { key })).data.length, 0);
    await rt.invoke("cache", "delete", null, { key: counter });
    await assert.rejects(rt.invoke("cache", "list", null, { key }), (err) => {
      assert.ok(err instanceof BinderyError);
      assert.strictEqual(err.code, "unsupported_operation");
      assert.match(err.message, /its operations are: create, get, delete, increment/);
      return true;
    });
    await assert.rejects(rt.invoke("cache", "get"), (err) => err.code === "invalid_argument");
  } finally {
    await rt.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
