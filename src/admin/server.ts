// The admin listener (127.0.0.1:8001 by default): status, metrics, effective config, route table, reload;
// and Kong's status listener (`status_listen`), which serves its status and metrics endpoints alone.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { hostname } from 'node:os';
import { knownSecrets, REDACTED, secretValues } from '../config/secrets.ts';
import type { TollgateInstance } from '../instance.ts';
import type { ConnectionStats } from '../instance-types.ts';
import { nodeId } from '../lib/node-id.ts';
import { hasRequestBody } from '../lib/request-body.ts';
import { endLingering } from '../proxy/linger.ts';
import { onAdminClientError } from '../proxy/parser-refusal.ts';
import { absoluteFormAuthority } from '../proxy/request-checks.ts';
import { VERSION } from '../version.ts';
import { postConfig } from './config-post.ts';
import { configBody, effectiveConfig, routeTable } from './config-views.ts';
import { postReady } from './drain.ts';
import { endpointList } from './endpoints.ts';
import { entityEndpoint, isEntityPath, loadedEntities } from './entities.ts';
import { adminHeadRefusal } from './head-checks.ts';
import { kongMetricNames } from './kong-metric-names.ts';
import { isTargetHealthPath, targetHealth } from './target-health.ts';

const JSON_TYPE = 'application/json; charset=utf-8';
const PROM_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export { REDACTED };

/**
 * What a listener serves: the whole admin API, or Kong's status API (`status_listen`): the
 * read-only endpoints probes and scrapes need, so that they never need the admin API exposed.
 */
export type ApiMode = 'admin' | 'status';

export function createAdminServer(inst: TollgateInstance, mode: ApiMode = 'admin'): Server {
  // The proxy's head deadline (nginx's client_header_timeout) holds here too: the admin listener
  // shares the process, its memory and its file descriptors with the proxy.
  const { client_header_timeout: headTimeout, send_timeout: sendTimeout } = inst.runtime.config.settings;
  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    // The answer may take a while to make (a reload): no deadline while it is made.
    req.socket.setTimeout(0);
    void route(inst, req, withScrub(inst, res), mode).finally(() => {
      // A body no endpoint reads (and POST /config's past its limit): node went on reading and
      // dropping one for as long as the client sent it (ten gigabytes announced, one connection
      // busy for minutes). nginx's lingering close: our FIN after the answer, gone LINGER_MS later.
      if (!req.complete && hasRequestBody({ headers: req.headers, raw: req })) endLingering(req.socket);
      if (res.writableFinished) return;
      // nginx's send_timeout: a client that stops reading an answer (a /config of megabytes)
      // held it in memory for as long as it kept the connection, and a hundred such clients
      // held a gigabyte. The connection is reset, which also frees what the kernel still holds.
      res.setTimeout(sendTimeout, () => res.socket?.resetAndDestroy());
    });
  };
  const server = createServer(
    {
      headersTimeout: headTimeout,
      connectionsCheckingInterval: Math.min(1000, headTimeout),
      keepAliveTimeout: 5_000,
      requireHostHeader: false, // adminHeadRefusal answers as the proxy does, not node's bare 400
    },
    handle,
  );
  // `Expect: 100-continue`: node would send 100 Continue for any request. As nginx, it is sent
  // only when a body is read (POST /config, within its limit); other answers come without it.
  server.on('checkContinue', handle);
  // A request the HTTP parser refuses gets the proxy's answer (JSON, with Date), not node's bare
  // status line: scripts read the admin API's errors as they read its other answers.
  server.on('clientError', onAdminClientError);
  // node's headersTimeout counts from a request's first byte: a connection that never sends one
  // would be held for ever, and enough of them exhaust the process's descriptors. nginx closes it
  // after client_header_timeout; so does this.
  server.on('connection', (socket: Socket) => {
    socket.setTimeout(headTimeout, () => socket.destroy());
  });
  return server;
}

/**
 * Every answer leaves through the secrets of the serving config and of every config the process
 * read: whatever field a value derived from a secret ended up in, it shows as `[redacted]`.
 */
type ScrubbingResponse = ServerResponse & { scrub: (body: unknown) => unknown; scrubText: (t: string) => string };

