// Health check settings of an upstream (Kong's `healthchecks`): passive and active, each field
// Kong's default where the config leaves it out. Upstreams that configure none, every plain
// service's balancer among them, share one frozen copy.

/** What a health checker counts, and what each status means. */
export interface CheckSettings {
  healthyStatuses: ReadonlySet<number>;
  unhealthyStatuses: ReadonlySet<number>;
  successes: number;
  httpFailures: number;
  tcpFailures: number;
  timeouts: number;
}

/** A numeric field of the config, else its default. */
export function num(v: unknown, d: number): number {
  return typeof v === 'number' ? v : d;
}

/** A configured status list, or the default one: a set shared by every balancer that keeps it. */
function statuses(v: unknown, d: ReadonlySet<number>): ReadonlySet<number> {
  return Array.isArray(v) ? new Set(v as number[]) : d;
}

// Kong's defaults for the health checkers' status lists (kong/db/schema/entities/upstreams.lua).
const PASSIVE_HEALTHY: ReadonlySet<number> = new Set([
  200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304, 305, 306, 307, 308,
]);
const PASSIVE_UNHEALTHY: ReadonlySet<number> = new Set([429, 500, 503]);
const ACTIVE_HEALTHY: ReadonlySet<number> = new Set([200, 302]);
const ACTIVE_UNHEALTHY: ReadonlySet<number> = new Set([429, 404, 500, 501, 502, 503, 504, 505]);

export type ActiveChecks = CheckSettings & {
  healthyInterval: number;
  unhealthyInterval: number;
  /** Probes of one round in flight at once (Kong's `concurrency`). */
  concurrency: number;
};

/** `healthchecks.passive`, Kong's defaults where a field is absent; the shared defaults when absent. */
export function passiveChecks(passive: Record<string, unknown> | null | undefined): CheckSettings {
  return passive == null ? DEFAULT_PASSIVE : readPassive(passive);
}

/** `healthchecks.active`, Kong's defaults where a field is absent; the shared defaults when absent. */
export function activeChecks(active: Record<string, unknown> | null | undefined): ActiveChecks {
  return active == null ? DEFAULT_ACTIVE : readActive(active);
}

function readPassive(passive: Record<string, unknown>): CheckSettings {
  const pH = (passive.healthy ?? {}) as Record<string, unknown>;
  const pU = (passive.unhealthy ?? {}) as Record<string, unknown>;
  return {
    healthyStatuses: statuses(pH.http_statuses, PASSIVE_HEALTHY),
    unhealthyStatuses: statuses(pU.http_statuses, PASSIVE_UNHEALTHY),
    successes: num(pH.successes, 0),
    httpFailures: num(pU.http_failures, 0),
    tcpFailures: num(pU.tcp_failures, 0),
    timeouts: num(pU.timeouts, 0),
  };
}

function readActive(active: Record<string, unknown>): ActiveChecks {
  const aH = (active.healthy ?? {}) as Record<string, unknown>;
  const aU = (active.unhealthy ?? {}) as Record<string, unknown>;
  return {
    concurrency: Math.max(1, num(active.concurrency, 10)),
    healthyInterval: num(aH.interval, 0) * 1000,
    unhealthyInterval: num(aU.interval, 0) * 1000,
    healthyStatuses: statuses(aH.http_statuses, ACTIVE_HEALTHY),
    unhealthyStatuses: statuses(aU.http_statuses, ACTIVE_UNHEALTHY),
    successes: num(aH.successes, 0),
    httpFailures: num(aU.http_failures, 0),
    tcpFailures: num(aU.tcp_failures, 0),
    timeouts: num(aU.timeouts, 0),
  };
}

/** The checks of an upstream that configures none (every plain service's balancer), shared. */
const DEFAULT_PASSIVE: CheckSettings = Object.freeze(readPassive({}));
const DEFAULT_ACTIVE: ActiveChecks = Object.freeze(readActive({}));
