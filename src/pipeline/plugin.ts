/**
 * The plugin API. Built-in plugins use exactly this contract, and so do custom ones: a plugin
 * imports only from `tollgate` (this file, re-exported by `src/index.ts`), never from internals.
 *
 * A plugin has two phases of life:
 * - `create(config, context)` runs once per configured instance when a config is loaded. It gets
 *   the config already validated by the plugin's JSON Schema (defaults applied), precomputes
 *   everything it can (keys, regexes, header values), and throws `PluginConfigError` for a config
 *   the schema cannot judge. The gateway reports that as a located error.
 * - the returned handlers run per request, in fixed phases: `access` (before the upstream is
 *   called; may answer the request itself), `response` (upstream status and headers are known;
 *   may change them), `log` (after the response is sent; never delays it).
 *
 * Plugins run by descending `priority` (Kong's numbers for Kong's plugins), never by
 * registration order.
 */
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { PluginConfigIssue } from '../errors.ts';
import type { EntityDefinition, EntityRecord } from './entity.ts';
import type { LogEntry } from './log-entry.ts';

export type { EntityAdminApi, EntityDefinition, EntityLoadContext, EntityPlace, EntityRecord } from './entity.ts';
export { defineEntity } from './entity.ts';
export type { LogEntry, PluginStep, UpstreamTry } from './log-entry.ts';

/** JSON Schema (draft 2020-12 or draft-07 subset Ajv accepts) for a plugin's `config`. */
export type JsonSchema = Record<string, unknown>;

/** A consumer, as declared in gateway.yaml. */
export interface Consumer {
  readonly id: string;
  readonly username: string | null;
  readonly custom_id: string | null;
  readonly tags: readonly string[];
}

/** The credential an authentication plugin identified the consumer with. */
export interface Credential {
  readonly id: string;
  /** The plugin that owns this credential type, e.g. `jwt` or `key-auth`. */
  readonly type: string;
  /** What Kong sends as `X-Credential-Identifier`: the jwt `key`, the key-auth credential id, ... */
  readonly identifier: string;
  readonly consumer_id: string | null;
}

/** The route a request matched, as plugins see it. */
export interface RouteInfo {
  readonly id: string;
  readonly name: string | null;
  readonly paths: readonly string[] | null;
  readonly hosts: readonly string[] | null;
  readonly methods: readonly string[] | null;
  readonly tags: readonly string[];
}

/** The service a route proxies to. */
export interface ServiceInfo {
  readonly id: string;
  readonly name: string | null;
  readonly protocol: string;
  readonly host: string;
  readonly port: number;
  readonly path: string | null;
  readonly tags: readonly string[];
}

/** Header values as plugins set them. */
export type HeaderValue = string | readonly string[];

/**
 * A request as plugins see it in every phase. One object per request, with a stable shape.
 *
 * @example
 * access(req) {
 *   if (!req.headers['x-tenant']) return req.exit(400, { message: 'X-Tenant required' });
 *   req.setUpstreamHeader('x-tenant-verified', 'true');
 * }
 */
