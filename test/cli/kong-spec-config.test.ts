// Kong's spec/02-integration/02-cmd/05-check_spec.lua and 11-config_spec.lua (Kong commit
// 22246ef2): `kong check` and `kong config parse`, against `gateway validate`, and the files
// `kong config db_import` loads, against a gateway started from them and its read-only Admin API
// (a DB-less Kong loads the same files). Left out: the database cases without a DB-less
// counterpart (db_import's idempotence by endpoint key, db_export, the anonymous reports ping).
// `kong check` reads kong.conf; its counterpart is the file's `_tollgate` section.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startGateway } from '../../src/testing/index.ts';
import { validateText } from '../support/validate.ts';
import { gateway, tmp } from './helpers.ts';

/** The file of Kong's "config imports a yaml file": `_comment` and `_ignore` members, a 1.1 format. */
const IMPORTED = `_format_version: "1.1"
services:
- name: foo
  host: example.com
  protocol: https
  _comment: my comment
  _ignore:
  - foo: bar
  routes:
    - hosts: ['foo.test']
  plugins:
    - name: key-auth
      _comment: my comment
      _ignore:
      - foo: bar
    - name: http-log
      config:
        http_endpoint: https://example.com
- name: bar
  host: example.test
  port: 3000
  routes:
    - hosts: ['bar.test']
  plugins:
  - name: basic-auth
  - name: tcp-log
    config:
      port: 10000
      host: 127.0.0.1
  - name: rate-limiting
    config:
      minute: 200
      policy: redis
      redis:
        host: 127.0.0.1
plugins:
- name: correlation-id
  id: 467f719f-a544-4a8f-bc4b-7cd12913a9d4
  config:
    header_name: null
    generator: "uuid"
    echo_downstream: false
`;

test('05-check: a valid file is said valid; an invalid setting and a missing file are errors naming them', async () => {
  const ok = await validateText('_format_version: "3.0"\n');
  assert.equal(ok.code, 0);
  assert.match(ok.out, /gateway\.yaml: valid/);
  // Kong: `[error] untrusted_lua has an invalid value`; here kong.conf's setting is refused with why.
  const bad = await validateText('_format_version: "3.0"\n_tollgate:\n  untrusted_lua: foo\n');
  assert.equal(bad.code, 1);
  assert.match(bad.out, /_tollgate\.untrusted_lua {2}'untrusted_lua' is a kong\.conf setting: Tollgate runs no Lua/);
  // Kong: `[error] no file at: inexistent.conf`.
  const missing = await gateway(['validate', 'inexistent.conf'], { cwd: tmp() });
  assert.equal(missing.code, 2);
  assert.match(missing.err, /cannot read inexistent\.conf: no such file/);
});

test("11-config: `config init` has no counterpart (the help is help.test.ts's)", async () => {
  // Kong's `config init [FILE]` writes an example kong.yml; Tollgate ships one (gateway.yaml and
  // examples/), and an unknown command is a usage error naming the commands.
  const init = await gateway(['config', 'init'], { cwd: tmp() });
  assert.equal(init.code, 2);
  assert.match(init.err, /unknown command 'config'/);
});

