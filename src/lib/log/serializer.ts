/**
 * Kong's log serializer (`kong.log.serialize()`): one entry per request in Kong's shape, built
 * once per request and shared by every log plugin of the route (http-log, file-log, tcp-log, ...).
 * Credentials never leave in it: `authorization`, `proxy-authorization`, `cookie`, `apikey` and any
 * header a plugin of the route declared secret are replaced by `REDACTED`, and so are the response's
 * `set-cookie` values and the values of query parameters the route's plugins declared secret.
 */
import type { Consumer, GatewayRequest, HeaderValue, LogEntry } from '../../pipeline/plugin.ts';
import { kongQueryArgs, type QueryArg, replaceQueryValues } from '../query.ts';
import { TRACE_ID_FORMATS_KEY } from '../tracing/propagation.ts';

export const REDACTED = 'REDACTED';

/**
 * The one workspace a Tollgate file has: Kong DB-less's default, whose id is the constant a
 * declarative config without a `workspaces` entry gets (kong/constants.lua
 * DECLARATIVE_DEFAULT_WORKSPACE_ID), so entries and statsd lines read as a Kong DB-less node's.
 */
export const DEFAULT_WORKSPACE = { id: '0dc6f45b-8f8d-40d2-a504-473544ee190b', name: 'default' } as const;

/** Headers that carry credentials on any route (Kong's plugins read them). */
const ALWAYS_SECRET: ReadonlySet<string> = new Set(['authorization', 'proxy-authorization', 'cookie', 'apikey']);

type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

/** Kong's serialized log entry. */
export interface KongLogEntry {
  request: {
    /** The request's id (Kong 3.5's `request.id`; also top-level `request_id`). */
    id: string;
    method: string;
    uri: string;
    url: string;
    /** Kong's get_query(): an argument written without `=` is `true`. */
    querystring: Record<string, QueryArg | QueryArg[]>;
    headers: Record<string, string | string[]>;
    size: number;
    /** Kong's `request.tls`, on a TLS connection only. */
    tls?: { version: string; cipher: string; client_verify: string };
  };
  upstream_uri: string;
  /** The upstream's status as a string, `""` when none answered (Kong's `upstream_status`, nginx's variable). */
  upstream_status: string;
  response: { status: number; headers: Record<string, string | string[]>; size: number };
  route: Record<string, Json> | null;
  service: Record<string, Json> | null;
  consumer: { id: string; username: string | null; custom_id: string | null; tags: string[] } | null;
  authenticated_entity: { id: string; consumer_id: string | null } | null;
  latencies: { request: number; proxy: number; kong: number; receive: number };
  client_ip: string;
  started_at: number;
  /** Kong's `tries`: one per attempt at a target, a retried one with `state` and `code`. */
  tries: {
    balancer_start: number;
    ip: string;
    port: number;
    balancer_latency: number;
    state?: string;
    code?: number;
  }[];
  source: string;
  /** Why the request ended (the exiting plugin's code, or the gateway's error code); absent for an upstream's answer. */
  reason?: string;
  request_id: string;
  /** The trace id in each format a tracing plugin sent upstream (Kong 3.6+), when one ran. */
  trace_id?: Record<string, string>;
  /** The correlation-id plugin's id (Kong's `correlation_id`), when it ran. */
  correlation_id?: string;
  /** Kong's `workspace` (its id) and `workspace_name`. */
  workspace: string;
  workspace_name: string;
  [custom: string]: Json | unknown;
}

const CACHE_KEY = 'tollgate.kong_log_entry';

/**
 * The entry for this request. The first log plugin to ask builds it; the others get the same
 * object, so a plugin must not change it (copy it to add fields; `withCustomFields` does).
 */
export function serializeKong(req: GatewayRequest, entry: LogEntry): Readonly<KongLogEntry> {
  const cached = req.ctx[CACHE_KEY] as KongLogEntry | undefined;
  if (cached !== undefined) return cached;
  const built = build(req, entry);
  req.ctx[CACHE_KEY] = built;
  return built;
}

/**
 * The request's path and query as loggers show it: the values of the query parameters the route's
 * plugins declared secret (`secretQueryParams`: a key-auth key, a jwt sent as `?jwt=`) read
 * `REDACTED`. Kong logs the query as sent; Tollgate keeps credentials out of every entry.
 */
