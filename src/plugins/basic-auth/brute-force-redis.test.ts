// basic-auth's brute_force_protection with strategy redis, against a real redis-server: the
// failed-login counters are shared by every gateway on that Redis, and each gateway falls back to
// its own counters while Redis cannot answer, as Kong Gateway 3.14 falls back to memory.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import { startServiceGateway } from '../../../test/support/gateway.ts';
import { redisUnavailable, startRedis, type TestRedis } from '../../../test/support/redis.ts';
import { validateText } from '../../../test/support/validate.ts';
import type { TestGateway } from '../../testing/index.ts';
import { BLOCK_AFTER } from './brute-force.ts';

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

async function get(gw: TestGateway, path: string, authorization: string) {
  const res = await request(`${gw.url}${path}`, {
    headers: { authorization, accept: 'application/json' },
    headersTimeout: 10_000,
    bodyTimeout: 10_000,
  });
  await res.body.text();
  return { status: res.statusCode, retryAfter: Number(res.headers['retry-after']) };
}

const skip = redisUnavailable();
describe('basic-auth brute_force_protection, strategy redis', { skip: skip ?? false }, () => {
  let redis: TestRedis;
  let a: TestGateway;
  let b: TestGateway;
  const consumers = [
    { username: 'alice', basicauth_credentials: [{ username: 'alice', password: 'right' }] },
    { username: 'bob', basicauth_credentials: [{ username: 'bob', password: 'right' }] },
    { username: 'erin', basicauth_credentials: [{ username: 'erin', password: 'right' }] },
    { username: 'gina', basicauth_credentials: [{ username: 'gina', password: 'right' }] },
  ];
  const protection = (strategy: string) => ({
    name: 'basic-auth',
    config: { brute_force_protection: { strategy, redis: { host: redis.host, port: redis.port, timeout: 300 } } },
  });
  before(async () => {
    redis = await startRedis();
    const routes = [
      { name: 'shared', paths: ['/shared'], plugins: [protection('redis')] },
      { name: 'apart', paths: ['/apart'], plugins: [protection('memory')] },
    ];
    // Two gateways on the same file, as two instances behind a load balancer.
    a = await startServiceGateway(routes, { extra: { consumers } });
    b = await startServiceGateway(routes, { extra: { consumers } });
  });
  after(async () => {
    await Promise.all([a?.close(), b?.close()]);
    await redis?.stop();
  });

  test('failures counted on one gateway block the username on the other, with the wait Redis keeps', async () => {
    for (let i = 1; i <= BLOCK_AFTER; i++) {
      const gw = i % 2 === 0 ? b : a;
      assert.equal((await get(gw, '/shared', basic('alice', `guess-${i}`))).status, 401, `attempt ${i}`);
    }
    const right = await get(b, '/shared', basic('alice', 'right'));
    assert.equal(right.status, 429, 'blocked on the gateway that saw one failure of three');
    assert.ok(right.retryAfter > 4 && right.retryAfter <= 8, `Retry-After ${right.retryAfter}: 2^3 s`);
    const wrong = await get(a, '/shared', basic('alice', 'guess-4'));
    assert.equal(wrong.status, 429);
    assert.ok(wrong.retryAfter > 8 && wrong.retryAfter <= 16, `Retry-After ${wrong.retryAfter}: the fourth failure`);
    assert.equal((await get(b, '/shared', basic('bob', 'right'))).status, 200, 'other usernames are not blocked');
    const status = (await (await fetch(`${a.adminUrl}/status`)).json()) as { dependencies: Record<string, unknown>[] };
    const dependency = status.dependencies.find((d) => d.kind === 'redis');
    assert.equal(dependency?.target, `${redis.host}:${redis.port}`, JSON.stringify(status.dependencies));
    assert.equal(dependency?.plugin, 'basic-auth');
    assert.equal(dependency?.healthy, true);
  });

  test('strategy memory on the same two gateways counts in each alone', async () => {
    for (let i = 1; i <= BLOCK_AFTER; i++)
      assert.equal((await get(a, '/apart', basic('bob', `guess-${i}`))).status, 401, `attempt ${i}`);
    assert.equal((await get(a, '/apart', basic('bob', 'right'))).status, 429);
    assert.equal((await get(b, '/apart', basic('bob', 'right'))).status, 200, 'b counted none of them');
  });

  test('while Redis hangs, each gateway answers within the timeout and counts on its own; shared again after', async () => {
    // Counted in Redis before it hangs, through b only: a learns of them from Redis alone.
    for (let i = 1; i <= BLOCK_AFTER; i++)
      assert.equal((await get(b, '/shared', basic('gina', `guess-${i}`))).status, 401);
    redis.hang();
    try {
      for (let i = 1; i <= BLOCK_AFTER; i++) {
        const started = Date.now();
        assert.equal((await get(a, '/shared', basic('erin', `guess-${i}`))).status, 401, `attempt ${i}`);
        assert.ok(Date.now() - started < 5_000, 'not held by the hung Redis');
      }
      assert.equal((await get(a, '/shared', basic('erin', 'right'))).status, 429, "a's own counters block erin");
      assert.equal((await get(b, '/shared', basic('erin', 'right'))).status, 200, 'b never saw those failures');
      assert.equal((await get(a, '/shared', basic('gina', 'right'))).status, 200, 'a cannot read the shared block');
    } finally {
      redis.resume();
    }
    // Once a tries Redis again (its breaker lets one command through after a second), the shared block counts there.
    let status = 0;
    for (let tries = 0; tries < 50 && status !== 429; tries++) {
      await new Promise((r) => setTimeout(r, 100));
      status = (await get(a, '/shared', basic('gina', 'right'))).status;
    }
    assert.equal(status, 429);
  });
});

test('strategy redis needs redis.host; cloud_authentication is refused; a dumped record loads without warning', async () => {
  const validate = (config: string) =>
    validateText(`_format_version: "3.0"\nplugins:\n  - name: basic-auth\n    config: ${config}\n`);
  const noHost = await validate('{ brute_force_protection: { strategy: redis } }');
  assert.equal(noHost.code, 1, noHost.out);
  assert.match(
    noHost.out,
    /config\.brute_force_protection\.redis\.host {2}.*required field missing \(strategy is redis\)/,
  );
  const cloud = await validate(
    '{ brute_force_protection: { strategy: redis, redis: { host: r, cloud_authentication: { auth_provider: aws } } } }',
  );
  assert.equal(cloud.code, 1, cloud.out);
  assert.match(
    cloud.out,
    /brute_force_protection\.redis\.cloud_authentication\.auth_provider {2}brute_force_protection\.redis\.cloud_authentication \(Kong Gateway 3\.13/,
  );
  const dumped = await validate(
    '{ brute_force_protection: { strategy: redis, redis: { host: r, port: 6379, timeout: 2000, username: null, password: null, database: 0, ssl: false, ssl_verify: true, server_name: null, cloud_authentication: { auth_provider: null, aws_is_serverless: true } } } }',
  );
  assert.equal(dumped.code, 0, dumped.out);
  assert.doesNotMatch(dumped.out, /warning/);
  const unverified = await validate(
    '{ brute_force_protection: { strategy: redis, redis: { host: r, ssl: true, ssl_verify: false } } }',
  );
  assert.match(unverified.out, /brute_force_protection\.redis\.ssl_verify {2}warning: .*not verified/);
});
