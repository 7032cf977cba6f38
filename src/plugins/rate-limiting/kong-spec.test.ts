// Kong's own spec of what clients and upstreams observe with rate-limiting, as of Kong commit
// 22246ef2: spec/03-plugins/23-rate-limiting/04-access_spec.lua. Each case sends what Kong's sends
// and checks what Kong's checks (`validate_headers`: six answers 200 with
// X-RateLimit-Limit/Remaining-Minute and RateLimit-Limit/Remaining/Reset counting down, then a
// 429), for the policies Kong's spec runs them with: local, redis, and redis over TLS without
// verification (Kong's `ssl_no_verify`, with a server_name that names no host). Not here: Kong's
// `cluster` policy (its database; refused DB-less, as by Kong); redis over TLS verified against
// a private CA (kong-spec-tls.test.ts: NODE_EXTRA_CA_CERTS is read at process start); gRPC
// (kong-spec-grpc.test.ts); the fault tolerance, sync_rate and 05-integration cases
// (kong-spec-redis.test.ts); and what rate-limiting.test.ts already covers (a second window
// expiring).
// "multiple ip" names the client in X-Real-IP from a trusted address, as Kong's spec does (Kong's
// real_ip_header; Tollgate reads it when no X-Forwarded-For comes).

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  type RedisTlsFront,
  redisUnavailable,
  startRedis,
  startRedisTlsFront,
  type TestRedis,
} from '../../../test/support/redis.ts';
import { type RecordingUpstream, startRecordingUpstream } from '../../../test/support/upstream.ts';
import { startOfMinute } from '../../../test/support/wait.ts';
import { TestCa, tool } from '../../../test/tls/support.ts';
import { startGateway, type TestGateway } from '../../testing/index.ts';

interface Seen {
  status: number;
  minuteLimit: number;
  minuteRemaining: number;
  hourLimit: number;
  hourRemaining: number;
  limit: number;
  remaining: number;
  reset: number;
}

const num = (r: Response, name: string): number => Number(r.headers.get(name) ?? Number.NaN);

/** Kong's `client_requests`: `n` requests one after the other, what each answer said. */
async function clientRequests(n: number, send: () => Promise<Response>): Promise<Seen[]> {
  const seen: Seen[] = [];
  for (let i = 0; i < n; i++) {
    const r = await send();
    await r.arrayBuffer();
    seen.push({
      status: r.status,
      minuteLimit: num(r, 'X-RateLimit-Limit-Minute'),
      minuteRemaining: num(r, 'X-RateLimit-Remaining-Minute'),
      hourLimit: num(r, 'X-RateLimit-Limit-Hour'),
      hourRemaining: num(r, 'X-RateLimit-Remaining-Hour'),
      limit: num(r, 'RateLimit-Limit'),
      remaining: num(r, 'RateLimit-Remaining'),
      reset: num(r, 'RateLimit-Reset'),
    });
  }
  return seen;
}

/** Kong's `validate_headers` for a limit of 6 a minute and seven requests. */
function validateHeaders(seen: Seen[], checkHour = false): void {
  assert.deepEqual(
    seen.map((s) => s.minuteLimit),
    [6, 6, 6, 6, 6, 6, 6],
  );
  assert.deepEqual(
    seen.map((s) => s.minuteRemaining),
    [5, 4, 3, 2, 1, 0, 0],
  );
  if (checkHour) {
    for (const s of seen) assert.ok(s.hourLimit > 0 && s.hourRemaining >= 0, JSON.stringify(s));
  }
  assert.deepEqual(
    seen.map((s) => s.limit),
    [6, 6, 6, 6, 6, 6, 6],
  );
  assert.deepEqual(
    seen.map((s) => s.remaining),
    [5, 4, 3, 2, 1, 0, 0],
  );
  assert.deepEqual(
    seen.map((s) => s.status),
    [200, 200, 200, 200, 200, 200, 429],
  );
  const most = checkHour ? 3600 : 60;
  for (const s of seen) assert.ok(s.reset >= 0 && s.reset <= most, `RateLimit-Reset ${s.reset}`);
}

/** The policy fields of the suite running: `{ policy: 'local' }`, or redis and its connection. */
let policy: Record<string, unknown> = { policy: 'local' };
const rl = (config: Record<string, unknown>) => ({ name: 'rate-limiting', config: { ...policy, ...config } });
const keyAuth = { name: 'key-auth', config: { key_names: ['test-key'] } };
const consumers = [
  { username: 'Bob', keyauth_credentials: [{ key: 'test_credential_1' }] },
  { username: 'Alice', keyauth_credentials: [{ key: 'test_credential_2' }] },
];

