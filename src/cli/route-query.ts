/**
 * What a request would get, offline: the engine of `gateway explain` and `gateway test-routes`.
 * It uses the compiled runtime the proxy uses (the same Router, the same pipelines, the same
 * `upstreamPath`), so its answers are the proxy's; nothing listens and nothing connects.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { isIP } from 'node:net';
import type { PluginModel, RouteModel } from '../config/model.ts';
import { AUTH_PLUGINS } from '../config/security-summary.ts';
import { urlHost } from '../lib/ip-text.ts';
import type { CompiledRoute, PipelineSlot, PluginInstance, Runtime } from '../pipeline/runtime.ts';
import { compileIpList, ipListHas } from '../plugins/ip-restriction/index.ts';
import { normalizePath } from '../router/normalize.ts';
import { Router, upstreamPath } from '../router/router.ts';

export interface QueryRequest {
  method: string;
  /** Absolute URL (`https://host/path?q`) or origin-form path (`/path?q`, host from a Host header). */
  url: string;
  headers: Record<string, string>;
  /** Consumer assumed authenticated (username, custom_id or id). */
  consumer?: string;
  clientIp?: string;
  /** TLS server name of an https request; default: the URL's host name (none for an IP address), as a client sends it. */
  sni?: string;
}

export interface PluginStep {
  name: string;
  priority: number;
  /** 'global', or the entities it is configured on, e.g. "route 'orders'". */
  scope: string;
  /** What it would do, where that can be known offline; null when it depends on the request at run time. */
  decision: string | null;
  /** True when the decision is to answer the request here (the chain stops). */
  terminates: boolean;
  /** Location of the plugin in the config. */
  at: string;
}

export interface Candidate {
  route: string;
  at: string;
  /** The criteria the request fails, e.g. "methods [POST] (got GET)". */
  mismatches: string[];
}

export interface Explanation {
  request: { method: string; scheme: 'http' | 'https'; host: string; path: string; query: string };
  /** Set when the request cannot be routed at all (a malformed path). */
  error: string | null;
  route: { name: string | null; id: string; at: string } | null;
  /** Present when no route matched. */
  candidates: Candidate[];
  /** What the gateway answers before any plugin (no service, https required), or null. */
  outcome: string | null;
  service: { name: string | null; id: string; url: string } | null;
  upstream: { url: string; host: string; path: string } | null;
  plugins: PluginStep[];
}

/** An authentication step's decision when no consumer is assumed and no anonymous one is configured. */
export const REQUIRES_CREDENTIAL = 'requires a credential (answers 401 without a valid one)';

const MAX_CANDIDATES = 3;

