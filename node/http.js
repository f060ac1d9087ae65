"use strict";
// Input bindings delivered to an HTTP request listener (an Express app, Koa's app.callback(),
// a bare (req, res) => {} function) in-process, as a Dapr sidecar delivers them over HTTP,
// without a socket and without a sidecar:
//
//   const app = express();
//   app.post("/cleanup-cron", (req, res) => { ...; res.sendStatus(200); });
//   require("bindery/http").bindings(app);   // then app.listen(...) also starts the bindings
//
// As daprd does: at start each input binding's route (its `route` metadata, else /<name>) is
// probed with OPTIONS; a 2xx or 405 answer means the app takes the binding (a binding whose
// `direction` says input is taken without a probe), anything else that it does not, and it is
// not started. Each event is then a POST to the route with the event's data as the body, its
// metadata as request headers and `content-type: application/json` (unless the metadata names
// one). A 2xx answer acks the event; any other status, or a throw, nacks it.
//
// The runtime is shared with bindery/dapr's DaprClient and DaprServer of the same resources
// path and app ID (see dapr.js for how they are found).

const http = require("node:http");
const { Duplex } = require("node:stream");
const { BinderyError } = require("./index.js");
const { sharedRuntime } = require("./shared.js");

/** Headers bindery sets itself; event metadata of these names is not sent. */
const RESERVED = new Set(["host", "content-length", "transfer-encoding", "connection"]);
/** How much of a failing answer's body goes into the nack's message. */
const EXCERPT = 200;

/** The socket under a synthetic request: what the response writes is kept, nothing is read. */
class LoopbackSocket extends Duplex {
  constructor() {
    super();
    this.remoteAddress = "127.0.0.1";
    this.remotePort = 0;
    this.remoteFamily = "IPv4";
    this.localAddress = "127.0.0.1";
    this.localPort = 0;
    this.encrypted = false;
    this.written = [];
  }

  _read() {}

  _write(chunk, encoding, callback) {
    this.written.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk, encoding));
    callback();
  }

  setTimeout() {
    return this;
  }

  setNoDelay() {
    return this;
  }

  setKeepAlive() {
    return this;
  }

  ref() {
    return this;
  }

  unref() {
    return this;
  }

  /** The response body written so far (after the head). */
  body() {
    const all = Buffer.concat(this.written);
    const end = all.indexOf("\r\n\r\n");
    return end < 0 ? Buffer.alloc(0) : all.subarray(end + 4);
  }
}

function toBody(body) {
  if (body === undefined || body === null) return Buffer.alloc(0);
  if (Buffer.isBuffer(body)) return body;
  if (ArrayBuffer.isView(body)) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  return Buffer.from(String(body), "utf8");
}

/**
 * Call `listener(req, res)` with one HTTP request, in-process (a real IncomingMessage and
 * ServerResponse over a socket that goes nowhere), and resolve to its answer
 * `{ status, headers, body }` once the response ended. Rejects when the listener throws (or
 * its promise rejects) before answering.
 */
function request(listener, { method = "GET", url = "/", headers = {}, body } = {}) {
  const payload = toBody(body);
  return new Promise((resolve, reject) => {
    const socket = new LoopbackSocket();
    const req = new http.IncomingMessage(socket);
    req.method = method;
    req.url = url;
    req.httpVersionMajor = 1;
    req.httpVersionMinor = 1;
    req.httpVersion = "1.1";
    const hdrs = { host: "127.0.0.1" };
    for (const [k, v] of Object.entries(headers)) hdrs[k.toLowerCase()] = String(v);
    if (payload.length > 0 || method !== "GET") hdrs["content-length"] = String(payload.length);
    req.headers = hdrs;
    req.rawHeaders = Object.entries(hdrs).flat();
    if (payload.length > 0) req.push(payload);
    req.push(null);
    req.complete = true;

    const res = new http.ServerResponse(req);
    // No chunked framing and no keep-alive: the body is what follows the head, as written.
    res.useChunkedEncodingByDefault = false;
    res.shouldKeepAlive = false;
    res.assignSocket(socket);
    let settled = false;
    res.on("finish", () => {
      if (settled) return;
      settled = true;
      const answer = { status: res.statusCode, headers: res.getHeaders(), body: socket.body() };
      res.detachSocket(socket);
      socket.destroy();
      resolve(answer);
    });
    const fail = (err) => {
      if (settled) return;
      settled = true;
      socket.destroy();
      reject(err);
    };
    try {
      const returned = listener(req, res);
      if (returned && typeof returned.then === "function") returned.then(undefined, fail);
    } catch (err) {
      fail(err);
    }
  });
}

