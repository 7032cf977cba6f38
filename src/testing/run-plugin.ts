/**
 * The light harness of the test kit: one plugin's phases against a synthetic request, without a
 * listener or an upstream. The plugin is validated, defaulted and created exactly as the gateway
 * does it (its config goes through `loadConfigText` and `compileRuntime`), and its handlers get
 * the gateway's own request and response objects, so what a test sees is what production sees.
 */
import { randomUUID } from 'node:crypto';
import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import { Writable } from 'node:stream';
import { stringify } from 'yaml';
import { loadConfigText } from '../config/load.ts';
import { ConfigError } from '../errors.ts';
import { hasRequestBody } from '../lib/request-body.ts';
import { createLogger } from '../log.ts';
import { compileRuntime } from '../pipeline/compile.ts';
import type { Consumer, Credential, HeaderValue, PluginDefinition } from '../pipeline/plugin.ts';
import { LogEntryImpl, RequestContext } from '../pipeline/request.ts';
import { ResponseContext } from '../pipeline/response.ts';
import type { Runtime } from '../pipeline/runtime.ts';
import { builtinPlugins } from '../plugins/index.ts';
import { exitAnswer } from '../proxy/exit-answer.ts';
import { hostVariable, readClientHeaders } from '../proxy/request-checks.ts';
import { upstreamHost, upstreamPathOf, upstreamTarget } from '../proxy/upstream-request.ts';
import { normalizePath } from '../router/normalize.ts';
import { useResolver } from '../upstream/dns.ts';

/** The request `runPlugin` hands to the plugin. Everything is optional. */
export interface SyntheticRequest {
  /** Default `GET`. */
  method?: string;
  /** The request path (normalized as the gateway does: dot segments, percent-encoding); default `/`. */
  path?: string;
  /** Query string without `?`, or name → value. */
  query?: string | Record<string, string>;
  /**
   * Client request headers. They are read as the gateway reads them: hop-by-hop, Connection-listed
   * and client-sent identity headers never reach the plugin or the upstream.
   */
  headers?: Record<string, string | string[]>;
  /** A body the plugin can read from `req.raw`. */
  body?: string | Buffer;
  /** Default `127.0.0.1`. */
  clientIp?: string;
  /** The connection's peer (`req.peerIp`); default `clientIp`. */
  peerIp?: string;
  /** Default `http`. */
  scheme?: 'http' | 'https';
  /** Default `localhost`. */
  host?: string;
  /** Named captures of a regex route. */
  captures?: Record<string, string>;
  /**
   * The consumer an earlier authentication plugin identified: the id or username of one of
   * `options.consumers`.
   */
  consumer?: string;
  credential?: Credential;
  /** Verified claims, as an authentication plugin leaves them in `req.claims`. */
  claims?: Record<string, unknown>;
  /** What earlier plugins left in `req.ctx`. */
  ctx?: Record<string, unknown>;
  /** The upstream response the `response` phase sees (skipped when `access` exits). Default 200, no headers. */
  upstream?: {
    status?: number;
    headers?: Record<string, HeaderValue>;
    body?: unknown;
    /** The upstream's trailers, which a `filterBody` filter's `end` gets; default none. */
    trailers?: Record<string, string>;
  };
}

export interface RunPluginOptions {
  /** Consumers (Kong's shape, credentials nested) for `context.services.consumers` and `request.consumer`. */
  consumers?: Record<string, unknown>[];
  /** Certificates (Kong's shape: `id`, `cert`, `key` PEM) for `context.services.certificates`. */
  certificates?: Record<string, unknown>[];
  /** The `_tollgate` section, e.g. `{ trusted_ips: [...] }`. */
  settings?: Record<string, unknown>;
  /** Environment for `${NAME}` references in the config; default none. */
  env?: Record<string, string | undefined>;
  /** Milliseconds an async phase may take before `runPlugin` rejects; default 10000. */
  timeout?: number;
}

