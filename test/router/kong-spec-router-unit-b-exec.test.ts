/**
 * Kong's router unit spec, spec/01-unit/08-router_spec.lua at Kong commit 22246ef2, from its
 * `exec()` cases (line 3314) to the end, ported for the `traditional_compatible` and `traditional`
 * flavors: what Kong's `match_t` pins is checked as a client and a real upstream see it through one
 * real gateway. `match_t.route` is the `Kong-Route-Name` debug header, `upstream_uri` the path the
 * upstream receives, `upstream_host` its Host header, `prefix` the `X-Forwarded-Prefix` Kong's
 * runloop sends from it (none for `/`), and `matches.uri_captures` what a plugin reads as
 * `captures` (a probe plugin hands them upstream as JSON).
 *
 * Kong builds one router per `it`; here each case's routes carry a host of their own (`*.test`)
 * so that one gateway holds them all, and a route Kong leaves without `strip_path` (nil, so not
 * stripped) says `strip_path: false`, Tollgate's default being Kong's schema default, `true`.
 * `_tollgate.encoded_slashes: allow` lets `/endel%2Fst` in: Tollgate refuses an encoded slash with
 * 400 by default (docs/kong-differences.md, "Request paths Kong passes on that are refused").
 *
 * Left out: `matches.host`/`uri`/`method`/`headers` and `upstream_url_t.scheme`/`path`, which only
 * the `traditional` flavor's match_t carries; spies on `get_headers` and the LRU cache's
 * `route_match_cached` (Lua internals: the answers after a cache hit are asserted instead); the
 * `#stream` describes (save the two http cases of its `[snis]`) and the
 * expressions-only describes from line 5210 on. Covered elsewhere: the
 * `#slash handling` table (test/proxy/path-handling.test.ts, plain and `~/[0]?` regex rows),
 * service url ports (test/config/kong-spec-defaults.test.ts), preserve_host's other cases
 * (test/router/kong-router-spec.test.ts "preserve_host"), gRPC's in kong-spec-router-unit-b-grpc.
 */

import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { definePlugin } from '../../src/index.ts';
import { startGateway, type TestGateway } from '../../src/testing/index.ts';
import { send } from '../support/kong-mock.ts';
import { rawRequest } from '../support/raw.ts';
import { type RecordingUpstream, startRecordingUpstream } from '../support/upstream.ts';

/** Hands the route's captures upstream as JSON, where Kong's spec reads `match_t.matches.uri_captures`. */
const captureProbe = definePlugin({
  name: 'uri-captures-probe',
  version: '1.0.0',
  priority: 1,
  schema: { type: 'object' },
  create: () => ({
    access(req) {
      req.setUpstreamHeader('x-uri-captures', JSON.stringify(req.captures));
    },
  }),
});

let up: RecordingUpstream;
let gw: TestGateway;

/** A service on the real upstream holding `routes`. */
function svc(name: string, routes: Record<string, unknown>[], path = ''): Record<string, unknown> {
  return { name, url: `${up.url}${path}`, routes };
}

