/**
 * The route checks Kong's schema cannot express: something to match on, valid paths (with the
 * 1.1/2.1 regex migration), hosts, SNIs and header matchers, and two routes that match exactly
 * the same requests.
 */
import { formatYamlPath } from '../../errors.ts';
import { checkHost, checkRoutePath, migrateLegacyPath } from '../paths.ts';
import type { Build, Path, PendingRoute } from './state.ts';

export function routeChecks(b: Build): void {
  const matchKeys = new Map<string, Path>();
  for (const r of b.routes) {
    checkRoute(b, r);
    const key = matchKey(r);
    const first = matchKeys.get(key);
    if (first)
      b.err(
        'SEMANTIC',
        `this route matches exactly the same requests as the route at ${formatYamlPath(first)}, so one of them can never match`,
        r.path,
      );
    else matchKeys.set(key, r.path);
  }
}

/** One route's own checks (paths are migrated in place for 1.1/2.1 files). */
export function checkRoute(b: Build, r: PendingRoute): void {
  const m = r.model;
  const proto = m.protocols.includes('https') ? 'https' : 'http';
  if (!m.methods && !m.hosts && !m.headers && !m.paths && !(m.snis && proto === 'https')) {
    b.err(
      'SCHEMA',
      `must set one of 'methods', 'hosts', 'headers', 'paths'${proto === 'https' ? ", 'snis'" : ''} when 'protocols' is '${proto}'`,
      r.path,
    );
  }
  if (m.snis && !m.protocols.includes('https'))
    b.err('SCHEMA', "'snis' can only be set when 'protocols' is 'https'", [...r.path, 'snis']);
  m.paths?.forEach((p, k) => {
    const pp = [...r.path, 'paths', k];
    if (b.legacy) {
      const migrated = migrateLegacyPath(p);
      if (migrated) {
        m.paths![k] = migrated;
        b.warn(
          'FORMAT_VERSION',
          `_format_version ${b.doc._format_version}: this path is read as the regex '${migrated}' (Kong 3.x's migration rule); write it with '~' and set _format_version to "3.0"`,
          pp,
        );
        p = migrated;
      }
    }
    const problem = checkRoutePath(p);
    if (problem) b.err('SEMANTIC', problem, pp);
  });
  m.hosts?.forEach((h, k) => {
    const p = checkHost(h, { wildcard: true, port: true });
    if (p) b.err('SEMANTIC', p, [...r.path, 'hosts', k]);
  });
  m.snis?.forEach((h, k) => {
    const p = checkHost(h, { wildcard: true, port: false });
    if (p) b.err('SEMANTIC', p, [...r.path, 'snis', k]);
  });
  if (r.raw.headers) checkHeaders(b, r.raw.headers as Record<string, string[]>, r.path);
}

function checkHeaders(b: Build, headers: Record<string, string[]>, path: Path): void {
  for (const [name, values] of Object.entries(headers)) {
    const hp = [...path, 'headers', name];
    if (name.toLowerCase() === 'host')
      b.err('SEMANTIC', "cannot contain 'host' header, which must be specified in the 'hosts' attribute", hp, true);
    else if (!/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/.test(name)) b.err('SEMANTIC', `invalid header name '${name}'`, hp, true);
    values.forEach((v, k) => {
      if (!v.startsWith('~*')) return;
      try {
        new RegExp(v.slice(2), 'iu');
      } catch (e) {
        b.err(
          'SEMANTIC',
          `invalid regex: ${(e as Error).message.replace(/^Invalid regular expression: \/.*\/\w*: /s, '')}`,
          [...hp, k],
        );
      }
    });
  }
}

/** What a route matches on, order-insensitive: equal keys match exactly the same requests. */
export function matchKey(r: PendingRoute): string {
  const m = r.model;
  const sorted = (a: readonly string[] | null) => (a ? [...a].sort() : null);
  return JSON.stringify([
    sorted(m.protocols),
    sorted(m.methods),
    sorted(m.hosts),
    sorted(m.paths),
    m.headers
      ? Object.entries(m.headers)
          .map(([k, v]) => [k, [...v].sort()])
          .sort()
      : null,
    sorted(m.snis),
  ]);
}
