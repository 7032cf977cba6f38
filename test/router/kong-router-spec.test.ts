/**
 * Kong's router integration spec, spec/02-integration/05-proxy/02-router_spec.lua at Kong commit
 * 22246ef2, ported for its traditional and traditional_compatible cases: each `describe` of
 * Kong's with its own routes is one gateway here (a config change is a reload, Kong's Admin API
 * inserts being a DB-less `/config` post in its own `off` strategy), in front of a real upstream
 * that answers with the path and headers it received and, like Kong's mock upstream, with the
 * status a `/status/NNN` path names. Requests carry `Kong-Debug: 1` (Kong's `allow_debug_header`)
 * so the answer names the route that matched.
 *
 * Cases already ported elsewhere: the slash handling table (test/proxy/path-handling.test.ts),
 * snis over TLS (test/tls/sni-routes.test.ts), priority ties (test/router/router.test.ts).
 * Cases whose upstream sees something else by design (X-Forwarded-Path) say so where they assert.
 */

import assert from 'node:assert/strict';
import { Agent, request } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { startGateway, type TestGateway } from '../../src/testing/index.ts';
import { rawRequest } from '../support/raw.ts';
import { type RecordedRequest, type RecordingUpstream, startRecordingUpstream } from '../support/upstream.ts';

let up: RecordingUpstream;
const agent = new Agent({ keepAlive: true, maxSockets: 1 });

/** Kong's mock upstream: `/status/NNN` answers NNN; every answer is JSON `{ url, headers }` of what arrived. */
function mockUpstream(seen: RecordedRequest, res: import('node:http').ServerResponse): void {
  const m = /^\/status\/(\d{3})(?:[/?]|$)/.exec(seen.url);
  res.statusCode = m === null ? 200 : Number(m[1]);
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ url: seen.url, headers: seen.headers }));
}

before(async () => {
  up = await startRecordingUpstream(mockUpstream);
});

after(async () => {
  agent.destroy();
  await up?.close();
});

interface Answer {
  status: number;
  /** The matched route's name (Kong-Route-Name), undefined when none matched. */
  route: string | undefined;
  service: string | undefined;
  headers: Record<string, string | string[] | undefined>;
  /** What the upstream received, when the answer came from it. */
  url?: string;
  upstreamHeaders?: Record<string, string>;
  message?: string;
}

