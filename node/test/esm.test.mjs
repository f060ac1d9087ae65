// The package as ES modules: named and default imports of "bindery" and "bindery/dapr".

import test from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";

import bindery, { Runtime, BinderyError, ErrorCodes, Reject } from "bindery";
import dapr, { DaprClient, DaprServer, CommunicationProtocolEnum } from "bindery/dapr";
import http, { bindings, deliverTo, Bindings, request } from "bindery/http";

const require = createRequire(import.meta.url);
const { componentsDir, storage } = require("./helpers.js");

test('import { Runtime } from "bindery" is the CommonJS class itself', async () => {
  const cjs = require("bindery");
  assert.equal(Runtime, cjs.Runtime);
  assert.equal(BinderyError, cjs.BinderyError);
  assert.equal(ErrorCodes, cjs.ErrorCodes);
  assert.equal(Reject, cjs.Reject);
  assert.equal(bindery.Runtime, Runtime);

  const [yaml] = storage("files");
  const rt = new Runtime(componentsDir({ "files.yaml": yaml }));
  await rt.invoke("files", "create", { esm: true }, { fileName: "esm.json" });
  assert.deepEqual((await rt.invoke("files", "get", null, { fileName: "esm.json" })).json(), { esm: true });
  await assert.rejects(rt.invoke("nope", "get"), (err) => err instanceof BinderyError && err.code === "not_found");
  assert.equal(await rt.stop(), true);
});

test('import { DaprClient } from "bindery/dapr" works', async () => {
  assert.equal(dapr.DaprClient, DaprClient);
  assert.equal(DaprClient, require("bindery/dapr").DaprClient);
  assert.equal(CommunicationProtocolEnum.HTTP, 1);
  const [yaml] = storage("files");
  const client = new DaprClient({ resourcesPath: componentsDir({ "files.yaml": yaml }) });
  await client.binding.send("files", "create", { a: 1 }, { fileName: "a.json" });
  assert.deepEqual(await client.binding.send("files", "get", undefined, { fileName: "a.json" }), { a: 1 });
});

test('import { DaprServer } from "bindery/dapr" and { bindings } from "bindery/http" work', async () => {
  assert.equal(DaprServer, require("bindery/dapr").DaprServer);
  assert.equal(dapr.DaprServer, DaprServer);
  assert.equal(bindings, require("bindery/http").bindings);
  assert.equal(http.Bindings, Bindings);
  assert.equal(deliverTo, bindings);
  const answer = await request((req, res) => res.end(req.url), { url: "/esm" });
  assert.equal(answer.body.toString(), "/esm");
});
