// The state of an upstream's targets that every service naming the upstream shares (health,
// counters, requests in flight), and the target itself: its address, pool and Host.
import { isIP } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Balancer } from './balancer.ts';
import { CLOSED, type PoolSettings, type PoolStats, TargetPool } from './pool.ts';

/**
 * ms between two asks for a target whose name did not resolve. The resolver answers from its memory
 * of the failure until dns_not_found_ttl (30 s by default, Kong's requery interval for a failed
 * target) or dns_error_ttl has passed, so a real query goes out no more often than that.
 */
const REQUERY_MS = 1000;

const NO_CONNECTIONS: PoolStats = Object.freeze({ active: 0, idle: 0, queued: 0 });

/** Kong's health counters of one kind of check (passive or active). */
export interface Counters {
  successes: number;
  http_failures: number;
  tcp_failures: number;
  timeouts: number;
}

/** A target's health, counters and requests in flight: one per upstream target, whichever service sends to it. */
export interface TargetState {
  healthy: boolean;
  inflight: number;
  /** While the target's name does not resolve: the timer that asks again (the target is left out of picks meanwhile). */
  requery: NodeJS.Timeout | null;
  readonly passive: Counters;
  readonly active: Counters;
  /** The `latency` algorithm's moving average of response times (ms), and when it was last updated (performance.now()). */
  ewma: number;
  ewmaAt: number;
}

/**
 * The health of one upstream's targets, shared by the balancers of every service that names it:
 * Kong keeps one balancer and healthchecker per upstream, so a target that fails for one service
 * is out for all of them, least-connections counts every service's requests, and one set of
 * active probes runs (the first service's balancer runs them, with its pool's TLS settings).
 */
export class UpstreamHealth {
  /** The healthy targets' weight is under `threshold`: the whole upstream counts as down. */
  belowThreshold = false;
  /** The balancers sharing this state, in the order built; the first one runs the active probes. */
  readonly balancers: Balancer[] = [];
  // The first target's state in fields, the others' in a map made for a second target: every plain
  // service has a state of one target, and a map each was a fifth of a large config's balancers.
  private firstName: string | null = null;
  private first: TargetState | null = null;
  private others: Map<string, TargetState> | null = null;

  state(name: string): TargetState {
    if (name === this.firstName) return this.first!;
    if (this.firstName === null) {
      this.firstName = name;
      this.first = newState();
      return this.first;
    }
    let st = this.others?.get(name);
    if (st === undefined) (this.others ??= new Map()).set(name, (st = newState()));
    return st;
  }
}

function newCounters(): Counters {
  return { successes: 0, http_failures: 0, tcp_failures: 0, timeouts: 0 };
}

function newState(): TargetState {
  return {
    healthy: true,
    inflight: 0,
    requery: null,
    passive: newCounters(),
    active: newCounters(),
    ewma: 0,
    ewmaAt: performance.now(),
  };
}

/** One target: its address, pool, and (shared) health state. */
export class Target {
  readonly name: string;
  readonly host: string;
  readonly port: number;
  readonly weight: number;
  /** Its pool's settings: timeouts, TLS, and the resolver its connections ask. */
  readonly settings: PoolSettings;
  /** Host header for requests to this target (`host[:port]`). */
  readonly hostHeader: string;
  /** Smooth weighted round-robin state. */
  current = 0;
  /** Its balancer closed: its name is not asked for any more. */
  private stopped = false;
  /** Called when its name resolves again after it was left out; set by its balancer at load. */
  onResolved: ((target: Target) => void) | null = null;
  readonly state: TargetState;
  private made: TargetPool | null = null;
  private sendsHost = false;
  /** `closePool()` ran: a pool made after it is closed at once, so it refuses requests. */
  private poolClosed = false;

