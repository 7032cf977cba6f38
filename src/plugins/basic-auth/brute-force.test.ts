// basic-auth's brute_force_protection (Kong Gateway 3.13): failed logins counted per username, 429
// with Retry-After from the fourth attempt, as Kong's how-to shows; the strategies Tollgate does
// not have, and Kong Identity's principals, refused where the file says them.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import { serviceConfig, startServiceGateway } from '../../../test/support/gateway.ts';
import { validateText } from '../../../test/support/validate.ts';
import type { TestGateway } from '../../testing/index.ts';
import { BLOCK_AFTER, FailedLogins, MAX_TRACKED, MAX_WAIT_SECONDS } from './brute-force.ts';

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

describe('basic-auth brute_force_protection, strategy memory', () => {
  let gw: TestGateway;
  const routes = [
    {
      name: 'guarded',
      paths: ['/guarded'],
      plugins: [{ name: 'basic-auth', config: { brute_force_protection: { strategy: 'memory' } } }],
    },
    {
      name: 'redis',
      paths: ['/redis'],
      plugins: [
        {
          name: 'basic-auth',
          config: { brute_force_protection: { strategy: 'redis', redis: { host: '127.0.0.1', port: 1 } } },
        },
      ],
    },
    {
      name: 'off',
      paths: ['/off'],
      plugins: [{ name: 'basic-auth', config: { brute_force_protection: { strategy: 'off', redis: null } } }],
    },
  ];
  const consumers = [
    { username: 'alice', basicauth_credentials: [{ username: 'alice', password: 'right' }] },
    { username: 'carol', basicauth_credentials: [{ username: 'carol', password: 'also-right' }] },
  ];
  before(async () => {
    gw = await startServiceGateway(routes, { extra: { consumers } });
  });
  after(async () => {
    await gw?.close();
  });

  const get = async (path: string, authorization: string) => {
    const res = await request(`${gw.url}${path}`, {
      headers: { authorization, accept: 'application/json' },
      headersTimeout: 5000,
      bodyTimeout: 5000,
    });
    const text = await res.body.text();
    return { status: res.statusCode, retryAfter: res.headers['retry-after'], text };
  };

  test("Kong's how-to: three wrong logins are 401s, the fourth a 429 with Retry-After, for a username no consumer has", async () => {
    for (let i = 1; i <= BLOCK_AFTER; i++)
      assert.equal((await get('/guarded', basic('test', 'wrongpassword'))).status, 401, `attempt ${i}`);
    const blocked = await get('/guarded', basic('test', 'wrongpassword'));
    assert.equal(blocked.status, 429);
    assert.equal(JSON.parse(blocked.text).message, 'Too many requests');
    // The fourth failure doubled the wait: 2^4 seconds from now.
    const wait = Number(blocked.retryAfter);
    assert.ok(wait > 8 && wait <= 16, `Retry-After ${blocked.retryAfter}`);
  });

  test('a blocked user gets 429 with the right password too, and it does not lengthen the wait; other users are not blocked', async () => {
    for (let i = 1; i <= BLOCK_AFTER; i++)
      assert.equal((await get('/guarded', basic('alice', `guess-${i}`))).status, 401);
    const right = await get('/guarded', basic('alice', 'right'));
    assert.equal(right.status, 429, 'a successful login does not lift the block (Kong)');
    const wait = Number(right.retryAfter);
    assert.ok(wait > 0 && wait <= 8, `Retry-After ${right.retryAfter}: the right password counted no failure`);
    const wrong = await get('/guarded', basic('alice', 'guess-4'));
    assert.equal(wrong.status, 429);
    assert.ok(Number(wrong.retryAfter) > 8, `Retry-After ${wrong.retryAfter}: a wrong one doubled it`);
    assert.equal((await get('/guarded', basic('carol', 'also-right'))).status, 200);
  });

  test('strategy redis with nothing listening at redis.port counts in this process, as Kong falls back to memory', async () => {
    for (let i = 1; i <= BLOCK_AFTER; i++)
      assert.equal((await get('/redis', basic('carol', `guess-${i}`))).status, 401, `attempt ${i}`);
    assert.equal((await get('/redis', basic('carol', 'also-right'))).status, 429);
  });

  test("strategy off counts nothing, and each plugin's counters are its own", async () => {
    for (let i = 1; i <= BLOCK_AFTER + 2; i++)
      assert.equal((await get('/off', basic('alice', `guess-${i}`))).status, 401);
    assert.equal((await get('/off', basic('alice', 'right'))).status, 200, 'alice is blocked on /guarded only');
  });

  test('a reload that leaves the plugin on its route keeps the counters: a block outlives it', async () => {
    const before = await get('/guarded', basic('alice', 'right'));
    assert.equal(before.status, 429, 'alice is still blocked from the test above');
    const more = [...consumers, { username: 'dave', basicauth_credentials: [{ username: 'dave', password: 'd' }] }];
    const result = await gw.reload(serviceConfig(routes, { extra: { consumers: more } }));
    assert.equal(result.ok, true, JSON.stringify(result));
    assert.equal((await get('/guarded', basic('dave', 'd'))).status, 200, 'the new config serves');
    assert.equal((await get('/guarded', basic('alice', 'right'))).status, 429);
  });
});

