"use strict";
// Output bindings: HTTP against a real local server, local storage, many invokes at once.

const test = require("node:test");
const assert = require("node:assert/strict");
const fs = require("node:fs");
const net = require("node:net");
const path = require("node:path");

const { Runtime, BinderyError } = require("bindery");
const { component, componentsDir, echoServer, quietLogger, sleep, storage, waitFor } = require("./helpers.js");

test("HTTP: Buffer, string and object data; method, path, headers; response metadata", async (t) => {
  const web = await echoServer();
  t.after(web.close);
  const rt = new Runtime(
    componentsDir({ "web.yaml": component("web", "bindings.http", { url: `${web.url}/base` }) }),
    { logger: quietLogger() },
  );
  t.after(() => rt.stop());

  // A Buffer is sent as it is; `path` is appended to the url; capitalised keys are headers.
  const bytes = Buffer.from([0x00, 0x01, 0xfe, 0xff]);
  let resp = await rt.invoke("web", "post", bytes, { path: "/bytes", "X-Trace": "t-1", lowercase: "not a header" });
  let seen = web.requests.at(-1);
  assert.equal(seen.method, "POST");
  assert.equal(seen.url, "/base/bytes");
  assert.equal(seen.headers["x-trace"], "t-1");
  assert.equal(seen.headers.lowercase, undefined, "lower-case metadata is not sent as a header");
  assert.equal(seen.headers["content-length"], "4");
  assert.deepEqual(resp.json().body, bytes.toString("utf8"));

  // The response: data as a Buffer, statusCode/status and canonical header names in metadata.
  assert.ok(Buffer.isBuffer(resp.data));
  assert.equal(resp.metadata.statusCode, "200");
  assert.match(resp.metadata.status, /^200\b/);
  assert.equal(resp.metadata["X-Echo"], "yes");
  assert.equal(resp.metadata["Content-Type"], "application/json");
  assert.equal(JSON.parse(resp.text()).url, "/base/bytes");

  // A Uint8Array view is sent as its bytes (not the whole underlying buffer).
  const backing = new Uint8Array([9, 65, 66, 67, 9]);
  resp = await rt.invoke("web", "put", backing.subarray(1, 4), { path: "/view" });
  assert.equal(resp.json().method, "PUT");
  assert.equal(resp.json().body, "ABC");

  // A string is sent as UTF-8.
  resp = await rt.invoke("web", "post", "héllo ✓", { path: "/text" });
  seen = web.requests.at(-1);
  assert.equal(seen.body, "héllo ✓");
  assert.equal(seen.headers["content-length"], String(Buffer.byteLength("héllo ✓")));

  // Any other value is sent as JSON; `create` is a POST; metadata values may be numbers.
  resp = await rt.invoke("web", "create", { a: 1, list: [true, null] }, { path: "/obj", "X-Count": 3 });
  seen = web.requests.at(-1);
  assert.equal(seen.method, "POST");
  assert.deepEqual(JSON.parse(seen.body), { a: 1, list: [true, null] });
  assert.equal(seen.headers["x-count"], "3");

  // get/delete send no body, whatever data is given.
  resp = await rt.invoke("web", "get", undefined, { path: "/g" });
  assert.deepEqual(
    { method: resp.json().method, url: resp.json().url, body: resp.json().body },
    { method: "GET", url: "/base/g", body: "" },
  );
  resp = await rt.invoke("web", "delete", "ignored", { path: "/d" });
  assert.equal(resp.json().method, "DELETE");
  assert.equal(resp.json().body, "");

  // errorIfNot2XX=false in request metadata: a 404 is an answer, not an error.
  resp = await rt.invoke("web", "get", null, { path: "/status/404", errorIfNot2XX: false });
  assert.equal(resp.metadata.statusCode, "404");
  assert.equal(resp.text(), "status 404");
});

