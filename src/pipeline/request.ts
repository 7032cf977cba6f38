// The per-request object plugins see (GatewayRequest). One class, one shape, no per-request closures.
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { RequestError } from '../errors.ts';
import { holdBodyBytes } from '../lib/body-budget.ts';
import { freezeClaims } from '../lib/freeze-claims.ts';
import { identityHeaders, NO_IDENTITY } from '../lib/header-value.ts';
import { hasRequestBody, keepBodyError, notABody, readBodyWithin } from '../lib/request-body.ts';
import { upstreamPath } from '../router/upstream-path.ts';
import { defaultErrorMessage } from './error-messages.ts';
import type {
  AuthenticateOptions,
  Consumer,
  Credential,
  GatewayRequest,
  HeaderValue,
  LogEntry,
  PluginStep,
  RouteInfo,
  ServiceInfo,
  UpstreamTry,
} from './plugin.ts';
import type { ResponseContext } from './response.ts';
import { responseHeadBytes } from './response-size.ts';
import type { CompiledRoute, Pipeline, Runtime } from './runtime.ts';
import { checkHeader, checkMethod, checkPath, checkQuery, neverForwarded, sentForPlugin } from './upstream-checks.ts';

const EMPTY_CAPTURES: Readonly<Record<string, string>> = Object.freeze({});
/** The body of a request without one (zero bytes: nothing to mutate). */
const EMPTY_BODY = Buffer.alloc(0);

/**
 * The headers `authenticate()` sets on the upstream request (Kong's `set_consumer`): consumer id,
 * custom id and username, the credential's identifier, and X-Anonymous-Consumer.
 */
export const AUTHENTICATION_HEADERS = [
  'x-consumer-id',
  'x-consumer-custom-id',
  'x-consumer-username',
  'x-credential-identifier',
  'x-anonymous-consumer',
] as const;

export class RequestContext implements GatewayRequest {
  id = '';
  /** The id came from a trusted peer's request id header (else the gateway made it: safe in JSON as it is). */
  idFromClient = false;
  method: string;
  path = '/';
  rawQuery = '';
  headers: IncomingHttpHeaders = {};
  clientIp = '';
  peerIp = '';
  scheme: 'http' | 'https' = 'http';
  host = '';
  /** Host header value as received (with port), for X-Forwarded-Host and preserve_host. */
  hostHeader = '';
  captures: Readonly<Record<string, string>> = EMPTY_CAPTURES;
  consumer: Consumer | null = null;
  credential: Credential | null = null;
  #claims: Readonly<Record<string, unknown>> | null = null;
  /** What authenticate() sends as the first four AUTHENTICATION_HEADERS (id, custom id, username, credential). */
  #identityHeaders: readonly (string | null)[] = NO_IDENTITY;
  readonly raw: IncomingMessage;
  readonly res: ServerResponse;
  readonly runtime: Runtime;
  compiled: CompiledRoute | null = null;
  /**
   * The route's plugins run for this request: set when its access phase starts (Kong collects the
   * route's plugins there). Until then (no route matched, a request refused before its plugins, an
   * https redirect) the global plugins answer and log it, as Kong's global iterator does.
   */
  routePlugins = false;
  matchedPath = '';
  /** Peer is in trusted_ips: its X-Forwarded-* and request id are believed. */
  trustedPeer = false;

