/**
 * Kong's own proxy-cache specs, as a client and the upstream observe them: the cases of
 * spec/03-plugins/31-proxy-cache/02-access_spec.lua and 05-cache_key_spec.lua at Kong commit
 * 22246ef2 that proxy-cache.test.ts does not already cover. Routes are Kong's `route-N.test`
 * hosts as paths (`/route-N`), with the spec's plugin configs; the upstream answers as the
 * spec's httpbin/mock upstream does on the paths the spec requests. Kong-Debug, the latency
 * headers and purges are deliberate differences (docs/kong-compatibility.md), not checked here.
 */
import assert from 'node:assert/strict';
import { type IncomingMessage, request, type ServerResponse } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { startServiceGateway } from '../../../test/support/gateway.ts';
import {
  type RecordedRequest,
  type RecordingUpstream,
  startRecordingUpstream,
} from '../../../test/support/upstream.ts';
import type { TestGateway } from '../../testing/index.ts';

const JSON_TYPES = { content_type: ['text/plain', 'application/json'] };

/** httpbin's endpoints the spec calls, at the path left once the route's prefix is stripped. */
function httpbin(seen: RecordedRequest, res: ServerResponse): void {
  const u = new URL(seen.url, 'http://x');
  const p = u.pathname;
  const echo = JSON.stringify({ url: seen.url, n: Math.random(), headers: seen.headers });
  const send = (status: number, headers: Record<string, string>, body: string): void => {
    res.writeHead(status, { ...headers, 'content-length': String(Buffer.byteLength(body)) });
    res.end(body);
  };
  const cache = /^\/cache\/(\d+)$/.exec(p);
  if (cache)
    return send(200, { 'content-type': 'application/json', 'cache-control': `public, max-age=${cache[1]}` }, echo);
  const status = /^\/status\/(\d+)$/.exec(p);
  if (status) return send(Number(status[1]), { 'content-type': 'text/html; charset=utf-8' }, '');
  if (p === '/response-headers') {
    const h: Record<string, string> = { 'content-type': 'application/json' };
    for (const [k, v] of u.searchParams) h[k.toLowerCase()] = v;
    return send(200, h, echo);
  }
  if (p === '/xml') return send(200, { 'content-type': 'application/xml' }, `<n>${Math.random()}</n>`);
  if (p.startsWith('/stream/')) {
    // httpbin's /stream/N: N JSON lines, chunked (no Content-Length).
    res.writeHead(200, { 'content-type': 'application/json' });
    for (let i = 0; i < Number(p.slice(8)); i++) res.write(`${JSON.stringify({ id: i, n: Math.random() })}\n`);
    res.end();
    return;
  }
  if (p.includes('-case/')) return send(404, { 'content-type': 'application/json' }, echo);
  return send(200, { 'content-type': 'application/json' }, echo);
}

