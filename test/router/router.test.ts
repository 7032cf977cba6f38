/**
 * Route matching and priority with Kong 3's traditional_compatible semantics; the examples come
 * from Kong's "Traditional router" documentation unless stated otherwise.
 */

import assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http';
import { test } from 'node:test';
import { RouteCompileError, Router } from '../../src/router/router.ts';
import { route, type TestRoute } from './helpers.ts';

function matchName(
  router: Router<TestRoute>,
  method: string,
  host: string | undefined,
  path: string,
  headers: IncomingHttpHeaders = {},
): string | null {
  return router.match(method, host, path, headers)?.route.name ?? null;
}

test('all configured fields must match, any value of a field matches (docs example)', () => {
  const r = route({ name: 'r', hosts: ['example.com', 'foo-service.com'], paths: ['/foo', '/bar'], methods: ['GET'] });
  const router = new Router([r]);
  assert.equal(matchName(router, 'GET', 'example.com', '/foo'), 'r');
  assert.equal(matchName(router, 'GET', 'foo-service.com', '/bar'), 'r');
  assert.equal(matchName(router, 'GET', 'example.com', '/foo/hello/world'), 'r');
  assert.equal(matchName(router, 'GET', 'example.com', '/'), null);
  assert.equal(matchName(router, 'POST', 'example.com', '/foo'), null);
  assert.equal(matchName(router, 'GET', 'foo.com', '/foo'), null);
  assert.equal(matchName(router, 'GET', undefined, '/foo'), null);
});

test('a prefix matches at any character, as in Kong: /foo matches /foo, /foo/bar and /foobar', () => {
  const router = new Router([route({ name: 'foo', paths: ['/foo'] })]);
  assert.equal(matchName(router, 'GET', undefined, '/foo'), 'foo');
  assert.equal(matchName(router, 'GET', undefined, '/foo/bar'), 'foo');
  assert.equal(matchName(router, 'GET', undefined, '/foobar'), 'foo');
  assert.equal(matchName(router, 'GET', undefined, '/fo'), null);
  assert.equal(matchName(router, 'GET', undefined, '/Foo'), null);
});

test('the longest prefix wins (docs: /service vs /service/resource)', () => {
  const router = new Router([
    route({ name: 'short', paths: ['/service'] }),
    route({ name: 'long', paths: ['/service/resource'] }),
  ]);
  assert.equal(matchName(router, 'GET', undefined, '/service/resource/1'), 'long');
  assert.equal(matchName(router, 'GET', undefined, '/service/other'), 'short');
  assert.equal(matchName(router, 'GET', undefined, '/service'), 'short');
});

test('regex evaluation order (docs): regex_priority, then regex over prefix', () => {
  const routes = [
    route({ name: 'status', paths: ['~/status/\\d+'], regex_priority: 0 }),
    route({ name: 'version-status', paths: ['~/version/\\d+/status/\\d+'], regex_priority: 6 }),
    route({ name: 'version', paths: ['/version'] }),
    route({ name: 'version-any', paths: ['~/version/any/'] }),
  ];
  const router = new Router(routes);
  assert.deepEqual(
    router.ordered().map((r) => r.name),
    ['version-status', 'status', 'version-any', 'version'],
  );
  assert.equal(matchName(router, 'GET', undefined, '/version/1/status/2'), 'version-status');
  assert.equal(matchName(router, 'GET', undefined, '/status/7'), 'status');
  assert.equal(matchName(router, 'GET', undefined, '/version/any/thing'), 'version-any');
  assert.equal(matchName(router, 'GET', undefined, '/version/1'), 'version');
});

test('a route with more fields is evaluated first (docs: hosts vs hosts+methods)', () => {
  const router = new Router([
    route({ name: 'host', hosts: ['example.com'] }),
    route({ name: 'host-post', hosts: ['example.com'], methods: ['POST'] }),
  ]);
  assert.equal(matchName(router, 'GET', 'example.com', '/'), 'host');
  assert.equal(matchName(router, 'POST', 'example.com', '/'), 'host-post');
  assert.deepEqual(
    router.ordered().map((r) => r.name),
    ['host-post', 'host'],
  );
});