  /** Upstream header changes made by plugins (null value = removed); null until the first change. */
  headerOverrides: Map<string, HeaderValue | null> | null = null;
  /**
   * Set by `authenticate()`: the AUTHENTICATION_HEADERS are derived from `consumer`, `credential`
   * and `anonymousConsumer` (see `authenticationHeader`), except those a plugin set or removed
   * since, which `headerOverrides` holds. Every authenticated request has them, so they are kept
   * out of the override map.
   */
  authenticated = false;
  anonymousConsumer = false;
  upstreamPath: string | null = null;
  upstreamQuery: string | null = null;
  upstreamBody: Buffer | NodeJS.ReadableStream | null = null;
  /** The plugin whose access handler runs now (set by the phase runner). */
  accessPlugin: string | null = null;
  /** The plugin that gave setUpstreamBody its stream: the stream's failure is that plugin's. */
  upstreamBodyPlugin: string | null = null;
  /** The client sent `Expect: 100-continue` and has not been told to send its body yet. */
  continuePending = false;
  /** readBody() calls waiting for the client's body now (a custom plugin's deadline waits for them). */
  bodyReads = 0;
  /** The read of the client's body under way, which a concurrent readBody() waits for. */
  private bodyReading: Promise<Buffer | null> | null = null;
  upstreamMethod: string | null = null;

  exitStatus = 0;
  exitBody: unknown = undefined;
  exitHeaders: Readonly<Record<string, HeaderValue>> | null = null;
  /** The code the exiting plugin gave, until the answer is sent. */
  exitReason: string | null = null;
  /** Set by `exitError()`: the exit body is `{ message }`, sent in the format the client accepts. */
  exitIsError = false;
  /** Why the request ended (the exiting plugin's code, or the catalogued error's); see LogEntry.reason. */
  reason: string | null = null;
  /** Plugin handlers that returned a promise, timed (performance.now() values); null when none did. */
  pluginSteps: PluginStep[] | null = null;
  /** Attempts at upstream targets (`start` a performance.now() value); null when none was made. */
  tries: AttemptRecord[] | null = null;
  /**
   * The response head as sent on an HTTP/2 stream (with its `:status`): the compatibility
   * response, which the head bypasses, holds no headers then. Null on HTTP/1.1.
   */
  streamResponseHeaders: Record<string, string | string[] | number> | null = null;
  /**
   * The head given to HTTP/1.1's `writeHead` (a flat name/value list or an object): node keeps
   * no copy of it (`getHeaders()` is empty after `writeHead(status, headers)`), and the log entry's
   * `response.headers` is read from it. Kept as given; converted only when a logger asks.
   */
  sentResponseHead: readonly string[] | Readonly<Record<string, HeaderValue | undefined>> | null = null;

  readonly startedAt: number;
  upstreamStartedAt = 0;
  upstreamLatency = -1;
  bytesSent = 0;
  /** The client socket's byte count as a chunked HTTP/1 request began (its body is counted off the socket); -1 for any other. */
  bytesReceivedAtStart = -1;
  /** Bytes received from the client for this request (set when it finishes). */
  bytesReceived = 0;
  status = 0;
  error: RequestError | null = null;
  /** Who ended the request: a plugin's name, `kong`, or null while the upstream's answer stands (Kong's `source`). */
  source: string | null = null;
  /** The upstream's (or the echo upstream's) status was taken as the answer; a plugin may still replace it. */
  upstreamAnswered = false;
  /** The status the upstream answered with (before response plugins), 0 until one did. Kong's `upstream_status`. */
  upstreamStatus = 0;
  /** The upstream exchange in flight, so a client abort can cancel it. */
  abortUpstream: ((err?: Error) => void) | null = null;
  /** undici's resume, when the upstream response is paused for client backpressure. */
  resumeUpstream: (() => void) | null = null;
  finished = false;
  response: ResponseContext | null = null;

  private _query: URLSearchParams | null = null;
  private _ctx: Record<string, unknown> | null = null;

  constructor(runtime: Runtime, raw: IncomingMessage, res: ServerResponse, now: number) {
    this.runtime = runtime;
    this.raw = raw;
    this.res = res;
    this.method = raw.method ?? 'GET';
    this.startedAt = now;
  }

  get port(): number {
    return this.raw.socket?.localPort ?? 0;
  }

  get hostPort(): number {
    const port = this.port;
    const maps = this.runtime.hostPorts;
    const mapped = maps === null ? undefined : maps.get(String(port));
    return mapped === undefined ? port : Number(mapped);
  }

  get tls(): { version: string; cipher: string } | null {
    return null;
  }

