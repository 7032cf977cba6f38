/**
 * The route matcher, with the semantics and priorities of Kong 3's `traditional_compatible` router
 * (docs/routing.md). Built once per config; immutable; `match()` walks a character trie of the
 * prefix paths (cost grows with the path's length, not the number of routes) and the regex and
 * path-less routes in priority order, each bucket partitioned by plain host and, past a few, by
 * the value of a literal header.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { trimAsciiSpace } from '../lib/header-value.ts';
import { escapesAreUtf8 } from './normalize.ts';
import {
  compileRoute,
  type HeaderMatcher,
  HOST_EXACT,
  HOST_SUFFIX,
  type HostMatcher,
  type RoutableRoute,
  type SubRoute,
} from './sub-route.ts';

export {
  headerRegexSource,
  REGEX_HEADER_FLAGS,
  REGEX_PATH_FLAGS,
  type RoutableRoute,
  RouteCompileError,
  regexPathSource,
} from './sub-route.ts';
export { upstreamPath } from './upstream-path.ts';

/** The result of a successful match. */
export interface RouteMatch<R> {
  readonly route: R;
  /** The part of the path the route's path matched (the prefix, or the regex match text), for strip_path; '' when the route has no paths. */
  readonly matchedPath: string;
  /** Named and numbered captures of a regex path ('1', '2', ..., and names; '0' the whole match, as Kong's, once one group captured); a shared frozen empty object when none. */
  readonly captures: Readonly<Record<string, string>>;
}

const EMPTY_CAPTURES: Readonly<Record<string, string>> = Object.freeze(Object.create(null) as Record<string, string>);

interface Entry<R> {
  readonly sub: SubRoute<R>;
  readonly rank: number;
  /** Prebuilt frozen result for prefix and path-less entries; null for regex entries. */
  readonly result: RouteMatch<R> | null;
}

interface Bucket<R> {
  /** Entries of routes whose hosts are all plain, under each of their host names. */
  readonly byHost: Map<string, Entry<R>[]> | null;
  /**
   * Of the other entries, those with a header of literal values only, under that header's name
   * and each of its values (lower case), once there are HEADER_INDEX_MIN of them: a request then
   * tries only the routes naming a value it sent, not every header route (Kong's router spec
   * selects among 100,000 routes that differ by a header's value or name).
   */
  readonly byHeader: Map<string, Map<string, Entry<R>[]>> | null;
  /** Entries of routes without hosts or with a wildcard host (and not in byHeader). */
  readonly other: Entry<R>[];
}

/**
 * A character trie over route prefixes. Most nodes of a large config sit in a route's own tail
 * (`/svc1234`) and have one child: it is held in `char`/`next`; a Map only from the second child
 * on (a 10,000-route file then builds a few thousand Maps instead of a hundred thousand).
 */
interface TrieNode<R> {
  char: number;
  next: TrieNode<R> | null;
  children: Map<number, TrieNode<R>> | null;
  bucket: Bucket<R> | null;
  /**
   * While the table is built, the entries of the prefixes ending here (null after): held on the
   * node, since a Map keyed by tens of thousands of nodes cost more than the trie itself.
   */
  entries: Entry<R>[] | null;
}

function trieNode<R>(): TrieNode<R> {
  return { char: -1, next: null, children: null, bucket: null, entries: null };
}

function trieChild<R>(node: TrieNode<R>, c: number): TrieNode<R> | undefined {
  if (node.char === c) return node.next!;
  return node.children === null ? undefined : node.children.get(c);
}

/** Matches requests to routes; see docs/routing.md for the priority order. */
export class Router<R extends RoutableRoute> {
  readonly #ordered: readonly R[];
  readonly #trie: TrieNode<R>;
  readonly #others: Bucket<R>;
  readonly #usesHosts: boolean;
  /** Whether any route sets `paths`: only then is a request's path read (see `match`). */
  readonly #usesPaths: boolean;
  /** Whether any route sets `snis`: only then does a request's TLS server name need reading. */
  readonly usesSnis: boolean;
  /** The request's TLS server name inside one `match()` call; null on a cleartext connection. */
  #sni: string | null = null;
  /** Result of the last successful regex test inside one `match()` call (match() is synchronous). */
  #regexResult: RouteMatch<R> | null = null;

