"use strict";
// A stand-in for the Dapr js-sdk's DaprClient, for output bindings, without a sidecar:
//   // const { DaprClient } = require("@dapr/dapr");
//   const { DaprClient } = require("bindery/dapr");
//   const client = new DaprClient();
//   const result = await client.binding.send("records", "create", { id: 1 }, { fileName: "1.json" });
// Components come from options.resourcesPath, DAPR_RESOURCES_PATH or ./components. Every
// client of one process shares one runtime per resources path.

const path = require("node:path");
const { Runtime } = require("./index.js");

const shared = new Map();

function runtimeFor(resourcesPath) {
  const key = path.resolve(resourcesPath);
  let rt = shared.get(key);
  if (!rt) {
    rt = new Runtime(resourcesPath);
    shared.set(key, rt);
  }
  return rt;
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

class DaprClient {
  /**
   * @param {{resourcesPath?: string, daprHost?: string, daprPort?: string, communicationProtocol?: number}} [options]
   * The js-sdk's connection options are accepted and have no use in-process.
   */
  constructor(options = {}) {
    const resourcesPath = options.resourcesPath || process.env.DAPR_RESOURCES_PATH || "./components";
    const runtime = runtimeFor(resourcesPath);
    this.options = { ...options, resourcesPath };
    this.binding = {
      /** Invoke an output binding as the js-sdk's client.binding.send does. */
      send: async (bindingName, operation, data, metadata = {}) => {
        const resp = await runtime.invoke(bindingName, operation, data, metadata || {});
        return parseResult(resp.data);
      },
    };
  }

  /** The js-sdk connects to the sidecar here; in-process there is nothing to do. */
  async start() {}

  /** Nothing to release: the shared runtime is never started, so it holds no handle. */
  async stop() {}
}

const CommunicationProtocolEnum = Object.freeze({ HTTP: 0, GRPC: 1 });

module.exports = { DaprClient, CommunicationProtocolEnum };