test("tie-breakers in Kong's order: plain host, header count, regex, regex_priority, prefix length", () => {
  const plain = route({ name: 'plain', hosts: ['api.example.com'], paths: ['/'] });
  const wildcard = route({ name: 'wildcard', hosts: ['*.example.com'], paths: ['/a/long/prefix'] });
  let router = new Router([wildcard, plain]);
  assert.equal(
    matchName(router, 'GET', 'api.example.com', '/a/long/prefix'),
    'plain',
    'plain host beats a wildcard host, even with a longer path',
  );

  const twoHeaders = route({ name: 'two', headers: { 'x-a': ['1'], 'x-b': ['2'] }, paths: ['/'] });
  const oneHeader = route({ name: 'one', headers: { 'x-a': ['1'] }, paths: ['~/x'] });
  router = new Router([oneHeader, twoHeaders]);
  assert.equal(
    matchName(router, 'GET', undefined, '/x', { 'x-a': '1', 'x-b': '2' }),
    'two',
    'more headers beat a regex path',
  );

  const regex = route({ name: 'regex', paths: ['~/'] });
  const prefix = route({ name: 'prefix', paths: ['/very/long/prefix'] });
  router = new Router([prefix, regex]);
  assert.equal(matchName(router, 'GET', undefined, '/very/long/prefix'), 'regex', 'any regex path beats any prefix');

  const low = route({ name: 'low', paths: ['~/a'], regex_priority: -1 });
  const high = route({ name: 'high', paths: ['~/a'], regex_priority: 2 });
  const zero = route({ name: 'zero', paths: ['~/a'] });
  router = new Router([low, zero, high]);
  assert.deepEqual(
    router.ordered().map((r) => r.name),
    ['high', 'zero', 'low'],
  );

  const first = route({ name: 'first', paths: ['/same'] });
  const second = route({ name: 'second', paths: ['/same'] });
  router = new Router([first, second]);
  assert.equal(matchName(router, 'GET', undefined, '/same'), 'first', 'equal priority: config order');
});

test('match weight counts methods, hosts, headers and paths', () => {
  const pathOnly = route({ name: 'path', paths: ['/a/b/c/d/e'] });
  const hostOnly = route({ name: 'host', hosts: ['x.test'] });
  const methodPath = route({ name: 'method+path', methods: ['GET'], paths: ['/'] });
  const headerHost = route({ name: 'header+host', hosts: ['*.test'], headers: { 'x-v': ['1'] } });
  const router = new Router([pathOnly, hostOnly, methodPath, headerHost]);
  assert.deepEqual(
    router.ordered().map((r) => r.name),
    ['header+host', 'method+path', 'host', 'path'],
  );
  assert.equal(matchName(router, 'GET', 'x.test', '/a/b/c/d/e', { 'x-v': '1' }), 'header+host');
  assert.equal(matchName(router, 'GET', 'x.test', '/a/b/c/d/e'), 'method+path');
  assert.equal(matchName(router, 'POST', 'x.test', '/a/b/c/d/e'), 'host');
  assert.equal(matchName(router, 'POST', 'y.test', '/a/b/c/d/e'), 'path');
});

test('a route mixing regex and prefixes of several lengths ranks each path on its own, as Kong splits it', () => {
  const mixed = route({ name: 'mixed', paths: ['/a', '~/r/\\d+', '/abcdef'] });
  const mid = route({ name: 'mid', paths: ['/abc'] });
  const router = new Router([mid, mixed]);
  assert.equal(matchName(router, 'GET', undefined, '/abcdefg'), 'mixed');
  assert.equal(matchName(router, 'GET', undefined, '/abcd'), 'mid');
  assert.equal(matchName(router, 'GET', undefined, '/ab'), 'mixed');
  assert.equal(router.match('GET', undefined, '/r/12', {})?.matchedPath, '/r/12');
  assert.equal(router.match('GET', undefined, '/abcdefg', {})?.matchedPath, '/abcdef');
  assert.deepEqual(
    router.ordered().map((r) => r.name),
    ['mixed', 'mid'],
  );
});

test('wildcard hosts (docs): *.example.com and example.*', () => {
  const router = new Router([
    route({ name: 'suffix', hosts: ['*.example.com', 'service.com'] }),
    route({ name: 'prefix', hosts: ['example.*'] }),
  ]);
  assert.equal(matchName(router, 'GET', 'an.example.com', '/'), 'suffix');
  assert.equal(matchName(router, 'GET', 'x.y.example.com', '/'), 'suffix');
  assert.equal(matchName(router, 'GET', 'service.com', '/'), 'suffix');
  assert.equal(matchName(router, 'GET', 'example.com', '/'), 'prefix');
  assert.equal(matchName(router, 'GET', 'example.org', '/'), 'prefix');
  assert.equal(matchName(router, 'GET', 'notexample.com', '/'), null);
  assert.equal(matchName(router, 'GET', 'example', '/'), null);
});

