/**
 * The gateway's own log lines, as OTLP log export (opentelemetry's `logs_endpoint`) collects them:
 * Kong's `kong.observability.logs` hooks `ngx.log` and keeps each line written while serving a
 * request in that request's buffer (`request.id` as an attribute), and every other line in a
 * worker buffer. Here every line of the gateway's logger (core and plugins' `context.log`, after
 * secrets are scrubbed) passes through `observeLogLine` while some instance captures:
 *
 * - a line written while a request is served (its async context: a plugin's handler, after any
 *   `await`, or the gateway about it) joins that request's lines, at most MAX_REQUEST_LINES
 *   (Kong's MAX_REQUEST_LOGS) and MAX_REQUEST_LOG_BYTES of text; past either it is only counted;
 * - any other line at `warn` or above (Kong's worker logs are nginx's error log, which runs at
 *   `notice` by default; Tollgate's `info` lines outside a request are start-up and reload notes)
 *   goes to the registered runtime sinks, one per target.
 *
 * A pooled connection's callbacks keep the async context of the request that opened it, so the
 * gateway runs each phase of a request in that request's own scope (`inRequestLines`), and a line
 * naming another request's `request_id` is not kept with the scope's.
 *
 * Nothing here costs a request or a line while nothing captures: the request scope (an
 * AsyncLocalStorage) is entered only while a capture is registered, and disabled with the last.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

/** A log line as captured: its fields flattened to attribute values, each bounded. */
export interface CapturedLine {
  /** Milliseconds since the epoch. */
  readonly time: number;
  /** pino's number: 20 debug, 30 info, 40 warn, 50 error, 60 fatal. */
  readonly level: number;
  readonly msg: string;
  /** The plugin whose logger wrote it, or null for the gateway's own line. */
  readonly plugin: string | null;
  readonly fields: Readonly<Record<string, string | number | boolean>>;
  /** The text it holds (message, names and values), what the request's byte cap counts. */
  readonly bytes: number;
}

/** Kong's MAX_REQUEST_LOGS: lines kept per request. */
export const MAX_REQUEST_LINES = 1000;
/** Text kept per request (messages, field names and values): 64 KiB. */
export const MAX_REQUEST_LOG_BYTES = 64 * 1024;
/** A message longer than this is cut (with `…`). */
export const MAX_MESSAGE_CHARS = 8 * 1024;
/** A field value longer than this (a string, or an object's JSON) is cut (with `…`). */
export const MAX_FIELD_CHARS = 1024;
/** Fields kept per line, in the order written. */
export const MAX_FIELDS = 32;
/** The lowest level of a line outside a request that reaches the runtime sinks (pino's warn). */
export const RUNTIME_LEVEL = 40;

/** The lines written while one request was served. */
export class RequestLines {
  /** The request's record, once the gateway has it (its id is read at each line: set after). */
  request: { readonly id: string } | null = null;
  readonly lines: CapturedLine[] = [];
  bytes = 0;
  /** Lines past the caps, counted and not kept. */
  dropped = 0;
  /** Once taken (the log phase read them), later lines are the runtime's. */
  taken = false;
}

export type RuntimeSink = (line: CapturedLine) => void;

let scope: AsyncLocalStorage<RequestLines> | null = null;
/** The request whose lines a scope collects: set when the gateway starts the request's record. */
const byRequest = new WeakMap<object, RequestLines>();
/** Runtime sinks by target: the first of each target gets a line, so one collector gets it once. */
const sinks = new Map<string, Set<RuntimeSink>>();
let captures = 0;
/** A sink that logs must not capture its own line (a loop through a failing collector). */
let observing = false;

/** True while some instance captures: the gateway then serves each request in a scope. */
export function logCaptureActive(): boolean {
  return captures > 0;
}

/**
 * Starts capturing for one consumer (an opentelemetry instance with `logs_endpoint`, when it
 * opens): request lines become readable with `takeRequestLines`, and lines outside requests at
 * `warn` and above go to `runtime`, unless another sink of the same `target` registered first.
 * Returns the release, which the consumer calls when it closes.
 */
export function captureLogs(target: string, runtime: RuntimeSink): () => void {
  scope ??= new AsyncLocalStorage<RequestLines>();
  captures++;
  let set = sinks.get(target);
  if (set === undefined) sinks.set(target, (set = new Set()));
  set.add(runtime);
  let released = false;
  return () => {
    if (released) return;
    released = true;
    set.delete(runtime);
    if (set.size === 0 && sinks.get(target) === set) sinks.delete(target);
    if (--captures === 0) {
      // No more async-context tracking for every promise of the process.
      scope?.disable();
      scope = null;
    }
  };
}

