// The opentelemetry plugin's `metrics` export (Kong Gateway 3.13), as a real OTLP/HTTP collector
// on loopback decodes it (test/support/otlp-metrics.ts, written from metrics.proto).
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { type DecodedMetric, type DecodedPoint, decodeMetricsExport } from '../../../test/support/otlp-metrics.ts';
import { validateEntities } from '../../../test/support/validate.ts';
import { until } from '../../../test/support/wait.ts';
import { type GatewayRequest, type LogEntry, nodeId } from '../../index.ts';
import { startGateway } from '../../testing/index.ts';
import { MetricAggregates } from './metrics-series.ts';

/**
 * A collector on loopback: each push's body and headers, in arrival order. While `hang` is set it
 * takes pushes and never answers them (a stalled collector).
 */
async function startCollector() {
  const pushes: Buffer[] = [];
  const headers: IncomingHttpHeaders[] = [];
  const held: ServerResponse[] = [];
  const state = { hang: false };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (state.hang) {
        held.push(res);
        return;
      }
      pushes.push(Buffer.concat(chunks));
      headers.push(req.headers);
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/metrics`;
  return {
    pushes,
    headers,
    state,
    endpoint,
    /** The metrics of the latest push. */
    latest: (): DecodedMetric[] => (pushes.length === 0 ? [] : decodeMetricsExport(pushes.at(-1)!)),
    close: () =>
      new Promise<void>((r) => {
        for (const res of held) res.destroy();
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

const METRICS = {
  push_interval: 1,
  enable_request_metrics: true,
  enable_latency_metrics: true,
  enable_bandwidth_metrics: true,
};

function config(metrics: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  return {
    _format_version: '3.0',
    services: [{ name: 'echo', url: 'echo://', routes: [{ name: 'r', paths: ['/r'] }] }],
    plugins: [
      {
        name: 'opentelemetry',
        // The traces go nowhere that answers: only the metrics are looked at.
        config: { traces_endpoint: 'http://127.0.0.1:9/v1/traces', sampling_rate: 0, metrics, ...extra },
      },
    ],
  };
}

const metric = (ms: DecodedMetric[], name: string) => ms.find((m) => m.name === name);
const point = (m: DecodedMetric | undefined, where: Record<string, unknown>): DecodedPoint | undefined =>
  m?.points.find((p) => Object.entries(where).every(([k, v]) => p.attributes[k] === v));
/** The request count of the latest push for the series matching `where`, or 0. */
const countOf = (ms: DecodedMetric[], where: Record<string, unknown>) =>
  point(metric(ms, 'http.server.request.count'), where)?.value ?? 0;

test("requests are pushed as Kong's request count, latency and size metrics, cumulative, with its attributes", async () => {
  const collector = await startCollector();
  const gw = await startGateway({
    config: config({ ...METRICS, endpoint: collector.endpoint }, { headers: { 'x-collector-key': 'k-123' } }),
  }).catch(async (err: unknown) => {
    await collector.close();
    throw err;
  });
  try {
    for (let i = 0; i < 3; i++) assert.equal((await fetch(`${gw.url}/r`)).status, 200);
    const post = await fetch(`${gw.url}/r`, { method: 'POST', body: 'x'.repeat(1000) });
    assert.equal(post.status, 200);
    await post.text();
    assert.equal((await fetch(`${gw.url}/nowhere`)).status, 404);

    const ok = { 'kong.route.name': 'r', 'http.request.method': 'GET' };
    await until('a push with the three GETs', () => countOf(collector.latest(), ok) === 3, 10_000);
    const ms = collector.latest();

    const count = metric(ms, 'http.server.request.count')!;
    assert.equal(count.type, 'sum');
    assert.equal(count.temporality, 2, 'cumulative');
    assert.equal(count.monotonic, true);
    assert.equal(count.unit, '{request}');
    assert.deepEqual(point(count, ok)!.attributes, {
      'kong.service.name': 'echo',
      'kong.route.name': 'r',
      'kong.workspace.name': 'default',
      'kong.response.source': 'upstream',
      'http.request.method': 'GET',
      'kong.response.status_code': 200,
    });
    assert.equal(countOf(ms, { 'http.request.method': 'POST', 'kong.route.name': 'r' }), 1);
    // No route matched: the gateway answered, with no service or route.
    const lost = point(count, { 'kong.response.status_code': 404 })!;
    assert.equal(lost.value, 1);
    assert.equal(lost.attributes['kong.response.source'], 'kong');
    assert.equal(lost.attributes['kong.route.name'], '');
    assert.ok(!('kong.auth.consumer.name' in lost.attributes));

    for (const name of ['kong.latency.total', 'kong.latency.internal', 'kong.latency.upstream']) {
      const h = point(metric(ms, name), { 'kong.route.name': 'r' });
      assert.ok(h, `${name} for route r`);
      assert.equal(metric(ms, name)!.unit, 's');
      assert.equal(metric(ms, name)!.temporality, 2);
      assert.equal(h.count, 4, name);
      assert.ok(h.sum! >= 0 && h.sum! < 60, `${name} sums seconds: ${h.sum}`);
      assert.deepEqual(h.explicitBounds!.slice(0, 3), [0.001, 0.002, 0.005]);
      assert.equal(h.bucketCounts!.length, h.explicitBounds!.length + 1);
      assert.equal(
        h.bucketCounts!.reduce((a, b) => a + b, 0),
        4,
      );
    }
    const requestSize = point(metric(ms, 'http.server.request.size'), { 'kong.route.name': 'r' })!;
    assert.equal(metric(ms, 'http.server.request.size')!.unit, 'By');
    assert.equal(requestSize.count, 4);
    // Kong's request size is nginx's $request_length: the heads and the POST's body.
    assert.ok(requestSize.sum! > 1000, `${requestSize.sum}`);
    const responseSize = point(metric(ms, 'http.server.response.size'), { 'kong.route.name': 'r' })!;
    assert.equal(responseSize.count, 4);
    assert.ok(responseSize.sum! > 1000, `the echo answers, heads included: ${responseSize.sum}`);

    // The resource: the traces' (service.name) and this node's id, which keeps gateways apart.
    assert.equal(count.resource['service.name'], 'kong');
    assert.equal(count.resource['service.instance.id'], nodeId());
    assert.equal(count.resource['process.pid'], process.pid);
    // The plugin's headers reach the collector.
    assert.equal(collector.headers.at(-1)!['x-collector-key'], 'k-123');
    assert.equal(collector.headers.at(-1)!['content-type'], 'application/x-protobuf');

    // A reload of the same config keeps counting from where it was: the sums are cumulative.
    await gw.reload(config({ ...METRICS, endpoint: collector.endpoint }, { headers: { 'x-collector-key': 'k-123' } }));
    assert.equal((await fetch(`${gw.url}/r`)).status, 200);
    await until('a push after the reload', () => countOf(collector.latest(), ok) === 4, 10_000);

    const status = (await (await fetch(`${gw.adminUrl}/status`)).json()) as { dependencies: Record<string, unknown>[] };
    const dep = status.dependencies.find((d) => d.kind === 'otlp_metrics');
    assert.equal(dep?.target, collector.endpoint, JSON.stringify(status.dependencies));
    assert.equal(dep?.healthy, true);
    assert.doesNotMatch(JSON.stringify(status), /k-123/);
  } finally {
    await gw.close();
    await collector.close();
  }
});

test('the consumer attribute is there only with enable_consumer_attribute, as in Kong', async () => {
  const collector = await startCollector();
  const route = (name: string, consumerAttr: boolean) => ({
    name,
    paths: [`/${name}`],
    plugins: [
      { name: 'key-auth' },
      {
        name: 'opentelemetry',
        config: {
          traces_endpoint: 'http://127.0.0.1:9/v1/traces',
          sampling_rate: 0,
          metrics: { ...METRICS, endpoint: collector.endpoint, enable_consumer_attribute: consumerAttr },
        },
      },
    ],
  });
  const gw = await startGateway({
    config: {
      _format_version: '3.0',
      consumers: [{ username: 'alice', keyauth_credentials: [{ key: 'alice-key' }] }],
      services: [{ name: 'echo', url: 'echo://', routes: [route('with', true), route('without', false)] }],
    },
  }).catch(async (err: unknown) => {
    await collector.close();
    throw err;
  });
  try {
    for (const path of ['/with', '/without']) {
      assert.equal((await fetch(`${gw.url}${path}`, { headers: { apikey: 'alice-key' } })).status, 200);
    }
    // Each route's instance pushes its own series: the points of a metric over every push.
    const attrs = (name: string, routeName: string) => {
      for (const m of collector.pushes.flatMap((b) => decodeMetricsExport(b))) {
        const p = m.name === name ? point(m, { 'kong.route.name': routeName }) : undefined;
        if (p !== undefined) return p.attributes;
      }
      return undefined;
    };
    const count = 'http.server.request.count';
    await until(
      "both routes' pushes",
      () => attrs(count, 'with') !== undefined && attrs(count, 'without') !== undefined,
      10_000,
    );
    assert.equal(attrs(count, 'with')!['kong.auth.consumer.name'], 'alice');
    assert.ok(!('kong.auth.consumer.name' in attrs(count, 'without')!), JSON.stringify(attrs(count, 'without')));
    assert.equal(attrs('http.server.request.size', 'with')!['kong.auth.consumer.name'], 'alice');
    assert.ok(!('kong.auth.consumer.name' in attrs('http.server.request.size', 'without')!));
    // Latency metrics carry no consumer in Kong's list.
    assert.ok(!('kong.auth.consumer.name' in attrs('kong.latency.total', 'with')!));
  } finally {
    await gw.close();
    await collector.close();
  }
});

test('a collector that never answers holds no request, and the next push after it recovers carries every count', async () => {
  const collector = await startCollector();
  collector.state.hang = true;
  const gw = await startGateway({
    config: config(
      { ...METRICS, endpoint: collector.endpoint },
      { connect_timeout: 200, send_timeout: 200, read_timeout: 200 },
    ),
  }).catch(async (err: unknown) => {
    await collector.close();
    throw err;
  });
  try {
    assert.equal((await fetch(`${gw.url}/r`)).status, 200);
    // A push is stuck at the collector, and then another times out: requests still pass meanwhile.
    await until(
      'a failed push in /status',
      async () => {
        const status = (await (await fetch(`${gw.adminUrl}/status`)).json()) as {
          dependencies: Record<string, unknown>[];
        };
        return status.dependencies.some((d) => d.kind === 'otlp_metrics' && d.healthy === false);
      },
      10_000,
    );
    for (let i = 0; i < 2; i++) assert.equal((await fetch(`${gw.url}/r`)).status, 200);
    assert.equal(collector.pushes.length, 0);

    collector.state.hang = false;
    await until(
      'a push once the collector answers',
      () => countOf(collector.latest(), { 'kong.route.name': 'r' }) === 3,
      10_000,
    );
    await until(
      'healthy again',
      async () => {
        const status = (await (await fetch(`${gw.adminUrl}/status`)).json()) as {
          dependencies: Record<string, unknown>[];
        };
        return status.dependencies.some((d) => d.kind === 'otlp_metrics' && d.healthy === true);
      },
      10_000,
    );
  } finally {
    await gw.close();
    await collector.close();
  }
});

test('metrics.endpoint loads; a URL that is not http(s) or a push_interval of 0 is refused at its line', async () => {
  const load = (metrics: string) =>
    validateEntities(
      `plugins:\n  - name: opentelemetry\n    config:\n      traces_endpoint: "http://127.0.0.1:4318/v1/traces"\n      metrics: ${metrics}\n`,
    );
  const good = await load('{ endpoint: "http://127.0.0.1:4318/v1/metrics", enable_request_metrics: true }');
  assert.equal(good.code, 0, good.out);
  assert.doesNotMatch(good.out, /not implemented/);

  const ftp = await load('{ endpoint: "ftp://127.0.0.1/v1/metrics" }');
  assert.equal(ftp.code, 1, ftp.out);
  assert.match(ftp.out, /:6:\d+ {2}plugins\[0\]\.config\.metrics\.endpoint /);
  const zero = await load('{ endpoint: "http://127.0.0.1:4318/v1/metrics", push_interval: 0 }');
  assert.equal(zero.code, 1, zero.out);
  assert.match(zero.out, /:6:\d+ {2}plugins\[0\]\.config\.metrics\.push_interval /);
});

test('past its series cap an aggregate counts the series it holds and turns new ones away, counted', () => {
  const agg = new MetricAggregates(2);
  const on = { requests: true, latency: false, bandwidth: false, consumer: false };
  const request = (method: string) =>
    ({ method, service: { name: 'echo' }, route: { name: 'r' }, consumer: null }) as unknown as GatewayRequest;
  const entry = { status: 200, source: 'upstream', startedAt: Date.now() } as LogEntry;
  for (const method of ['GET', 'POST', 'PUT', 'DELETE', 'GET']) agg.record(request(method), entry, on);
  assert.deepEqual(
    [...agg.requestCount.values()].map((c) => [c.attributes['http.request.method'], c.value]),
    [
      ['GET', 2],
      ['POST', 1],
    ],
  );
  assert.equal(agg.droppedSeries, 2);
});

test("an instance with metrics.endpoint alone (Kong's metrics example) pushes them and traces nothing", async () => {
  const collector = await startCollector();
  const gw = await startGateway({
    config: config({ ...METRICS, endpoint: collector.endpoint }, { traces_endpoint: null, sampling_rate: null }),
  }).catch(async (err: unknown) => {
    await collector.close();
    throw err;
  });
  try {
    const res = await fetch(`${gw.url}/r`);
    assert.equal(res.status, 200);
    const echoed = (await res.json()) as { headers: Record<string, string> };
    assert.equal(echoed.headers.traceparent, undefined, 'no trace context reaches the upstream');
    await until('a push with the request', () => countOf(collector.latest(), { 'kong.route.name': 'r' }) === 1, 10_000);
  } finally {
    await gw.close();
    await collector.close();
  }
});

test("a method OpenTelemetry does not name is counted as _OTHER, so a client's made-up methods open one series", () => {
  const agg = new MetricAggregates();
  const on = { requests: true, latency: true, bandwidth: false, consumer: false };
  const request = (method: string) =>
    ({ method, service: { name: 'echo' }, route: { name: 'r' }, consumer: null }) as unknown as GatewayRequest;
  const entry = {
    status: 200,
    source: 'upstream',
    startedAt: 0,
    latency: 5,
    upstreamLatency: 2,
    upstreamStartedAt: 1,
  } as LogEntry;
  for (const method of ['GET', 'X1', 'X2', 'PROPFIND', 'GET']) agg.record(request(method), entry, on);
  assert.deepEqual(
    [...agg.requestCount.values()].map((c) => [c.attributes['http.request.method'], c.value]),
    [
      ['GET', 2],
      ['_OTHER', 3],
    ],
  );
  assert.equal(agg.droppedSeries, 0);
});

test('a request the cap keeps out of the request count is still counted in the latency series it has', () => {
  const agg = new MetricAggregates(4);
  const on = { requests: true, latency: true, bandwidth: false, consumer: false };
  const request = {
    method: 'GET',
    service: { name: 'echo' },
    route: { name: 'r' },
    consumer: null,
  } as unknown as GatewayRequest;
  const entry = (status: number) =>
    ({ status, source: 'upstream', startedAt: 0, latency: 5, upstreamLatency: 2, upstreamStartedAt: 1 }) as LogEntry;
  // 200's count and the three latency histograms fill the cap; 404's count is turned away.
  agg.record(request, entry(200), on);
  agg.record(request, entry(404), on);
  assert.equal(agg.requestCount.size, 1);
  assert.equal(agg.droppedSeries, 1);
  assert.equal([...agg.latencyTotal.values()][0]!.count, 2);
});