/** Splits the request URL; throws an Error with a usage message for a malformed one. */
function parseUrl(req: QueryRequest): Explanation['request'] & { hostHeader: string; sni: string | null } {
  const m = /^(?:(https?):\/\/([^/?#]*))?([^?#]*)(?:\?([^#]*))?(?:#.*)?$/i.exec(req.url);
  if (m === null || (m[1] === undefined && !req.url.startsWith('/')))
    throw new Error(`'${req.url}' is not a URL: write http://host/path or /path`);
  const hostHeader = headerValue(req.headers, 'host') ?? m[2] ?? '';
  const scheme = (m[1]?.toLowerCase() ?? 'http') as 'http' | 'https';
  const colon = hostHeader.lastIndexOf(':');
  const host = (colon > hostHeader.lastIndexOf(']') ? hostHeader.slice(0, colon) : hostHeader).toLowerCase();
  return {
    method: req.method.toUpperCase(),
    scheme,
    host,
    hostHeader,
    path: m[3] || '/',
    query: m[4] ?? '',
    sni: scheme === 'https' ? (req.sni ?? urlServerName(m[2] ?? '')).toLowerCase() : null,
  };
}

/**
 * The server name a TLS client sends for an authority: its host name without a trailing dot, or
 * none for an IP address (RFC 6066 3); curl sends `api.test` for `https://api.test./`.
 */
function urlServerName(authority: string): string {
  const at = authority.lastIndexOf('@');
  const hostPort = authority.slice(at + 1);
  const colon = hostPort.lastIndexOf(':');
  const host = colon > hostPort.lastIndexOf(']') ? hostPort.slice(0, colon) : hostPort;
  if (host.startsWith('[') || isIP(host) !== 0) return '';
  return host.endsWith('.') ? host.slice(0, -1) : host;
}

function headerValue(headers: Record<string, string>, name: string): string | undefined {
  for (const k of Object.keys(headers)) if (k.toLowerCase() === name) return headers[k];
  return undefined;
}

export function explainRequest(rt: Runtime, req: QueryRequest): Explanation {
  const r = parseUrl(req);
  const headers: IncomingHttpHeaders = {};
  for (const [k, v] of Object.entries(req.headers)) headers[k.toLowerCase()] = v;
  if (r.hostHeader !== '') headers.host = r.hostHeader;
  const out: Explanation = {
    request: { method: r.method, scheme: r.scheme, host: r.hostHeader, path: r.path, query: r.query },
    error: null,
    route: null,
    candidates: [],
    outcome: null,
    service: null,
    upstream: null,
    plugins: [],
  };
  let path: string;
  // A request target carries bytes: a path typed with non-ASCII characters is sent as UTF-8.
  const bytes = r.path.replace(/[^\x00-\x7f]+/g, (c) => encodeURIComponent(c));
  try {
    path = normalizePath(bytes, rt.config.settings.encoded_slashes);
  } catch (err) {
    out.error = `the gateway answers 400: ${(err as Error).message}`;
    return out;
  }
  out.request.path = path;
  const match = rt.router.match(r.method, r.hostHeader, path, headers, r.sni);
  if (match === null) {
    out.candidates = nearestRoutes(rt, r.method, r.hostHeader, path, headers, r.sni);
    out.outcome = '404 no Route matched with those values';
    return out;
  }
  const route = match.route;
  out.route = { name: route.name, id: route.id, at: where(rt, route.model.yaml_path) };
  if (!(r.scheme === 'http' ? route.http : route.https)) {
    out.outcome =
      r.scheme === 'http'
        ? `${route.httpsRedirectStatus} the route accepts only https (protocols: ${route.model.protocols.join(', ')})`
        : `400 the route does not accept https (protocols: ${route.model.protocols.join(', ')})`;
  }
  const svc = route.service;
  if (svc === null) out.outcome ??= '503 no Service found with those values (the route has no service)';
  else {
    const s = svc.model;
    const port = (svc.scheme === 'https' ? s.port === 443 : s.port === 80) ? '' : `:${s.port}`;
    const hostForUrl = urlHost(s.host);
    out.service = {
      name: s.name,
      id: s.id,
      url: s.protocol === 'echo' ? 'echo://' : `${s.protocol}://${hostForUrl}${port}${s.path ?? ''}`,
    };
    // The proxy's: a gRPC service gets the request's own path whatever the route (Kong's
    // grpc_pass), normalized as the routes judged it; others the path after strip_path and the
    // service path.
    const upPath = svc.grpc ? path : upstreamPath(s.path, route, path, match.matchedPath);
    const host = route.preserve_host && r.hostHeader !== '' ? r.hostHeader : defaultHost(svc.hostHeader, svc.balancer);
    const origin = s.protocol === 'echo' ? 'echo://echo' : `${svc.scheme}://${hostForUrl}${port}`;
    out.upstream = {
      url: `${origin.replace(/\/$/, '')}${upPath}${r.query === '' ? '' : `?${r.query}`}`,
      host,
      path: upPath,
    };
  }
  out.plugins = pluginChain(rt, route, r.scheme, req);
  return out;
}

/** A balanced service sends the target's host; one host when every target shares it. */
function defaultHost(serviceHost: string, balancer: { targets: readonly { hostHeader: string }[] } | null): string {
  if (balancer === null || balancer.targets.length === 0) return serviceHost;
  const hosts = new Set(balancer.targets.map((t) => t.hostHeader));
  return hosts.size === 1 ? [...hosts][0]! : `${[...hosts].join(' | ')} (the target the balancer picks)`;
}

function where(rt: Runtime, path: readonly (string | number)[]): string {
  const l = rt.config.source.locate(path);
  return `${l.file}:${l.line}:${l.col}`;
}

function pick(slot: PipelineSlot, consumerId: string | null, scheme: 'http' | 'https'): PluginInstance | null {
  const inst =
    consumerId !== null && slot.byConsumer !== null
      ? (slot.byConsumer.get(consumerId) ?? slot.fallback)
      : slot.fallback;
  if (inst === null) return null;
  return (scheme === 'http' ? inst.http : inst.https) ? inst : null;
}

function pluginChain(rt: Runtime, route: CompiledRoute, scheme: 'http' | 'https', req: QueryRequest): PluginStep[] {
  const consumer = req.consumer === undefined ? null : rt.consumers.find(req.consumer);
  const steps: PluginStep[] = [];
  // As at run time: a consumer's instance is chosen only for the plugins after the authenticating one.
  let identified = false;
  for (const slot of route.pipeline.slots) {
    const inst = pick(slot, identified ? (consumer?.id ?? null) : null, scheme);
    if (inst === null) continue;
    if (AUTH_PLUGINS.has(inst.name)) identified = true;
    const d = decide(rt, inst, req, consumer);
    steps.push({
      name: inst.name,
      priority: inst.priority,
      scope: scopeOf(rt, inst.model),
      decision: d.decision,
      terminates: d.terminates,
      at: where(rt, inst.model.yaml_path),
    });
    if (d.terminates) break;
  }
  return steps;
}

function scopeOf(rt: Runtime, p: PluginModel): string {
  const parts: string[] = [];
  const named = (kind: string, id: string, name: string | null | undefined): string =>
    `${kind} ${name ? `'${name}'` : id}`;
  if (p.consumer !== null) {
    const c = rt.config.consumers.find((x) => x.id === p.consumer);
    parts.push(named('consumer', p.consumer, c?.username ?? c?.custom_id));
  }
  if (p.route !== null) parts.push(named('route', p.route, rt.config.routes.find((x) => x.id === p.route)?.name));
  if (p.service !== null)
    parts.push(named('service', p.service, rt.config.services.find((x) => x.id === p.service)?.name));
  return parts.length === 0 ? 'global' : parts.join(', ');
}

function decide(
  rt: Runtime,
  inst: PluginInstance,
  req: QueryRequest,
  consumer: { id: string; username: string | null } | null,
): { decision: string | null; terminates: boolean } {
  const c = inst.model.config as Record<string, any>;
  switch (inst.name) {
    case 'ip-restriction': {
      const ip = req.clientIp ?? '127.0.0.1';
      const deny = Array.isArray(c.deny) && c.deny.length > 0 ? compileIpList(c.deny, 'deny') : null;
      const allow = Array.isArray(c.allow) && c.allow.length > 0 ? compileIpList(c.allow, 'allow') : null;
      const denied = (deny !== null && ipListHas(deny, ip)) || (allow !== null && !ipListHas(allow, ip));
      return denied
        ? { decision: `denies ${ip}: answers ${c.status ?? 403}`, terminates: true }
        : { decision: `allows ${ip}`, terminates: false };
    }
    case 'request-termination': {
      if (c.trigger) return { decision: `answers ${c.status_code} when '${c.trigger}' is sent`, terminates: false };
      return {
        decision: `answers ${c.status_code}${c.echo ? ' with a copy of the request' : ''}${c.message ? `: ${c.message}` : ''}`,
        terminates: true,
      };
    }
    case 'acl': {
      if (consumer === null)
        return { decision: 'needs an authenticated consumer (give --consumer)', terminates: false };
      const groups = rt.consumers.ofConsumer('acls', consumer.id).map((a) => String((a as { group?: unknown }).group));
      const deny: string[] = c.deny ?? [];
      const allow: string[] = c.allow ?? [];
      const blocked = deny.length > 0 ? groups.some((g) => deny.includes(g)) : !groups.some((g) => allow.includes(g));
      const who = consumer.username ?? consumer.id;
      return blocked
        ? {
            decision: `denies consumer '${who}' (groups: ${groups.join(', ') || 'none'}): answers 403`,
            terminates: true,
          }
        : { decision: `allows consumer '${who}' (groups: ${groups.join(', ')})`, terminates: false };
    }
    default:
      if (AUTH_PLUGINS.has(inst.name)) {
        if (consumer !== null)
          return {
            decision: `authenticates; consumer '${consumer.username ?? consumer.id}' assumed`,
            terminates: false,
          };
        // With `anonymous`, a request without a valid credential goes on as that consumer (Kong).
        if (typeof c.anonymous === 'string' && c.anonymous !== '')
          return {
            decision: `authenticates a valid credential; without one, goes on as the anonymous consumer '${c.anonymous}' (never 401)`,
            terminates: false,
          };
        return { decision: REQUIRES_CREDENTIAL, terminates: false };
      }
      return { decision: null, terminates: false };
  }
}

/** Routes that almost matched, with what they lack: fewest mismatched criteria first, then longest shared path. */
function nearestRoutes(
  rt: Runtime,
  method: string,
  host: string,
  path: string,
  headers: IncomingHttpHeaders,
  sni: string | null,
): Candidate[] {
  const scored: { c: Candidate; score: number; shared: number }[] = [];
  for (const route of rt.routes.slice(0, 2000)) {
    const m = route.model;
    const mismatches: string[] = [];
    const only = (keep: 'paths' | 'methods' | 'hosts' | 'headers' | 'snis'): boolean => {
      if (m[keep] === null) return true;
      const probe: CompiledRoute = {
        ...route,
        paths: keep === 'paths' ? route.paths : null,
        methods: keep === 'methods' ? route.methods : null,
        hosts: keep === 'hosts' ? route.hosts : null,
        headers: keep === 'headers' ? route.headers : null,
        snis: keep === 'snis' ? route.snis : null,
      };
      try {
        return new Router([probe]).match(method, host, path, headers, sni) !== null;
      } catch {
        return false;
      }
    };
    if (!only('paths')) mismatches.push(`paths ${list(m.paths)} (got ${path})`);
    if (!only('methods')) mismatches.push(`methods ${list(m.methods)} (got ${method})`);
    if (!only('hosts')) mismatches.push(`hosts ${list(m.hosts)} (got ${host === '' ? 'no Host' : host})`);
    if (!only('headers'))
      mismatches.push(
        `headers ${Object.entries(m.headers ?? {})
          .map(([k, v]) => `${k}: ${v.join(',')}`)
          .join('; ')}`,
      );
    if (!only('snis')) mismatches.push(`snis ${list(m.snis)} (got ${sni === '' ? 'no SNI' : sni})`);
    if (route.service !== null && !route.service.model.enabled)
      mismatches.push(`its service ${route.service.label} is disabled (enabled: false)`);
    if (mismatches.length === 0) mismatches.push('a route of higher priority shadows it');
    const shared = Math.max(0, ...(m.paths ?? []).map((p) => sharedPrefix(p, path)));
    scored.push({ c: { route: label(m), at: where(rt, m.yaml_path), mismatches }, score: mismatches.length, shared });
  }
  scored.sort((a, b) => a.score - b.score || b.shared - a.shared);
  return scored.slice(0, MAX_CANDIDATES).map((s) => s.c);
}

function label(m: RouteModel): string {
  return m.name ?? m.id;
}

function list(l: readonly string[] | null): string {
  return `[${(l ?? []).join(', ')}]`;
}

function sharedPrefix(a: string, b: string): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}