export interface GatewayRequest {
  /** The request id, also sent to the upstream and the client in the request id header. */
  readonly id: string;
  readonly method: string;
  /** The normalized path the route was matched on (percent-decoded unreserved chars, no dot segments). */
  readonly path: string;
  /** The query string without `?`, as received. */
  readonly rawQuery: string;
  /** The parsed query string (parsed on first access). */
  readonly query: URLSearchParams;
  /** Client request headers, lower-case names, with client-sent identity headers already removed. */
  readonly headers: IncomingHttpHeaders;
  /** The client address: the socket peer, or X-Forwarded-For's client when the peer is a trusted proxy. */
  readonly clientIp: string;
  /**
   * The address of the connection's peer, whatever `trusted_ips` says (a proxy in front, say):
   * Kong's `kong.client.get_ip()`, where `clientIp` is `get_forwarded_ip()`.
   */
  readonly peerIp: string;
  /** `https` when the client connected over TLS or a trusted proxy says so. */
  readonly scheme: 'http' | 'https';
  /** The Host the client asked for, lower-case, without port or a trailing dot (nginx's `$host`, Kong's `kong.request.get_host()`). */
  readonly host: string;
  /** The gateway's port the request came in on (Kong's `kong.request.get_port()`); 0 when unknown. */
  readonly port: number;
  /**
   * The port clients connect to: `port`, or the one `_tollgate.port_maps` maps it to behind a port
   * mapping (Kong's `ctx.host_port`, which its log serializer's `request.url` names); 0 when unknown.
   */
  readonly hostPort: number;
  /** The client connection's TLS protocol (`TLSv1.3`) and OpenSSL cipher name; null on cleartext. */
  readonly tls: { readonly version: string; readonly cipher: string } | null;
  /**
   * The matched route; null only in the log phase of a global plugin for a request no route
   * matched (Kong's `kong.router.get_route()` is nil there too).
   */
  readonly route: RouteInfo | null;
  readonly service: ServiceInfo | null;
  /** Named and numbered captures of a regex route path (`~/users/(?<id>\d+)`; '0' the whole match, as Kong's), else empty. */
  readonly captures: Readonly<Record<string, string>>;
  /** Set by authentication plugins through `authenticate()`. */
  readonly consumer: Consumer | null;
  readonly credential: Credential | null;
  /**
   * Claims of the identity an authentication plugin verified (a JWT's claims, an OIDC session's
   * ID token claims, an introspection answer), deeply frozen; null when none. Set only by
   * `authenticate()`, so no plugin can plant claims nobody verified.
   */
  readonly claims: Readonly<Record<string, unknown>> | null;
  /** Per-request scratch space shared between plugins: namespace your keys by plugin name. */
  readonly ctx: Record<string, unknown>;
  /** The raw Node request, for plugins that read the body (they must not consume it unless they replace it). */
  readonly raw: IncomingMessage;
  /**
   * Counts `bytes` of a body this request holds in memory (`readBody` does it for the request
   * body; a plugin holding other bytes per request counts them as they arrive) against the process's budget for held bodies, given back when the
   * request ends. Throws the catalogued BODY_MEMORY_FULL error (a 503) when the budget is spent:
   * let it propagate.
   */
  holdBody(bytes: number): void;
  /**
   * The request body, read whole (Kong's `kong.request.get_raw_body()`): the bytes the upstream
   * would get now, the client's or those an earlier plugin set, an empty buffer when there is no
   * body. It becomes the upstream body, so a second call, later plugins and the upstream all see
   * the same bytes. Counted against the body budget (rejects with BODY_MEMORY_FULL, a 503: let it
   * propagate). Resolves null when the body is longer than `limit` bytes: the rest is read and
   * dropped, and the request must be answered (413, as Kong does). Once the upstream was called
   * (response) or the answer went (log), null for a body not held: read it in `access` to have it there.
   */
  readBody(limit: number): Promise<Buffer | null>;
  /** Sets a header on the request sent upstream (replaces any value). */
  setUpstreamHeader(name: string, value: HeaderValue): void;
  /** Appends a value to a header on the request sent upstream. */
  appendUpstreamHeader(name: string, value: string): void;
  /** Removes a header from the request sent upstream. */
  removeUpstreamHeader(name: string): void;
  /** Reads a header of the request as it will be sent upstream. */
  getUpstreamHeader(name: string): HeaderValue | undefined;
  /**
   * The request's headers as they go upstream now (Kong's `kong.request.get_headers()` after
   * `kong.service.request.set_header` calls): the client's (identity headers it forged already
   * removed) with every plugin's changes and `authenticate()`'s headers, lower-case names, before
   * the gateway adds its own (X-Forwarded-*, X-Real-IP, Via, the request id) and picks the Host.
   * A new object at each call, built only then.
   */
  getUpstreamHeaders(): Record<string, HeaderValue>;
  /** Replaces the path sent upstream (after strip_path and the service path were applied). */
  setUpstreamPath(path: string): void;
  /**
   * The path the route and service make of the request's (strip_path applied, the service's path
   * joined: Kong's `upstream_uri` as its router sets it), whatever a plugin set with
   * `setUpstreamPath`. It goes upstream unless a plugin sets another, except to a `grpc`/`grpcs`
   * service, which gets the request's own path (Kong's `grpc_pass`). Computed when read.
   */
  readonly routedPath: string;
  /** The path a plugin set with `setUpstreamPath` (null: `routedPath` is sent). */
  readonly upstreamPath: string | null;
  /** Replaces the query string sent upstream (without `?`). */
  setUpstreamQuery(query: string): void;
  /** The query string a plugin set with `setUpstreamQuery` (null: the client's `rawQuery` is sent). */
  readonly upstreamQuery: string | null;
  /**
   * Replaces the request body sent upstream. A string or Buffer sets content-length and drops
   * transfer-encoding; a Readable is streamed as is (headers stay as they are: keep content-length
   * when the stream carries the same number of bytes, remove it otherwise).
   */
  setUpstreamBody(body: string | Buffer | NodeJS.ReadableStream): void;
  /** The replacement body a plugin set with `setUpstreamBody` (null: the client's body is sent), so body plugins can chain. */
  readonly upstreamBody: Buffer | NodeJS.ReadableStream | null;
  /** Replaces the method sent upstream (Kong's request-transformer `http_method`). */
  setUpstreamMethod(method: string): void;
  /**
   * For a plugin that answers in the service's place by calling another service (aws-lambda):
   * the milliseconds it waited on that call. They are logged and measured as the upstream's
   * latency (`latencies.proxy`, `upstream_latency_ms`, the upstream latency histograms) and left
   * out of the gateway's own (`latencies.kong`), as Kong's aws-lambda sets `KONG_WAITING_TIME`.
   * Ignored once the request has gone upstream, which times itself.
   */
  recordUpstreamLatency(ms: number): void;
  /**
   * Answers the request now; later `access` handlers and the upstream call are skipped.
   * An object body is sent as JSON, a string as is. An error answer (status 400 or more) whose body
   * is an object with a `message` gets the request's `request_id` added, like the gateway's own
   * errors. `reason` is a stable code saying why (`INVALID_CREDENTIALS`), written next to `source`
   * in the access log line and the log entries.
   */
  exit(status: number, body?: unknown, headers?: Readonly<Record<string, HeaderValue>> | null, reason?: string): void;
  /**
   * Answers the request now with an error, like `exit()` (Kong's `kong.response.error`): the body
   * follows the client's `Accept`, JSON `{"message": ..., "request_id": ...}` by default, Kong's
   * templates for `text/plain`, `text/html` and `application/xml`. Without a message, Kong's default
   * for the status. `reason` is the code logged as the request's reason, as with `exit()`.
   */
  exitError(
    status: number,
    message?: string,
    headers?: Readonly<Record<string, HeaderValue>> | null,
    reason?: string,
  ): void;
  /** True once `exit()` or `exitError()` was called. */
  readonly exited: boolean;
  /**
   * Marks the request as authenticated (Kong's `kong.client.authenticate`), and sets Kong's
   * `X-Consumer-*`, `X-Credential-Identifier` and `X-Anonymous-Consumer` upstream headers.
   * The third argument is `anonymous` (Kong's anonymous consumer) or the options; the claims
   * given replace `req.claims` (none given: `req.claims` becomes null, they belonged to another identity).
   *
   * @example
   * req.authenticate(null, { id: sub, type: 'my-auth', identifier: sub, consumer_id: null }, { claims: verified });
   */
  authenticate(consumer: Consumer | null, credential: Credential | null, options?: boolean | AuthenticateOptions): void;
}

