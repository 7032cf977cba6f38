/**
 * The router's index of header routes (built once a bucket holds 8 routes with a header of literal
 * values): it must select exactly what trying every route in priority order selects, whatever
 * header the request sends first, however it spells the value (case, a comma-separated list,
 * repeated lines, `_` for `-`), and whatever routes outside the index rank above or below.
 */

import assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http';
import { test } from 'node:test';
import { Router } from '../../src/router/router.ts';
import { route, type TestRoute } from './helpers.ts';

/** Twelve tenants routed by `X-Tenant` (two values each): enough for the index. */
const tenants = (): TestRoute[] =>
  Array.from({ length: 12 }, (_, i) =>
    route({ name: `t${i}`, headers: { 'x-tenant': [`tenant-${i}`, `Alias-${i}`] } }),
  );

function matchName(router: Router<TestRoute>, headers: IncomingHttpHeaders, host?: string, path = '/'): string | null {
  return router.match('GET', host, path, headers)?.route.name ?? null;
}

test('each value of each route, in any case, in a list, on repeated lines or under X_Tenant', () => {
  const router = new Router([...tenants(), route({ name: 'fallback', paths: ['/'] })]);
  assert.equal(matchName(router, { 'x-tenant': 'tenant-3' }), 't3');
  assert.equal(matchName(router, { 'x-tenant': 'alias-11' }), 't11', 'a value written with capitals');
  assert.equal(matchName(router, { 'x-tenant': 'TENANT-4' }), 't4');
  assert.equal(matchName(router, { 'x-tenant': 'other, tenant-5' }), 't5', 'repeated lines node joined');
  assert.equal(matchName(router, { 'x-tenant': ['nope', 'tenant-6'] }), 't6');
  assert.equal(
    matchName(router, { x_tenant: 'tenant-7' }),
    't7',
    'an underscored name (headers_with_underscores: allow)',
  );
  assert.equal(matchName(router, { 'x-tenant': 'tenant-99' }), 'fallback');
  assert.equal(matchName(router, {}), 'fallback');
});

test('the highest priority wins across header names, whatever order the request sends them in', () => {
  const zone = route({ name: 'zone', headers: { 'x-zone': ['eu'] } });
  for (const [routes, winner] of [
    [[...tenants(), zone], 't2'],
    [[zone, ...tenants()], 'zone'],
  ] as const) {
    const router = new Router(routes);
    assert.equal(matchName(router, { 'x-zone': 'eu', 'x-tenant': 'tenant-2' }), winner);
    assert.equal(matchName(router, { 'x-tenant': 'tenant-2', 'x-zone': 'eu' }), winner);
  }
  const twice = new Router([...tenants(), route({ name: 'again', headers: { 'x-tenant': ['tenant-0'] } })]);
  assert.equal(matchName(twice, { 'x-tenant': 'tenant-0' }), 't0', 'equal priority: config order');
});

test('routes outside the index rank as they would: more headers, a host, a regex-only header', () => {
  const router = new Router([
    ...tenants(),
    route({ name: 'two', headers: { 'x-tenant': ['tenant-1'], 'x-b': ['~*^b'] } }),
    route({ name: 'regex', headers: { 'x-tenant': ['~*^tenant-2$'], 'x-d': ['~*.'] } }),
    route({ name: 'wild', hosts: ['*.example.com'], headers: { 'x-tenant': ['tenant-8'] } }),
    route({ name: 'plain', hosts: ['api.test'], headers: { 'x-tenant': ['tenant-9'] } }),
  ]);
  assert.equal(matchName(router, { 'x-tenant': 'tenant-1', 'x-b': 'bee' }), 'two');
  assert.equal(matchName(router, { 'x-tenant': 'tenant-1', 'x-b': 'no' }), 't1');
  assert.equal(matchName(router, { 'x-tenant': 'tenant-2', 'x-d': 'z' }), 'regex');
  assert.equal(matchName(router, { 'x-tenant': 'tenant-2' }), 't2');
  assert.equal(matchName(router, { 'x-tenant': 'tenant-8' }, 'a.example.com'), 'wild');
  assert.equal(matchName(router, { 'x-tenant': 'tenant-8' }, 'other.test'), 't8');
  assert.equal(matchName(router, { 'x-tenant': 'tenant-9' }, 'api.test'), 'plain');
  assert.equal(matchName(router, { 'x-tenant': 'tenant-9' }, 'other.test'), 't9');
});

test('header routes under a path prefix are indexed per prefix, a longer prefix still first', () => {
  const under = (prefix: string) =>
    Array.from({ length: 10 }, (_, i) =>
      route({ name: `${prefix}${i}`, paths: [`/${prefix}`], headers: { 'x-tenant': [`tenant-${i}`] } }),
    );
  const router = new Router([...under('a'), ...under('ab')]);
  assert.equal(matchName(router, { 'x-tenant': 'tenant-3' }, undefined, '/ab/x'), 'ab3');
  assert.equal(matchName(router, { 'x-tenant': 'tenant-3' }, undefined, '/a/x'), 'a3');
  assert.equal(matchName(router, { 'x-tenant': 'tenant-10' }, undefined, '/ab/x'), null);
});

test('a value beyond ASCII is found in the index as UTF-8, as a route outside it is matched', () => {
  const cafes = Array.from({ length: 10 }, (_, i) => route({ name: `c${i}`, headers: { 'x-shop': [`café-${i}`] } }));
  const router = new Router(cafes);
  // node hands a header's bytes over one character each: UTF-8's `é` is the pair C3 A9.
  const utf8 = (v: string) => Buffer.from(v, 'utf8').toString('latin1');
  assert.equal(matchName(router, { 'x-shop': utf8('CAFÉ-4') }), 'c4');
  assert.equal(matchName(router, { 'x-shop': 'caf\xe9-4' }), null, 'latin1 bytes are not UTF-8');
});
