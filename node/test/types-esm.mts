// Type-checked as an ES module (tsc, module nodenext): the "import" conditions of the
// package's exports resolve to types too, named and default.

import bindery, { Runtime, BinderyError, Reject } from "bindery";
import { DaprClient, DaprServer } from "bindery/dapr";
import { bindings } from "bindery/http";
import type { BindingEvent } from "bindery";

export async function esmTypeCheck(): Promise<boolean> {
  const rt = new Runtime("./components");
  const same: typeof Runtime = bindery.Runtime;
  rt.on("cleanup-cron", async (event: BindingEvent) => {
    if (event.data.length > 1024) throw new Reject("too large");
    await rt.invoke("records", "create", event.data, { fileName: "x" });
  });
  const sent = await new DaprClient({ resourcesPath: "./components" }).binding.send("records", "get");
  const server = new DaprServer({ serverHost: "127.0.0.1", serverPort: "5005" });
  await server.binding.receive("cron", async (data) => void data);
  const bridge = bindings((_req, res) => res.end());
  void [same, sent, bridge];
  try {
    return await rt.stop();
  } catch (err) {
    if (err instanceof BinderyError && err.code === "closed") return false;
    throw err;
  }
}