test("11-config: a file of db_import's loads: its entities as Kong's Admin API shows them", async () => {
  const v = await validateText(IMPORTED);
  assert.equal(v.code, 0, v.out + v.err);
  assert.match(v.out, /valid \(2 services, 2 routes, 0 consumers, 6 plugins\)/);
  const gw = await startGateway({ config: IMPORTED });
  try {
    const get = async (path: string) => {
      const res = await fetch(`${gw.adminUrl}${path}`, { signal: AbortSignal.timeout(10_000) });
      return [res.status, (await res.json()) as any] as const;
    };
    assert.equal((await get('/services/foo'))[0], 200);
    assert.equal((await get('/services/bar'))[0], 200);
    assert.equal((await get('/services/foo/plugins'))[1].data.length, 2);
    assert.equal((await get('/services/bar/plugins'))[1].data.length, 3);
    const [status, plugin] = await get('/plugins/467f719f-a544-4a8f-bc4b-7cd12913a9d4');
    assert.equal(status, 200);
    const { created_at: _c, updated_at: _u, protocols: _p, ...rest } = plugin;
    assert.deepEqual(rest, {
      name: 'correlation-id',
      instance_name: null,
      id: '467f719f-a544-4a8f-bc4b-7cd12913a9d4',
      route: null,
      service: null,
      consumer: null,
      enabled: true,
      // Kong keeps the explicit null (its spec reads `header_name = null` back); a null here means
      // "not set" and the default applies (docs/kong-compatibility.md, what Kong accepts).
      config: { header_name: 'Kong-Request-ID', generator: 'uuid', echo_downstream: false },
      // Kong's null; Tollgate's entities show an empty list for no tags.
      tags: [],
    });
  } finally {
    await gw.close();
  }
});

test('11-config: a wrong type, a port out of range and routes that are no list are each named', async () => {
  const v = await validateText(`_format_version: "1.1"
services:
- name: foobar
  host: []
  port: -23
  protocol: https
  _comment: my comment
  _ignore:
  - foo: bar
  routes: 123
`);
  assert.equal(v.code, 1);
  // Kong: `in 'host': expected a string`, `in 'port': value should be between 0 and 65535`,
  // `in 'routes': expected an array`.
  assert.match(v.out, /services\[0\]\.host {2}expected a string/);
  assert.match(v.out, /services\[0\]\.port {2}value should be between 0 and 65535/);
  assert.match(v.out, /services\[0\]\.routes {2}expected an array/);
});

test('11-config: nested credentials resolve their consumer, in the file and in the Admin API', async () => {
  const text = `_format_version: "1.1"
consumers:
- username: consumer
  basicauth_credentials:
  - username: username
    password: password
`;
  const v = await validateText(text);
  assert.equal(v.code, 0, v.out);
  const gw = await startGateway({ config: text });
  try {
    for (const path of ['/consumers', '/basic-auths']) {
      const body = (await (await fetch(`${gw.adminUrl}${path}`)).json()) as { data: unknown[] };
      assert.equal(body.data.length, 1, path);
    }
  } finally {
    await gw.close();
  }
});

test("11-config (pending in Kong): an old dump with repeated targets and Kong 2's parameters loads", async () => {
  const v = await validateText(`_format_version: "1.1"
_transform: false
_format_version: '2.1'
parameters:
- created_at: ~
  key: cluster_id
  value: 36ad7d46-b95c-44f6-a79e-edb1f33baaf7
upstreams:
- name: upstreama
  id: ab0060c9-7830-415a-9a84-d2d5dd76a04c
  algorithm: round-robin
  slots: 10000
  hash_on: none
  hash_fallback: none
  tags: ~
targets:
- upstream: ab0060c9-7830-415a-9a84-d2d5dd76a04c
  target: 127.0.0.1:6664
  weight: 50
  id: d72fa60a-31d3-436a-a4cb-a35444618a7a
- upstream: ab0060c9-7830-415a-9a84-d2d5dd76a04c
  target: 127.0.0.1:6664
  weight: 100
  id: d72fa60a-31d3-436a-a4cb-a35444618a7b
- upstream: ab0060c9-7830-415a-9a84-d2d5dd76a04c
  target: 127.0.0.1:6661
  weight: 100
  id: fe590183-61a1-4b59-b77c-5d70835d9714
`);
  assert.equal(v.code, 0, v.out + v.err);
  // The repeated key and the repeated target are loaded as Kong loads them, each with a warning.
  assert.match(v.out, /duplicate key '_format_version': the last value is used/);
  assert.match(v.out, /target '127\.0\.0\.1:6664' is already declared in this upstream .* of weight 150/);
});
