// Kong's own specs of response-ratelimiting's config, as of Kong commit 22246ef2:
// spec/03-plugins/24-response-rate-limiting/01-schema_spec.lua (which configs load, which are
// refused and with what message) and the config cases of 05-integration_spec.lua (a `redis`
// record loads with no deprecation warning; each flat `redis_*` field loads with Kong's
// deprecation text). Cases already covered by response-ratelimiting.test.ts (an empty `limits`,
// a null period beside a set one, year below month) are not repeated. From
// 06-shorthand_fields_spec.lua, the reads of the Admin API (GET /plugins, a page of it,
// /routes/{route}/plugins); its POST, PATCH and PUT are Admin API writes, which a DB-less gateway
// does not have.
// 04-access_spec.lua also runs every case with the `cluster` policy (Kong's database): Kong's
// schema refuses it DB-less, and so does Tollgate's, with the same message.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { validateText } from '../../../test/support/validate.ts';
import { startGateway } from '../../testing/index.ts';

/** `gateway validate` of one response-ratelimiting config written as YAML flow text. */
const validate = (config: string) =>
  validateText(`_format_version: "3.0"\nplugins:\n  - name: response-ratelimiting\n    config: ${config}\n`);

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

test('01-schema: proper configs validate (one period, every period)', async () => {
  for (const config of [
    '{ limits: { video: { second: 1 } } }',
    '{ limits: { video: { second: 1, minute: 2, hour: 3, day: 4, month: 5, year: 6 } } }',
  ]) {
    const r = await validate(config);
    assert.equal(r.code, 0, `${config}: ${r.out}`);
    assert.doesNotMatch(r.out, /warning/, config);
  }
});

test('01-schema: a config without limits, a limit with an unknown period, a limit that is no record are refused at the field', async () => {
  // Kong's words: "required field missing", "unknown field" (with a suggestion here); Kong's
  // "expected a record" is "expected a mapping" (docs/kong-compatibility.md).
  const cases: [string, string][] = [
    ['{}', 'plugins[0].config.limits  required field missing'],
    ['{ limits: { video: { seco: 1 } } }', "plugins[0].config.limits.video.seco  unknown field 'seco'"],
    ['{ limits: { second: 10 } }', 'plugins[0].config.limits.second  expected a mapping, got an integer'],
  ];
  for (const [config, message] of cases) {
    const r = await validate(config);
    assert.equal(r.code, 1, r.out);
    assert.ok(r.out.includes(message), `${config}: ${r.out}`);
  }
});

test("01-schema: a longer period with a lower limit is refused with Kong's message", async () => {
  const r = await validate('{ limits: { video: { second: 2, minute: 1 } } }');
  assert.equal(r.code, 1, r.out);
  assert.ok(
    r.out.includes(
      "plugins[0].config.limits.video.minute  plugin 'response-ratelimiting': the limit for minute(1.0) cannot be lower than the limit for second(2.0)",
    ),
    r.out,
  );
});

test("01-schema: a redis record with every field validates, and so do the flat redis_* fields; policy redis without redis.host is Kong's 'required field missing'", async () => {
  const record = await validate(
    '{ limits: { video: { second: 10 } }, policy: redis, redis: { host: 127.0.0.1, port: 6379, database: 0, username: test, password: testXXX, ssl: true, ssl_verify: false, timeout: 1100, server_name: redis.test } }',
  );
  assert.equal(record.code, 0, record.out);
  const flat = await validate(
    '{ limits: { video: { second: 10 } }, policy: redis, redis_host: 127.0.0.1, redis_port: 6379, redis_database: 0, redis_username: test, redis_password: testXXX, redis_ssl: true, redis_ssl_verify: false, redis_timeout: 1100, redis_server_name: redis.test }',
  );
  assert.equal(flat.code, 0, flat.out);
  const hostless = await validate(
    '{ limits: { video: { second: 10 } }, policy: redis, redis: { port: 6379, database: 0, username: test, password: testXXX, ssl: true, ssl_verify: false, timeout: 1100, server_name: redis.test } }',
  );
  assert.equal(hostless.code, 1, hostless.out);
  assert.match(
    hostless.out,
    /plugins\[0\]\.config\.redis\.host {2}plugin 'response-ratelimiting': required field missing/,
  );
});

test('05-integration: a plugin with the redis record logs no deprecation; one with the flat fields logs each of the nine', async () => {
  const record = await validate(
    '{ limits: { video: { minute: 100 } }, policy: redis, redis: { host: 127.0.0.1, port: 6379, username: test1, password: testX, database: 1, timeout: 1100, ssl: true, ssl_verify: true, server_name: example.test } }',
  );
  assert.equal(record.code, 0, record.out);
  assert.doesNotMatch(record.out, /deprecated/);
  const flat = await validate(
    '{ limits: { video: { minute: 100 } }, policy: redis, redis_host: custom-host.example.test, redis_port: 55000, redis_username: test1, redis_password: testX, redis_database: 1, redis_timeout: 3400, redis_ssl: true, redis_ssl_verify: true, redis_server_name: example.test }',
  );
  assert.equal(flat.code, 0, flat.out);
  for (const field of FLAT) {
    const to = field.slice('redis_'.length);
    assert.ok(
      flat.out.includes(
        `plugins[0].config.${field}  warning: plugin 'response-ratelimiting': response-ratelimiting: config.${field} is deprecated, please use config.redis.${to} instead`,
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
    plugins: [
      {
        name: 'response-ratelimiting',
        config: { limits: { video: { minute: 100 + i } }, policy: 'redis', ...legacy(i) },
      },
    ],
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
  const r = await validate('{ limits: { video: { second: 6 } }, policy: cluster }');
  assert.equal(r.code, 1, r.out);
  assert.ok(r.out.includes('plugins[0].config.policy  expected one of: local, redis'), r.out);
});
