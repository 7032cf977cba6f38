// Kong's own spec of response-ratelimiting with Redis over TLS, verified, as of Kong commit
// 22246ef2: the `ssl_verify` runs of spec/03-plugins/24-response-rate-limiting/04-access_spec.lua
// ("blocks if exceeding limit"). Kong trusts the test Redis's CA through
// lua_ssl_trusted_certificate and names it by redis.server_name; Tollgate trusts a CA through
// NODE_EXTRA_CA_CERTS, read when the process starts, so the gateway runs as a process of its own.
// The certificate names only the server_name, not the address connected to: it is verified for
// server_name.

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type GatewayProcess, spawnGateway } from '../../../test/ops/support.ts';
import {
  type RedisTlsFront,
  redisUnavailable,
  startRedis,
  startRedisTlsFront,
  type TestRedis,
} from '../../../test/support/redis.ts';
import { tempDir } from '../../../test/support/temp.ts';
import { type Listening, listen } from '../../../test/support/upstream.ts';
import { startOfMinute, until } from '../../../test/support/wait.ts';
import { TestCa, tool } from '../../../test/tls/support.ts';

const skip = redisUnavailable() ?? tool('openssl');
const SNI = 'test-redis.example.test';

let redis: TestRedis | undefined;
let front: RedisTlsFront | undefined;
let gw: GatewayProcess | undefined;
let upstream: Listening | undefined;

before(async () => {
  if (skip) return;
  // Kong's mock upstream: X-Kong-Limit from the x-kong-limit query argument.
  upstream = await listen((req, res) => {
    const usage = new URL(req.url ?? '/', 'http://x').searchParams.get('x-kong-limit');
    res.writeHead(200, { 'content-type': 'application/json', ...(usage === null ? {} : { 'x-kong-limit': usage }) });
    res.end('{}');
  });
  redis = await startRedis();
  const ca = new TestCa('Redis CA');
  const leaf = ca.issue(SNI, [SNI]);
  front = await startRedisTlsFront(redis, leaf);
  const port = front.port;
  const redisConfig = { host: '127.0.0.1', port, database: 1, ssl: true, ssl_verify: true, server_name: SNI };
  const file = join(tempDir('response-ratelimiting-tls'), 'gateway.yaml');
  writeFileSync(
    file,
    JSON.stringify({
      _format_version: '3.0',
      services: [
        {
          name: 'test',
          url: upstream.url,
          routes: [{ name: 'test', paths: ['/test'] }],
          plugins: [
            {
              name: 'response-ratelimiting',
              config: { limits: { video: { minute: 6 } }, policy: 'redis', fault_tolerant: false, redis: redisConfig },
            },
          ],
        },
      ],
    }),
  );
  gw = await spawnGateway(file, ['--no-watch'], { NODE_EXTRA_CA_CERTS: ca.certFile });
});

after(async () => {
  await gw?.kill();
  await front?.close();
  await redis?.stop();
  await upstream?.close();
});

test('blocks if exceeding limit, counted in Redis over TLS verified for server_name', { skip }, async () => {
  await startOfMinute();
  const get = async (cost: boolean) => {
    const r = await fetch(`${gw!.proxy}/test${cost ? '?x-kong-limit=video%3D1' : ''}`);
    await r.arrayBuffer();
    return r;
  };
  for (let i = 0; i < 6; i++) assert.equal((await get(true)).status, 200);
  // The usage is counted after each response: Kong's wait_remaining_sync.
  await until('the six to be counted', async () => {
    const r = await get(false);
    return r.status === 200 && r.headers.get('x-ratelimit-remaining-video-minute') === '0';
  });
  const refused = await get(true);
  assert.equal(refused.status, 429);
  assert.equal(refused.headers.get('x-ratelimit-limit-video-minute'), '6');
  assert.equal(refused.headers.get('x-ratelimit-remaining-video-minute'), '0');
});
