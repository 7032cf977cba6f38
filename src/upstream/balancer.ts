// Load balancing over an upstream's targets (Kong's upstreams): weighted round-robin,
// least-connections, consistent hashing or latency (latency.ts); passive and active health checks;
// one pool per target, built by the upstream factory. A plain service is a balancer of one target,
// so every request (and every WebSocket upgrade) takes the same path to its upstream.

import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { isIP } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { TargetModel, UpstreamModel } from '../config/model.ts';
import { trimAsciiSpace } from '../lib/header-value.ts';
import { urlHost } from '../lib/ip-text.ts';
import { type ActiveChecks, activeChecks, type CheckSettings, num, passiveChecks } from './check-settings.ts';
import { type HashOn, hash32, hashName, pathKey, queryArgKey } from './hash-key.ts';
import { fastest, measured, rejoined } from './latency.ts';
import type { PoolSettings, PoolStats } from './pool.ts';
import { type ProbeOutcome, Prober, probeSettings } from './probe.ts';
import { type Counters, Target, UpstreamHealth } from './target.ts';

export { Target, UpstreamHealth } from './target.ts';

/** What a request offers to consistent hashing. `RequestContext` has this shape. */
export interface HashSource {
  readonly headers: IncomingHttpHeaders;
  readonly clientIp: string;
  readonly path: string;
  /** The query string, without `?`. */
  readonly rawQuery: string;
  /** The query string a plugin set for the upstream (null: the client's goes). */
  readonly upstreamQuery?: string | null;
  /** A header as it goes upstream: the client's, with the plugins' changes and authenticate()'s headers. */
  getUpstreamHeader?(name: string): string | readonly string[] | undefined;
  /** Named and numbered captures of the route's regex path. */
  readonly captures: Readonly<Record<string, string>>;
  readonly consumer: { readonly id: string } | null;
  readonly credential: { readonly id: string } | null;
  /** The hashing cookie made for a request that came without it (Kong's); its answer sets it. */
  hashCookie: HashCookie | null;
  /** Targets an earlier attempt of this request failed on (least-connections and latency retries avoid them). */
  failedTargets?: Target[] | null;
}

/** A hashing cookie the gateway made: the key it hashes, and the Set-Cookie value that gives it to the client. */
export interface HashCookie {
  readonly value: string;
  readonly setCookie: string;
}

/** How an exchange with a target (a request or a probe) ended, for health checks. */
export type Outcome = ProbeOutcome;

/** Health of one target, as `/status` and metrics show it. */
export interface TargetHealth {
  target: string;
  weight: number;
  healthy: boolean;
  /** Its name does not resolve: out of the picks until it does, health untouched (Kong's `DNS_ERROR`). */
  dns_error: boolean;
  in_flight: number;
  /** Upstream connections: carrying a request, kept idle, requests waiting for one. */
  connections: PoolStats;
}

/** Parses Kong's `host[:port]` target (port defaults to 8000; IPv6 in brackets). */
export function parseTarget(text: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+))(?::(\d+))?$/.exec(text);
  if (m === null) {
    if (isIP(text) === 6) return { host: text, port: 8000 };
    throw new Error(`invalid target '${text}': expected host[:port]`);
  }
  const port = m[3] === undefined ? 8000 : Number(m[3]);
  if (port < 1 || port > 65535) throw new Error(`invalid target '${text}': port out of range`);
  return { host: m[1] ?? m[2]!, port };
}

/** An upstream entity with Kong's defaults (round-robin, no hashing, no health checks) and `extra` on top. */
export function upstreamModel(name: string, targets: TargetModel[], extra: Partial<UpstreamModel> = {}): UpstreamModel {
  return Object.assign(kongDefaults(name, targets, 10000), extra);
}

/** A plain service's upstream: its one target, with one slot (nothing is hashed). */
function plainUpstream(target: string): UpstreamModel {
  return kongDefaults(target, [{ id: '', target, weight: 100, tags: [], yaml_path: [] }], 1);
}

