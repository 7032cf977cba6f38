// Which configured routes a path can reach, for plugins that answer paths of their own (oidc's
// callback and logout): a path no route of the plugin matches never reaches the plugin.
import type { RouteInfo } from '../pipeline/plugin.ts';
import { regexPathSource } from '../router/router.ts';

/**
 * Whether a request for `path` can match `route` on its paths alone (hosts, methods and headers
 * aside): a route without paths matches every path, a prefix path matches as Kong's does
 * (a plain prefix), a `~` path as the router runs its regex (anchored at the start). Compiles
 * the route's regexes: call it at load, never per request.
 */
export function routePathMatches(route: RouteInfo, path: string): boolean {
  if (route.paths === null || route.paths.length === 0) return true;
  return route.paths.some((p) => {
    if (!p.startsWith('~')) return path.startsWith(p);
    try {
      return new RegExp(regexPathSource(p.slice(1))).test(path);
    } catch {
      return false;
    }
  });
}

/** The routes among `routes` that `path` can reach (see `routePathMatches`). */
export function routesReaching(routes: readonly RouteInfo[], path: string): RouteInfo[] {
  return routes.filter((r) => routePathMatches(r, path));
}

/** Whether `path` can reach any of `routes` (see `routePathMatches`); stops at the first. */
export function anyRouteReaches(routes: readonly RouteInfo[], path: string): boolean {
  return routes.some((r) => routePathMatches(r, path));
}

/** Routes a message names; past them it says how many more (a message for each of 10,000 routes stays short). */
const DESCRIBED_ROUTES = 10;

/**
 * `name: /a, /b` for each route (the first ten, then how many more), for messages. With `total`,
 * the routes are read only as far as the ten named, and `total` says how many there are in all.
 */
export function describeRoutes(routes: Iterable<RouteInfo>, total?: number): string {
  const named: string[] = [];
  let count = 0;
  for (const r of routes) {
    if (named.length < DESCRIBED_ROUTES) named.push(`${r.name ?? r.id}: ${(r.paths ?? []).join(', ') || '(any path)'}`);
    else if (total !== undefined) break;
    count++;
  }
  const all = total ?? count;
  return all > named.length ? `${named.join('; ')}; and ${all - named.length} more` : named.join('; ');
}