before(async () => {
  up = await startRecordingUpstream();
  gw = await startGateway({
    plugins: [captureProbe],
    config: {
      _format_version: '3.0',
      _tollgate: { debug_header: true, encoded_slashes: 'allow' },
      plugins: [{ name: 'uri-captures-probe' }],
      services: [
        svc('url', [{ name: 'url-1', hosts: ['url.test'], paths: ['/my-route'], strip_path: false }]),
        // "returns matched_host + matched_uri + matched_method + matched_headers": Kong's routes as they are.
        svc('matched', [
          { name: 'm1', hosts: ['host.com'], methods: ['GET'], paths: ['/my-route'], strip_path: false },
          { name: 'm2', hosts: ['host.com'], paths: ['/my-route'], strip_path: false },
          { name: 'm3', hosts: ['*.host.com'], headers: { location: ['my-location-1', 'my-location-2'] } },
          { name: 'm4', paths: ['~/users/\\d+/profile'], strip_path: false },
        ]),
        svc('captures', [
          { name: 'optional', hosts: ['optional.test'], paths: ['~/(users/)?1984/(?<subpath>profile)$'] },
          { name: 'named', hosts: ['named.test'], paths: ['~/users/(?P<user_id>\\d+)/profile/?(?P<scope>[a-z]*)'] },
          {
            name: 'fullname',
            hosts: ['fullname.test'],
            paths: ['~/users/(?P<fullname>[a-zA-Z\\s\\d%]+)/profile/?(?P<scope>[a-z]*)'],
          },
          { name: 'hello', hosts: ['hello.test'], paths: ['/hello'], strip_path: true },
          { name: 'no-groups', hosts: ['no-groups.test'], paths: ['~/users/\\d+/profile'], strip_path: false },
        ]),
        svc('encoded', [
          { name: 'endel', hosts: ['endel.test'], paths: ['/endel%2Fst'], strip_path: false },
          { name: 'endel-strip', hosts: ['endel-strip.test'], paths: ['/endel%2Fst'], strip_path: true },
        ]),
        // "stripped paths #strip": the second route takes POST and keeps the path.
        svc('strip', [
          { name: 'strip', hosts: ['strip.test'], paths: ['/my-route', '/xx-route'], strip_path: true },
          {
            name: 'keep',
            hosts: ['strip.test'],
            methods: ['POST'],
            paths: ['/my-route', '/xx-route'],
            strip_path: false,
          },
          { name: 'root', hosts: ['root.test'], paths: ['/'], strip_path: true },
          { name: 'strip-regex', hosts: ['strip-regex.test'], paths: ['~/users/\\d+/profile'], strip_path: true },
          { name: 'strip-group', hosts: ['strip-group.test'], paths: ['~/users/(\\d+)/profile'], strip_path: true },
        ]),
        svc('preserve', [{ name: 'no-host', paths: ['/nohost'], preserve_host: true, strip_path: false }]),
        svc('special', [
          { name: 'backslash', hosts: ['special.test'], paths: ['/\\d'], strip_path: false },
          { name: 'quote', hosts: ['special.test'], paths: ['~/\\d+"'], strip_path: false },
        ]),
        svc('utf8', [{ name: 'utf8', hosts: ['utf8.test'], paths: ['/hello'], strip_path: false }]),
        svc('utf8-header', [{ name: 'utf8-header', hosts: ['utf8-header.test'], headers: { 'x-name': ['café'] } }]),
        // The describes after exec(): Kong's domain-1.org / domain-2.org, one pair of hosts per describe.
        svc('priorities', [
          { name: 'dot-star', hosts: ['prio-1.test'], paths: ['/.*'] },
          { name: 'root-prio-5', hosts: ['prio-2.test'], paths: ['/'], regex_priority: 5 },
          { name: 'v1', hosts: ['prio-2.test'], paths: ['/v1'] },
          { name: 'regex-and-prefix', hosts: ['mixed.test'], paths: ['~/some/thing/else', '/foo'] },
          { name: 'foo-bar', hosts: ['mixed.test'], paths: ['/foo/bar'] },
          { name: 'overlap-outer', hosts: ['overlap.test'], paths: ['/foo', '/foo/bar/baz'] },
          { name: 'overlap-inner', hosts: ['overlap.test'], paths: ['/foo/bar'] },
          { name: 'case', hosts: ['case.test'], paths: ['/foo'], headers: { test1: ['Quote'] }, strip_path: false },
          { name: 'cached', hosts: ['example.com'], preserve_host: true },
        ]),
        // "#stream context" [snis], its two http cases: snis are not read on cleartext.
        svc('sni', [
          { name: 'sni-https', hosts: ['sni.example.com'], protocols: ['http', 'https'], snis: ['sni.example.com'] },
          { name: 'sni-http', hosts: ['sni.example.com'], protocols: ['http'] },
          { name: 'sni-ignored', hosts: ['sni-ignored.test'], snis: ['sni-ignored.test'] },
        ]),
      ],
      routes: [{ name: 'no-service', hosts: ['no-service.test'], paths: ['/foo', '/foo/bar/baz'] }],
    },
  });
});

after(async () => {
  await gw?.close();
  await up?.close();
});

interface Seen {
  status: number;
  route: string | undefined;
  /** The path the upstream received; undefined when the request did not reach it. */
  url: string | undefined;
  upstream: Record<string, string>;
  captures: Record<string, string> | undefined;
  body: string;
}