/** An event's request headers: its metadata (names lowercased) and the content type. */
function eventHeaders(metadata) {
  const headers = {};
  let contentType = "application/json";
  for (const [key, value] of Object.entries(metadata || {})) {
    const name = key.trim().toLowerCase();
    if (!name || RESERVED.has(name) || /[\s:]/.test(name) || !/^[!#$%&'*+.^_`|~0-9a-z-]+$/.test(name)) continue;
    const text = String(value).replace(/[\r\n]/g, " ");
    if (name === "content-type") contentType = text;
    else headers[name] = text;
  }
  headers["content-type"] = contentType;
  return headers;
}

/** Dapr's rule: a 2xx or 405 answer to the probe means the app takes the binding. */
function takes(status) {
  return typeof status === "number" && ((status >= 200 && status < 300) || status === 405);
}

function excerpt(body) {
  const text = body.subarray(0, EXCERPT).toString("utf8");
  return body.length > EXCERPT ? `${text}...` : text;
}

function routeOf(info) {
  const route = info.route || `/${info.name}`;
  return route.startsWith("/") ? route : `/${route}`;
}

/**
 * The input bindings of the shared runtime delivered to `listener`'s routes. `start()` probes
 * and starts them (done by `listener.listen(...)` too, once the server listens, when the
 * listener has a `listen` method, as Express apps do); `stop()` stops them (done when that
 * server closes).
 */
class Bindings {
  /**
   * @param {Function} listener an http.Server request listener: an Express app, `(req, res) => {}`
   * @param {{resourcesPath?: string | string[], appId?: string, logger?: object, listen?: boolean}} [options]
   */
  constructor(listener, options = {}) {
    if (typeof listener !== "function") {
      throw new TypeError("bindings() takes an http.Server request listener: an Express app or a (req, res) => {} function");
    }
    options = options || {};
    this.listener = listener;
    this.logger = options.logger || console;
    this._where = { resourcesPath: options.resourcesPath, appId: options.appId, logger: this.logger };
    this._shared = sharedRuntime(this._where); // validates the files now
    /** The input bindings the app took at the last start. */
    this.taken = [];
    this._starting = null;
    if (options.listen !== false && typeof listener.listen === "function") this._hookListen();
  }

  /** The runtime (shared with bindery/dapr's clients and servers of the same components). */
  get runtime() {
    return this._shared.runtime;
  }

  _hookListen() {
    const app = this.listener;
    const listen = app.listen;
    const bridge = this;
    app.listen = function listenWithBindings(...args) {
      const server = listen.apply(this, args);
      if (server && typeof server.once === "function") {
        server.once("listening", () => {
          bridge.start().catch((err) => server.emit("error", err));
        });
        server.once("close", () => {
          bridge.stop().catch((err) => bridge.logger.error("bindery: stopping the bindings failed:", err));
        });
      }
      return server;
    };
  }

  /** Probe the app for each input binding, register the ones it takes, start the runtime. */
  start() {
    if (this._starting === null) this._starting = this._start();
    return this._starting;
  }

  async _start() {
    if (!this._shared.current) this._shared = sharedRuntime(this._where);
    const shared = this._shared;
    const taken = [];
    for (const info of shared.runtime.bindings) {
      if (!info.input) continue;
      const name = info.name;
      const route = routeOf(info);
      const directions = String(info.direction || "")
        .split(",")
        .map((d) => d.trim().toLowerCase());
      let status = 200; // a binding whose direction says input is delivered without a probe
      if (!directions.includes("input")) {
        try {
          status = (await request(this.listener, { method: "OPTIONS", url: route })).status;
        } catch (err) {
          throw new BinderyError(
            "handler_failed",
            `the app threw on the probe OPTIONS ${route} of input binding "${name}": ${(err && err.stack) || err}`,
          );
        }
      }
      if (!takes(status)) {
        try {
          shared.runtime._native.decline(name); // not started, and not warned about as unhandled
        } catch {
          // It has a handler of its own (which takes its events), or the runtime has started.
        }
        if (typeof this.logger.info === "function") {
          this.logger.info(`bindery: the app has not subscribed to binding "${name}" (OPTIONS ${route} answered ${status}); it is not started`);
        }
        continue;
      }
      try {
        shared.on(name, this._handler(name, route), `the bridge to POST ${route}`);
      } catch (err) {
        if (err && err.code === "invalid_state" && /already registered/.test(err.message)) continue; // a DaprServer's receive() has it
        throw err;
      }
      taken.push(name);
    }
    this.taken = taken;
    await shared.start();
    return this;
  }

  _handler(name, route) {
    const listener = this.listener;
    return async (event) => {
      let answer;
      try {
        answer = await request(listener, { method: "POST", url: route, headers: eventHeaders(event.metadata), body: event.data });
      } catch (err) {
        throw new BinderyError("handler_failed", `the app threw on POST ${route}: ${(err && err.stack) || err}`);
      }
      if (!(answer.status >= 200 && answer.status < 300)) {
        throw new BinderyError("handler_failed", `the app answered POST ${route} with status ${answer.status}: ${excerpt(answer.body)}`);
      }
    };
  }

  /** Stop the bindings (the runtime stops once no other server or bridge uses it). */
  async stop(options) {
    if (this._starting === null) return true;
    const starting = this._starting;
    this._starting = null;
    try {
      await starting;
    } catch {
      return true;
    }
    return this._shared.stop(options);
  }
}

/** Deliver the input bindings to `listener` (an Express app, a (req, res) => {} function). */
function bindings(listener, options) {
  return new Bindings(listener, options);
}

module.exports = { bindings, deliverTo: bindings, Bindings, request };