function withScrub(inst: TollgateInstance, res: ServerResponse): ScrubbingResponse {
  const r = res as ScrubbingResponse;
  r.scrub = (body) => {
    const own = secretValues(inst.runtime.config.source.secrets);
    return knownSecrets().scrubDeep(own.scrubDeep(body));
  };
  r.scrubText = (t) => knownSecrets().scrub(secretValues(inst.runtime.config.source.secrets).scrub(t));
  return r;
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify((res as ScrubbingResponse).scrub(body), null, 2);
  // The names as Kong's Admin API (nginx) spells them; clients and scripts may match them case-sensitively.
  res.writeHead(status, { 'Content-Type': JSON_TYPE, 'Content-Length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** A handler's answer: 204 and 304 carry headers only, any other status its JSON body. */
function reply(res: ServerResponse, a: { status: number; body?: unknown; headers?: Record<string, string> }): void {
  if (a.status !== 204 && a.status !== 304) return send(res, a.status, a.body, a.headers);
  res.writeHead(a.status, a.headers);
  res.end();
}

/** What a read-only endpoint serves, in Kong's order (sorted, as kong/api/api_helpers.lua lists them). */
const READ_ALLOW = 'GET, HEAD, OPTIONS';

/**
 * Kong's answer to OPTIONS on an admin path: 204 naming the methods served (api_helpers.lua's
 * options_method). Kong's CORS headers are not sent: see docs/kong-compatibility.md.
 */
function options(res: ServerResponse, allow: string): void {
  res.writeHead(204, { Allow: allow });
  res.end();
}

/** The methods of each endpoint (HEAD and OPTIONS with every GET). */
const ENDPOINTS: Record<string, readonly string[]> = {
  '/': ['GET'],
  '/status': ['GET'],
  '/ready': ['GET'],
  // Kong's `kong drain` POSTs {"status":"draining"} here (drain.ts).
  '/status/ready': ['GET', 'POST'],
  '/metrics': ['GET'],
  // Kong's DB-less node reads (GET) and loads (POST) its declarative config here.
  '/config': ['GET', 'POST'],
  '/reload': ['POST'],
  '/debug/node/log-level': ['GET'],
  // Kong's list of the paths its Admin API routes (kong/api/routes/kong.lua).
  '/endpoints': ['GET'],
};

/** Each endpoint's `Allow`, sorted as Kong's api_helpers.lua lists them. */
const ALLOW: Record<string, string> = Object.fromEntries(
  Object.entries(ENDPOINTS).map(([p, m]) => [
    p,
    [...m, 'OPTIONS', ...(m.includes('GET') ? ['HEAD'] : [])].sort().join(', '),
  ]),
);

/**
 * Kong's log level changes (`PUT /debug/node/log-level/{level}`, and the cluster's): a DB-less
 * Kong refuses them with this 405 (kong/api/routes/debug.lua); here `log_level` is set by the
 * file or `--log-level`, and a restart applies it.
 */
const LOG_LEVEL_CHANGE = /^\/debug\/(?:node|cluster)\/log-level\/[^/]+$/;

/** Kong's read-only entity collections (src/admin/entities.ts), listed by `GET /`. */
const ENTITY_ENDPOINTS = [
  '/services',
  '/routes',
  '/consumers',
  '/plugins',
  '/upstreams',
  '/upstreams/{upstream}/targets',
  '/upstreams/{upstream}/health',
  '/certificates',
  '/snis',
  '/tags',
  '/key-auths',
  '/jwts',
  '/basic-auths',
  '/hmac-auths',
  '/acls',
];

/**
 * The status API's endpoints: Kong's status server (kong/status/init.lua) routes /status (health.lua),
 * /status/ready (ready.lua) and the prometheus plugin's /metrics; any other path is its 404. The
 * answers are the admin API's for the same paths.
 */
const STATUS_ENDPOINTS: ReadonlySet<string> = new Set(['/status', '/status/ready', '/metrics']);

/** The entity endpoints' answer (`GET /services`, `/upstreams/{u}/targets/{t}`, ...) on the serving config. */
function entityAnswer(inst: TollgateInstance, path: string, query: string, method = 'GET') {
  const rt = inst.runtime;
  return entityEndpoint({
    method,
    path,
    query: new URLSearchParams(query),
    config: rt.config,
    loadedAt: rt.loadedAt,
    effective: () => effectiveConfig(rt.config),
    routes: () => routeTable(rt).data as Record<string, unknown>[],
    upstreamHealth: async () => ((await inst.coordinator.status(inst)).upstreams ?? []) as never,
  });
}

async function route(inst: TollgateInstance, req: IncomingMessage, res: ServerResponse, mode: ApiMode): Promise<void> {
  const url = originForm(req.url ?? '/');
  const q = url.indexOf('?');
  const raw = q < 0 ? url : url.slice(0, q);
  // Kong's admin router answers `/status/` as `/status` (lapis default_route): one slash is dropped.
  const path = raw.length > 1 && raw.endsWith('/') ? raw.slice(0, -1) : raw;
  const method = req.method === 'HEAD' ? 'GET' : req.method;
  // What nginx refuses before any location (a body of unknown framing, a missing or doubled Host).
  const refused = adminHeadRefusal(req);
  if (refused !== null) return send(res, refused.status, { message: refused.message }, { Connection: 'close' });
  // A path the status API does not route, whatever the method (POST /config too): Kong's 404.
  if (mode === 'status' && !STATUS_ENDPOINTS.has(path)) return send(res, 404, { message: 'Not found' });
  try {
    // Kong's list of the plugins the node can run (admin UIs read it); before `/plugins/{id}`.
    if (path === '/plugins/enabled') {
      if (method === 'GET') return send(res, 200, { enabled_plugins: Object.keys(await availablePlugins(inst)) });
      if (method === 'OPTIONS') return options(res, READ_ALLOW);
      // Kong's route has GET only: a write is not one on a plugin named 'enabled'.
      return send(res, 405, { message: 'Method not allowed' }, { Allow: READ_ALLOW });
    }
    if (isTargetHealthPath(path)) {
      return reply(res, await targetHealth(inst, req, path, method, (p) => entityAnswer(inst, p, '')));
    }
    if (isEntityPath(path, inst.runtime.config)) {
      const rt = inst.runtime;
      // Kong answers OPTIONS on every path it routes: one whose GET is no 404 here.
      const r = await entityAnswer(inst, path, q < 0 ? '' : url.slice(q + 1), method === 'OPTIONS' ? 'GET' : method);
      if (method === 'OPTIONS' && r.status !== 404) return options(res, READ_ALLOW);
      if (r.status === 204) return reply(res, { status: 204 });
      // The route table has always carried the hash of the config it was compiled from; Kong's
      // upstream health answer names the node whose balancer it describes.
      let body = r.body;
      if (r.status === 200 && path === '/routes') body = { config_hash: rt.config.source.hash, ...(r.body as object) };
      else if (r.status === 200 && /^\/upstreams\/[^/]+\/health$/.test(path))
        body = { ...(r.body as object), node_id: nodeId() };
      return send(res, r.status, body, r.headers);
    }
    if (LOG_LEVEL_CHANGE.test(path)) {
      if (method === 'OPTIONS') return options(res, 'OPTIONS');
      const message = method === 'PUT' ? 'cannot change log level when not using a database' : 'Method not allowed';
      return send(res, 405, { message }, { Allow: 'OPTIONS' });
    }
    const allowed = ENDPOINTS[path];
    if (allowed === undefined) return send(res, 404, { message: 'Not found' });
    const allow = ALLOW[path]!;
    if (method === 'OPTIONS') return options(res, allow);
    if (method === undefined || !allowed.includes(method))
      return send(res, 405, { message: 'Method not allowed' }, { Allow: allow });
    if (path === '/config' && method === 'POST') {
      const query = new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
      // Kong's 201 body: the entities loaded, in the shapes its entity endpoints answer.
      const loaded = () => {
        const rt = inst.runtime;
        return loadedEntities({
          config: rt.config,
          loadedAt: rt.loadedAt,
          effective: () => effectiveConfig(rt.config),
          routes: () => routeTable(rt).data,
        });
      };
      return reply(res, await postConfig(inst, req, res, query, loaded));
    }
    if (path === '/status/ready' && method === 'POST')
      return reply(res, await postReady(inst, req, res, q < 0 ? '' : url.slice(q + 1)));
    switch (path) {
      case '/':
        return send(res, 200, await nodeInfo(inst));
      case '/status':
        return send(res, 200, await status(inst));
      case '/endpoints':
        return send(res, 200, {
          data: endpointList(inst.runtime.config, [...Object.keys(ENDPOINTS), '/plugins/enabled']),
        });
      case '/debug/node/log-level':
        // Kong's answer: the level the node logs at.
        return send(res, 200, { message: `log level: ${inst.log.level}` });
      case '/ready':
      case '/status/ready': {
        // Kong's readiness answer: 200 {"message":"ready"}, or 503 with the reason.
        const r = inst.readiness();
        return send(res, r.ready ? 200 : 503, r, { 'Cache-Control': 'no-store' });
      }
      case '/metrics': {
        const exposition = await inst.metricsText();
        const named =
          inst.runtime.config.settings.metric_names === 'kong' ? kongMetricNames(exposition, nodeId()) : exposition;
        const text = scrubExposition(named, (res as ScrubbingResponse).scrubText);
        res.writeHead(200, { 'Content-Type': PROM_TYPE, 'Content-Length': Buffer.byteLength(text) });
        res.end(text);
        return;
      }
      case '/config': {
        const text = configBody(inst, res as ScrubbingResponse);
        res.writeHead(200, { 'Content-Type': JSON_TYPE, 'Content-Length': Buffer.byteLength(text) });
        res.end(text);
        return;
      }
      case '/reload': {
        const r = await inst.reload({ trigger: 'admin' });
        return send(res, r.ok ? 200 : r.unavailable === true ? 503 : 400, reloadJson(r));
      }
    }
  } catch (err) {
    inst.log.error({ err: err instanceof Error ? err.message : String(err) }, 'admin request failed');
    if (!res.headersSent) send(res, 500, { message: 'An unexpected error occurred' });
  }
}

/**
 * The request target without the scheme and authority of an absolute-form one: a server must
 * accept that form (RFC 9112 3.2.2), and nginx routes Kong's admin API on its path.
 */
function originForm(url: string): string {
  if (url.charCodeAt(0) === 47 /* / */) return url;
  const span = absoluteFormAuthority(url);
  if (span === null) return url;
  const rest = url.slice(span[1]);
  return rest.charCodeAt(0) === 47 ? rest : `/${rest}`;
}

/** A sample line: its name, its `{...}` label set (quoted values may hold `}`), the rest (value, timestamp). */
const SAMPLE = /^([^{\s]+)(\{(?:[^"}]|"(?:\\.|[^"\\])*")*\})?(.*)$/s;
const LABEL_VALUE = /="((?:\\.|[^"\\])*)"/g;
const unescapeLabel = (v: string): string => v.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
const escapeLabel = (v: string): string => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

/**
 * The Prometheus text with secrets scrubbed from label values and help texts only. A secret's form
 * can be as short as a port (`9411` of a secret URL): scrubbed from the whole text it turned a
 * sample value such as a timestamp into `[redacted]425104`, a line Prometheus refuses, failing
 * the whole scrape. Metric names and values are numbers and names the gateway made: never secret.
 */
export function scrubExposition(text: string, scrub: (t: string) => string): string {
  return text
    .split('\n')
    .map((line) => {
      if (line.startsWith('# HELP ')) {
        const name = line.indexOf(' ', 7);
        return name < 0 ? line : line.slice(0, name + 1) + scrub(line.slice(name + 1));
      }
      if (line === '' || line.startsWith('#')) return line;
      const m = SAMPLE.exec(line);
      if (m === null || m[2] === undefined) return line;
      const labels = m[2].replace(LABEL_VALUE, (_, v: string) => `="${escapeLabel(scrub(unescapeLabel(v)))}"`);
      return m[1]! + labels + m[3]!;
    })
    .join('\n');
}

/** The plugins this node can run (Kong's `plugins` setting: bundled and custom), by name. */
async function availablePlugins(
  inst: TollgateInstance,
): Promise<Record<string, { version: string; priority: number }>> {
  const registry = inst.options.plugins ?? (await (await import('../plugins/registry.ts')).loadBuiltinPlugins());
  const available: Record<string, { version: string; priority: number }> = {};
  // The custom plugins with the version they declare, configured or not, as Kong lists its installed ones.
  const all = [...registry.values(), ...inst.runtime.customDefinitions];
  for (const def of all.sort((a, b) => (a.name < b.name ? -1 : 1)))
    available[def.name] = { version: def.version, priority: def.priority };
  return available;
}

/** `GET /`: what this node is, in the shape of Kong's admin root (tagline, version, node, plugins, configuration). */
async function nodeInfo(inst: TollgateInstance): Promise<Record<string, unknown>> {
  const rt = inst.runtime;
  const available = await availablePlugins(inst);
  const proxy = inst.coordinator.proxyListeners(inst);
  // Kong lists its nginx workers' pids beside the master's; a single process is its own worker.
  const { workers } = (await inst.coordinator.status(inst)) as { workers?: { pid: number }[] };
  return {
    tagline: 'Welcome to tollgate',
    version: VERSION,
    hostname: hostname(),
    node_id: nodeId(),
    node_version: process.version,
    pids: { master: process.pid, workers: workers?.map((w) => w.pid) ?? [process.pid] },
    plugins: {
      available_on_server: available,
      // Kong lists the distinct names of every plugin entity, `enabled: false` ones too.
      enabled_in_cluster: [...new Set(rt.config.plugins.map((p) => p.name))].sort(),
    },
    configuration: {
      database: 'off',
      config_file: inst.options.configFile,
      config_hash: rt.config.source.hash,
      proxy_listeners: proxy,
      admin_listeners: inst.adminListeners,
      status_listeners: inst.statusListeners,
      // Kong's: whether any listener of the kind speaks TLS (the admin and status listeners never do here).
      proxy_ssl_enabled: proxy.some((l) => l.ssl === true),
      admin_ssl_enabled: false,
      status_ssl_enabled: false,
    },
    endpoints: [...Object.keys(ENDPOINTS), ...ENTITY_ENDPOINTS],
  };
}

function reloadJson(r: TollgateInstance['lastReload']): Record<string, unknown> {
  return {
    ok: r.ok,
    at: r.at.toISOString(),
    trigger: r.trigger ?? null,
    config_hash: r.hash,
    errors: r.errors,
    ...(r.restartRequired !== undefined ? { restart_required: r.restartRequired } : {}),
  };
}

export async function status(inst: TollgateInstance): Promise<Record<string, unknown>> {
  const rt = inst.runtime;
  const ready = inst.readiness();
  // Both may wait on the workers (2 s at most each): asked together.
  const [connections, more] = await Promise.all([inst.connections(), inst.coordinator.status(inst)]);
  return {
    status: inst.phase(),
    ready: ready.ready,
    ready_message: ready.message,
    version: VERSION,
    pid: process.pid,
    started_at: inst.startedAt.toISOString(),
    config_file: inst.options.configFile,
    config_hash: rt.config.source.hash,
    loaded_at: rt.loadedAt.toISOString(),
    watching: inst.watcher !== null,
    last_reload: reloadJson(inst.lastReload),
    routes: rt.routes.length,
    services: rt.services.size,
    connections,
    ...more,
    ...kongStatus(connections, rt.config.source.hash),
  };
}

/**
 * Kong's own `/status` fields, for monitoring built on them (Datadog's Kong check, Kong's
 * dashboards): nginx's stub_status counters and the DB-less configuration hash. nginx's
 * `reading` (connections receiving a request head) has no counterpart here: 0. No `database`
 * entry: Kong 3.x leaves it out when `database = off` (kong/api/routes/health.lua).
 */
function kongStatus(c: ConnectionStats, hash: string): Record<string, unknown> {
  return {
    server: {
      connections_accepted: c.accepted,
      connections_handled: c.accepted,
      connections_active: c.active,
      connections_reading: 0,
      connections_writing: c.in_flight,
      connections_waiting: c.idle,
      total_requests: c.requests,
    },
    configuration_hash: hash,
  };
}