/** What the phases did. */
export interface PluginRunResult {
  /** Whether `access` answered the request with `exit()`. */
  exited: boolean;
  /** The status the client gets: the exit status, or the upstream status after `response`. */
  status: number;
  /**
   * The body passed to `exit()` (an object stays an object), else `upstream.body`; when the
   * response phase called `res.transformBody()`, the transformed body as a string (an object
   * `upstream.body` is given to the transform as JSON). When it called `res.filterBody()`, the
   * upstream body (as one chunk) and the filters' end, before any transform: a Buffer when
   * `upstream.body` was one, else a string.
   */
  body: unknown;
  /**
   * Response headers after the `response` phase (exit headers when the plugin exited), with the
   * `content-length` the gateway sends whatever the phase set (`sentLength`).
   */
  responseHeaders: Record<string, HeaderValue | undefined>;
  /**
   * The request headers the upstream receives, exactly as the gateway forwards them: the client's
   * headers without hop-by-hop, Connection-listed and client-sent identity headers (`X-Consumer-*`,
   * `X-Credential-Identifier`, ...), with the plugin's changes applied. Headers the gateway adds
   * after the plugins are left out (`X-Forwarded-*`, `X-Real-IP`, `Via`, the request id); `host`
   * is a plugin's, else the client's (what `preserve_host: true` sends).
   */
  upstreamHeaders: Record<string, HeaderValue>;
  /** The method the upstream receives (the request's unless the plugin changed it). */
  upstreamMethod: string;
  /** The path the upstream receives (the normalized request path unless the plugin changed it). */
  upstreamPath: string;
  /** The query string the upstream receives, without `?` (empty for none). */
  upstreamQuery: string;
  /** The body the upstream receives: the plugin's replacement (a stream is read to the end), else what is left of the client's; null without a body. */
  upstreamBody: Buffer | null;
  consumer: Consumer | null;
  credential: Credential | null;
  claims: Readonly<Record<string, unknown>> | null;
  ctx: Record<string, unknown>;
  /**
   * Whether `access` and `response` returned a promise. The gateway keeps a request on its
   * synchronous fast path while no phase does (a cache hit answered without awaiting, say).
   */
  async: { access: boolean; response: boolean };
  /** Every JSON log line so far, `create()`'s included (the plugin's lines carry `plugin: NAME`). */
  logs: Record<string, unknown>[];
}

/** One configured plugin instance, kept across requests (caches, counters and resources persist). */
export interface PluginRunner {
  /** Runs the phases against one synthetic request; requests may overlap. */
  run(request?: SyntheticRequest): Promise<PluginRunResult>;
  /** Every JSON log line so far, `create()`'s included. */
  readonly logs: Record<string, unknown>[];
  /** Closes the instance's resources (Redis clients, timers), as a reload retiring it does. */
  close(): Promise<void>;
}

/**
 * Runs one plugin's `access`, `response` and `log` phases against a synthetic request.
 * Rejects with the plugin's own error when a phase throws, with a ConfigError (its message lists
 * the problems) when the config is invalid, with an error naming the code when the gateway would
 * refuse the request before any plugin ran, and with a timeout error when a phase never settles.
 *
 * @example
 * import { runPlugin } from 'tollgate/testing';
 * import plugin from './index.ts';
 * const r = await runPlugin(plugin, { header: 'x-tenant' }, { claims: { tenant: 'acme' } });
 * assert.equal(r.upstreamHeaders['x-tenant'], 'acme');
 */
export async function runPlugin<C>(
  def: PluginDefinition<C>,
  config: Record<string, unknown>,
  request: SyntheticRequest = {},
  options: RunPluginOptions = {},
): Promise<PluginRunResult> {
  const runner = await startPlugin(def, config, options);
  try {
    return await runner.run(request);
  } finally {
    await runner.close();
  }
}

/**
 * Validates and creates one plugin instance as the gateway does, for several requests against the
 * same instance (a cache, a counter, a consumer's decision kept between requests).
 *
 * @example
 * const limiter = await startPlugin(plugin, { minute: 2 });
 * try {
 *   assert.equal((await limiter.run()).status, 200);
 *   assert.equal((await limiter.run()).status, 200);
 *   assert.equal((await limiter.run()).status, 429);
 * } finally {
 *   await limiter.close();
 * }
 */
