/**
 * The `proxy-cache` plugin: Kong 3's proxy-cache with the memory strategy. Cacheable responses
 * are kept in an LRU per `memory.dictionary_name`, bounded in entries and bytes, and served with
 * `X-Cache-Status: Hit` until `cache_ttl` (or, with `cache_control`, until RFC 9111 freshness as
 * http-cache-semantics computes it for a shared cache). Responses that say `no-store` or
 * `private`, set cookies, or vary on `*` are never stored. See docs/plugins/proxy-cache.md.
 */
import CachePolicy from 'http-cache-semantics';
import schema from '../../../schemas/plugins/proxy-cache.schema.json' with { type: 'json' };
import type { GatewayRequest, GatewayResponse, HeaderValue, PluginHandlers } from '../../index.ts';
import { definePlugin, PluginConfigError, trimAsciiSpace } from '../../index.ts';
import { cacheKey, headersKey, paramsKey } from './key.ts';
import { type CachedResponse, entrySize, MemoryStore } from './store.ts';

/** The proxy-cache plugin's config, defaults applied. */
export interface ProxyCacheConfig {
  strategy: 'memory';
  response_code: number[];
  request_method: string[];
  content_type: string[];
  cache_ttl: number;
  cache_control: boolean;
  ignore_uri_case: boolean;
  storage_ttl?: number | null;
  memory: { dictionary_name: string; max_entries: number; max_bytes: number; max_body_bytes: number };
  vary_query_params?: string[] | null;
  vary_headers?: string[] | null;
  response_headers: { age: boolean; Age?: boolean; 'X-Cache-Status': boolean; 'X-Cache-Key': boolean };
}

/** Kong's priority for proxy-cache: after authentication and rate limiting. */
export const PROXY_CACHE_PRIORITY = 100;

const CTX = 'proxy-cache';

type Status = 'Miss' | 'Hit' | 'Refresh' | 'Bypass';

interface State {
  status: Status;
  key: string | null;
}

const EMPTY = Buffer.alloc(0);

/** A shared cache (RFC 9111 5.2.2.7, s-maxage), with explicit lifetimes only (see cacheable()). */
const POLICY_OPTIONS: CachePolicy.Options = { shared: true, cacheHeuristic: 0, immutableMinTimeToLive: 0 };

/** Headers never stored with an entry (hop-by-hop per RFC 9110 7.6.1, lengths, our diagnostics). */
const NOT_STORED = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'trailers',
  'transfer-encoding',
  'upgrade',
  'content-length',
  'age',
  'x-cache-status',
  'x-cache-key',
]);

interface MediaRange {
  readonly type: string;
  readonly subtype: string;
  readonly params: readonly (readonly [string, string])[];
}

function parseMedia(value: string): MediaRange | null {
  const [full, ...rest] = value.split(';');
  const slash = full!.indexOf('/');
  if (slash <= 0) return null;
  const params: [string, string][] = [];
  for (const p of rest) {
    const eq = p.indexOf('=');
    if (eq < 0) continue;
    params.push([
      trimAsciiSpace(p.slice(0, eq)).toLowerCase(),
      trimAsciiSpace(p.slice(eq + 1))
        .replace(/^"(.*)"$/, '$1')
        .toLowerCase(),
    ]);
  }
  return {
    type: trimAsciiSpace(full!.slice(0, slash)).toLowerCase(),
    subtype: trimAsciiSpace(full!.slice(slash + 1)).toLowerCase(),
    params,
  };
}

function mediaMatches(range: MediaRange, ct: MediaRange): boolean {
  if (range.type !== '*' && range.type !== ct.type) return false;
  if (range.subtype !== '*' && range.subtype !== ct.subtype) return false;
  for (const [k, v] of range.params) if (!ct.params.some(([ck, cv]) => ck === k && cv === v)) return false;
  return true;
}

/** Cache-Control directive names (lower-case); values are not needed by these checks. */
function directives(value: HeaderValue | undefined): Set<string> {
  const out = new Set<string>();
  if (value === undefined) return out;
  const s = typeof value === 'string' ? value : value.join(',');
  for (const part of s.split(',')) {
    const eq = part.indexOf('=');
    const name = trimAsciiSpace(eq < 0 ? part : part.slice(0, eq)).toLowerCase();
    if (name !== '') out.add(name);
  }
  return out;
}