/** One literal, not a spread of defaults: a spread into a literal is the slow path of object copying. */
function kongDefaults(name: string, targets: TargetModel[], slots: number): UpstreamModel {
  return {
    id: '',
    name,
    algorithm: 'round-robin',
    hash_on: 'none',
    hash_fallback: 'none',
    hash_on_header: null,
    hash_on_cookie: null,
    hash_on_cookie_path: '/',
    slots,
    healthchecks: {},
    targets,
    tags: [],
    yaml_path: [],
  };
}

/** A header as it goes upstream, where the request can say (the plugins' changes), else the client's. */
function hashedHeader(req: HashSource, name: string): string | readonly string[] | undefined {
  return req.getUpstreamHeader === undefined ? req.headers[name] : req.getUpstreamHeader(name);
}

/** The ring of a balancer that does not hash: nothing is ever read from it. */
const NO_RING: [Uint32Array, Uint16Array] = [new Uint32Array(0), new Uint16Array(0)];

/**
 * The Host sent to a target unless preserve_host or a plugin says otherwise (Kong's): the
 * upstream's `host_header`, else the target's host, with the target's port unless it is the
 * scheme's default. A `host_header` with a port of its own is sent as it is (Kong would append the
 * target's port to it as well).
 */
function targetHostHeader(host: string, port: number, scheme: string, hostHeader: string | null | undefined): string {
  if (hostHeader != null && /:\d+$/.test(hostHeader) && !hostHeader.endsWith(']')) return hostHeader;
  const name = hostHeader ?? urlHost(host);
  return port === (scheme === 'https' ? 443 : 80) ? name : `${name}:${port}`;
}

/**
 * Balances requests of one service over the targets of its upstream.
 * `pick()` returns a healthy target or null (the gateway answers 503); `report()` feeds passive
 * health checks; active probes run on an unref'd timer until `close()`.
 */
export class Balancer {
  readonly name: string;
  readonly algorithm: UpstreamModel['algorithm'];
  /** `algorithm: latency`: the proxy times each attempt and reports it (`answeredIn`). */
  readonly byLatency: boolean;
  readonly targets: readonly Target[];
  private readonly hashOn: HashOn;
  private readonly hashFallback: HashOn;
  /** What `hashOn` / `hashFallback` reads: a header name (lower-case), query argument or capture. */
  private readonly hashOnName: string;
  private readonly hashFallbackName: string;
  /** `<hash_on_cookie>=`, how the hashing cookie starts in a Cookie header and in the one made. */
  private readonly hashCookiePrefix: string;
  /** `; Path=...; SameSite=Lax; HttpOnly`, the attributes of a cookie this balancer makes. */
  private readonly hashCookieAttributes: string;
  /** Consistent-hashing ring: sorted points and the target index of each. */
  private readonly ringPoints: Uint32Array;
  private readonly ringTargets: Uint16Array;
  private readonly passive: CheckSettings;
  /** Made at the first probe: most balancers (every plain service's) never probe. */
  private prober: Prober | null = null;
  /** What the prober is made from: `healthchecks.active` and the upstream's `host_header`. */
  private readonly activeSettings: Record<string, unknown> | null;
  private readonly hostHeader: string | null;
  private readonly activeCheck: ActiveChecks;
  /** Kong's `healthchecks.threshold`: the healthy share of the weight, in %, below which no target is picked. */
  private readonly threshold: number;
  /** The health of the upstream's targets, shared with the other services' balancers of the same upstream. */
  readonly shared: UpstreamHealth;
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly onChange: ((target: Target, healthy: boolean, reason: string) => void) | null;
  private lcCursor = 0;
  /** The round of probes of healthy (0) and unhealthy (1) targets in progress. */
  private readonly rounds: [Promise<void> | null, Promise<void> | null] = [null, null];
  private closed = false;

  /** Whether this balances an `upstreams:` entry (false: the single target of a plain service). */
  readonly fromUpstream: boolean;

  /**
   * The balancer of a plain service: its one target, no health checks. The service's host and port
   * are taken as they are, not parsed back from `host:port`: a port Kong accepts (0 among them)
   * fails at connect, as in Kong, not at load.
   */
  static single(host: string, port: number, pool: PoolSettings): Balancer {
    const target = `${urlHost(host)}:${port}`;
    return new Balancer(plainUpstream(target), pool, null, false, undefined, true, { host, port });
  }

