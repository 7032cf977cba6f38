// Kong's own specs of rate-limiting's config, as of Kong commit 22246ef2:
// spec/03-plugins/23-rate-limiting/01-schema_spec.lua (which configs load, which are refused and
// with what message) and the config cases of 05-integration_spec.lua (a `redis` record loads with
// no deprecation warning; each flat `redis_*` field loads with Kong's deprecation text). Cases
// already covered by rate-limiting-config.test.ts (no limit at all, header_name or redis.host
// missing) are not repeated. From 06-shorthand_fields_spec.lua, the reads of the Admin API (GET
// /plugins, a page of it, /routes/{route}/plugins); its POST, PATCH and PUT are Admin API writes,
// which a DB-less gateway does not have.
// 04-access_spec.lua also runs every case with the `cluster` policy (Kong's database): Kong's
// schema refuses it DB-less, and so does Tollgate's, with the same message.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { validateText } from '../../../test/support/validate.ts';
import { startGateway } from '../../testing/index.ts';

/** `gateway validate` of one rate-limiting config written as YAML flow text. */
const validate = (config: string) =>
  validateText(`_format_version: "3.0"\nplugins:\n  - name: rate-limiting\n    config: ${config}\n`);

const FLAT = [
  'redis_host',
  'redis_port',
  'redis_password',
  'redis_username',
  'redis_ssl',
  'redis_ssl_verify',
  'redis_server_name',
  'redis_timeout',
  'redis_database',
];

test('01-schema: proper configs validate (one period, every period, limit_by header, limit_by path)', async () => {
  for (const config of [
    '{ second: 10 }',
    '{ second: 10, minute: 20, hour: 30, day: 40, month: 50, year: 60 }',
    '{ second: 10, limit_by: header, header_name: X-App-Version }',
    '{ second: 10, limit_by: path, path: /request }',
  ]) {
    const r = await validate(config);
    assert.equal(r.code, 0, `${config}: ${r.out}`);
    assert.doesNotMatch(r.out, /warning/, config);
  }
});

test("01-schema: a longer period with a lower limit is refused with Kong's message, at that period", async () => {
  const cases: [string, string][] = [
    [
      '{ second: 20, hour: 10 }',
      "plugins[0].config.hour  plugin 'rate-limiting': The limit for hour(10.0) cannot be lower than the limit for second(20.0)",
    ],
    [
      '{ second: 10, minute: 20, hour: 30, day: 40, month: 60, year: 50 }',
      "plugins[0].config.year  plugin 'rate-limiting': The limit for year(50.0) cannot be lower than the limit for month(60.0)",
    ],
  ];
  for (const [config, message] of cases) {
    const r = await validate(config);
    assert.equal(r.code, 1, r.out);
    assert.ok(r.out.includes(message), r.out);
  }
});

test("01-schema: limit_by path without a path is refused: Kong's 'required field missing', at config.path", async () => {
  const r = await validate('{ second: 10, limit_by: path }');
  assert.equal(r.code, 1, r.out);
  assert.match(r.out, /plugins\[0\]\.config\.path {2}plugin 'rate-limiting': required field missing/);
});

test('01-schema: a redis record with every field validates; so do the flat redis_* fields of before Kong 3.6', async () => {
  const record = await validate(
    '{ second: 10, policy: redis, redis: { host: 127.0.0.1, port: 6379, database: 0, username: test, password: testXXX, ssl: true, ssl_verify: false, timeout: 1100, server_name: redis.test } }',
  );
  assert.equal(record.code, 0, record.out);
  const flat = await validate(
    '{ second: 10, policy: redis, redis_host: 127.0.0.1, redis_port: 6379, redis_database: 0, redis_username: test, redis_password: testXXX, redis_ssl: true, redis_ssl_verify: false, redis_timeout: 1100, redis_server_name: redis.test }',
  );
  assert.equal(flat.code, 0, flat.out);
});

test('05-integration: a plugin with the redis record logs no deprecation; one with the flat fields logs each of the nine', async () => {
  const record = await validate(
    '{ minute: 100, policy: redis, redis: { host: 127.0.0.1, port: 6379, username: test1, password: testX, database: 1, timeout: 1100, ssl: true, ssl_verify: true, server_name: example.test } }',
  );
  assert.equal(record.code, 0, record.out);
  assert.doesNotMatch(record.out, /deprecated/);
  const flat = await validate(
    '{ minute: 100, policy: redis, redis_host: custom-host.example.test, redis_port: 55000, redis_username: test1, redis_password: testX, redis_database: 1, redis_timeout: 1100, redis_ssl: true, redis_ssl_verify: true, redis_server_name: example.test }',
  );
  assert.equal(flat.code, 0, flat.out);
  for (const field of FLAT) {
    const to = field.slice('redis_'.length);
    assert.ok(
      flat.out.includes(
        `plugins[0].config.${field}  warning: plugin 'rate-limiting': rate-limiting: config.${field} is deprecated, please use config.redis.${to} instead`,
      ),
      `${field}: ${flat.out}`,
    );
  }
  assert.doesNotMatch(flat.out, /testX/, 'the password is not quoted');
});

test('06-shorthand_fields: GET /plugins, a page of it and /routes/{route}/plugins show the flat redis_* fields as given and the redis record they fill, the password redacted', async () => {
  const port = 55000;
  const legacy = (i: number) => ({
    redis_host: `custom-host${i}.example.test`,
    redis_port: port + i,
    redis_username: 'test1',
    redis_password: 'testX',
    redis_database: 1,
    redis_timeout: 1100,
    redis_ssl: true,
    redis_ssl_verify: true,
    redis_server_name: `example${i}.test`,
  });
  const routes = [1, 2, 3].map((i) => ({
    name: `route-${i}`,
    hosts: [`redis${i}.test`],
    plugins: [{ name: 'rate-limiting', config: { minute: 100 + i, policy: 'redis', ...legacy(i) } }],
  }));
  const gw = await startGateway({
    config: { _format_version: '3.0', services: [{ name: 'test', url: 'echo://', routes }] },
  });
  try {
    for (const [path, count] of [
      ['/plugins', 3],
      ['/plugins?size=2', 2],
      ['/routes/route-1/plugins', 1],
    ] as const) {
      const body = (await (await fetch(`${gw.adminUrl}${path}`)).json()) as {
        data: { config: Record<string, unknown> & { redis: Record<string, unknown> } }[];
      };
      assert.equal(body.data.length, count, path);
      for (const { config } of body.data) {
        const expected: Record<string, unknown> = legacy(Number(config.redis.port) - port);
        // Kong prints the password; Tollgate's Admin API redacts every secret.
        expected.redis_password = '[redacted]';
        for (const [field, value] of Object.entries(expected)) {
          assert.deepEqual(config[field], value, `${path} ${field}`);
          assert.deepEqual(config.redis[field.slice('redis_'.length)], value, `${path} redis.${field}`);
        }
      }
    }
  } finally {
    await gw.close();
  }
});

test("04-access_spec's cluster policy: refused as Kong refuses it DB-less, with its message (its policies there are local and redis)", async () => {
  const r = await validate('{ minute: 6, policy: cluster }');
  assert.equal(r.code, 1, r.out);
  assert.ok(r.out.includes('plugins[0].config.policy  expected one of: local, redis'), r.out);
});
