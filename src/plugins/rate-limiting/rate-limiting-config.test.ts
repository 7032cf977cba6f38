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
