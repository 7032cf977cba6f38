// Paths as Kong's typedefs.path (a service's path, a health check's http_path, an upstream's
// hash_on_cookie_path) and typedefs.router_path (a route's paths) check them, and the fields whose
// pattern is a Kong `match` rule (a route's methods, a vault's prefix), with Kong's messages.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { brief, issuesOf, load, V3 } from './helpers.ts';

test('an empty segment (//) is refused in every kind of path, regex paths included, as Kong refuses it', async () => {
  const issues = brief(
    await issuesOf(`${V3}services:
  - name: a
    url: http://a.example/v1//x
    routes:
      - paths: ["/x//y", "~/r//s", "x//y"]
  - name: b
    host: b.example
    path: /p//q
upstreams:
  - name: u
    hash_on_cookie_path: /c//d
    healthchecks: { active: { http_path: /h//i } }
`),
  );
  assert.deepEqual(issues, [
    '4:10 services[0].url must not have empty segments',
    "6:17 services[0].routes[0].paths[0] must not have empty segments: write '/x/y'",
    '6:26 services[0].routes[0].paths[1] must not have empty segments',
    '6:36 services[0].routes[0].paths[2] must not have empty segments',
    '9:11 services[1].path must not have empty segments',
    '12:26 upstreams[0].hash_on_cookie_path must not have empty segments',
    '13:42 upstreams[0].healthchecks.active.http_path must not have empty segments',
  ]);
});

test("a path without its leading '/' and a value outside a Kong match rule get Kong's messages, with the rule", async () => {
  const issues = brief(
    await issuesOf(`${V3}services:
  - name: a
    url: http://a.example/
    routes:
      - { paths: [/a], methods: [get, POST] }
upstreams:
  - name: u
    hash_on_cookie_path: c
    healthchecks: { active: { http_path: health } }
vaults:
  - { name: env, prefix: My_Env, config: { prefix: 1x } }
`),
  );
  assert.deepEqual(issues, [
    '6:34 services[0].routes[0].methods[0] invalid value: get: must match the pattern ^[A-Z]+$',
    '9:26 upstreams[0].hash_on_cookie_path should start with: /',
    '10:42 upstreams[0].healthchecks.active.http_path should start with: /',
    '12:26 vaults[0].prefix invalid value: My_Env: must match the pattern ^[a-z][a-z0-9-]*[a-z0-9]$',
    '12:52 vaults[0].config.prefix invalid value: 1x: must match the pattern ^[A-Za-z_-][A-Za-z0-9_-]*$',
  ]);
});

test("an upstream's name is a host name, as Kong's upstreams schema checks it, with Kong's messages", async () => {
  const names = [
    '10.0.0.1',
    '10.0.0.1:80',
    '[::1]',
    '::1',
    'orders.internal:8080',
    'orders internal',
    'orders.internal',
  ];
  const issues = brief(
    await issuesOf(`${V3}upstreams:\n${names.map((n) => `  - name: "${n}"\n`).join('')}`).catch(() => []),
  );
  assert.deepEqual(
    issues.map((i) => i.replace(/^\d+:\d+ /, '')),
    [
      "upstreams[0].name Invalid name ('10.0.0.1'); no ip addresses allowed",
      "upstreams[1].name Invalid name ('10.0.0.1:80'); no ip addresses allowed",
      "upstreams[2].name Invalid name ('[::1]'); no ip addresses allowed",
      "upstreams[3].name Invalid name ('::1'); no ip addresses allowed",
      "upstreams[4].name Invalid name ('orders.internal:8080'); no port allowed",
      "upstreams[5].name Invalid name ('orders internal'); must be a valid hostname",
    ],
  );
});

test("a 1.1 or 2.1 file's plain path without its leading '/' is refused as Kong refuses it, not migrated to '/'", async () => {
  // Kong's migration (migrate_path_280_300.lua) normalizes `bla` to itself, then its router_path
  // check refuses it; Kong's own spec (01-validate_spec.lua, "routes in services: performs
  // regular validations") loads this document and expects the refusal.
  for (const version of ['1.1', '2.1']) {
    const issues = brief(
      await issuesOf(`_format_version: "${version}"
services:
- name: foo
  url: https://example.com
  routes:
  - name: foo
    paths: [bla, api/v1, /ok]
`),
    );
    assert.deepEqual(issues, [
      '7:13 services[0].routes[0].paths[0] should start with: / (fixed path) or ~/ (regex path)',
      '7:18 services[0].routes[0].paths[1] should start with: / (fixed path) or ~/ (regex path)',
    ]);
  }
});

test("service, route and plugin instance names follow Kong's utf8_name: any character past ASCII loads, ASCII punctuation is refused with Kong's message", async () => {
  // Kong's validate_utf8_name (typedefs.lua) takes every UTF-8 byte from 128: an en dash, a
  // middle dot, a non-breaking space, an emoji; of ASCII only letters, digits and `.-_~`.
  const names = ['payments–v2', '日本・api', 'a\u00a0b', 'api-🚀', 'café'];
  const ok = await load(`${V3}services:
${names.map((n, i) => `  - name: "${n}"\n    url: http://s${i}.example\n    routes: [{ name: "r-${n}", paths: [/p${i}] }]\n`).join('')}plugins:
  - { name: test-limit, instance_name: "limit–1" }
`);
  assert.deepEqual(
    ok.services.map((s) => s.name),
    names,
  );
  const issues = brief(
    await issuesOf(`${V3}services:
  - name: "@gobo"
    url: http://a.example
    routes: [{ name: "a b", paths: [/a] }]
`),
  );
  assert.deepEqual(issues, [
    "3:11 services[0].name invalid value '@gobo': the only accepted ascii characters are alphanumerics or ., -, _, and ~",
    "5:22 services[0].routes[0].name invalid value 'a b': the only accepted ascii characters are alphanumerics or ., -, _, and ~",
  ]);
});