/** Options of `GatewayRequest.authenticate`. */
export interface AuthenticateOptions {
  /** Kong's anonymous consumer: sets `X-Anonymous-Consumer: true`. Default false. */
  readonly anonymous?: boolean;
  /** Claims the plugin verified for this identity; `jwt-claims` applies its rules to them. Frozen on the way in. */
  readonly claims?: Readonly<Record<string, unknown>> | null;
}

/** The upstream response as the `response` phase sees it; headers are mutable until sent. */
export interface GatewayResponse {
  status: number;
  /** Lower-case names. Hop-by-hop headers are already removed. */
  readonly headers: Record<string, HeaderValue | undefined>;
  setHeader(name: string, value: HeaderValue): void;
  removeHeader(name: string): void;
  /**
   * The name the header `name` (any case) goes out under on HTTP/1.1: as the upstream spelled it,
   * or the plugin that set it (`setHeader('X-Powered-By', ...)`), else in lower case, except that
   * an answer the gateway makes itself (an exit, an error, a replayed hit) writes `Content-Type`,
   * `Content-Length`, `Location`, `Connection` and `Upgrade` as Kong's do. For a plugin that
   * replays the head later under the same names, as proxy-cache does on a hit.
   */
  headerName(name: string): string;
  /**
   * Asks for the whole response body, to rewrite it (Kong's response-transformer JSON changes).
   * The gateway buffers the body (up to `limit` bytes, default 8 MiB; a larger body is passed
   * through unchanged and the transform is skipped), calls `transform` once, and sends the result
   * with a fresh content-length. Costs memory and latency: use only when the config asks for it.
   *
   * @example
   * response(req, res) {
   *   if (String(res.headers['content-type']).includes('json')) res.transformBody((body) => JSON.stringify({ ...JSON.parse(body.toString()), gateway: 'tollgate' }));
   * }
   */
  transformBody(transform: (body: Buffer) => Buffer | string, limit?: number): void;
  /**
   * Rewrites the upstream's body as it streams, chunk by chunk, and lets `filter.end` append to it
   * once the upstream ended, with the upstream's trailers (Kong's `body_filter` phase, which sees
   * each chunk and the end of the body). Nothing is held: the filter keeps what state it needs.
   * The upstream's Content-Length is dropped (the body goes chunked on HTTP/1.1). Filters run in
   * the order asked, before any `transformBody`; they do not run on an answer the gateway made
   * (`fromGateway`) nor on one without a body (HEAD, 204, 304).
   */
  filterBody(filter: BodyFilter): void;
  /** True when the gateway itself produced this response (exit, error), not the upstream. */
  readonly fromGateway: boolean;
}