/** One request with `Host: host` (node's request options: a URL string would turn `\` into `/`). */
function get(host: string, path: string, method = 'GET', headers: Record<string, string> = {}): Promise<Seen> {
  const { hostname, port } = new URL(gw.url);
  return new Promise((resolve, reject) => {
    const opts = { host: hostname, port, path, method, headers: { host, 'kong-debug': '1', ...headers }, agent: false };
    const req = request(opts, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => {
        const json = JSON.parse(body) as { url?: string; headers?: Record<string, string> };
        const upstream = json.headers ?? {};
        const raw = upstream['x-uri-captures'];
        resolve({
          status: res.statusCode ?? 0,
          route: res.headers['kong-route-name'] as string | undefined,
          url: json.url,
          upstream,
          captures: raw === undefined ? undefined : (JSON.parse(raw) as Record<string, string>),
          body,
        });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

describe('exec()', () => {
  test('returns parsed upstream_url + upstream_uri: the service host and port, the path as requested', async () => {
    const a = await get('url.test', '/my-route');
    assert.deepEqual([a.status, a.route, a.url], [200, 'url-1', '/my-route']);
    assert.equal(a.upstream.host, `127.0.0.1:${up.port}`, 'no upstream_host without preserve_host');
  });

  test('returns matched_host + matched_uri + matched_method + matched_headers: the route each request selects', async () => {
    for (const [method, host, path, headers, route] of [
      ['GET', 'host.com', '/my-route', {}, 'm1'],
      ['GET', 'host.com', '/my-route/prefix/match', {}, 'm1'],
      ['POST', 'host.com', '/my-route', {}, 'm2'],
      ['GET', 'test.host.com', '/', { location: 'my-location-1' }, 'm3'],
      ['GET', 'domain.org', '/users/123/profile', {}, 'm4'],
    ] as const) {
      const a = await get(host, path, method, headers);
      assert.deepEqual([a.status, a.route, a.url], [200, route, path], `${method} ${host} ${path}`);
    }
  });

  test('uri_captures works well with an optional capture group that took no part', async () => {
    const a = await get('optional.test', '/1984/profile');
    assert.equal(a.route, 'optional');
    assert.equal(a.captures!['1'], undefined, 'the group that took no part is absent (Kong: false)');
    assert.equal(a.captures!.subpath, 'profile');
    assert.equal(a.captures!.scope, undefined);
  });

  test('returns uri_captures from a [uri regex], numbered and named, with the whole match as 0', async () => {
    // Twice, as Kong's second lookup comes from its LRU cache.
    for (const [path, scope] of [
      ['/users/1984/profile', ''],
      ['/users/1984/profile', ''],
      ['/users/1984/profile/email', 'email'],
    ] as const) {
      const a = await get('named.test', path);
      assert.equal(a.route, 'named');
      assert.deepEqual(a.captures, { 0: path, 1: '1984', 2: scope, user_id: '1984', scope }, path);
    }
  });

  test('uri_captures of an escaped request path: Tollgate keeps the escapes Kong decodes', async () => {
    // Kong's captures are `john doe` and `/users/john doe/profile`. Tollgate's path keeps the
    // escapes of characters other than unreserved ones (docs/kong-differences.md, "Regex path
    // captures keep the path's escapes"): `%6a` is decoded, `%20` stays.
    for (let i = 0; i < 2; i++) {
      const a = await get('fullname.test', '/users/%6aohn%20doe/profile');
      assert.equal(a.route, 'fullname');
      assert.deepEqual(a.captures, {
        0: '/users/john%20doe/profile',
        1: 'john%20doe',
        2: '',
        fullname: 'john%20doe',
        scope: '',
      });
    }
  });

  test('returns no uri_captures from a [uri prefix] match', async () => {
    const a = await get('hello.test', '/hello/world');
    assert.deepEqual([a.route, a.url, a.captures], ['hello', '/world', {}]);
  });

  test('returns no uri_captures from a [uri regex] match without groups', async () => {
    const a = await get('no-groups.test', '/users/1984/profile');
    assert.deepEqual([a.route, a.url, a.captures], ['no-groups', '/users/1984/profile', {}]);
  });

  test('allows url encoded paths if they are reserved characters', async () => {
    const a = await get('endel.test', '/endel%2Fst');
    assert.deepEqual([a.status, a.route, a.url], [200, 'endel', '/endel%2Fst']);
  });

  test("works with special characters ('\"', '\\'): matched, and sent upstream escaped as Kong escapes them", async () => {
    // Kong's upstream_uri is `/\d` and `/123"`; its runloop escapes both characters on the way
    // upstream (kong/tools/uri.lua `escape`), as Tollgate's normalization does.
    const backslash = await get('special.test', '/\\d');
    assert.deepEqual([backslash.status, backslash.route, backslash.url], [200, 'backslash', '/%5Cd']);
    const quote = await get('special.test', '/123"');
    assert.deepEqual([quote.status, quote.route, quote.url], [200, 'quote', '/123%22']);
  });

  test('gracefully handles invalid utf-8 sequences: raw bytes are a 400 here, before any route', async () => {
    // Kong's router refuses the path (404). Node's parser refuses a request target with raw bytes
    // beyond ASCII first (docs/kong-differences.md, "Request heads must end their lines with CRLF").
    const raw = await rawRequest(gw.url, [
      'GET /\xfc\x80\x80\x80\x80\xaf HTTP/1.1\r\nHost: utf8.test\r\nConnection: close\r\n\r\n',
    ]);
    assert.equal(raw.status, 400);
  });

  test('gracefully handles invalid utf-8 sequences: escaped, they match no route (404), as in Kong', async () => {
    // Kong decodes the escapes of non-reserved characters, then its matcher refuses a path that is
    // not UTF-8: "no Route matched". A truncated sequence, an overlong `/`, a surrogate, a stray
    // continuation byte. Valid UTF-8 escapes route as before.
    for (const path of ['/hello%FC%80%80%80%80%AF', '/hello%C3', '/hello%C0%AF', '/hello%ED%A0%80', '/hello%80']) {
      const a = await send(gw.url, 'GET', path, { host: 'utf8.test', 'kong-debug': '1' });
      assert.equal(a.status, 404, path);
      assert.equal((JSON.parse(a.body) as { message: string }).message, 'no Route matched with those values');
      assert.equal(a.headers['kong-route-name'], undefined);
    }
    for (const path of ['/hello%C3%A9', '/hello%F0%9F%90%92/%E2%82%AC']) {
      const a = await get('utf8.test', path);
      assert.deepEqual([a.status, a.route, a.url], [200, 'utf8', path]);
    }
  });
});

test('a route header value beyond ASCII matches the UTF-8 a client sends, as Kong decodes it', async () => {
  const head = (value: string) =>
    `GET / HTTP/1.1\r\nHost: utf8-header.test\r\nX-Name: ${value}\r\nConnection: close\r\n\r\n`;
  // rawRequest writes its text as UTF-8.
  assert.equal((await rawRequest(gw.url, [head('CAFÉ')])).status, 200);
  assert.equal((await rawRequest(gw.url, [head('cafe')])).status, 404);
});

describe('exec(): stripped paths #strip', () => {
  test('strips the specified paths from the given uri if matching', async () => {
    const a = await get('strip.test', '/my-route/hello/world');
    assert.deepEqual([a.route, a.url, a.upstream['x-forwarded-prefix']], ['strip', '/hello/world', '/my-route']);
  });

  test('strips if matched URI is plain (not a prefix)', async () => {
    const a = await get('strip.test', '/my-route');
    assert.deepEqual([a.route, a.url, a.upstream['x-forwarded-prefix']], ['strip', '/', '/my-route']);
  });

  test("doesn't strip if 'strip_uri' is not enabled (and the client URI is normalized before matching)", async () => {
    const a = await get('strip.test', '/my-route/hello/world', 'POST');
    assert.deepEqual([a.route, a.url, a.upstream['x-forwarded-prefix']], ['keep', '/my-route/hello/world', undefined]);
  });

  test('does not strip root / URI', async () => {
    const a = await get('root.test', '/my-route/hello/world', 'POST');
    // Kong's prefix is `/`, which its runloop does not send as X-Forwarded-Prefix.
    assert.deepEqual([a.route, a.url, a.upstream['x-forwarded-prefix']], ['root', '/my-route/hello/world', undefined]);
  });

  test('can find a route with stripped URI several times in a row, and with different URIs in a row', async () => {
    for (const prefix of ['/my-route', '/my-route', '/xx-route', '/my-route', '/xx-route']) {
      const a = await get('strip.test', prefix);
      assert.deepEqual([a.route, a.url, a.upstream['x-forwarded-prefix']], ['strip', '/', prefix]);
    }
  });

  test('strips url encoded paths', async () => {
    const a = await get('endel-strip.test', '/endel%2Fst');
    assert.deepEqual([a.route, a.url, a.upstream['x-forwarded-prefix']], ['endel-strip', '/', '/endel%2Fst']);
  });

  test('strips a [uri regex], with or without a capture group', async () => {
    for (const host of ['strip-regex.test', 'strip-group.test']) {
      const a = await get(host, '/users/123/profile/hello/world');
      assert.deepEqual([a.url, a.upstream['x-forwarded-prefix']], ['/hello/world', '/users/123/profile'], host);
    }
  });
});

describe('exec(): preserve Host header', () => {
  test("uses the request's Host header if a route with no host was cached: each request's own Host", async () => {
    for (const host of ['domain1.com', 'domain2.com', 'domain1.com']) {
      const a = await get(host, '/nohost');
      assert.deepEqual([a.route, a.upstream.host], ['no-host', host]);
    }
  });
});

describe('the describes after exec()', () => {
  test('[both regex and prefix with regex_priority]: prefix matching ignores regex_priority', async () => {
    const a = await get('prio-2.test', '/v1');
    assert.deepEqual([a.status, a.route], [200, 'v1']);
  });

  test('[both regex and prefix]: assigns different priorities to regex and non-regex path', async () => {
    assert.equal((await get('mixed.test', '/some/thing/else')).route, 'regex-and-prefix');
    assert.equal((await get('mixed.test', '/foo/bar')).route, 'foo-bar');
  });

  test('[overlapping prefixes]: assigns different priorities to each path', async () => {
    assert.equal((await get('overlap.test', '/foo')).route, 'overlap-outer');
    assert.equal((await get('overlap.test', '/foo/bar')).route, 'overlap-inner');
    assert.equal((await get('overlap.test', '/foo/bar/baz')).route, 'overlap-outer');
  });

  test('[can create route with multiple paths and no service]: it loads, and answers 503', async () => {
    const a = await send(gw.url, 'GET', '/foo/bar/baz', { host: 'no-service.test', 'kong-debug': '1' });
    assert.equal(a.status, 503);
    assert.equal(a.headers['kong-route-name'], 'no-service');
    assert.equal((JSON.parse(a.body) as { message: string }).message, 'no Service found with those values');
  });

  test('[cache hit should be case sensitive]: a header value matches in any case, before and after a hit', async () => {
    for (const value of ['QUOTE', 'QUOTE', 'QuoTe', 'quote']) {
      const a = await get('case.test', '/foo', 'GET', { test1: value });
      assert.deepEqual([a.status, a.route], [200, 'case'], value);
    }
    assert.equal((await get('case.test', '/foo', 'GET', { test1: 'Quotes' })).status, 404);
  });

  test('[cache hit should have correct match_t.upstream_uri]: each request has its own path and Host', async () => {
    for (const path of ['/foo', '/bar', '/foo']) {
      const a = await get('example.com', path);
      assert.deepEqual([a.route, a.url, a.upstream.host], ['cached', path, 'example.com']);
    }
  });

  test('[sni] is ignored for an http request: a route with snis matches cleartext by its other fields', async () => {
    const alone = await get('sni-ignored.test', '/');
    assert.deepEqual([alone.status, alone.route], [200, 'sni-ignored']);
    // Kong's traditional flavor gives this request to sni-http; its default flavor, which
    // Tollgate orders routes as (docs/kong-differences.md, "Routes are ordered as Kong's default
    // router"), ranks the route with snis higher (kong/router/transform.lua counts snis in the
    // match weight) and its `net.protocol != "https"` clause lets cleartext through.
    const both = await get('sni.example.com', '/');
    assert.deepEqual([both.status, both.route], [200, 'sni-https']);
  });
});