export async function startPlugin<C>(
  def: PluginDefinition<C>,
  config: Record<string, unknown>,
  options: RunPluginOptions = {},
): Promise<PluginRunner> {
  const plugins = new Map(builtinPlugins);
  plugins.set(def.name, def as PluginDefinition);
  // preserve_host: the Host a test gives is the Host the upstream gets, as with a plugin that sets it.
  const doc = {
    _format_version: '3.0',
    ...(options.settings === undefined ? {} : { _tollgate: options.settings }),
    services: [
      { name: 'under-test', url: 'echo://', routes: [{ name: 'under-test', paths: ['/'], preserve_host: true }] },
    ],
    consumers: options.consumers ?? [],
    ...(options.certificates === undefined ? {} : { certificates: options.certificates }),
    plugins: [{ name: def.name, config }],
  };
  const logs: Record<string, unknown>[] = [];
  const log = createLogger({ level: 'debug', destination: lineSink(logs) as never });
  let loaded;
  try {
    loaded = await loadConfigText(stringify(doc), 'runPlugin.yaml', { env: options.env ?? {}, plugins });
  } catch (err) {
    throw explained(err, def.name);
  }
  // A custom plugin's create() is bounded by plugin_create_timeout, as the gateway bounds it: one
  // that never settled left the test waiting forever, or node:test cancelling the whole file.
  const boundedCreate = builtinPlugins.get(def.name) === def ? undefined : new Set([def.name]);
  const runtime = await compileRuntime(loaded, { plugins, log, boundedCreate }).catch((err: unknown) => {
    throw explained(err, def.name);
  });
  // The plugin's own connections (`dnsLookup`) resolve with this config's dns_* settings, as served.
  useResolver(loaded.settings);
  const timeout = options.timeout ?? 10_000;
  let closed = false;
  return {
    logs,
    run: (request = {}) => {
      if (closed) return Promise.reject(new Error('runPlugin: run() after close()'));
      return runOnce(runtime, request, timeout, logs);
    },
    async close() {
      if (closed) return;
      closed = true;
      runtime.retired = true;
      await runtime.close();
    },
  };
}

async function runOnce(
  runtime: Runtime,
  request: SyntheticRequest,
  timeout: number,
  logs: Record<string, unknown>[],
): Promise<PluginRunResult> {
  const inst = runtime.plugins[0]!;
  const rc = syntheticContext(runtime, request);
  let consumer: Consumer | null = null;
  if (request.consumer !== undefined) {
    consumer = runtime.consumers.find(request.consumer);
    if (consumer === null)
      throw new Error(`runPlugin: request.consumer '${request.consumer}' is not one of options.consumers`);
  }
  rc.presetIdentity(consumer, request.credential ?? null, request.claims ? { ...request.claims } : null);
  const accessResult = inst.handlers.access?.(rc);
  await bounded(accessResult, timeout, 'access');
  // Only an access phase's exit() answers: the gateway ignores one a response handler makes.
  const exited = rc.exited;
  let res: ResponseContext;
  /** The Content-Length that frames the body on the wire before the response phase: the exit's, the upstream's. */
  let framed: HeaderValue | undefined;
  if (exited) {
    // The head the gateway sends for the exit (content-type, content-length), as its response phase
    // sees it; an exit it cannot send is the plugin's failure there, and a rejection here.
    const answer = exitAnswer(rc);
    if (answer instanceof Error) throw answer;
    res = new ResponseContext(answer.status, answer.headers, true, answer.spelling);
  } else {
    const headers: Record<string, HeaderValue | undefined> = {};
    for (const [k, v] of Object.entries(request.upstream?.headers ?? {})) headers[k.toLowerCase()] = v;
    res = new ResponseContext(request.upstream?.status ?? 200, headers, false);
  }
  // An exit's body has its length even when bodiless (a 204 made a 200 by the response phase: 0).
  framed = res.headers['content-length'] ?? (exited ? '0' : undefined);
  rc.response = res;
  // What the upstream would read: the replacement, else the rest of the client's body. Read before
  // the response phase, as the upstream reads it before it answers: not held for a late readBody().
  const replaced = rc.upstreamBody;
  const source = replaced ?? (!exited && hasRequestBody(rc) ? rc.raw : null);
  const upstreamBody =
    source === null ? null : Buffer.isBuffer(source) ? source : await bounded(drain(source), timeout, 'body');
  const responseResult = inst.handlers.response?.(rc, res);
  await bounded(responseResult, timeout, 'response');
  res.settleHead();
  // The body as the plugin gave it to exit(); the gateway adds `request_id` to a JSON error body on the wire.
  let body: unknown = exited ? rc.exitBody : request.upstream?.body;
  // The gateway runs filters on an upstream body only (not an exit's), and on none without a body.
  const filtered = res.bodyFilters !== null && !exited && rc.method !== 'HEAD' && ![204, 205, 304].includes(res.status);
  if (filtered) {
    const chunk = res.filterChunk(asBytes(body), rc);
    const tail = res.filterEnd(request.upstream?.trailers ?? null, rc);
    const out = Buffer.concat([chunk, tail]);
    body = Buffer.isBuffer(body) ? out : out.toString('utf8');
    framed = undefined;
  }
  if (res.bodyTransforms !== null) {
    const raw = asBytes(body);
    const rewritten = res.applyTransforms(raw);
    body = rewritten.toString('utf8');
    framed = String(rewritten.length);
  }
  sentLength(res, rc.method, framed, exited || filtered || res.bodyTransforms !== null);
  const svc = rc.compiled!.service!;
  // The log phase sees the finished exchange as the gateway records it: status, headers sent, who answered.
  rc.status = res.status;
  if (!exited) rc.upstreamStatus = request.upstream?.status ?? 200;
  rc.source = exited ? inst.name : null;
  rc.reason = exited ? rc.exitReason : null;
  for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) rc.res.setHeader(k, v as string | string[]);
  rc.finished = true; // the answer went: a body nobody held is gone by the log phase
  const logResult: unknown = inst.handlers.log?.(
    rc,
    new LogEntryImpl(rc, performance.now() - rc.startedAt, exited ? null : upstreamTarget(rc, svc)),
  );
  // The gateway catches a log handler's rejection and logs it; here it rejects the run, as a throw
  // does, instead of ending the test process as an unhandled rejection.
  await bounded(logResult, timeout, 'log');
  // A plain object, as the kit always gave (a client's `__proto__` header an own key of it).
  const upstreamHeaders: Record<string, HeaderValue> = { ...rc.getUpstreamHeaders() };
  upstreamHeaders.host = upstreamHost(rc, svc.hostHeader);
  return {
    exited,
    status: res.status,
    body,
    responseHeaders: res.headers,
    upstreamHeaders,
    upstreamMethod: rc.upstreamMethod ?? rc.method,
    upstreamPath: upstreamPathOf(rc, svc),
    upstreamQuery: rc.upstreamQuery ?? rc.rawQuery,
    upstreamBody: upstreamBody ?? null,
    consumer: rc.consumer,
    credential: rc.credential,
    claims: rc.claims,
    ctx: rc.ctx,
    async: { access: isPromise(accessResult), response: isPromise(responseResult) },
    logs,
  };
}