test("local storage: create, get, list, delete", async (t) => {
  const [yaml, root] = storage("files");
  const rt = new Runtime(componentsDir({ "files.yaml": yaml }), { logger: quietLogger() });
  t.after(() => rt.stop());

  let resp = await rt.invoke("files", "create", { id: 1, name: "one" }, { fileName: "records/1.json" });
  assert.equal(fs.readFileSync(path.join(root, "records/1.json"), "utf8"), '{"id":1,"name":"one"}');
  await rt.invoke("files", "create", "plain text", { fileName: "records/2.txt" });
  await rt.invoke("files", "create", Buffer.from([0xde, 0xad, 0xbe, 0xef]), { fileName: "bin/blob" });

  resp = await rt.invoke("files", "get", null, { fileName: "records/1.json" });
  assert.deepEqual(resp.json(), { id: 1, name: "one" });
  assert.equal((await rt.invoke("files", "get", null, { fileName: "records/2.txt" })).text(), "plain text");
  const blob = await rt.invoke("files", "get", null, { fileName: "bin/blob" });
  assert.deepEqual([...blob.data], [0xde, 0xad, 0xbe, 0xef]);

  // create without fileName names the file and says so.
  resp = await rt.invoke("files", "create", "anonymous");
  const { fileName } = resp.json();
  assert.match(fileName, /^[0-9a-f-]{36}$/);
  assert.equal(fs.readFileSync(path.join(root, fileName), "utf8"), "anonymous");

  // list: absolute paths, of a folder or of the whole root.
  const inRecords = (await rt.invoke("files", "list", null, { fileName: "records" })).json();
  assert.deepEqual(inRecords.map((p) => path.relative(root, p)).sort(), ["records/1.json", "records/2.txt"]);
  const all = (await rt.invoke("files", "list")).json();
  assert.ok(all.every((p) => path.isAbsolute(p)));
  assert.ok(all.map((p) => path.relative(root, p)).includes(fileName));

  await rt.invoke("files", "delete", null, { fileName: "records/1.json" });
  assert.equal(fs.existsSync(path.join(root, "records/1.json")), false);
  await assert.rejects(rt.invoke("files", "get", null, { fileName: "records/1.json" }), { code: "not_found" });
});

test("100 invokes at once all succeed (local storage and HTTP)", async (t) => {
  const web = await echoServer();
  t.after(web.close);
  const [yaml] = storage("files");
  const rt = new Runtime(
    componentsDir({ "files.yaml": yaml, "web.yaml": component("web", "bindings.http", { url: web.url }) }),
    { logger: quietLogger() },
  );
  t.after(() => rt.stop());
  const n = [...Array(100).keys()];

  await Promise.all(n.map((i) => rt.invoke("files", "create", { i }, { fileName: `many/${i}.json` })));
  const reads = await Promise.all(n.map((i) => rt.invoke("files", "get", null, { fileName: `many/${i}.json` })));
  assert.deepEqual(
    reads.map((r) => r.json().i),
    n,
  );
  assert.equal((await rt.invoke("files", "list", null, { fileName: "many" })).json().length, 100);

  const posts = await Promise.all(n.map((i) => rt.invoke("web", "post", String(i), { path: `/n/${i}` })));
  assert.deepEqual(
    posts.map((r) => r.json().body),
    n.map(String),
  );
  assert.ok(posts.every((r) => r.metadata.statusCode === "200"));
  assert.equal(web.requests.length, 100);
});

test("invoke before start initialises the output; bindings lists what was loaded", async (t) => {
  const [yaml] = storage("files");
  const rt = new Runtime(componentsDir({ "files.yaml": yaml, "tick.yaml": require("./helpers.js").cron("tick") }), {
    logger: quietLogger(),
  });
  t.after(() => rt.stop());
  const byName = Object.fromEntries(rt.bindings.map((b) => [b.name, b]));
  assert.deepEqual(Object.keys(byName).sort(), ["files", "tick"]);
  assert.equal(byName.files.type, "bindings.localstorage");
  assert.equal(byName.files.output, true);
  assert.equal(byName.files.input, false);
  assert.deepEqual(byName.files.operations, ["create", "get", "list", "delete"]);
  assert.equal(byName.tick.input, true);
  assert.deepEqual(rt.diagnostics, []);
  await rt.invoke("files", "create", "x", { fileName: "x" });
  assert.equal((await rt.invoke("files", "get", null, { fileName: "x" })).text(), "x");
});

test("closed: an invoke in flight when stop() is called rejects, it does not hang", async (t) => {
  // A server that takes the connection and never answers.
  const sockets = [];
  const silent = net.createServer((socket) => sockets.push(socket));
  await new Promise((resolve) => silent.listen(0, "127.0.0.1", resolve));
  t.after(() => {
    for (const s of sockets) s.destroy();
    silent.close();
  });
  const url = `http://127.0.0.1:${silent.address().port}`;
  const rt = new Runtime(componentsDir({ "silent.yaml": component("silent", "bindings.http", { url }) }), {
    logger: quietLogger(),
  });
  const outcome = rt.invoke("silent", "get").then(
    () => "resolved",
    (err) => err,
  );
  await waitFor(() => sockets.length > 0, 5000, "the call to reach the silent server");
  await rt.stop({ timeoutMs: 500 });
  const settled = await Promise.race([outcome, sleep(3000).then(() => "still pending 3 s after stop()")]);
  assert.ok(settled instanceof BinderyError, `expected a BinderyError, got ${settled}`);
  assert.equal(settled.code, "closed");
  assert.match(settled.message, /stopped before the call finished/);
});
