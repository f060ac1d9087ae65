"use strict";
// bindery/dapr: the Dapr js-sdk's DaprClient (output bindings) without a sidecar.

const test = require("node:test");
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");

const { DaprClient, CommunicationProtocolEnum } = require("bindery/dapr");
const { BinderyError } = require("bindery");
const { componentsDir, storage } = require("./helpers.js");

const [filesYaml, root] = storage("files");
const components = componentsDir({ "files.yaml": filesYaml });

test("js-sdk style: DAPR_RESOURCES_PATH, client.binding.send create and get", async () => {
  process.env.DAPR_RESOURCES_PATH = components;
  try {
    const client = new DaprClient();
    await client.start();
    assert.equal(client.options.resourcesPath, components);

    const created = await client.binding.send("files", "create", { a: 1 }, { fileName: "a.json" });
    assert.deepEqual(created, { fileName: "a.json" });
    assert.equal(fs.readFileSync(path.join(root, "a.json"), "utf8"), '{"a":1}');

    // get resolves to the data parsed as JSON, as the js-sdk does over HTTP.
    assert.deepEqual(await client.binding.send("files", "get", undefined, { fileName: "a.json" }), { a: 1 });

    // Not JSON: the text; nothing: {}.
    await client.binding.send("files", "create", "plain words", { fileName: "b.txt" });
    assert.equal(await client.binding.send("files", "get", null, { fileName: "b.txt" }), "plain words");
    assert.deepEqual(await client.binding.send("files", "delete", null, { fileName: "b.txt" }), {});
    assert.equal(fs.existsSync(path.join(root, "b.txt")), false);
    await client.stop();
  } finally {
    delete process.env.DAPR_RESOURCES_PATH;
  }
});

test("js-sdk connection options are accepted; resourcesPath wins; clients share a runtime", async () => {
  const client = new DaprClient({
    daprHost: "127.0.0.1",
    daprPort: "3500",
    communicationProtocol: CommunicationProtocolEnum.HTTP,
    resourcesPath: components,
  });
  const other = new DaprClient({ resourcesPath: components });
  await client.binding.send("files", "create", [1, 2, 3], { fileName: "shared.json" });
  assert.deepEqual(await other.binding.send("files", "get", null, { fileName: "shared.json" }), [1, 2, 3]);
  // As the js-sdk's TypeScript enum: GRPC 0, HTTP 1, and back from the number to the name.
  assert.equal(CommunicationProtocolEnum.GRPC, 0);
  assert.equal(CommunicationProtocolEnum.HTTP, 1);
  assert.equal(CommunicationProtocolEnum[0], "GRPC");
  assert.equal(CommunicationProtocolEnum[1], "HTTP");
});

test("failures reject with BinderyError", async () => {
  const client = new DaprClient({ resourcesPath: components });
  await assert.rejects(client.binding.send("filez", "get"), (err) => {
    assert.ok(err instanceof BinderyError);
    assert.equal(err.code, "not_found");
    assert.match(err.message, /files/);
    return true;
  });
  await assert.rejects(client.binding.send("files", "get", null, { fileName: "missing" }), { code: "not_found" });
  assert.throws(() => new DaprClient({ resourcesPath: path.join(components, "nowhere") }), {
    code: "invalid_config",
  });
});