  /** Null before the route's access phase (Kong's ctx.route is set after its protocol checks). */
  get route(): RouteInfo | null {
    return this.routePlugins ? (this.compiled?.info ?? null) : null;
  }

  /** The plugins that run for this request: its route's once its access phase started, else the global ones. */
  get pipeline(): Pipeline {
    return this.routePlugins && this.compiled !== null ? this.compiled.pipeline : this.runtime.unmatchedPipeline;
  }

  get service(): ServiceInfo | null {
    return this.routePlugins ? (this.compiled?.service?.info ?? null) : null;
  }

  get query(): URLSearchParams {
    return (this._query ??= new URLSearchParams(this.rawQuery));
  }

  get ctx(): Record<string, unknown> {
    return (this._ctx ??= {});
  }

  /** Read-only to plugins: set through `authenticate()`. */
  get claims(): Readonly<Record<string, unknown>> | null {
    return this.#claims;
  }

  /** The identity earlier plugins established, without touching upstream headers (the test kit's synthetic requests). */
  presetIdentity(
    consumer: Consumer | null,
    credential: Credential | null,
    claims: Readonly<Record<string, unknown>> | null,
  ): void {
    this.consumer = consumer;
    this.credential = credential;
    this.#claims = claims === null ? null : freezeClaims(claims);
  }

  get exited(): boolean {
    return this.exitStatus !== 0;
  }

  private overrides(): Map<string, HeaderValue | null> {
    return (this.headerOverrides ??= new Map());
  }

  setUpstreamHeader(name: string, value: HeaderValue): void {
    checkHeader('setUpstreamHeader', name, value);
    this.overrides().set(name.toLowerCase(), value);
  }

  appendUpstreamHeader(name: string, value: string): void {
    checkHeader('appendUpstreamHeader', name, value);
    const key = name.toLowerCase();
    const prev = this.#upstreamValue(key);
    this.overrides().set(key, prev === undefined ? value : typeof prev === 'string' ? [prev, value] : [...prev, value]);
  }

  removeUpstreamHeader(name: string): void {
    const key = name.toLowerCase();
    // Nothing would go upstream under it (oidc strips its own per request): no override map to pay for.
    if (this.headerOverrides === null && this.#upstreamValue(key) === undefined) return;
    this.overrides().set(key, null);
  }

  getUpstreamHeader(name: string): HeaderValue | undefined {
    return this.#upstreamValue(name.toLowerCase());
  }

  getUpstreamHeaders(): Record<string, HeaderValue> {
    const src = this.headers as Record<string, HeaderValue | undefined>;
    const overrides = this.headerOverrides;
    // Null prototype: a client's `__proto__` header is a key like any other.
    const out: Record<string, HeaderValue> = Object.create(null);
    for (const name in src) {
      const v = src[name];
      // The client's Transfer-Encoding and Proxy-Authorization stay for the gateway's own checks
      // (framing, Kong's basic-auth reading the latter): neither is forwarded.
      if (
        v !== undefined &&
        name !== 'transfer-encoding' &&
        name !== 'proxy-authorization' &&
        (overrides === null || !overrides.has(name))
      )
        out[name] = v;
    }
    if (overrides !== null)
      for (const [name, v] of overrides)
        if (v !== null && (sentForPlugin(name, v) || !neverForwarded(name))) out[name] = v;
    if (this.authenticated)
      for (let i = 0; i < AUTHENTICATION_HEADERS.length; i++) {
        const v = this.authenticationHeader(i);
        if (v !== null) out[AUTHENTICATION_HEADERS[i]!] = v;
      }
    return out;
  }

  #upstreamValue(key: string): HeaderValue | undefined {
    const o = this.headerOverrides;
    if (o?.has(key)) return o.get(key) ?? undefined;
    if (this.authenticated) {
      const i = (AUTHENTICATION_HEADERS as readonly string[]).indexOf(key);
      if (i !== -1) return this.authenticationHeader(i) ?? undefined;
    }
    return (this.headers as Record<string, HeaderValue | undefined>)[key];
  }

