// Kong's upstreams and targets schema specs (spec/01-unit/01-db/01-schema/09-upstreams_spec.lua
// and 08-targets_spec.lua, Kong commit 22246ef2), case by case, as a Kong 3.0 declarative file
// that `gateway validate` checks: what Kong loads loads, and what Kong refuses is refused in
// Kong's words at the field (a conditional check's error at its then_field, as Kong sets it).
// Left out: `use_srv_name: true` (refused on purpose, kong-compat.test.ts), and active probe
// `headers` written as a list (`expected a mapping` here, where Kong's map says `expected a string`
// of the list's numeric keys: the documented wording of records and maps).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { validateEntities } from '../support/validate.ts';
import { load, V3 } from './helpers.ts';

/** `path message` of each error `gateway validate` prints for `yaml`, in order. */
async function refusals(yaml: string): Promise<string[]> {
  const v = await validateEntities(yaml);
  assert.equal(v.code, 1, v.out);
  return v.out.split('\n').flatMap((l) => {
    const m = /:\d+:\d+ {2}(\S+) {2}(.*)$/.exec(l);
    return m ? [`${m[1]} ${m[2]}`] : [];
  });
}

const flow = (v: unknown): string => JSON.stringify(v);

test('a valid upstream, the names and host_headers Kong accepts, and every accepted health check setting, load', async () => {
  const healthchecks = [
    { active: { timeout: 0.5 } },
    { active: { timeout: 1 } },
    { active: { concurrency: 2 } },
    { active: { http_path: '/' } },
    { active: { http_path: '/test' } },
    { active: { https_sni: 'example.com' } },
    { active: { https_sni: 'example.test.' } },
    { active: { https_verify_certificate: false } },
    ...['active', 'passive'].flatMap((kind) => [
      { [kind]: { healthy: { http_statuses: [200, 300] } } },
      { [kind]: { healthy: { successes: 2 } } },
      { [kind]: { healthy: { successes: 255 } } },
      { [kind]: { unhealthy: { http_statuses: [400, 500] } } },
      ...['tcp_failures', 'timeouts', 'http_failures'].flatMap((f) => [
        { [kind]: { unhealthy: { [f]: 2 } } },
        { [kind]: { unhealthy: { [f]: 255 } } },
      ]),
      ...[0, 50.5, 100].map((threshold) => ({ [kind]: { unhealthy: { http_failures: 2 } }, threshold })),
    ]),
    { active: { healthy: { interval: 0 } } },
    { active: { unhealthy: { interval: 0 } } },
  ];
  const upstreams = [
    '{ id: cbb297c0-a956-486d-ad1d-f9b42df9465a, name: my_service, hash_on: header, hash_on_header: X-Balance, hash_fallback: cookie, hash_on_cookie: a_cookie }',
    '{ name: valid.host.name }',
    '{ name: host.test, host_header: ahostname }',
    '{ name: a.host.test, host_header: a.hostname.test }',
    ...healthchecks.map((h, i) => `{ name: x${i}, healthchecks: ${flow(h)} }`),
  ];
  const v = await validateEntities(`upstreams:\n${upstreams.map((u) => `  - ${u}\n`).join('')}`);
  assert.equal(v.code, 0, v.out);
  assert.doesNotMatch(v.out, /warning/i);
});

test("an upstream with a name only gets Kong's defaults", async () => {
  const c = await load(`${V3}upstreams:\n  - name: www.example.com\n`);
  const u = c.upstreams[0]!;
  assert.deepEqual(
    [u.name, u.hash_on, u.hash_fallback, u.hash_on_cookie_path, u.slots],
    ['www.example.com', 'none', 'none', '/', 10000],
  );
  assert.deepEqual(u.healthchecks, {
    active: {
      type: 'http',
      timeout: 1,
      concurrency: 10,
      http_path: '/',
      https_verify_certificate: true,
      healthy: { interval: 0, http_statuses: [200, 302], successes: 0 },
      unhealthy: {
        interval: 0,
        http_statuses: [429, 404, 500, 501, 502, 503, 504, 505],
        tcp_failures: 0,
        timeouts: 0,
        http_failures: 0,
      },
    },
    passive: {
      type: 'http',
      healthy: {
        http_statuses: [200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304, 305, 306, 307, 308],
        successes: 0,
      },
      unhealthy: { http_statuses: [429, 500, 503], tcp_failures: 0, timeouts: 0, http_failures: 0 },
    },
    threshold: 0,
  });
});