test('hosts are case-insensitive; a host without port matches any port, with port only that port', () => {
  const router = new Router([
    route({ name: 'any-port', hosts: ['Example.com'] }),
    route({ name: 'port-8443', hosts: ['secure.example.com:8443'] }),
    route({ name: 'ipv6', hosts: ['[::1]:8000'] }),
  ]);
  assert.equal(matchName(router, 'GET', 'EXAMPLE.COM', '/'), 'any-port');
  assert.equal(matchName(router, 'GET', 'example.com:8000', '/'), 'any-port');
  assert.equal(matchName(router, 'GET', 'example.com:1', '/'), 'any-port');
  assert.equal(matchName(router, 'GET', 'secure.example.com:8443', '/'), 'port-8443');
  assert.equal(matchName(router, 'GET', 'secure.example.com:8000', '/'), null);
  assert.equal(matchName(router, 'GET', 'secure.example.com', '/'), null);
  assert.equal(matchName(router, 'GET', '[::1]:8000', '/'), 'ipv6');
  assert.equal(matchName(router, 'GET', '[::1]:9000', '/'), null);
});

test("routes tied in Kong's priority rank by the fields they set: a wildcard host before methods, listed first or not", () => {
  const router = new Router([
    route({ name: 'get', methods: ['GET'] }),
    route({ name: 'domain', hosts: ['domain.*'] }),
    route({ name: 'get-x', methods: ['GET'], paths: ['/x'] }),
    route({ name: 'wild-x', hosts: ['*.a.test'], paths: ['/x'] }),
  ]);
  assert.equal(matchName(router, 'GET', 'domain.com', '/'), 'domain');
  assert.equal(matchName(router, 'GET', 'nothing.com', '/'), 'get');
  assert.equal(matchName(router, 'GET', 'b.a.test', '/x'), 'wild-x');
  assert.equal(matchName(router, 'GET', 'nothing.com', '/x'), 'get-x');
});

test("a host naming a port wins a tie with one that does not, listed first or not (Kong's router specs)", () => {
  const router = new Router([
    route({ name: 'any', hosts: ['domain-1.org', 'domain-2.org'] }),
    route({ name: 'port', hosts: ['domain-1.org:321', 'domain-2.org'] }),
    route({ name: 'wild', hosts: ['route.*'] }),
    route({ name: 'wild-123', hosts: ['route.*:123'] }),
    route({ name: 'wild-80', hosts: ['route.*:80', 'route.com.*'] }),
  ]);
  assert.equal(matchName(router, 'GET', 'domain-1.org:321', '/'), 'port');
  assert.equal(matchName(router, 'GET', 'domain-1.org:123', '/'), 'any');
  assert.equal(matchName(router, 'GET', 'domain-1.org', '/'), 'any');
  assert.equal(matchName(router, 'GET', 'route.org:123', '/'), 'wild-123');
  assert.equal(matchName(router, 'GET', 'route.org:80', '/'), 'wild-80');
  assert.equal(matchName(router, 'GET', 'route.org:456', '/'), 'wild');
  assert.equal(matchName(router, 'GET', 'route.org', '/'), 'wild');
});

test('methods: only listed methods match', () => {
  const router = new Router([
    route({ name: 'read', methods: ['GET', 'HEAD'] }),
    route({ name: 'write', methods: ['post'] }),
  ]);
  assert.equal(matchName(router, 'GET', undefined, '/'), 'read');
  assert.equal(matchName(router, 'HEAD', undefined, '/resource'), 'read');
  assert.equal(matchName(router, 'POST', undefined, '/'), 'write');
  assert.equal(matchName(router, 'DELETE', undefined, '/'), null);
});

test('headers (docs): names AND, values OR, values case-insensitive', () => {
  const router = new Router([
    route({ name: 'version', headers: { version: ['v1', 'v2'] } }),
    route({ name: 'region', headers: { region: ['north'] } }),
    route({ name: 'both', headers: { version: ['v3'], region: ['south'] } }),
  ]);
  assert.equal(matchName(router, 'GET', undefined, '/', { version: 'v1' }), 'version');
  assert.equal(matchName(router, 'GET', undefined, '/', { version: 'V2' }), 'version');
  assert.equal(matchName(router, 'GET', undefined, '/', { version: 'v3' }), null);
  assert.equal(matchName(router, 'GET', undefined, '/', { region: 'North' }), 'region');
  assert.equal(matchName(router, 'GET', undefined, '/', { version: 'v3', region: 'south' }), 'both');
  assert.equal(matchName(router, 'GET', undefined, '/', { region: 'south' }), null);
});