  /**
   * What `authenticate()` sends as AUTHENTICATION_HEADERS[i]; null when it sends nothing there:
   * no authentication, no value, or a plugin's later change in `headerOverrides` stands instead.
   */
  authenticationHeader(i: number): string | null {
    if (!this.authenticated || this.headerOverrides?.has(AUTHENTICATION_HEADERS[i]!) === true) return null;
    // Names may be any UTF-8 text (`日本`): sent as their bytes, as Kong does (made by authenticate()).
    if (i < 4) return this.#identityHeaders[i] ?? null;
    return this.anonymousConsumer ? 'true' : null;
  }

  get routedPath(): string {
    const route = this.compiled;
    // No route (a global plugin's log phase after the router's 404): nothing strips the path.
    if (route === null) return this.path;
    return upstreamPath(route.service?.model.path ?? null, route, this.path, this.matchedPath);
  }

  setUpstreamPath(path: string): void {
    checkPath(path);
    this.upstreamPath = path;
  }

  setUpstreamQuery(query: string): void {
    checkQuery(query);
    this.upstreamQuery = query;
  }

  setUpstreamBody(body: string | Buffer | NodeJS.ReadableStream): void {
    if (typeof body !== 'string' && !Buffer.isBuffer(body)) {
      // Anything else reached undici: a 502 blamed on the upstream, or a hang holding its connection.
      if (typeof (body as { pipe?: unknown } | null)?.pipe !== 'function') throw notABody(body);
      this.upstreamBody = body;
      this.upstreamBodyPlugin = this.accessPlugin;
      if (!body.listeners('error').includes(keepBodyError)) body.on('error', keepBodyError);
      return;
    }
    const buf = typeof body === 'string' ? Buffer.from(body) : body;
    this.upstreamBody = buf;
    const o = this.overrides();
    o.set('transfer-encoding', null);
    o.set('content-length', String(buf.length));
  }

  holdBody(bytes: number): void {
    // Counted into the process's one budget: a NaN (a plugin's undefined length) would turn its
    // sum into NaN and switch the budget off for every request until restart, a negative count
    // would lend the others room the memory does not have.
    if (typeof bytes !== 'number' || !Number.isFinite(bytes) || bytes < 0)
      throw new TypeError(`holdBody: the count must be a number of bytes, not ${String(bytes)}`);
    holdBodyBytes(this.res, bytes);
  }

  async readBody(limit: number): Promise<Buffer | null> {
    if (this.bodyReading !== null) {
      // A second read of the stream would take this one's place, leaving it pending for ever: share.
      const first = await this.bodyReading;
      return first !== null && first.length <= limit ? first : null;
    }
    const current = this.upstreamBody;
    if (Buffer.isBuffer(current)) return current.length <= limit ? current : null;
    const source = current ?? (hasRequestBody(this) ? this.raw : null);
    if (source === null) return EMPTY_BODY;
    // Streamed to the upstream, or dropped once the answer went (the log phase), and not held: no
    // copy is left, and an empty buffer would be taken for the body. Kong's get_raw_body likewise
    // answers nil for a body nginx did not keep in memory.
    if (this.upstreamStartedAt !== 0 || this.finished || (source as { readableEnded?: boolean }).readableEnded === true)
      return null;
    // The client's body, or a stream over it (request-size-limiting's count): the client may wait for 100 Continue.
    this.sendContinue();
    // The client's pace is not the plugin's: its phase deadline (plugin_timeout) waits while this read does.
    this.bodyReads++;
    let body: Buffer | null;
    try {
      body = await (this.bodyReading = readBodyWithin(source, limit, this.res));
    } finally {
      this.bodyReads--;
      this.bodyReading = null;
    }
    // The stream is consumed: later plugins and the upstream get the bytes from this buffer.
    if (body !== null) this.setUpstreamBody(body);
    return body;
  }

