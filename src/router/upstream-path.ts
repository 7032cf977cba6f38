// The path sent upstream after a route matched (Kong 3's path_handling v0 and v1).
import type { RoutableRoute } from './router.ts';

/**
 * Kong removes a leading './' or '../' (and a lone '.' or '..') from what remains after the
 * stripped prefix, so `/route./x` with route `/route` does not send `./x` upstream.
 */
function sanitizePostfix(postfix: string): string {
  if (postfix === '') return postfix;
  if (postfix === '.' || postfix === '..') return '';
  if (postfix.startsWith('./')) return postfix.slice(2);
  if (postfix.startsWith('../')) return postfix.slice(3);
  return postfix;
}

/**
 * The path sent upstream, joining service.path and the (stripped) request path exactly as Kong 3
 * does for path_handling v0 and v1 (the table in docs/routing.md).
 *
 * @param requestPath the normalized request path (no query string).
 * @param matchedPath `RouteMatch.matchedPath`.
 */
export function upstreamPath(
  servicePath: string | null,
  route: RoutableRoute,
  requestPath: string,
  matchedPath: string,
): string {
  const base = servicePath === null || servicePath === '' ? '/' : servicePath;
  const strip = route.strip_path;
  const prefixLength = strip && matchedPath !== '' ? matchedPath.length : 1;
  const postfix = sanitizePostfix(requestPath.slice(prefixLength));
  const baseEndsWithSlash = base.endsWith('/');

  if (route.path_handling === 'v1') {
    if (!strip) return base + requestPath.slice(1);
    if (baseEndsWithSlash && postfix.startsWith('/')) return base.slice(0, -1) + postfix;
    return base + postfix;
  }

  if (baseEndsWithSlash) {
    if (!strip) return base + requestPath.slice(1);
    if (postfix === '') {
      if (base === '/') return '/';
      if (requestPath.endsWith('/')) return base;
      return base.slice(0, -1);
    }
    if (postfix.startsWith('/')) return base.slice(0, -1) + postfix;
    return base + postfix;
  }
  if (strip) {
    if (postfix === '') return requestPath.length > 1 && requestPath.endsWith('/') ? `${base}/` : base;
    if (postfix.startsWith('/')) return base + postfix;
    return `${base}/${postfix}`;
  }
  if (requestPath === '/') return base;
  return base + requestPath;
}