test('a repeated header (joined by Node with ", ") matches when one of its values matches', () => {
  const router = new Router([route({ name: 'v', headers: { version: ['v2'] } })]);
  assert.equal(matchName(router, 'GET', undefined, '/', { version: 'v1, v2' }), 'v');
  assert.equal(matchName(router, 'GET', undefined, '/', { version: 'v1, v3' }), null);
  assert.equal(matchName(router, 'GET', undefined, '/', { version: 'v1,\tv2 ' }), 'v');
  // Only spaces and tabs are around a value: a byte 0xA0 (node's U+00A0) is part of it, as in nginx.
  assert.equal(matchName(router, 'GET', undefined, '/', { version: 'v1,\u00a0v2' }), null);
});

test('a header value beyond ASCII is read as UTF-8, as Kong reads it; one that is not UTF-8 matches nothing', () => {
  const router = new Router([
    route({ name: 'cafe', headers: { x: ['café'] } }),
    route({ name: 'regex', headers: { y: ['~*^ÉTÉ$'] } }),
  ]);
  // node hands the bytes of a header over one character each: UTF-8's `é` is the pair C3 A9.
  const utf8 = (v: string) => Buffer.from(v, 'utf8').toString('latin1');
  assert.equal(matchName(router, 'GET', undefined, '/', { x: utf8('café') }), 'cafe');
  assert.equal(matchName(router, 'GET', undefined, '/', { x: utf8('CAFÉ') }), 'cafe');
  assert.equal(matchName(router, 'GET', undefined, '/', { y: utf8('été') }), 'regex');
  // The same text in latin1 (E9 alone) is not UTF-8.
  assert.equal(matchName(router, 'GET', undefined, '/', { x: 'caf\xe9' }), null);
  assert.equal(matchName(router, 'GET', undefined, '/', { x: 'cafe' }), null);
});

test("a route's header name reads '_' as '-', as Kong's does (http.headers.x_version, nginx's header lookup)", () => {
  const router = new Router([
    route({ name: 'underscore', paths: ['/u'], headers: { X_Version: ['v1'] } }),
    route({ name: 'dash', paths: ['/d'], headers: { 'x-version': ['v1'] } }),
  ]);
  assert.equal(matchName(router, 'GET', undefined, '/u', { 'x-version': 'v1' }), 'underscore');
  assert.equal(matchName(router, 'GET', undefined, '/d', { 'x-version': 'v1' }), 'dash');
  // A request header spelled with '_' arrives only under headers_with_underscores: allow.
  assert.equal(matchName(router, 'GET', undefined, '/u', { x_version: 'v1' }), 'underscore');
  assert.equal(matchName(router, 'GET', undefined, '/d', { x_version: 'v1' }), 'dash');
  assert.equal(matchName(router, 'GET', undefined, '/u', { 'x-version': 'v2' }), null);
});

test('header values starting with ~* are case-insensitive regexes', () => {
  const router = new Router([route({ name: 'ua', headers: { 'user-agent': ['~*curl/\\d+'] } })]);
  assert.equal(matchName(router, 'GET', undefined, '/', { 'user-agent': 'CURL/8.5.0' }), 'ua');
  assert.equal(matchName(router, 'GET', undefined, '/', { 'user-agent': 'Mozilla/5.0' }), null);
  assert.equal(matchName(router, 'GET', undefined, '/', {}), null);
});

test('~* header regexes are compiled as gateway validate checks them: \\p{L} is a letter class', () => {
  const router = new Router([route({ name: 'letters', headers: { 'x-name': ['~*^\\p{L}+$'] } })]);
  assert.equal(matchName(router, 'GET', undefined, '/', { 'x-name': 'Abc' }), 'letters');
  assert.equal(matchName(router, 'GET', undefined, '/', { 'x-name': 'p{L}' }), null, 'not the literal text');
  assert.equal(matchName(router, 'GET', undefined, '/', { 'x-name': 'a1' }), null);
});

