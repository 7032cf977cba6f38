// rate-limiting's config as Kong checks it: located errors for what Kong refuses, and Kong's
// deprecated flat redis_* fields beside the redis record.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { validateText } from '../../../test/support/validate.ts';
import { startGateway } from '../../testing/index.ts';

test('invalid configs are located errors: no limit, decreasing limits, missing header_name or redis.host', async () => {
  const cases: [Record<string, unknown>, string, RegExp][] = [
    [{}, 'plugins[0].config', /at least one of these fields must be non-empty/],
    [
      { second: 10, minute: 5 },
      'plugins[0].config.minute',
      /The limit for minute\(5\.0\) cannot be lower than the limit for second\(10\.0\)/,
    ],
    [{ minute: 5, limit_by: 'header' }, 'plugins[0].config.header_name', /required/],
    [{ minute: 5, policy: 'redis' }, 'plugins[0].config.redis.host', /required/],
  ];
  for (const [cfg, path, message] of cases) {
    await assert.rejects(
      startGateway({ config: { _format_version: '3.0', plugins: [{ name: 'rate-limiting', config: cfg }] } }),
      (err: Error & { issues?: { path: string; message: string }[] }) =>
        err.issues?.some((i) => i.path === path && message.test(i.message)) === true ||
        assert.fail(JSON.stringify(err.issues ?? err.message)),
    );
  }
});

/** `gateway validate` of one rate-limiting config written as YAML flow text: its exit code and output. */
const validateRateLimiting = (config: string) =>
  validateText(`_format_version: "3.0"\nplugins:\n  - name: rate-limiting\n    config: ${config}\n`);

test("Kong's deprecated flat redis_* fields load, each with Kong's deprecation text, located at the field, beside redis fields of the same value", async () => {
  const { code, out } = await validateRateLimiting(
    '{ minute: 5, policy: redis, redis_host: redis.internal, redis_port: 6380, redis_database: null, redis: { port: 6380 } }',
  );
  assert.equal(code, 0, out);
  for (const f of ['host', 'port'])
    assert.ok(
      out.includes(
        `plugins[0].config.redis_${f}  warning: plugin 'rate-limiting': rate-limiting: config.redis_${f} is deprecated, please use config.redis.${f} instead`,
      ),
      out,
    );
  assert.doesNotMatch(out, /redis_database/, 'a null is unset');
  assert.doesNotMatch(out, /mismatch/, 'the same value in both fields (decK dumps of Kong 3.6+) is no conflict');
});

test("a flat redis_* field that says otherwise than its redis field is refused with Kong's message, a password not quoted", async () => {
  const host = await validateRateLimiting(
    '{ minute: 5, policy: redis, redis_host: a.internal, redis: { host: b.internal } }',
  );
  assert.equal(host.code, 1, host.out);
  assert.ok(
    host.out.includes(
      'plugins[0].config.redis_host  both deprecated and new field are used but their values mismatch: redis_host = a.internal vs redis.host = b.internal',
    ),
    host.out,
  );
  const password = await validateRateLimiting(
    '{ minute: 5, policy: redis, redis_password: p-one, redis: { host: h, password: p-two } }',
  );
  assert.equal(password.code, 1, password.out);
  assert.ok(password.out.includes('redis_password = [redacted] vs redis.password = [redacted]'), password.out);
  assert.doesNotMatch(password.out, /p-one|p-two/);
});

test("sync_rate is refused where Kong's schema refuses it (the local policy, under 0.02 s), with Kong's messages; a redis one loads with a warning", async () => {
  const local = await validateRateLimiting('{ minute: 5, sync_rate: 10 }');
  assert.equal(local.code, 1, local.out);
  assert.ok(
    local.out.includes(
      "plugins[0].config.sync_rate  plugin 'rate-limiting': sync_rate can only be used with the redis policy",
    ),
    local.out,
  );
  const small = await validateRateLimiting('{ minute: 5, policy: redis, redis: { host: h }, sync_rate: 0.01 }');
  assert.equal(small.code, 1, small.out);
  assert.ok(small.out.includes('sync_rate must be greater than 0.02, or -1 to disable'), small.out);
  const redis = await validateRateLimiting('{ minute: 5, policy: redis, redis: { host: h }, sync_rate: 10 }');
  assert.equal(redis.code, 0, redis.out);
  assert.match(redis.out, /sync_rate is ignored/);
  const realtime = await validateRateLimiting('{ minute: 5, sync_rate: -1 }');
  assert.equal(realtime.code, 0, realtime.out);
});

test("header_name and path are checked as Kong's typedefs check them, with Kong's messages", async () => {
  const cases: [string, string][] = [
    [
      '{ minute: 5, limit_by: header, header_name: "x tenant" }',
      "plugins[0].config.header_name  bad header name 'x tenant', allowed characters are A-Z, a-z, 0-9, '_', and '-'",
    ],
    [
      '{ minute: 5, limit_by: path, path: "/a b" }',
      "plugins[0].config.path  plugin 'rate-limiting': invalid path: '/a b' (characters outside of the reserved list of RFC 3986 found)",
    ],
    ['{ minute: 5, limit_by: path, path: "/a//b" }', 'must not have empty segments'],
    ['{ minute: 5, limit_by: path, path: "/a%zz" }', "invalid url-encoded value: '%zz'"],
  ];
  for (const [config, message] of cases) {
    const r = await validateRateLimiting(config);
    assert.equal(r.code, 1, r.out);
    assert.ok(r.out.includes(message), r.out);
  }
  const fine = await validateRateLimiting('{ minute: 5, limit_by: path, path: "/v1/items%2F~:@" }');
  assert.equal(fine.code, 0, fine.out);
});

test("Kong Gateway 3.13's redis.cloud_authentication loads at its default and is refused when set, at the field, no value quoted", async () => {
  const nulls =
    'auth_provider: null, aws_access_key_id: null, aws_assume_role_arn: null, aws_cache_name: null, aws_is_serverless: true, aws_region: null, aws_role_session_name: null, aws_secret_access_key: null, azure_client_id: null, azure_client_secret: null, azure_tenant_id: null, gcp_service_account_json: null';
  const dumped = await validateRateLimiting(
    `{ minute: 5, policy: redis, redis: { host: h, cloud_authentication: { ${nulls} } } }`,
  );
  assert.equal(dumped.code, 0, dumped.out);
  const aws = await validateRateLimiting(
    '{ minute: 5, policy: redis, redis: { host: h, cloud_authentication: { auth_provider: aws, aws_secret_access_key: s3cr3t-value } } }',
  );
  assert.equal(aws.code, 1, aws.out);
  assert.ok(
    aws.out.includes(
      'plugins[0].config.redis.cloud_authentication.auth_provider  redis.cloud_authentication (Kong Gateway 3.13: Redis authentication with AWS, Azure or GCP credentials) is not implemented: connect with redis.username and redis.password',
    ),
    aws.out,
  );
  assert.doesNotMatch(aws.out, /s3cr3t-value/);
  const secretOnly = await validateRateLimiting(
    '{ minute: 5, policy: redis, redis: { host: h, cloud_authentication: { azure_client_secret: s3cr3t-value } } }',
  );
  assert.equal(secretOnly.code, 1, secretOnly.out);
  assert.match(secretOnly.out, /cloud_authentication\.azure_client_secret {2}redis\.cloud_authentication/);
  assert.doesNotMatch(secretOnly.out, /s3cr3t-value/);
});