  constructor(
    upstream: UpstreamModel,
    pool: PoolSettings,
    onChange: ((target: Target, healthy: boolean, reason: string) => void) | null = null,
    fromUpstream = true,
    shared: UpstreamHealth = new UpstreamHealth(),
    /** false: the probes wait for `startActiveChecks()`. */
    startChecks = true,
    /** The one target's address, when the caller has it (`single`). */
    address: { host: string; port: number } | null = null,
  ) {
    this.name = upstream.name;
    this.shared = shared;
    shared.balancers.push(this);
    this.fromUpstream = fromUpstream;
    this.algorithm = upstream.algorithm;
    this.byLatency = upstream.algorithm === 'latency';
    this.onChange = onChange;
    this.targets = upstream.targets.map((t) => {
      const { host, port } = address ?? parseTarget(t.target);
      return new Target(
        t.target,
        host,
        port,
        t.weight,
        pool,
        targetHostHeader(host, port, pool.scheme, upstream.host_header),
        shared.state(t.target),
      );
    });
    if (this.byLatency) {
      // A target whose name resolves again is new addresses to Kong's balancer, whose latency
      // average starts from the others' mean (afterHostUpdate), as a target back healthy does here:
      // its old average, faded while it was out, would keep it from traffic, or send it all.
      const back = (t: Target): void => rejoined(this.targets, t, performance.now());
      for (const t of this.targets) t.onResolved = back;
    }
    this.hashOn = upstream.hash_on as HashOn;
    this.hashFallback = upstream.hash_fallback as HashOn;
    this.hashOnName = hashName(
      this.hashOn,
      upstream.hash_on_header,
      upstream.hash_on_query_arg,
      upstream.hash_on_uri_capture,
    );
    this.hashFallbackName = hashName(
      this.hashFallback,
      upstream.hash_fallback_header,
      upstream.hash_fallback_query_arg,
      upstream.hash_fallback_uri_capture,
    );
    const byCookie = this.hashOn === 'cookie' || this.hashFallback === 'cookie';
    this.hashCookiePrefix = byCookie ? `${upstream.hash_on_cookie ?? ''}=` : '';
    this.hashCookieAttributes = byCookie ? `; Path=${upstream.hash_on_cookie_path}; SameSite=Lax; HttpOnly` : '';
    [this.ringPoints, this.ringTargets] = this.buildRing(upstream.slots);

    const hc = upstream.healthchecks as Record<string, Record<string, unknown>>;
    this.threshold = num(hc.threshold, 0);
    this.passive = passiveChecks(hc.passive);
    this.activeCheck = activeChecks(hc.active);
    this.activeSettings = hc.active ?? null;
    this.hostHeader = upstream.host_header ?? null;
    if (startChecks) this.startActiveChecks();
  }

  /**
   * Starts the active probes' timers (once), and asks for the targets' names (target.ts). A runtime
   * compiled to serve calls it when it starts serving: a process that serves nothing (the cluster
   * primary, `gateway explain`) sends no probe and no query.
   */
  startActiveChecks(): void {
    // One set of probes per upstream, however many services name it.
    if (this.closed || this.timers.length > 0 || this.shared.balancers[0] !== this) return;
    if (this.fromUpstream) for (const t of this.targets) t.checkName();
    if (this.activeCheck.healthyInterval > 0) {
      const t = setInterval(() => this.probeAll(true), this.activeCheck.healthyInterval);
      t.unref();
      this.timers.push(t);
    }
    if (this.activeCheck.unhealthyInterval > 0) {
      const t = setInterval(() => this.probeAll(false), this.activeCheck.unhealthyInterval);
      t.unref();
      this.timers.push(t);
    }
  }

