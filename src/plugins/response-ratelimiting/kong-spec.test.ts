// Kong's own spec of what clients and upstreams observe with response-ratelimiting, as of Kong
// commit 22246ef2: spec/03-plugins/24-response-rate-limiting/04-access_spec.lua, for the policies
// Kong's spec runs it with: local, redis, and redis over TLS without verification (Kong's
// `ssl_no_verify`, with a server_name that names no host). The upstream answers as Kong's mock
// upstream does: `X-Kong-Limit` from the `x-kong-limit` query arguments, one header line each,
// and the request's headers in its body.
// Kong's spec counts per second and starts each case at the start of a second; here the cases
// that only count use a minute (`second` in Kong's limits is `minute` here, `minute` is `hour`),
// each on a route of its own, and the one that waits for a window to pass uses a second. Kong's
// `wait_remaining_sync` (the usage is counted after the response) is `remainingSync`.
// Not here: the `cluster` policy (Kong's database; refused DB-less, as by Kong); gRPC
// (kong-spec-grpc.test.ts); redis over TLS verified against a private CA (kong-spec-tls.test.ts:
// NODE_EXTRA_CA_CERTS is read at process start); the fault tolerance and 05-integration cases
// (kong-spec-redis.test.ts).

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
import { startOfMinute, until } from '../../../test/support/wait.ts';
import { TestCa, tool } from '../../../test/tls/support.ts';
import { startGateway, type TestGateway } from '../../testing/index.ts';

const ITERATIONS = 6;

let upstream: RecordingUpstream;
before(async () => {
  upstream = await startRecordingUpstream((seen, res) => {
    const limits = new URL(seen.url, 'http://x').searchParams.getAll('x-kong-limit');
    const usage = limits.length === 0 ? {} : { 'x-kong-limit': limits.length === 1 ? limits[0]! : limits };
    res.writeHead(200, { 'content-type': 'application/json', ...usage });
    res.end(JSON.stringify({ headers: seen.headers }));
  });
});
after(() => upstream?.close());

/** The policy fields of the suite running: `{ policy: 'local' }`, or redis and its connection. */
let policy: Record<string, unknown> = { policy: 'local' };
const rrl = (config: Record<string, unknown>) => ({
  name: 'response-ratelimiting',
  config: { fault_tolerant: false, ...policy, ...config },
});
const route = (name: string, config: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  name,
  paths: [`/${name}`],
  plugins: [rrl(config)],
  ...extra,
});
const video = (minute: number) => ({ limits: { video: { minute } } });

interface Answer {
  status: number;
  headers: Headers;
  body: { message?: string; headers?: Record<string, string> };
}

function client(gw: () => TestGateway) {
  /** GET `path` with each `x-kong-limit` the upstream is to answer, and `query` beside. */
  const get = async (path: string, limits: string[] = [], query = ''): Promise<Answer> => {
    const args = [...limits.map((l) => `x-kong-limit=${encodeURIComponent(l)}`), ...(query ? [query] : [])];
    const r = await fetch(`${gw().url}${path}${args.length > 0 ? `?${args.join('&')}` : ''}`);
    return { status: r.status, headers: r.headers, body: (await r.json()) as Answer['body'] };
  };
  /** Kong's `wait_remaining_sync`: requests costing nothing until `path` answers `status` with those counts. */
  const remainingSync = async (
    path: string,
    expected: Record<string, number>,
    status = 200,
    query = '',
  ): Promise<Answer> => {
    let last: Answer | undefined;
    await until(
      `${path} to show ${JSON.stringify(expected)}`,
      async () => {
        last = await get(path, [], query);
        if (status !== 200) return last.status === status;
        return last.status === 200 && Object.entries(expected).every(([h, v]) => last!.headers.get(h) === String(v));
      },
      2000,
    );
    return last!;
  };
  /** Kong's `test_limit`: `limit` answers counting 1 video each pass, then the next is refused. */
  const testLimit = async (paths: string[], limit = ITERATIONS, query = ''): Promise<void> => {
    for (let i = 0; i < limit; i++) assert.equal((await get(paths[i % paths.length]!, ['video=1'], query)).status, 200);
    await remainingSync(paths[0]!, { 'x-ratelimit-remaining-video-minute': 0 }, 200, query);
    const refused = await get(paths[0]!, ['video=1'], query);
    assert.equal(refused.status, 429);
    assert.equal(refused.headers.get('x-ratelimit-limit-video-minute'), String(limit));
    assert.equal(refused.headers.get('x-ratelimit-remaining-video-minute'), '0');
  };
  return { get, remainingSync, testLimit };
}

const consumers = [
  { username: 'provider_123', custom_id: 'provider_123', keyauth_credentials: [{ key: 'apikey123' }] },
  { username: 'provider_124', custom_id: 'provider_124', keyauth_credentials: [{ key: 'apikey124' }] },
];

