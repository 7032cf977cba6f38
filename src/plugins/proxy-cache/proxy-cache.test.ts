import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { startServiceGateway } from '../../../test/support/gateway.ts';
import { rawRequest } from '../../../test/support/raw.ts';
import { type RecordingUpstream, startRecordingUpstream } from '../../../test/support/upstream.ts';
import type { TestGateway } from '../../testing/index.ts';
import plugin from './index.ts';

/** Resolved by the test that streams: the upstream then ends its slow body. */
let releaseStream!: () => void;
const release = new Promise<void>((resolve) => {
  releaseStream = resolve;
});

/** Upstream answers: the path picks the headers; the body counts requests, so a cached body shows. */
function respond(count: () => number) {
  return (seen: { url: string; headers: Record<string, unknown> }, res: import('node:http').ServerResponse) => {
    const u = new URL(seen.url, 'http://x');
    const p = u.pathname;
    const h: Record<string, string> = { 'content-type': 'application/json' };
    if (p.includes('no-store')) h['cache-control'] = 'no-store';
    if (p.includes('private')) h['cache-control'] = 'private, max-age=60';
    if (p.includes('public')) h['cache-control'] = 'public, max-age=60';
    if (p.includes('stale')) h['cache-control'] = 'max-age=0';
    if (p.includes('aged')) {
      h['cache-control'] = 'max-age=60';
      h.age = '50';
    }
    if (p.includes('lastmod')) h['last-modified'] = new Date(Date.now() - 86400_000).toUTCString();
    if (p.includes('immutable')) h['cache-control'] = 'immutable';
    if (p.includes('html')) h['content-type'] = 'text/html';
    if (p.includes('charset')) h['content-type'] = 'application/json; charset=utf-8';
    if (p.includes('cookie')) h['set-cookie'] = 'sid=secret';
    if (p.includes('vary')) h.vary = 'Accept-Language';
    if (p.includes('vary-star')) h.vary = '*';
    if (p.includes('quota')) h['x-kong-limit'] = 'videos=4';
    if (p.includes('streaming')) {
      // More than the route's max_body_bytes at once, then the rest only when the test says so.
      res.writeHead(200, h);
      res.write('x'.repeat(4096));
      release.then(() => res.end('end'));
      return;
    }
    if (p.includes('spelled')) {
      // Names in the upstream's own case, one of them in an unusual one.
      const body = JSON.stringify({ n: count() });
      const head = ['Content-Type', 'application/json', 'X-Custom-Thing', 'a', 'x-lower', 'b', 'ETAG', '"v1"'];
      res.writeHead(200, [...head, 'Content-Length', String(body.length)] as unknown as Record<string, string>);
      res.end(body);
      return;
    }
    if (p.includes('announced-large')) {
      const body = JSON.stringify({ n: count(), pad: 'x'.repeat(4096) });
      res.writeHead(200, { ...h, 'content-length': String(body.length) });
      res.end(body);
      return;
    }
    if (p.includes('bigjson')) {
      res.writeHead(200, h);
      res.end(JSON.stringify({ n: count(), pad: 'x'.repeat(4096) }));
      return;
    }
    const status = p.includes('teapot') ? 418 : p.includes('refused') ? 417 : 200;
    const body = JSON.stringify({ n: count(), lang: seen.headers['accept-language'] ?? null });
    // Announced for HEAD too, as a server answering HEAD like GET does (unless the path says not).
    if (!p.includes('unsized')) h['content-length'] = String(Buffer.byteLength(body));
    res.writeHead(status, h);
    res.end(body);
  };
}