test("~* header regexes read Kong's PCRE spellings: \\-, [[:digit:]], \\Q...\\E; a % is a character", () => {
  const router = new Router([
    route({ name: 'pcre', headers: { 'x-version': ['~*^v[[:digit:]]+\\-beta\\.\\Q+1\\E$'] } }),
    route({ name: 'percent', headers: { 'x-ratio': ['~*^100%$'] } }),
  ]);
  assert.equal(matchName(router, 'GET', undefined, '/', { 'x-version': 'V2-beta.+1' }), 'pcre');
  assert.equal(matchName(router, 'GET', undefined, '/', { 'x-version': 'v2-betax+1' }), null, '\\. is a literal dot');
  assert.equal(matchName(router, 'GET', undefined, '/', { 'x-version': 'vx-beta.+1' }), null);
  assert.equal(matchName(router, 'GET', undefined, '/', { 'x-ratio': '100%' }), 'percent');
});

test('regex paths are anchored at the start, not the end', () => {
  const router = new Router([
    route({ name: 're', paths: ['~/users/\\d+'] }),
    route({ name: 'alt', paths: ['~/alpha|/beta'] }),
  ]);
  assert.equal(matchName(router, 'GET', undefined, '/users/12/profile'), 're');
  assert.equal(matchName(router, 'GET', undefined, '/api/users/12'), null);
  assert.equal(matchName(router, 'GET', undefined, '/beta/x'), 'alt');
  assert.equal(matchName(router, 'GET', undefined, '/x/beta'), null, 'an alternation is anchored as a whole');
});

test('regex captures (docs example): numbered and named groups, for plugins', () => {
  const router = new Router([route({ name: 'users', paths: ['~/version/(?<version>\\d+)/users/(?<user>\\S+)'] })]);
  const m = router.match('GET', undefined, '/version/1/users/john', {});
  assert.ok(m);
  assert.deepEqual(
    { ...m.captures },
    {
      '0': '/version/1/users/john',
      '1': '1',
      '2': 'john',
      version: '1',
      user: 'john',
    },
  );
  assert.equal(m.matchedPath, '/version/1/users/john');
  assert.ok(Object.isFrozen(m.captures));
});

test('routes without captures share one frozen empty captures object', () => {
  const router = new Router([
    route({ name: 'p', paths: ['/p'] }),
    route({ name: 're', paths: ['~/r/\\d+'] }),
    route({ name: 'h', hosts: ['h.test'] }),
  ]);
  const a = router.match('GET', undefined, '/p', {})!;
  const b = router.match('GET', undefined, '/r/1', {})!;
  const c = router.match('GET', 'h.test', '/x', {})!;
  assert.equal(a.captures, b.captures);
  assert.equal(b.captures, c.captures);
  assert.deepEqual(Object.keys(a.captures), []);
  assert.ok(Object.isFrozen(a.captures));
  assert.equal(c.matchedPath, '');
  assert.equal(router.match('GET', undefined, '/p', {}), a, 'a prefix match reuses its frozen result');
});

test('regex paths with escaped unreserved characters are normalized like requests', () => {
  const router = new Router([route({ name: 're', paths: ['~/v%31/a%2Eb'] })]);
  assert.equal(matchName(router, 'GET', undefined, '/v1/a.b'), 're');
  assert.equal(matchName(router, 'GET', undefined, '/v1/aXb'), null, 'a decoded dot stays a literal dot');
});

test('regex paths: characters a request path carries percent-encoded match their encoding, as Kong matches them decoded', () => {
  // Kong matches regexes against the path with such escapes decoded (`/caf%C3%A9` is `/café`);
  // here the path keeps them encoded, so the regex's literal is written the path's way.
  const router = new Router([
    route({ name: 'utf8', paths: ['~/caf\u00e9+$'] }),
    route({ name: 'space', paths: ['~/a b/\\"q\\"$'] }),
    route({ name: 'brace', paths: ['~/api/{id}$'] }),
    route({ name: 'quoted', paths: ['~/q/\\Q<x>\\E$'] }),
    route({ name: 'class', paths: ['~/c/[a\u00e9 ]+$'] }),
  ]);
  assert.equal(matchName(router, 'GET', undefined, '/caf%C3%A9'), 'utf8');
  assert.equal(
    matchName(router, 'GET', undefined, '/caf%C3%A9%C3%A9'),
    'utf8',
    'a quantifier takes the whole character',
  );
  assert.equal(matchName(router, 'GET', undefined, '/caf%C3'), null);
  assert.equal(matchName(router, 'GET', undefined, '/a%20b/%22q%22'), 'space');
  assert.equal(matchName(router, 'GET', undefined, '/api/%7Bid%7D'), 'brace');
  assert.equal(matchName(router, 'GET', undefined, '/q/%3Cx%3E'), 'quoted');
  assert.equal(matchName(router, 'GET', undefined, '/c/a%C3%A9%20a'), 'class');
  assert.equal(matchName(router, 'GET', undefined, '/c/ab'), null);
});