function accessCases(): void {
  let gw: TestGateway;
  const { get, remainingSync, testLimit } = client(() => gw);
  before(async () => {
    gw = await startGateway({
      config: {
        _format_version: '3.0',
        consumers,
        services: [
          {
            name: 'test',
            url: upstream.url,
            routes: [
              route('remaining', video(ITERATIONS)),
              route('blocks', video(ITERATIONS)),
              route('multiple', {
                limits: { video: { minute: ITERATIONS * 2, hour: ITERATIONS * 4 }, image: { minute: ITERATIONS } },
              }),
              {
                name: 'auth',
                paths: ['/auth'],
                plugins: [{ name: 'key-auth' }, rrl(video(ITERATIONS - 3))],
              },
              route('append', {
                limits: { video: { minute: ITERATIONS, hour: ITERATIONS * 2 }, image: { minute: ITERATIONS - 1 } },
              }),
              route('combine', { limits: { video: { minute: ITERATIONS * 2 + 2 }, image: { minute: ITERATIONS } } }),
              route('first', {
                block_on_first_violation: true,
                limits: { video: { minute: ITERATIONS, hour: ITERATIONS * 2 }, image: { minute: 4 } },
              }),
              route('hidden', { hide_client_headers: true, ...video(ITERATIONS) }),
              route('expire', { limits: { video: { second: ITERATIONS } } }),
            ],
          },
          {
            name: 'service10',
            url: upstream.url,
            plugins: [rrl(video(ITERATIONS))],
            routes: [
              { name: 'service1', paths: ['/service1'] },
              { name: 'service2', paths: ['/service2'] },
            ],
          },
        ],
        // A plugin of the route and one consumer: that consumer's own limit there.
        plugins: [{ ...rrl(video(ITERATIONS - 2)), route: 'auth', consumer: 'provider_123' }],
      },
    });
  });
  after(() => gw?.close());

  test('returns remaining counter', async () => {
    await startOfMinute();
    const n = Math.floor(ITERATIONS / 2);
    for (let i = 0; i < n; i++) assert.equal((await get('/remaining', ['video=1'])).status, 200);
    await remainingSync('/remaining', { 'x-ratelimit-remaining-video-minute': ITERATIONS - n });
    const r = await get('/remaining', ['video=1']);
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('x-ratelimit-limit-video-minute'), String(ITERATIONS));
    assert.equal(r.headers.get('x-ratelimit-remaining-video-minute'), String(ITERATIONS - n - 1));
  });

  test('blocks if exceeding limit', async () => {
    await startOfMinute();
    await testLimit(['/blocks']);
  });

  test('counts against the same service register from different routes; an unknown limit name is ignored', async () => {
    await startOfMinute();
    const usage = [`video=1, test=${ITERATIONS}`];
    for (let i = 0; i < ITERATIONS; i++)
      assert.equal((await get(i < ITERATIONS / 2 ? '/service1' : '/service2', usage)).status, 200);
    await remainingSync('/service1', { 'x-ratelimit-remaining-video-minute': 0 });
    assert.equal((await get('/service1', usage)).status, 429);
  });

  test('handles multiple limits', async () => {
    await startOfMinute();
    const n = Math.floor(ITERATIONS / 2);
    let minute = ITERATIONS * 2;
    let hour = ITERATIONS * 4;
    for (let i = 0; i < n; i++) {
      assert.equal((await get('/multiple', ['video=2, image=1'])).status, 200);
      minute -= 2;
      hour -= 2;
    }
    let r = await remainingSync('/multiple', {
      'x-ratelimit-remaining-video-minute': minute,
      'x-ratelimit-remaining-video-hour': hour,
    });
    assert.equal(r.headers.get('x-ratelimit-limit-video-minute'), String(ITERATIONS * 2));
    assert.equal(r.headers.get('x-ratelimit-limit-video-hour'), String(ITERATIONS * 4));
    assert.equal(r.headers.get('x-ratelimit-limit-image-minute'), String(ITERATIONS));
    assert.equal(r.headers.get('x-ratelimit-remaining-image-minute'), String(ITERATIONS - n));
    for (let i = n; i < ITERATIONS; i++) {
      assert.equal((await get('/multiple', ['video=1, image=1'])).status, 200);
      minute -= 1;
      hour -= 1;
    }
    r = await remainingSync('/multiple', {
      'x-ratelimit-remaining-video-minute': minute,
      'x-ratelimit-remaining-video-hour': hour,
    });
    assert.equal(r.headers.get('x-ratelimit-remaining-image-minute'), '0');
    // The image limit is used up: a response that would use it is refused, and its counts show
    // what would have been left.
    r = await get('/multiple', ['video=1, image=1']);
    assert.equal(r.headers.get('x-ratelimit-remaining-image-minute'), '0');
    assert.equal(r.headers.get('x-ratelimit-remaining-video-hour'), String(hour - 1));
    assert.equal(r.headers.get('x-ratelimit-remaining-video-minute'), String(minute - 1));
    assert.equal(r.status, 429);
  });

  test('with authentication: a plugin of the route and the consumer sets that consumer’s limit, the route’s plugin the others’', async () => {
    await startOfMinute();
    await testLimit(['/auth'], ITERATIONS - 2, 'apikey=apikey123');
    await testLimit(['/auth'], ITERATIONS - 3, 'apikey=apikey124');
  });

  test('upstream usage headers: the upstream is told what remained before its response, each limit by its tightest period', async () => {
    await startOfMinute();
    let r = await get('/append');
    assert.equal(r.status, 200);
    assert.equal(r.body.headers?.['x-ratelimit-remaining-image'], String(ITERATIONS - 1));
    assert.equal(r.body.headers?.['x-ratelimit-remaining-video'], String(ITERATIONS));
    r = await get('/append', ['video=2, image=1']);
    assert.equal(r.status, 200);
    assert.equal(r.body.headers?.['x-ratelimit-remaining-image'], String(ITERATIONS - 1));
    assert.equal(r.body.headers?.['x-ratelimit-remaining-video'], String(ITERATIONS));
    await remainingSync('/append', { 'x-ratelimit-remaining-video-minute': ITERATIONS - 2 });
    r = await get('/append');
    assert.equal(r.body.headers?.['x-ratelimit-remaining-image'], String(ITERATIONS - 2));
    assert.equal(r.body.headers?.['x-ratelimit-remaining-video'], String(ITERATIONS - 2));
  });

  test('upstream usage headers: X-Kong-Limit sent on two lines counts both', async () => {
    await startOfMinute();
    for (let i = 0; i < ITERATIONS; i++) assert.equal((await get('/combine', ['video=2', 'image=1'])).status, 200);
    await get('/combine', ['video=1']);
    await remainingSync('/combine', { 'x-ratelimit-remaining-video-minute': 1 });
    const r = await get('/combine', ['video=2', 'image=1']);
    assert.equal(r.status, 429);
    assert.equal(r.headers.get('x-ratelimit-remaining-image-minute'), '0');
    assert.equal(r.headers.get('x-ratelimit-remaining-video-minute'), '0');
  });

  test('should block on first violation, naming the limit used up', async () => {
    await startOfMinute();
    assert.equal((await get('/first', ['video=2, image=4'])).status, 200);
    await remainingSync('/first', {}, 429);
    const r = await get('/first', ['video=2']);
    assert.equal(r.status, 429);
    assert.match(String(r.body.message), /API rate limit exceeded for 'image'/);
  });

  test('hide_client_headers: no rate-limit headers', async () => {
    const r = await get('/hidden');
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('x-ratelimit-remaining-video-minute'), null);
    assert.equal(r.headers.get('x-ratelimit-limit-video-minute'), null);
  });

  test('expirations: a counter expires with its window (a second)', async () => {
    // Kong's wait_server_sync: the request is not to be counted in a second about to end.
    if (Date.now() % 1000 > 700) await new Promise((r) => setTimeout(r, 1000 - (Date.now() % 1000) + 5));
    let r = await get('/expire', ['video=1']);
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('x-ratelimit-limit-video-second'), String(ITERATIONS));
    assert.equal(r.headers.get('x-ratelimit-remaining-video-second'), String(ITERATIONS - 1));
    await new Promise((r) => setTimeout(r, 1000 - (Date.now() % 1000) + 5));
    r = await get('/expire', ['video=1']);
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('x-ratelimit-limit-video-second'), String(ITERATIONS));
    assert.equal(r.headers.get('x-ratelimit-remaining-video-second'), String(ITERATIONS - 1));
  });

  const sixRoutes = Array.from({ length: ITERATIONS }, (_, i) => ({ name: `test${i + 1}`, paths: [`/test${i + 1}`] }));
  const six = sixRoutes.map((r) => r.paths[0]!);

  test('global for a single consumer: the consumer’s quota holds whatever route it uses', async () => {
    const g = await startGateway({
      config: {
        _format_version: '3.0',
        consumers: [
          { custom_id: 'provider_126', username: 'provider_126', keyauth_credentials: [{ key: 'apikey126' }] },
        ],
        plugins: [{ name: 'key-auth' }, { ...rrl(video(ITERATIONS)), consumer: 'provider_126' }],
        services: [{ name: 'test', url: upstream.url, routes: sixRoutes }],
      },
    });
    try {
      await startOfMinute();
      await client(() => g).testLimit(six, ITERATIONS, 'apikey=apikey126');
    } finally {
      await g.close();
    }
  });

  test('global: blocks if exceeding limit, whatever route is used', async () => {
    const g = await startGateway({
      config: {
        _format_version: '3.0',
        plugins: [rrl(video(ITERATIONS))],
        services: [{ name: 'test', url: upstream.url, routes: sixRoutes }],
      },
    });
    try {
      await startOfMinute();
      await client(() => g).testLimit(six);
    } finally {
      await g.close();
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

/** A fresh redis-server for the suite, and the policy fields naming it. */
function redisSuite(redisFields: (redis: TestRedis) => Promise<Record<string, unknown>>): void {
  let redis: TestRedis;
  before(async () => {
    redis = await startRedis();
    policy = { policy: 'redis', redis: await redisFields(redis) };
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
