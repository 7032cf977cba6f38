// The state of an upstream's targets that every service naming the upstream shares (health,
// counters, requests in flight), and the target itself: its address, pool and Host.
import type { Balancer } from './balancer.ts';
import type { TargetPool } from './pool.ts';

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
  readonly passive: Counters;
  readonly active: Counters;
}

/**
 * The health of one upstream's targets, shared by the balancers of every service that names it:
 * Kong keeps one balancer and healthchecker per upstream, so a target that fails for one service
 * is out for all of them, least-connections counts every service's requests, and one set of
 * active probes runs (the first service's balancer runs them, with its pool's TLS settings).
 */
export class UpstreamHealth {
  readonly targets = new Map<string, TargetState>();
  /** The healthy targets' weight is under `threshold`: the whole upstream counts as down. */
  belowThreshold = false;
  /** The balancers sharing this state, in the order built; the first one runs the active probes. */
  readonly balancers: Balancer[] = [];

  state(name: string): TargetState {
    let st = this.targets.get(name);
    if (st === undefined) {
      const counters = (): Counters => ({ successes: 0, http_failures: 0, tcp_failures: 0, timeouts: 0 });
      st = { healthy: true, inflight: 0, passive: counters(), active: counters() };
      this.targets.set(name, st);
    }
    return st;
  }
}

/** One target: its address, pool, and (shared) health state. */
export class Target {
  readonly name: string;
  readonly host: string;
  readonly port: number;
  readonly weight: number;
  readonly pool: TargetPool;
  /** Host header for requests to this target (`host[:port]`). */
  readonly hostHeader: string;
  /**
   * undici sends that same Host for its pool's origin when a request names none, from a string it
   * builds once per client, so a request with the default Host leaves it out (no header for undici
   * to validate and copy per request). Plain http only: over https undici takes the TLS server name
   * from the request's Host, and a pool whose requests alternate between naming one and not would
   * reconnect at each change.
   */
  readonly poolSendsHostHeader: boolean;
  /** Smooth weighted round-robin state. */
  current = 0;
  readonly state: TargetState;

  constructor(
    name: string,
    host: string,
    port: number,
    weight: number,
    pool: TargetPool,
    hostHeader: string,
    state: TargetState = new UpstreamHealth().state(name),
  ) {
    this.name = name;
    this.state = state;
    this.host = host;
    this.port = port;
    this.weight = weight;
    this.pool = pool;
    this.hostHeader = hostHeader;
    const origin = new URL(pool.origin);
    this.poolSendsHostHeader = origin.protocol === 'http:' && origin.host === hostHeader;
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
  get passive(): Counters {
    return this.state.passive;
  }
  get active(): Counters {
    return this.state.active;
  }
}
