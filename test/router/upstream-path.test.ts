/**
 * strip_path / service.path joining: the case table of Kong's router specs
 * (spec/fixtures/router_path_handling_tests.lua), run through the real chain a request takes:
 * normalizePath → Router.match → upstreamPath. Each row also runs with the route path turned into
 * an equivalent regex (`~/[0]?route`), as Kong's specs do. The last rows add a lone `.` or `..` left
 * after the stripped prefix, which Kong's sanitize_uri_postfix drops (kong/router/utils.lua).
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { normalizePath } from '../../src/router/normalize.ts';
import { Router, upstreamPath } from '../../src/router/router.ts';
import { route } from './helpers.ts';
import { type Case, expand } from './path-handling-table.ts';

function upstreamFor(c: Case, routePath: string | null): string {
  const r = route({
    name: 'r',
    strip_path: c.strip,
    path_handling: c.handling,
    hosts: routePath === null ? ['localbin.test'] : null,
    paths: routePath === null ? null : [routePath],
  });
  const path = normalizePath(c.request, 'reject');
  const m = new Router([r]).match('GET', 'localbin.test', path, {});
  assert.ok(m, `request ${c.request} should match route path ${routePath}`);
  return upstreamPath(c.servicePath, r, path, m.matchedPath);
}

test("upstream path for a prefix or host-only route follows Kong's v0/v1 table", () => {
  const cases = expand();
  assert.ok(cases.length > 200);
  for (const c of cases) {
    const label = `service ${c.servicePath}, route ${c.routePath}, strip ${c.strip}, ${c.handling}, request ${c.request}`;
    assert.equal(upstreamFor(c, c.routePath), c.expected, label);
  }
});

test('upstream path for an equivalent regex route follows the same table', () => {
  for (const c of expand()) {
    if (c.routePath === null) continue;
    const regex = `~/[0]?${c.routePath.slice(1)}`;
    const label = `service ${c.servicePath}, route ${regex}, strip ${c.strip}, ${c.handling}, request ${c.request}`;
    assert.equal(upstreamFor(c, regex), c.expected, label);
  }
});

test('a route without service path sends the request path as is', () => {
  const r = route({ name: 'r', paths: ['/api'], strip_path: false });
  assert.equal(upstreamPath(null, r, '/api/users', '/api'), '/api/users');
  const stripped = route({ name: 's', paths: ['/api'], strip_path: true });
  assert.equal(upstreamPath(null, stripped, '/api/users', '/api'), '/users');
  // Nothing left after the stripped prefix: the upstream gets '/', never an empty path.
  assert.equal(upstreamPath(null, stripped, '/api', '/api'), '/');
  const v1 = route({ name: 'v1', paths: ['/api'], strip_path: true, path_handling: 'v1' });
  assert.equal(upstreamPath(null, v1, '/api', '/api'), '/');
  // An empty service path is the root, like none.
  assert.equal(upstreamPath('', stripped, '/api', '/api'), '/');
  assert.equal(upstreamPath('', stripped, '/api/users', '/api'), '/users');
});

test('strip_path with a regex route strips the regex match text, keeping the rest', () => {
  const r = route({ name: 'users', paths: ['~/users/(?<id>\\d+)'], strip_path: true });
  const m = new Router([r]).match('GET', undefined, '/users/42/orders', {});
  assert.ok(m);
  assert.equal(m.matchedPath, '/users/42');
  assert.equal(upstreamPath('/backend', r, '/users/42/orders', m.matchedPath), '/backend/orders');
});
