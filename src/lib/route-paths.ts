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
 * `name: /a, /b` for each route (the first ten, then how many more of `total`, by default the
 * list's length), for messages.
 */
export function describeRoutes(routes: readonly RouteInfo[], total = routes.length): string {
  const named = routes
    .slice(0, DESCRIBED_ROUTES)
    .map((r) => `${r.name ?? r.id}: ${(r.paths ?? []).join(', ') || '(any path)'}`)
    .join('; ');
  const shown = Math.min(routes.length, DESCRIBED_ROUTES);
  return total > shown ? `${named}; and ${total - shown} more` : named;
}
