// datadog through a real gateway, to a real upstream, against a real UDP receiver standing in
// for the Datadog agent: the DogStatsD lines Kong's spec (spec/03-plugins/08-datadog) expects
// for the same requests, byte for byte.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type Receiver, udpReceiver } from '../../../test/support/receivers.ts';
import { type Listening, listen } from '../../../test/support/upstream.ts';
import { validateEntities } from '../../../test/support/validate.ts';
import { startGateway, type TestGateway } from '../../testing/index.ts';

const CONSUMER_ID = '5b1b4cd6-3a5d-4f4e-9f36-2c4b7a0f2d11';

/** The lines of one request: `count` datagrams (Kong sends one line a datagram). */
async function lines(udp: Receiver, count: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < count; i++) out.push(await udp.next());
  return out;
}

/** Kong's six default metrics for one request, tagged `tags`; latencies and sizes as \d+. */
function defaultMetrics(prefix: string, tags: string): RegExp[] {
  const t = tags.replace(/[|.]/g, '\\$&');
  return [
    new RegExp(`^${prefix}\\.request\\.count:1\\|c\\|#${t}$`),
    ...['latency', 'request\\.size', 'response\\.size', 'upstream_latency', 'kong_latency'].map(
      (name) => new RegExp(`^${prefix}\\.${name}:\\d+\\|ms\\|#${t}$`),
    ),
  ];
}

function assertLines(got: string[], want: (string | RegExp)[]): void {
  assert.equal(got.length, want.length, got.join('\n'));
  for (const w of want)
    assert.ok(
      got.some((l) => (typeof w === 'string' ? l === w : w.test(l))),
      `${w} not among:\n${got.join('\n')}`,
    );
}