describe("Kong's proxy-cache access specs (memory strategy)", () => {
  let gw: TestGateway;
  let upstream: RecordingUpstream;
  before(async () => {
    upstream = await startRecordingUpstream(httpbin);
    const route = (n: number, config?: Record<string, unknown>, extra: Record<string, unknown>[] = []) => ({
      name: `route-${n}`,
      paths: [`/route-${n}`],
      plugins: [
        ...(config ? [{ name: 'proxy-cache', config: { strategy: 'memory', ...JSON_TYPES, ...config } }] : []),
        ...extra,
      ],
    });
    const keyAuth = { name: 'key-auth', config: {} };
    gw = await startServiceGateway(
      [
        route(1, {}),
        route(2, {}),
        route(3),
        route(4),
        route(5, {}, [keyAuth]),
        route(6, { cache_ttl: 1 }),
        route(7, { cache_control: true }),
        route(8, { cache_control: true, storage_ttl: 600 }),
        route(9, { cache_ttl: 1, storage_ttl: 60 }),
        route(10, {
          content_type: ['text/html; charset=utf-8', 'application/json'],
          response_code: [200, 417],
          request_method: ['GET', 'HEAD', 'POST'],
        }),
        route(11, { response_code: [200], request_method: ['GET', 'HEAD', 'POST'], vary_headers: ['foo'] }),
        route(12, { response_code: [200], request_method: ['GET', 'HEAD', 'POST'], vary_query_params: ['foo'] }),
        route(13, undefined, [keyAuth]),
        route(14, undefined, [keyAuth]),
        route(15, undefined, [keyAuth]),
        route(17, { content_type: ['*/*'] }),
        route(18, { content_type: ['application/xml; charset=UTF-8'] }),
        route(19, { content_type: ['application/xml;'] }),
        route(20, { response_code: [404], ignore_uri_case: true }),
        route(21, { response_code: [404], ignore_uri_case: false }),
        route(23, { response_headers: { age: true, 'X-Cache-Status': true, 'X-Cache-Key': true } }),
        route(24, {}),
        route(25, { vary_query_params: ['a', 'b', 'c'] }),
        route(26, { vary_query_params: ['a'] }),
        route(27, { vary_headers: ['a', 'b', 'c'] }),
      ],
      {
        url: upstream.url,
        // Kong's "between routes/services": route-16 on a service of its own.
        services: [{ name: 'other', url: upstream.url, routes: [route(16, undefined, [keyAuth])] }],
        extra: {
          // The spec's global plugin, for the routes without their own (3, 4, 13 to 16).
          plugins: [{ name: 'proxy-cache', config: { strategy: 'memory', ...JSON_TYPES } }],
          consumers: [
            { username: 'bob', keyauth_credentials: [{ key: 'bob' }] },
            { username: 'alice', keyauth_credentials: [{ key: 'alice' }] },
          ],
        },
      },
    );
  });
  after(async () => {
    await gw?.close();
    await upstream?.close();
  });

  async function get(path: string, headers: Record<string, string> = {}, method = 'GET', body?: string) {
    const res = await fetch(`${gw.url}${path}`, { method, headers, body, signal: AbortSignal.timeout(5000) });
    const text = await res.text();
    return {
      code: res.status,
      status: res.headers.get('x-cache-status'),
      key: res.headers.get('x-cache-key'),
      age: res.headers.get('age'),
      headers: res.headers,
      text,
    };
  }

  /** A request with headers given as lines, a repeated name on several lines (fetch joins them into one). */
  function getLines(path: string, lines: string[]) {
    return new Promise<{ status: string | undefined; key: string | undefined }>((resolve, reject) => {
      // A header list (node's raw form) replaces the Host node would add: it is given here.
      const headers = ['host', new URL(gw.url).host, ...lines];
      const r = request(`${gw.url}${path}`, { headers }, (res: IncomingMessage) => {
        res.resume();
        res.on('end', () =>
          resolve({ status: res.headers['x-cache-status'] as string, key: res.headers['x-cache-key'] as string }),
        );
      });
      r.on('error', reject);
      r.end();
    });
  }

  test('caches a simple request: Miss then Hit, the same 64-hex key and body, one upstream request', async () => {
    const before = upstream.requests.length;
    const a = await get('/route-1/get');
    const b = await get('/route-1/get');
    assert.deepEqual([a.code, a.status, b.code, b.status], [200, 'Miss', 200, 'Hit']);
    assert.match(a.key!, /^[0-9a-f]{64}$/);
    assert.equal(b.key, a.key);
    assert.equal(b.text, a.text);
    assert.equal(upstream.requests.length, before + 1);
    // Another instance (route-2's) has its own entries.
    const c = await get('/route-2/get');
    const d = await get('/route-2/get');
    assert.deepEqual([c.status, d.status], ['Miss', 'Hit']);
    assert.equal(d.key, c.key);
    assert.notEqual(c.key, a.key);
  });

  test('response_headers on (configured or by default): the Miss has X-Cache-Key and no Age, the Hit has Age', async () => {
    for (const path of ['/route-23/get', '/route-24/get']) {
      const miss = await get(path);
      assert.equal(miss.status, 'Miss', path);
      assert.match(miss.key ?? '', /^[0-9a-f]{64}$/, path);
      assert.equal(miss.age, null, path);
      const hit = await get(path);
      assert.equal(hit.status, 'Hit', path);
      assert.equal(hit.key, miss.key, path);
      assert.match(hit.age ?? '', /^\d+$/, path);
    }
  });

  test('cache_control: max-age, s-maxage or Expires alone make a response cacheable; max-age=0 never does', async () => {
    assert.equal((await get('/route-7/response-headers?Cache-Control=max-age%3D604800')).status, 'Miss');
    assert.equal((await get('/route-7/response-headers?Cache-Control=s-maxage%3D604800')).status, 'Miss');
    const expires = encodeURIComponent(new Date(Date.now() + 5_000_000).toUTCString());
    assert.equal((await get(`/route-7/response-headers?Expires=${expires}`)).status, 'Miss');
    for (let i = 0; i < 2; i++) assert.equal((await get('/route-7/cache/0')).status, 'Bypass');
  });

  test('cache_control: a request min-fresh the entry cannot meet is a Refresh', async () => {
    assert.equal((await get('/route-7/cache/2?fresh')).status, 'Miss');
    assert.equal((await get('/route-7/cache/2?fresh', { 'cache-control': 'min-fresh=30' })).status, 'Refresh');
  });

  test('cache_control: only-if-cached with nothing stored answers 504', async () => {
    const before = upstream.requests.length;
    const r = await get('/route-8/get?not=here', { 'cache-control': 'only-if-cached' });
    assert.equal(r.code, 504);
    assert.equal(upstream.requests.length, before);
  });

  test('TTLs: cache_ttl, storage_ttl, the response max-age, and the request max-age and max-stale', async () => {
    // Each entry is made (Miss, Hit), then one wait past every TTL serves all cases (Kong's spec
    // sleeps 3 s per case, with TTLs of 2 s). [path, request headers before, after, statuses after]
    const cases: [string, Record<string, string>, Record<string, string>, string[]][] = [
      // cache_ttl 1: the entry is gone once expired, so a Miss.
      ['/route-6/get', {}, {}, ['Miss', 'Hit']],
      // cache_ttl 1, kept by storage_ttl 60: still stored but not served, so a Refresh.
      ['/route-9/get', {}, {}, ['Refresh', 'Hit']],
      // cache_control and max-age=1: stored as long as it is fresh.
      ['/route-7/cache/1', {}, {}, ['Miss', 'Hit']],
      // The request's max-age=1 asks for younger than the response's max-age=10 allows.
      ['/route-7/cache/10', { 'cache-control': 'max-age=1' }, { 'cache-control': 'max-age=1' }, ['Refresh']],
      // storage_ttl keeps it past its max-age=1: stale by more than the request's max-stale=1.
      ['/route-8/cache/1', {}, { 'cache-control': 'max-stale=1' }, ['Refresh']],
      // Kept stale by storage_ttl, asked without directives: a Refresh (RFC 9111 4.2.4); Kong's
      // serves it as a Hit (it checks freshness only against the request's directives).
      ['/route-8/cache/1?plain', {}, {}, ['Refresh', 'Hit']],
    ];
    for (const [path, headers] of cases) {
      assert.equal((await get(path, headers)).status, 'Miss', path);
      assert.equal((await get(path, headers)).status, 'Hit', path);
    }
    await new Promise((r) => setTimeout(r, 2200));
    for (const [path, , headers, statuses] of cases) {
      for (const want of statuses) assert.equal((await get(path, headers)).status, want, `${path} after the wait`);
    }
  });

  test('caches a streamed (chunked) response: Miss, then a Hit with the same body', async () => {
    // Kong's Miss goes out chunked as it came (no Content-Length). Here the body is held to be
    // stored (as Kong holds it) and sent with its length: the same bytes, another framing.
    const a = await get('/route-1/stream/3');
    assert.equal(a.status, 'Miss');
    assert.equal(a.text.split('\n').length, 4);
    const b = await get('/route-1/stream/3');
    assert.equal(b.status, 'Hit');
    assert.equal(b.text, a.text);
  });

  test('the same consumer has separate entries on different routes and services', async () => {
    for (const [x, y] of [
      ['/route-13/get', '/route-14/get'],
      ['/route-15/get', '/route-16/get'],
    ]) {
      const a = await get(x!, { apikey: 'bob' });
      const b = await get(y!, { apikey: 'bob' });
      assert.deepEqual([a.code, a.status, b.code, b.status], [200, 'Miss', 200, 'Miss'], `${x} ${y}`);
      assert.notEqual(a.key, b.key);
    }
  });

  test('routes sharing a global plugin each have their own entries', async () => {
    const r3 = await get('/route-3/get');
    const r4 = await get('/route-4/get');
    assert.deepEqual([r3.status, r4.status], ['Miss', 'Miss']);
    assert.match(r3.key!, /^[0-9a-f]{64}$/);
    assert.notEqual(r3.key, r4.key);
  });

  test('request params are part of the key, in any order, valueless ones too', async () => {
    assert.equal((await get('/route-1/get?a=b&b=c')).status, 'Miss');
    assert.equal((await get('/route-1/get?a=c')).status, 'Miss');
    assert.equal((await get('/route-1/get?b=c&a=b')).status, 'Hit');
    assert.equal((await get('/route-1/get?a&b')).status, 'Miss');
    assert.equal((await get('/route-1/get?a&b')).status, 'Hit');
  });

  test('vary_query_params: only the listed ones, missing ones skipped, repeated values in any order', async () => {
    assert.equal((await get('/route-12/get?foo=b&b=c')).status, 'Miss');
    assert.equal((await get('/route-12/get?b=d&foo=b')).status, 'Hit');
    // 05-cache_key_spec: a listed parameter absent from the request adds nothing (a, b, c listed).
    assert.equal((await get('/route-25/get?a=1&a=2&b=2')).status, 'Miss');
    assert.equal((await get('/route-25/get?b=2&a=2&a=1&d=9')).status, 'Hit');
    // ... and a query without any listed parameter keys as no query at all.
    assert.equal((await get('/route-26/get')).status, 'Miss');
    assert.equal((await get('/route-26/get?b=1')).status, 'Hit');
  });

  test('vary_headers: the listed headers are part of the key, others are not', async () => {
    assert.equal((await get('/route-11/get', { foo: 'bar' })).status, 'Miss');
    assert.equal((await get('/route-11/get', { foo: 'bar', other: 'x' })).status, 'Hit');
    assert.equal((await get('/route-11/get', { foo: 'baz' })).status, 'Miss');
    // 05-cache_key_spec: no vary_headers, no header in the key.
    assert.equal((await get('/route-1/headers-free', { foo: '1' })).status, 'Miss');
    assert.equal((await get('/route-1/headers-free', { foo: '2' })).status, 'Hit');
  });

  test('vary_headers: a header sent on several lines keys on its values sorted, missing ones skipped', async () => {
    const a = await getLines('/route-27/get', ['a', '2', 'a', '1', 'b', '2']);
    const b = await getLines('/route-27/get', ['b', '2', 'a', '1', 'a', '2']);
    assert.deepEqual([a.status, b.status], ['Miss', 'Hit']);
    assert.equal(b.key, a.key);
  });

  test('an unauthenticated request to a key-auth route is refused before the cache: no X-Cache-Status', async () => {
    const r = await get('/route-5/get');
    assert.equal(r.code, 401);
    assert.equal(r.status, null);
  });

  test('authenticated routes keep a separate cache per consumer', async () => {
    const bob = await get('/route-5/get', { apikey: 'bob' });
    assert.equal(bob.status, 'Miss');
    assert.equal((await get('/route-5/get', { apikey: 'bob' })).status, 'Hit');
    const alice = await get('/route-5/get', { apikey: 'alice' });
    assert.equal(alice.status, 'Miss');
    assert.notEqual(alice.key, bob.key);
    assert.equal((await get('/route-5/get', { apikey: 'alice' })).status, 'Hit');
  });

  test('bypasses uncacheable requests and responses: POST, status 418, application/xml', async () => {
    const post = await get('/route-1/post', { 'content-type': 'application/json' }, 'POST', '{"foo":"bar"}');
    assert.deepEqual([post.code, post.status], [200, 'Bypass']);
    const teapot = await get('/route-1/status/418');
    assert.deepEqual([teapot.code, teapot.status], [418, 'Bypass']);
    const xml = await get('/route-1/xml');
    assert.deepEqual([xml.code, xml.status], [200, 'Bypass']);
  });

  test('caches non-default request methods (POST) and response statuses (417) when listed', async () => {
    const before = upstream.requests.length;
    for (const want of ['Miss', 'Hit']) {
      const r = await get('/route-10/post', { 'content-type': 'application/json' }, 'POST', '{"foo":"bar"}');
      assert.deepEqual([r.code, r.status], [200, want]);
    }
    for (const want of ['Miss', 'Hit']) {
      const r = await get('/route-10/status/417');
      assert.deepEqual([r.code, r.status], [417, want]);
    }
    assert.equal(upstream.requests.length, before + 2);
  });

  test("content_type: */* caches any type; a listed parameter must be the response's", async () => {
    for (const want of ['Miss', 'Hit']) {
      const r = await get('/route-17/xml');
      assert.deepEqual([r.headers.get('content-type'), r.status], ['application/xml', want]);
    }
    const plain = await get('/route-18/xml');
    assert.deepEqual([plain.headers.get('content-type'), plain.status], ['application/xml', 'Bypass']);
    const stray = await get('/route-18/response-headers?Content-Type=application/xml;');
    assert.deepEqual(
      [stray.code, stray.headers.get('content-type'), stray.status],
      [200, 'application/xml;', 'Bypass'],
    );
  });

  test('content_type: an entry with a stray ";" (application/xml;) is read without it (Kong: matches nothing)', async () => {
    // A deliberate difference (docs/plugins/proxy-cache.md): Kong's media type parser refuses the
    // entry and its spec expects a Bypass; the entry names application/xml, which is cached here.
    const r = await get('/route-19/xml');
    assert.deepEqual([r.code, r.headers.get('content-type'), r.status], [200, 'application/xml', 'Miss']);
  });

  test('ignore_uri_case: paths differing in case share an entry; without it they do not', async () => {
    const a = await get('/route-20/ignore-case/kong');
    const b = await get('/route-20/ignore-case/KONG');
    assert.deepEqual([a.code, a.status, b.code, b.status], [404, 'Miss', 404, 'Hit']);
    assert.equal(b.key, a.key);
    assert.equal(b.text, a.text);
    const c = await get('/route-21/acknowledge-case/kong');
    const d = await get('/route-21/acknowledge-case/KONG');
    assert.deepEqual([c.code, c.status, d.code, d.status], [404, 'Miss', 404, 'Miss']);
    assert.notEqual(d.key, c.key);
  });
});
