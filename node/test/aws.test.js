"use strict";
// The AWS bindings from Node, against moto's server on 127.0.0.1:5000 (a local AWS, started by
// tests/servers/start). The bucket and the queues are made with plain HTTP requests to moto (it
// checks no signature), not with the binding under test; names are new per test.
const test = require("node:test");
const assert = require("node:assert/strict");
const crypto = require("node:crypto");

const { Runtime, BinderyError } = require("bindery");
const { component, componentsDir, quietLogger, sleep, waitFor } = require("./helpers.js");

const MOTO = "http://127.0.0.1:5000";
const WAIT_MS = 30000;

const unique = (what) => `bindery-node-${what}-${crypto.randomUUID().slice(0, 18)}`;

/** One unsigned request to moto: the Authorization header only names the service. */
async function moto(service, { path = "/", method = "POST", target, body } = {}) {
  const headers = {
    Authorization: `AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/${service}/aws4_request, SignedHeaders=host, Signature=00`,
  };
  let payload;
  if (target) {
    headers["X-Amz-Target"] = target;
    headers["Content-Type"] = "application/x-amz-json-1.0";
    payload = JSON.stringify(body || {});
  }
  const resp = await fetch(MOTO + path, { method, headers, body: payload });
  const text = await resp.text();
  assert.ok(resp.ok, `${target || path}: ${resp.status} ${text}`);
  return target && text ? JSON.parse(text) : {};
}

const awsComponent = (name, type, metadata) =>
  component(name, type, {
    region: "us-east-1",
    endpoint: MOTO,
    accessKey: "test-access-key",
    secretKey: "test-secret-key",
    ...metadata,
  });

test("aws.s3: create, get, list and delete round trip", async () => {
  const bucket = unique("bucket");
  await moto("s3", { path: `/${bucket}`, method: "PUT" });
  const rt = new Runtime(
    componentsDir({ "files.yaml": awsComponent("files", "bindings.aws.s3", { bucket, forcePathStyle: "true" }) }),
    { logger: quietLogger() },
  );
  await rt.start();
  try {
    const created = await rt.invoke("files", "create", Buffer.from([0x68, 0x69, 0x00, 0xff]), { key: "a/one.bin" });
    // Dapr's answer: where the object is, its version (none without versioning).
    assert.equal(created.json().location, `${MOTO}/${bucket}/a/one.bin`);
    assert.equal(created.metadata.key, "a/one.bin");
    // Without a key, a UUID names the object.
    const other = (await rt.invoke("files", "create", { n: 2 })).metadata.key;
    assert.match(other, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);

    const got = await rt.invoke("files", "get", null, { key: "a/one.bin" });
    assert.deepEqual([...got.data], [0x68, 0x69, 0x00, 0xff]);
    const listed = (await rt.invoke("files", "list", { maxResults: 10 })).json();
    assert.deepEqual(listed.Contents.map((o) => o.Key).sort(), ["a/one.bin", other].sort());
    assert.equal(listed.IsTruncated, false);
    const onlyA = (await rt.invoke("files", "list", { prefix: "a/" })).json();
    assert.deepEqual(onlyA.Contents.map((o) => o.Key), ["a/one.bin"]);

    await rt.invoke("files", "delete", null, { key: "a/one.bin" });
    await assert.rejects(rt.invoke("files", "get", null, { key: "a/one.bin" }), (e) => {
      assert.ok(e instanceof BinderyError);
      assert.equal(e.code, "not_found");
      assert.match(e.message, /object not found/);
      return true;
    });
    await assert.rejects(rt.invoke("files", "get"), (e) => {
      assert.equal(e.code, "invalid_argument");
      assert.match(e.message, /required metadata 'key' missing/);
      return true;
    });
  } finally {
    assert.equal(await rt.stop(), true);
  }
});

test("aws.sqs: a message failed twice comes a third time and nothing is lost", async () => {
  const queue = unique("queue");
  const { QueueUrl } = await moto("sqs", {
    target: "AmazonSQS.CreateQueue",
    body: { QueueName: queue, Attributes: { VisibilityTimeout: "1" } },
  });
  const rt = new Runtime(componentsDir({ "jobs.yaml": awsComponent("jobs", "bindings.aws.sqs", { queueName: queue }) }), {
    logger: quietLogger(),
  });
  const seen = [];
  rt.on("jobs", async (event) => {
    seen.push(event);
    if (event.text() === "m0" && seen.filter((e) => e.text() === "m0").length <= 2) throw new Error("not yet");
  });
  await rt.start();
  try {
    const resp = await rt.invoke("jobs", "create", "m0");
    assert.equal(resp.data.length, 0);
    assert.deepEqual(resp.metadata, {});
    for (let i = 1; i < 10; i++) await rt.invoke("jobs", "create", `m${i}`);
    const texts = () => seen.map((e) => e.text());
    await waitFor(
      () => texts().filter((t) => t === "m0").length === 3 && Array.from({ length: 10 }, (_, i) => `m${i}`).every((m) => texts().includes(m)),
      WAIT_MS,
      "m0 three times and m1..m9",
    );
    await sleep(1500); // past the visibility timeout: a message not deleted would be back
  } finally {
    assert.equal(await rt.stop(), true);
  }
  const texts = seen.map((e) => e.text());
  assert.equal(texts.filter((t) => t === "m0").length, 3, texts.join(" "));
  assert.deepEqual(
    texts.filter((t) => t !== "m0").sort(),
    Array.from({ length: 9 }, (_, i) => `m${i + 1}`),
  );
  // SQS's metadata: the third delivery of m0 says it is the third.
  const lastM0 = seen.filter((e) => e.text() === "m0").at(-1);
  assert.equal(lastM0.metadata.receiveCount, "3");
  assert.ok(lastM0.metadata.messageId);
  assert.deepEqual(rt.stats("jobs"), { delivered: 12, acked: 10, nacked: 2 });
  // Every acked message was deleted: the queue is empty.
  const left = await moto("sqs", {
    target: "AmazonSQS.ReceiveMessage",
    body: { QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 },
  });
  assert.ok(!left.Messages || left.Messages.length === 0, JSON.stringify(left));
});
