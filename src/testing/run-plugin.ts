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
import { createLogger } from '../log.ts';
import { compileRuntime } from '../pipeline/compile.ts';
import type { Consumer, Credential, HeaderValue, PluginDefinition } from '../pipeline/plugin.ts';
import { LogEntryImpl, RequestContext, ResponseContext } from '../pipeline/request.ts';
import type { Runtime } from '../pipeline/runtime.ts';
import { builtinPlugins } from '../plugins/index.ts';

/** The request `runPlugin` hands to the plugin. Everything is optional. */
export interface SyntheticRequest {
  /** Default `GET`. */
  method?: string;
  /** The normalized path; default `/`. */
  path?: string;
  /** Query string without `?`, or name → value. */
  query?: string | Record<string, string>;
  /** Client request headers (names are lower-cased). */
  headers?: Record<string, string | string[]>;
  /** A body the plugin can read from `req.raw`. */
  body?: string | Buffer;
  /** Default `127.0.0.1`. */
  clientIp?: string;
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
  upstream?: { status?: number; headers?: Record<string, HeaderValue>; body?: unknown };
}

export interface RunPluginOptions {
  /** Consumers (Kong's shape, credentials nested) for `context.services.consumers` and `request.consumer`. */
  consumers?: Record<string, unknown>[];
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
   * `upstream.body` is given to the transform as JSON).
   */
  body: unknown;
  /** Response headers after the `response` phase (exit headers when the plugin exited). */
  responseHeaders: Record<string, HeaderValue | undefined>;
  /** The request headers the upstream would receive, after the plugin's changes (before the gateway's X-Forwarded-*). */
  upstreamHeaders: Record<string, HeaderValue>;
  /** A path, query or body the plugin set for the upstream; null when unchanged. */
  upstreamPath: string | null;
  upstreamQuery: string | null;
  /** A Buffer, or the stream a plugin passed to `setUpstreamBody`. */
  upstreamBody: Buffer | NodeJS.ReadableStream | null;
  consumer: Consumer | null;
  credential: Credential | null;
  claims: Readonly<Record<string, unknown>> | null;
  ctx: Record<string, unknown>;
  /** JSON log lines the plugin wrote (its logger's lines carry `plugin: NAME`). */
  logs: Record<string, unknown>[];
}