test('an invalid regex or host is reported with the route and the field', () => {
  assert.throws(
    () => new Router([route({ name: 'bad', paths: ['~/a('] })]),
    (e: unknown) => e instanceof RouteCompileError && e.field === 'paths[0]' && e.message.includes('bad'),
  );
  assert.throws(
    () => new Router([route({ name: 'bad', hosts: ['a.*.com'] })]),
    (e: unknown) => e instanceof RouteCompileError && e.field === 'hosts[0]',
  );
  assert.throws(
    () => new Router([route({ name: 'bad', headers: { x: ['~*('] } })]),
    (e: unknown) => e instanceof RouteCompileError && e.field === 'headers.x[0]',
  );
});

test('host-partitioned routes still respect priority across hosts and wildcards', () => {
  const routes = [
    route({ name: 'wild-long', hosts: ['*.svc.test'], paths: ['/api/v1'] }),
    route({ name: 'a-root', hosts: ['a.svc.test'], paths: ['/'] }),
    route({ name: 'b-api', hosts: ['b.svc.test'], paths: ['/api'] }),
    route({ name: 'any-api', paths: ['/api'] }),
    route({ name: 'a-regex', hosts: ['a.svc.test'], paths: ['~/api/v\\d'] }),
  ];
  const router = new Router(routes);
  assert.equal(matchName(router, 'GET', 'a.svc.test', '/api/v1/x'), 'a-regex');
  assert.equal(matchName(router, 'GET', 'a.svc.test', '/other'), 'a-root');
  assert.equal(matchName(router, 'GET', 'b.svc.test', '/api/v1/x'), 'b-api');
  assert.equal(matchName(router, 'GET', 'c.svc.test', '/api/v1/x'), 'wild-long');
  assert.equal(matchName(router, 'GET', 'other.test', '/api/v1/x'), 'any-api');
  assert.equal(matchName(router, 'GET', undefined, '/api'), 'any-api');
});

test('5,000 prefix routes: every route is reachable and the longest prefix still wins', () => {
  const routes: TestRoute[] = [route({ name: 'root', paths: ['/'] })];
  for (let i = 0; i < 5000; i++) {
    routes.push(route({ name: `svc-${i}`, paths: [`/svc-${i}`] }));
    if (i % 100 === 0) routes.push(route({ name: `svc-${i}-deep`, paths: [`/svc-${i}/deep`] }));
  }
  routes.push(route({ name: 'host-special', hosts: ['special.test'], paths: ['/svc-1'] }));
  const router = new Router(routes);
  assert.equal(router.ordered().length, routes.length);
  for (let i = 0; i < 5000; i++) {
    assert.equal(matchName(router, 'GET', undefined, `/svc-${i}/x`), `svc-${i}`);
  }
  assert.equal(matchName(router, 'GET', undefined, '/svc-4200/deep/er'), 'svc-4200-deep');
  // '/svc-12' is a character prefix of '/svc-123': the longer one wins.
  assert.equal(matchName(router, 'GET', undefined, '/svc-1234'), 'svc-1234');
  assert.equal(matchName(router, 'GET', undefined, '/svc-49999'), 'svc-4999');
  assert.equal(matchName(router, 'GET', undefined, '/nothing'), 'root');
  assert.equal(matchName(router, 'GET', 'special.test', '/svc-1/x'), 'host-special');
});

test('host edge cases: an IPv6 literal without port, an empty port, a host equal to the wildcard tail', () => {
  const router = new Router([
    route({ name: 'ipv6', hosts: ['[::1]'] }),
    route({ name: 'suffix', hosts: ['*.example.com'] }),
    route({ name: 'prefix', hosts: ['example.*'] }),
    route({ name: 'port', hosts: ['p.test:8443'] }),
  ]);
  assert.equal(matchName(router, 'GET', '[::1]', '/'), 'ipv6');
  assert.equal(matchName(router, 'GET', '[::1]:8000', '/'), 'ipv6', 'a host without port matches any port');
  // A wildcard stands for at least one character: the bare tail is not a match.
  assert.equal(matchName(router, 'GET', '.example.com', '/'), null);
  assert.equal(matchName(router, 'GET', 'example.', '/'), null);
  assert.equal(matchName(router, 'GET', 'p.test:', '/'), null, 'an empty port is no port');
  assert.equal(matchName(router, 'GET', 'p.test:8443', '/'), 'port');
  assert.equal(matchName(router, 'GET', '', '/'), null);
});