  /**
   * The same router, built in slices of at most BUILD_SLICE_MS with a yield to the event loop
   * between them (compiling paths, hosts and headers, then filling the trie and its buckets): a
   * reload of tens of thousands of routes does not hold the requests served on the current config
   * meanwhile. Only the sort of the sub-routes runs in one piece.
   */
  static async build<R extends RoutableRoute>(routes: readonly R[]): Promise<Router<R>> {
    return new Router(routes, await inSlices(tableSteps(routes)));
  }

  /**
   * Compiles each route's paths, hosts and headers as `build` does, and throws the same
   * RouteCompileError, without making the table, which nothing in it can refuse: what a config
   * that is only checked (`gateway validate`) needs of its router.
   */
  static async check(routes: readonly RoutableRoute[]): Promise<void> {
    await inSlices(compileSteps(routes, null));
  }

  /** `table`: the routes' table, when `build` made it already. */
  constructor(routes: readonly R[], table?: Table<R>) {
    let t = table;
    if (t === undefined) {
      const steps = tableSteps(routes);
      let r = steps.next();
      while (r.done !== true) r = steps.next();
      t = r.value;
    }
    this.#ordered = t.ordered;
    this.#usesHosts = t.usesHosts;
    this.#usesPaths = t.usesPaths;
    this.usesSnis = t.usesSnis;
    this.#trie = t.trie;
    this.#others = t.others;
  }

  /**
   * Finds the highest-priority route matching the request, or null.
   *
   * @param host the Host header as received (may include ':port'; case-insensitive).
   * @param path the normalized path (`normalizePath`).
   * @param headers Node's lower-cased IncomingHttpHeaders.
   * @param sni the TLS server name, lower-case ('' when the client sent none); null on a cleartext
   *   connection, where Kong does not consider a route's `snis` (kong/router/transform.lua).
   */
  match(
    method: string,
    host: string | undefined,
    path: string,
    headers: IncomingHttpHeaders,
    sni: string | null = null,
  ): RouteMatch<R> | null {
    // Kong's default router hands the path to its matcher only when a route has paths, and the
    // matcher refuses a path that is not UTF-8 once its escapes are decoded: no route matches.
    if (this.#usesPaths && !escapesAreUtf8(path)) return null;
    this.#sni = sni;
    let hostname: string | undefined;
    let port = -1;
    if (this.#usesHosts && host !== undefined && host !== '') {
      const h = host.toLowerCase();
      const colon = h.lastIndexOf(':');
      if (colon > h.lastIndexOf(']')) {
        hostname = h.slice(0, colon);
        const p = Number(h.slice(colon + 1));
        port = Number.isInteger(p) && colon < h.length - 1 ? p : -1;
      } else {
        hostname = h;
      }
    }

    let best: RouteMatch<R> | null = null;
    let bestRank = Number.MAX_SAFE_INTEGER;

    let node: TrieNode<R> | undefined = this.#trie;
    for (let i = 0; i < path.length; i++) {
      node = trieChild(node, path.charCodeAt(i));
      if (node === undefined) break;
      if (node.bucket !== null) {
        const e = this.#searchBucket(node.bucket, bestRank, method, hostname, port, path, headers);
        if (e !== null) {
          best = e.result;
          bestRank = e.rank;
        }
      }
    }
    const e = this.#searchBucket(this.#others, bestRank, method, hostname, port, path, headers);
    if (e !== null) best = e.result ?? this.#regexResult;
    this.#regexResult = null;
    return best;
  }

  /** Routes in the order they are evaluated (for GET /routes in the admin API). */
  ordered(): readonly R[] {
    return this.#ordered;
  }

  #searchBucket(
    bucket: Bucket<R>,
    bestRank: number,
    method: string,
    hostname: string | undefined,
    port: number,
    path: string,
    headers: IncomingHttpHeaders,
  ): Entry<R> | null {
    let found: Entry<R> | null = null;
    if (bucket.byHost !== null && hostname !== undefined) {
      const list = bucket.byHost.get(hostname);
      if (list !== undefined) {
        found = this.#searchList(list, bestRank, method, hostname, port, path, headers);
        if (found !== null) bestRank = found.rank;
      }
    }
    if (bucket.byHeader !== null) {
      const byHeader = this.#searchHeaderIndex(bucket.byHeader, bestRank, method, hostname, port, path, headers);
      if (byHeader !== null) {
        found = byHeader;
        bestRank = byHeader.rank;
      }
    }
    const other = this.#searchList(bucket.other, bestRank, method, hostname, port, path, headers);
    return other ?? found;
  }