function headerString(v: HeaderValue | undefined): string {
  return v === undefined ? '' : typeof v === 'string' ? v : v.join(', ');
}

class ProxyCache implements PluginHandlers {
  private readonly methods: ReadonlySet<string>;
  private readonly codes: ReadonlySet<number>;
  private readonly types: readonly MediaRange[];
  private readonly varyParams: readonly string[] | null;
  private readonly varyHeaders: readonly string[] | null;
  private readonly showAge: boolean;
  private readonly showStatus: boolean;
  private readonly showKey: boolean;
  private readonly storeTtl: number | null;

  constructor(
    private readonly config: ProxyCacheConfig,
    private readonly store: MemoryStore,
    types: MediaRange[],
  ) {
    this.methods = new Set(config.request_method);
    this.codes = new Set(config.response_code);
    this.types = types;
    this.varyParams = config.vary_query_params ?? null;
    this.varyHeaders = config.vary_headers ?? null;
    this.showAge = config.response_headers.Age ?? config.response_headers.age;
    this.showStatus = config.response_headers['X-Cache-Status'];
    this.showKey = config.response_headers['X-Cache-Key'];
    this.storeTtl = config.storage_ttl ?? null;
  }

  access(req: GatewayRequest): void {
    if (!this.methods.has(req.method)) return this.mark(req, 'Bypass', null);
    const cc = this.config.cache_control;
    let reqcc: Set<string> | null = null;
    if (cc) {
      reqcc = directives(req.headers['cache-control']);
      // A request that forbids stored answers bypasses the cache (Kong's rule), and so does one with
      // credentials (RFC 9111 3.5), which Kong means to do but does not: it reads
      // ngx.var.authorization, a variable nginx does not define.
      if (reqcc.has('no-store') || reqcc.has('no-cache') || req.headers.authorization !== undefined)
        return this.mark(req, 'Bypass', null);
    }
    const path = this.config.ignore_uri_case ? req.path.toLowerCase() : req.path;
    const key = cacheKey(
      req.consumer?.id ?? null,
      req.route!.id, // access phase: a route matched
      req.method,
      path,
      // Kong's kong.request.get_query() and get_headers() read the request as earlier plugins
      // (request-transformer) left it: the key holds what the upstream answers to, so a tenant
      // parameter or header added from the client's credentials keeps tenants' entries apart.
      paramsKey(req.upstreamQuery ?? req.rawQuery, this.varyParams),
      headersKey(req, this.varyHeaders),
    );
    const entry = this.store.get(key);
    if (entry === undefined) {
      // RFC 9111 5.2.1.7: only-if-cached and nothing stored answers 504, with the key looked up
      // (Kong sets X-Cache-Key before the lookup, and no X-Cache-Status on this answer).
      if (reqcc?.has('only-if-cached')) return req.exit(504, null, this.showKey ? { 'X-Cache-Key': key } : undefined);
      return this.mark(req, 'Miss', key);
    }
    const now = Date.now();
    // Seconds since stored (Kong's Age), or with cache_control RFC 9111's current age, which
    // counts the upstream's own Age too: a response that came 50 s old is not 0 s old here, or a
    // cache after us would keep it 50 s past its freshness.
    let age = (now - entry.storedAt) / 1000;
    if (!cc) {
      if (now - entry.storedAt > this.config.cache_ttl * 1000) return this.mark(req, 'Refresh', key);
      if (!varyMatches(entry, req)) return this.mark(req, 'Miss', key);
    } else {
      // Another variant (Vary) is a Miss, as without cache_control; only staleness is a Refresh.
      if (!varyMatches(entry, req)) return this.mark(req, 'Miss', key);
      const policy = CachePolicy.fromObject(entry.policy as unknown as CachePolicy.CachePolicyObject);
      if (!policy.satisfiesWithoutRevalidation(requestLike(req))) return this.mark(req, 'Refresh', key);
      age = policy.age();
    }
    const headers: Record<string, HeaderValue> = { ...(entry.headers as Record<string, HeaderValue>) };
    if (this.showAge) headers.Age = String(Math.max(0, Math.floor(age)));
    if (this.showStatus) headers['X-Cache-Status'] = 'Hit';
    if (this.showKey) headers['X-Cache-Key'] = key;
    req.ctx[CTX] = { status: 'Hit', key } satisfies State;
    // A HEAD entry has no body; its Content-Length is the upstream's (RFC 9110 9.3.2).
    if (req.method === 'HEAD') req.exit(entry.status, null, headers);
    else req.exit(entry.status, entry.body, headers);
  }