let upstream: RecordingUpstream;
before(async () => {
  upstream = await startRecordingUpstream();
});
after(() => upstream?.close());

/** GETs `path` and checks that a refused request never reached the upstream. */
function getter(gw: () => TestGateway) {
  return (path: string, headers: Record<string, string> = {}) =>
    async (): Promise<Response> => {
      const before = upstream.requests.length;
      const r = await fetch(`${gw().url}${path}`, { headers });
      if (r.status === 429) assert.equal(upstream.requests.length, before, 'a refused request reaches no upstream');
      return r;
    };
}

function accessCases(): void {
  let gw: TestGateway;
  const get = getter(() => gw);
  before(async () => {
    gw = await startGateway({
      config: {
        _format_version: '3.0',
        _tollgate: { trusted_ips: ['127.0.0.1'] },
        consumers,
        services: [
          {
            name: 'test',
            url: upstream.url,
            routes: [
              { name: 'ip', paths: ['/ip'], plugins: [rl({ minute: 6, limit_by: 'ip' })] },
              { name: 'ips', paths: ['/ips'], plugins: [rl({ minute: 6, limit_by: 'ip' })] },
              { name: 'consumer', paths: ['/consumer'], plugins: [keyAuth, rl({ minute: 6, limit_by: 'consumer' })] },
              {
                name: 'credential',
                paths: ['/credential'],
                plugins: [keyAuth, rl({ minute: 6, limit_by: 'credential' })],
              },
              {
                name: 'header',
                paths: ['/header'],
                plugins: [rl({ minute: 6, limit_by: 'header', header_name: 'test-header' })],
              },
              { name: 'path', paths: ['/path'], plugins: [rl({ minute: 6, limit_by: 'path', path: '/path' })] },
              { name: 'multiple', paths: ['/multiple'], plugins: [rl({ minute: 6, hour: 99999, limit_by: 'ip' })] },
              { name: 'hidden', paths: ['/hidden'], plugins: [rl({ minute: 6, hide_client_headers: true })] },
              {
                name: 'custom',
                paths: ['/custom'],
                plugins: [rl({ minute: 1, limit_by: 'ip', error_code: 404, error_message: 'Fake Not Found' })],
              },
            ],
          },
          {
            name: 'by-service',
            url: upstream.url,
            plugins: [rl({ minute: 6, limit_by: 'service' })],
            routes: [{ name: 'service', paths: ['/service'] }],
          },
          {
            name: 'by-path',
            url: upstream.url,
            plugins: [rl({ minute: 6, limit_by: 'path', path: '/1-test' })],
            routes: [
              { name: 'path-1', paths: ['/1-test'] },
              { name: 'path-2', paths: ['/2-test'] },
            ],
          },
        ],
      },
    });
  });
  after(() => gw?.close());

  test('blocks if exceeding limit (single ip, service, path)', async () => {
    await startOfMinute();
    for (const path of ['/ip', '/service', '/path']) validateHeaders(await clientRequests(7, get(path)));
  });

  test('blocks if exceeding limit (single and multiple header): each header value counts apart', async () => {
    await startOfMinute();
    validateHeaders(await clientRequests(7, get('/header', { 'test-header': 'test' })));
    // Another header than header_name: counted by the client address, a counter of its own.
    validateHeaders(await clientRequests(7, get('/header', { 'test-header-2': 'test' })));
  });

  test('blocks if exceeding limit (single and multiple consumer, credential): each counts apart', async () => {
    await startOfMinute();
    for (const path of ['/consumer', '/credential'])
      for (const key of ['test_credential_1', 'test_credential_2'])
        validateHeaders(await clientRequests(7, get(path, { 'test-key': key })));
  });

  test('blocks if exceeding limit (multiple ip): each client address counts apart', async () => {
    await startOfMinute();
    for (const ip of ['127.0.0.1', '127.0.0.2'])
      validateHeaders(await clientRequests(7, get('/ips', { 'x-real-ip': ip })));
  });

  test('blocks if exceeding limit (multiple path): one plugin on a service, each route counts apart', async () => {
    await startOfMinute();
    for (const path of ['/1-test', '/2-test']) validateHeaders(await clientRequests(7, get(path)));
  });

  test('handles multiple limits: RateLimit-* follow the minute, X-RateLimit-*-Hour is sent too', async () => {
    await startOfMinute();
    const seen = await clientRequests(7, get('/multiple'));
    validateHeaders(seen, true);
    assert.deepEqual(
      seen.map((s) => [s.hourLimit, s.hourRemaining]),
      [...[99998, 99997, 99996, 99995, 99994, 99993].map((left) => [99999, left]), [99999, 99993]],
    );
  });

  test('hide_client_headers: neither the answers nor the 429 carry a rate header, Retry-After included', async () => {
    await startOfMinute();
    const names = [
      'X-Ratelimit-Limit-Minute',
      'X-Ratelimit-Remaining-Minute',
      'Ratelimit-Limit',
      'Ratelimit-Remaining',
      'Ratelimit-Reset',
      'Retry-After',
    ];
    const first = await get('/hidden')();
    assert.equal(first.status, 200);
    for (const name of names) assert.equal(first.headers.get(name), null, name);
    let last = first;
    for (let i = 0; i < 6; i++) {
      last = await get('/hidden')();
      await last.arrayBuffer();
    }
    assert.equal(last.status, 429);
    for (const name of names) assert.equal(last.headers.get(name), null, name);
  });

  test('blocks with a custom error code and message', async () => {
    await startOfMinute();
    const ok = await get('/custom')();
    assert.equal(ok.status, 200);
    await ok.arrayBuffer();
    const refused = await get('/custom')();
    assert.equal(refused.status, 404);
    assert.match(((await refused.json()) as { message: string }).message, /Fake Not Found/);
  });

  test('blocks if exceeding limit (multiple service): a global plugin by service counts each service apart', async () => {
    const gw = await startGateway({
      config: {
        _format_version: '3.0',
        plugins: [rl({ minute: 6, limit_by: 'service' })],
        services: ['1', '2'].map((n) => ({
          name: `service-${n}`,
          url: upstream.url,
          routes: [{ name: `route-${n}`, paths: [`/${n}-test`] }],
        })),
      },
    });
    const get = getter(() => gw);
    try {
      await startOfMinute();
      for (const path of ['/1-test', '/2-test']) validateHeaders(await clientRequests(7, get(path)));
    } finally {
      await gw.close();
    }
  });

  test('enabled globally, by credential: one credential shares one counter across services', async () => {
    const gw = await startGateway({
      config: {
        _format_version: '3.0',
        consumers: [{ username: 'Bob', keyauth_credentials: [{ key: 'test-credential' }] }],
        plugins: [keyAuth, rl({ minute: 6, limit_by: 'credential' })],
        services: ['1', '2'].map((n) => ({
          name: `service-${n}`,
          url: upstream.url,
          routes: [{ name: `route-${n}`, paths: [`/${n}-test`] }],
        })),
      },
    });
    const get = getter(() => gw);
    try {
      await startOfMinute();
      validateHeaders(await clientRequests(7, get('/1-test', { 'test-key': 'test-credential' })));
      const other = await clientRequests(7, get('/2-test', { 'test-key': 'test-credential' }));
      for (const s of other) {
        assert.deepEqual([s.status, s.minuteLimit, s.minuteRemaining, s.limit, s.remaining], [429, 6, 0, 6, 0]);
        assert.ok(s.reset >= 0 && s.reset <= 60, `RateLimit-Reset ${s.reset}`);
      }
    } finally {
      await gw.close();
    }
  });
}