  /**
   * The best entry of a header index that beats `bestRank` and matches: the lists of the values
   * the request sent, whole and, as headerValueMatches reads them, comma-separated, under each of
   * its header names (at most max_request_headers of them; an `_` read as `-`, as routes name them).
   */
  #searchHeaderIndex(
    index: Map<string, Map<string, Entry<R>[]>>,
    bestRank: number,
    method: string,
    hostname: string | undefined,
    port: number,
    path: string,
    headers: IncomingHttpHeaders,
  ): Entry<R> | null {
    let best: Entry<R> | null = null;
    for (const name in headers) {
      const byValue = index.get(name.indexOf('_') === -1 ? name : name.replaceAll('_', '-'));
      if (byValue === undefined) continue;
      const v = headers[name];
      if (v === undefined) continue;
      for (let i = 0; i < (typeof v === 'string' ? 1 : v.length); i++) {
        const value = typeof v === 'string' ? v : v[i]!;
        let e = this.#searchValueList(byValue, value, bestRank, method, hostname, port, path, headers);
        if (e !== null) bestRank = (best = e).rank;
        if (value.indexOf(',') === -1) continue;
        for (const part of value.split(',')) {
          e = this.#searchValueList(byValue, trimAsciiSpace(part), bestRank, method, hostname, port, path, headers);
          if (e !== null) bestRank = (best = e).rank;
        }
      }
    }
    return best;
  }

  /** `#searchList` on the entries a header index holds under `value` (any case). */
  #searchValueList(
    byValue: Map<string, Entry<R>[]>,
    value: string,
    bestRank: number,
    method: string,
    hostname: string | undefined,
    port: number,
    path: string,
    headers: IncomingHttpHeaders,
  ): Entry<R> | null {
    // Read as headerValueMatches reads it: bytes past ASCII as UTF-8.
    const text = BEYOND_ASCII.test(value) ? utf8Value(value) : value;
    if (text === null) return null;
    const list = byValue.get(text.toLowerCase());
    return list === undefined ? null : this.#searchList(list, bestRank, method, hostname, port, path, headers);
  }

  /** First entry of a rank-sorted list that beats `bestRank` and matches. */
  #searchList(
    list: readonly Entry<R>[],
    bestRank: number,
    method: string,
    hostname: string | undefined,
    port: number,
    path: string,
    headers: IncomingHttpHeaders,
  ): Entry<R> | null {
    for (let i = 0; i < list.length; i++) {
      const e = list[i]!;
      if (e.rank >= bestRank) return null;
      const s = e.sub;
      if (s.methods !== null && !s.methods.includes(method)) continue;
      if (s.hosts !== null && (hostname === undefined || !hostsMatch(s.hosts, hostname, port))) continue;
      if (s.headers !== null && !headersMatch(s.headers, headers)) continue;
      if (s.snis !== null && this.#sni !== null && !hostsMatch(s.snis, this.#sni, -1)) continue;
      if (s.regexes !== null) {
        const r = regexMatch(s, path);
        if (r === null) continue;
        this.#regexResult = r;
      }
      return e;
    }
    return null;
  }
}

/** Longest run of router building between two yields to the event loop in `Router.build`. */
const BUILD_SLICE_MS = 10;

/** Runs `steps` to their end, yielding to the event loop whenever BUILD_SLICE_MS have passed. */
async function inSlices<T>(steps: Generator<void, T>): Promise<T> {
  let since = performance.now();
  for (let r = steps.next(); ; r = steps.next()) {
    if (r.done === true) return r.value;
    if (performance.now() - since >= BUILD_SLICE_MS) {
      await yieldToLoop();
      since = performance.now();
    }
  }
}

/**
 * Compiles each route's paths, hosts and headers into `out` (null: checked and dropped), yielding
 * every 64 routes; throws RouteCompileError.
 */
function* compileSteps<R extends RoutableRoute>(routes: readonly R[], out: SubRoute<R>[] | null): Generator<void> {
  const subs = out ?? [];
  for (let index = 0; index < routes.length; index++) {
    compileRoute(routes[index]!, index, subs);
    if (out === null) subs.length = 0;
    if ((index & 63) === 63) yield;
  }
}

/** What a Router holds, made by `tableSteps`. */
interface Table<R> {
  readonly ordered: readonly R[];
  readonly usesHosts: boolean;
  readonly usesPaths: boolean;
  readonly usesSnis: boolean;
  readonly trie: TrieNode<R>;
  readonly others: Bucket<R>;
}

