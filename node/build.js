// Build the native addon with cargo and copy it next to index.js as bindery.node.
// Usage: node build.js [--release]
"use strict";
const { execFileSync } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");

const release = process.argv.includes("--release");
const target = process.env.CARGO_TARGET_DIR || path.join(os.homedir(), ".cache", "bindery", "target");
const args = ["build", "--locked", "-p", "bindery-node"];
if (release) args.push("--release");
execFileSync("cargo", args, {
  cwd: __dirname,
  stdio: "inherit",
  env: { ...process.env, CARGO_TARGET_DIR: target },
});
const built = path.join(target, release ? "release" : "debug", "libbindery_node.so");
fs.copyFileSync(built, path.join(__dirname, "bindery.node"));
console.log(`copied ${built} -> bindery.node`);