describe('datadog: the lines Kong sends', () => {
  let gw: TestGateway;
  let upstream: Listening;
  let udp: Receiver;
  /** dd7's agent: its sampled lines vary in number. */
  let sampled: Receiver;

  before(async () => {
    udp = await udpReceiver();
    sampled = await udpReceiver();
    upstream = await listen((_req, res) => res.end('ok'));
    const agent = { host: '127.0.0.1', port: udp.port };
    const service = (name: string, plugins: Record<string, unknown>[], auth = true) => ({
      name,
      url: upstream.url,
      routes: [
        { name: `${name}-route`, paths: [`/${name}`], plugins: [...(auth ? [{ name: 'key-auth' }] : []), ...plugins] },
      ],
    });
    gw = await startGateway({
      config: {
        _format_version: '3.0',
        consumers: [
          { id: CONSUMER_ID, username: 'foo', custom_id: 'bar', keyauth_credentials: [{ key: 'kong' }] },
          { username: 'nocustom', keyauth_credentials: [{ key: 'nocustom-key' }] },
        ],
        services: [
          service('dd1', [{ name: 'datadog', config: agent }]),
          service(
            'dd2',
            [
              {
                name: 'datadog',
                config: { ...agent, metrics: [{ name: 'request_count', stat_type: 'counter', sample_rate: 1 }] },
              },
            ],
            false,
          ),
          service(
            'dd3',
            [
              {
                name: 'datadog',
                config: {
                  ...agent,
                  metrics: [
                    { name: 'request_count', stat_type: 'counter', sample_rate: 1, tags: ['T2:V2', 'T3:V3', 'T4'] },
                    { name: 'latency', stat_type: 'gauge', sample_rate: 1, tags: ['T2:V2:V3', 'T4'] },
                    { name: 'request_size', stat_type: 'distribution', sample_rate: 1, tags: [] },
                  ],
                },
              },
            ],
            false,
          ),
          service('dd4', [{ name: 'datadog', config: { ...agent, prefix: 'prefix' } }]),
          service('dd6', [
            {
              name: 'datadog',
              config: { ...agent, service_name_tag: 'upstream', status_tag: 'http_status', consumer_tag: 'user' },
            },
          ]),
          service('dd8', [{ name: 'datadog', config: { ...agent, route_name_tag: 'route' } }]),
          service('dd7', [
            {
              name: 'datadog',
              config: {
                host: '127.0.0.1',
                port: sampled.port,
                metrics: [
                  { name: 'request_count', stat_type: 'counter', sample_rate: 1, consumer_identifier: 'consumer_id' },
                  { name: 'request_size', stat_type: 'counter', sample_rate: 1, consumer_identifier: 'username' },
                  { name: 'response_size', stat_type: 'counter', sample_rate: 0.5, consumer_identifier: 'custom_id' },
                  { name: 'latency', stat_type: 'counter', sample_rate: 0 },
                ],
              },
            },
          ]),
          {
            name: 'svc.with.dots',
            url: upstream.url,
            routes: [{ paths: ['/dots'], plugins: [{ name: 'datadog', config: agent }] }],
          },
        ],
        routes: [
          {
            name: 'serviceless',
            paths: ['/serviceless'],
            plugins: [
              { name: 'datadog', config: agent },
              { name: 'request-termination', config: { status_code: 200, message: 'OK' } },
            ],
          },
        ],
      },
    });
  });

  after(async () => {
    await gw?.close();
    await upstream?.close();
    await udp?.close();
    await sampled?.close();
  });

  async function get(path: string, key?: string): Promise<number> {
    const res = await fetch(`${gw.url}${path}`, { headers: key === undefined ? {} : { apikey: key } });
    await res.arrayBuffer();
    return res.status;
  }

  test("Kong's six default metrics, tagged with the service, status, consumer (custom_id) and app:kong", async () => {
    assert.equal(await get('/dd1/status/200', 'kong'), 200);
    const got = await lines(udp, 6);
    assertLines(got, defaultMetrics('kong', 'name:dd1,status:200,consumer:bar,app:kong'));
    assert.ok(got.includes('kong.request.count:1|c|#name:dd1,status:200,consumer:bar,app:kong'));
  });

  test('a consumer without the identifier (no custom_id) gets no consumer tag, as in Kong', async () => {
    assert.equal(await get('/dd1/x', 'nocustom-key'), 200);
    assertLines(await lines(udp, 6), defaultMetrics('kong', 'name:dd1,status:200,app:kong'));
  });

  test('a custom prefix, and custom tag names', async () => {
    assert.equal(await get('/dd4/status/200', 'kong'), 200);
    assertLines(await lines(udp, 6), defaultMetrics('prefix', 'name:dd4,status:200,consumer:bar,app:kong'));
    assert.equal(await get('/dd6/status/200', 'kong'), 200);
    assertLines(await lines(udp, 6), defaultMetrics('kong', 'upstream:dd6,http_status:200,user:bar,app:kong'));
  });

  test("Kong Gateway 3.13's route_name_tag: the route's name as a tag after the status", async () => {
    assert.equal(await get('/dd8/status/200', 'kong'), 200);
    assertLines(
      await lines(udp, 6),
      defaultMetrics('kong', 'name:dd8,status:200,route:dd8-route,consumer:bar,app:kong'),
    );
  });

  test('only the metrics listed; a metric without consumer_identifier carries no consumer', async () => {
    assert.equal(await get('/dd2/status/200'), 200);
    assertLines(await lines(udp, 1), ['kong.request.count:1|c|#name:dd2,status:200']);
  });

  test("a metric's own tags follow name and status, as written; gauge and distribution types", async () => {
    assert.equal(await get('/dd3/status/200'), 200);
    assertLines(await lines(udp, 3), [
      'kong.request.count:1|c|#name:dd3,status:200,T2:V2,T3:V3,T4',
      /^kong\.latency:\d+\|g\|#name:dd3,status:200,T2:V2:V3,T4$/,
      /^kong\.request\.size:\d+\|d\|#name:dd3,status:200$/,
    ]);
  });

  test("consumer identifiers: consumer_id with Kong's dashes as underscores, username; a sample rate marks the lines it sends and 0 sends none", async () => {
    const requests = 40;
    for (let i = 0; i < requests; i++) assert.equal(await get('/dd7/x', 'kong'), 200);
    const id = CONSUMER_ID.replaceAll('-', '_');
    const got = sampled.received;
    const deadline = Date.now() + 10_000;
    while (got.filter((l) => l.startsWith('kong.request.size')).length < requests && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    // The last request's sampled line, if any, was sent with its others.
    await new Promise((r) => setTimeout(r, 100));
    const counts = got.filter((l) => l.startsWith('kong.request.count'));
    assert.ok(
      counts.every((l) => l === `kong.request.count:1|c|#name:dd7,status:200,consumer:${id}`),
      counts[0],
    );
    const sizes = got.filter((l) => l.startsWith('kong.request.size'));
    assert.equal(sizes.length, requests);
    assert.equal(counts.length, requests);
    assert.ok(
      sizes.every((l) => /^kong\.request\.size:\d+\|c\|#name:dd7,status:200,consumer:foo$/.test(l)),
      sizes[0],
    );
    const responses = got.filter((l) => l.startsWith('kong.response.size'));
    // Each sent with probability 0.5: 40 requests send none or all 40 with odds of 2^-40.
    assert.ok(responses.length > 0 && responses.length < requests, `${responses.length} of ${requests}`);
    assert.ok(
      responses.every((l) => /^kong\.response\.size:\d+\|c\|@0\.5\|#name:dd7,status:200,consumer:bar$/.test(l)),
    );
    assert.equal(got.filter((l) => l.startsWith('kong.latency')).length, 0, 'sample_rate 0 sends nothing');
  });

  test("a service's dots become underscores in its tag, as Kong's gsub", async () => {
    assert.equal(await get('/dots/x'), 200);
    const got = await lines(udp, 6);
    assert.ok(got.includes('kong.request.count:1|c|#name:svc_with_dots,status:200,app:kong'), got.join('\n'));
  });

  test("a route without a service: every metric with an empty name tag, and Kong's -1 for the upstream latency never measured", async () => {
    assert.equal(await get('/serviceless'), 200);
    const got = await lines(udp, 6);
    assert.ok(got.includes('kong.request.count:1|c|#name:,status:200,app:kong'), got.join('\n'));
    assert.ok(got.includes('kong.upstream_latency:-1|ms|#name:,status:200,app:kong'), got.join('\n'));
  });
});

test('host and port left out: KONG_DATADOG_AGENT_HOST and KONG_DATADOG_AGENT_PORT, as Kong reads them', async () => {
  const udp = await udpReceiver();
  const saved = [process.env.KONG_DATADOG_AGENT_HOST, process.env.KONG_DATADOG_AGENT_PORT];
  process.env.KONG_DATADOG_AGENT_HOST = '127.0.0.1';
  process.env.KONG_DATADOG_AGENT_PORT = String(udp.port);
  let gw: TestGateway | undefined;
  try {
    gw = await startGateway({
      config: {
        _format_version: '3.0',
        services: [
          {
            name: 'dd5',
            url: 'echo://',
            routes: [{ paths: ['/'], plugins: [{ name: 'datadog', config: { host: null, port: null } }] }],
          },
        ],
      },
    });
    const res = await fetch(`${gw.url}/x`);
    await res.arrayBuffer();
    const got = await lines(udp, 6);
    assert.ok(got.includes('kong.request.count:1|c|#name:dd5,status:200,app:kong'), got.join('\n'));
    process.env.KONG_DATADOG_AGENT_PORT = 'eighty';
    const v = await validateEntities('plugins:\n- name: datadog\n');
    assert.equal(v.code, 0, v.out);
    assert.match(
      v.out,
      /config\.port\s+warning: plugin 'datadog': KONG_DATADOG_AGENT_PORT 'eighty' is not a port: 8125 is used/,
    );
  } finally {
    await gw?.close();
    for (const [i, k] of (['KONG_DATADOG_AGENT_HOST', 'KONG_DATADOG_AGENT_PORT'] as const).entries()) {
      if (saved[i] === undefined) delete process.env[k];
      else process.env[k] = saved[i];
    }
    await udp.close();
  }
});

test("Kong's schema rules, with Kong's words where Kong has them", async () => {
  const plugin = (config: string) => `plugins:\n- name: datadog\n  config:\n${config}`;
  const cases: [string, RegExp][] = [
    [
      '    metrics:\n    - name: request_count\n      stat_type: counter\n',
      /metrics\[0\]\.sample_rate\s+required field missing/,
    ],
    [
      '    metrics:\n    - name: latency\n      stat_type: gauge\n',
      /metrics\[0\]\.sample_rate\s+required field missing/,
    ],
    [
      '    metrics:\n    - name: request_count\n      sample_rate: 1\n',
      /metrics\[0\]\.stat_type\s+plugin 'datadog': field required for entity check/,
    ],
    [
      '    metrics:\n    - name: invalid_name\n      stat_type: timer\n',
      /metrics\[0\]\.name\s+expected one of: kong_latency, latency, request_count, request_size, response_size, upstream_latency/,
    ],
    [
      '    metrics:\n    - name: latency\n      stat_type: invalid_stat\n',
      /metrics\[0\]\.stat_type\s+expected one of: counter, gauge, histogram, meter, set, timer, distribution/,
    ],
    [
      '    metrics:\n    - name: request_count\n      stat_type: counter\n      sample_rate: 1\n      tags: ["T1:"]\n',
      /metrics\[0\]\.tags\[0\]\s+invalid value: T1:/,
    ],
    [
      '    metrics:\n    - name: request_count\n      stat_type: counter\n      sample_rate: 1\n      tags: ["T1\\n"]\n',
      /metrics\[0\]\.tags\[0\]\s+invalid value: T1\\n:/,
    ],
    [
      '    metrics:\n    - name: latency\n      stat_type: timer\n      sample_rate: 1.5\n',
      /value should be between 0 and 1/,
    ],
  ];
  for (const [config, want] of cases) {
    const v = await validateEntities(plugin(config));
    assert.equal(v.code, 1, v.out);
    assert.match(v.out, want);
  }
  const ok = await validateEntities(
    plugin(
      '    host: null\n    metrics: []\n    queue_size: 2\n    flush_timeout: 3\n    retry_count: 4\n    queue:\n      max_batch_size: 10\n',
    ),
  );
  assert.equal(ok.code, 0, ok.out);
  assert.match(ok.out, /queue_size\s+warning: plugin 'datadog': the queue_size parameter is deprecated/);
  assert.match(ok.out, /flush_timeout\s+warning: plugin 'datadog': the flush_timeout parameter is deprecated/);
  assert.match(ok.out, /retry_count\s+warning: plugin 'datadog': the retry_count parameter no longer works/);
});