/**
 * The Content-Length the gateway sends, whatever the response phase set (reply.ts writeResponse,
 * exchange.ts streamedLength): the length of a body the gateway has whole (`whole`: an exit's, a
 * rewritten one); a streamed upstream body's own, none when the upstream sent none, none when the
 * plugin removed it (chunked); a HEAD or 304 answer's as set; none on a 204 or 205 (response-head.ts).
 */
function sentLength(res: ResponseContext, method: string, framed: HeaderValue | undefined, whole: boolean): void {
  const status = res.status;
  if (status === 204 || status === 205) delete res.headers['content-length'];
  else if (method === 'HEAD' || status === 304) return;
  else if (!whole && res.headers['content-length'] === undefined) return;
  else if (framed === undefined) delete res.headers['content-length'];
  else res.headers['content-length'] = framed;
}

/** A synthetic body as the bytes the gateway would send: an object as JSON. */
function asBytes(body: unknown): Buffer {
  if (Buffer.isBuffer(body)) return body;
  return Buffer.from(typeof body === 'string' ? body : body === undefined ? '' : JSON.stringify(body));
}

function isPromise(v: unknown): boolean {
  return v !== null && typeof v === 'object' && typeof (v as { then?: unknown }).then === 'function';
}

async function drain(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream as AsyncIterable<Buffer | string>) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(c));
  return Buffer.concat(chunks);
}

/**
 * A RequestContext on a real (unconnected) IncomingMessage, filled from the synthetic request
 * through the proxy's own header reading, path normalization and route match.
 */