/** One request through `gw` (node's client: fetch cannot set Host), with Kong-Debug: 1. */
function send(
  gw: TestGateway,
  path: string,
  opts: { method?: string; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const { hostname, port } = new URL(gw.url);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: hostname,
        port,
        path,
        method: opts.method ?? 'GET',
        headers: { 'kong-debug': '1', ...opts.headers },
        agent,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => {
          const a: Answer = {
            status: res.statusCode ?? 0,
            route: res.headers['kong-route-name'] as string | undefined,
            service: res.headers['kong-service-name'] as string | undefined,
            headers: res.headers,
          };
          const json = body === '' ? {} : (JSON.parse(body) as Record<string, unknown>);
          if (typeof json.url === 'string') {
            a.url = json.url;
            a.upstreamHeaders = json.headers as Record<string, string>;
          }
          if (typeof json.message === 'string') a.message = json.message;
          resolve(a);
        });
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** A gateway with debug headers on, holding `services` (each `{ name, url?, path?, enabled?, routes }`) and `routes` without one. */
async function gateway(
  services: Record<string, unknown>[],
  routes: Record<string, unknown>[] = [],
): Promise<TestGateway> {
  return startGateway({ config: config(services, routes) });
}

function config(services: Record<string, unknown>[], routes: Record<string, unknown>[] = []): Record<string, unknown> {
  return {
    _format_version: '3.0',
    _tollgate: { debug_header: true },
    services: services.map(({ path, ...s }) => ({ url: `${up.url}${(path as string | undefined) ?? ''}`, ...s })),
    ...(routes.length > 0 ? { routes } : {}),
  };
}

/** One service per route, named after it (Kong's spec gives every route its own service). */
function ownServices(routes: Record<string, unknown>[], paths: Record<string, string> = {}): Record<string, unknown>[] {
  return routes.map((r) => ({
    name: `svc-${r.name as string}`,
    ...(paths[r.name as string] === undefined ? {} : { path: paths[r.name as string] }),
    routes: [r],
  }));
}

describe('use-cases', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await gateway(
      [
        { name: 'first', routes: [{ name: 'r1', methods: ['GET'], protocols: ['http'], strip_path: false }] },
        {
          name: 'post-put',
          routes: [{ name: 'r2', methods: ['POST', 'PUT'], paths: ['/post', '/put'], strip_path: false }],
        },
        { name: 'status', path: '/status', routes: [{ name: 'r3', paths: ['/mock_upstream'], strip_path: true }] },
        { name: 'private', path: '/basic-auth/', routes: [{ name: 'r4', paths: ['/private'], strip_path: false }] },
        {
          name: 'users',
          path: '/anything',
          routes: [{ name: 'r5', paths: ['~/users/\\d+/profile'], strip_path: true }],
        },
        {
          name: 'disabled-1',
          path: '/disabled-service-path/',
          enabled: false,
          routes: [{ name: 'r7', paths: ['/disabled-service1'], strip_path: false }],
        },
        {
          name: 'enabled-service',
          path: '/anything/',
          routes: [{ name: 'r8', paths: ['~/enabled-service/\\w+'], strip_path: true }],
        },
        {
          name: 'disabled-2',
          path: '/some-path/',
          enabled: false,
          routes: [{ name: 'r9', paths: ['/enabled-service/disabled'], strip_path: true }],
        },
      ],
      [{ name: 'r6', protocols: ['http', 'https'], hosts: ['serviceless-route-http.test'] }],
    );
  });
  after(() => gw?.close());

  test('responds 503 if no service found', async () => {
    const a = await send(gw, '/', { headers: { host: 'serviceless-route-http.test' } });
    assert.equal(a.status, 503);
    assert.equal(a.message, 'no Service found with those values');
    assert.equal(a.route, 'r6');
  });

  test('restricts a route to its methods if specified', async () => {
    const post = await send(gw, '/post', { method: 'POST' });
    assert.deepEqual([post.status, post.route, post.service, post.url], [200, 'r2', 'post-put', '/post']);
    const del = await send(gw, '/post', { method: 'DELETE' });
    assert.equal(del.status, 404);
    assert.equal(del.message, 'no Route matched with those values');
    assert.equal(del.headers['kong-route-id'], undefined);
    assert.equal(del.headers['kong-service-id'], undefined);
    assert.equal(del.headers['kong-service-name'], undefined);
  });

  test('routes by method-only if no other match is found', async () => {
    const a = await send(gw, '/get');
    assert.deepEqual([a.status, a.route, a.service, a.url], [200, 'r1', 'first', '/get']);
  });

  test('a request without Host: HTTP/1.0 routes normally, HTTP/1.1 is refused with 400', async () => {
    const ten = await rawRequest(gw.url, 'GET /get HTTP/1.0\r\nKong-Debug: 1\r\n\r\n');
    assert.equal(ten.status, 200);
    assert.equal(ten.headers['kong-service-name'], 'first', 'the route without hosts');
    const eleven = await rawRequest(gw.url, 'GET /get HTTP/1.1\r\nKong-Debug: 1\r\n\r\n');
    assert.equal(eleven.status, 400);
    assert.match(eleven.body, /Bad request/);
    assert.equal(eleven.headers['kong-route-id'], undefined);
  });

  test('a service path with strip_path = true: /mock_upstream/201 reaches /status/201', async () => {
    const a = await send(gw, '/mock_upstream/201');
    assert.deepEqual([a.status, a.route, a.url], [201, 'r3', '/status/201']);
  });

  test('a service path with strip_path = false: the route prefix is kept after it', async () => {
    const a = await send(gw, '/private/passwd');
    assert.deepEqual([a.status, a.route, a.url], [200, 'r4', '/basic-auth/private/passwd']);
  });

  test('a service path and a regex path: only a path the regex matches reaches that service', async () => {
    const miss = await send(gw, '/users/foo/profile');
    // Kong's mock upstream answers 404 for this path, reached through the method-only route.
    assert.deepEqual([miss.route, miss.url], ['r1', '/users/foo/profile']);
    const hit = await send(gw, '/users/123/profile');
    assert.deepEqual([hit.status, hit.route, hit.service, hit.url], [200, 'r5', 'users', '/anything']);
  });

  test('a route whose service has enabled = false is ignored', async () => {
    const a = await send(gw, '/disabled-service1');
    assert.deepEqual([a.route, a.url], ['r1', '/disabled-service1'], 'the method-only route, not the disabled one');
  });

  test('a longer prefix of a disabled service gives way to a regex route', async () => {
    const a = await send(gw, '/enabled-service/disabled');
    // The whole path is stripped; v0 joins '/anything/' and '' as '/anything' (Kong's path table).
    assert.deepEqual([a.status, a.route, a.service, a.url], [200, 'r8', 'enabled-service', '/anything']);
  });
});

