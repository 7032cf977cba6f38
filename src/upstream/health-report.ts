// The health of the `upstreams:` entries as `GET /status` shows it, and the merge of several
// processes' views (the workers of `--workers` each keep their own passive health counts).
import { type DependencyReport, dependencyReport } from '../pipeline/dependencies.ts';
import type { CompiledService, Runtime } from '../pipeline/runtime.ts';

export type UpstreamHealth = ReturnType<NonNullable<CompiledService['balancer']>['health']>;

/** What `/status` says of the upstreams and of the plugins' dependencies. */
export interface HealthReport {
  upstreams: UpstreamHealth[];
  dependencies: DependencyReport[];
}

/** This process's own view. */
export function localHealth(rt: Runtime): HealthReport {
  return { upstreams: upstreamHealth(rt), dependencies: dependencyReport(rt.plugins) };
}

/** Health of every upstream with targets, as this process's balancers see it (one entry per upstream). */
export function upstreamHealth(rt: Runtime): UpstreamHealth[] {
  const seen = new Set<unknown>();
  const out: UpstreamHealth[] = [];
  for (const s of rt.services.values()) {
    // A plain service is a balancer of one target: only `upstreams:` entries are listed.
    // Services naming the same upstream share its health: listed once.
    if (s.balancer === null || !s.balancer.fromUpstream || seen.has(s.balancer.shared)) continue;
    seen.add(s.balancer.shared);
    out.push(s.balancer.health());
  }
  return out;
}

/**
 * Several processes' views as one: an upstream or a target is healthy only when every process
 * finds it so (a worker that marked a target down sends it no request; the others still do), and
 * in-flight requests and connections are added up.
 */
export function mergeUpstreamHealth(lists: readonly (readonly UpstreamHealth[])[]): UpstreamHealth[] {
  const byName = new Map<string, UpstreamHealth>();
  for (const list of lists) {
    for (const u of list) {
      const prev = byName.get(u.name);
      if (prev === undefined) {
        byName.set(u.name, { ...u, targets: u.targets.map((t) => ({ ...t, connections: { ...t.connections } })) });
        continue;
      }
      prev.healthy &&= u.healthy;
      for (const t of u.targets) {
        const p = prev.targets.find((x) => x.target === t.target);
        if (p === undefined) {
          prev.targets.push({ ...t, connections: { ...t.connections } });
          continue;
        }
        p.healthy &&= t.healthy;
        p.dns_error ||= t.dns_error;
        p.in_flight += t.in_flight;
        p.connections.active += t.connections.active;
        p.connections.idle += t.connections.idle;
        p.connections.queued += t.connections.queued;
      }
    }
  }
  return [...byName.values()];
}
