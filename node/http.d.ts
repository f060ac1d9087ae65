/// <reference types="node" />
// Input bindings delivered to an http.Server request listener (an Express app, a bare
// (req, res) => {} function) in-process, as a Dapr sidecar posts them.

import type { IncomingMessage, ServerResponse } from "node:http";
import type { Runtime } from "./index";

/** An http.Server request listener, e.g. an Express app. */
export type RequestListener = (req: IncomingMessage, res: ServerResponse) => unknown;

export interface BindingsOptions {
  /** Folder(s) of component files (default: DAPR_RESOURCES_PATH, else ./components). */
  resourcesPath?: string | string[];
  /** The app ID, for `scopes` (default: APP_ID, else DAPR_APP_ID). */
  appId?: string;
  /** Where failures and notes go (default: console). */
  logger?: Pick<Console, "error" | "warn"> & Partial<Pick<Console, "info">>;
  /** When the listener has a `listen` method (Express): start with it and stop when its server closes (default true). */
  listen?: boolean;
}

/** The input bindings of the shared runtime, delivered to the listener's routes. */
export declare class Bindings {
  constructor(listener: RequestListener, options?: BindingsOptions);
  readonly listener: RequestListener;
  /** The runtime, shared with bindery/dapr's clients and servers of the same components and app ID. */
  readonly runtime: Runtime;
  /** The input bindings the app took at the last start. */
  readonly taken: string[];
  /** Probe the app (OPTIONS per input route), register the bindings it takes, start. */
  start(): Promise<this>;
  /** Stop; resolves to whether the handlers in flight finished in time. */
  stop(options?: { timeoutMs?: number }): Promise<boolean>;
}

/** Deliver the input bindings to `listener`: `bindings(app)`; `app.listen(...)` then starts them. */
export declare function bindings(listener: RequestListener, options?: BindingsOptions): Bindings;
/** The same as `bindings`. */
export declare const deliverTo: typeof bindings;

/** One in-process request to a listener, and its answer. */
export declare function request(
  listener: RequestListener,
  request?: { method?: string; url?: string; headers?: Record<string, string | number>; body?: Buffer | Uint8Array | string | null },
): Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }>;