describe('URI regexes order of evaluation', () => {
  let gw: TestGateway;
  before(async () => {
    const routes = [
      { name: 'regex_1', paths: ['~/status/(?P<foo>re)'], regex_priority: 0 },
      // regex_priority 4 shadows the route before it, whose regex is as long.
      { name: 'regex_2', paths: ['~/status/(re)'], regex_priority: 4 },
      { name: 'regex_3', paths: ['~/status/(ab)'], regex_priority: 0 },
      { name: 'regex_4', paths: ['~/status/(ab)c?'], regex_priority: 0 },
      { name: 'regex_5', paths: ['~/status/(r)'] },
    ];
    gw = await gateway(
      routes.map((r) => ({ name: r.name, path: '/status/200', routes: [{ ...r, strip_path: true }] })),
    );
  });
  after(() => gw?.close());

  test('depends on the regex_priority field', async () => {
    const a = await send(gw, '/status/re');
    assert.deepEqual([a.status, a.service, a.url], [200, 'regex_2', '/status/200']);
  });

  test("a regex_priority tie goes to the route created first (Kong's traditional flavor; here, the first in the file)", async () => {
    assert.equal((await send(gw, '/status/ab')).service, 'regex_3');
    assert.equal((await send(gw, '/status/r')).service, 'regex_5', 'the only route whose regex matches');
  });
});

describe('URI arguments (querystring)', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await gateway([{ name: 'q', routes: [{ name: 'q', hosts: ['mock_upstream'] }] }]);
  });
  after(() => gw?.close());

  test('preserves URI arguments, an empty query and an argument without a value', async () => {
    const host = { host: 'mock_upstream' };
    assert.equal((await send(gw, '/get?foo=bar&hello=world', { headers: host })).url, '/get?foo=bar&hello=world');
    assert.equal((await send(gw, '/request?', { headers: host })).url, '/request?');
    assert.equal((await send(gw, '/get?hello', { headers: host })).url, '/get?hello');
  });
});

describe('URI normalization', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await gateway(
      ownServices([
        { name: 'foobar', paths: ['/foo/bar'], strip_path: true },
        { name: 'hello', paths: ['/hello'], strip_path: true },
        { name: 'world', paths: ['/anything/world'], strip_path: false },
      ]),
    );
  });
  after(() => gw?.close());

  // Kong sends X-Forwarded-Path as the client wrote it (`/foo/a/../bar`); Tollgate sends the
  // normalized path the route matched (docs/kong-differences.md).
  for (const path of ['/foo/a/../bar', '/foo//bar', '/foo/./bar']) {
    test(`matches against the normalized URI: ${path}`, async () => {
      const a = await send(gw, path);
      assert.deepEqual([a.status, a.route, a.url], [200, 'foobar', '/']);
      assert.equal(a.upstreamHeaders!['x-forwarded-path'], '/foo/bar');
    });
  }

  test('matches against the normalized URI with percent-encoded characters', async () => {
    const a = await send(gw, '/h%65llo');
    assert.deepEqual([a.status, a.route], [200, 'hello']);
    assert.equal(a.upstreamHeaders!['x-forwarded-path'], '/hello');
  });

  test('proxies the normalized URI upstream, with strip_path = true and false', async () => {
    const stripped = await send(gw, '/h%65llo/anything/a/../b');
    assert.deepEqual([stripped.route, stripped.url], ['hello', '/anything/b']);
    const kept = await send(gw, '/anything/./a/../wor%6cd/a/../b');
    assert.deepEqual([kept.route, kept.url], ['world', '/anything/world/b']);
  });

  test('special characters stay encoded on their way upstream', async () => {
    const a = await send(gw, '/anything/world/cat%20and%20dog');
    assert.deepEqual([a.route, a.url], ['world', '/anything/world/cat%20and%20dog']);
  });
});

