// rate-limiting: Kong's headers and answers, the local policy, and the redis policy against a real redis-server.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { pipelined, rawRequest } from '../../../test/support/raw.ts';
import { redisUnavailable, startRedis, startRedisTlsFront, type TestRedis } from '../../../test/support/redis.ts';
import { refusedPort } from '../../../test/support/refused-port.ts';
import { startOfMinute, until } from '../../../test/support/wait.ts';
import { TestCa, tool } from '../../../test/tls/support.ts';
import { startGateway, type TestGateway } from '../../testing/index.ts';
import { rateLimitingStats } from './index.ts';

/** Parsed JSON body; tests read what they assert on. */
async function json(r: Response): Promise<any> {
  return r.json();
}

function config(plugins: Record<string, Record<string, unknown>>): Record<string, unknown> {
  return {
    _format_version: '3.0',
    services: [
      {
        name: 'echo',
        url: 'echo://',
        routes: Object.entries(plugins).map(([path, cfg]) => ({
          name: path,
          paths: [`/${path}`],
          plugins: [{ name: 'rate-limiting', config: cfg }],
        })),
      },
    ],
  };
}

/** Waits until the current second has at least `ms` left, so a burst stays inside one window. */
async function startOfSecond(ms = 600): Promise<void> {
  const into = Date.now() % 1000;
  if (1000 - into < ms) await new Promise((r) => setTimeout(r, 1000 - into + 5));
}