/** Runs `fn(...args)` in a fresh request scope when capturing (the gateway's request entry). */
export function inRequestScope<A extends unknown[], R>(fn: (...args: A) => R, ...args: A): R {
  if (scope === null) return fn(...args);
  return scope.run(new RequestLines(), fn, ...args);
}

/** Ties the current scope's lines to the request's record, for `takeRequestLines`. */
export function bindRequestLines(request: { readonly id: string }): void {
  const lines = scope?.getStore();
  if (lines === undefined) return;
  lines.request = request;
  byRequest.set(request, lines);
}

/** True when the running code is not in `request`'s own scope, though it has one (a pooled connection's callback). */
export function outsideRequestScope(request: object): boolean {
  if (scope === null) return false;
  const lines = byRequest.get(request);
  return lines !== undefined && scope.getStore() !== lines;
}

/** Runs `fn(...args)` in `request`'s own scope (the gateway's phases, from shared connections' callbacks). */
export function inRequestLines<A extends unknown[], R>(request: object, fn: (...args: A) => R, ...args: A): R {
  const lines = byRequest.get(request);
  if (scope === null || lines === undefined) return fn(...args);
  return scope.run(lines, fn, ...args);
}

/**
 * The lines written while `request` was served, for its log phase; every instance of the request
 * reads the same ones. Later lines of the request's async work count as the runtime's.
 */
export function takeRequestLines(request: object): RequestLines | null {
  const lines = byRequest.get(request);
  if (lines === undefined) return null;
  lines.taken = true;
  return lines;
}

/**
 * One line of the gateway's logger, after its secrets were scrubbed: `args` as the logger was
 * called (`(fields, msg)`, `(msg)`, or `(error)`), `level` pino's number.
 */
export function observeLogLine(level: number, args: readonly unknown[], plugin: string | null): void {
  if (captures === 0 || observing) return;
  const lines = scope?.getStore();
  let inRequest = lines !== undefined && !lines.taken;
  if (!inRequest && (level < RUNTIME_LEVEL || sinks.size === 0)) return;
  if (inRequest && lines!.lines.length >= MAX_REQUEST_LINES) {
    lines!.dropped++;
    return;
  }
  observing = true;
  try {
    const line = capturedLine(level, args, plugin);
    // A pooled connection's callbacks keep the context of the request that opened it: a line
    // naming another request (the gateway's carry request_id) is not this one's.
    const named = line.fields.request_id;
    if (inRequest && named !== undefined && lines!.request !== null && named !== lines!.request.id) {
      inRequest = false;
      if (level < RUNTIME_LEVEL) return;
    }
    if (inRequest && lines !== undefined) {
      if (lines.bytes + line.bytes > MAX_REQUEST_LOG_BYTES) lines.dropped++;
      else {
        lines.lines.push(line);
        lines.bytes += line.bytes;
      }
      return;
    }
    for (const set of sinks.values()) {
      for (const sink of set) {
        sink(line);
        break;
      }
    }
  } catch {
    // A line that cannot be captured is still written; capture never breaks the logger.
  } finally {
    observing = false;
  }
}

function cut(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

function capturedLine(level: number, args: readonly unknown[], plugin: string | null): CapturedLine {
  const first = args[0];
  let given: object | null = null;
  let msg: string;
  if (first !== null && typeof first === 'object') {
    given = first;
    const second = args[1];
    if (typeof second === 'string') msg = second;
    else if (first instanceof Error) msg = first.message;
    else msg = typeof (first as { msg?: unknown }).msg === 'string' ? (first as { msg: string }).msg : '';
  } else msg = String(first);
  msg = cut(msg, MAX_MESSAGE_CHARS);
  const fields: Record<string, string | number | boolean> = Object.create(null);
  let bytes = msg.length;
  if (given !== null && !(given instanceof Error)) {
    let n = 0;
    for (const key of Object.keys(given)) {
      if (n >= MAX_FIELDS) break;
      const v = fieldValue((given as Record<string, unknown>)[key]);
      if (v === undefined) continue;
      const name = cut(key, MAX_FIELD_CHARS);
      fields[name] = v;
      bytes += name.length + (typeof v === 'string' ? v.length : 8);
      n++;
    }
  }
  return { time: Date.now(), level, msg, plugin, fields, bytes };
}

function fieldValue(v: unknown): string | number | boolean | undefined {
  if (typeof v === 'string') return cut(v, MAX_FIELD_CHARS);
  if (typeof v === 'number' || typeof v === 'boolean') return v;
  if (v === null || v === undefined || typeof v === 'function' || typeof v === 'symbol') return undefined;
  if (typeof v === 'bigint') return v.toString();
  if (v instanceof Error) return cut(v.message, MAX_FIELD_CHARS);
  try {
    const json = JSON.stringify(v);
    return json === undefined ? undefined : cut(json, MAX_FIELD_CHARS);
  } catch {
    return '[unserializable]';
  }
}