export function loggedUri(req: GatewayRequest, entry: LogEntry): string {
  const query = redactQuery(req.rawQuery, entry.secretQueryParams);
  if (query !== '') return `${req.path}?${query}`;
  // An empty query the client sent (`/a?`) stays: Kong logs `var.request_uri` as received, and the
  // upstream gets `/a?` too (Kong's runloop keeps it; so does upstreamTarget).
  const url = req.raw?.url;
  return url !== undefined && url.charCodeAt(url.length - 1) === 63 /* ? */ ? `${req.path}?` : req.path;
}

/** `raw` (a query string without `?`) with the value of every parameter named in `secret` replaced. */
export function redactQuery(raw: string, secret: ReadonlySet<string>): string {
  return replaceQueryValues(raw, secret, REDACTED);
}

/** Where the correlation-id plugin leaves its id (its documented `req.ctx['correlation-id']`). */
const CORRELATION_ID_KEY = 'correlation-id';

function build(req: GatewayRequest, entry: LogEntry): KongLogEntry {
  const traceIds = req.ctx[TRACE_ID_FORMATS_KEY] as Record<string, string> | undefined;
  const correlationId = req.ctx[CORRELATION_ID_KEY];
  const uri = loggedUri(req, entry);
  const port = req.hostPort;
  // Kong's serializer always names the port, 80 and 443 included: the one clients connect to
  // (`ctx.host_port`, from `port_maps`), else the listener's (`var.server_port`).
  const url = `${req.scheme}://${req.host}${port !== 0 ? `:${port}` : ''}${uri}`;
  const proxy = entry.upstreamLatency >= 0 ? Math.round(entry.upstreamLatency) : -1;
  const total = Math.round(entry.latency);
  // Kong's KONG_PROXY_LATENCY: the time before the upstream was called (routing, access plugins),
  // the whole request when none was (its KONG_RESPONSE_LATENCY); KONG_RECEIVE_TIME is what came
  // after the upstream's head (its body, the response plugins). `kong` is not request minus proxy:
  // a slow download is not the gateway's latency.
  // A plugin that answered in the service's place and timed its call (aws-lambda): Kong takes
  // the call out of KONG_RESPONSE_LATENCY.
  const kong =
    entry.upstreamStartedAt >= 0
      ? Math.min(total, Math.max(0, Math.round(entry.upstreamStartedAt - entry.startedAt)))
      : proxy >= 0
        ? Math.max(0, total - proxy)
        : total;
  const receive = proxy >= 0 && entry.upstreamStartedAt >= 0 ? Math.max(0, total - kong - proxy) : 0;
  return {
    request: {
      id: req.id,
      method: req.method,
      uri,
      url,
      querystring: kongQueryArgs(req.rawQuery, req.query, entry.secretQueryParams, REDACTED),
      headers: redactedHeaders(req.headers as Record<string, HeaderValue | undefined>, entry.secretHeaders),
      size: entry.bytesReceived,
      ...tlsField(req),
    },
    upstream_uri: kongUpstreamUri(req, entry),
    upstream_status: entry.upstreamStatus > 0 ? String(entry.upstreamStatus) : '',
    response: {
      status: entry.status,
      headers: responseHeaders(entry.responseHeaders, entry.secretQueryParams),
      size: entry.responseSize,
    },
    route: routeJson(req),
    service: req.service === null ? null : serviceJson(req),
    consumer: req.consumer === null ? null : consumerJson(req.consumer),
    authenticated_entity:
      req.credential === null ? null : { id: req.credential.id, consumer_id: req.credential.consumer_id },
    latencies: { request: total, proxy, kong, receive },
    client_ip: req.clientIp,
    started_at: entry.startedAt,
    tries: entry.tries.map((t) => ({
      balancer_start: t.start,
      ip: t.ip,
      port: t.port,
      // Kong's time in its balancer phase: picking a target here is synchronous, well under 1 ms.
      balancer_latency: 0,
      ...(t.state === null ? null : { state: t.state, code: t.code ?? 502 }),
    })),
    source: entry.source,
    ...(entry.reason === null ? null : { reason: entry.reason }),
    workspace: DEFAULT_WORKSPACE.id,
    workspace_name: DEFAULT_WORKSPACE.name,
    request_id: req.id,
    // Present only when the plugin ran, as Kong's set_serialize_value adds them.
    ...(traceIds === undefined ? null : { trace_id: { ...traceIds } }),
    ...(typeof correlationId === 'string' ? { correlation_id: correlationId } : null),
  };
}