describe('strip_path', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await gateway(ownServices([{ name: 'xyz', paths: ['/x/y/z', '/z/y/x'], strip_path: true }]));
  });
  after(() => gw?.close());

  test('= true strips subsequent calls to a route with different [paths]', async () => {
    for (const path of ['/x/y/z/get', '/z/y/x/get', '/x/y/z/get', '/x/y/z/get']) {
      assert.equal((await send(gw, path)).url, '/get', path);
    }
  });
});

describe('preserve_host', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await gateway(
      ownServices(
        [
          { name: 'preserved', preserve_host: true, hosts: ['preserved.com', 'preserved.com:123'] },
          { name: 'discarded', preserve_host: false, hosts: ['discarded.com'] },
          { name: 'request', strip_path: false, preserve_host: true, paths: ['/request'] },
        ],
        { preserved: '/request', discarded: '/request' },
      ),
    );
  });
  after(() => gw?.close());

  test('= false (default) sends the service host and its port, not being the default', async () => {
    const a = await send(gw, '/get', { headers: { host: 'discarded.com' } });
    assert.deepEqual([a.route, a.url], ['discarded', '/request/get']);
    assert.equal(a.upstreamHeaders!.host, `127.0.0.1:${up.port}`);
  });

  test('= true forwards the request Host, with its port whether default or not', async () => {
    for (const host of ['preserved.com', 'preserved.com:123', 'preserved.com:80']) {
      const a = await send(gw, '/get', { headers: { host } });
      assert.equal(a.route, 'preserved', host);
      assert.equal(a.upstreamHeaders!.host, host);
    }
  });

  test('= true forwards the request Host even if not matched by [hosts]', async () => {
    const a = await send(gw, '/request', { headers: { host: 'elsewhere.test' } });
    assert.deepEqual([a.route, a.upstreamHeaders!.host], ['request', 'elsewhere.test']);
  });
});

describe('edge-cases', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await gateway(
      ownServices([
        { name: 'root', paths: ['/'], strip_path: true },
        { name: 'foobar', paths: ['/foobar'], strip_path: true },
      ]),
    );
  });
  after(() => gw?.close());

  test('root / [uri] for a catch-all rule', async () => {
    const a = await send(gw, '/get');
    assert.deepEqual([a.status, a.route, a.url], [200, 'root', '/get']);
    const b = await send(gw, '/foobar/get');
    assert.deepEqual([b.status, b.route, b.url], [200, 'foobar', '/get']);
  });
});

describe('[headers]', () => {
  // Kong's cases each insert their own routes and remove them after: here, one gateway reloaded.
  let gw: TestGateway;
  before(async () => {
    gw = await gateway([]);
  });
  after(() => gw?.close());

  async function load(routes: Record<string, unknown>[]): Promise<void> {
    const r = await gw.reload(config(ownServices(routes)));
    assert.equal(r.ok, true, JSON.stringify(r));
  }
  const get = (headers: Record<string, string>) => send(gw, '/', { headers: { host: 'domain.test', ...headers } });

  test('responds 404 if no route matches, with no routes and with one the request misses', async () => {
    for (const routes of [[], [{ name: 'h1', headers: { version: ['v1'] } }]]) {
      await load(routes);
      const a = await send(gw, '/', { headers: { host: 'inexistent.com' } });
      assert.deepEqual([a.status, a.message, a.route], [404, 'no Route matched with those values', undefined]);
    }
  });

  test('matches by header', async () => {
    await load([
      { name: 'h1', headers: { version: ['v1', 'v2'] } },
      { name: 'h2', headers: { version: ['v3'] } },
    ]);
    assert.deepEqual([(await get({ version: 'v1' })).route, (await get({ version: 'v3' })).route], ['h1', 'h2']);
  });

  test('matches headers in a case-insensitive way', async () => {
    await load([
      { name: 'h1', headers: { Version: ['v1', 'v2'] } },
      { name: 'h2', headers: { version: ['V3'] } },
    ]);
    assert.deepEqual([(await get({ version: 'v1' })).route, (await get({ Version: 'v3' })).route], ['h1', 'h2']);
  });

  test('prioritizes Routes with more headers', async () => {
    await load([
      { name: 'h1', headers: { version: ['v1', 'v2'] } },
      { name: 'h2', headers: { version: ['v3'], location: ['us-east'] } },
      { name: 'h3', headers: { version: ['v3'] } },
    ]);
    assert.equal((await get({ version: 'v3', location: 'us-east' })).route, 'h2');
    assert.equal((await get({ version: 'v3' })).route, 'h3');
  });

  test('a route with the same hosts and paths but no headers does not take requests of one with headers', async () => {
    await load([
      { name: 'first', hosts: ['example.test'], paths: ['/test'], headers: { headertest: ['itsatest'] } },
      { name: 'second', hosts: ['example.test'], paths: ['/test'] },
    ]);
    const h = { host: 'example.test' };
    assert.equal((await send(gw, '/test', { headers: { ...h, headertest: 'itsatest' } })).route, 'first');
    assert.equal((await send(gw, '/test', { headers: h })).route, 'second');
    assert.equal((await send(gw, '/test', { headers: { ...h, headertest: 'itsatest' } })).route, 'first');
  });
});

