/// <reference types="node" />
// A stand-in for the Dapr js-sdk's DaprClient (output bindings), in-process.

export interface DaprClientOptions {
  /** Folder of component files (default: DAPR_RESOURCES_PATH or ./components). */
  resourcesPath?: string;
  /** Accepted for compatibility with the js-sdk; unused in-process. */
  daprHost?: string;
  /** Accepted for compatibility with the js-sdk; unused in-process. */
  daprPort?: string;
  /** Accepted for compatibility with the js-sdk; unused in-process. */
  communicationProtocol?: number;
  [option: string]: unknown;
}

export declare const CommunicationProtocolEnum: Readonly<{ HTTP: 0; GRPC: 1 }>;

export declare class DaprClient {
  constructor(options?: DaprClientOptions);
  readonly options: DaprClientOptions;
  readonly binding: {
    /**
     * Invoke an output binding as the js-sdk's `client.binding.send`: resolves to the
     * response data parsed as JSON, or as text when it is not JSON, or `{}` when empty.
     */
    send(bindingName: string, operation: string, data?: unknown, metadata?: object): Promise<object | string>;
  };
  start(): Promise<void>;
  stop(): Promise<void>;
}
