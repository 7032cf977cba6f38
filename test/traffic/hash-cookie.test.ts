// Consistent hashing on a cookie through the gateway, as Kong does it: a client that sends no
// cookie is given one (a UUID, with the upstream's hash_on_cookie_path) with its answer, next to
// any cookie the upstream set, and its requests that send it back stay on one target.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { startGateway, type TestGateway } from '../../src/testing/index.ts';
import { brief, issuesOf, load, V3 } from '../config/helpers.ts';

let servers: Server[];
let gw: TestGateway;

before(async () => {
  servers = await Promise.all(
    ['a', 'b'].map(async (name) => {
      const s = createServer((_req, res) => {
        res.setHeader('set-cookie', `seen=${name}; Path=/`);
        res.end(name);
      });
      await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
      return s;
    }),
  );
  gw = await startGateway({
    config: {
      _format_version: '3.0',
      upstreams: [
        {
          name: 'sticky.upstream',
          algorithm: 'consistent-hashing',
          hash_on: 'cookie',
          hash_on_cookie: 'lb',
          hash_on_cookie_path: '/app',
          targets: servers.map((s) => ({ target: `127.0.0.1:${(s.address() as AddressInfo).port}` })),
        },
      ],
      services: [
        {
          name: 'app',
          host: 'sticky.upstream',
          routes: [
            { name: 'app', paths: ['/app'] },
            // A response-phase plugin: the answer's head is built as an object on this route.
            {
              name: 'transformed',
              paths: ['/transformed'],
              plugins: [{ name: 'response-transformer', config: { add: { headers: ['x-added:1'] } } }],
            },
          ],
        },
      ],
    },
  });
});

after(async () => {
  await gw.close();
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
});

test("a client without the cookie gets one beside the upstream's, and stays on its target with it", async () => {
  const owners = new Set<string>();
  for (let client = 0; client < 16; client++) {
    const first = await fetch(`${gw.url}/app`);
    const owner = await first.text();
    owners.add(owner);
    const cookies = first.headers.getSetCookie();
    assert.equal(cookies.length, 2, cookies.join(' | '));
    assert.equal(cookies[0], `seen=${owner}; Path=/`);
    const made = /^lb=([0-9a-f-]{36}); Path=\/app; SameSite=Lax; HttpOnly$/.exec(cookies[1]!);
    assert.ok(made, cookies[1]);
    for (let i = 0; i < 5; i++) {
      const again = await fetch(`${gw.url}/app`, { headers: { cookie: `other=1; lb=${made[1]}` } });
      assert.equal(await again.text(), owner);
      assert.deepEqual(again.headers.getSetCookie(), [`seen=${owner}; Path=/`], 'no new cookie once sent');
    }
  }
  assert.deepEqual(owners, new Set(['a', 'b']), 'fresh clients spread over both targets');
});

test('with a response-phase plugin on the route the cookie is given all the same', async () => {
  const res = await fetch(`${gw.url}/transformed`);
  await res.text();
  assert.equal(res.headers.get('x-added'), '1');
  const cookies = res.headers.getSetCookie();
  assert.equal(cookies.length, 2, cookies.join(' | '));
  assert.match(cookies[1]!, /^lb=[0-9a-f-]{36}; Path=\/app; SameSite=Lax; HttpOnly$/);
});

test("hash_on_cookie is an HTTP token and hash_on_cookie_path a path (Kong's typedefs): else a located error, not answers that fail", async () => {
  const text = `${V3}upstreams:
  - name: a.test
    hash_on: cookie
    hash_on_cookie: "my sid"
  - name: b.test
    hash_on: cookie
    hash_on_cookie: sid
    hash_on_cookie_path: "/a\\r\\nX-Injected: 1"
`;
  assert.deepEqual(brief(await issuesOf(text)), [
    `5:21 upstreams[0].hash_on_cookie contains one or more invalid characters. ASCII control characters (0-31;127), space, tab and the characters ()<>@,;:\\"/?={}[] are not allowed: 'my sid'`,
    "9:26 upstreams[1].hash_on_cookie_path invalid path: '/a\\r\\nX-Injected: 1' (characters outside of the reserved list of RFC 3986 found)",
  ]);
});

test("hash_on_header and hash_fallback_header are header names (Kong's typedefs.header_name): one no request can carry is a located error", async () => {
  const text = `${V3}upstreams:
  - name: a.test
    hash_on: header
    hash_on_header: "X User"
    hash_fallback: header
    hash_fallback_header: "X:Region"
`;
  assert.deepEqual(brief(await issuesOf(text)), [
    "5:21 upstreams[0].hash_on_header invalid header name 'X User'",
    "7:27 upstreams[0].hash_fallback_header invalid header name 'X:Region'",
  ]);
});

test("hash_on_header and hash_fallback_header differing only in case, or in '_' for '-', load, as in Kong, with a warning", async () => {
  // Kong's schema compares them as strings (its `distinct` check): X-Region and x-region pass, and
  // so do X-Region and X_Region, which its $http_x_region reads as one header.
  for (const fallback of ['x-region', 'X_Region']) {
    const text = `${V3}upstreams:
  - name: a.test
    hash_on: header
    hash_on_header: X-Region
    hash_fallback: header
    hash_fallback_header: ${fallback}
`;
    const c = await load(text);
    assert.deepEqual(brief([...(c.source.warnings ?? [])]), [
      "7:27 upstreams[0].hash_fallback_header hash_fallback_header names the same header as hash_on_header (header names are case-insensitive, and '_' reads as '-' as in Kong's $http_NAME): the fallback is never used",
    ]);
  }
});