describe('[paths] + [headers]', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await gateway(
      ownServices([
        { name: 'root', strip_path: true, headers: { version: ['v1', 'v2'] }, paths: ['/root'] },
        { name: 'fixture', strip_path: true, headers: { version: ['v1', 'v2'] }, paths: ['/root/fixture'] },
        {
          name: 'root-located',
          strip_path: true,
          headers: { version: ['v1', 'v2'], location: ['us-east'] },
          paths: ['/root'],
        },
      ]),
    );
  });
  after(() => gw?.close());

  test('prioritizes Routes with more headers', async () => {
    const a = await send(gw, '/root/fixture/get', { headers: { version: 'v2', location: 'us-east' } });
    assert.deepEqual([a.route, a.url], ['root-located', '/fixture/get']);
  });

  test('prioritizes longer paths if same number of headers', async () => {
    const a = await send(gw, '/root/fixture/get', { headers: { version: 'v2' } });
    assert.deepEqual([a.route, a.url], ['fixture', '/get']);
  });
});

describe('[paths] + [methods] + [hosts]', () => {
  let gw: TestGateway;
  const routes = [
    {
      methods: ['GET'],
      paths: ['/unrelated/longer/uri/that/should/not/match', '/root/fixture'],
      hosts: ['ahost.test'],
    },
    { methods: ['GET'], paths: ['/root/fixture/get'], hosts: ['ahost.test'] },
    { methods: ['GET'], paths: ['/root/fixture/get'], hosts: ['anotherhost.test'] },
    { methods: ['GET'], paths: ['/root/fixture/get'], hosts: ['onemorehost.test'] },
    { name: 'public-apiv1', paths: ['/rest/devportal/api/v1', '/rest/devportal'], hosts: ['api.local'] },
    { name: 'aux', paths: ['/rest/devportal/aux'], hosts: ['api.local'] },
    { name: 'aux-host', paths: ['/rest/devportal/aux'], hosts: ['test-api.local'] },
    { name: 'aux-host2', paths: ['/rest/devportal/aux'], hosts: ['atest-api.local'] },
    { name: 'devportal-route-2', paths: ['/rest/devportal'], hosts: ['atest-api.local'] },
    {
      name: 'concat_test-public-apiv1',
      paths: ['/concat_test/devportal/api/v1', '/concat_test/devportal'],
      hosts: ['api.local'],
    },
    { name: 'concat_test-aux', paths: ['/concat_test/devportal/aux'], hosts: ['api.local'] },
    { name: 'concat_test-aux-host', paths: ['/concat_test/devportal/aux'], hosts: ['test-api.local'] },
    { name: 'concat_test-aux-host2', paths: ['/concat_test/devportal/aux'], hosts: ['atest-api.local'] },
    { name: 'concat_test-devportal-route-2', paths: ['/concat_test/devportal'], hosts: ['atest-api.local'] },
  ].map((r, i) => ({ name: `route-${i + 1}`, ...r, strip_path: true }));
  before(async () => {
    // Routes 1 to 9 send to /status/201 ... /status/209; the others to the path after their prefix.
    gw = await gateway(
      routes.map((r, i) => ({ name: `svc-${i + 1}`, ...(i < 9 ? { path: `/status/${201 + i}` } : {}), routes: [r] })),
    );
  });
  after(() => gw?.close());

  // Kong runs the next three for its traditional flavor only: traditional_compatible leaves them pending.
  test('every path of every route reaches that route (the regression of Kong #5438)', async () => {
    for (let i = 0; i < 9; i++) {
      for (const path of routes[i]!.paths) {
        const a = await send(gw, path, { headers: { host: routes[i]!.hosts[0]! } });
        assert.deepEqual([a.status, a.route], [201 + i, routes[i]!.name], `${routes[i]!.hosts[0]} ${path}`);
      }
    }
    for (let i = 9; i < 14; i++) {
      for (const path of routes[i]!.paths) {
        const a = await send(gw, `${path}/status/418`, { headers: { host: routes[i]!.hosts[0]! } });
        assert.deepEqual([a.status, a.route], [418, routes[i]!.name], `${routes[i]!.hosts[0]} ${path}`);
      }
    }
    const a = await send(gw, '/rest/devportal', { headers: { host: 'atest-api.local' } });
    assert.deepEqual([a.status, a.route], [209, 'devportal-route-2']);
  });

  test('prioritizes longer URIs', async () => {
    const a = await send(gw, '/root/fixture/get', { headers: { host: 'ahost.test' } });
    assert.deepEqual([a.status, a.route], [202, 'route-2']);
  });

  test('prioritizes host over longer URIs', async () => {
    const a = await send(gw, '/root/fixture/get', { headers: { host: 'anotherhost.test' } });
    assert.deepEqual([a.status, a.route], [203, 'route-3']);
  });

  test('does not match incomplete URIs', async () => {
    const a = await send(gw, '/', { headers: { host: 'ahost.test' } });
    assert.deepEqual([a.status, a.route], [404, undefined]);
  });
});