describe('rate-limiting, local policy', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startGateway({
      config: config({
        minute: { minute: 3, policy: 'local' },
        second: { second: 2, hour: 100 },
        header: { minute: 1, limit_by: 'header', header_name: 'x-tenant' },
        underscore: { minute: 1, limit_by: 'header', header_name: 'X_Tenant' },
        hidden: { minute: 1, hide_client_headers: true, error_code: 503, error_message: 'slow down' },
        path: { minute: 1, limit_by: 'path', path: '/path' },
        spelling: { minute: 1 },
      }),
    });
  });
  after(() => gw?.close());

  test('answers Kong headers, then 429 with Retry-After and Kong message when the minute is used up', async () => {
    await startOfMinute();
    for (let i = 0; i < 3; i++) {
      const r = await fetch(`${gw.url}/minute`);
      assert.equal(r.status, 200);
      assert.equal(r.headers.get('x-ratelimit-limit-minute'), '3');
      assert.equal(r.headers.get('x-ratelimit-remaining-minute'), String(2 - i));
      assert.equal(r.headers.get('ratelimit-limit'), '3');
      assert.equal(r.headers.get('ratelimit-remaining'), String(2 - i));
      const reset = Number(r.headers.get('ratelimit-reset'));
      assert.ok(reset >= 1 && reset <= 60, `RateLimit-Reset ${reset}`);
    }
    const r = await fetch(`${gw.url}/minute`);
    assert.equal(r.status, 429);
    assert.equal((await json(r)).message, 'API rate limit exceeded');
    assert.equal(r.headers.get('x-ratelimit-remaining-minute'), '0');
    assert.equal(r.headers.get('ratelimit-remaining'), '0');
    assert.equal(r.headers.get('retry-after'), r.headers.get('ratelimit-reset'));
  });

  test("HTTP/1.1 clients get the header names in Kong's spelling (nginx writes them as set)", async () => {
    await startOfMinute();
    const send = () => rawRequest(gw.url, 'GET /spelling HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 300);
    const ok = await send();
    assert.equal(ok.status, 200);
    for (const name of [
      'X-RateLimit-Limit-Minute',
      'X-RateLimit-Remaining-Minute',
      'RateLimit-Limit',
      'RateLimit-Remaining',
    ])
      assert.match(ok.raw, new RegExp(`\r\n${name}: \\d+\r\n`), name);
    assert.match(ok.raw, /\r\nRateLimit-Reset: \d+\r\n/);
    const refused = await send();
    assert.equal(refused.status, 429);
    assert.match(refused.raw, /\r\nX-RateLimit-Remaining-Minute: 0\r\n/);
    assert.match(refused.raw, /\r\nRetry-After: \d+\r\n/);
  });

  test('limits reset at the window boundary, and RateLimit-* follows the tightest window', async () => {
    await startOfSecond();
    const a = await fetch(`${gw.url}/second`);
    assert.equal(a.headers.get('ratelimit-limit'), '2');
    assert.equal(a.headers.get('ratelimit-remaining'), '1');
    assert.equal(a.headers.get('ratelimit-reset'), '1');
    assert.equal(a.headers.get('x-ratelimit-limit-hour'), '100');
    assert.equal(a.headers.get('x-ratelimit-remaining-hour'), '99');
    assert.equal((await fetch(`${gw.url}/second`)).status, 200);
    const refused = await fetch(`${gw.url}/second`);
    assert.equal(refused.status, 429);
    // A refused request uses no quota of the other windows (Kong).
    assert.equal(refused.headers.get('x-ratelimit-remaining-hour'), '98');
    await new Promise((r) => setTimeout(r, 1000 - (Date.now() % 1000) + 5));
    const next = await fetch(`${gw.url}/second`);
    assert.equal(next.status, 200);
    assert.equal(next.headers.get('x-ratelimit-remaining-hour'), '97');
  });

  test('limit_by header counts each header value apart, and falls back to the client ip', async () => {
    await startOfMinute();
    assert.equal((await fetch(`${gw.url}/header`, { headers: { 'x-tenant': 'a' } })).status, 200);
    assert.equal((await fetch(`${gw.url}/header`, { headers: { 'x-tenant': 'a' } })).status, 429);
    assert.equal((await fetch(`${gw.url}/header`, { headers: { 'x-tenant': 'b' } })).status, 200);
    assert.equal((await fetch(`${gw.url}/header`)).status, 200);
    assert.equal((await fetch(`${gw.url}/header`)).status, 429);
  });

  test('limit_by header: a header_name written with _ counts by the header written with -, as Kong reads it', async () => {
    await startOfMinute();
    const as = (tenant: string) => fetch(`${gw.url}/underscore`, { headers: { 'x-tenant': tenant } });
    assert.equal((await as('a')).status, 200);
    assert.equal((await as('a')).status, 429);
    // Another value is another counter, not the client address the first two shared.
    assert.equal((await as('b')).status, 200);
  });

  test("limit_by header: a repeated header counts by its first line, as Kong's get_header reads it", async () => {
    await startOfMinute();
    const send = (...lines: string[]) =>
      rawRequest(
        gw.url,
        `GET /header HTTP/1.1\r\nHost: x\r\n${lines.map((l) => `x-tenant: ${l}\r\n`).join('')}Connection: close\r\n\r\n`,
        300,
      );
    assert.equal((await send('c')).status, 200);
    // Repeating the header (or adding another line) is still tenant c, not a fresh counter.
    assert.equal((await send('c', 'c')).status, 429);
    assert.equal((await send('c', 'd')).status, 429);
    // One line holding a comma is that whole value, as in Kong.
    assert.equal((await send('c, d')).status, 200);
  });

  test('hide_client_headers sends no rate headers; error_code and error_message shape the refusal', async () => {
    await startOfMinute();
    const ok = await fetch(`${gw.url}/hidden`);
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get('ratelimit-limit'), null);
    assert.equal(ok.headers.get('x-ratelimit-limit-minute'), null);
    const r = await fetch(`${gw.url}/hidden`);
    assert.equal(r.status, 503);
    assert.equal((await json(r)).message, 'slow down');
    assert.equal(r.headers.get('retry-after'), null);
  });

  test('a reload keeps the counters of the local policy', async () => {
    await startOfMinute();
    assert.equal((await fetch(`${gw.url}/path`)).status, 200);
    const res = await gw.reload();
    assert.equal(res.ok, true);
    assert.equal((await fetch(`${gw.url}/path`)).status, 429);
  });

  test('exact within a process: 50 concurrent requests against a limit of 20 let exactly 20 through', async () => {
    await startOfMinute();
    const g = await startGateway({ config: config({ burst: { minute: 20, limit_by: 'ip' } }) });
    try {
      const statuses = await Promise.all(
        Array.from({ length: 50 }, () => fetch(`${g.url}/burst`).then((r) => r.status)),
      );
      assert.equal(statuses.filter((s) => s === 200).length, 20);
      assert.equal(statuses.filter((s) => s === 429).length, 30);
    } finally {
      await g.close();
    }
  });

  test("an error_code outside 400-599 loads (as in Kong) with a warning; each refusal is a 500, as Kong's kong.response.error raises", async () => {
    const odd = await startGateway({
      config: config({ x: { minute: 1, limit_by: 'ip', error_code: 302 }, y: { minute: 5, error_code: 1000 } }),
    });
    try {
      const warned = (code: number) =>
        odd.logs.some(
          (l) => l.level === 'warn' && String(l.msg).includes(`error_code ${code} is not an HTTP error status`),
        );
      assert.ok(warned(302) && warned(1000), JSON.stringify(odd.logs.filter((l) => l.level === 'warn')));
      await startOfMinute();
      assert.equal((await fetch(`${odd.url}/x`)).status, 200);
      const refused = await fetch(`${odd.url}/x`, { redirect: 'manual' });
      assert.equal(refused.status, 500);
      assert.equal((await json(refused)).message, 'An unexpected error occurred');
    } finally {
      await odd.close();
    }
  });
});