test('the counters: 2^failures seconds each, at most an hour, lifted when they expire, bounded in number', () => {
  const logins = new FailedLogins();
  const fail = (name: string) => logins.attempt(name, true, now);
  /** Seconds to wait when blocked, else 0 (what the plugin answers with). */
  const wait = (name: string) => {
    const [before, lifeMs] = logins.attempt(name, false, now);
    return before >= BLOCK_AFTER ? lifeMs / 1000 : 0;
  };
  let now = 1_000_000;
  for (let i = 1; i < BLOCK_AFTER; i++) fail('u');
  assert.equal(wait('u'), 0, 'not blocked before the third failure');
  assert.deepEqual(fail('u'), [BLOCK_AFTER - 1, 8_000], 'the failures before, and 2^3 s to live');
  assert.equal(wait('u'), 8);
  now += 8_000;
  assert.equal(wait('u'), 0, 'the counter expired: the block is lifted and the count starts again');
  assert.deepEqual(fail('u'), [0, 2_000]);
  for (let i = 0; i < 20; i++) fail('v');
  assert.equal(wait('v'), MAX_WAIT_SECONDS);
  const long = 'x'.repeat(100_000);
  for (let i = 0; i < BLOCK_AFTER; i++) fail(long);
  assert.equal(wait(long), 8, 'a long username is counted like any other');
  for (let i = 0; i <= MAX_TRACKED; i++) fail(`name-${i}`);
  assert.equal(wait('v'), 0, 'past MAX_TRACKED usernames, the least recently failed are forgotten');
});

test("strategy cluster loads with a warning at the field, redis without one, Kong Identity's principals are refused; Kong 3.15's defaults load", async () => {
  const validate = (config: string) =>
    validateText(`_format_version: "3.0"\nplugins:\n  - name: basic-auth\n    config: ${config}\n`);
  const dumped = await validate(
    '{ brute_force_protection: { strategy: "off", redis: { host: null, port: 6379, password: null } }, principals: { enabled: false, directory: default, error_on_miss: true } }',
  );
  assert.equal(dumped.code, 0, dumped.out);
  const redis = await validate('{ brute_force_protection: { strategy: redis, redis: { host: r } } }');
  assert.equal(redis.code, 0, redis.out);
  assert.doesNotMatch(redis.out, /warning/, 'strategy redis shares the counters (brute-force-redis.test.ts)');
  const cluster = await validate('{ brute_force_protection: { strategy: cluster } }');
  assert.equal(cluster.code, 0, cluster.out);
  assert.match(
    cluster.out,
    /warning: .*strategy cluster \(Kong Gateway 3\.13\) shares the failed-login counters between nodes in Kong's database/,
  );
  const principals = await validate('{ principals: { enabled: true } }');
  assert.equal(principals.code, 1, principals.out);
  assert.match(
    principals.out,
    /config\.principals\.enabled {2}principals \(Kong Gateway 3\.15: Kong Identity's directory/,
  );
  const keyAuth = await validateText(
    `_format_version: "3.0"\nplugins:\n  - name: key-auth\n    config: { principals: { enabled: true } }\n`,
  );
  assert.equal(keyAuth.code, 1, keyAuth.out);
  assert.match(keyAuth.out, /config\.principals\.enabled {2}principals \(Kong Gateway 3\.15/);
  const keyAuthDumped = await validateText(
    `_format_version: "3.0"\nplugins:\n  - name: key-auth\n    config: { principals: { enabled: false, directory: default, error_on_miss: true } }\n`,
  );
  assert.equal(keyAuthDumped.code, 0, keyAuthDumped.out);
});
