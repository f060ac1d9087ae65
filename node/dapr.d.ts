/// <reference types="node" />
// Stand-ins for the Dapr js-sdk's DaprClient (output bindings) and DaprServer (input
// bindings), in-process. Components come from `resourcesPath`, else DAPR_RESOURCES_PATH, else
// ./components; the app ID (for `scopes`) from `appId`, else APP_ID, else DAPR_APP_ID.

/** As the js-sdk's enum: `GRPC` is 0, `HTTP` is 1, and each number maps back to its name. */
export declare const CommunicationProtocolEnum: Readonly<{ GRPC: 0; HTTP: 1; 0: "GRPC"; 1: "HTTP" }>;
/** A value of `CommunicationProtocolEnum`. */
export type CommunicationProtocol = 0 | 1;

/** The js-sdk's logger options; bindery writes its warnings and errors to `service` (default: console). */
export interface LoggerOptions {
  level?: unknown;
  service?: { error(message?: unknown, ...params: unknown[]): void; warn(message?: unknown, ...params: unknown[]): void };
}

export interface DaprClientOptions {
  /** Folder(s) of component files (default: DAPR_RESOURCES_PATH, else ./components). */
  resourcesPath?: string | string[];
  /** The app ID, for `scopes` (default: APP_ID, else DAPR_APP_ID). */
  appId?: string;
  /** Accepted for compatibility with the js-sdk; unused in-process. */
  daprHost?: string;
  /** Accepted for compatibility with the js-sdk; unused in-process. */
  daprPort?: string;
  /**
   * As in the js-sdk, picks what `binding.send` resolves to: HTTP (the default) the response
   * data parsed; GRPC `{ data, metadata, operation }`.
   */
  communicationProtocol?: CommunicationProtocol;
  logger?: LoggerOptions;
  [option: string]: unknown;
}

/** What `binding.send` resolves to over gRPC, as in the js-sdk. */
export interface GrpcBindingResponse {
  data: Uint8Array;
  metadata: Record<string, string>;
  operation: string;
}

export declare class DaprClient {
  constructor(options?: DaprClientOptions);
  readonly options: DaprClientOptions & { resourcesPath: string | string[]; communicationProtocol: CommunicationProtocol };
  readonly binding: {
    /**
     * Invoke an output binding as the js-sdk's `client.binding.send`: over HTTP it resolves to
     * the response data parsed as JSON, or as text when it is not JSON, or `{}` when empty;
     * over gRPC to a `GrpcBindingResponse`.
     */
    send(bindingName: string, operation: string, data?: unknown, metadata?: object): Promise<object | string>;
  };
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface DaprServerOptions {
  /** Accepted as in the js-sdk (default 127.0.0.1); used only with `serverHttp`. */
  serverHost?: string;
  /** Accepted as in the js-sdk (default APP_PORT, else 3000, or 50000 for gRPC); used only with `serverHttp`. */
  serverPort?: string | number;
  /** What `receive` gives for no data ({} over HTTP, "" over gRPC), and `client`'s protocol by default. */
  communicationProtocol?: CommunicationProtocol;
  /** Options of `server.client`. */
  clientOptions?: DaprClientOptions;
  logger?: LoggerOptions;
  /** Accepted for compatibility with the js-sdk; unused in-process. */
  maxBodySizeMb?: number;
  /** An app `start()` serves on serverHost:serverPort, for its own routes, as the js-sdk does. */
  serverHttp?: { listen(port: number, host: string, callback: () => void): import("node:http").Server };
  /** Folder(s) of component files (default: as DaprClient finds them). */
  resourcesPath?: string | string[];
  /** The app ID, for `scopes` (default: APP_ID, else DAPR_APP_ID). */
  appId?: string;
}

/**
 * Called with each event's data as the js-sdk gives it: parsed as JSON, or the text when it is
 * not JSON. Resolving acks the event; throwing or rejecting nacks it.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type BindingCallback = (data: any) => unknown | Promise<unknown>;

export declare class DaprServer {
  constructor(options?: DaprServerOptions);
  /** A DaprClient sharing this server's runtime. */
  readonly client: DaprClient;
  readonly serverOptions: Required<Pick<DaprServerOptions, "serverHost" | "communicationProtocol">> & DaprServerOptions & { serverPort: string };
  readonly binding: {
    /** Deliver the events of input binding `bindingName` to `cb`; call it before `start()`. */
    receive(bindingName: string, cb: BindingCallback): Promise<void>;
  };
  /** Start the input bindings. */
  start(): Promise<void>;
  /** Stop the input bindings; the outputs close once no other user of the runtime needs them. */
  stop(): Promise<void>;
}
