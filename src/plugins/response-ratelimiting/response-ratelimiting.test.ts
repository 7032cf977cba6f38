import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startServiceGateway } from '../../../test/support/gateway.ts';
import { rawRequest } from '../../../test/support/raw.ts';
import { redisUnavailable, startRedis, type TestRedis } from '../../../test/support/redis.ts';
import { refusedPort } from '../../../test/support/refused-port.ts';
import { type RecordingUpstream, startRecordingUpstream } from '../../../test/support/upstream.ts';
import { validateText } from '../../../test/support/validate.ts';
import type { TestGateway } from '../../testing/index.ts';
import plugin from './index.ts';

/** The upstream reports usage from the `cost` query argument: `?cost=videos=1`, one header field per `cost`. */
function startCostUpstream(): Promise<RecordingUpstream> {
  return startRecordingUpstream((seen, res) => {
    const costs = new URL(seen.url, 'http://x').searchParams.getAll('cost');
    const cost = costs.length > 1 ? costs : costs[0];
    res.writeHead(200, { 'content-type': 'application/json', ...(cost ? { 'x-kong-limit': cost } : {}) });
    res.end(JSON.stringify({ remaining: seen.headers['x-ratelimit-remaining-videos'] ?? null }));
  });
}

// Day windows: a test's requests never straddle a window boundary in practice (midnight UTC).
function routes(policy: Record<string, unknown>) {
  return [
    {
      name: 'videos',
      paths: ['/videos'],
      plugins: [
        {
          name: 'response-ratelimiting',
          config: { limits: { videos: { day: 2 }, images: { day: 100, year: 1000 } }, ...policy },
        },
      ],
    },
    {
      name: 'strict',
      paths: ['/strict'],
      plugins: [
        {
          name: 'response-ratelimiting',
          config: { limits: { videos: { day: 1 } }, block_on_first_violation: true, ...policy },
        },
      ],
    },
  ];
}

async function get(gw: TestGateway, path: string) {
  const res = await fetch(`${gw.url}${path}`, { signal: AbortSignal.timeout(5000) });
  return { res, body: (await res.json()) as Record<string, unknown> };
}