/**
 * Kong's `request.tls` (build_tls_info): the protocol version and OpenSSL cipher name of the
 * client's connection, and nginx's $ssl_client_verify, `NONE`: the gateway asks no client
 * certificate. Absent on cleartext, as in Kong.
 */
function tlsField(req: GatewayRequest): { tls: NonNullable<KongLogEntry['request']['tls']> } | null {
  const tls = req.tls;
  return tls === null ? null : { tls: { version: tls.version, cipher: tls.cipher, client_verify: 'NONE' } };
}

function routeJson(req: GatewayRequest): Record<string, Json> | null {
  const r = req.route;
  if (r === null) return null;
  const list = (v: readonly string[] | null): Json => (v === null ? null : [...v]);
  return {
    id: r.id,
    name: r.name,
    paths: list(r.paths),
    hosts: list(r.hosts),
    methods: list(r.methods),
    tags: [...r.tags],
  };
}

/** Kong logs the consumer entity as loaded, its tags included (a team or tier a dashboard groups by). */
function consumerJson(c: Consumer): NonNullable<KongLogEntry['consumer']> {
  return { id: c.id, username: c.username, custom_id: c.custom_id, tags: [...c.tags] };
}

function serviceJson(req: GatewayRequest): Record<string, Json> {
  const s = req.service!;
  return { id: s.id, name: s.name, protocol: s.protocol, host: s.host, port: s.port, path: s.path, tags: [...s.tags] };
}

/**
 * The URI sent upstream, else, for a request a plugin answered once its route matched (key-auth's
 * 401), the one the route makes: Kong sets upstream_uri when its router matches, before the access
 * plugins run, so its entry has it for every request past routing.
 */
function kongUpstreamUri(req: GatewayRequest, entry: LogEntry): string {
  let uri = entry.upstreamUri;
  if (uri === null) {
    if (req.route === null || req.service === null) return '';
    const query = req.upstreamQuery ?? req.rawQuery;
    uri = query === '' ? req.routedPath : `${req.routedPath}?${query}`;
  }
  return redactUri(uri, entry.secretQueryParams);
}

function redactUri(uri: string, secret: ReadonlySet<string>): string {
  const q = uri.indexOf('?');
  return q < 0 || secret.size === 0 ? uri : `${uri.slice(0, q)}?${redactQuery(uri.slice(q + 1), secret)}`;
}

function redactedHeaders(
  headers: Record<string, HeaderValue | undefined>,
  secret: ReadonlySet<string>,
): Record<string, string | string[]> {
  // Null prototype: a client's `__proto__` header is logged as the key it is.
  const out: Record<string, string | string[]> = Object.create(null);
  for (const name in headers) {
    const v = headers[name];
    if (v === undefined) continue;
    out[name] = ALWAYS_SECRET.has(name) || secret.has(name) ? REDACTED : typeof v === 'string' ? v : [...v];
  }
  return out;
}

function responseHeaders(
  headers: Readonly<Record<string, string | string[] | number | undefined>>,
  secret: ReadonlySet<string>,
): Record<string, string | string[]> {
  // Null prototype: an upstream's `__proto__` header is logged as the key it is.
  const out: Record<string, string | string[]> = Object.create(null);
  for (const name in headers) {
    const v = headers[name];
    // HTTP/2's `:status` is no header (RFC 9113 8.3): the entry has the status, as on HTTP/1.1.
    if (v === undefined || name.charCodeAt(0) === 0x3a) continue;
    if (name === 'set-cookie') out[name] = REDACTED;
    // A redirect may carry a credential onward (the oidc plugin's logout sends the ID token to the
    // IdP as id_token_hint): the parameters declared secret are redacted there too.
    else if (name === 'location' && typeof v === 'string') out[name] = redactLocation(v, secret);
    else out[name] = typeof v === 'number' ? String(v) : v;
  }
  return out;
}

/** A Location URL with the values of the `secret` query parameters redacted (its fragment kept). */
function redactLocation(url: string, secret: ReadonlySet<string>): string {
  const q = url.indexOf('?');
  if (q < 0 || secret.size === 0) return url;
  const hash = url.indexOf('#', q);
  const end = hash < 0 ? url.length : hash;
  return `${url.slice(0, q)}?${redactQuery(url.slice(q + 1, end), secret)}${url.slice(end)}`;
}