  /**
   * Points spread by weight; the ring covers every target so a target going down remaps only its
   * keys. At least 160 points per target (Kong's consistent_hashing.lua gives each 160 at equal
   * weights, whatever `slots`): with `slots: 10` alone, two targets would have 5 points each, and
   * one could own three quarters of the keys. At most 65,536 (`slots`' maximum) in all.
   */
  private buildRing(slots: number): [Uint32Array, Uint16Array] {
    if (this.algorithm !== 'consistent-hashing') return NO_RING;
    const total = this.targets.reduce((s, t) => s + t.weight, 0);
    const weighted = this.targets.filter((t) => t.weight > 0).length;
    const points = Math.min(65_536, Math.max(slots, 160 * weighted));
    const pts: [number, number][] = [];
    this.targets.forEach((t, i) => {
      if (t.weight === 0 || total === 0) return;
      const n = Math.max(1, Math.round((points * t.weight) / total));
      for (let v = 0; v < n; v++) pts.push([hash32(`${t.name}#${v}`), i]);
    });
    pts.sort((a, b) => a[0] - b[0]);
    return [Uint32Array.from(pts, (p) => p[0]), Uint16Array.from(pts, (p) => p[1])];
  }

  /** A healthy target for this request, or null when none is. */
  pick(req: HashSource): Target | null {
    if (this.shared.belowThreshold) return null;
    if (this.algorithm === 'consistent-hashing') {
      const key =
        this.hashKey(req, this.hashOn, this.hashOnName) ?? this.hashKey(req, this.hashFallback, this.hashFallbackName);
      if (key !== null) return this.fromRing(hash32(key));
    }
    if (this.algorithm === 'least-connections') return this.leastConnections(req);
    if (this.byLatency) return fastest(this.targets, req.failedTargets, performance.now());
    return this.roundRobin();
  }

  /**
   * An attempt at `target`, dispatched at `startedAt` (performance.now()), just ended: the
   * upstream's whole answer is in, or it failed (`algorithm: latency` only). Kong times a request
   * from the upstream connect to the answer's last byte (nginx's response time, to which it adds
   * the connect time a second time); here each attempt is timed from its dispatch to that end.
   */
  answeredIn(target: Target, startedAt: number): void {
    const now = performance.now();
    measured(target.state, now - startedAt, now);
  }

  private hashKey(req: HashSource, on: HashOn, name: string): string | null {
    switch (on) {
      case 'ip':
        return req.clientIp;
      case 'consumer':
        // Kong: the consumer, else the credential (an authentication without a consumer).
        return req.consumer?.id ?? req.credential?.id ?? null;
      case 'path':
        return pathKey(req.path);
      // Kong reads the query and the header in the balancer phase, after the plugins' access
      // phase (ngx.req.get_uri_args, $http_NAME): what a plugin set with set_query or set_header
      // (request-transformer's, an authentication's X-Consumer-ID) is what it hashes.
      case 'query_arg':
        return queryArgKey(req.upstreamQuery ?? req.rawQuery, name);
      case 'uri_capture':
        return req.captures[name] ?? null;
      case 'header': {
        // A client's `X_Tenant` (kept with headers_with_underscores: allow) is $http_x_tenant too.
        let v = hashedHeader(req, name);
        if (v === undefined && name.includes('-')) v = hashedHeader(req, name.replaceAll('-', '_'));
        // Several lines joined as nginx's $http_NAME joins them (1.23 on): ", ", and "; " for Cookie.
        return v === undefined ? null : typeof v === 'string' ? v : v.join(name === 'cookie' ? '; ' : ', ');
      }
      case 'cookie': {
        const c = req.headers.cookie;
        const prefix = this.hashCookiePrefix;
        if (c !== undefined) {
          for (const part of c.split(';')) {
            const p = trimAsciiSpace(part);
            if (p.startsWith(prefix)) return p.slice(prefix.length);
          }
        }
        // Kong: a client without the cookie gets one (a UUID) with the answer, and its later
        // requests land where this one did. A retry of the same request hashes the same value.
        if (req.hashCookie === null) {
          const value = randomUUID();
          req.hashCookie = { value, setCookie: `${prefix}${value}${this.hashCookieAttributes}` };
        }
        return req.hashCookie.value;
      }
      default:
        return null;
    }
  }

