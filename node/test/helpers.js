"use strict";
// Shared by the *.test.js files: temp component folders, a local HTTP server, waiting.

const fs = require("node:fs");
const http = require("node:http");
const os = require("node:os");
const path = require("node:path");

/** A fresh temp folder, removed when the test process exits. */
function tempDir(prefix = "bindery-node-") {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  process.on("exit", () => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** One Dapr component document. */
function component(name, type, metadata) {
  const lines = [
    "apiVersion: dapr.io/v1alpha1",
    "kind: Component",
    "metadata:",
    `  name: ${name}`,
    "spec:",
    `  type: ${type}`,
    "  version: v1",
    "  metadata:",
  ];
  for (const [k, v] of Object.entries(metadata)) lines.push(`  - name: ${k}`, `    value: ${JSON.stringify(String(v))}`);
  return lines.join("\n") + "\n";
}

/** A components folder holding the given documents (name -> YAML text), one file each. */
function componentsDir(files) {
  const dir = tempDir("bindery-components-");
  for (const [file, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, file), text);
  return dir;
}

/** A cron input binding firing every 100 ms. */
const cron = (name = "tick") => component(name, "bindings.cron", { schedule: "@every 100ms" });

/** A local storage binding over a fresh temp root; returns [yaml, root]. */
function storage(name = "files") {
  const root = tempDir("bindery-root-");
  return [component(name, "bindings.localstorage", { rootPath: root }), root];
}

/** A logger that keeps what bindery logs instead of printing it. */
function quietLogger() {
  const logger = { errors: [], warnings: [] };
  logger.error = (...args) => logger.errors.push(args);
  logger.warn = (...args) => logger.warnings.push(args);
  return logger;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Poll `condition` until it holds; fail after `timeoutMs`. */
async function waitFor(condition, timeoutMs = 5000, what = "condition") {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}

/**
 * A node:http server on 127.0.0.1:0 that records every request. Routes (by path suffix):
 * /slow answers after 2 s, /status/NNN answers NNN, anything else echoes the request as JSON
 * with an `X-Echo: yes` header.
 */
async function echoServer() {
  const requests = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      const seen = { method: req.method, url: req.url, headers: req.headers, body: body.toString("utf8") };
      requests.push(seen);
      if (req.url.endsWith("/slow")) {
        const timer = setTimeout(() => res.end("late"), 2000);
        res.on("close", () => clearTimeout(timer));
        return;
      }
      const status = /\/status\/(\d{3})$/.exec(req.url);
      if (status) {
        res.statusCode = Number(status[1]);
        res.end(`status ${status[1]}`);
        return;
      }
      res.setHeader("Content-Type", "application/json");
      res.setHeader("X-Echo", "yes");
      res.end(JSON.stringify(seen));
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${server.address().port}`;
  const close = () =>
    new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return { server, url, requests, close };
}

/** A port on 127.0.0.1 nothing listens on (bound, then released). */
async function deadPort() {
  const server = http.createServer();
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = server.address().port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

module.exports = {
  tempDir,
  component,
  componentsDir,
  cron,
  storage,
  quietLogger,
  sleep,
  waitFor,
  echoServer,
  deadPort,
};