  /**
   * Answers `Expect: 100-continue` once, when the body is first wanted: by a plugin reading it in
   * the access phase (nginx sends it when the body is read), else when the request is proxied. A
   * client that waits for it would otherwise hold its body back until client_body_timeout.
   */
  sendContinue(): void {
    if (!this.continuePending) return;
    this.continuePending = false;
    this.res.writeContinue();
  }

  recordUpstreamLatency(ms: number): void {
    if (this.upstreamStartedAt === 0 && ms >= 0 && Number.isFinite(ms)) this.upstreamLatency = ms;
  }

  setUpstreamMethod(method: string): void {
    checkMethod(method);
    this.upstreamMethod = method.toUpperCase();
  }

  exit(status: number, body?: unknown, headers?: Readonly<Record<string, HeaderValue>> | null, reason?: string): void {
    // The first answer stands, as Kong's kong.response.exit yields out of the handler at once: a
    // ported plugin that calls it again without returning first must not replace it.
    if (this.exitStatus !== 0) return;
    if (headers) for (const k in headers) if (headers[k] !== undefined) checkHeader('exit', k, headers[k]);
    this.exitStatus = status;
    this.exitBody = body;
    this.exitHeaders = headers ?? null;
    this.exitReason = reason ?? null;
    this.exitIsError = false;
  }

  exitError(
    status: number,
    message?: string,
    headers?: Readonly<Record<string, HeaderValue>> | null,
    reason?: string,
  ): void {
    if (this.exitStatus !== 0) return;
    if (headers) for (const k in headers) if (headers[k] !== undefined) checkHeader('exitError', k, headers[k]);
    this.exitStatus = status;
    this.exitBody = { message: message ?? defaultErrorMessage(status) };
    this.exitHeaders = headers ?? null;
    this.exitReason = reason ?? null;
    this.exitIsError = true;
  }

  authenticate(
    consumer: Consumer | null,
    credential: Credential | null,
    options?: boolean | AuthenticateOptions,
  ): void {
    // What becomes an identity header is checked here, as setUpstreamHeader's values are: a
    // control character sent on was refused by the HTTP client, a 502 blamed on the upstream.
    const headers = identityHeaders(consumer, credential);
    if (headers === null)
      throw new TypeError('authenticate: the identity has a character a header cannot carry (CR, LF, NUL, ...)');
    this.#identityHeaders = headers;
    const anonymous = typeof options === 'boolean' ? options : options?.anonymous === true;
    const claims = typeof options === 'object' ? (options.claims ?? null) : null;
    this.consumer = consumer;
    this.credential = credential;
    this.#claims = claims === null ? null : freezeClaims(claims);
    this.authenticated = true;
    this.anonymousConsumer = anonymous;
    // The latest call wins, as Kong's set_header calls would: over an earlier plugin's own values.
    const o = this.headerOverrides;
    if (o !== null) for (const name of AUTHENTICATION_HEADERS) o.delete(name);
  }
}

const NO_STEPS: readonly PluginStep[] = Object.freeze([]);
const NO_TRIES: readonly UpstreamTry[] = Object.freeze([]);

/** An attempt as the proxy records it: the last one's state is set when it fails and is retried. */
export type AttemptRecord = { -readonly [K in keyof UpstreamTry]: UpstreamTry[K] };

export class LogEntryImpl implements LogEntry {
  readonly status: number;
  readonly bytesSent: number;
  readonly responseSize: number;
  readonly bytesReceived: number;
  readonly upstreamLatency: number;
  readonly error: RequestError | null;
  readonly startedAt: number;
  readonly source: string;
  readonly secretHeaders: ReadonlySet<string>;
  readonly secretQueryParams: ReadonlySet<string>;
  readonly reason: string | null;
  readonly upstreamStartedAt: number;
  readonly upstreamStatus: number;
  private readonly rc: RequestContext;
  private headersSent: Record<string, string | string[] | number | undefined> | null = null;