/** A streaming rewrite of the upstream's response body (`GatewayResponse.filterBody`). Synchronous. */
export interface BodyFilter {
  /** A chunk of the body as the upstream sent it; returns what goes out in its place (empty for nothing yet). */
  chunk(data: Buffer, req: GatewayRequest, res: GatewayResponse): Buffer | string;
  /**
   * The upstream's body ended; `trailers` are its trailers (lower-case names, pseudo-headers and
   * hop-by-hop names left out; a repeated one joined with `, `), null when it sent none. Returns
   * what goes out last (empty for nothing).
   */
  end(trailers: Readonly<Record<string, string>> | null, req: GatewayRequest, res: GatewayResponse): Buffer | string;
}

/** A logger carrying the plugin's name; `debug` prints only when the plugin's config has `debug: true`. */
export interface PluginLogger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

/** An entity with the consumer it belongs to. */
export interface ConsumerEntity<E> {
  /** Null only for a kind declared with `consumer: false`. */
  readonly consumer: Consumer | null;
  readonly entity: E;
}

/** The consumers of the loaded config and the plugin-declared entities, indexed for lookups. */
export interface ConsumerDirectory {
  /** By id, else username, else custom_id, in that precedence (Kong's `anonymous` accepts id or username). */
  find(idOrName: string): Consumer | null;
  /**
   * Every entity of a kind, in file order, with its consumer. Pass the kind's definition to get
   * its type; plugins index them at `create()` as they need (by key, by digest, ...).
   */
  entities<E extends EntityRecord>(kind: EntityDefinition<E> | string): readonly ConsumerEntity<E>[];
  /**
   * What `build` makes of a kind's entities (a map by key, by digest, imported keys), built once
   * per loaded config and shared by every instance that asks with the same `key`: a plugin on
   * each of 10,000 routes, with 10,000 credentials, builds one index, not 10,000. `key` names
   * everything `build` depends on besides the entities, the plugin's name first
   * (`jwt:base64=false`): instances whose configs differ there ask with different keys. An error
   * `build` throws is thrown again to every instance that asks.
   */
  index<E extends EntityRecord, T>(
    kind: EntityDefinition<E> | string,
    key: string,
    build: (entities: readonly ConsumerEntity<E>[]) => T,
  ): T;
  /** The entities of a kind that belong to one consumer. */
  ofConsumer<E extends EntityRecord>(kind: EntityDefinition<E> | string, consumerId: string): readonly E[];
}

/** A certificate of the loaded config's `certificates`, as a TLS client presents it. */
export interface CertificatePair {
  /** The certificate, PEM (with any chain the file gives). */
  readonly cert: string;
  /**
   * Its private key, PEM: a secret. Not enumerable, so a pair that is logged, spread or serialized
   * leaves it out; pass it to TLS options by name (`{ cert: pair.cert, key: pair.key }`).
   */
  readonly key: string;
}

