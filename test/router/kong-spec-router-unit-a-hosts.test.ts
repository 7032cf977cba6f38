/**
 * Kong's router unit spec, spec/01-unit/08-router_spec.lua at Kong commit 22246ef2, its `select()`
 * cases on hosts and headers: `[wildcard host]`, `[wildcard host] + [uri regex]`, `[IPv6 literal
 * host]` (Kong's traditional flavor only) and `[headers]`, through a real gateway as in
 * kong-spec-router-unit-a.test.ts (which says how Kong's `select()` calls become requests).
 *
 * Kong's cases on an implicit port (`route.org` sent without one matching `route.*:80`, or
 * `route.*:443` over https) are its traditional flavor's only, and the difference
 * docs/kong-differences.md lists ("A `Host` header without a port matches no host value with a
 * port"): they assert Tollgate's answer with that reason.
 */

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startGateway, type TestGateway } from '../../src/testing/index.ts';
import { serviceConfig } from '../support/gateway.ts';
import { send } from '../support/kong-mock.ts';
import { validateEntities } from '../support/validate.ts';
import { matchedRoute } from './matched-route.ts';

type Route = Record<string, unknown>;
let gw: TestGateway;

const config = (routes: Route[]) => serviceConfig(routes, { extra: { _tollgate: { debug_header: true } } });

/** Reloads the gateway on `routes`, named rN after their place in Kong's table. */
async function load(routes: Route[]): Promise<void> {
  const r = await gw.reload(config(routes.map((route, i) => ({ name: `r${i + 1}`, ...route }))));
  assert.ok(r.ok, JSON.stringify(r.errors));
}

/** The route a request matched (its name), or null for Kong's 404. */
const matched = (method: string, path: string, headers: Record<string, string | string[]> = {}) =>
  matchedRoute(gw, method, path, headers);

before(async () => {
  gw = await startGateway({ config: config([{ name: 'boot', paths: ['/boot'] }]) });
});
after(() => gw?.close());

describe('[wildcard host]', () => {
  const WILD = [{ hosts: ['*.route.com'] }, { hosts: ['route.*'] }];

  test('matches leftmost and rightmost wildcards, on any port in the request', async () => {
    await load(WILD);
    assert.equal(await matched('GET', '/', { host: 'foo.route.com' }), 'r1');
    assert.equal(await matched('GET', '/', { host: 'route.org' }), 'r2');
    assert.equal(await matched('GET', '/', { host: 'route.org:123' }), 'r2');
    assert.equal(await matched('GET', '/', { host: 'foo.route.com:123' }), 'r1');
  });

  test('matches port-specific routes, and prefers them', async () => {
    await load([...WILD, { hosts: ['*.route.net:123'] }, { hosts: ['route.*:123'] }]);
    assert.equal(await matched('GET', '/', { host: 'foo.route.net:123' }), 'r3');
    assert.equal(await matched('GET', '/', { host: 'foo.route.net:456' }), null);
    assert.equal(await matched('GET', '/', { host: 'route.org:123' }), 'r4');
  });

  test('prefers port-specific even for the http and https default ports, when the Host names it', async () => {
    for (const port of ['80', '443']) {
      await load([...WILD, { hosts: [`route.*:${port}`] }]);
      assert.equal(await matched('GET', '/', { host: 'route.org:123' }), 'r2', 'non-port matches any');
      assert.equal(await matched('GET', '/', { host: `route.org:${port}` }), 'r3');
    }
    // Kong's traditional flavor also gives r3 to `Host: route.org` (port 80 implied); its default,
    // traditional_compatible, and Tollgate do not: a value with a port needs the Host to name it.
    assert.equal(await matched('GET', '/', { host: 'route.org' }), 'r2');
  });

  test('does not take precedence over a plain host', async () => {
    await load([{ hosts: ['plain.route.com'] }, ...WILD, { hosts: ['route.com'] }]);
    assert.equal(await matched('GET', '/', { host: 'route.com' }), 'r4');
    assert.equal(await matched('GET', '/', { host: 'route.org' }), 'r3');
    assert.equal(await matched('GET', '/', { host: 'plain.route.com' }), 'r1');
    assert.equal(await matched('GET', '/', { host: 'foo.route.com' }), 'r2');
  });

  test('[wildcard host + path] and [plain host + path] each match their own paths', async () => {
    await load([
      { hosts: ['*.route.com'], paths: ['/path1'] },
      { hosts: ['plain.route.com'], paths: ['/path2'] },
    ]);
    assert.equal(await matched('GET', '/path1', { host: 'plain.route.com' }), 'r1');
    assert.equal(await matched('GET', '/path2', { host: 'plain.route.com' }), 'r2');
  });

  test('submatch_weight [wildcard host port] > [wildcard host]', async () => {
    await load([{ hosts: ['route.*'] }, { hosts: ['route.*:80', 'route.com.*'] }]);
    assert.equal(await matched('GET', '/', { host: 'route.org:80' }), 'r2');
  });

  test('matches a [wildcard host + port] even if a [wildcard host] matched', async () => {
    await load([{ hosts: ['route.*'] }, { hosts: ['route.*:123'] }, { hosts: ['route.*:80'] }]);
    assert.equal(await matched('GET', '/', { host: 'route.org:123' }), 'r2');
    // Kong's traditional flavor only: `route.org` as port 80, r3. See the header comment.
    assert.equal(await matched('GET', '/', { host: 'route.org' }), 'r1');
  });

  test('matches [wildcard/plain + uri + method]', async () => {
    await load([...WILD, { hosts: ['*.domain.com', 'example.com'], paths: ['/path'], methods: ['GET', 'PUT'] }]);
    assert.equal(await matched('POST', '/path', { host: 'foo.domain.com' }), null);
    assert.equal(await matched('GET', '/path', { host: 'foo.domain.com' }), 'r3');
    // Kong's case sends TRACE, which nginx answers 405 before routing (as Tollgate does): PUT here.
    assert.equal(await matched('PUT', '/path', { host: 'example.com' }), 'r3');
  });

  test('[wildcard host] + [uri regex]', async () => {
    await load([
      { hosts: ['*.example.com'], paths: ['~/users/\\d+/profile'] },
      { hosts: ['*.example.com'], paths: ['/users'] },
    ]);
    assert.equal(await matched('GET', '/users/123/profile', { host: 'test.example.com' }), 'r1');
    assert.equal(await matched('GET', '/users', { host: 'test.example.com' }), 'r2');
  });
});

