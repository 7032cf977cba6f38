// Kong's own specs of rate-limiting against Redis, as of Kong commit 22246ef2: the fault
// tolerance and sync_rate cases of spec/03-plugins/23-rate-limiting/04-access_spec.lua, and the
// Redis cases of 05-integration_spec.lua (each plugin counts in its own `redis.database`; a Redis
// ACL user with every command counts, one allowed GET only fails the request). Kong runs the
// integration cases over TLS too; the TLS connection is covered by kong-spec.test.ts and
// rate-limiting.test.ts. Kong's cases that wait for a window to pass (61 s after sync_rate) are
// left out: rate-limiting.test.ts checks a second window resetting with Redis.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Redis as RedisClient } from 'ioredis';
import { redisUnavailable, startRedis, type TestRedis } from '../../../test/support/redis.ts';
import { refusedPort } from '../../../test/support/refused-port.ts';
import { type RecordingUpstream, startRecordingUpstream } from '../../../test/support/upstream.ts';
import { startOfMinute } from '../../../test/support/wait.ts';
import { startGateway } from '../../testing/index.ts';

const RATE_HEADERS = [
  'X-Ratelimit-Limit-Minute',
  'X-Ratelimit-Remaining-Minute',
  'Ratelimit-Limit',
  'Ratelimit-Remaining',
  'Ratelimit-Reset',
];

let upstream: RecordingUpstream;
before(async () => {
  upstream = await startRecordingUpstream();
});
after(() => upstream?.close());

/** One route per entry, each with its rate-limiting config, in front of the recording upstream. */
function routes(plugins: Record<string, Record<string, unknown>>): Record<string, unknown> {
  return {
    _format_version: '3.0',
    services: [
      {
        name: 'test',
        url: upstream.url,
        routes: Object.entries(plugins).map(([name, config]) => ({
          name,
          paths: [`/${name}`],
          plugins: [{ name: 'rate-limiting', config }],
        })),
      },
    ],
  };
}

test("fault tolerancy: with Redis unreachable, fault_tolerant false answers 500 with Kong's message and true lets the request through, neither with rate headers", async () => {
  // Kong's spec points at port 80 of the loopback; a port nothing listens on, below the ephemeral range.
  const redis = { host: '127.0.0.1', port: await refusedPort(), ssl: false };
  const gw = await startGateway({
    config: routes({
      strict: { minute: 6, policy: 'redis', limit_by: 'ip', redis, fault_tolerant: false },
      tolerant: { minute: 6, policy: 'redis', limit_by: 'ip', redis, fault_tolerant: true },
    }),
  });
  try {
    const strict = await fetch(`${gw.url}/strict`);
    assert.equal(strict.status, 500);
    assert.match(((await strict.json()) as { message: string }).message, /An unexpected error occurred/);
    for (const name of RATE_HEADERS) assert.equal(strict.headers.get(name), null, name);
    const tolerant = await fetch(`${gw.url}/tolerant`);
    assert.equal(tolerant.status, 200);
    await tolerant.arrayBuffer();
    for (const name of RATE_HEADERS) assert.equal(tolerant.headers.get(name), null, name);
  } finally {
    await gw.close();
  }
});

const noRedis = redisUnavailable();
describe('with a redis-server', { skip: noRedis ?? false }, () => {
  let redis: TestRedis;
  let client: RedisClient;
  before(async () => {
    redis = await startRedis();
    const { Redis } = await import('ioredis');
    client = new Redis({ host: redis.host, port: redis.port, lazyConnect: true });
    await client.connect();
  });
  after(async () => {
    client?.disconnect();
    await redis?.stop();
  });

  /** DBSIZE of one Redis database. */
  async function dbsize(db: number): Promise<number> {
    await client.select(db);
    return client.dbsize();
  }

  test('sync_rate (redis): loads, counts every request at once, and blocks past the limit; one key in Redis', async () => {
    await client.flushall();
    const gw = await startGateway({
      config: routes({
        synced: {
          minute: 6,
          policy: 'redis',
          limit_by: 'ip',
          redis: { host: redis.host, port: redis.port, database: 1, ssl: false },
          sync_rate: 10,
        },
      }),
    });
    try {
      assert.equal(await dbsize(1), 0, 'nothing is written before the first request');
      await startOfMinute();
      const statuses: number[] = [];
      for (let i = 0; i < 8; i++) {
        const r = await fetch(`${gw.url}/synced`);
        await r.arrayBuffer();
        statuses.push(r.status);
      }
      // Kong's spec only asks for the 429 after eight (its counts reach Redis every 10 s); Tollgate
      // counts each request in Redis as it comes.
      assert.deepEqual(statuses, [200, 200, 200, 200, 200, 200, 429, 429]);
      assert.equal((await fetch(`${gw.url}/synced`)).status, 429);
      assert.equal(await dbsize(1), 1);
    } finally {
      await gw.close();
    }
  });

  test('05-integration: each plugin counts in its redis.database; an ACL user with every command counts, one with GET only fails the request', async () => {
    await client.flushall();
    await client.call('ACL', 'SETUSER', 'ratelimit-user', 'on', 'allkeys', 'allcommands', '>secret');
    await client.call('ACL', 'SETUSER', 'some-user', 'on', 'allkeys', '+get', '>secret');
    const at = (database: number, extra: Record<string, unknown> = {}) => ({
      minute: 1,
      policy: 'redis',
      redis: { host: redis.host, port: redis.port, database, timeout: 10000, ...extra },
      fault_tolerant: false,
    });
    const gw = await startGateway({
      config: routes({
        redistest1: at(1),
        redistest2: at(2),
        redistest3: { ...at(3, { username: 'ratelimit-user', password: 'secret' }), minute: 2 },
        redistest4: at(4, { username: 'some-user', password: 'secret' }),
      }),
    });
    try {
      await startOfMinute();
      const sizes = async () => [await dbsize(1), await dbsize(2), await dbsize(3)];
      assert.deepEqual(await sizes(), [0, 0, 0]);
      const hit = async (route: string) => {
        const r = await fetch(`${gw.url}/${route}`);
        await r.arrayBuffer();
        return r.status;
      };
      assert.equal(await hit('redistest1'), 200);
      assert.deepEqual(await sizes(), [1, 0, 0]);
      assert.equal(await hit('redistest2'), 200);
      assert.deepEqual(await sizes(), [1, 1, 0]);
      assert.equal(await hit('redistest3'), 200);
      assert.deepEqual(await sizes(), [1, 1, 1]);
      // The ACL user with every command, again: its second request of the minute.
      assert.equal(await hit('redistest3'), 200);
      // A user allowed GET only: SELECT and the counting script are refused.
      assert.equal(await hit('redistest4'), 500);
      assert.equal(await dbsize(4), 0);
    } finally {
      await gw.close();
      await client.call('ACL', 'DELUSER', 'ratelimit-user', 'some-user');
    }
  });
});