  private fromRing(h: number): Target | null {
    const pts = this.ringPoints;
    if (pts.length === 0) return null;
    let lo = 0;
    let hi = pts.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (pts[mid]! < h) lo = mid + 1;
      else hi = mid;
    }
    // Walk on from the key's point to the first healthy target.
    for (let i = 0; i < pts.length; i++) {
      const t = this.targets[this.ringTargets[(lo + i) % pts.length]!]!;
      if (t.healthy && !t.leftOut) return t;
    }
    return null;
  }

  /** Smooth weighted round-robin (nginx's): even spread, weights honoured, no bursts. */
  private roundRobin(): Target | null {
    let best: Target | null = null;
    let total = 0;
    for (const t of this.targets) {
      if (!t.healthy || t.weight === 0 || t.leftOut) continue;
      t.current += t.weight;
      total += t.weight;
      if (best === null || t.current > best.current) best = t;
    }
    if (best !== null) best.current -= total;
    return best;
  }

  /**
   * The target with the fewest requests in flight per weight. A retry skips the targets this request
   * already failed on, as Kong's least-connections does (its handle's `failedAddresses`): the one
   * that just refused the connection has one request less in flight and would otherwise be picked
   * again, for every retry. When every target failed, the list starts over.
   */
  private leastConnections(req: HashSource): Target | null {
    const failed = req.failedTargets;
    const best = this.leastLoaded(failed ?? null);
    if (best !== null || failed == null || failed.length === 0) return best;
    failed.length = 0;
    return this.leastLoaded(null);
  }

  private leastLoaded(skip: readonly Target[] | null): Target | null {
    let best: Target | null = null;
    let bestScore = Infinity;
    const n = this.targets.length;
    // Start where the last pick left off, so ties rotate instead of always favouring the first.
    const start = this.lcCursor++ % Math.max(1, n);
    for (let k = 0; k < n; k++) {
      const t = this.targets[(start + k) % n]!;
      if (!t.healthy || t.weight === 0 || t.leftOut || skip?.includes(t)) continue;
      const score = (t.inflight + 1) / t.weight;
      if (score < bestScore) {
        best = t;
        bestScore = score;
      }
    }
    return best;
  }

  /** A connection to `target` failed on its name: out of an upstream's picks until it resolves (target.ts). */
  unresolved(target: Target): void {
    if (this.fromUpstream) target.leaveOutUntilResolved();
  }

  /** Passive health check: the outcome of a proxied exchange with `target`. */
  report(target: Target, outcome: Outcome): void {
    this.record(target, target.passive, this.passive, outcome, 'passive');
  }

  private record(target: Target, c: Counters, s: CheckSettings, outcome: Outcome, kind: string): void {
    if ('status' in outcome || 'connected' in outcome) {
      const status = 'status' in outcome ? outcome.status : 0;
      // A status in both lists is a success: Kong's healthchecker looks at the healthy list first.
      // Status 0 is an answer with no readable status line, which it counts as an http failure.
      if ('connected' in outcome || s.healthyStatuses.has(status)) {
        c.http_failures = 0;
        c.tcp_failures = 0;
        c.timeouts = 0;
        if (s.successes > 0 && ++c.successes >= s.successes)
          this.setHealth(target, true, `${kind}: ${c.successes} successes`);
      } else if (status === 0 || s.unhealthyStatuses.has(status)) {
        c.successes = 0;
        if (s.httpFailures > 0 && ++c.http_failures >= s.httpFailures)
          this.setHealth(target, false, `${kind}: ${c.http_failures} http failures (status ${status})`);
      }
      return;
    }
    c.successes = 0;
    if (outcome.failure === 'timeout') {
      if (s.timeouts > 0 && ++c.timeouts >= s.timeouts)
        this.setHealth(target, false, `${kind}: ${c.timeouts} timeouts`);
    } else if (s.tcpFailures > 0 && ++c.tcp_failures >= s.tcpFailures) {
      const cause = outcome.cause ? ` (${outcome.cause})` : '';
      this.setHealth(target, false, `${kind}: ${c.tcp_failures} tcp failures${cause}`);
    }
  }

  /** The target of this name (as the config writes it), if the upstream has one. */
  target(name: string): Target | undefined {
    return this.targets.find((t) => t.name === name);
  }

  /**
   * Sets a target's health from outside the checks: by hand (Kong's `PUT
   * /upstreams/{u}/targets/{t}/healthy`, which resets the checks' counters as this does), or as
   * the config before a reload left it (`reason` null: nothing is logged, nothing changed).
   */
  setTargetHealth(target: Target, healthy: boolean, reason: string | null): void {
    this.setHealth(target, healthy, reason);
  }

  private setHealth(target: Target, healthy: boolean, reason: string | null): void {
    for (const c of [target.passive, target.active]) {
      c.successes = 0;
      c.http_failures = 0;
      c.tcp_failures = 0;
      c.timeouts = 0;
    }
    if (target.healthy === healthy) return;
    target.healthy = healthy;
    if (healthy && this.byLatency) rejoined(this.targets, target, performance.now());
    if (this.threshold > 0) {
      let up = 0;
      let total = 0;
      for (const t of this.targets) {
        total += t.weight;
        if (t.healthy) up += t.weight;
      }
      this.shared.belowThreshold = total > 0 && up * 100 < this.threshold * total;
    }
    if (reason !== null) this.onChange?.(target, healthy, reason);
  }

  /**
   * Stops the active probes (a retired runtime's balancer: its requests in flight still finish on it,
   * but the serving config's balancer probes now, and a target the new config removed is left alone).
   */
  stopActiveChecks(): void {
    for (const t of this.timers) clearInterval(t);
  }

  /**
   * One round of active probes, on the targets currently healthy (or unhealthy). A round still
   * running when the next is due is not doubled: its promise is returned. Rounds longer than the
   * interval (many targets, slow probes) would otherwise pile up, each with `concurrency` probes
   * open, and probe a target several times at once.
   */
  probeAll(healthy: boolean): Promise<void> {
    const i = healthy ? 0 : 1;
    const running = this.rounds[i];
    if (running !== null) return running;
    const round = this.probeRound(healthy).finally(() => {
      this.rounds[i] = null;
    });
    this.rounds[i] = round;
    return round;
  }

  private async probeRound(healthy: boolean): Promise<void> {
    // A target of weight 0 gets no traffic and is not probed: Kong's healthchecker is given only the
    // addresses of weight above 0, so a target drained that way (and then shut down) is left alone.
    const list = this.targets.filter((t) => t.healthy === healthy && t.weight > 0 && !t.leftOut);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < list.length) await this.probe(list[next++]!);
    };
    await Promise.all(Array.from({ length: Math.min(this.activeCheck.concurrency, list.length) }, worker));
  }

  private async probe(t: Target): Promise<void> {
    if (this.closed) return;
    this.prober ??= new Prober(probeSettings(this.activeSettings ?? {}, this.hostHeader));
    const outcome = await this.prober.probe(t);
    // A name that did not resolve says nothing of the target, as for passive checks: Kong probes a
    // target's addresses, and one without addresses is out of the ring until DNS answers again,
    // its health untouched (marked down here, it stayed down after DNS recovered).
    if ('cause' in outcome && (outcome.cause === 'ENOTFOUND' || outcome.cause === 'EAI_AGAIN'))
      return this.unresolved(t);
    if (!this.closed) this.record(t, t.active, this.activeCheck, outcome, 'active');
  }

  /** Health of every target (for `/status` and metrics); connections add up every service's pool to it. */
  health(): { name: string; algorithm: string; healthy: boolean; targets: TargetHealth[] } {
    const targets = this.targets.map((t, i) => {
      const connections = { active: 0, idle: 0, queued: 0 };
      for (const b of this.shared.balancers) {
        const st = b.targets[i]?.poolStats();
        if (st === undefined) continue;
        connections.active += st.active;
        connections.idle += st.idle;
        connections.queued += st.queued;
      }
      const { name: target, weight, healthy, leftOut: dns_error, inflight: in_flight } = t;
      return { target, weight, healthy, dns_error, in_flight, connections };
    });
    return {
      name: this.name,
      algorithm: this.algorithm,
      healthy: !this.shared.belowThreshold && targets.some((t) => t.healthy && !t.dns_error && t.weight > 0),
      targets,
    };
  }

  close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    for (const t of this.targets) t.stopRequery();
    if (this.prober === null && this.targets.length === 1) return this.targets[0]!.closePool();
    return Promise.allSettled([this.prober?.close(), ...this.targets.map((t) => t.closePool())]).then(() => undefined);
  }
}