test('names and host_headers Kong refuses are refused with its messages', async () => {
  const names = ['1234', 'fafa fafa', '192.168.0.1', 'myserver:8000', '123.123.123.123', '\\\\bad\\\\////name////'];
  const got = await refusals(
    `upstreams:\n${names.map((n) => `  - name: '${n}'\n`).join('')}  - {}\n  - { name: h1, host_header: "http://ahostname.test" }\n  - { name: h2, host_header: ahostname- }\n  - { name: h3, host_header: a hostname }\n`,
  );
  assert.deepEqual(got, [
    "upstreams[0].name Invalid name ('1234'); must be a valid hostname",
    "upstreams[1].name Invalid name ('fafa fafa'); must be a valid hostname",
    "upstreams[2].name Invalid name ('192.168.0.1'); no ip addresses allowed",
    "upstreams[3].name Invalid name ('myserver:8000'); no port allowed",
    "upstreams[4].name Invalid name ('123.123.123.123'); no ip addresses allowed",
    "upstreams[5].name Invalid name ('\\\\bad\\\\////name////'); must be a valid hostname",
    'upstreams[6].name required field missing',
    'upstreams[7].host_header invalid hostname: http://ahostname.test',
    'upstreams[8].host_header invalid hostname: ahostname-',
    'upstreams[9].host_header invalid hostname: a hostname',
  ]);
});