  private mark(req: GatewayRequest, status: Status, key: string | null): void {
    req.ctx[CTX] = { status, key } satisfies State;
  }

  response(req: GatewayRequest, res: GatewayResponse): void {
    const st = req.ctx[CTX] as State | undefined;
    if (st === undefined || st.status === 'Hit') return;
    if (st.status !== 'Bypass' && !res.fromGateway && st.key !== null) {
      const policy = this.cacheable(req, res);
      if (policy === false) st.status = 'Bypass';
      else this.collect(req, res, st.key, policy);
    }
    if (this.showStatus) res.setHeader('X-Cache-Status', st.status);
    if (this.showKey && st.key !== null) res.setHeader('X-Cache-Key', st.key);
  }

  /** false when the response must not be stored; else its RFC 9111 policy (null without cache_control). */
  private cacheable(req: GatewayRequest, res: GatewayResponse): CachePolicy | null | false {
    if (!this.codes.has(res.status)) return false;
    const ct = res.headers['content-type'];
    if (typeof ct !== 'string' || ct === '') return false;
    const media = parseMedia(ct);
    if (media === null || !this.types.some((t) => mediaMatches(t, media))) return false;
    const cc = directives(res.headers['cache-control']);
    // Always, even without cache_control: a shared cache must not keep these (RFC 9111 5.2.2.3,
    // 5.2.2.7), and a stored Set-Cookie would hand one client's cookie to the next.
    if (cc.has('no-store') || cc.has('private') || res.headers['set-cookie'] !== undefined) return false;
    if (headerString(res.headers.vary).includes('*')) return false;
    // A body announced past max_body_bytes will not be stored: said now (Bypass, not a Miss that
    // never turns into a Hit), and the body streams from its first byte instead of being held up
    // to the limit first. A HEAD answer's length is its GET's (RFC 9110 9.3.2): it has no body.
    if (req.method !== 'HEAD' && Number(res.headers['content-length']) > this.config.memory.max_body_bytes)
      return false;
    if (!this.config.cache_control) return null;
    if (cc.has('no-cache')) return false;
    const policy = new CachePolicy(
      requestLike(req),
      // The status as 200: response_code already chose what may be stored (see requestLike).
      { status: 200, headers: plainHeaders(res.headers) },
      // Kong's calculate_resource_ttl takes a lifetime from s-maxage, max-age or Expires only: no
      // heuristic from Last-Modified (RFC 9111 4.2.2 permits, never requires one) and no implied
      // day for `immutable`; an API answer with a Last-Modified is not served stale for hours.
      POLICY_OPTIONS,
    );
    if (!policy.storable() || policy.timeToLive() <= 0) return false;
    return policy;
  }