test("fault_tolerant false with Redis unreachable: 500 with Kong's message, reason COUNTER_STORE_FAILED, an error line a second rather than a stack per request", async () => {
  // Nothing listens on this port: every command fails at once, no redis-server needed.
  const port = await refusedPort();
  const gw = await startGateway({
    config: config({
      strict: { minute: 10, policy: 'redis', fault_tolerant: false, redis: { host: '127.0.0.1', port, timeout: 500 } },
    }),
  });
  try {
    const answers = await Promise.all(
      Array.from({ length: 20 }, async () => {
        const r = await fetch(`${gw.url}/strict`);
        return { status: r.status, message: ((await r.json()) as { message: string }).message };
      }),
    );
    for (const a of answers) assert.deepEqual(a, { status: 500, message: 'An unexpected error occurred' });
    const access = gw.logs.filter((l) => l.type === 'access');
    assert.equal(access.length, 20);
    assert.ok(
      access.every((l) => l.reason === 'COUNTER_STORE_FAILED' && l.source === 'rate-limiting'),
      JSON.stringify(access.map((l) => l.reason)),
    );
    const failures = gw.logs.filter((l) => l.msg === 'failed to get usage');
    assert.ok(
      failures.length >= 1 && failures.length <= 3,
      `a line a second, not one per request (${failures.length})`,
    );
    assert.match(String(failures[0]!.error), /ECONNREFUSED|reconnecting|max retries/i);
    assert.ok(!gw.logs.some((l) => JSON.stringify(l).includes('stack')), 'no stack trace is logged');
  } finally {
    await gw.close();
  }
});