/**
 * Runs one plugin's `access`, `response` and `log` phases against a synthetic request.
 * Rejects with the plugin's own error when a phase throws, with a ConfigError (its message lists
 * the problems) when the config is invalid, and with a timeout error when a phase never settles.
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
  const plugins = new Map(builtinPlugins);
  plugins.set(def.name, def as PluginDefinition);
  const doc = {
    _format_version: '3.0',
    ...(options.settings === undefined ? {} : { _tollgate: options.settings }),
    services: [{ name: 'under-test', url: 'echo://', routes: [{ name: 'under-test', paths: ['/'] }] }],
    consumers: options.consumers ?? [],
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
  const runtime = await compileRuntime(loaded, { plugins, log }).catch((err: unknown) => {
    throw explained(err, def.name);
  });
  try {
    const inst = runtime.plugins[0]!;
    const route = runtime.routes[0]!;
    const rc = syntheticContext(runtime, request);
    rc.compiled = route;
    let consumer: Consumer | null = null;
    if (request.consumer !== undefined) {
      consumer = runtime.consumers.find(request.consumer);
      if (consumer === null)
        throw new Error(`runPlugin: request.consumer '${request.consumer}' is not one of options.consumers`);
    }
    rc.presetIdentity(consumer, request.credential ?? null, request.claims ? { ...request.claims } : null);
    const timeout = options.timeout ?? 10_000;
    await bounded(inst.handlers.access?.(rc), timeout, 'access');
    let res: ResponseContext;
    if (rc.exited) {
      const headers: Record<string, HeaderValue | undefined> = {};
      for (const k in rc.exitHeaders ?? {}) headers[k.toLowerCase()] = rc.exitHeaders![k];
      res = new ResponseContext(rc.exitStatus, headers, true);
    } else {
      const headers: Record<string, HeaderValue | undefined> = {};
      for (const [k, v] of Object.entries(request.upstream?.headers ?? {})) headers[k.toLowerCase()] = v;
      res = new ResponseContext(request.upstream?.status ?? 200, headers, false);
    }
    rc.response = res;
    await bounded(inst.handlers.response?.(rc, res), timeout, 'response');
    let body: unknown = rc.exited ? rc.exitBody : request.upstream?.body;
    if (res.bodyTransforms !== null) {
      const raw = Buffer.isBuffer(body)
        ? body
        : Buffer.from(typeof body === 'string' ? body : body === undefined ? '' : JSON.stringify(body));
      body = res.applyTransforms(raw).toString('utf8');
    }
    inst.handlers.log?.(rc, new LogEntryImpl(rc, 0, null));
    return {
      exited: rc.exited,
      status: res.status,
      body,
      responseHeaders: res.headers,
      upstreamHeaders: upstreamHeaders(rc),
      upstreamPath: rc.upstreamPath,
      upstreamQuery: rc.upstreamQuery,
      upstreamBody: rc.upstreamBody,
      consumer: rc.consumer,
      credential: rc.credential,
      claims: rc.claims,
      ctx: rc.ctx,
      logs,
    };
  } finally {
    runtime.retired = true;
    await runtime.close();
  }
}

/** The client headers with the plugin's overrides applied (a null override removes the header). */
function upstreamHeaders(rc: RequestContext): Record<string, HeaderValue> {
  const out: Record<string, HeaderValue> = {};
  for (const [k, v] of Object.entries(rc.headers)) if (v !== undefined) out[k] = v;
  for (const [k, v] of rc.headerOverrides ?? []) {
    if (v === null) delete out[k];
    else out[k] = v;
  }
  return out;
}

/** A RequestContext on a real (unconnected) IncomingMessage, filled from the synthetic request. */
function syntheticContext(runtime: Runtime, r: SyntheticRequest): RequestContext {
  const raw = new IncomingMessage(new Socket());
  raw.method = (r.method ?? 'GET').toUpperCase();
  const rawQuery =
    typeof r.query === 'string' ? r.query.replace(/^\?/, '') : new URLSearchParams(r.query ?? {}).toString();
  const path = r.path ?? '/';
  raw.url = rawQuery === '' ? path : `${path}?${rawQuery}`;
  raw.httpVersion = '1.1';
  const headers: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(r.headers ?? {})) headers[k.toLowerCase()] = v;
  headers.host ??= r.host ?? 'localhost';
  raw.headers = headers;
  if (r.body !== undefined) {
    raw.push(typeof r.body === 'string' ? Buffer.from(r.body) : r.body);
    headers['content-length'] ??= String(Buffer.byteLength(r.body));
  }
  raw.push(null);
  const rc = new RequestContext(runtime, raw, new ServerResponse(raw), performance.now());
  rc.id = randomUUID();
  rc.path = path;
  rc.rawQuery = rawQuery;
  rc.headers = headers;
  rc.clientIp = r.clientIp ?? '127.0.0.1';
  rc.scheme = r.scheme ?? 'http';
  rc.host = (r.host ?? 'localhost').toLowerCase();
  rc.hostHeader = r.host ?? 'localhost';
  if (r.captures !== undefined) rc.captures = Object.freeze({ ...r.captures });
  if (r.ctx !== undefined) Object.assign(rc.ctx, r.ctx);
  return rc;
}

function bounded(p: void | Promise<void> | undefined, ms: number, phase: string): Promise<void> | undefined {
  if (p === undefined || typeof (p as Promise<void>).then !== 'function') return undefined;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<void>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`runPlugin: the ${phase} phase did not settle within ${ms} ms`)), ms);
  });
  return Promise.race([p as Promise<void>, deadline]).finally(() => clearTimeout(timer));
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
