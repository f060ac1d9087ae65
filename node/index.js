"use strict";
// bindery for Node.js: Dapr bindings in-process. See index.d.ts for the API.

const native = require("./bindery.node");

const CODES = {
  invalid_config: 1,
  not_found: 2,
  unsupported_operation: 3,
  invalid_argument: 4,
  timeout: 5,
  circuit_open: 6,
  upstream: 7,
  closed: 8,
  internal: 9,
  invalid_state: 10,
  handler_failed: 11,
};

/** An error from bindery: `.code` is the stable code name ("not_found", ...), `.errno` its number. */
class BinderyError extends Error {
  constructor(code, message) {
    super(message);
    this.name = "BinderyError";
    this.code = Object.prototype.hasOwnProperty.call(CODES, code) ? code : "internal";
    this.errno = CODES[this.code];
  }
}

const REJECT = Symbol.for("bindery.reject");

/**
 * Throw (or reject with) one from a handler to reject the event: unlike any other error (which
 * nacks it, so that the binding redelivers it), the event is not delivered again. The binding
 * dead-letters it where its system can (RabbitMQ rejects it without requeue, so the queue's
 * dead-letter exchange gets it); Kafka commits past it and MQTT acknowledges it, logging it.
 */
class Reject extends Error {
  constructor(reason = "rejected by the handler") {
    super(reason);
    this.name = "Reject";
    this.reason = String(reason);
    this[REJECT] = true;
  }
}

function isReject(err) {
  return err instanceof Reject || Boolean(err && err[REJECT] === true);
}

function translate(err) {
  if (err instanceof BinderyError) return err;
  const m = /^\[([a-z_]+)\] ([\s\S]*)$/.exec(err && err.message);
  if (!m) return err;
  const e = new BinderyError(m[1], m[2]);
  return e;
}

function call(fn) {
  try {
    return fn();
  } catch (err) {
    throw translate(err);
  }
}

async function callAsync(promise) {
  try {
    return await promise;
  } catch (err) {
    throw translate(err);
  }
}

function milliseconds(value, what) {
  const ms = Number(value);
  if (!(ms >= 0)) throw new TypeError(`${what} must be a number of milliseconds >= 0`);
  return Math.min(Math.ceil(ms), 0xffffffff);
}

// The native side takes counts as u32, which would wrap 2 ** 32 + 1 to 1 and -1 to 2 ** 32 - 1.
const MAX_COUNT = 0xffffffff;

function count(value, what) {
  if (value === undefined || value === null) return undefined;
  if (!Number.isInteger(value) || value < 1 || value > MAX_COUNT) {
    throw new BinderyError("invalid_argument", `${what} must be an integer from 1 to ${MAX_COUNT}, got ${value}`);
  }
  return value;
}

function toBuffer(data) {
  if (data === undefined || data === null) return Buffer.alloc(0);
  if (Buffer.isBuffer(data)) return data;
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (data instanceof ArrayBuffer) return Buffer.from(data);
  if (typeof data === "string") return Buffer.from(data, "utf8");
  return Buffer.from(JSON.stringify(data), "utf8");
}

function toMetadata(metadata) {
  const out = {};
  if (!metadata) return out;
  for (const [k, v] of Object.entries(metadata)) out[k] = typeof v === "string" ? v : String(v);
  return out;
}

/** Data with metadata; `text()` and `json()` read the data. Events add `binding`. */
class Payload {
  constructor(data, metadata, binding) {
    if (binding !== undefined) this.binding = binding;
    this.data = data;
    this.metadata = metadata;
  }

  text(encoding = "utf8") {
    return this.data.toString(encoding);
  }

  json() {
    return JSON.parse(this.data.toString("utf8"));
  }
}

class Runtime {
  /**
   * @param {string | string[]} resourcesPath folder(s) of Dapr component YAML files
   * @param {{appId?: string, concurrency?: number, queueCapacity?: number, shutdownTimeoutMs?: number, logger?: {error: Function, warn: Function}}} [options]
   */
  constructor(resourcesPath, options = {}) {
    const paths = Array.isArray(resourcesPath) ? resourcesPath.map(String) : [String(resourcesPath)];
    const concurrency = count(options.concurrency, "concurrency");
    const queueCapacity = count(options.queueCapacity, "queueCapacity");
    this._shutdownTimeoutMs = milliseconds(options.shutdownTimeoutMs ?? 10000, "shutdownTimeoutMs");
    this._native = call(
      () =>
        new native.NativeRuntime(paths, {
          appId: options.appId,
          concurrency,
          queueCapacity,
          shutdownTimeoutMs: this._shutdownTimeoutMs,
        }),
    );
    this._logger = options.logger || console;
    // Calls in flight, by id; one native completion function settles them all.
    this._calls = new Map();
    this._nextCall = 1;
    this._native.setCompletions((id, error, data, metadata) => {
      const call = this._calls.get(id);
      if (!call) return;
      this._calls.delete(id);
      if (this._calls.size === 0) this._native.unrefCompletions();
      if (error !== null && error !== undefined) call.reject(translate(new Error(error)));
      else call.resolve(new Payload(data, metadata));
    });
    this._handlers = new Map();
    this._loops = [];
    // The runs in hand: { id, done } (events handled so far).
    this._running = new Set();
    this._stopRequested = false;
    for (const warning of this._native.diagnostics()) this._logger.warn(`bindery: ${warning}`);
  }

