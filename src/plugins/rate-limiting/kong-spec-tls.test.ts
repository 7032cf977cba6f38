// Kong's own spec of rate-limiting with Redis over TLS, verified, as of Kong commit 22246ef2:
// the `ssl_verify` runs of spec/03-plugins/23-rate-limiting/04-access_spec.lua ("blocks if
// exceeding limit (single ip)"). Kong trusts the test Redis's CA through
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
import { startOfMinute } from '../../../test/support/wait.ts';
import { TestCa, tool } from '../../../test/tls/support.ts';

const skip = redisUnavailable() ?? tool('openssl');
const SNI = 'test-redis.example.test';

let redis: TestRedis | undefined;
let front: RedisTlsFront | undefined;
let gw: GatewayProcess | undefined;

before(async () => {
  if (skip) return;
  redis = await startRedis();
  const ca = new TestCa('Redis CA');
  const leaf = ca.issue(SNI, [SNI]);
  front = await startRedisTlsFront(redis, leaf);
  const port = front.port;
  const redisConfig = { host: '127.0.0.1', port, database: 1, ssl: true, ssl_verify: true, server_name: SNI };
  const file = join(tempDir('rate-limiting-tls'), 'gateway.yaml');
  writeFileSync(
    file,
    JSON.stringify({
      _format_version: '3.0',
      services: [
        {
          name: 'test',
          url: 'echo://',
          routes: [{ name: 'test', paths: ['/test'] }],
          plugins: [
            {
              name: 'rate-limiting',
              config: { minute: 6, policy: 'redis', limit_by: 'ip', fault_tolerant: false, redis: redisConfig },
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
});

test('blocks if exceeding limit (single ip), counted in Redis over TLS verified for server_name', {
  skip,
}, async () => {
  await startOfMinute();
  const seen: [number, string | null, string | null, string | null][] = [];
  for (let i = 0; i < 7; i++) {
    const r = await fetch(`${gw!.proxy}/test`);
    await r.arrayBuffer();
    seen.push([
      r.status,
      r.headers.get('x-ratelimit-remaining-minute'),
      r.headers.get('ratelimit-limit'),
      r.headers.get('ratelimit-remaining'),
    ]);
  }
  assert.deepEqual(seen, [
    ...[5, 4, 3, 2, 1, 0].map((left) => [200, String(left), '6', String(left)]),
    [429, '0', '6', '0'],
  ]);
});
