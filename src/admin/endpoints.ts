/**
 * Kong's `GET /endpoints` (kong/api/routes/kong.lua): every path the Admin API routes, with a
 * `{name}` placeholder where Kong's route has a `:name` segment (the schema name of the entity it
 * names, as each kind declares it: core kinds here, plugin-owned ones through `kindsOf`), sorted
 * segment by segment as Kong sorts them.
 * Admin UIs and scripts read it to learn what a node serves; here it lists what this node answers
 * (the read-only entity endpoints of DB-less Kong and Tollgate's own), not Kong's write-only or
 * database-only routes.
 */
import type { GatewayConfig } from '../config/model.ts';
import { type Kind, kindsOf } from './entities.ts';

/** The paths under one entity of a core collection, after `/{collection}/{placeholder}`. */
const CORE_NESTED: Readonly<Record<string, readonly string[]>> = {
  services: ['/routes', '/routes/{routes}', '/plugins', '/plugins/{plugins}', '/client_certificate'],
  routes: ['/service', '/plugins', '/plugins/{plugins}'],
  consumers: ['/plugins', '/plugins/{plugins}'],
  plugins: ['/service', '/route', '/consumer'],
  upstreams: [
    '/targets',
    '/targets/{targets}',
    '/targets/all',
    '/health',
    '/client_certificate',
    // Kong's health PUTs (target-health.ts).
    '/targets/{targets}/healthy',
    '/targets/{targets}/unhealthy',
    '/targets/{targets}/{address}/healthy',
    '/targets/{targets}/{address}/unhealthy',
  ],
  certificates: ['/snis', '/snis/{snis}'],
};

/** Kong turns off every `/targets` path (kong/api/routes/targets.lua): a target is read under its upstream. */
const OFF: ReadonlySet<string> = new Set(['targets']);

/** Kong's order: `/` sorts before any other character, so `/a/z` comes before `/ab`. */
const segmentOrder = (a: string, b: string): number => {
  const x = a.replaceAll('/', '\0');
  const y = b.replaceAll('/', '\0');
  return x < y ? -1 : x > y ? 1 : 0;
};

/** The paths this node's admin API serves: `own` (its fixed endpoints) and the config's entity collections. */
export function endpointList(config: GatewayConfig, own: readonly string[]): string[] {
  const paths = new Set(own);
  const kinds: Readonly<Record<string, Kind>> = kindsOf(config);
  for (const [name, kind] of Object.entries(kinds)) {
    if (OFF.has(name)) continue;
    const item = `/${name}/{${kind.schema}}`;
    paths.add(`/${name}`).add(item);
    for (const sub of CORE_NESTED[name] ?? []) paths.add(item + sub);
    if (kind.nested !== undefined) {
      // A credential is read under its consumer too, and names it (`/{credentials}/{id}/consumer`).
      paths.add(`/consumers/{consumers}/${kind.nested}`).add(`/consumers/{consumers}/${kind.nested}/{${kind.schema}}`);
      paths.add(`${item}/consumer`);
    }
  }
  return [...paths].sort(segmentOrder);
}
