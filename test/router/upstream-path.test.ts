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

// service path | route path ('-' = host-only route) | strip_path (* = both) | path_handling (* = both) | request | upstream path
const TABLE = `
/         | /        | * | *  | /               | /
/         | /        | * | *  | /route          | /route
/         | /        | * | *  | /route/         | /route/
/         | /        | * | *  | /routereq       | /routereq
/         | /        | * | *  | /route/req      | /route/req
/         | /route   | n | *  | /route          | /route
/         | /route   | n | *  | /route/         | /route/
/         | /route   | n | *  | /routereq       | /routereq
/         | /route   | y | *  | /route          | /
/         | /route   | y | *  | /route/         | /
/         | /route   | y | *  | /routereq       | /req
/         | /route/  | n | *  | /route/         | /route/
/         | /route/  | n | *  | /route/req      | /route/req
/         | /route/  | y | *  | /route/         | /
/         | /route/  | y | *  | /route/req      | /req
/srv      | /rou     | n | v0 | /roureq         | /srv/roureq
/srv      | /rou     | n | v1 | /roureq         | /srvroureq
/srv      | /rou     | y | v0 | /roureq         | /srv/req
/srv      | /rou     | y | v1 | /roureq         | /srvreq
/srv/     | /rou     | n | *  | /rou            | /srv/rou
/srv/     | /rou     | y | v0 | /rou            | /srv
/srv/     | /rou     | y | v1 | /rou            | /srv/
/service  | /        | * | *  | /               | /service
/service  | /        | * | v0 | /route          | /service/route
/service  | /        | * | v1 | /route          | /serviceroute
/service  | /        | * | v0 | /route/         | /service/route/
/service  | /        | * | v1 | /route/         | /serviceroute/
/service  | /        | * | v0 | /routereq       | /service/routereq
/service  | /        | * | v1 | /routereq       | /serviceroutereq
/service  | /        | * | v0 | /route/req      | /service/route/req
/service  | /        | * | v1 | /route/req      | /serviceroute/req
/service  | /route   | n | v0 | /route          | /service/route
/service  | /route   | n | v1 | /route          | /serviceroute
/service  | /route   | n | v0 | /route/         | /service/route/
/service  | /route   | n | v1 | /route/         | /serviceroute/
/service  | /route   | n | v0 | /routereq       | /service/routereq
/service  | /route   | n | v1 | /routereq       | /serviceroutereq
/service  | /route   | y | *  | /route          | /service
/service  | /route   | y | *  | /route/         | /service/
/service  | /route   | y | v0 | /routereq       | /service/req
/service  | /route   | y | v1 | /routereq       | /servicereq
/service  | /route/  | n | v0 | /route/         | /service/route/
/service  | /route/  | n | v1 | /route/         | /serviceroute/
/service  | /route/  | n | v0 | /route/req      | /service/route/req
/service  | /route/  | n | v1 | /route/req      | /serviceroute/req
/service  | /route/  | y | v0 | /route/         | /service/
/service  | /route/  | y | v1 | /route/         | /service
/service  | /route/  | y | v0 | /route/req      | /service/req
/service  | /route/  | y | v1 | /route/req      | /servicereq
/service/ | /        | * | *  | /route/         | /service/route/
/service/ | /        | * | *  | /               | /service/
/service/ | /        | * | *  | /route          | /service/route
/service/ | /        | * | *  | /routereq       | /service/routereq
/service/ | /        | * | *  | /route/req      | /service/route/req
/service/ | /route   | n | *  | /route          | /service/route
/service/ | /route   | n | *  | /route/         | /service/route/
/service/ | /route   | n | *  | /routereq       | /service/routereq
/service/ | /route   | y | v0 | /route          | /service
/service/ | /route   | y | v1 | /route          | /service/
/service/ | /route   | y | *  | /route/         | /service/
/service/ | /route   | y | *  | /routereq       | /service/req
/service/ | /route/  | n | *  | /route/         | /service/route/
/service/ | /route/  | n | *  | /route/req      | /service/route/req
/service/ | /route/  | y | *  | /route/         | /service/
/service/ | /route/  | y | *  | /route/req      | /service/req
/         | -        | * | *  | /               | /
/         | -        | * | *  | /route          | /route
/         | -        | * | *  | /route/         | /route/
/service  | -        | * | *  | /               | /service
/service  | -        | * | v0 | /route          | /service/route
/service  | -        | * | v1 | /route          | /serviceroute
/service  | -        | * | v0 | /route/         | /service/route/
/service  | -        | * | v1 | /route/         | /serviceroute/
/service/ | -        | * | *  | /               | /service/
/service/ | -        | * | *  | /route          | /service/route
/service/ | -        | * | *  | /route/         | /service/route/
/service  | /route   | y | v0 | /route./req     | /service/req
/service  | /route   | y | v1 | /route./req     | /servicereq
/service/ | /route   | y | *  | /route./req     | /service/req
/service  | /route   | y | v0 | /route%2E/req   | /service/req
/service  | /route   | y | v1 | /route%2E/req   | /servicereq
/service/ | /route   | y | *  | /route%2E/req   | /service/req
/service  | /route   | y | v0 | /route%2e/req   | /service/req
/service  | /route   | y | v1 | /route%2e/req   | /servicereq
/service/ | /route   | y | *  | /route%2e/req   | /service/req
/service  | /route   | y | v0 | /route../req    | /service/req
/service  | /route   | y | v1 | /route../req    | /servicereq
/service/ | /route   | y | *  | /route../req    | /service/req
/service  | /route   | y | v0 | /route%2E%2E/req | /service/req
/service  | /route   | y | v1 | /route%2E%2E/req | /servicereq
/service/ | /route   | y | *  | /route%2E%2E/req | /service/req
/service  | /route   | y | v0 | /route%2e%2E/req | /service/req
/service  | /route   | y | v1 | /route%2e%2E/req | /servicereq
/service/ | /route   | y | *  | /route%2e%2E/req | /service/req
/service  | /route   | n | v0 | /route./req     | /service/route./req
/service  | /route   | n | v1 | /route./req     | /serviceroute./req
/service/ | /route   | n | *  | /route./req     | /service/route./req
/service  | /route   | n | v0 | /route%2E/req   | /service/route./req
/service  | /route   | n | v1 | /route%2E/req   | /serviceroute./req
/service/ | /route   | n | *  | /route%2E/req   | /service/route./req
/service  | /route   | n | v0 | /route%2e/req   | /service/route./req
/service  | /route   | n | v1 | /route%2e/req   | /serviceroute./req
/service/ | /route   | n | *  | /route%2e/req   | /service/route./req
/service  | /route   | n | v0 | /route../req    | /service/route../req
/service  | /route   | n | v1 | /route../req    | /serviceroute../req
/service/ | /route   | n | *  | /route../req    | /service/route../req
/service  | /route   | n | v0 | /route%2E%2E/req | /service/route../req
/service  | /route   | n | v1 | /route%2E%2E/req | /serviceroute../req
/service/ | /route   | n | *  | /route%2E%2E/req | /service/route../req
/service  | /route   | n | v0 | /route%2e%2E/req | /service/route../req
/service  | /route   | n | v1 | /route%2e%2E/req | /serviceroute../req
/service/ | /route   | n | *  | /route%2e%2E/req | /service/route../req
/         | /route   | y | *  | /route.         | /
/         | /route   | y | *  | /route..        | /
/service  | /route   | y | *  | /route.         | /service
/service  | /route   | y | *  | /route%2E       | /service
/service  | /route   | y | *  | /route..        | /service
/service/ | /route   | y | v0 | /route.         | /service
/service/ | /route   | y | v1 | /route.         | /service/
/service/ | /route   | y | v0 | /route..        | /service
/service/ | /route   | y | v1 | /route..        | /service/
/service  | /route   | n | v0 | /route.         | /service/route.
/service  | /route   | n | v1 | /route..        | /serviceroute..
`;

interface Case {
  servicePath: string;
  routePath: string | null;
  strip: boolean;
  handling: 'v0' | 'v1';
  request: string;
  expected: string;
}

function expand(): Case[] {
  const cases: Case[] = [];
  for (const line of TABLE.trim().split('\n')) {
    const [servicePath, routePath, strip, handling, request, expected] = line.split('|').map((s) => s.trim()) as [
      string,
      string,
      string,
      string,
      string,
      string,
    ];
    for (const s of strip === '*' ? [false, true] : [strip === 'y']) {
      for (const h of handling === '*' ? (['v0', 'v1'] as const) : [handling as 'v0' | 'v1']) {
        cases.push({
          servicePath,
          routePath: routePath === '-' ? null : routePath,
          strip: s,
          handling: h,
          request,
          expected,
        });
      }
    }
  }
  return cases;
}

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