/** The loaded config's `certificates`, by id: what a plugin's foreign key to them (Kong's `{id}`) names. */
export interface CertificateDirectory {
  /** The certificate with this id (any case), or undefined when the config has none by it. */
  get(id: string): CertificatePair | undefined;
}

/** A minimal HTTP client on a bounded keep-alive pool (undici), for plugins' outbound calls. */
export interface HttpClient {
  request(
    url: string,
    options?: {
      method?: string;
      headers?: Record<string, string>;
      body?: string | Buffer;
      /** Milliseconds for the whole exchange, head and body; default 10000. */
      timeout?: number;
      /** Largest response body accepted, in bytes (the call rejects past it); default 8 MiB. */
      maxBytes?: number;
    },
  ): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }>;
}

/** Shared services of the gateway, available to `create()`. */
export interface GatewayServices {
  readonly consumers: ConsumerDirectory;
  /** The config's `certificates`: a client certificate a plugin presents (Kong 3.15 http-log's `client_certificate`). */
  readonly certificates: CertificateDirectory;
  readonly http: HttpClient;
  /** The directory of the config file: resolve relative paths in plugin configs against it. */
  readonly configDir: string;
  /** `_tollgate.trusted_ips`: the proxies whose forwarded client addresses the gateway believes. */
  readonly trustedIps: readonly string[];
  /**
   * A shared resource that outlives a reload when its key is the same (a JWKS cache, a Redis
   * client): the gateway calls `open` the first time and `close` when no runtime uses it any more.
   */
  shared<T>(key: string, open: () => T, close?: (value: T) => void | Promise<void>): T;
}

/** What `create()` receives besides the config. */
export interface PluginContext {
  readonly log: PluginLogger;
  /**
   * Reports, during `create()`, something about the config the operator should know; the config
   * still loads. `gateway validate` prints it located at `field` (a dot path in the plugin's
   * config, as PluginConfigError takes it: `redis.host`, `claims_to_verify.0`), or at the plugin
   * without one, and `start` logs it. Called after `create()` has returned, it only logs.
   */
  warn(message: string, field?: string): void;
  readonly services: GatewayServices;
  /** Where this instance is configured. All null for a global plugin. */
  readonly scope: {
    readonly service: ServiceInfo | null;
    readonly route: RouteInfo | null;
    readonly consumer: Consumer | null;
    /**
     * The routes this instance can run on: its route; the routes of its service; every route
     * for a global (or consumer-only) instance. A path none of them matches never reaches it.
     */
    readonly routes: readonly RouteInfo[];
  };
  /**
   * Every enabled instance of this plugin in the config, this one included: its config (validated,
   * defaults applied) and the routes it runs on. For checks that span instances (oidc: a callback
   * may be answered by another instance with the same client and session cookie).
   */
  readonly instances: readonly PluginPeer[];
}

/** One instance of a plugin, as its siblings see it at `create()`. */
export interface PluginPeer {
  readonly config: unknown;
  readonly routes: readonly RouteInfo[];
}

/**
 * The state of an outside dependency a plugin instance relies on (an IdP's JWKS, its discovery
 * document, a Redis server), shown in `GET /status` under `dependencies` and as
 * `tollgate_dependency_*` metrics. Instances reporting the same `kind` and `target` are shown once.
 */
export interface DependencyHealth {
  /** What it is: `jwks`, `oidc_discovery`, `redis`, ... */
  readonly kind: string;
  /** Which one: a URL without query or credentials, or `host:port`. Never a secret. */
  readonly target: string;
  /** False when the last attempt failed. */
  readonly healthy: boolean;
  readonly lastSuccess: Date | null;
  /** Why the last attempt failed (null after a success); no secret, no response body. */
  readonly lastError: string | null;
  readonly lastErrorAt: Date | null;
  /** Failed attempts so far. */
  readonly failures: number;
  /** Keys held from the last success (a JWKS), when that applies. */
  readonly keys?: number;
  /**
   * A delivery queue towards the dependency (a log receiver, a trace collector): entries waiting,
   * delivered and dropped (queue full, or retries exhausted). Shown in `/status` and as
   * `tollgate_log_queue_depth` and `tollgate_log_dropped_total`.
   */
  readonly queue?: { readonly depth: number; readonly sent: number; readonly dropped: number };
}

