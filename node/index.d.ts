/// <reference types="node" />
// bindery for Node.js: Dapr bindings in-process, no sidecar.

/** The stable error code names, shared with the C ABI and the Python package. */
export type ErrorCodeName =
  | "invalid_config"
  | "not_found"
  | "unsupported_operation"
  | "invalid_argument"
  | "timeout"
  | "circuit_open"
  | "upstream"
  | "closed"
  | "internal"
  | "invalid_state"
  | "handler_failed";

/** Code name -> number (1-11), as in the C ABI's BINDERY_ERR_* constants. */
export declare const ErrorCodes: Readonly<Record<ErrorCodeName, number>>;

/** Every error bindery raises or rejects with. */
export declare class BinderyError extends Error {
  readonly name: "BinderyError";
  /** The stable code name, e.g. "not_found". */
  readonly code: ErrorCodeName;
  /** The stable code number, e.g. 2. */
  readonly errno: number;
}

/**
 * Throw one (or reject with one) from a handler to reject the event: unlike any other error,
 * which nacks it so that the binding redelivers it, the event is not delivered again. The
 * binding dead-letters it where its system can (RabbitMQ rejects it without requeue, so the
 * queue's dead-letter exchange gets it); Kafka commits past it and MQTT acknowledges it.
 */
export declare class Reject extends Error {
  constructor(reason?: string);
  readonly name: "Reject";
  /** Why the event was rejected (logged). */
  readonly reason: string;
}

/** Data for `invoke`: bytes as they are, strings as UTF-8, anything else as JSON. */
export type InvokeData = Buffer | Uint8Array | string | null | undefined | unknown;

/** Something with a payload. */
export interface Payload {
  /** The bytes. */
  readonly data: Buffer;
  /** Metadata (e.g. `statusCode` and headers for HTTP, `timeZone` for cron). */
  readonly metadata: Record<string, string>;
  /** The data as text. */
  text(encoding?: BufferEncoding): string;
  /** The data parsed as JSON. */
  json<T = unknown>(): T;
}

/** An input event. */
export interface BindingEvent extends Payload {
  /** The component name of the input binding. */
  readonly binding: string;
}

/** The answer of an output binding. */
export interface InvokeResponse extends Payload {}

/**
 * A handler: resolving (or returning) acks; rejecting or throwing nacks the event (it is
 * redelivered where the binding's system can); throwing a `Reject` rejects it (it is not).
 */
export type Handler = (event: BindingEvent) => void | Promise<void>;

export interface RuntimeOptions {
  /** The app ID, for Dapr's `scopes`. */
  appId?: string;
  /**
   * Events of one input binding handled at once (default 1: one at a time, in order); an
   * integer from 1 to 4294967295, else a `BinderyError` "invalid_argument".
   */
  concurrency?: number;
  /** Events of one input binding waiting for the handler (default 16; 1 to 4294967295). */
  queueCapacity?: number;
  /** How long `stop()` waits for handlers in flight by default (default 10000). */
  shutdownTimeoutMs?: number;
  /** Where handler failures and warnings go (default: console). */
  logger?: Pick<Console, "error" | "warn">;
}

export interface BindingInfo {
  name: string;
  type: string;
  input: boolean;
  output: boolean;
  route: string;
  direction?: string | null;
  operations: string[];
}

export interface InputStats {
  /** Events handed to the handler. */
  delivered: number;
  /** Events the handler acked. */
  acked: number;
  /** Events the handler failed on (redelivered where the binding's system can). */
  nacked: number;
  /** Events the handler rejected with a `Reject` (not redelivered). Enumerable when not 0. */
  rejected: number;
  /** Of the nacked events, those whose handler panicked inside bindery. Enumerable when not 0. */
  panicked: number;
}

export declare class Runtime {
  /**
   * Load and validate the Dapr component files under `resourcesPath`; throws a
   * `BinderyError` with code "invalid_config" listing every problem with file and line.
   */
  constructor(resourcesPath: string | string[], options?: RuntimeOptions);
  /**
   * Handle the events of the input binding `name` (its component name). Throws a
   * `BinderyError` with code "not_found" naming the nearest input bindings on a typo.
   */
  on(name: string, handler: Handler): this;
  /** Initialise the outputs and start the inputs that have handlers. */
  start(): Promise<this>;
  /** Call the output binding `name` with `operation`. */
  invoke(
    name: string,
    operation: string,
    data?: InvokeData,
    metadata?: Record<string, string | number | boolean>,
  ): Promise<InvokeResponse>;
  /**
   * Stop the inputs, wait up to `timeoutMs` for handlers in flight, close the bindings; calls
   * still in flight then reject with "closed". Resolves to whether every handler finished in
   * time; every call resolves with the first call's outcome. The process may exit afterwards.
   * Awaiting it inside a handler waits for that same handler until the deadline.
   */
  stop(options?: { timeoutMs?: number }): Promise<boolean>;
  /** Every binding loaded. */
  readonly bindings: BindingInfo[];
  /** Counters of a started input binding, or null. */
  stats(name: string): InputStats | null;
  /** Warnings found in the component files. */
  readonly diagnostics: string[];
}