test('hash_on and hash_fallback combinations Kong refuses are refused at its fields, in its words', async () => {
  const upstreams: [unknown, string[]][] = [
    [{ hash_on_cookie: 'a cookie' }, []],
    [{ hash_on: 'header' }, ["hash_on_header required field missing: 'hash_on' is 'header'"]],
    [
      { hash_fallback: 'header' },
      [
        "hash_fallback_header required field missing: 'hash_fallback' is 'header'",
        "hash_fallback expected one of: none (when 'hash_on' is 'none')",
      ],
    ],
    [{ hash_on: 'cookie' }, ["hash_on_cookie required field missing: 'hash_on' is 'cookie'"]],
    [
      { hash_fallback: 'cookie' },
      [
        "hash_on_cookie required field missing: 'hash_fallback' is 'cookie'",
        "hash_fallback expected one of: none (when 'hash_on' is 'none')",
      ],
    ],
    [
      { hash_on: 'none', hash_fallback: 'header', hash_fallback_header: 'h' },
      ["hash_fallback expected one of: none (when 'hash_on' is 'none')"],
    ],
    [
      { hash_on: 'cookie', hash_on_cookie: 'c', hash_fallback: 'header', hash_fallback_header: 'h' },
      ["hash_fallback expected one of: none (when 'hash_on' is 'cookie': a request without the cookie is given one)"],
    ],
    [
      { hash_on: 'consumer', hash_fallback: 'consumer' },
      [
        'hash_fallback expected one of: none, ip, header, cookie, path, query_arg, uri_capture (hash_fallback must differ from hash_on)',
      ],
    ],
    [
      { hash_on: 'ip', hash_fallback: 'ip' },
      [
        'hash_fallback expected one of: none, consumer, header, cookie, path, query_arg, uri_capture (hash_fallback must differ from hash_on)',
      ],
    ],
    [
      { hash_on: 'path', hash_fallback: 'path' },
      [
        'hash_fallback expected one of: none, consumer, header, cookie, query_arg, ip, uri_capture (hash_fallback must differ from hash_on)',
      ],
    ],
    [{ hash_on: 'query_arg' }, ["hash_on_query_arg required field missing: 'hash_on' is 'query_arg'"]],
    [
      { hash_on: 'ip', hash_fallback: 'query_arg' },
      ["hash_fallback_query_arg required field missing: 'hash_fallback' is 'query_arg'"],
    ],
    [
      { hash_on: 'query_arg', hash_on_query_arg: 'same', hash_fallback: 'query_arg', hash_fallback_query_arg: 'same' },
      [
        "hash_fallback_query_arg values of these fields must be distinct: 'hash_on_query_arg', 'hash_fallback_query_arg'",
      ],
    ],
    [{ hash_on: 'query_arg', hash_on_query_arg: '' }, ['hash_on_query_arg length must be at least 1']],
    [
      { hash_on: 'query_arg', hash_on_query_arg: 'ok', hash_fallback: 'query_arg', hash_fallback_query_arg: '' },
      ['hash_fallback_query_arg length must be at least 1'],
    ],
    [
      {
        hash_on: 'uri_capture',
        hash_on_uri_capture: 'same',
        hash_fallback: 'uri_capture',
        hash_fallback_uri_capture: 'same',
      },
      [
        "hash_fallback_uri_capture values of these fields must be distinct: 'hash_on_uri_capture', 'hash_fallback_uri_capture'",
      ],
    ],
    [{ hash_on: 'uri_capture', hash_on_uri_capture: '' }, ['hash_on_uri_capture length must be at least 1']],
    [
      {
        hash_on: 'uri_capture',
        hash_on_uri_capture: 'ok',
        hash_fallback: 'uri_capture',
        hash_fallback_uri_capture: '',
      },
      ['hash_fallback_uri_capture length must be at least 1'],
    ],
  ];
  const got = await refusals(
    `upstreams:\n${upstreams.map(([u], i) => `  - ${flow({ name: `u${i}`, ...(u as object) })}\n`).join('')}`,
  );
  // Kong's validate_http_token message for the cookie name with a space.
  const cookie =
    'upstreams[0].hash_on_cookie contains one or more invalid characters. ASCII control characters (0-31;127), space, tab and the characters ()<>@,;:\\"/?={}[] are not allowed';
  assert.equal(got[0], `${cookie}: 'a cookie'`);
  assert.deepEqual(
    got.slice(1),
    upstreams.flatMap(([, messages], i) => messages.map((m) => `upstreams[${i}].${m}`)),
  );
});

