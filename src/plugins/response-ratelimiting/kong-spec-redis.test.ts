// Kong's own specs of response-ratelimiting against Redis, as of Kong commit 22246ef2: the fault
// tolerance cases of spec/03-plugins/24-response-rate-limiting/04-access_spec.lua and the Redis
// cases of 05-integration_spec.lua (each plugin counts in its own `redis.database`; a Redis ACL
// user with every command counts, one allowed GET only fails the request). Kong runs the
// integration cases over TLS too; the TLS connection is covered by kong-spec.test.ts.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Redis as RedisClient } from 'ioredis';
import { redisUnavailable, startRedis, type TestRedis } from '../../../test/support/redis.ts';
import { refusedPort } from '../../../test/support/refused-port.ts';
import { type RecordingUpstream, startRecordingUpstream } from '../../../test/support/upstream.ts';
import { startOfMinute, until } from '../../../test/support/wait.ts';
import { startGateway } from '../../testing/index.ts';

let upstream: RecordingUpstream;
before(async () => {
  // Kong's mock upstream: X-Kong-Limit from the x-kong-limit query argument.
  upstream = await startRecordingUpstream((seen, res) => {
    const usage = new URL(seen.url, 'http://x').searchParams.get('x-kong-limit');
    res.writeHead(200, { 'content-type': 'application/json', ...(usage === null ? {} : { 'x-kong-limit': usage }) });
    res.end('{}');
  });
});
after(() => upstream?.close());

/** One route per entry, each with its response-ratelimiting config, in front of the upstream. */
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
          plugins: [{ name: 'response-ratelimiting', config }],
        })),
      },
    ],
  };
}

test("fault tolerance: with Redis unreachable, fault_tolerant false answers 500 with Kong's message; true lets the request through without rate headers", async () => {
  // Kong's spec points at 5.5.5.5, which nothing answers; a loopback port nothing listens on.
  const redis = { host: '127.0.0.1', port: await refusedPort() };
  const limits = { video: { second: 6 } };
  const gw = await startGateway({
    config: routes({
      failtest3: { fault_tolerant: false, policy: 'redis', redis, limits },
      failtest4: { fault_tolerant: true, policy: 'redis', redis, limits },
    }),
  });
  try {
    const strict = await fetch(`${gw.url}/failtest3`);
    assert.equal(strict.status, 500);
    assert.match(((await strict.json()) as { message: string }).message, /An unexpected error occurred/);
    const tolerant = await fetch(`${gw.url}/failtest4`);
    assert.equal(tolerant.status, 200);
    await tolerant.arrayBuffer();
    assert.equal(tolerant.headers.get('x-ratelimit-limit-video-second'), null);
    assert.equal(tolerant.headers.get('x-ratelimit-remaining-video-second'), null);
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

  test('05-integration: each plugin counts in its redis.database; an ACL user with every command counts, one with GET only fails the request', async () => {
    await client.call('ACL', 'SETUSER', 'response-ratelimit-user', 'on', 'allkeys', 'allcommands', '>secret');
    await client.call('ACL', 'SETUSER', 'some-user', 'on', 'allkeys', '+get', '>secret');
    const at = (database: number, extra: Record<string, unknown> = {}) => ({
      policy: 'redis',
      redis: { host: redis.host, port: redis.port, database, timeout: 10000, ...extra },
      fault_tolerant: false,
      limits: { video: { minute: 6 } },
    });
    const gw = await startGateway({
      config: routes({
        redistest1: at(1),
        redistest2: at(2),
        redistest3: at(3, { username: 'response-ratelimit-user', password: 'secret' }),
        redistest4: at(4, { username: 'some-user', password: 'secret' }),
      }),
    });
    try {
      await startOfMinute();
      const sizes = async () => [await dbsize(1), await dbsize(2), await dbsize(3)];
      assert.deepEqual(await sizes(), [0, 0, 0]);
      const costly = async (route: string) => {
        const r = await fetch(`${gw.url}/${route}?x-kong-limit=video=1`);
        await r.arrayBuffer();
        assert.equal(r.status, 200);
        assert.equal(r.headers.get('x-ratelimit-limit-video-minute'), '6');
        assert.equal(r.headers.get('x-ratelimit-remaining-video-minute'), '5');
      };
      // The usage is counted after the response: wait for it as Kong's spec does.
      const counted = (expected: number[]) =>
        until(`databases 1 to 3 to hold ${expected}`, async () => {
          const s = await sizes();
          return s.every((n, i) => n > 0 === expected[i]! > 0);
        });
      await costly('redistest1');
      await counted([1, 0, 0]);
      await costly('redistest2');
      await counted([1, 1, 0]);
      await costly('redistest3');
      await counted([1, 1, 1]);
      assert.equal((await fetch(`${gw.url}/redistest3`)).status, 200);
      const refused = await fetch(`${gw.url}/redistest4`);
      assert.equal(refused.status, 500);
      await refused.arrayBuffer();
    } finally {
      await gw.close();
      await client.call('ACL', 'DELUSER', 'response-ratelimit-user', 'some-user');
    }
  });
});