  constructor(
    name: string,
    host: string,
    port: number,
    weight: number,
    settings: PoolSettings,
    hostHeader: string,
    state: TargetState = new UpstreamHealth().state(name),
  ) {
    this.name = name;
    this.state = state;
    this.host = host;
    this.port = port;
    this.weight = weight;
    this.settings = settings;
    this.hostHeader = hostHeader;
  }

  /**
   * The target's connection pool, made at its first request or probe: most services of a config
   * of thousands are never called by a given process, and a pool is an undici connector, an event
   * emitter and its queues.
   */
  get pool(): TargetPool {
    return this.made ?? this.makePool();
  }

  /**
   * undici sends that same Host for its pool's origin when a request names none, from a string it
   * builds once per client, so a request with the default Host leaves it out (no header for undici
   * to validate and copy per request). Plain http only: over https undici takes the TLS server name
   * from the request's Host, and a pool whose requests alternate between naming one and not would
   * reconnect at each change.
   */
  get poolSendsHostHeader(): boolean {
    if (this.made === null) this.makePool();
    return this.sendsHost;
  }

  private makePool(): TargetPool {
    const pool = new TargetPool(this.host, this.port, this.settings);
    const origin = new URL(pool.origin);
    this.sendsHost = origin.protocol === 'http:' && origin.host === this.hostHeader;
    if (this.poolClosed) void pool.close();
    this.made = pool;
    return pool;
  }

  /** Its pool's connections (none for a pool not made yet). */
  poolStats(): PoolStats {
    return this.made === null ? NO_CONNECTIONS : this.made.stats();
  }

  /** Closes its pool, and any made after (a request that arrives late is refused). */
  closePool(): Promise<void> {
    this.poolClosed = true;
    return this.made === null ? CLOSED : this.made.close();
  }

  get healthy(): boolean {
    return this.state.healthy;
  }
  set healthy(v: boolean) {
    this.state.healthy = v;
  }
  get inflight(): number {
    return this.state.inflight;
  }
  set inflight(v: number) {
    this.state.inflight = v;
  }
  /** Left out of the picks while its name does not resolve; its health is untouched. */
  get leftOut(): boolean {
    return this.state.requery !== null;
  }

  /**
   * Leaves the target out of the picks until its name resolves again. Kong's ring gives a target
   * whose DNS query failed no addresses (kong/runloop/balancer/targets.lua, queryDns) and queries
   * it again in the background, so no request goes its way meanwhile; picked, each of its turns
   * was a failed attempt (a 503 without retries, and always for the keys a hash maps to it). The
   * resolver is asked again every REQUERY_MS: it answers from its cache (dns_not_found_ttl,
   * dns_error_ttl) until a query is due, so the DNS server sees no more queries than before.
   */
  leaveOutUntilResolved(): void {
    if (this.state.requery !== null || this.stopped) return;
    const ask = (): void => {
      this.settings.lookup(this.host, { all: true }, (err) => {
        // Stopped meanwhile (the balancer closed): nothing to schedule.
        if (this.state.requery === null) return;
        if (err !== null) {
          this.state.requery = setTimeout(ask, REQUERY_MS).unref();
          return;
        }
        this.state.requery = null;
        this.onResolved?.(this);
      });
    };
    this.state.requery = setTimeout(ask, REQUERY_MS).unref();
  }

  /**
   * Asks for the name once, as Kong's balancer resolves its targets when it is created: a target
   * whose name does not resolve is left out before any request is sent its way.
   */
  checkName(): void {
    if (isIP(this.host) !== 0 || this.state.requery !== null) return;
    this.settings.lookup(this.host, { all: true }, (err) => {
      if (err !== null) this.leaveOutUntilResolved();
    });
  }

  /** Stops asking for the name, for good (its balancer closes). */
  stopRequery(): void {
    this.stopped = true;
    if (this.state.requery === null) return;
    clearTimeout(this.state.requery);
    this.state.requery = null;
  }

  get passive(): Counters {
    return this.state.passive;
  }
  get active(): Counters {
    return this.state.active;
  }
}