test("every health check setting Kong's spec refuses is refused at its field with Kong's message", async () => {
  const seconds = 'value should be between 0 and 65535';
  const positive = 'value should be between 1 and 2147483648';
  const byte = 'value should be between 0 and 255';
  const status = 'value should be between 100 and 999';
  const integer = 'expected an integer';
  const number = 'expected a number';
  const threshold = 'value should be between 0 and 100';
  const bad = (kind: string, v: unknown, m: string): [unknown, string] => [{ [kind]: v }, m];
  const statuses = (kind: string, at: string): [unknown, string][] =>
    [
      [404, 'expected an array'],
      [['ovo'], integer],
      [[-1], status],
      [[99], status],
      [[1000], status],
    ].map(([v, m]) => bad(kind, { [at]: { http_statuses: v } }, m as string));
  const counters = (kind: string, at: string, fields: string[]): [unknown, string][] =>
    fields.flatMap((f) => [
      bad(kind, { [at]: { [f]: 0.5 } }, integer),
      bad(kind, { [at]: { [f]: -1 } }, byte),
      bad(kind, { [at]: { [f]: 256 } }, byte),
    ]);
  const cases: [unknown, string][] = [
    bad('active', { timeout: -1 }, seconds),
    bad('active', { timeout: 1e42 }, seconds),
    bad('active', { concurrency: 0.5 }, integer),
    bad('active', { concurrency: 0 }, positive),
    bad('active', { concurrency: -10 }, positive),
    bad('active', { http_path: '' }, 'length must be at least 1'),
    bad('active', { http_path: 'ovo' }, 'should start with: /'),
    bad('active', { https_sni: '127.0.0.1' }, 'must not be an IP'),
    bad('active', { https_sni: '127.0.0.1:8080' }, 'must not be an IP'),
    ...['/example', '.example', 'example:', 'mock;bin', 'example.com/org', 'example-.org', 'example.org-']
      .concat(['hello..example.com', 'hello-.example.com'])
      .map((sni) => bad('active', { https_sni: sni }, `invalid value: ${sni}`)),
    bad('active', { https_sni: 'example.com:1234' }, 'must not have a port'),
    bad('active', { https_verify_certificate: 'ovo' }, 'expected a boolean'),
    bad('active', { headers: 0 }, 'expected a mapping'),
    bad('active', { headers: { 'x-header': 123 } }, 'expected an array'),
    bad('active', { healthy: { interval: -1 } }, seconds),
    bad('active', { healthy: { interval: 1e42 } }, seconds),
    ...statuses('active', 'healthy'),
    bad('active', { healthy: { http_statuses: [111.314] } }, integer),
    ...counters('active', 'healthy', ['successes']),
    bad('active', { unhealthy: { interval: -1 } }, seconds),
    bad('active', { unhealthy: { interval: 1e42 } }, seconds),
    ...statuses('active', 'unhealthy'),
    ...counters('active', 'unhealthy', ['tcp_failures', 'timeouts', 'http_failures']),
    ...statuses('passive', 'healthy'),
    ...counters('passive', 'healthy', ['successes']),
    ...statuses('passive', 'unhealthy'),
    ...counters('passive', 'unhealthy', ['tcp_failures', 'timeouts', 'http_failures']),
    ...['active', 'passive'].flatMap((kind) =>
      (
        [
          [-1, threshold],
          [101, threshold],
          ['50', number],
          [true, number],
        ] as const
      ).map(([t, m]): [unknown, string] => [{ [kind]: { unhealthy: { timeouts: 1 } }, threshold: t }, m]),
    ),
  ];
  const got = await refusals(
    `upstreams:\n${cases.map(([h], i) => `  - { name: x${i}, healthchecks: ${flow(h)} }\n`).join('')}`,
  );
  // One error a case, at its upstream, starting with Kong's words (`expected an integer, got a number`).
  assert.equal(got.length, cases.length, got.join('\n'));
  cases.forEach(([h, m], i) => {
    assert.ok(got[i]!.startsWith(`upstreams[${i}].healthchecks.`), `${flow(h)}: ${got[i]}`);
    assert.ok(got[i]!.split(' ').slice(1).join(' ').startsWith(m), `${flow(h)}: ${got[i]} (Kong: ${m})`);
  });
});

test("targets: host names, host:port and addresses load; Kong's message for what is neither", async () => {
  const v = await validateEntities(
    'upstreams:\n  - name: u\n    targets: [{ target: valid.name }, { target: "valid.name:8080" }, { target: 12.34.56.78 }, { target: "1.2.3.4:123" }]\n',
  );
  assert.equal(v.code, 0, v.out);
  assert.deepEqual(
    await refusals(
      "upstreams:\n  - name: u\n    targets: [{ target: '\\\\bad\\\\////name////' }, { target: '1234:80' }, { target: 'example.123:80' }]\n",
    ),
    [
      "upstreams[0].targets[0].target Invalid target ('\\\\bad\\\\////name////'); not a valid hostname or ip address",
      // Kong's hostname_type: digits and dots are an (invalid) IPv4 address.
      "upstreams[0].targets[1].target Invalid target ('1234:80'); not a valid hostname or ip address",
      // Kong loads it; URL parsers, undici's among them, read it as an IPv4 address.
      'upstreams[0].targets[2].target invalid value: example.123: its last label is a number, which URL parsers read as an IPv4 address; use the address, or a name whose last label is not a number',
    ],
  );
});