describe('policy local', () => {
  before(() => {
    policy = { policy: 'local' };
  });
  accessCases();
});

const noRedis = redisUnavailable();

/** A fresh redis-server for the suite, and the policy fields naming it (`redis` beside Kong's). */
function redisSuite(redisFields: (redis: TestRedis) => Promise<Record<string, unknown>>): void {
  let redis: TestRedis;
  before(async () => {
    redis = await startRedis();
    policy = { policy: 'redis', fault_tolerant: false, redis: await redisFields(redis) };
  });
  after(() => redis?.stop());
  accessCases();
}

describe('policy redis', { skip: noRedis ?? false }, () => {
  redisSuite(async (redis) => ({ host: redis.host, port: redis.port, database: 1 }));
});

describe('policy redis, TLS not verified (Kong: ssl_no_verify)', { skip: noRedis ?? tool('openssl') }, () => {
  let front: RedisTlsFront | undefined;
  redisSuite(async (redis) => {
    // A TLS front for the suite's Redis, with a certificate of a CA nothing trusts.
    front = await startRedisTlsFront(redis, new TestCa().issue('localhost', ['localhost']));
    const serverName = 'really.really.really.does.not.exist.host.test';
    return { host: '127.0.0.1', port: front.port, database: 1, ssl: true, ssl_verify: false, server_name: serverName };
  });
  after(() => front?.close());
});