  /**
   * Handle the events of the input binding `name`; resolve to ack, reject or throw to nack,
   * throw a `Reject` to reject the event (it is not redelivered).
   */
  on(name, handler) {
    if (typeof handler !== "function") throw new TypeError("handler must be a function");
    call(() => this._native.on(String(name)));
    this._handlers.set(String(name), handler);
    return this;
  }

  /** Initialise the outputs and start the inputs that have handlers. */
  async start() {
    await callAsync(this._native.start());
    for (const [name, handler] of this._handlers) this._loops.push(this._pump(name, handler));
    for (const name of this._native.unhandledInputs()) {
      this._logger.warn(
        `bindery: input binding "${name}" has no handler, so it is not started; register one with rt.on("${name}", ...), or set its direction metadata to "output"`,
      );
    }
    return this;
  }

  async _pump(name, handler) {
    for (;;) {
      let run;
      try {
        run = await this._native.recv(name);
      } catch (err) {
        this._logger.error(`bindery: reading events of "${name}" failed:`, err);
        return;
      }
      if (run === null || run === undefined) return;
      // Not awaited: the runtime already bounds how many runs are in flight.
      this._handleRun(name, handler, run);
    }
  }

  // The events of a run one after the other, in order; the first that fails ends the run
  // (it is nacked, the ones after it come again later). The source settles each event handled
  // (offset stored, basic.ack, PUBACK) when told: at the end of the run, and on the way about
  // every millisecond: a timer marks the run due and the next event to complete reports the
  // progress, so slow (awaiting) events are settled as each completes, while a run of fast
  // ones ends before the timer fires and costs no call (nor a clock read) per event. Once
  // stop() was called the run ends after the event in hand.
  async _handleRun(name, handler, run) {
    const events = run.events;
    const state = { id: run.id, done: 0, due: false };
    this._running.add(state);
    let timer = null;
    if (events.length > 1) {
      timer = setTimeout(() => (state.due = true), 1);
      timer.unref();
    }
    try {
      for (let i = 0; i < events.length; i++) {
        const ev = events[i];
        try {
          await handler(new Payload(ev.data, ev.metadata, ev.binding));
        } catch (err) {
          if (isReject(err)) {
            this._logger.warn(`bindery: handler for "${name}" rejected the event: ${err.reason}`);
            this._native.settle(run.id, i, err.reason, true);
          } else {
            this._logger.error(`bindery: handler for "${name}" failed; the event is nacked:`, err);
            this._native.settle(run.id, i, String((err && err.message) || err));
          }
          return;
        }
        state.done = i + 1;
        if (i + 1 < events.length) {
          if (this._stopRequested) break;
          if (state.due) {
            state.due = false;
            this._native.progress(run.id, i + 1);
            timer.refresh();
          }
        }
      }
      this._native.settle(run.id, state.done, null);
    } finally {
      if (timer !== null) clearTimeout(timer);
      this._running.delete(state);
    }
  }

  /**
   * Call the output binding `name` with `operation`; `data` may be a Buffer, a string or a
   * JSON-serialisable value. Resolves to `{data, metadata, text(), json()}`.
   */
  invoke(name, operation, data, metadata) {
    return new Promise((resolve, reject) => {
      const id = this._nextCall;
      this._nextCall = id >= 0xfffffff0 ? 1 : id + 1;
      try {
        this._native.invokeStart(id, String(name), String(operation), toBuffer(data), toMetadata(metadata));
      } catch (err) {
        reject(translate(err));
        return;
      }
      if (this._calls.size === 0) this._native.refCompletions();
      this._calls.set(id, { resolve, reject });
    });
  }

  /**
   * Stop the inputs, wait up to `timeoutMs` for handlers in flight, close the bindings; calls
   * still in flight then reject with "closed".
   */
  stop({ timeoutMs } = {}) {
    if (!this._stopping) {
      const ms = timeoutMs === undefined ? this._shutdownTimeoutMs : milliseconds(timeoutMs, "timeoutMs");
      // Runs in hand end after the event in hand; what they got through so far is settled at
      // the source now, before the deadline can cut the source off.
      this._stopRequested = true;
      for (const r of this._running) if (r.done > 0) this._native.progress(r.id, r.done);
      this._stopping = (async () => {
        const drained = await callAsync(this._native.shutdown(ms));
        await Promise.all(this._loops);
        return drained;
      })();
    }
    return this._stopping;
  }

  /** Every binding loaded. */
  get bindings() {
    return this._native.bindings();
  }

  /**
   * Counters of a started input binding, or null: delivered, acked, nacked, and rejected and
   * panicked, which are enumerable (JSON, spread, deepEqual) only when not 0, so that code
   * written for the first three keeps comparing as it did.
   */
  stats(name) {
    const s = this._native.stats(String(name));
    if (s === null || s === undefined) return null;
    const stats = { delivered: s.delivered, acked: s.acked, nacked: s.nacked };
    for (const key of ["rejected", "panicked"]) {
      Object.defineProperty(stats, key, { value: s[key], enumerable: s[key] !== 0, writable: true, configurable: true });
    }
    return stats;
  }

  /** Warnings found in the component files. */
  get diagnostics() {
    return this._native.diagnostics();
  }
}

module.exports = { Runtime, BinderyError, Reject, ErrorCodes: Object.freeze({ ...CODES }) };