const skip = redisUnavailable();
describe('rate-limiting, redis policy', { skip: skip ?? false }, () => {
  let redis: TestRedis;
  before(async () => {
    redis = await startRedis();
  });
  after(() => redis?.stop());

  const redisConfig = (extra: Record<string, unknown> = {}) => ({
    minute: 10,
    limit_by: 'ip',
    policy: 'redis',
    redis: { host: redis.host, port: redis.port, timeout: 500 },
    ...extra,
  });

  test('two gateway instances sharing one Redis enforce one limit together, with no overshoot under concurrency', async () => {
    await startOfMinute();
    const a = await startGateway({ config: config({ shared: redisConfig() }) });
    const b = await startGateway({ config: config({ shared: redisConfig() }) });
    try {
      const statuses = await Promise.all(
        Array.from({ length: 30 }, (_, i) => fetch(`${(i % 2 === 0 ? a : b).url}/shared`).then((r) => r.status)),
      );
      assert.equal(statuses.filter((s) => s === 200).length, 10);
      assert.equal(statuses.filter((s) => s === 429).length, 20);
      const r = await fetch(`${b.url}/shared`);
      assert.equal(r.status, 429);
      assert.equal(r.headers.get('x-ratelimit-remaining-minute'), '0');
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  test('Redis stopped mid-test: fault_tolerant true lets requests through and counts it; false answers 500; back when Redis is', async () => {
    await startOfMinute(15_000);
    const gw = await startGateway({
      config: config({
        tolerant: redisConfig({ minute: 2, fault_tolerant: true }),
        strict: redisConfig({ minute: 2, fault_tolerant: false }),
      }),
    });
    try {
      assert.equal((await fetch(`${gw.url}/tolerant`)).status, 200);
      assert.equal((await fetch(`${gw.url}/strict`)).status, 200);

      await redis.stop();
      const passedBefore = rateLimitingStats.storeFailuresPassed;
      for (let i = 0; i < 4; i++) {
        const r = await fetch(`${gw.url}/tolerant`);
        assert.equal(r.status, 200);
        assert.equal(r.headers.get('ratelimit-limit'), null);
      }
      assert.equal(rateLimitingStats.storeFailuresPassed - passedBefore, 4);
      assert.ok(
        gw.logs.some((l) => l.level === 'warn' || l.level === 40),
        'a warning is logged',
      );
      const strict = await fetch(`${gw.url}/strict`);
      assert.equal(strict.status, 500);
      assert.equal((await json(strict)).message, 'An unexpected error occurred');

      await redis.restart();
      // ioredis reconnects on its own; wait for the first counted answer.
      let r: Response | undefined;
      await until(
        'the first counted answer after the restart',
        async () => {
          r = await fetch(`${gw.url}/strict`);
          return r.status !== 500;
        },
        15_000,
        100,
      );
      assert.equal(r!.status, 200);
      assert.equal(r!.headers.get('x-ratelimit-remaining-minute'), '1');
      assert.equal((await fetch(`${gw.url}/strict`)).status, 200);
      assert.equal((await fetch(`${gw.url}/strict`)).status, 429);
    } finally {
      await gw.close();
    }
  });

  test('Redis hanging with its connection open: a few requests wait its timeout, then the rest pass at once, one warning a second, /status unhealthy; counted again when it answers', async () => {
    const timeout = 1500;
    const gw = await startGateway({
      config: config({ hung: redisConfig({ minute: 100, redis: { host: redis.host, port: redis.port, timeout } }) }),
    });
    const redisHealth = async () => {
      const status = (await (await fetch(`${gw.adminUrl}/status`)).json()) as {
        dependencies: Record<string, unknown>[];
      };
      return status.dependencies.find((d) => d.kind === 'redis');
    };
    const timed = async () => {
      const started = Date.now();
      const r = await fetch(`${gw.url}/hung`);
      await r.arrayBuffer();
      return {
        status: r.status,
        counted: r.headers.get('x-ratelimit-remaining-minute') !== null,
        ms: Date.now() - started,
      };
    };
    try {
      assert.deepEqual((await timed()).counted, true);
      assert.equal((await redisHealth())?.healthy, true);
      redis.hang();
      // Nothing says Redis is gone (its connection is up): the first requests wait for its timeout,
      // each its own: the second's command is asked while the first's still hangs, and not given
      // a second timeout behind it.
      const first = await Promise.all([timed(), delay(200).then(timed)]);
      first.push(await timed());
      for (const [i, r] of first.entries()) {
        assert.equal(r.status, 200, 'fault_tolerant lets the request through');
        assert.equal(r.counted, false);
        // A deadline check: each waited its own timeout, none a second one queued behind another's.
        assert.ok(
          r.ms >= timeout - 50 && r.ms < 2 * timeout,
          `request ${i} waited ${r.ms} ms: not Redis's ${timeout} ms timeout once`,
        );
      }
      const health = await redisHealth();
      assert.equal(health?.healthy, false, 'the timeouts show in /status');
      assert.match(String(health?.last_error), /timed out/i);
      // Three timeouts in a row: the store stops waiting on Redis, so twenty requests at once take
      // no time at all rather than a timeout each.
      const started = Date.now();
      const burst = await Promise.all(Array.from({ length: 20 }, () => timed()));
      const took = Date.now() - started;
      assert.ok(
        burst.every((r) => r.status === 200 && !r.counted),
        JSON.stringify(burst),
      );
      // A deadline check: one request waiting for Redis would take its whole timeout.
      assert.ok(took < timeout, `twenty requests took ${took} ms: one of them waited Redis's ${timeout} ms timeout`);
      const warnings = gw.logs.filter((l) => l.msg === 'failed to get usage; request let through (fault_tolerant)');
      assert.ok(
        warnings.length >= 1 && warnings.length <= 3,
        `a warning a second, not one per request (${warnings.length})`,
      );
      assert.ok(
        gw.logs.some((l) => l.msg === `redis ${redis.host}:${redis.port} unavailable`),
        'the store says once that Redis is unavailable',
      );

      redis.resume();
      let r: Awaited<ReturnType<typeof timed>> | undefined;
      await until(
        'a counted answer once Redis answers again',
        async () => {
          r = await timed();
          return r.counted;
        },
        10_000,
        100,
      );
      assert.equal((await redisHealth())?.healthy, true);
      assert.ok(gw.logs.some((l) => l.msg === `redis ${redis.host}:${redis.port} available again`));
    } finally {
      redis.resume();
      await gw.close();
    }
  });

  test('requests read in one turn (pipelined) are admitted in order, each answered its own count', async () => {
    const gw = await startGateway({ config: config({ burst: redisConfig({ second: 5, minute: 100 }) }) });
    try {
      await startOfSecond(700);
      // Twelve requests in one write: node's parser hands them to the gateway in one event-loop turn.
      const answers = await pipelined(gw.url, '/burst', 12);
      const seen = answers.map((a) => [
        a.status,
        a.headers['x-ratelimit-remaining-second'],
        a.headers['x-ratelimit-remaining-minute'],
      ]);
      const admitted = [4, 3, 2, 1, 0].map((left, i) => [200, String(left), String(99 - i)]);
      // Kong: a refused request counts in no window; the minute shows the five admitted ones.
      const refused = Array.from({ length: 7 }, () => [429, '0', '95']);
      assert.deepEqual(seen, [...admitted, ...refused]);
    } finally {
      await gw.close();
    }
  });

  test("redis.timeout 0 is Kong's socket default (60 s), not a deadline already past", async () => {
    const gw = await startGateway({
      config: config({
        zero: redisConfig({ fault_tolerant: false, redis: { host: redis.host, port: redis.port, timeout: 0 } }),
      }),
    });
    try {
      for (const left of ['9', '8']) {
        const r = await fetch(`${gw.url}/zero`);
        assert.equal(r.status, 200);
        assert.equal(r.headers.get('x-ratelimit-remaining-minute'), left);
      }
    } finally {
      await gw.close();
    }
  });

  test("redis.database is where counters go; a database Redis refuses fails the request, as Kong's failed SELECT does", async () => {
    const gw = await startGateway({
      config: config({
        db5: redisConfig({ redis: { host: redis.host, port: redis.port, timeout: 500, database: 5 } }),
        // Redis has 16 databases: SELECT 99 fails.
        db99: redisConfig({
          fault_tolerant: false,
          redis: { host: redis.host, port: redis.port, timeout: 500, database: 99 },
        }),
      }),
    });
    const { Redis } = await import('ioredis');
    const client = new Redis({ host: redis.host, port: redis.port, db: 5, lazyConnect: true });
    try {
      assert.equal((await fetch(`${gw.url}/db5`)).headers.get('x-ratelimit-remaining-minute'), '9');
      await client.connect();
      assert.equal((await client.keys('ratelimit:*')).length, 1);
      await client.select(0);
      const before = new Set(await client.keys('ratelimit:*'));
      for (let i = 0; i < 2; i++) {
        const r = await fetch(`${gw.url}/db99`);
        assert.equal(r.status, 500);
        assert.equal(((await r.json()) as { message: string }).message, 'An unexpected error occurred');
      }
      const added = (await client.keys('ratelimit:*')).filter((k) => !before.has(k));
      assert.deepEqual(added, [], 'nothing counted in database 0');
    } finally {
      client.disconnect();
      await gw.close();
    }
  });

  test('requests that arrive while the connection is being made are not counted in database 0 either', async () => {
    const { Redis } = await import('ioredis');
    const client = new Redis({ host: redis.host, port: redis.port, lazyConnect: true });
    await client.connect();
    const before = new Set(await client.keys('ratelimit:*'));
    const gw = await startGateway({
      config: config({
        db99: redisConfig({ redis: { host: redis.host, port: redis.port, timeout: 500, database: 99 } }),
      }),
    });
    try {
      // At once, before the SELECT has been answered: ioredis sends what it queued meanwhile first.
      const answers = await Promise.all([1, 2, 3].map(() => fetch(`${gw.url}/db99`)));
      for (const r of answers) {
        assert.equal(r.status, 200);
        assert.equal(r.headers.get('x-ratelimit-remaining-minute'), null);
      }
      const added = (await client.keys('ratelimit:*')).filter((k) => !before.has(k));
      assert.deepEqual(added, [], 'nothing counted in database 0');
    } finally {
      client.disconnect();
      await gw.close();
    }
  });

  test('/status shows a failing Redis client even when another client of the same server is healthy', async () => {
    const gw = await startGateway({
      config: config({
        good: redisConfig(),
        bad: redisConfig({ redis: { host: redis.host, port: redis.port, timeout: 500, database: 99 } }),
      }),
    });
    try {
      assert.equal((await fetch(`${gw.url}/good`)).headers.get('x-ratelimit-remaining-minute'), '9');
      assert.equal((await fetch(`${gw.url}/bad`)).headers.get('x-ratelimit-remaining-minute'), null);
      const status = (await (await fetch(`${gw.adminUrl}/status`)).json()) as {
        dependencies: { kind: string; healthy: boolean; last_error: string | null }[];
      };
      const redisDeps = status.dependencies.filter((d) => d.kind === 'redis');
      assert.equal(redisDeps.length, 1, JSON.stringify(redisDeps));
      assert.equal(redisDeps[0]!.healthy, false);
      assert.match(String(redisDeps[0]!.last_error), /DB index/i);
    } finally {
      await gw.close();
    }
  });

  test('a long header value is counted under its digest: Redis keys stay short whatever clients send', async () => {
    const gw = await startGateway({
      config: config({ tenant: redisConfig({ minute: 2, limit_by: 'header', header_name: 'x-tenant' }) }),
    });
    const { Redis } = await import('ioredis');
    const client = new Redis({ host: redis.host, port: redis.port, lazyConnect: true });
    try {
      const a = 'a'.repeat(8000);
      const b = 'b'.repeat(8000);
      const left = async (tenant: string) =>
        (await fetch(`${gw.url}/tenant`, { headers: { 'x-tenant': tenant } })).headers.get(
          'x-ratelimit-remaining-minute',
        );
      assert.equal(await left(a), '1');
      assert.equal(await left(a), '0');
      assert.equal(await left(b), '1', 'another long value is another counter');
      await client.connect();
      const keys = await client.keys('ratelimit:*:minute');
      assert.ok(keys.length >= 2);
      for (const k of keys) assert.ok(k.length < 400, `a ${k.length}-character key`);
    } finally {
      client.disconnect();
      await gw.close();
    }
  });

  test('redis windows reset at the boundary', async () => {
    const gw = await startGateway({ config: config({ sec: redisConfig({ minute: null, second: 1 }) }) });
    try {
      await startOfSecond();
      assert.equal((await fetch(`${gw.url}/sec`)).status, 200);
      assert.equal((await fetch(`${gw.url}/sec`)).status, 429);
      await new Promise((r) => setTimeout(r, 1000 - (Date.now() % 1000) + 5));
      assert.equal((await fetch(`${gw.url}/sec`)).status, 200);
    } finally {
      await gw.close();
    }
  });

  test('redis ssl verifies the server certificate by default: an untrusted one is a Redis that is down', {
    skip: tool('openssl'),
  }, async () => {
    // A TLS front for the test Redis, with a certificate from a CA the gateway does not trust.
    const leaf = new TestCa().issue('localhost', ['localhost']);
    const front = await startRedisTlsFront(redis, leaf);
    const port = front.port;
    const tlsRedis = (extra: Record<string, unknown>) =>
      redisConfig({ fault_tolerant: false, redis: { host: '127.0.0.1', port, timeout: 500, ssl: true, ...extra } });
    const gw = await startGateway({
      config: config({ verified: tlsRedis({}), unverified: tlsRedis({ ssl_verify: false }) }),
    });
    try {
      const refused = await fetch(`${gw.url}/verified`);
      assert.equal(refused.status, 500);
      assert.equal((await json(refused)).message, 'An unexpected error occurred');
      assert.ok(
        gw.logs.some((l) => /certificate/i.test(String(l.error))),
        'the certificate error is logged',
      );
      const counted = await fetch(`${gw.url}/unverified`);
      assert.equal(counted.status, 200);
      assert.equal(counted.headers.get('x-ratelimit-remaining-minute'), '9');
      assert.equal(front.relayed, 1, 'only the unverified instance reached Redis');
    } finally {
      await gw.close();
      await front.close();
    }
  });
});