test('a host with a wildcard at both ends is refused', () => {
  for (const host of ['*.example.*', 'a*b.test', 'a.*.*']) {
    assert.throws(
      () => new Router([route({ name: 'bad', hosts: [host] })]),
      (e: unknown) => e instanceof RouteCompileError && e.field === 'hosts[0]',
      host,
    );
  }
});

test('header matching: configured values are case-insensitive, a header given as a list matches on any element', () => {
  const router = new Router([route({ name: 'v', headers: { Version: ['V1'], 'x-tag': ['~*^blue$'] } })]);
  assert.equal(matchName(router, 'GET', undefined, '/', { version: 'v1', 'x-tag': 'Blue' }), 'v');
  assert.equal(matchName(router, 'GET', undefined, '/', { version: ['v0', 'v1'], 'x-tag': ['red', 'BLUE'] }), 'v');
  assert.equal(matchName(router, 'GET', undefined, '/', { version: ['v0', 'v2'], 'x-tag': 'blue' }), null);
  assert.equal(matchName(router, 'GET', undefined, '/', { version: 'v1', 'x-tag': ['red', 'green'] }), null);
  assert.equal(matchName(router, 'GET', undefined, '/', { version: 'v1', 'x-tag': 'red, blue' }), 'v');
});

test('a regex group that did not take part in the match is absent from the captures', () => {
  const router = new Router([route({ name: 'opt', paths: ['~/items(/(?<id>\\d+))?(/x)?$'] })]);
  const all = router.match('GET', undefined, '/items/7', {});
  assert.ok(all);
  assert.deepEqual({ ...all.captures }, { '0': '/items/7', '1': '/7', '2': '7', id: '7' });
  const none = router.match('GET', undefined, '/items', {});
  assert.ok(none);
  assert.deepEqual({ ...none.captures }, {});
  assert.equal(none.matchedPath, '/items');
});

test('a request without a port, or with one that is not a number, matches no route that names a port', () => {
  const router = new Router([route({ name: 'port-1', hosts: ['h.test:1'] })]);
  assert.equal(matchName(router, 'GET', 'h.test:1', '/'), 'port-1');
  assert.equal(matchName(router, 'GET', 'h.test', '/'), null);
  assert.equal(matchName(router, 'GET', 'h.test:x', '/'), null);
});

test('Router.build (the sliced build a reload uses) gives the same table as the constructor', async () => {
  const routes: TestRoute[] = [route({ name: 'root', paths: ['/'] })];
  for (let i = 0; i < 300; i++) {
    routes.push(route({ name: `p-${i}`, paths: [`/p-${i}`], hosts: i % 3 === 0 ? [`h${i}.test`] : null }));
    if (i % 50 === 0) routes.push(route({ name: `re-${i}`, paths: [`~/re-${i}/\\d+$`], regex_priority: i }));
  }
  const built = await Router.build(routes);
  const made = new Router(routes);
  assert.deepEqual(
    built.ordered().map((r) => r.name),
    made.ordered().map((r) => r.name),
  );
  for (const [host, path] of [
    [undefined, '/p-7/x'],
    ['h9.test', '/p-9'],
    ['other.test', '/p-9'],
    [undefined, '/re-100/12'],
    [undefined, '/re-100/x'],
    [undefined, '/none'],
  ] as const) {
    assert.equal(matchName(built, 'GET', host, path), matchName(made, 'GET', host, path), `${host} ${path}`);
  }
  assert.equal(matchName(built, 'GET', 'h9.test', '/p-9'), 'p-9');
  assert.equal(matchName(built, 'GET', 'other.test', '/p-9'), 'root');
  assert.equal(matchName(built, 'GET', undefined, '/re-100/12'), 're-100');
  assert.equal((await Router.build([])).match('GET', undefined, '/', {}), null);
});

test('empty lists in a route mean "any", like absent fields; duplicate paths count once', () => {
  const router = new Router([
    route({ name: 'empty', methods: [], hosts: [], headers: { 'x-a': [] }, paths: ['/e', '/e'] }),
    route({ name: 'later', paths: ['/e'] }),
  ]);
  assert.equal(matchName(router, 'DELETE', 'any.test', '/e/x'), 'empty');
  assert.deepEqual(
    router.ordered().map((r) => r.name),
    ['empty', 'later'],
  );
});

