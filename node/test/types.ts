// Type-checked (tsc --noEmit, strict) by tests/node/run against the installed package; never run.
// It uses the whole public API with types, and `@ts-expect-error` lines prove that wrong uses
// are rejected.

import { Runtime, BinderyError, ErrorCodes, Reject } from "bindery";
import type {
  BindingEvent,
  BindingInfo,
  ErrorCodeName,
  Handler,
  InputStats,
  InvokeResponse,
  RuntimeOptions,
} from "bindery";
import { DaprClient, DaprServer, CommunicationProtocolEnum } from "bindery/dapr";
import type { DaprClientOptions, DaprServerOptions, GrpcBindingResponse } from "bindery/dapr";
import { bindings as deliverBindings, deliverTo, Bindings, request } from "bindery/http";
import type { BindingsOptions, RequestListener } from "bindery/http";
import type { IncomingMessage, ServerResponse } from "node:http";

interface Rec {
  id: number;
  name: string;
}

export async function typeCheck(): Promise<void> {
  const options: RuntimeOptions = {
    appId: "app",
    concurrency: 2,
    queueCapacity: 8,
    shutdownTimeoutMs: 5000,
    logger: { error: (...args: unknown[]) => void args, warn: (...args: unknown[]) => void args },
  };
  const rt: Runtime = new Runtime(["./components", "./more"], options);
  const rt2 = new Runtime("./components");

  const handler: Handler = async (event: BindingEvent): Promise<void> => {
    const binding: string = event.binding;
    const data: Buffer = event.data;
    const when: string | undefined = event.metadata["readTimeUTC"];
    const text: string = event.text("latin1");
    const rec = event.json<Rec>();
    const id: number = rec.id;
    const raw: unknown = event.json();
    void [binding, data, when, text, id, raw];
    await rt.invoke("records", "create", rec, { fileName: `${rec.id}.json` });
  };
  rt.on("cleanup-cron", handler).on("other", (event) => {
    console.log(event.binding); // a synchronous handler is fine too
  });
  // A Reject: the event is not redelivered.
  rt.on("orders", async (event) => {
    if (event.data.length === 0) throw new Reject("an empty order");
    if (event.metadata["kind"] !== "order") throw new Reject();
  });
  const rejection = new Reject("why");
  const why: string = rejection.reason;
  const isError: Error = rejection;
  void [why, isError];
  const started: Runtime = await rt.start();
  void started;

  // Each kind of data.
  const fromBuffer: InvokeResponse = await rt.invoke("hook", "post", Buffer.from("x"));
  await rt.invoke("hook", "post", new Uint8Array([1, 2, 3]));
  await rt.invoke("hook", "post", "text", { path: "/p", "X-Trace": "t", retries: 3, errorIfNot2XX: false });
  await rt.invoke("hook", "post", { any: ["json", 1] });
  await rt.invoke("records", "list");
  await rt.invoke("records", "get", null, { fileName: "a.json" });
  await rt.invoke("records", "get", undefined, { fileName: "a.json" });

  const resp = await rt.invoke("records", "get", null, { fileName: "1.json" });
  const body: Buffer = resp.data;
  const status: string | undefined = resp.metadata["statusCode"];
  const asRec: Rec = resp.json<Rec>();
  const asText: string = resp.text();
  void [fromBuffer, body, status, asRec, asText];

  try {
    await rt.invoke("recrods", "get");
  } catch (err) {
    if (err instanceof BinderyError) {
      const code: ErrorCodeName = err.code;
      const errno: number = err.errno;
      if (err.code === "not_found") console.error("no such binding:", err.message, errno);
      else if (err.code === "upstream" || err.code === "timeout") console.error("retry later");
      void code;
    }
  }
  const notFound: number = ErrorCodes.not_found;
  const byName: number = ErrorCodes["invalid_config"];
  void [notFound, byName];

  const bindings: BindingInfo[] = rt.bindings;
  const outputs: string[] = bindings.filter((b) => b.output).map((b) => `${b.name} (${b.type}): ${b.operations.join(",")}`);
  const stats: InputStats | null = rt.stats("cleanup-cron");
  const acked: number | undefined = stats?.acked;
  const rejected: number | undefined = stats?.rejected;
  const panicked: number | undefined = stats?.panicked;
  const warnings: string[] = rt.diagnostics;
  void [outputs, acked, rejected, panicked, warnings];

  const drained: boolean = await rt.stop({ timeoutMs: 5000 });
  const again: boolean = await rt2.stop();
  void [drained, again];

  // The Dapr js-sdk shim.
  const clientOptions: DaprClientOptions = {
    daprHost: "127.0.0.1",
    daprPort: "3500",
    communicationProtocol: CommunicationProtocolEnum.HTTP,
    resourcesPath: "./components",
  };
  const client = new DaprClient(clientOptions);
  await client.start();
  const sent: object | string = await client.binding.send("records", "create", { a: 1 }, { fileName: "a.json" });
  await new DaprClient().binding.send("records", "get");
  await client.stop();
  void sent;

  // The js-sdk's DaprServer, as Dapr's quickstart uses it.
  const serverOptions: DaprServerOptions = {
    serverHost: "127.0.0.1",
    serverPort: "5005",
    communicationProtocol: CommunicationProtocolEnum.GRPC,
    clientOptions: { daprHost: "http://localhost", daprPort: "3500" },
    logger: { service: console },
  };
  const server = new DaprServer(serverOptions);
  await server.binding.receive("cron", async () => 0);
  await server.binding.receive("orders", (data) => {
    const order = data as { id: number };
    void order.id;
  });
  await server.start();
  const viaGrpc = (await server.client.binding.send("sqldb", "exec", "", { sql: "select 1" })) as GrpcBindingResponse;
  const bytes: Uint8Array = viaGrpc.data;
  const op: string = viaGrpc.operation;
  const port: string = server.serverOptions.serverPort;
  const protocolName: "GRPC" | "HTTP" = CommunicationProtocolEnum[CommunicationProtocolEnum.HTTP];
  void [bytes, op, port, protocolName];
  await server.stop();
  new DaprServer();

  // bindery/http: an http.Server request listener gets the input bindings.
  const listener: RequestListener = (req: IncomingMessage, res: ServerResponse) => {
    res.statusCode = req.method === "POST" ? 204 : 200;
    res.end();
  };
  const bridgeOptions: BindingsOptions = { resourcesPath: "./components", appId: "app", logger: console, listen: false };
  const bridge: Bindings = deliverBindings(listener, bridgeOptions);
  const startedBridge: Bindings = await bridge.start();
  const taken: string[] = startedBridge.taken;
  const shared: Runtime = bridge.runtime;
  const bridgeDrained: boolean = await deliverTo(listener).stop({ timeoutMs: 1000 });
  const answer = await request(listener, { method: "POST", url: "/orders", headers: { "x-a": "1" }, body: "{}" });
  const answerStatus: number = answer.status;
  const answerBody: Buffer = answer.body;
  void [taken, shared, bridgeDrained, answerStatus, answerBody];

  // Wrong uses are rejected.
  // @ts-expect-error a handler must be a function
  rt.on("x", 42);
  // @ts-expect-error timeoutMs is a number
  await rt.stop({ timeoutMs: "5" });
  // @ts-expect-error the operation is required
  await rt.invoke("records");
  // @ts-expect-error metadata values are strings, numbers or booleans
  await rt.invoke("records", "get", null, { fileName: { nested: true } });
  // @ts-expect-error no such option
  new Runtime("./components", { concurency: 2 });
  // @ts-expect-error a resources path is a string or a list of strings
  new Runtime(42);
  // @ts-expect-error event.data is a Buffer, not a string
  rt.on("x", (event) => { const s: string = event.data; void s; });
  try {
    await rt.start();
  } catch (err) {
    // @ts-expect-error "nope" is not an error code name
    if (err instanceof BinderyError && err.code === "nope") throw err;
    // @ts-expect-error code is read-only
    if (err instanceof BinderyError) err.code = "internal";
  }
  // @ts-expect-error a Reject's reason is a string
  new Reject(42);
  // @ts-expect-error ErrorCodes is read-only
  ErrorCodes.not_found = 3;
  // @ts-expect-error send needs an operation
  await client.binding.send("records");
  // @ts-expect-error the protocol is one of the enum's values
  new DaprClient({ communicationProtocol: 2 });
  // @ts-expect-error receive needs a callback
  await server.binding.receive("cron");
  // @ts-expect-error bindings() takes a request listener
  deliverBindings("app");
}