describe('[paths] + [hosts]', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await gateway(
      ownServices([
        { name: 'short', hosts: ['route.com'], paths: ['/root/fixture', '/root/fixture/non-matching-but-longer'] },
        { name: 'long', hosts: ['route.com'], paths: ['/root/fixture/get'] },
      ]),
    );
  });
  after(() => gw?.close());

  // Kong's traditional flavor only: a route's longer path that does not match lends the route no rank.
  test('prioritizes longer URIs', async () => {
    const a = await send(gw, '/root/fixture/get', { headers: { host: 'route.com' } });
    assert.deepEqual([a.status, a.route, a.url], [200, 'long', '/']);
  });
});

describe('router rebuilds', () => {
  test("when Routes have 'regex_priority = nil'", async () => {
    const gw = await gateway(
      ownServices([
        { name: 'get', methods: ['GET'], regex_priority: 1 },
        { name: 'post', methods: ['POST', 'PUT'], regex_priority: null },
      ]),
    );
    try {
      assert.deepEqual([(await send(gw, '/')).status, (await send(gw, '/', { method: 'PUT' })).route], [200, 'post']);
    } finally {
      await gw.close();
    }
  });

  test("a regex with a PCRE escape Kong's Rust regex takes, then another route: the router still serves", async () => {
    const gw = await gateway([], [{ name: 'delay', paths: ['~/delay/(?<delay>[^\\/]+)$'] }]);
    try {
      const reloaded = await gw.reload(
        config(
          [],
          [
            { name: 'delay', paths: ['~/delay/(?<delay>[^\\/]+)$'] },
            { name: 'foo', paths: ['/foo'] },
          ],
        ),
      );
      assert.equal(reloaded.ok, true, JSON.stringify(reloaded));
      const a = await send(gw, '/foo');
      assert.deepEqual([a.status, a.message, a.route], [503, 'no Service found with those values', 'foo']);
      assert.equal((await send(gw, '/delay/5')).route, 'delay');
    } finally {
      await gw.close();
    }
  });
});