test('route compile errors name the problem: an untranslatable PCRE construct, a bad regex, a bad path, a misplaced wildcard', () => {
  const refused = (fields: Partial<TestRoute>, field: string, message: RegExp) =>
    assert.throws(
      () => new Router([route({ ...fields, name: 'bad' })]),
      (e: unknown) => e instanceof RouteCompileError && e.field === field && message.test(e.message),
      `${JSON.stringify(fields)}: ${message}`,
    );
  refused({ paths: ['~/a('] }, 'paths[0]', /invalid regex: /);
  refused({ paths: ['~/a{,3}'] }, 'paths[0]', /invalid regex: .*\{,n\}/);
  refused({ paths: ['/ok', '~/a\\q'] }, 'paths[1]', /invalid regex: /);
  refused({ headers: { x: ['~*('] } }, 'headers.x[0]', /invalid regex: /);
  refused({ hosts: ['a.*.com'] }, 'hosts[0]', /a wildcard must be the leftmost or rightmost label/);
  refused({ paths: ['/a%zz'] }, 'paths[0]', /not a valid path/);
});

test('route prefixes: non-ASCII (astral characters too) is encoded as UTF-8, an encoded slash is kept', () => {
  const router = new Router([
    route({ name: 'emoji', paths: ['/caf\u00e9/\u{1F600}'] }),
    route({ name: 'slash', paths: ['/a%2Fb'] }),
  ]);
  assert.equal(matchName(router, 'GET', undefined, '/caf%C3%A9/%F0%9F%98%80/x'), 'emoji');
  assert.equal(matchName(router, 'GET', undefined, '/a%2Fb/c'), 'slash');
  assert.equal(matchName(router, 'GET', undefined, '/a/b/c'), null);
});

test('a route with paths outranks a path-less one of the same weight; equal routes keep config order', () => {
  const methodOnly = route({ name: 'method-only', methods: ['GET'] });
  const pathOnly = route({ name: 'path-only', paths: ['/p'] });
  const router = new Router([methodOnly, pathOnly]);
  assert.deepEqual(
    router.ordered().map((r) => r.name),
    ['path-only', 'method-only'],
  );
  assert.equal(matchName(router, 'GET', undefined, '/p'), 'path-only');
  const same = Array.from({ length: 12 }, (_, i) => route({ name: `same-${i}`, paths: ['/s'] }));
  assert.deepEqual(
    new Router(same).ordered().map((r) => r.name),
    same.map((r) => r.name),
  );
});

test('snis: on TLS only the routes naming the server name match; cleartext requests ignore snis (Kong)', () => {
  const a = route({ name: 'a', paths: ['/'], snis: ['a.test'] });
  const b = route({ name: 'b', paths: ['/'], snis: ['B.test.'] });
  const wild = route({ name: 'wild', paths: ['/'], snis: ['*.wild.test', 'pre.*'] });
  const router = new Router([a, b, wild]);
  const sni = (s: string | null): string | null => router.match('GET', undefined, '/x', {}, s)?.route.name ?? null;
  assert.equal(router.usesSnis, true);
  assert.equal(sni('a.test'), 'a');
  assert.equal(sni('b.test'), 'b', 'a trailing dot in the config is not part of the name; case does not matter');
  assert.equal(sni('x.wild.test'), 'wild');
  assert.equal(sni('wild.test'), null, '*.wild.test needs a label before it');
  assert.equal(sni('pre.example'), 'wild');
  assert.equal(sni('c.test'), null, 'no route names that SNI: 404');
  assert.equal(sni(''), null, 'a TLS client that sent no SNI matches no route with snis');
  assert.equal(sni(null), 'a', 'on cleartext snis are not considered: the first route wins');
  assert.equal(new Router([route({ name: 'p', paths: ['/'] })]).usesSnis, false);
});

test("snis: ['*'] (Kong's wildcard_host takes it) matches any server name a client sends, not a client that sent none", () => {
  const router = new Router([route({ name: 'any', paths: ['/'], snis: ['*'] })]);
  const sni = (s: string): string | null => router.match('GET', undefined, '/x', {}, s)?.route.name ?? null;
  assert.equal(sni('a.test'), 'any');
  assert.equal(sni('x'), 'any');
  assert.equal(sni(''), null);
});

test('snis count in the match weight: a route with paths and snis beats one with paths alone', () => {
  const plain = route({ name: 'plain', paths: ['/api'] });
  const named = route({ name: 'named', paths: ['/api'], snis: ['a.test'] });
  const router = new Router([plain, named]);
  assert.equal(router.match('GET', undefined, '/api', {}, 'a.test')?.route.name, 'named');
  assert.equal(router.match('GET', undefined, '/api', {}, 'b.test')?.route.name, 'plain');
});