/** Builds a router's table, yielding (a point where the caller may pause) every 64 routes or prefixes. */
function* tableSteps<R extends RoutableRoute>(routes: readonly R[]): Generator<void, Table<R>> {
  const subs: SubRoute<R>[] = [];
  yield* compileSteps(routes, subs);
  yield;
  subs.sort(compareSubRoutes);
  yield;
  const ordered: R[] = [];
  const seen = new Set<R>();
  let usesHosts = false;
  let usesPaths = false;
  let usesSnis = false;
  for (let rank = 0; rank < subs.length; rank++) {
    const s = subs[rank]!;
    s.rank = rank;
    if (s.hosts !== null) usesHosts = true;
    if (s.prefixes !== null || s.regexes !== null) usesPaths = true;
    if (s.snis !== null) usesSnis = true;
    if (!seen.has(s.route)) {
      seen.add(s.route);
      ordered.push(s.route);
    }
  }
  yield;

  const root: TrieNode<R> = trieNode();
  const ends: TrieNode<R>[] = [];
  const others: Entry<R>[] = [];
  for (let i = 0; i < subs.length; i++) {
    const s = subs[i]!;
    if ((i & 63) === 63) yield;
    if (s.prefixes === null) {
      others.push({ sub: s, rank: s.rank, result: s.regexes === null ? freezeResult(s.route, '') : null });
      continue;
    }
    for (const prefix of s.prefixes) {
      const node = trieInsert(root, prefix);
      if (node.entries === null) {
        node.entries = [];
        ends.push(node);
      }
      node.entries.push({ sub: s, rank: s.rank, result: freezeResult(s.route, prefix) });
    }
  }
  for (let n = 0; n < ends.length; n++) {
    const node = ends[n]!;
    node.bucket = makeBucket(node.entries!);
    node.entries = null;
    if ((n & 63) === 63) yield;
  }
  return { ordered: Object.freeze(ordered), usesHosts, usesPaths, usesSnis, trie: root, others: makeBucket(others) };
}

function freezeResult<R>(route: R, matchedPath: string): RouteMatch<R> {
  return Object.freeze({ route, matchedPath, captures: EMPTY_CAPTURES });
}

function trieInsert<R>(root: TrieNode<R>, key: string): TrieNode<R> {
  let node = root;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    let next = trieChild(node, c);
    if (next === undefined) {
      next = trieNode();
      if (node.char === -1) {
        node.char = c;
        node.next = next;
      } else (node.children ??= new Map()).set(c, next);
    }
    node = next;
  }
  return node;
}

/**
 * Fewest entries with a literal header a bucket indexes by header (below it, trying each costs
 * less than reading the request's header names).
 */
const HEADER_INDEX_MIN = 8;

function makeBucket<R>(entries: Entry<R>[]): Bucket<R> {
  entries.sort((a, b) => a.rank - b.rank);
  const byHost = new Map<string, Entry<R>[]>();
  let other: Entry<R>[] = [];
  for (const e of entries) {
    const hosts = e.sub.hosts;
    if (hosts !== null && e.sub.plainHostOnly) {
      for (const name of new Set(hosts.map((h) => h.value))) {
        let list = byHost.get(name);
        if (list === undefined) byHost.set(name, (list = []));
        list.push(e);
      }
    } else {
      other.push(e);
    }
  }
  let byHeader: Map<string, Map<string, Entry<R>[]>> | null = null;
  if (other.filter((e) => literalHeader(e) !== null).length >= HEADER_INDEX_MIN) {
    byHeader = new Map();
    const rest: Entry<R>[] = [];
    for (const e of other) {
      const m = literalHeader(e);
      if (m === null) {
        rest.push(e);
        continue;
      }
      let byValue = byHeader.get(m.name);
      if (byValue === undefined) byHeader.set(m.name, (byValue = new Map()));
      for (const value of new Set(m.values)) {
        let list = byValue.get(value);
        if (list === undefined) byValue.set(value, (list = []));
        list.push(e);
      }
    }
    other = rest;
  }
  return { byHost: byHost.size > 0 ? byHost : null, byHeader, other };
}

/** A header of the entry's route that only literal values match (a request must send one of them), or null. */
function literalHeader<R>(e: Entry<R>): HeaderMatcher | null {
  const headers = e.sub.headers;
  if (headers === null) return null;
  for (const m of headers) if (m.regexes.length === 0 && m.values.length > 0) return m;
  return null;
}