  constructor(
    rc: RequestContext,
    readonly latency: number,
    readonly upstreamUri: string | null,
  ) {
    this.rc = rc;
    this.status = rc.status;
    this.bytesSent = rc.bytesSent;
    this.responseSize = rc.bytesSent + responseHeadBytes(rc);
    this.bytesReceived = rc.bytesReceived;
    this.upstreamLatency = rc.upstreamLatency;
    this.error = rc.error;
    this.startedAt = Math.round(performance.timeOrigin + rc.startedAt);
    this.source = answerSource(rc);
    const pipeline = rc.pipeline;
    this.secretHeaders = pipeline.secretHeaders;
    this.secretQueryParams = pipeline.secretQueryParams;
    this.reason = rc.reason ?? rc.error?.code ?? null;
    this.upstreamStatus = rc.upstreamStatus;
    this.upstreamStartedAt = rc.upstreamStartedAt > 0 ? performance.timeOrigin + rc.upstreamStartedAt : -1;
  }

  get pluginSteps(): readonly PluginStep[] {
    const steps = this.rc.pluginSteps;
    if (steps === null) return NO_STEPS;
    const origin = performance.timeOrigin;
    // Stored as performance.now() values; converted once, for the plugins that ask.
    return steps.map((s) => ({ plugin: s.plugin, phase: s.phase, start: origin + s.start, end: origin + s.end }));
  }

  get tries(): readonly UpstreamTry[] {
    const tries = this.rc.tries;
    if (tries === null) return NO_TRIES;
    const origin = performance.timeOrigin;
    return tries.map((t) => ({ ...t, start: Math.round(origin + t.start) }));
  }

  get responseHeaders(): Readonly<Record<string, string | string[] | number | undefined>> {
    return (this.headersSent ??=
      this.rc.streamResponseHeaders ??
      headObject(
        this.rc.sentResponseHead,
        this.rc.res.getHeaders() as Record<string, string | string[] | number | undefined>,
      ));
  }
}

/**
 * The head `writeHead` was given, names lower-cased and repeated ones in an array, plus any header
 * set on the response before (`setHeader`), which node merged into what it sent.
 */
function headObject(
  sent: readonly string[] | Readonly<Record<string, HeaderValue | undefined>> | null,
  set: Record<string, string | string[] | number | undefined>,
): Record<string, string | string[] | number | undefined> {
  if (sent === null) return set;
  // Null prototype, as node's getHeaders(): an upstream's `__proto__` header is a key like any other.
  const out: Record<string, string | string[] | number | undefined> = Object.create(null);
  const add = (rawName: string, value: HeaderValue | number | undefined) => {
    if (value === undefined) return;
    const name = rawName.toLowerCase();
    const v = typeof value === 'number' ? String(value) : value;
    const prev = Object.hasOwn(out, name) ? out[name] : undefined;
    // Appended in place (the arrays are this function's own): copying on each repeat is quadratic.
    const list = prev === undefined ? null : Array.isArray(prev) ? prev : (out[name] = [String(prev)]);
    if (list === null) out[name] = typeof v === 'string' ? v : [...v];
    else if (typeof v === 'string') list.push(v);
    else list.push(...v);
  };
  if (Array.isArray(sent)) {
    const flat = sent as readonly string[];
    for (let i = 0; i < flat.length; i += 2) add(flat[i]!, flat[i + 1]);
  } else {
    const object = sent as Readonly<Record<string, HeaderValue | undefined>>;
    for (const name in object) add(name, object[name]);
  }
  for (const name in set) if (!Object.hasOwn(out, name)) out[name] = set[name];
  return out;
}

/**
 * Who answered, as the access log, log entries and metrics report it: the plugin or `kong` that
 * ended the request, else the upstream when its status went out, even if its body was then cut off
 * (Kong's `kong.response.get_source()` says `service` once the request was proxied), else `kong`.
 */
export function answerSource(rc: RequestContext): string {
  if (rc.source !== null) return rc.source;
  return rc.upstreamAnswered || rc.error === null ? 'upstream' : 'kong';
}
