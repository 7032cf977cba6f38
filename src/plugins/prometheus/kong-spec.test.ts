// Kong's own prometheus specs, ported: spec/03-plugins/26-prometheus/02-access_spec.lua,
// 04-status_api_spec.lua and 05-metrics_spec.lua at Kong commit 22246ef2. The scrape is read with
// `_tollgate.metric_names: kong` and each sample is the line Kong's spec finds, with Tollgate's
// extra `method` label where Kong's http_requests_total has none (docs/kong-compatibility.md).
// Kong's status API is Tollgate's status listener. Cases already covered elsewhere, and the
// deliberate differences, are in the report of this port, not repeated here.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { until } from '../../../test/support/wait.ts';
import { startGateway, type TestGateway } from '../../testing/index.ts';

/** Kong's mock upstream: `/status/NNN` answers NNN. */
function mockUpstream(): Promise<Server> {
  const server = createServer((req, res) => {
    const code = /^\/status\/(\d{3})$/.exec(req.url ?? '')?.[1];
    res.statusCode = code === undefined ? 200 : Number(code);
    res.end('{}');
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

const portOf = (s: Server): number => (s.address() as AddressInfo).port;

describe("Kong's prometheus specs (metric_names: kong)", () => {
  let gw: TestGateway;
  let upstream: Server;
  let mock: string;
  let dead: string;
  let status: string;

  const config = (withUpstreams: boolean): Record<string, unknown> => ({
    _format_version: '3.0',
    _tollgate: { metric_names: 'kong', status_listen: ['127.0.0.1:0'] },
    upstreams: withUpstreams
      ? [
          { name: 'mock-upstream-healthchecksoff', targets: [{ target: mock, weight: 1000 }] },
          {
            name: 'mock-upstream',
            healthchecks: {
              active: {
                http_path: '/status/200',
                healthy: { interval: 0.1, successes: 2 },
                unhealthy: { interval: 0.1, http_failures: 1, tcp_failures: 1, timeouts: 1 },
              },
            },
            targets: [
              { target: mock, weight: 1000 },
              { target: dead, weight: 1 },
              { target: 'some-random-dns.invalid:80', weight: 1 },
            ],
          },
        ]
      : [],
    consumers: [{ username: 'alice', keyauth_credentials: [{ key: 'alice-key' }] }],
    plugins: [
      {
        name: 'prometheus',
        config: {
          status_code_metrics: true,
          latency_metrics: true,
          bandwidth_metrics: true,
          upstream_health_metrics: true,
        },
      },
    ],
    services: [
      {
        name: 'mock-service',
        url: `http://${mock}`,
        routes: [{ name: 'http-route', paths: ['/'], methods: ['GET'] }],
      },
      {
        name: 'consumer-service',
        url: `http://${mock}`,
        routes: [{ name: 'consumer-route', paths: ['/alice'], methods: ['GET'], plugins: [{ name: 'key-auth' }] }],
        plugins: [{ name: 'prometheus', config: { per_consumer: true, status_code_metrics: true } }],
      },
      // Kong's mock-service sends to mock-upstream; here a service without traffic names it, so that
      // no request of the other cases goes to its dead target (Kong balances every upstream; Tollgate
      // only those a service names).
      ...(withUpstreams ? [{ name: 'health-service', host: 'mock-upstream' }] : []),
    ],
  });

  before(async () => {
    upstream = await mockUpstream();
    mock = `127.0.0.1:${portOf(upstream)}`;
    const closed = await mockUpstream();
    dead = `127.0.0.1:${portOf(closed)}`;
    await new Promise((r) => closed.close(r));
    gw = await startGateway({ config: config(true) });
    status = `http://${gw.instance.statusAddresses[0]}`;
  });
  after(async () => {
    await gw?.close();
    upstream?.close();
  });

  const scrape = async (base = gw.adminUrl): Promise<string> => {
    const res = await fetch(`${base}/metrics`);
    assert.equal(res.status, 200);
    return res.text();
  };
  const get = async (path: string, headers: Record<string, string> = {}): Promise<number> => {
    const res = await fetch(`${gw.url}${path}`, { headers });
    await res.arrayBuffer();
    return res.status;
  };
  /** A sample line, whole: Kong's spec finds it as plain text (`body:find(..., nil, true)`). */
  const line = (text: string, sample: string): boolean => text.split('\n').includes(sample);

  test('02/04 "increments the count for proxied requests": code, source and Kong\'s label order, on the status listener too', async () => {
    assert.equal(await get('/status/200'), 200);
    assert.equal(await get('/status/400'), 400);
    for (const body of [await scrape(), await scrape(status)]) {
      for (const code of ['200', '400']) {
        const sample = `kong_http_requests_total{service="mock-service",route="http-route",method="GET",code="${code}",source="service",workspace="default",consumer=""} 1`;
        assert.ok(line(body, sample), `${sample}\n${body}`);
      }
      assert.match(
        body,
        /^kong_kong_latency_ms_bucket\{service="mock-service",route="http-route",workspace="default",le="\+Inf"\} 2$/m,
      );
      assert.match(
        body,
        /^kong_upstream_latency_ms_bucket\{service="mock-service",route="http-route",workspace="default",le="\+Inf"\} 2$/m,
      );
      assert.match(
        body,
        /^kong_request_latency_ms_bucket\{service="mock-service",route="http-route",workspace="default",le="\+Inf"\} 2$/m,
      );
      for (const direction of ['ingress', 'egress'])
        assert.match(
          body,
          new RegExp(
            `^kong_bandwidth_bytes\\{service="mock-service",route="http-route",direction="${direction}",workspace="default",consumer=""\\} [1-9]\\d*$`,
            'm',
          ),
        );
    }
  });

  test('02 per-consumer metrics: the consumer\'s username; a refused request is source="kong" with consumer=""', async () => {
    assert.equal(await get('/alice/status/200', { apikey: 'alice-key' }), 200);
    assert.equal(await get('/alice/status/400', { apikey: 'alice-key' }), 400);
    assert.equal(await get('/alice/status/200'), 401);
    const body = await scrape();
    const base = 'kong_http_requests_total{service="consumer-service",route="consumer-route",method="GET"';
    for (const sample of [
      `${base},code="200",source="service",workspace="default",consumer="alice"} 1`,
      `${base},code="400",source="service",workspace="default",consumer="alice"} 1`,
      `${base},code="401",source="kong",workspace="default",consumer=""} 1`,
    ])
      assert.ok(line(body, sample), `${sample}\n${body}`);
    // "does not expose per consumer metrics by default": Kong 1.x's metric is gone.
    assert.doesNotMatch(body, /http_consumer_status/);
  });

  test('02/04 "exposes db reachability metrics" and nginx-lua-prometheus\'s error counter, as DB-less Kong does', async () => {
    for (const body of [await scrape(), await scrape(status)]) {
      assert.ok(line(body, 'kong_datastore_reachable 1'), body);
      assert.ok(line(body, 'kong_nginx_metric_errors_total 0'), body);
    }
  });

  test('04 upstream target health: healthchecks_off, healthy, unhealthy and dns_error, one state 1 and the others 0', async () => {
    const health = (upstreamName: string, target: string, state: string, value: 0 | 1) =>
      `kong_upstream_target_health{upstream="${upstreamName}",target="${target}",address="${target}",state="${state}",subsystem="http"} ${value}`;
    const expect = (body: string, upstreamName: string, target: string, current: string): boolean =>
      ['healthchecks_off', 'healthy', 'unhealthy', 'dns_error'].every((s) =>
        line(body, health(upstreamName, target, s, s === current ? 1 : 0)),
      );
    let body = '';
    await until('every target in the state Kong reports', async () => {
      body = await scrape(status);
      return (
        expect(body, 'mock-upstream-healthchecksoff', mock, 'healthchecks_off') &&
        expect(body, 'mock-upstream', mock, 'healthy') &&
        expect(body, 'mock-upstream', dead, 'unhealthy') &&
        expect(body, 'mock-upstream', 'some-random-dns.invalid:80', 'dns_error')
      );
    }).catch((e) => assert.fail(`${(e as Error).message}\n${body}`));
  });

  test('02/04 "does not log error if no service was matched", nor "during a scrape"', async () => {
    const errors = () => gw.logs.filter((l) => l.level === 'error' || l.level === 'fatal').length;
    const before = errors();
    const res = await fetch(`${gw.url}/no-route-match-in-kong`, { method: 'POST' });
    assert.equal(res.status, 404);
    await res.arrayBuffer();
    await scrape();
    await scrape(status);
    assert.equal(errors(), before, JSON.stringify(gw.logs.slice(-5)));
  });

  test('04 "remove metrics from deleted targets" and "from deleted upstreams": a reload without them drops their series', async () => {
    const lessTargets = config(true) as { upstreams: { targets: { target: string }[] }[] };
    const pool = lessTargets.upstreams[1]!;
    pool.targets = pool.targets.filter((t) => !t.target.startsWith('some-random-dns'));
    const r1 = await gw.reload(lessTargets);
    assert.equal(r1.ok, true, JSON.stringify(r1));
    const fewer = await scrape(status);
    assert.doesNotMatch(fewer, /^kong_upstream_target_health\{upstream="mock-upstream",target="some-random-dns/m);
    assert.match(fewer, /^kong_upstream_target_health\{upstream="mock-upstream-healthchecksoff"/m);
    const r2 = await gw.reload(config(false));
    assert.equal(r2.ok, true, JSON.stringify(r2));
    const body = await scrape(status);
    assert.doesNotMatch(body, /^kong_upstream_target_health\{upstream="mock-upstream/m);
  });
});
