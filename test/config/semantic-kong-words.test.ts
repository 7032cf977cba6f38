// Service and route checks in Kong's words, continued from semantic.test.ts: path_handling, service
// urls, list lengths and service paths.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { brief, issuesOf, load, V3 } from './helpers.ts';

test("path_handling v1 loads with a warning: Kong 3's default router joins it as v0, Tollgate as its traditional router", async () => {
  const c = await load(
    `${V3}services:\n  - name: s\n    url: http://127.0.0.1:9999/base\n    routes:\n      - name: a\n        paths: [/a]\n        path_handling: v1\n`,
  );
  assert.equal(c.routes[0]!.path_handling, 'v1');
  assert.deepEqual(brief([...(c.source.warnings ?? [])]), [
    "8:24 services[0].routes[0].path_handling path_handling 'v1' is deprecated in Kong 3, whose default router (traditional_compatible) joins paths as 'v0'; Tollgate joins them as 'v1', as Kong's traditional router does: write 'v0' for Kong 3's default behaviour",
  ]);
});

test('a service url with a query, fragment or credentials loads as Kong loads it (protocol, host, port and path), with a warning', async () => {
  const c = await load(
    `${V3}services:\n  - name: s\n    url: http://user:pw@backend.internal:8080/base?key=1#top\n  - name: t\n    url: https://backend.internal/v2?x=y\n`,
  );
  assert.deepEqual(
    c.services.map((s) => [s.protocol, s.host, s.port, s.path]),
    [
      ['http', 'backend.internal', 8080, '/base'],
      ['https', 'backend.internal', 443, '/v2'],
    ],
  );
  assert.deepEqual(brief([...(c.source.warnings ?? [])]), [
    "4:10 services[0].url the url's credentials, query string and fragment are not sent upstream: Kong's url shorthand keeps its protocol, host, port and path only; send them with request-transformer (add.headers, add.querystring) instead",
    "6:10 services[1].url the url's query string is not sent upstream: Kong's url shorthand keeps its protocol, host, port and path only; send it with request-transformer (add.querystring) instead",
  ]);
  const conflicting = await load(
    `${V3}services:\n  - name: s\n    url: http://user:s3cret-pw@backend:8080/x\n    host: other\n`,
  );
  assert.equal(conflicting.services[0]!.host, 'backend', "the url's host, as Kong's shorthand overwrites the field");
  const conflict = [...(conflicting.source.warnings ?? [])];
  assert.match(
    conflict.find((i) => i.path.endsWith('.host'))!.message,
    /conflicts with 'url: http:\/\/backend:8080\/x'/,
  );
  assert.doesNotMatch(JSON.stringify(conflict), /s3cret-pw/);
});

test("a list too short or too long is told so in Kong's words (length must be at least / at most)", async () => {
  assert.deepEqual(
    brief(
      await issuesOf(
        `${V3}services:\n  - name: s\n    url: http://a\n    routes:\n      - paths: [/a]\n        protocols: []\n        headers: { x-a: [] }\n`,
      ),
    ),
    [
      '7:20 services[0].routes[0].protocols length must be at least 1',
      '8:25 services[0].routes[0].headers.x-a length must be at least 1',
    ],
  );
});

test("a value where an array is wanted is told so in Kong's words (expected an array)", async () => {
  assert.deepEqual(
    brief(
      await issuesOf(
        `${V3}services:\n  - name: s\n    url: http://a\n    routes:\n      - paths: /a\n        methods: { a: 1 }\n        hosts: [[a.test]]\n`,
      ),
    ),
    [
      '6:16 services[0].routes[0].paths expected an array, got a string',
      '7:18 services[0].routes[0].methods expected an array, got a mapping',
      '8:17 services[0].routes[0].hosts[0] expected a string, got an array',
    ],
  );
});

test("a service path as Kong's typedefs.path checks it: RFC 3986 characters, well-formed escapes, Kong's messages", async () => {
  // Such a path cannot go out in a request line: a space broke every request (502), a raw é
  // reached the upstream as a latin1 byte it refused.
  const issues = await issuesOf(
    `${V3}services:\n  - name: a\n    url: "http://u.test/b c"\n  - name: b\n    url: http://u.test/café\n  - name: c\n    host: u.test\n    path: /x%zz\n  - name: d\n    host: u.test\n    path: "/a?b"\n`,
  );
  assert.deepEqual(brief(issues), [
    "4:10 services[0].url invalid path: '/b c' (characters outside of the reserved list of RFC 3986 found)",
    "6:10 services[1].url invalid path: '/café' (characters outside of the reserved list of RFC 3986 found)",
    "9:11 services[2].path invalid url-encoded value: '%zz'",
    "12:11 services[3].path invalid path: '/a?b' (characters outside of the reserved list of RFC 3986 found)",
  ]);
  const ok = await load(`${V3}services:\n  - name: a\n    url: "http://u.test/caf%C3%A9/v1;x=1/a:b@c!$&'()*+,=~"\n`);
  assert.equal(ok.services[0]!.path, "/caf%C3%A9/v1;x=1/a:b@c!$&'()*+,=~");
});
