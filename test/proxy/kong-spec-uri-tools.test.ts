/**
 * Kong's URI tool specs at Kong commit 22246ef2: spec/01-unit/18-tools_uri_spec.lua (`normalize()`
 * and `escape()` of kong/tools/uri.lua), checked as Kong's router and proxy apply them: the router
 * matches `normalize(path, true)` (merge_slashes on, kong/router/utils.lua) and the upstream gets
 * that path re-escaped. One gateway in front of a real upstream that answers the path it received;
 * each request is sent raw, as written in Kong's spec. The route matches by host, so the path is not
 * read for routing and every spelling reaches the upstream. `_tollgate.encoded_slashes: allow` is
 * Kong's behaviour (`%2F` kept encoded); Tollgate's default `reject` is a documented difference.
 * Not ported: spec/01-unit/31-ada-url_spec.lua and 32-tools_string_spec.lua test Lua libraries
 * (resty.ada's parse, kong.tools.string's splitn) no request or config reaches as such; and
 * normalize's inputs that are no HTTP request target (`""`, the relative `mid/content=5/../6`).
 */

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startGateway, type TestGateway } from '../../src/testing/index.ts';
import { rawRequest } from '../support/raw.ts';
import { type Listening, listen } from '../support/upstream.ts';

let up: Listening;
let gw: TestGateway;

before(async () => {
  up = await listen((req, res) => res.end(req.url));
  gw = await startGateway({
    config: {
      _format_version: '3.0',
      _tollgate: { encoded_slashes: 'allow' },
      services: [{ name: 'echo', url: `http://127.0.0.1:${up.port}`, routes: [{ name: 'r', hosts: ['uri.test'] }] }],
    },
  });
});

after(async () => {
  await gw?.close();
  await up?.close();
});

/** The request target sent as written; the status, and the path the upstream received. */
async function sent(target: string): Promise<{ status: number; body: string }> {
  const r = await rawRequest(gw.url, `GET ${target} HTTP/1.1\r\nHost: uri.test\r\nConnection: close\r\n\r\n`);
  return { status: r.status, body: r.body };
}

async function reaches(cases: [string, string][]): Promise<void> {
  const got = await Promise.all(cases.map(([target]) => sent(target)));
  for (const [i, [target, want]] of cases.entries()) {
    assert.deepEqual(got[i], { status: 200, body: want }, target);
  }
}

test('normalize(): a path needing no normalization reaches the upstream as it came', async () => {
  await reaches([
    ['/', '/'],
    ['/a', '/a'],
    ['/a/', '/a/'],
    ['/a/b/c', '/a/b/c'],
    ['/a/b/c/', '/a/b/c/'],
  ]);
});

test('normalize(): escapes of reserved characters stay escaped; a space is decoded by Kong and re-escaped, so the upstream reads one spelling', async () => {
  await reaches([
    ['/a%2Fb%2Fc/', '/a%2Fb%2Fc/'],
    [
      '/%20%21%23%24%25%26%27%28%29%2A%2B%2C%2F%3A%3B%3D%3F%40%5B%5D',
      '/%20%21%23%24%25%26%27%28%29%2A%2B%2C%2F%3A%3B%3D%3F%40%5B%5D',
    ],
  ]);
});

test('normalize(): percent-escapes are upper-cased, and those of unreserved characters decoded', async () => {
  await reaches([
    ['/a%2fb%2fc/', '/a%2Fb%2Fc/'],
    ['/f%6f%6f', '/foo'],
    ['/%6B%6f%6e%67', '/kong'],
    ['/%2E', '/'],
  ]);
});

test('normalize(): dot segments are removed (RFC 3986 5.2.4) and, as the router normalizes, slashes merged', async () => {
  await reaches([
    // Kong's normalize() without merge_slashes keeps `//` and `/////`; its router merges them.
    ['//', '/'],
    ['/./', '/'],
    ['/.', '/'],
    ['/..', '/'],
    ['/../', '/'],
    ['/////', '/'],
    ['/./.././../', '/'],
    ['/a/b/c/./../../g', '/a/g'],
    ['/a//b//', '/a/b/'],
  ]);
});

test('normalize(): non-ASCII escapes and a path of every kind of escape reach the upstream as Kong sends them', async () => {
  await reaches([
    // Kong decodes `ø` for matching and escapes it again for the upstream.
    ['/endel%C3%B8st', '/endel%C3%B8st'],
    // Kong: `/ä/a./a/_\x99\xaf%2F%2F`, escaped for the upstream.
    ['/%C3%A4/a/%2e./a%2E//a/%2e/./a/../a/%2e%2E/%5f%99%af%2f%2F', '/%C3%A4/a./a/_%99%AF%2F%2F'],
  ]);
});

test('escape(): reserved and unreserved characters and `%` reach the upstream unescaped', async () => {
  // `#` and `?` end a request target's path, so they are left out of the path here.
  const path = "/!$&'()*+,/:;=@[]ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~";
  await reaches([[path, path]]);
});

test('escape(): a raw space or raw UTF-8 in an HTTP/1.1 request line is refused with 400, where nginx takes it and Kong escapes it', async () => {
  // Deliberate: RFC 9112 3.2 wants a request target percent-encoded, and node's parser refuses
  // these bytes before routing (docs/routing.md, Path normalization). The escaped spellings Kong's
  // escape() produces (`/a%20b/c%20d`, `/a%F0%9F%98%80`) reach the upstream as they are.
  for (const target of ['/a b/c d', '/a😀']) {
    assert.equal((await sent(target)).status, 400, JSON.stringify(target));
  }
  await reaches([
    ['/a%20b/c%20d', '/a%20b/c%20d'],
    ['/a%F0%9F%98%80', '/a%F0%9F%98%80'],
    ['/endel%C3%B8st', '/endel%C3%B8st'],
  ]);
});
