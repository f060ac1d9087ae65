"use strict";
// A keep-alive HTTP/1.1 file server on loopback, in its own process: the stand-in for a sidecar
// answering a binding call. Usage: node server.js <root-dir>. Prints its port, then serves
// until killed.

const fs = require("node:fs");
const http = require("node:http");
const path = require("node:path");

const root = process.argv[2];
const server = http.createServer({ noDelay: true, keepAlive: true }, (req, res) => {
  fs.readFile(path.join(root, req.url.slice(1)), (err, body) => {
    if (err) {
      res.writeHead(404, { "content-length": "0" });
      res.end();
      return;
    }
    res.writeHead(200, { "content-length": String(body.length) });
    res.end(body);
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, "127.0.0.1", () => console.log(server.address().port));
