"use strict";
// Dapr's JavaScript SDK bindings quickstart (dapr/quickstarts bindings/javascript/sdk/batch:
// a DaprServer with a cron input binding and a DaprClient writing orders to PostgreSQL) run as
// `dapr run --resources-path ../../../components -- node index.js` would run it, with only its
// import line changed (fixtures/quickstarts/bindings, see SOURCES there), against the local
// PostgreSQL (127.0.0.1:5432, trust auth, tests/servers/start). Its component asks for the
// database `orders`, which the test makes with the quickstart's db/orders.sql.

const test = require("node:test");
const assert = require("node:assert/strict");
const { execFileSync, spawn } = require("node:child_process");
const fs = require("node:fs");
const path = require("node:path");

const { sleep } = require("./helpers.js");

const root = path.join(__dirname, "fixtures", "quickstarts", "bindings");
const appDir = path.join(root, "javascript", "sdk", "batch");

function psql(database, ...args) {
  return execFileSync("psql", ["-h", "127.0.0.1", "-U", "postgres", "-d", database, "-X", "-q", "-A", "-t", ...args], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  });
}

/** Create the database `orders` and the quickstart's table, unless they are there already. */
function createOrdersDatabase() {
  try {
    psql("postgres", "-c", "CREATE DATABASE orders");
  } catch (err) {
    if (!/already exists/.test(String(err.stderr))) throw err;
  }
  // orders.sql: "\c orders; create table orders (...)"; a table left by an earlier run stays.
  try {
    psql("postgres", "-v", "ON_ERROR_STOP=1", "-f", path.join(root, "db", "orders.sql"));
  } catch (err) {
    if (!/already exists/.test(String(err.stderr))) throw err;
  }
}

test("Dapr's JavaScript SDK bindings quickstart runs with its import line changed and writes the orders", async () => {
  createOrdersDatabase();
  // Rows of this run are those whose inserting transaction is newer than this one's: the table
  // may hold rows of earlier runs (the quickstart inserts the same orders on every tick).
  const since = Number(psql("orders", "-c", "SELECT txid_current() % 4294967296").trim());
  const want = JSON.parse(fs.readFileSync(path.join(root, "orders.json"), "utf8")).orders.map(
    (o) => `${o.orderid}|${o.customer}|${o.price}`,
  );

  const child = spawn(process.execPath, ["index.js"], {
    cwd: appDir,
    env: { ...process.env, DAPR_RESOURCES_PATH: "../../../components", APP_PORT: "6142" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (out += d));
  let exited = null;
  child.on("exit", (code, signal) => (exited = { code, signal }));

  let seen = [];
  try {
    const deadline = Date.now() + 60000;
    for (;;) {
      seen = psql(
        "orders",
        "-c",
        `SELECT DISTINCT orderid, customer, price FROM orders WHERE xmin::text::bigint >= ${since} ORDER BY orderid`,
      )
        .split("\n")
        .filter(Boolean);
      if (want.every((w) => seen.includes(w))) break;
      if (exited !== null) assert.fail(`the app exited (${JSON.stringify(exited)}):\n${out}`);
      if (Date.now() > deadline) assert.fail(`no orders after 60 s; rows: ${JSON.stringify(seen)}; app output:\n${out}`);
      await sleep(200);
    }
  } finally {
    if (exited === null) {
      child.kill("SIGTERM");
      while (exited === null) await sleep(20);
    }
  }
  assert.deepEqual(seen, want);
  assert.match(out, /insert into orders \(orderid, customer, price\) values \(1, 'John Smith', 100.32\);/);
  assert.match(out, /Finished processing batch/);
});