/** The handlers a plugin instance provides. Each may return a promise; sync is cheaper. */
export interface PluginHandlers {
  access?(req: GatewayRequest): void | Promise<void>;
  response?(req: GatewayRequest, res: GatewayResponse): void | Promise<void>;
  log?(req: GatewayRequest, entry: LogEntry): void;
  /**
   * Request headers that carry this instance's credentials (key-auth's `key_names`, say): every
   * logger redacts them, besides `authorization`, `proxy-authorization`, `cookie` and `apikey`.
   */
  readonly secretHeaders?: readonly string[];
  /**
   * Query parameters that carry this instance's credentials (key-auth's `key_names`, jwt's
   * `uri_param_names`): every logger shows their values as `REDACTED`, in the query string and
   * in every URI it logs. Names as they appear in the query (case-sensitive).
   */
  readonly secretQueryParams?: readonly string[];
  /**
   * Opens resources early (starts fetching keys, discovering an IdP) once the instance is about
   * to serve traffic. Optional: resources must still open lazily on first use. Never called by
   * `gateway validate` nor by the cluster primary, which serve no traffic; failures are the
   * plugin's to log (a rejection is logged and ignored).
   */
  open?(): void | Promise<void>;
  /**
   * Checks, for `gateway validate` only, what the config names outside the file and the plugin
   * reads when it serves (grpc-gateway's `.proto`): each problem is a `context.warn()` while it
   * runs, printed located (`--strict` fails on it). Local files only: like create(), it contacts
   * nothing. Bounded by `plugin_create_timeout`; a throw or rejection is the plugin's error.
   */
  checkFiles?(): void | Promise<void>;
  /** The dependencies this instance relies on and their state; called on every `GET /status` and scrape. */
  health?(): readonly DependencyHealth[];
  /** Releases timers and connections when the instance's runtime is retired. */
  close?(): void | Promise<void>;
}

/**
 * A plugin module's default export.
 *
 * @example
 * import { definePlugin } from 'tollgate';
 * export default definePlugin({
 *   name: 'tenant-header',
 *   version: '1.0.0',
 *   priority: 800,
 *   schema: { type: 'object', properties: { header: { type: 'string', default: 'x-tenant' } }, additionalProperties: false },
 *   create(config: { header: string }) {
 *     return { access(req) { req.setUpstreamHeader(config.header, req.consumer?.username ?? 'anonymous'); } };
 *   },
 * });
 */
export interface PluginDefinition<Config = any> {
  readonly name: string;
  readonly version: string;
  /** Higher runs first. Kong's numbers for Kong's plugins (jwt 1450, key-auth 1250, acl 950, ...). */
  readonly priority: number;
  /** JSON Schema of `config`; defaults in it are applied before `create()`. */
  readonly schema: JsonSchema;
  /** Whether the plugin may be scoped to a consumer (Kong: auth plugins may not). Default true. */
  readonly consumerScoped?: boolean;
  /** The entity kinds this plugin owns (its credentials, say). */
  readonly entities?: readonly EntityDefinition<any>[];
  /**
   * The route protocols it works on (Kong's schema `protocols` field, `HTTP_PROTOCOLS` of
   * `tollgate/kong-config` for Kong's `typedefs.protocols_http`); an instance whose `protocols`
   * lists another is refused. Default: every protocol the gateway takes.
   */
  readonly protocols?: readonly string[];
  /**
   * Checks the config as written (a mapping, before schema defaults) for what the JSON Schema
   * cannot say with a message of its own (Kong's entity checks, a field Kong renamed). Runs at
   * every load and `gateway validate`: pure and synchronous, no I/O, never changes the config.
   * An error refuses the instance and its schema is not checked (no second message for the same
   * field); a throw is reported as a located error.
   */
  configIssues?(config: Readonly<Record<string, unknown>>): readonly PluginConfigIssue[];
  create(config: Config, context: PluginContext): PluginHandlers | Promise<PluginHandlers>;
}

/** Identity helper that gives a plugin definition its types. */
export function definePlugin<Config>(definition: PluginDefinition<Config>): PluginDefinition<Config> {
  return definition;
}