  private collect(req: GatewayRequest, res: GatewayResponse, key: string, policy: CachePolicy | null): void {
    const headers: Record<string, string | string[]> = {};
    // What is left of a quota belongs to the client that used it: a Hit for another client would
    // tell it someone else's remaining count (response-ratelimiting sets none on a Hit). Kong drops
    // every header naming `ratelimit-remaining` from a cached answer for this reason.
    // Each name is kept as it goes out (the upstream's `X-Custom-Thing`): Kong stores the head with
    // its names as they are (ngx.resp.get_headers's raw form) and a hit's exit writes them so.
    for (const name in res.headers) {
      const v = res.headers[name];
      if (v === undefined || NOT_STORED.has(name) || name.includes('ratelimit-remaining')) continue;
      headers[res.headerName(name)] = typeof v === 'string' ? v : [...v];
    }
    const vary: [string, string][] = [];
    const varyHeader = headerString(res.headers.vary);
    if (varyHeader !== '') {
      for (const n of varyHeader.split(',')) {
        const name = trimAsciiSpace(n).toLowerCase();
        if (name !== '') vary.push([name, headerString(req.getUpstreamHeader(name))]);
      }
    }
    const status = res.status;
    const ttl =
      this.storeTtl ?? (policy !== null ? Math.max(1, Math.ceil(policy.timeToLive() / 1000)) : this.config.cache_ttl);
    const store = (body: Buffer): void => {
      const policyObject = policy === null ? null : (policy.toObject() as unknown as Record<string, unknown>);
      const policySize = policyObject === null ? 0 : JSON.stringify(policyObject).length;
      const entry: CachedResponse = {
        status,
        headers,
        body,
        storedAt: Date.now(),
        vary,
        policy: policyObject,
        size: entrySize(headers, body, policySize, vary),
      };
      this.store.set(key, entry, ttl);
    };
    // Kong stores HEAD answers as their own entries (the method is in the key): no body comes,
    // so the entry is made now, keeping the Content-Length the upstream announced. One that
    // announced none is not stored: a Hit without a body is sent with a length, and 0 would
    // tell the client the resource is empty.
    if (req.method === 'HEAD') {
      const length = res.headers['content-length'];
      if (typeof length !== 'string') return;
      headers[res.headerName('content-length')] = length;
      return store(EMPTY);
    }
    // The limit makes the gateway hold no more than max_body_bytes for this entry: past it the
    // body streams on, uncached (other plugins' rewrites keep their own limits).
    const limit = this.config.memory.max_body_bytes;
    res.transformBody((body) => {
      if (body.length <= limit) store(body);
      return body;
    }, limit);
  }
}

/** The upstream's Vary names headers of the request it received: those sent upstream are compared. */
function varyMatches(entry: CachedResponse, req: GatewayRequest): boolean {
  for (const [name, value] of entry.vary) if (headerString(req.getUpstreamHeader(name)) !== value) return false;
  return true;
}

/**
 * The request as the RFC 9111 policy sees it. Kong's cache_control stores whatever request_method
 * and response_code list once Cache-Control or Expires gives a lifetime; http-cache-semantics
 * stores only GET, HEAD and POST answers with the statuses it knows (no 417, no PUT), so listed
 * ones were a Bypass forever. The config is the operator's word that they are cacheable: the
 * policy sees a GET (a HEAD stays one), as methods never share an entry (the key holds it).
 */
function requestLike(req: GatewayRequest): CachePolicy.Request {
  return {
    url: req.rawQuery === '' ? req.path : `${req.path}?${req.rawQuery}`,
    method: req.method === 'HEAD' ? 'HEAD' : 'GET',
    headers: req.headers as CachePolicy.Headers,
  };
}

function plainHeaders(h: Readonly<Record<string, HeaderValue | undefined>>): CachePolicy.Headers {
  const out: CachePolicy.Headers = {};
  for (const k in h) {
    const v = h[k];
    if (v !== undefined) out[k] = typeof v === 'string' ? v : [...v];
  }
  return out;
}

export default definePlugin<ProxyCacheConfig>({
  name: 'proxy-cache',
  version: '1.0.0',
  priority: PROXY_CACHE_PRIORITY,
  schema,
  create(config, context) {
    const types = config.content_type.map((t, i) => {
      // A lone `*` is Kong's `*/*` (kong.tools.mime_type parses `type/subtype` or `*`).
      const m = parseMedia(t === '*' ? '*/*' : t);
      if (m === null) throw new PluginConfigError(`content_type[${i}]`, `'${t}' is not a media type (type/subtype)`);
      return m;
    });
    const mem = config.memory;
    const store = context.services.shared(
      `proxy-cache:memory:${mem.dictionary_name}:${mem.max_entries}:${mem.max_bytes}`,
      () => new MemoryStore(mem.max_entries, mem.max_bytes),
      (s) => s.clear(),
    );
    return new ProxyCache(config, store, types);
  },
});
