"use strict";
// Stand-ins for the Dapr js-sdk's DaprClient (output bindings) and DaprServer (input
// bindings), without a sidecar. Code written for @dapr/dapr runs with the import changed:
//   // import { DaprClient, DaprServer } from "@dapr/dapr";
//   import { DaprClient, DaprServer } from "bindery/dapr";
//   const server = new DaprServer({ serverHost, serverPort, clientOptions: { daprHost, daprPort } });
//   await server.binding.receive("cron", async (data) => { ... });   // data as the js-sdk gives it
//   await server.start();
//   await server.client.binding.send("sqldb", "exec", "", { sql: "..." });
//
// Components come from the option `resourcesPath`, else DAPR_RESOURCES_PATH, else
// ./components (resolved against the working directory); the app ID (for `scopes`) from the
// option `appId`, else APP_ID, else DAPR_APP_ID, as `dapr run --app-id` sets them. Every
// client, server and HTTP bridge (bindery/http) of one process shares one runtime per
// resources path and app ID, so each output binding is opened once.

const { sharedRuntime, resourcesPathFrom, appIdFrom } = require("./shared.js");

/** As the js-sdk's TypeScript enum: GRPC is 0, HTTP is 1, and each number maps back to its name. */
const CommunicationProtocolEnum = Object.freeze({ 0: "GRPC", 1: "HTTP", GRPC: 0, HTTP: 1 });
const { GRPC, HTTP } = CommunicationProtocolEnum;

/** The js-sdk's `logger: { level, service }`: its service when it has error and warn, else console. */
function loggerFrom(options) {
  const service = options && options.service;
  if (service && typeof service.error === "function" && typeof service.warn === "function") return service;
  return console;
}