function syntheticContext(runtime: Runtime, r: SyntheticRequest): RequestContext {
  const settings = runtime.config.settings;
  const raw = new IncomingMessage(new Socket());
  raw.method = (r.method ?? 'GET').toUpperCase();
  const rawQuery =
    typeof r.query === 'string' ? r.query.replace(/^\?/, '') : new URLSearchParams(r.query ?? {}).toString();
  const rawPath = r.path ?? '/';
  raw.url = rawQuery === '' ? rawPath : `${rawPath}?${rawQuery}`;
  raw.httpVersion = '1.1';
  raw.httpVersionMajor = 1;
  raw.httpVersionMinor = 1;
  const rawHeaders: string[] = [];
  let hasHost = false;
  let framed = false;
  for (const [k, v] of Object.entries(r.headers ?? {})) {
    const name = k.toLowerCase();
    if (name === 'host') hasHost = true;
    if (name === 'content-length' || name === 'transfer-encoding') framed = true;
    for (const value of Array.isArray(v) ? v : [v]) rawHeaders.push(k, value);
  }
  if (!hasHost) rawHeaders.push('host', r.host ?? 'localhost');
  if (r.body !== undefined && !framed) rawHeaders.push('content-length', String(Buffer.byteLength(r.body)));
  raw.rawHeaders = rawHeaders;
  // Node fills these from its parser's header count; an unparsed message needs them given.
  const joined: Record<string, string | string[]> = {};
  const distinct: Record<string, string[]> = {};
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!.toLowerCase();
    const value = rawHeaders[i + 1]!;
    (distinct[name] ??= []).push(value);
    const prev = joined[name];
    if (name === 'set-cookie') joined[name] = [...((prev as string[] | undefined) ?? []), value];
    else joined[name] = prev === undefined ? value : `${prev}${name === 'cookie' ? '; ' : ', '}${value}`;
  }
  raw.headers = joined;
  Object.defineProperty(raw, 'headersDistinct', { value: distinct });
  if (r.body !== undefined) raw.push(typeof r.body === 'string' ? Buffer.from(r.body) : r.body);
  raw.push(null);
  const rc = new RequestContext(runtime, raw, new ServerResponse(raw), performance.now());
  const headers: Record<string, HeaderValue> = {};
  const refused = readClientHeaders(raw, false, settings, headers);
  if (refused !== null)
    throw new Error(`runPlugin: the gateway refuses this request before any plugin runs (${refused})`);
  rc.headers = headers as RequestContext['headers'];
  rc.id = randomUUID();
  rc.path = normalizePath(rawPath, settings.encoded_slashes);
  rc.rawQuery = rawQuery;
  rc.clientIp = r.clientIp ?? '127.0.0.1';
  rc.peerIp = r.peerIp ?? rc.clientIp;
  rc.scheme = r.scheme ?? 'http';
  const hostHeader = typeof headers.host === 'string' ? headers.host : (r.host ?? 'localhost');
  rc.hostHeader = hostHeader;
  const colon = hostHeader.lastIndexOf(':');
  rc.host = hostVariable(colon > hostHeader.lastIndexOf(']') ? hostHeader.slice(0, colon) : hostHeader);
  const match = runtime.router.match(rc.method, hostHeader, rc.path, rc.headers);
  if (match === null) throw new Error('runPlugin: the test route did not match');
  rc.compiled = match.route;
  rc.routePlugins = true;
  rc.matchedPath = match.matchedPath;
  rc.captures = r.captures !== undefined ? Object.freeze({ ...r.captures }) : match.captures;
  if (r.ctx !== undefined) Object.assign(rc.ctx, r.ctx);
  return rc;
}

function bounded<T>(p: T | Promise<T> | undefined, ms: number, phase: string): Promise<T> | T | undefined {
  if (!isPromise(p)) return p as T | undefined;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`runPlugin: the ${phase} phase did not settle within ${ms} ms`)), ms);
  });
  return Promise.race([p as Promise<T>, deadline]).finally(() => clearTimeout(timer));
}

/** A ConfigError whose message lists its problems, so a failing test says what is wrong. */
function explained(err: unknown, name: string): unknown {
  if (err instanceof ConfigError) {
    const own = `plugin '${name}': `;
    err.message = err.issues
      .map(
        (i) =>
          `${i.path.replace(/^plugins\[0\]\.?/, '') || 'config'}: ${i.message.startsWith(own) ? i.message.slice(own.length) : i.message}`,
      )
      .join('; ');
  }
  return err;
}

/** Collects JSON log lines. */
export function lineSink(into: Record<string, unknown>[]): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line.trim() !== '') into.push(JSON.parse(line) as Record<string, unknown>);
      }
      cb();
    },
  });
}