function hostsMatch(hosts: readonly HostMatcher[], hostname: string, port: number): boolean {
  for (let i = 0; i < hosts.length; i++) {
    const h = hosts[i]!;
    if (h.port !== -1 && h.port !== port) continue;
    if (h.kind === HOST_EXACT) {
      if (hostname === h.value) return true;
    } else if (h.kind === HOST_SUFFIX) {
      if (hostname.length > h.value.length && hostname.endsWith(h.value)) return true;
    } else if (hostname.length > h.value.length && hostname.startsWith(h.value)) {
      return true;
    }
  }
  return false;
}

function headersMatch(matchers: readonly HeaderMatcher[], headers: IncomingHttpHeaders): boolean {
  for (let i = 0; i < matchers.length; i++) {
    const m = matchers[i]!;
    let v = headers[m.name];
    if (v === undefined && m.underscored !== null) v = headers[m.underscored];
    if (v === undefined) return false;
    if (typeof v === 'string') {
      if (!headerValueMatches(m, v)) return false;
    } else {
      let any = false;
      for (let j = 0; j < v.length && !any; j++) any = headerValueMatches(m, v[j]!);
      if (!any) return false;
    }
  }
  return true;
}

/**
 * Node joins repeated header lines with ', ' (RFC 9110 5.3 makes that equivalent), so a value
 * matches when the whole field or one of its comma-separated elements matches.
 */
function headerValueMatches(m: HeaderMatcher, raw: string): boolean {
  // node hands a header's bytes over one character each (latin1); Kong's router reads them as
  // UTF-8, so a route's `café` matches the `café` a client sends, and a value that is not UTF-8
  // matches nothing. Only a value with a byte past ASCII pays for the decoding.
  const value = BEYOND_ASCII.test(raw) ? utf8Value(raw) : raw;
  if (value === null) return false;
  if (valueMatches(m, value)) return true;
  if (value.indexOf(',') === -1) return false;
  for (const part of value.split(',')) {
    if (valueMatches(m, trimAsciiSpace(part))) return true;
  }
  return false;
}

const BEYOND_ASCII = /[^\x00-\x7f]/;
const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true });

/** A header value's bytes read as UTF-8, or null when they are not UTF-8. */
function utf8Value(raw: string): string | null {
  try {
    return STRICT_UTF8.decode(Buffer.from(raw, 'latin1'));
  } catch {
    return null;
  }
}

function valueMatches(m: HeaderMatcher, value: string): boolean {
  if (m.values.length > 0) {
    const lower = value.toLowerCase();
    for (let i = 0; i < m.values.length; i++) if (m.values[i] === lower) return true;
  }
  for (let i = 0; i < m.regexes.length; i++) if (m.regexes[i]!.test(value)) return true;
  return false;
}

function regexMatch<R>(s: SubRoute<R>, path: string): RouteMatch<R> | null {
  const regexes = s.regexes!;
  for (let i = 0; i < regexes.length; i++) {
    const m = regexes[i]!.exec(path);
    if (m === null) continue;
    let captures = EMPTY_CAPTURES;
    if (m.length > 1) {
      const c: Record<string, string> = Object.create(null);
      let any = false;
      for (let g = 1; g < m.length; g++) {
        if (m[g] !== undefined) {
          c[String(g)] = m[g]!;
          any = true;
        }
      }
      if (m.groups !== undefined) {
        for (const name in m.groups) if (m.groups[name] !== undefined) c[name] = m.groups[name]!;
      }
      // Kong's uri_captures[0] is the whole match, present once a group captured (its router's
      // has_capture): request-transformer's `$(uri_captures[0])` reads it.
      if (any) {
        c['0'] = m[0];
        captures = Object.freeze(c);
      }
    }
    return { route: s.route, matchedPath: m[0], captures };
  }
  return null;
}

/**
 * Kong's order: traditional_compatible priority bits (kong/router/transform.lua), then, where those
 * tie, the traditional router's field categories and a host with a port before one without
 * (sub-route.ts says why), then config order.
 */
function compareSubRoutes<R>(a: SubRoute<R>, b: SubRoute<R>): number {
  return (
    b.weight - a.weight ||
    Number(b.plainHostOnly) - Number(a.plainHostOnly) ||
    b.headerCount - a.headerCount ||
    Number(b.isRegex) - Number(a.isRegex) ||
    b.regexPriority - a.regexPriority ||
    b.prefixLength - a.prefixLength ||
    b.category - a.category ||
    Number(b.portHost) - Number(a.portHost) ||
    a.routeIndex - b.routeIndex
  );
}