describe('response-ratelimiting, local policy', () => {
  let gw: TestGateway;
  let upstream: RecordingUpstream;
  before(async () => {
    upstream = await startCostUpstream();
    const underscored = {
      name: 'underscored',
      paths: ['/underscored'],
      plugins: [
        { name: 'response-ratelimiting', config: { limits: { videos: { day: 1 } }, header_name: 'X_Kong_Limit' } },
      ],
    };
    const terminated = {
      name: 'terminated',
      paths: ['/terminated'],
      plugins: [
        { name: 'response-ratelimiting', config: { limits: { videos: { day: 3 } } } },
        { name: 'request-termination', config: { status_code: 403, message: 'closed' } },
      ],
    };
    const capitals = {
      name: 'capitals',
      paths: ['/capitals'],
      plugins: [{ name: 'response-ratelimiting', config: { limits: { Videos: { day: 5 } } } }],
    };
    const repeated = {
      name: 'repeated',
      paths: ['/repeated'],
      plugins: [{ name: 'response-ratelimiting', config: { limits: { videos: { day: 10 }, images: { day: 10 } } } }],
    };
    const amounts = {
      name: 'amounts',
      paths: ['/amounts'],
      plugins: [{ name: 'response-ratelimiting', config: { limits: { videos: { day: 100 } } } }],
    };
    gw = await startServiceGateway([...routes({}), underscored, terminated, capitals, repeated, amounts], {
      url: upstream.url,
    });
  });
  after(async () => {
    await gw?.close();
    await upstream?.close();
  });

  test("Kong's priority (900)", () => assert.equal(plugin.priority, 900));

  test('counts what the upstream reports, tells both sides what is left, then answers 429', async () => {
    const a = await get(gw, '/videos?cost=videos=1');
    assert.equal(a.res.status, 200);
    assert.equal(a.body.remaining, '2', 'the upstream sees what remained before this request');
    assert.equal(a.res.headers.get('x-ratelimit-limit-videos-day'), '2');
    assert.equal(a.res.headers.get('x-ratelimit-remaining-videos-day'), '1');
    assert.equal(a.res.headers.get('x-ratelimit-limit-images-year'), '1000');
    assert.equal(a.res.headers.get('x-kong-limit'), null, 'the usage header stays between upstream and gateway');
    // a response that reports no usage costs nothing
    const free = await get(gw, '/videos');
    assert.equal(free.res.headers.get('x-ratelimit-remaining-videos-day'), '1');
    const b = await get(gw, '/videos?cost=videos=1,%20images=5');
    assert.equal(b.res.status, 200);
    assert.equal(b.res.headers.get('x-ratelimit-remaining-videos-day'), '0');
    assert.equal(b.res.headers.get('x-ratelimit-remaining-images-day'), '95');
    const c = await get(gw, '/videos?cost=videos=1');
    assert.equal(c.res.status, 429);
    assert.deepEqual(c.body, { message: "API rate limit exceeded for 'videos'" });
    // responses that do not use the exhausted limit still pass
    const d = await get(gw, '/videos?cost=images=1');
    assert.equal(d.res.status, 200);
    assert.equal(d.body.remaining, '0');
  });

  test("HTTP/1.1 clients get Kong's spelling: X-RateLimit-Limit-<limit>-<period>", async () => {
    const r = await rawRequest(
      gw.url,
      'GET /videos?cost=images=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
      300,
    );
    assert.equal(r.status, 200);
    assert.match(r.raw, /\r\nX-RateLimit-Limit-images-year: 1000\r\n/);
    assert.match(r.raw, /\r\nX-RateLimit-Remaining-images-day: \d+\r\n/);
    // A limit named with capitals keeps them, as Kong writes the name it was configured with.
    const capitals = await rawRequest(gw.url, 'GET /capitals HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 300);
    assert.match(capitals.raw, /\r\nX-RateLimit-Limit-Videos-day: 5\r\n/);
  });

  test('a usage header sent twice counts every field, one comma-separated list (Kong reads the first only)', async () => {
    const a = await get(gw, '/repeated?cost=videos=1&cost=images=2');
    assert.equal(a.res.headers.get('x-ratelimit-remaining-videos-day'), '9');
    assert.equal(a.res.headers.get('x-ratelimit-remaining-images-day'), '8');
    assert.equal(a.res.headers.get('x-kong-limit'), null);
    const b = await get(gw, '/repeated');
    assert.equal(b.res.headers.get('x-ratelimit-remaining-images-day'), '8', 'counted after the response');
  });

  test("amounts are read as Kong's tonumber reads them; a later pair whose amount is none leaves its name uncounted", async () => {
    const remaining = async (cost: string) =>
      (await get(gw, `/amounts?cost=${encodeURIComponent(cost)}`)).res.headers.get('x-ratelimit-remaining-videos-day');
    assert.equal(await remaining('videos=2, videos=abc'), '100');
    assert.equal(await remaining('videos=2, videos='), '100');
    assert.equal(await remaining('videos=\u00a03'), '100', 'a byte 0xA0 is not space around a number');
    assert.equal(await remaining('videos=1=2'), '100', 'a pair with two = is none');
    assert.equal(await remaining('videos= 0x2 '), '98');
  });

  test('a header_name written with _ reads and removes the header written with -, as Kong does', async () => {
    const a = await get(gw, '/underscored?cost=videos=1');
    assert.equal(a.res.status, 200);
    assert.equal(a.res.headers.get('x-ratelimit-remaining-videos-day'), '0');
    assert.equal(a.res.headers.get('x-kong-limit'), null, 'the usage header stays between upstream and gateway');
    assert.equal((await get(gw, '/underscored?cost=videos=1')).res.status, 429);
  });

  test("an answer the gateway made (another plugin's exit) carries the limits too and costs nothing, as Kong's header filter sends them", async () => {
    for (let i = 0; i < 2; i++) {
      const r = await fetch(`${gw.url}/terminated`);
      assert.equal(r.status, 403);
      assert.equal(r.headers.get('x-ratelimit-limit-videos-day'), '3');
      assert.equal(r.headers.get('x-ratelimit-remaining-videos-day'), '3');
      await r.arrayBuffer();
    }
  });

  test('block_on_first_violation refuses before the upstream once a limit is used up', async () => {
    assert.equal((await get(gw, '/strict?cost=videos=1')).res.status, 200);
    const before = upstream.requests.length;
    const r = await get(gw, '/strict?cost=videos=1');
    assert.equal(r.res.status, 429);
    assert.deepEqual(r.body, {
      message: "API rate limit exceeded for 'videos'",
      request_id: r.res.headers.get('x-request-id'),
    });
    assert.equal(upstream.requests.length, before);
  });

  test('limits must name at least one period, in increasing order', async () => {
    for (const limits of [{ v: {} }, { v: { minute: 10, second: 20 } }]) {
      await assert.rejects(
        startServiceGateway([{ paths: ['/x'], plugins: [{ name: 'response-ratelimiting', config: { limits } }] }]),
      );
    }
  });

  test('a limit name that cannot be in a header name is a config error, not a broken route', async () => {
    for (const name of ['video clips', 'é', 'a:b']) {
      const routes = [
        { paths: ['/x'], plugins: [{ name: 'response-ratelimiting', config: { limits: { [name]: { minute: 5 } } } }] },
      ];
      // A gateway that starts anyway is closed, so that the failure is an assertion, not a hang.
      const err = await startServiceGateway(routes).then(
        async (gw) => {
          await gw.close();
          return null;
        },
        (e: Error & { issues?: { path: string; message: string }[] }) => e,
      );
      assert.ok(
        err?.issues?.some((i) => i.path.includes(name) && /header names/.test(i.message)) === true ||
          /header names/.test(String(err?.message)),
        `${name}: ${String(err?.message)}`,
      );
    }
  });
});

test('fault_tolerant false with Redis unreachable: 500, and the failure logged as Kong does, once a second', async () => {
  // Nothing listens on this port: every command fails at once, no redis-server needed.
  const port = await refusedPort();
  const gw = await startServiceGateway(
    routes({ policy: 'redis', fault_tolerant: false, redis: { host: '127.0.0.1', port, timeout: 500 } }),
  );
  try {
    const answers = await Promise.all(Array.from({ length: 10 }, () => get(gw, '/videos')));
    for (const { res, body } of answers) {
      assert.equal(res.status, 500);
      assert.equal(body.message, 'An unexpected error occurred');
    }
    const access = gw.logs.filter((l) => l.type === 'access');
    assert.ok(access.length === 10 && access.every((l) => l.reason === 'COUNTER_STORE_FAILED'));
    // Kong logs "failed to get usage: <err>" (error level); before, an operator saw the 500s and no cause.
    const failures = gw.logs.filter((l) => l.msg === 'failed to get usage');
    assert.ok(
      failures.length >= 1 && failures.length <= 3,
      `a line a second, not one per request (${failures.length})`,
    );
    assert.match(String(failures[0]!.error), /ECONNREFUSED|reconnecting|max retries/i);
  } finally {
    await gw.close();
  }
});

const skip = redisUnavailable();
describe('response-ratelimiting, redis policy', { skip: skip ?? false }, () => {
  let redis: TestRedis;
  let gw1: TestGateway;
  let gw2: TestGateway;
  let upstream: RecordingUpstream;
  before(async () => {
    redis = await startRedis();
    upstream = await startCostUpstream();
    // decK dumps write the flat redis_* fields, with nulls for the unset ones
    const policy = { policy: 'redis', redis_host: redis.host, redis_port: redis.port, redis_password: null };
    gw1 = await startServiceGateway(routes(policy), { url: upstream.url });
    gw2 = await startServiceGateway(routes(policy), { url: upstream.url });
  });
  after(async () => {
    await gw1?.close();
    await gw2?.close();
    await upstream?.close();
    await redis?.stop();
  });

  test('two gateways share the counters', async () => {
    assert.equal((await get(gw1, '/videos?cost=videos=1')).res.status, 200);
    const b = await get(gw2, '/videos?cost=videos=1');
    assert.equal(b.res.status, 200);
    assert.equal(b.res.headers.get('x-ratelimit-remaining-videos-day'), '0');
    assert.equal((await get(gw1, '/videos?cost=videos=1')).res.status, 429);
  });

  test("counters have Kong's key shape (…:<window start>:<limit name>:<period>), so Kong nodes on the same Redis share them", async () => {
    assert.equal((await get(gw1, '/videos?cost=images=1')).res.status, 200);
    const { Redis } = await import('ioredis');
    const client = new Redis({ host: redis.host, port: redis.port, lazyConnect: true });
    try {
      await client.connect();
      const keys = (await client.keys('response-ratelimit:*')).filter((k) => k.includes('images'));
      const now = Date.now();
      const day = now - (now % 86_400_000);
      const route = '[0-9a-f-]{36}';
      const shape = new RegExp(
        `^response-ratelimit:${route}:0{8}-0{4}-0{4}-0{4}-0{12}:127\\.0\\.0\\.1:${day}:images:day$`,
      );
      assert.ok(
        keys.some((k) => shape.test(k)),
        keys.join(' '),
      );
    } finally {
      client.disconnect();
    }
  });
});

/** `gateway validate` of one response-ratelimiting config written as YAML flow text: its exit code and output. */
const validateConfig = (config: string) =>
  validateText(`_format_version: "3.0"\nplugins:\n  - name: response-ratelimiting\n    config: ${config}\n`);

test("Kong's deprecated flat redis_* fields load with Kong's deprecation text, and are refused when their redis field says otherwise", async () => {
  const { code, out } = await validateConfig(
    '{ limits: { videos: { day: 1 } }, policy: redis, redis_host: redis.internal }',
  );
  assert.equal(code, 0, out);
  assert.ok(
    out.includes(
      "plugins[0].config.redis_host  warning: plugin 'response-ratelimiting': response-ratelimiting: config.redis_host is deprecated, please use config.redis.host instead",
    ),
    out,
  );
  const conflict = await validateConfig(
    '{ limits: { videos: { day: 1 } }, policy: redis, redis_port: 6380, redis: { host: h, port: 6381 } }',
  );
  assert.equal(conflict.code, 1, conflict.out);
  assert.ok(
    conflict.out.includes(
      'plugins[0].config.redis_port  both deprecated and new field are used but their values mismatch: redis_port = 6380 vs redis.port = 6381',
    ),
    conflict.out,
  );
  const cloud = await validateConfig(
    '{ limits: { videos: { day: 1 } }, policy: redis, redis: { host: h, cloud_authentication: { auth_provider: gcp } } }',
  );
  assert.equal(cloud.code, 1, cloud.out);
  assert.match(
    cloud.out,
    /config\.redis\.cloud_authentication\.auth_provider {2}redis\.cloud_authentication \(Kong Gateway 3\.13/,
  );
  const dumped = await validateConfig(
    '{ limits: { videos: { day: 1 } }, policy: redis, redis: { host: h, cloud_authentication: { auth_provider: null, aws_is_serverless: true } } }',
  );
  assert.equal(dumped.code, 0, dumped.out);
});

test("limits are refused with Kong's messages: an empty map, a limit naming no period, a longer period with a lower limit", async () => {
  const cases: [string, string][] = [
    ['{ limits: {} }', "plugins[0].config.limits  plugin 'response-ratelimiting': length must be at least 1"],
    [
      '{ limits: { video: {} } }',
      "plugins[0].config.limits.video  plugin 'response-ratelimiting': at least one of these fields must be non-empty: 'second', 'minute', 'hour', 'day', 'month', 'year'",
    ],
    [
      '{ limits: { video: { second: null } } }',
      "at least one of these fields must be non-empty: 'second', 'minute', 'hour', 'day', 'month', 'year'",
    ],
    [
      '{ limits: { video: { second: 1, minute: 2, hour: 3, day: 4, month: 6, year: 5 } } }',
      'the limit for year(5.0) cannot be lower than the limit for month(6.0)',
    ],
  ];
  for (const [config, message] of cases) {
    const r = await validateConfig(config);
    assert.equal(r.code, 1, r.out);
    assert.ok(r.out.includes(message), r.out);
  }
  // Kong's null tolerance for a period (its spec: a null second beside a minute loads).
  const nulls = await validateConfig('{ limits: { video: { second: null, minute: 1 } } }');
  assert.equal(nulls.code, 0, nulls.out);
});
