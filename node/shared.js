"use strict";
// One runtime per process for each (resources path, app ID): the Dapr stand-ins
// (`bindery/dapr`: DaprClient, DaprServer) and the HTTP bridge (`bindery/http`) take theirs
// from here, so that an app using several of them opens each output once (one PostgreSQL pool,
// one MQTT client id).
//
// Where the components are: `resourcesPath` when given, else the environment variable
// DAPR_RESOURCES_PATH, else ./components, resolved against the working directory.
// The app ID (for `scopes`): `appId` when given, else APP_ID, else DAPR_APP_ID (what
// `dapr run --app-id` gives the app), else none (every component is loaded).
//
// Not part of the public API.

const path = require("node:path");
const { Runtime, BinderyError } = require("./index.js");

/** The resources path(s) to use: the option, DAPR_RESOURCES_PATH, or ./components. */
function resourcesPathFrom(option) {
  if (option !== undefined && option !== null && option !== "") return option;
  return process.env.DAPR_RESOURCES_PATH || "./components";
}

/** The app ID to use: the option, APP_ID, DAPR_APP_ID, or undefined. */
function appIdFrom(option) {
  if (option !== undefined && option !== null && option !== "") return String(option);
  return process.env.APP_ID || process.env.DAPR_APP_ID || undefined;
}

function keyOf(resourcesPath, appId) {
  const paths = (Array.isArray(resourcesPath) ? resourcesPath : [resourcesPath]).map((p) => path.resolve(String(p)));
  return JSON.stringify([paths, appId === undefined ? null : appId]);
}

const entries = new Map();

/**
 * A runtime shared by every user of one (resources path, app ID). Handlers are registered
 * before it starts; it starts at the first `start()` and stops when every user that started
 * it has stopped, after which the next user gets a fresh one.
 */
class Shared {
  constructor(key, resourcesPath, appId, logger) {
    this.key = key;
    this.resourcesPath = resourcesPath;
    this.appId = appId;
    this.runtime = new Runtime(resourcesPath, { appId, logger });
    this.users = 0;
    this._starting = null;
    this._stopping = null;
  }

  /** Whether this is still the runtime new users get. */
  get current() {
    return entries.get(this.key) === this;
  }

  /** Register the handler of input binding `name` (before the runtime starts). */
  on(name, handler, who) {
    if (this._starting !== null) {
      throw new BinderyError(
        "invalid_state",
        `${who} cannot take input binding "${name}": the runtime it shares with the other Dapr stand-ins and bridges of this process (resources path and app ID) was already started; register every receive() and bridge before the first start()`,
      );
    }
    this.runtime.on(name, handler);
  }

  /** Start the runtime if no user did yet; counts one user until `stop()`. */
  async start() {
    if (this._stopping !== null) {
      throw new BinderyError("closed", "this runtime was stopped; create the server or bridge again");
    }
    if (this._starting === null) this._starting = this.runtime.start();
    this.users += 1;
    try {
      await this._starting;
    } catch (err) {
      this.users -= 1;
      // A runtime whose start failed cannot start again; the next user gets a fresh one.
      if (this.current) entries.delete(this.key);
      throw err;
    }
  }

  /** One user fewer; the last one stops the runtime (resolves to whether handlers drained). */
  async stop(options) {
    if (this.users > 0) this.users -= 1;
    if (this.users > 0) return true;
    if (this._starting === null) return true;
    if (this.current) entries.delete(this.key);
    if (this._stopping === null) this._stopping = this.runtime.stop(options);
    return this._stopping;
  }
}

/**
 * The shared runtime of (resourcesPath, appId), created on first use (which loads and
 * validates the files, so a problem throws here). `logger` is used by the one that creates it.
 */
function sharedRuntime({ resourcesPath, appId, logger } = {}) {
  const paths = resourcesPathFrom(resourcesPath);
  const id = appIdFrom(appId);
  const key = keyOf(paths, id);
  let entry = entries.get(key);
  if (!entry) {
    entry = new Shared(key, paths, id, logger);
    entries.set(key, entry);
  }
  return entry;
}

module.exports = { sharedRuntime, resourcesPathFrom, appIdFrom };
