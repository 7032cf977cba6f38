/**
 * Kong's router unit spec, spec/01-unit/08-router_spec.lua at Kong commit 22246ef2, its `select()`
 * cases on how route paths are read: `normalization stopgap measurements`, and the routes of
 * `check empty route fields`, `raw string`, `check regex with '\'` and `generate http expression`
 * (Kong's spec checks the atc expression each compiles to and that the router builds; here, that
 * each loads and matches what that expression matches). Through a real gateway, as
 * kong-spec-router-unit-a.test.ts says.
 *
 * Kong's `select()` takes the path as given; its `exec()`, which serves requests, normalizes it
 * first (kong/router/utils.lua strip_uri_args: escapes of characters other than reserved ones
 * decoded), and Tollgate normalizes every request path too (docs/routing.md). So a case whose
 * path a normalized request never spells is checked with the request a client sends. The
 * gateway allows encoded slashes (`_tollgate.encoded_slashes: allow`), as Kong passes them on; the
 * default, a 400, is a deliberate difference (docs/kong-differences.md).
 */

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startGateway, type TestGateway } from '../../src/testing/index.ts';
import { serviceConfig } from '../support/gateway.ts';
import { rawRequest } from '../support/raw.ts';
import { validateEntities } from '../support/validate.ts';
import { matchedRoute } from './matched-route.ts';

type Route = Record<string, unknown>;
let gw: TestGateway;

const config = (routes: Route[]) =>
  serviceConfig(routes, { extra: { _tollgate: { debug_header: true, encoded_slashes: 'allow' } } });

/** Reloads the gateway on `routes`, named rN after their place in Kong's table unless named. */
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

describe('normalization stopgap measurements', () => {
  before(() =>
    load([
      { paths: ['/plain/a.b.c'] },
      { name: 'r3', paths: ['~/reg%65x/\\d+'] },
      { name: 'r4', paths: ['~/regex-meta/%5Cd\\+%2E'] },
      { name: 'r5', paths: ['~/regex-reserved%2Fabc'] },
    ]),
  );

  test("a prefix with an escape normalization decodes is refused, in Kong's schema's words", async () => {
    // Kong's select() matches its route 2, `/plain/a.b%58c`, but Kong's schema refuses to load it.
    const v = await validateEntities("services:\n  - { url: 'echo://', routes: [{ paths: ['/plain/a.b%58c'] }] }\n");
    assert.equal(v.code, 1);
    assert.match(v.out, /non-normalized path, consider use '\/plain\/a\.bXc' instead/);
  });

  test('matches against plain text paths', async () => {
    assert.equal(await matched('GET', '/plain/a.b.c'), 'r1');
    assert.equal(await matched('GET', '/plain/a.bXc'), null);
    assert.equal(await matched('GET', '/plain/a.b%58c'), null, 'normalized to /plain/a.bXc');
    assert.equal(await matched('GET', '/plain/aab.c'), null);
  });

  test('a regex path: its escapes read as the request path is normalized (a deliberate difference)', async () => {
    // Kong leaves a regex path's `%65` as written and tests it against the normalized path, where
    // `%65` is always `e`: `~/reg%65x/\d+` can match no request in Kong (its select() matches a
    // raw `/reg%65x/123` that exec() never passes it). Tollgate decodes the regex's escapes as it
    // decodes the path's (docs/routing.md, paths), so the route matches what it spells.
    assert.equal(await matched('GET', '/regex/123'), 'r3');
    assert.equal(await matched('GET', '/reg%65x/123'), 'r3');
    const raw = await rawRequest(
      gw.url,
      'GET /regex/\\d+ HTTP/1.1\r\nHost: t\r\nConnection: close\r\nKong-Debug: 1\r\n\r\n',
    );
    assert.equal(raw.status, 404);
  });

  test('escapes meta character after percent decoding from regex paths', async () => {
    assert.equal(await matched('GET', '/regex-meta/123a'), null);
    assert.equal(await matched('GET', '/regex-meta/%5Cd+%2E'), 'r4');
    // Kong's select() has no match for the raw `\d+.`; the path is the same one to Tollgate, where
    // a raw `\` is the `%5C` it allows (in Kong both spellings are `\d+.` after normalization,
    // which its route, spelling `%5C`, never matches).
    // (Sent raw: a URL parser would turn the `\` into `/`.)
    const raw = await rawRequest(
      gw.url,
      'GET /regex-meta/\\d+. HTTP/1.1\r\nHost: t\r\nConnection: close\r\nKong-Debug: 1\r\n\r\n',
    );
    assert.deepEqual([raw.status, raw.headers['kong-route-name']], [200, 'r4']);
  });

  test('leave reserved characters alone in regex paths', async () => {
    assert.equal(await matched('GET', '/regex-reserved/abc'), null);
    assert.equal(await matched('GET', '/regex-reserved%2Fabc'), 'r5');
  });
});

describe('check empty route fields', () => {
  const fields: Record<string, [Route, string]> = {
    methods: [{ methods: [] }, 'POST /foo'],
    hosts: [{ hosts: [] }, ''],
    headers: [{ headers: {} }, ''],
    paths: [{ paths: [] }, 'GET /bar'],
    snis: [{ snis: [] }, ''],
  };
  for (const [field, [empty, alsoMatches]] of Object.entries(fields)) {
    test(`empty ${field}: [] and null load as unset`, async () => {
      for (const value of [Object.values(empty)[0], null]) {
        await load([{ methods: ['GET'], paths: ['/foo'], [field]: value }]);
        assert.equal(await matched('GET', '/foo'), 'r1');
        assert.equal(await matched('GET', '/foo/bar'), 'r1');
        const [method, path] = alsoMatches === '' ? ['POST', '/foo'] : alsoMatches.split(' ');
        assert.equal(await matched(method!, path!), alsoMatches === '' ? null : 'r1');
      }
    });
  }
});

describe("raw string, check regex with '\\', generate http expression", () => {
  before(() =>
    load([
      { methods: ['GET'], paths: ['~/\\"/*$'] },
      { methods: ['GET'], paths: ['~/\\"#/*$'] },
      { methods: ['GET'], paths: ['~/\\\\/*$'] },
      { methods: ['GET'], paths: ['~/\\d+'] },
      { methods: ['GET'], headers: { test: ['~*Quote'] } },
      { hosts: ['www.example.com:8000'] },
    ]),
  );

  test(`a regex path with '"', as a client sends it`, async () => {
    assert.equal(await matched('GET', '/%22'), 'r1');
    assert.equal(await matched('GET', '/%22//'), 'r1');
    // `#` is reserved: Kong keeps `%23` encoded, so its route 2 matches no request there; Tollgate
    // reads the regex's `#` as the `%23` a path carries it as (docs/routing.md, paths).
    assert.equal(await matched('GET', '/%22%23'), 'r2');
  });

  test(`a regex path with '\\\\' matches a backslash (%5C), '\\d' a digit`, async () => {
    assert.equal(await matched('GET', '/%5C'), 'r3');
    assert.equal(await matched('GET', '/%5c/'), 'r3');
    assert.equal(await matched('GET', '/42'), 'r4');
  });

  test('a ~* header regex matches the value case-insensitively; a host port is the Host port', async () => {
    assert.equal(await matched('GET', '/x', { test: 'QUOTE' }), 'r5');
    assert.equal(await matched('GET', '/x', { test: 'a quote' }), 'r5');
    assert.equal(await matched('GET', '/x', { host: 'www.example.com:8000' }), 'r6');
    assert.equal(await matched('GET', '/x', { host: 'www.example.com:8001' }), null);
  });
});