function parseResult(data) {
  // As the js-sdk over HTTP: the body as JSON when it is JSON, else as text; nothing is {}.
  if (data.length === 0) return {};
  const text = data.toString("utf8");
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/**
 * An input event's data as the js-sdk hands it to `receive`'s callback: parsed as JSON when it
 * is JSON, else the text. No data is `{}` over HTTP (express's JSON body parser, which the
 * js-sdk's HTTP server uses, gives that for an empty body) and `""` over gRPC.
 */
function eventData(data, protocol) {
  if (data.length === 0) return protocol === GRPC ? "" : {};
  const text = data.toString("utf8");
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

class DaprClient {
  /**
   * @param {{resourcesPath?: string, appId?: string, daprHost?: string, daprPort?: string, communicationProtocol?: number, logger?: object}} [options]
   * The js-sdk's connection options are accepted and have no use in-process, but for
   * `communicationProtocol`, which picks the shape `binding.send` resolves to, as in the js-sdk.
   */
  constructor(options = {}) {
    options = options || {};
    const resourcesPath = resourcesPathFrom(options.resourcesPath);
    const appId = appIdFrom(options.appId);
    const communicationProtocol = options.communicationProtocol ?? HTTP;
    this._where = { resourcesPath, appId, logger: loggerFrom(options.logger) };
    // Loads and validates the components now, so that a problem throws here.
    this._shared = sharedRuntime(this._where);
    this.options = { ...options, resourcesPath, appId, communicationProtocol };
    const client = this;
    this.binding = {
      /**
       * Invoke an output binding as the js-sdk's client.binding.send does: over HTTP (the
       * default) it resolves to the response data parsed as JSON, or the text, or {} when
       * empty; over gRPC to { data, metadata, operation } (data a Uint8Array).
       */
      async send(bindingName, operation, data, metadata = {}) {
        const rt = client._runtime();
        if (communicationProtocol === GRPC) {
          // As the js-sdk's gRPC client: data that is falsy ("" , 0, null, ...) is not sent.
          const resp = await rt.invoke(bindingName, operation, data ? data : undefined, metadata ?? {});
          const bytes = resp.data;
          return {
            data: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength),
            metadata: { ...resp.metadata },
            operation,
          };
        }
        const resp = await rt.invoke(bindingName, operation, data, metadata || {});
        return parseResult(resp.data);
      },
    };
  }

  // The shared runtime, or a fresh one when the one this client had was stopped (by the last
  // DaprServer or bridge that started it).
  _runtime() {
    if (!this._shared.current) this._shared = sharedRuntime(this._where);
    return this._shared.runtime;
  }

  /** The js-sdk waits for the sidecar here; in-process there is nothing to wait for. */
  async start() {}

  /** Nothing to release: a runtime no server or bridge started holds no handle. */
  async stop() {}
}

class DaprServer {
  /**
   * As the js-sdk's: `new DaprServer({ serverHost, serverPort, clientOptions, communicationProtocol, logger })`.
   * bindery's own options: `resourcesPath` and `appId` (else as DaprClient finds them).
   * Nothing listens on `serverPort`, unless `serverHttp` (an express app) is given: then
   * `start()` serves it there, as the js-sdk does, for the app's own routes.
   */
  constructor(serverOptions = {}) {
    if (typeof serverOptions !== "object" || serverOptions === null) {
      throw new TypeError(
        "DaprServer takes one options object, as @dapr/dapr 3 does: new DaprServer({ serverHost, serverPort, clientOptions, communicationProtocol })",
      );
    }
    const communicationProtocol = serverOptions.communicationProtocol ?? HTTP;
    const clientOptions = { ...(serverOptions.clientOptions || {}) };
    clientOptions.communicationProtocol = clientOptions.communicationProtocol ?? communicationProtocol;
    clientOptions.logger = clientOptions.logger ?? serverOptions.logger;
    clientOptions.resourcesPath = serverOptions.resourcesPath ?? clientOptions.resourcesPath;
    clientOptions.appId = serverOptions.appId ?? clientOptions.appId;
    /** A DaprClient sharing this server's runtime. */
    this.client = new DaprClient(clientOptions);
    const defaultPort = communicationProtocol === GRPC ? "50000" : "3000";
    this.serverOptions = {
      serverHost: serverOptions.serverHost ?? "127.0.0.1",
      serverPort: String(serverOptions.serverPort ?? process.env.APP_PORT ?? defaultPort),
      communicationProtocol,
      maxBodySizeMb: serverOptions.maxBodySizeMb,
      serverHttp: serverOptions.serverHttp,
      clientOptions: this.client.options,
      logger: serverOptions.logger,
    };
    this._shared = this.client._shared;
    this._http = null;
    this._started = false;
    const server = this;
    this.binding = {
      /**
       * Deliver the events of input binding `bindingName` to `cb`, as the js-sdk does: the
       * data parsed as JSON, or the text when it is not JSON. Resolving acks the event;
       * a throw or a rejection nacks it (the binding redelivers it where its system can).
       * Call it before `start()`.
       */
      async receive(bindingName, cb) {
        if (typeof cb !== "function") throw new TypeError("the callback must be a function");
        const name = server._inputFor(String(bindingName));
        server._shared.on(
          name,
          async (event) => {
            await cb(eventData(event.data, communicationProtocol));
          },
          `DaprServer.binding.receive("${bindingName}")`,
        );
      },
    };
  }

  // The input binding the sidecar would deliver to receive(name): over HTTP the one posting
  // to /<name> (its `route`, which is /<name> unless set), over gRPC the one named so (in any
  // case, as the js-sdk matches it).
  _inputFor(name) {
    const inputs = this._shared.runtime.bindings.filter((b) => b.input);
    if (this.serverOptions.communicationProtocol === GRPC) {
      const hit = inputs.find((b) => b.name === name) || inputs.find((b) => b.name.toLowerCase() === name.toLowerCase());
      return hit ? hit.name : name;
    }
    const byRoute = inputs.find((b) => (b.route || `/${b.name}`) === `/${name}`);
    return byRoute ? byRoute.name : name;
  }

  /** Start the input bindings (and serve `serverHttp`, when given). */
  async start() {
    await this._shared.start();
    this._started = true;
    const app = this.serverOptions.serverHttp;
    if (app && typeof app.listen === "function" && this._http === null) {
      await new Promise((resolve, reject) => {
        const http = app.listen(Number(this.serverOptions.serverPort), this.serverOptions.serverHost, resolve);
        http.once("error", reject);
        this._http = http;
      });
    }
    await this.client.start();
  }

  /** Stop: inputs stop, handlers in flight finish, outputs close (once no other user needs them). */
  async stop() {
    if (this._http !== null) {
      const http = this._http;
      this._http = null;
      if (typeof http.closeAllConnections === "function") http.closeAllConnections();
      await new Promise((resolve) => http.close(() => resolve()));
    }
    if (this._started) {
      this._started = false;
      await this._shared.stop();
    }
  }
}

module.exports = { DaprClient, DaprServer, CommunicationProtocolEnum };
