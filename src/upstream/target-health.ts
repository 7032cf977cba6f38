// Target health set from outside the health checks: by hand (Kong's `PUT
// /upstreams/{u}/targets/{t}/healthy` and `/unhealthy`), and the health a reload carries over
// from the config it replaces.
import type { Runtime } from '../pipeline/runtime.ts';

/** An upstream's own settings, without its targets or its place in the file. */
function upstreamSettings(rt: Runtime, name: string): string {
  const u = rt.config.upstreams.find((x) => x.name === name);
  if (u === undefined) return '';
  const { targets: _targets, yaml_path: _at, ...settings } = u;
  return JSON.stringify(settings);
}

import type { Balancer } from './balancer.ts';

/**
 * The balancer of each `upstreams:` entry a service names, by upstream name: the first of the
 * services' balancers, which share the upstream's target states (so setting one sets them all).
 */
function upstreamBalancers(rt: Runtime): Map<string, Balancer> {
  const out = new Map<string, Balancer>();
  for (const s of rt.services.values()) {
    const b = s.balancer;
    if (b === null || !b.fromUpstream || out.has(b.name)) continue;
    out.set(b.name, b);
  }
  return out;
}

/**
 * Marks `target` of `upstream` healthy or unhealthy in `rt`'s balancers; its check counters
 * restart, and the checks may change it again (Kong's healthchecker `set_target_status`). Null
 * when done, else why not, in Kong's words where Kong has them.
 */
export function setTargetHealth(rt: Runtime, upstream: string, target: string, healthy: boolean): string | null {
  const b = upstreamBalancers(rt).get(upstream);
  // An upstream no service names has no balancer here (Kong builds one for every upstream):
  // Kong's message for an upstream without one (kong/runloop/balancer/init.lua, post_health).
  if (b === undefined) return `Upstream ${upstream} has no balancer`;
  const t = b.target(target);
  if (t === undefined) return `target ${target} not found in upstream ${upstream}`;
  b.setTargetHealth(t, healthy, `set ${healthy ? 'healthy' : 'unhealthy'} through the admin API`);
  return null;
}

/**
 * A reload keeps the health of every target the new config still has in an upstream it left as
 * it was: Kong keeps an upstream's balancer and healthchecker through a reconfigure that does not
 * change the upstream (its targets may come and go), so a target the checks (or an operator) took
 * out stays out until the checks or an operator bring it back. An upstream whose settings changed
 * (its health checks, say) starts over, as Kong recreates its balancer. Nothing is logged, since
 * nothing changed.
 */
export function carryTargetHealth(from: Runtime, to: Runtime): void {
  const before = upstreamBalancers(from);
  for (const [name, b] of upstreamBalancers(to)) {
    const old = before.get(name);
    if (old === undefined || upstreamSettings(from, name) !== upstreamSettings(to, name)) continue;
    for (const t of old.targets) {
      if (t.healthy) continue;
      const kept = b.target(t.name);
      if (kept !== undefined) b.setTargetHealth(kept, false, null);
    }
  }
}