// Kong's schema loads `::11` unbracketed (kong/tools/ip.lua: more than one colon is IPv6); its
// traditional router matches it as `[::11]`, on any port, as Tollgate does.
describe('[IPv6 literal host] (Kong: traditional flavor only)', () => {
  before(() =>
    load([
      { hosts: ['::11', '[::12]'] },
      { hosts: ['::21', '[::22]'] },
      { hosts: ['[::31]:321', '[::32]:321'] },
      { hosts: ['[::21]:321', '[::22]:321'] },
    ]),
  );

  test("the hosts load as Kong's schema loads them; an invalid unbracketed IPv6 address is refused in Kong's words", async () => {
    const route = (hosts: string) => `services:\n  - { url: 'echo://', routes: [{ hosts: [${hosts}] }] }\n`;
    assert.equal((await validateEntities(route("'::11', '[::12]', '[::31]:321', 'fe80::1:2'"))).code, 0);
    const bad = await validateEntities(route("'::zz'"));
    assert.equal(bad.code, 1);
    assert.match(bad.out, /invalid ipv6 address: ::zz/);
  });

  test('a no-port route is any-port: plain, with brackets, with an explicit port', async () => {
    // Kong's `select("GET", "/", "::11")` is no request a client can send: nginx answers a Host
    // without brackets around an IPv6 address 400 ("client sent invalid host header"), as Tollgate.
    const bare = await send(gw.url, 'GET', '/', { 'kong-debug': '1', host: '::11' });
    assert.deepEqual([bare.status, bare.headers['kong-route-name']], [400, undefined]);
    assert.equal(await matched('GET', '/', { host: '[::11]' }), 'r1');
    assert.equal(await matched('GET', '/', { host: '[::11]:654' }), 'r1');
    assert.equal(await matched('GET', '/', { host: '[::12]' }), 'r1');
  });

  test('a port-specific route matches by port, other ports fall back to the any-port route', async () => {
    assert.equal(await matched('GET', '/', { host: '[::21]:321' }), 'r4');
    assert.equal(await matched('GET', '/', { host: '[::31]:321' }), 'r3');
    assert.equal(await matched('GET', '/', { host: '[::21]:654' }), 'r2');
    assert.equal(await matched('GET', '/', { host: '[::31]:654' }), null);
  });
});

describe('[headers]', () => {
  test('evaluates Routes with more [headers] first', async () => {
    await load([
      { headers: { version: ['v1', 'v2'], user_agent: ['foo', 'bar'] } },
      { headers: { version: ['v1', 'v2'], user_agent: ['foo', 'bar'], location: ['east', 'west'] } },
    ]);
    const h = { version: 'v1', 'user-agent': 'foo', location: ['north', 'west'] };
    assert.equal(await matched('GET', '/', h), 'r2');
  });

  test('names are case-insensitive', async () => {
    await load([{ headers: { USER_AGENT: ['foo', 'bar'] } }, { headers: { user_agent: ['baz'] } }]);
    assert.equal(await matched('GET', '/', { 'user-agent': 'foo' }), 'r1');
    assert.equal(await matched('GET', '/', { 'USER-AGENT': 'baz' }), 'r2');
  });

  test('matches values in a case-insensitive way', async () => {
    await load([{ headers: { user_agent: ['foo', 'bar'] } }, { headers: { user_agent: ['BAZ'] } }]);
    assert.equal(await matched('GET', '/', { 'user-agent': 'FOO' }), 'r1');
    assert.equal(await matched('GET', '/', { 'user-agent': 'baz' }), 'r2');
  });
});