describe('proxy-cache (memory)', () => {
  let gw: TestGateway;
  let upstream: RecordingUpstream;
  before(async () => {
    let n = 0;
    upstream = await startRecordingUpstream(respond(() => ++n));
    gw = await startServiceGateway(
      [
        { name: 'c', paths: ['/c'], plugins: [{ name: 'proxy-cache', config: { strategy: 'memory' } }] },
        {
          name: 'cc',
          paths: ['/cc'],
          plugins: [{ name: 'proxy-cache', config: { strategy: 'memory', cache_control: true } }],
        },
        {
          name: 'params',
          paths: ['/params'],
          plugins: [
            {
              name: 'proxy-cache',
              config: { strategy: 'memory', vary_query_params: ['page'], vary_headers: ['X-Tenant'] },
            },
          ],
        },
        {
          name: 'underscored',
          paths: ['/underscored'],
          plugins: [{ name: 'proxy-cache', config: { strategy: 'memory', vary_headers: ['X_Tenant'] } }],
        },
        {
          name: 'quota',
          paths: ['/quota'],
          plugins: [
            { name: 'proxy-cache', config: { strategy: 'memory' } },
            { name: 'response-ratelimiting', config: { limits: { videos: { minute: 10 } }, limit_by: 'ip' } },
          ],
        },
        {
          name: 'capped',
          paths: ['/capped'],
          plugins: [{ name: 'proxy-cache', config: { strategy: 'memory', memory: { max_body_bytes: 1024 } } }],
        },
        {
          name: 'stamped',
          paths: ['/stamped'],
          plugins: [
            { name: 'proxy-cache', config: { strategy: 'memory', memory: { max_body_bytes: 1024 } } },
            { name: 'response-transformer', config: { add: { json: ['stamped:yes'] } } },
          ],
        },
        {
          // The tenant reaches the upstream only through request-transformer (priority 801, before this).
          name: 'tenant-query',
          paths: ['/tenant-query'],
          plugins: [
            { name: 'request-transformer', config: { add: { querystring: ['tenant:$(headers.x_org)'] } } },
            { name: 'proxy-cache', config: { strategy: 'memory' } },
          ],
        },
        {
          name: 'tenant-header',
          paths: ['/tenant-header'],
          plugins: [
            { name: 'request-transformer', config: { rename: { headers: ['x-org:x-tenant'] } } },
            { name: 'proxy-cache', config: { strategy: 'memory', vary_headers: ['x-tenant'] } },
          ],
        },
        {
          name: 'tight',
          paths: ['/tight'],
          plugins: [
            {
              name: 'proxy-cache',
              config: { strategy: 'memory', memory: { dictionary_name: 'tight', max_bytes: 50000 } },
            },
          ],
        },
        {
          name: 'quiet',
          paths: ['/quiet'],
          plugins: [
            {
              name: 'proxy-cache',
              config: {
                strategy: 'memory',
                response_headers: { age: false, 'X-Cache-Status': false, 'X-Cache-Key': false },
              },
            },
          ],
        },
        {
          name: 'ccwide',
          paths: ['/ccwide'],
          plugins: [
            {
              name: 'proxy-cache',
              config: { strategy: 'memory', cache_control: true, response_code: [200, 417], request_method: ['PUT'] },
            },
          ],
        },
        {
          name: 'any',
          paths: ['/any'],
          plugins: [{ name: 'proxy-cache', config: { strategy: 'memory', content_type: ['*'] } }],
        },
        {
          name: 'kept',
          paths: ['/kept'],
          plugins: [{ name: 'proxy-cache', config: { strategy: 'memory', cache_ttl: 1, storage_ttl: 0 } }],
        },
        {
          name: 'small',
          paths: ['/small'],
          plugins: [
            {
              name: 'proxy-cache',
              config: { strategy: 'memory', memory: { dictionary_name: 'small', max_entries: 2 } },
            },
          ],
        },
      ],
      { url: upstream.url },
    );
  });
  after(async () => {
    await gw?.close();
    await upstream?.close();
  });

  async function get(path: string, headers: Record<string, string> = {}, method = 'GET') {
    const res = await fetch(`${gw.url}${path}`, { method, headers, signal: AbortSignal.timeout(5000) });
    const text = await res.text();
    return { res, status: res.headers.get('x-cache-status'), key: res.headers.get('x-cache-key'), text };
  }

  test("Kong's priority (100)", () => assert.equal(plugin.priority, 100));

  test('Miss, then Hit for the same GET, with the same key and body; the upstream is called once', async () => {
    const before = upstream.requests.length;
    const a = await get('/c/item?x=1');
    const b = await get('/c/item?x=1');
    assert.equal(a.status, 'Miss');
    assert.equal(b.status, 'Hit');
    assert.match(a.key!, /^[0-9a-f]{64}$/);
    assert.equal(b.key, a.key);
    assert.equal(b.text, a.text);
    assert.equal(b.res.headers.get('content-type'), 'application/json');
    assert.ok(Number(b.res.headers.get('age')) >= 0);
    assert.equal(upstream.requests.length, before + 1);
    // query parameters are part of the key by default, in any order
    assert.equal((await get('/c/item?x=2')).status, 'Miss');
    const c = await get('/c/item?y=1&x=1');
    const d = await get('/c/item?x=1&y=1');
    assert.equal(c.status, 'Miss');
    assert.equal(d.status, 'Hit');
  });

  test('the key holds the query and vary_headers the upstream gets, after earlier plugins changed them (Kong reads them so)', async () => {
    for (const path of ['/tenant-query/data', '/tenant-header/data']) {
      const acme = await get(path, { 'x-org': 'acme' });
      const other = await get(path, { 'x-org': 'other' });
      assert.equal(acme.status, 'Miss', path);
      assert.equal(other.status, 'Miss', `${path}: another tenant's request is not served acme's answer`);
      assert.notEqual(other.key, acme.key, path);
      assert.equal((await get(path, { 'x-org': 'acme' })).status, 'Hit', path);
    }
  });

  test('cache_control: only s-maxage, max-age or Expires give a lifetime, as in Kong (no Last-Modified heuristic)', async () => {
    // Kong's calculate_resource_ttl: no explicit lifetime is a TTL of 0, not cacheable.
    for (const path of ['/cc/lastmod', '/cc/immutable']) {
      assert.equal((await get(path)).status, 'Bypass', path);
      assert.equal((await get(path)).status, 'Bypass', `${path}: not stored`);
    }
  });

  test('query strings that only join alike are different entries (no poisoning through : , = in values)', async () => {
    assert.equal((await get('/c/poison?a=1%3Ab%3D2')).status, 'Miss');
    assert.equal((await get('/c/poison?a=1&b=2')).status, 'Miss');
    assert.equal((await get('/c/poison?a=1,2')).status, 'Miss');
    assert.equal((await get('/c/poison?a=1&a=2')).status, 'Miss');
    assert.equal((await get('/c/poison?a=2&a=1')).status, 'Hit');
  });

  test("HEAD answers are entries of their own (Kong's key holds the method), with the upstream's Content-Length", async () => {
    const before = upstream.requests.length;
    const a = await get('/c/head-item', {}, 'HEAD');
    const b = await get('/c/head-item', {}, 'HEAD');
    assert.equal(a.status, 'Miss');
    assert.equal(b.status, 'Hit');
    assert.equal(upstream.requests.length, before + 1);
    const length = a.res.headers.get('content-length');
    assert.ok(Number(length) > 0, String(length));
    assert.equal(b.res.headers.get('content-length'), length);
    assert.equal(b.res.headers.get('content-type'), 'application/json');
    assert.equal(b.text, '');
    // The GET of the same resource is another entry.
    const get1 = await get('/c/head-item');
    assert.equal(get1.status, 'Miss');
    assert.equal(get1.res.headers.get('content-length'), String(Buffer.byteLength(get1.text)));
    assert.notEqual(get1.key, b.key);
  });

  test("a Hit does not tell one client another's remaining quota (Kong drops ratelimit-remaining headers)", async () => {
    const a = await get('/quota/quota-item');
    assert.equal(a.status, 'Miss');
    assert.equal(a.res.headers.get('x-ratelimit-remaining-videos-minute'), '6');
    // Another client address: its own quota is untouched.
    const b = await new Promise<import('node:http').IncomingMessage>((resolve, reject) => {
      const r = request(`${gw.url}/quota/quota-item`, { localAddress: '127.0.0.2' }, resolve);
      r.on('error', reject);
      r.end();
    });
    b.resume();
    assert.equal(b.headers['x-cache-status'], 'Hit');
    // Not a's stored 6: response-ratelimiting's header filter gives b its own quota, which a Hit
    // does not spend (Kong's header filter runs on the cache's answer too).
    assert.equal(b.headers['x-ratelimit-remaining-videos-minute'], '10');
    assert.equal(b.headers['x-ratelimit-limit-videos-minute'], '10');
  });

  test('a body past memory.max_body_bytes streams on without waiting for its end, and is not stored', async () => {
    // Headers and the first bytes arrive while the upstream is still sending.
    const res = await fetch(`${gw.url}/capped/streaming`, { signal: AbortSignal.timeout(3000) });
    assert.equal(res.headers.get('x-cache-status'), 'Miss');
    const reader = res.body!.getReader();
    let got = 0;
    while (got < 4096) got += (await reader.read()).value!.length;
    releaseStream();
    while (!(await reader.read()).done);
    assert.equal((await get('/capped/streaming')).status, 'Miss');
  });

  test('a body announced past memory.max_body_bytes is a Bypass: it will not be stored, and it is not held', async () => {
    const before = upstream.requests.length;
    for (let i = 0; i < 2; i++) {
      const r = await get('/capped/announced-large');
      assert.equal(r.status, 'Bypass');
      assert.equal(r.res.headers.get('content-length'), String(r.text.length));
    }
    assert.equal(upstream.requests.length, before + 2);
  });

  test("another plugin's body rewrite keeps its own limit: applied to a body too large to cache", async () => {
    const a = await get('/stamped/bigjson');
    const b = await get('/stamped/bigjson');
    assert.equal(a.status, 'Miss');
    assert.equal(b.status, 'Miss');
    assert.equal(JSON.parse(b.text).stamped, 'yes');
    assert.notEqual(JSON.parse(b.text).n, JSON.parse(a.text).n);
  });

  test('a HEAD answer without Content-Length is not stored: a Hit would announce a length of 0', async () => {
    const before = upstream.requests.length;
    for (let i = 0; i < 2; i++) {
      const r = await get('/c/unsized', {}, 'HEAD');
      assert.equal(r.res.headers.get('content-length'), null);
      assert.notEqual(r.status, 'Hit');
    }
    assert.equal(upstream.requests.length, before + 2);
  });

  test('never caches a response that says no-store or private, or sets a cookie', async () => {
    for (const path of ['/c/no-store', '/c/private', '/c/cookie', '/c/vary-star']) {
      const before = upstream.requests.length;
      assert.equal((await get(path)).status, 'Bypass', path);
      assert.equal((await get(path)).status, 'Bypass', path);
      assert.equal(upstream.requests.length, before + 2, path);
    }
  });

  test('content types, statuses and methods outside the config bypass', async () => {
    assert.equal((await get('/c/html')).status, 'Bypass');
    // Kong 3: a configured type without parameters matches the type whatever its parameters
    assert.equal((await get('/c/charset')).status, 'Miss');
    assert.equal((await get('/c/teapot')).status, 'Bypass');
    const post = await get('/c/item?x=1', { 'content-type': 'text/plain' }, 'POST');
    assert.equal(post.status, 'Bypass');
    assert.equal(post.key, null);
  });

  test('a response that varies on a request header is served only to requests with the same value', async () => {
    const a = await get('/c/vary', { 'accept-language': 'en' });
    const b = await get('/c/vary', { 'accept-language': 'en' });
    const c = await get('/c/vary', { 'accept-language': 'fr' });
    assert.equal(a.status, 'Miss');
    assert.equal(b.status, 'Hit');
    assert.equal(c.status, 'Miss');
    assert.equal(JSON.parse(c.text).lang, 'fr');
    // The same with cache_control: another variant is a Miss, not a Refresh of a stale entry.
    assert.equal((await get('/cc/public-vary', { 'accept-language': 'en' })).status, 'Miss');
    assert.equal((await get('/cc/public-vary', { 'accept-language': 'en' })).status, 'Hit');
    assert.equal((await get('/cc/public-vary', { 'accept-language': 'fr' })).status, 'Miss');
  });

  test('vary_query_params and vary_headers choose what the key holds', async () => {
    const a = await get('/params/p?page=1&utm=a', { 'x-tenant': 't1' });
    const b = await get('/params/p?utm=b&page=1', { 'x-tenant': 't1' });
    const c = await get('/params/p?page=1', { 'x-tenant': 't2' });
    assert.equal(a.status, 'Miss');
    assert.equal(b.status, 'Hit');
    assert.equal(c.status, 'Miss');
  });

  test('a keyed parameter after 100 others is still keyed: padding cannot fill the entry of the bare URL', async () => {
    const padding = Array.from({ length: 100 }, (_, i) => `pad${i}=x`).join('&');
    const padded = await get(`/params/padded?${padding}&page=666`);
    assert.equal(padded.status, 'Miss');
    const bare = await get('/params/padded');
    assert.equal(bare.status, 'Miss', 'the answer for page=666 is not served for the URL without page');
    assert.notEqual(bare.key, padded.key);
    assert.equal((await get('/params/padded?page=666')).key, padded.key, 'the padding itself is not keyed');
  });

  test("the request header values a response's Vary keeps count against memory.max_bytes", async () => {
    // Each entry holds a 10 KB Accept-Language value (the upstream varies on it) besides its body,
    // which echoes that value: about 20 KB each, so two fit in 50000 bytes, and not four.
    const big = { 'accept-language': 'x'.repeat(10000) };
    for (const n of [1, 2, 3]) assert.equal((await get(`/tight/vary?n=${n}`, big)).status, 'Miss');
    assert.equal((await get('/tight/vary?n=3', big)).status, 'Hit');
    assert.equal((await get('/tight/vary?n=1', big)).status, 'Miss', 'the least recently used entry made room');
  });

  test('a vary_headers name written with _ keys on the header written with - (Kong reads X_Tenant as X-Tenant)', async () => {
    assert.equal((await get('/underscored/p', { 'x-tenant': 't1' })).status, 'Miss');
    assert.equal((await get('/underscored/p', { 'x-tenant': 't1' })).status, 'Hit');
    // Another tenant's request is another entry, never served the first tenant's answer.
    const other = await get('/underscored/p', { 'x-tenant': 't2' });
    assert.equal(other.status, 'Miss');
  });

  test("a Hit's head spells the names on HTTP/1.1 as the upstream did (Kong replays the stored names)", async () => {
    const host = new URL(gw.url).host;
    const names = async (method: string) => {
      const res = await rawRequest(
        gw.url,
        `${method} /c/spelled HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`,
      );
      const lines = res.raw.slice(0, res.raw.indexOf('\r\n\r\n')).split('\r\n').slice(1);
      return { names: lines.map((l) => l.slice(0, l.indexOf(':'))), status: res.headers['x-cache-status'] };
    };
    for (const method of ['GET', 'HEAD']) {
      const miss = await names(method);
      const hit = await names(method);
      assert.deepEqual([miss.status, hit.status], ['Miss', 'Hit'], method);
      for (const name of ['Content-Type', 'X-Custom-Thing', 'x-lower', 'ETAG', 'Content-Length'])
        assert.ok(hit.names.includes(name), `${method}: ${name} in ${hit.names.join(', ')}`);
      assert.ok(!hit.names.includes('content-type') && !hit.names.includes('x-custom-thing'), hit.names.join(', '));
    }
  });

  test('response_headers off holds for every request: a Kong-Debug header does not show them (Kong shows them)', async () => {
    const a = await get('/quiet/item', { 'kong-debug': '1' });
    const b = await get('/quiet/item', { 'kong-debug': '1' });
    assert.equal(b.text, a.text, 'served from the cache');
    for (const r of [a, b]) {
      for (const name of ['x-cache-status', 'x-cache-key', 'age']) assert.equal(r.res.headers.get(name), null, name);
    }
  });

  test('cache_control: freshness comes from the response and the request', async () => {
    assert.equal((await get('/cc/json')).status, 'Bypass', 'no Cache-Control: nothing makes it fresh');
    assert.equal((await get('/cc/stale')).status, 'Bypass');
    assert.equal((await get('/cc/public')).status, 'Miss');
    assert.equal((await get('/cc/public')).status, 'Hit');
    assert.equal((await get('/cc/public', { 'cache-control': 'no-cache' })).status, 'Bypass');
    assert.equal((await get('/cc/public', { authorization: 'Bearer x' })).status, 'Bypass');
    assert.equal((await get('/cc/public', { 'cache-control': 'max-age=0' })).status, 'Refresh');
    const only = await fetch(`${gw.url}/cc/public-never-stored`, {
      headers: { 'cache-control': 'only-if-cached' },
      signal: AbortSignal.timeout(5000),
    });
    assert.equal(only.status, 504);
    // As Kong's: the key it looked up, no X-Cache-Status.
    assert.match(only.headers.get('x-cache-key') ?? '', /^[0-9a-f]{64}$/);
    assert.equal(only.headers.get('x-cache-status'), null);
  });

  test('cache_control: the request methods and statuses the config lists are stored, as in Kong (PUT, 417)', async () => {
    const before = upstream.requests.length;
    assert.equal((await get('/ccwide/public-put', {}, 'PUT')).status, 'Miss');
    assert.equal((await get('/ccwide/public-put', {}, 'PUT')).status, 'Hit');
    const refused = await get('/ccwide/public-refused', {}, 'PUT');
    assert.equal(refused.res.status, 417);
    assert.equal(refused.status, 'Miss');
    const again = await get('/ccwide/public-refused', {}, 'PUT');
    assert.equal(again.res.status, 417);
    assert.equal(again.status, 'Hit');
    assert.equal(upstream.requests.length, before + 2);
    // Still RFC 9111: a request's max-age=0 asks for a fresh answer.
    assert.equal((await get('/ccwide/public-put', { 'cache-control': 'max-age=0' }, 'PUT')).status, 'Refresh');
  });

  test("cache_control: a Hit's Age counts the Age the upstream's response came with (RFC 9111 4.2.3)", async () => {
    assert.equal((await get('/cc/aged')).status, 'Miss');
    const hit = await get('/cc/aged');
    assert.equal(hit.status, 'Hit');
    const age = Number(hit.res.headers.get('age'));
    assert.ok(age >= 50 && age < 55, `Age: ${age}`);
  });

  test('memory is bounded: the least recently used entry goes first', async () => {
    assert.equal((await get('/small/1')).status, 'Miss');
    assert.equal((await get('/small/2')).status, 'Miss');
    assert.equal((await get('/small/1')).status, 'Hit');
    assert.equal((await get('/small/3')).status, 'Miss');
    assert.equal((await get('/small/2')).status, 'Miss', 'evicted');
    assert.equal((await get('/small/1')).status, 'Miss', 'evicted by 2 coming back');
  });

  test("content_type '*' is Kong's */*: any media type is cached", async () => {
    assert.equal((await get('/any/html')).status, 'Miss');
    const hit = await get('/any/html');
    assert.equal(hit.status, 'Hit');
    // Labelled on the way out as every unlabelled text answer is (nginx_http_charset).
    assert.equal(hit.res.headers.get('content-type'), 'text/html; charset=UTF-8');
  });

  test('storage_ttl 0 keeps an entry until evicted, as a Kong shared dict entry set with 0: past cache_ttl it is a Refresh', async () => {
    assert.equal((await get('/kept/item')).status, 'Miss');
    assert.equal((await get('/kept/item')).status, 'Hit');
    await new Promise((r) => setTimeout(r, 1100));
    assert.equal((await get('/kept/item')).status, 'Refresh');
    assert.equal((await get('/kept/item')).status, 'Hit');
  });

  test('an unknown strategy is refused (redis is Kong Enterprise)', async () => {
    await assert.rejects(
      startServiceGateway([{ paths: ['/x'], plugins: [{ name: 'proxy-cache', config: { strategy: 'redis' } }] }]),
    );
  });
});
