// The opentelemetry plugin's spans of a retried request, as a real collector on loopback decodes
// them (test/support/otlp.ts): Kong's one `kong.balancer` span per try.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import { connect as h2Connect } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { decodeTraceExport } from '../../../test/support/otlp.ts';
import { retryPair } from '../../../test/support/retry-pair.ts';
import { tempDir } from '../../../test/support/temp.ts';
import { validateEntities } from '../../../test/support/validate.ts';
import { until } from '../../../test/support/wait.ts';
import { startFromFile } from '../../../test/tls/support.ts';
import { startGateway } from '../../testing/index.ts';

/** A collector on loopback: each export's body as bytes (protobuf) and its headers, in arrival order. */
async function startCollector() {
  const exports: Buffer[] = [];
  const headers: IncomingHttpHeaders[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      exports.push(Buffer.concat(chunks));
      headers.push(req.headers);
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces`;
  return { exports, headers, endpoint, close: () => new Promise<void>((r) => server.close(() => r())) };
}

/** A gateway whose echo route `/r` runs opentelemetry with `config`, exporting at once; `settings` is its `_tollgate`. */
/** The resource of the first export after one request to `${url}/r` (the collector emptied first). */
async function exportedResource(url: string, collector: { exports: Buffer[] }) {
  collector.exports.length = 0;
  await (await fetch(`${url}/r`)).text();
  await until('the export', () => collector.exports.length > 0, 10_000);
  return decodeTraceExport(collector.exports[0]!)[0]!.resource;
}

function tracedEcho(config: Record<string, unknown>, settings?: Record<string, unknown>) {
  return startGateway({
    config: {
      _format_version: '3.0',
      ...(settings === undefined ? {} : { _tollgate: settings }),
      services: [{ name: 'echo', url: 'echo://', routes: [{ name: 'r', paths: ['/r'] }] }],
      plugins: [{ name: 'opentelemetry', config: { queue: { max_coalescing_delay: 0.01 }, ...config } }],
    },
  });
}

test("a retried request has one kong.balancer span per try, with the target's address, the failed one an error", async () => {
  const pair = await retryPair((req, res) => res.end(String(req.headers.traceparent)));
  const { live, dead } = pair;
  const collector = await startCollector();
  const exports = collector.exports;
  const gw = await startGateway({
    config: {
      _format_version: '3.0',
      upstreams: [pair.upstream],
      services: [{ name: 'svc', host: 'pair', retries: 3, routes: [{ name: 'r', paths: ['/r'] }] }],
      plugins: [
        {
          name: 'opentelemetry',
          config: {
            traces_endpoint: collector.endpoint,
            queue: { max_coalescing_delay: 0.01 },
          },
        },
      ],
    },
  });
  try {
    const res = await fetch(`${gw.url}/r`);
    const traceparent = await res.text();
    const upstreamParent = traceparent.split('-')[2];
    await until('the export', () => exports.length > 0, 10_000);
    const spans = decodeTraceExport(exports[0]!);
    const balancer = spans.filter((s) => s.name === 'kong.balancer').sort((a, b) => Number(a.startNs - b.startNs));
    assert.equal(balancer.length, 2, JSON.stringify(spans.map((s) => s.name)));
    const [failed, served] = balancer;
    assert.deepEqual(failed!.attributes, {
      try_count: 1,
      'net.peer.ip': '127.0.0.1',
      'net.peer.port': dead,
      'net.peer.name': 'pair',
      'http.status_code': 502,
    });
    assert.equal(failed!.statusCode, 2, 'error');
    assert.equal(served!.attributes.try_count, 2);
    assert.equal(served!.attributes['net.peer.port'], live);
    assert.equal(served!.statusCode, 0);
    assert.equal(served!.spanId, upstreamParent, "the last try's span is the upstream's parent");
    const root = spans.find((s) => s.name === 'kong')!;
    for (const s of balancer) assert.equal(s.parentSpanId, root.spanId);
  } finally {
    await gw.close();
    await collector.close();
    await pair.close();
  }
});

test("sampling_rate applies to a client that says sampled, by the trace id as Kong's sampler; a client's 'not sampled' wins", async () => {
  // Kong's exporter spec: at rate 0.5 the first id is always sampled, the second never (the first
  // 8 bytes of the id read little-endian, below rate × 2^64).
  const kept = '92a54b3e1a7c4f2da9e44b8a6f3e1dab';
  const dropped = '4bf92f3577b34da6a3ce929d0e0e4736';
  const collector = await startCollector();
  const exports = collector.exports;
  const endpoint = collector.endpoint;
  const otel = (sampling_rate: number) => ({
    name: 'opentelemetry',
    config: { traces_endpoint: endpoint, sampling_rate, queue: { max_coalescing_delay: 0.01 } },
  });
  const gw = await startGateway({
    config: {
      _format_version: '3.0',
      services: [
        {
          name: 'echo',
          url: 'echo://',
          routes: [
            { name: 'half', paths: ['/half'], plugins: [otel(0.5)] },
            { name: 'none', paths: ['/none'], plugins: [otel(0)] },
            { name: 'all', paths: ['/all'], plugins: [otel(1)] },
          ],
        },
      ],
    },
  });
  const flag = async (path: string, traceparent: string): Promise<string> => {
    const echo = (await (await fetch(`${gw.url}${path}`, { headers: { traceparent } })).json()) as {
      headers: Record<string, string>;
    };
    return echo.headers.traceparent!.slice(-2);
  };
  try {
    assert.equal(await flag('/half', `00-${kept}-00f067aa0ba902b7-01`), '01');
    assert.equal(await flag('/half', `00-${dropped}-00f067aa0ba902b7-01`), '00', 'the rate, not the client, decides');
    assert.equal(await flag('/none', `00-${kept}-00f067aa0ba902b7-01`), '00');
    assert.equal(await flag('/all', `00-${kept}-00f067aa0ba902b7-00`), '00', "a client's 'not sampled' wins");
    // A 64-bit B3 id is sampled by its own 8 bytes (Kong's zero padding would sample every one).
    const b3 = async (traceId: string): Promise<string> => {
      const headers = { 'x-b3-traceid': traceId, 'x-b3-spanid': '00f067aa0ba902b7', 'x-b3-sampled': '1' };
      const echo = (await (await fetch(`${gw.url}/half`, { headers })).json()) as { headers: Record<string, string> };
      return echo.headers['x-b3-sampled']!;
    };
    assert.equal(await b3(kept.slice(0, 16)), '1');
    assert.equal(await b3(dropped.slice(0, 16)), '0');
    await until('the export', () => exports.length > 0, 10_000);
    // Let a late export of a wrongly sampled request arrive before counting.
    await new Promise((r) => setTimeout(r, 200));
    const traces = new Set(exports.flatMap((e) => decodeTraceExport(e).map((s) => s.traceId)));
    assert.deepEqual([...traces].sort(), [`${'0'.repeat(16)}${kept.slice(0, 16)}`, kept]);
  } finally {
    await gw.close();
    await collector.close();
  }
});

test("the kong span names the client as Kong's: http.client_ip the forwarded address, net.peer.ip the connection's peer", async () => {
  const collector = await startCollector();
  const exports = collector.exports;
  const gw = await tracedEcho({ traces_endpoint: collector.endpoint }, { trusted_ips: ['127.0.0.1/32'] });
  try {
    await (await fetch(`${gw.url}/r`, { headers: { 'x-forwarded-for': '203.0.113.9' } })).text();
    await until('the export', () => exports.length > 0, 10_000);
    const root = decodeTraceExport(exports[0]!).find((s) => s.name === 'kong')!;
    assert.equal(root.attributes['http.client_ip'], '203.0.113.9');
    assert.equal(root.attributes['net.peer.ip'], '127.0.0.1');
  } finally {
    await gw.close();
    await collector.close();
  }
});

test('net.peer.ip is there for an HTTP/2 request too, whose stream socket is gone by the log phase', async () => {
  const collector = await startCollector();
  const exports = collector.exports;
  const dir = tempDir('tollgate-otel-h2');
  const config = {
    _format_version: '3.0',
    services: [{ name: 'echo', url: 'echo://', routes: [{ name: 'r', paths: ['/r'] }] }],
    plugins: [
      {
        name: 'opentelemetry',
        config: {
          traces_endpoint: collector.endpoint,
          queue: { max_coalescing_delay: 0.01 },
        },
      },
    ],
  };
  writeFileSync(join(dir, 'gateway.yaml'), JSON.stringify(config));
  const inst = await startFromFile(join(dir, 'gateway.yaml'), { proxyListen: ['127.0.0.1:0 http2'] });
  const session = h2Connect(`http://${inst.proxyAddresses[0]}`);
  try {
    await new Promise<void>((resolve, reject) => {
      const stream = session.request({ ':path': '/r' });
      stream.on('error', reject).resume().on('end', resolve);
    });
    await until('the export', () => exports.length > 0, 10_000);
    const root = decodeTraceExport(exports[0]!).find((s) => s.name === 'kong')!;
    assert.equal(root.attributes['http.flavor'], '2.0');
    assert.equal(root.attributes['net.peer.ip'], '127.0.0.1');
  } finally {
    session.close();
    await inst.close(0);
    await collector.close();
  }
});

test('a header in headers the HTTP client sets itself (Transfer-Encoding, Keep-Alive, ...) is left out with a warning; the others reach the collector', async () => {
  const collector = await startCollector();
  const received = collector.headers;
  const gw = await tracedEcho({
    traces_endpoint: collector.endpoint,
    headers: {
      'Transfer-Encoding': 'chunked',
      'Keep-Alive': 'timeout=5',
      Expect: '100-continue',
      Upgrade: 'h2c',
      'Content-Length': '5',
      'x-api-key': 'k',
    },
  });
  try {
    await (await fetch(`${gw.url}/r`)).text();
    await until('the export', () => received.length > 0, 10_000);
    assert.equal(received[0]!['x-api-key'], 'k');
    assert.equal(received[0]!.upgrade, undefined);
    const warned = gw.logs.filter((l) => String(l.msg).includes('is set by the HTTP client itself'));
    assert.equal(warned.length, 5, JSON.stringify(warned));
  } finally {
    await gw.close();
    await collector.close();
  }
});

test("resource_attributes override Kong's defaults; a Kong template ($(headers.host)) is sent as written, with a warning", async () => {
  const collector = await startCollector();
  const gw = await tracedEcho({
    traces_endpoint: collector.endpoint,
    // Kong's own spec's attributes: an override, an addition, a template, text that is none.
    resource_attributes: {
      'service.name': 'kong_oss',
      'os.version': 'debian',
      'host.name': '$(headers.host)',
      validstr: '$($@#',
    },
  });
  try {
    const resource = await exportedResource(gw.url, collector);
    assert.equal(resource['service.name'], 'kong_oss');
    assert.equal(resource['os.version'], 'debian');
    assert.equal(resource['host.name'], '$(headers.host)');
    assert.equal(resource.validstr, '$($@#');
    assert.equal(typeof resource['service.version'], 'string');
    assert.equal(typeof resource['service.instance.id'], 'string');
    const warned = gw.logs.filter((l) => String(l.msg).includes('Tollgate does not render'));
    assert.equal(warned.length, 1, JSON.stringify(warned));
    assert.match(String(warned[0]!.msg), /resource_attributes\.host\.name/);
  } finally {
    await gw.close();
    await collector.close();
  }
});

test("OTEL_RESOURCE_ATTRIBUTES (Kong Gateway 3.15) adds resource attributes beneath the config's; a malformed one is ignored with a warning", async () => {
  const collector = await startCollector();
  const saved = process.env.OTEL_RESOURCE_ATTRIBUTES;
  try {
    process.env.OTEL_RESOURCE_ATTRIBUTES = ' deployment.environment = prod ,service.name=from-env,team=a%2Cb';
    const gw = await tracedEcho({
      traces_endpoint: collector.endpoint,
      resource_attributes: { 'service.name': 'kong_oss' },
    });
    try {
      const resource = await exportedResource(gw.url, collector);
      assert.equal(resource['deployment.environment'], 'prod');
      assert.equal(resource.team, 'a,b', 'values are percent-decoded');
      assert.equal(resource['service.name'], 'kong_oss', "the config's attribute wins");
    } finally {
      await gw.close();
    }
    process.env.OTEL_RESOURCE_ATTRIBUTES = 'team=a,broken';
    const bad = await tracedEcho({ traces_endpoint: collector.endpoint });
    try {
      const warned = bad.logs.filter((l) => String(l.msg).includes('OTEL_RESOURCE_ATTRIBUTES is ignored'));
      assert.equal(warned.length, 1, JSON.stringify(bad.logs.map((l) => l.msg)));
      assert.match(String(warned[0]!.msg), /'broken' is not a key=value pair/);
      const resource = await exportedResource(bad.url, collector);
      assert.equal(
        resource.team,
        undefined,
        'the whole variable is discarded, as the OpenTelemetry specification asks',
      );
      assert.equal(resource['service.name'], 'kong');
    } finally {
      await bad.close();
    }
  } finally {
    if (saved === undefined) delete process.env.OTEL_RESOURCE_ATTRIBUTES;
    else process.env.OTEL_RESOURCE_ATTRIBUTES = saved;
    await collector.close();
  }
});

test('X-B3-TraceId without X-B3-SpanId continues the client trace, as Kong: upstream and collector get its id', async () => {
  const collector = await startCollector();
  const gw = await tracedEcho({ traces_endpoint: collector.endpoint });
  const trace = '4bf92f3577b34da6a3ce929d0e0e4736';
  try {
    const res = await fetch(`${gw.url}/r`, { headers: { 'x-b3-traceid': trace, 'x-b3-sampled': '1' } });
    const seen = ((await res.json()) as { headers: Record<string, string> }).headers;
    // preserve: answered in B3, the client's trace, a span of the gateway's.
    assert.equal(seen['x-b3-traceid'], trace);
    assert.match(seen['x-b3-spanid'] ?? '', /^[0-9a-f]{16}$/);
    assert.equal(seen['x-b3-sampled'], '1');
    await until('the export', () => collector.exports.length > 0, 10_000);
    const root = decodeTraceExport(collector.exports[0]!).find((s) => s.name === 'kong')!;
    assert.equal(root.traceId, trace);
    assert.equal(root.parentSpanId, '', 'no client span to be its parent');
    // A malformed span id still voids the ids (Kong's invalid_id): the gateway starts a new trace.
    const bad = await fetch(`${gw.url}/r`, { headers: { 'x-b3-traceid': trace, 'x-b3-spanid': 'xyz' } });
    const fresh = ((await bad.json()) as { headers: Record<string, string> }).headers.traceparent ?? '';
    assert.match(fresh, /^00-[0-9a-f]{32}-/);
    assert.ok(!fresh.includes(trace), fresh);
  } finally {
    await gw.close();
    await collector.close();
  }
});

test("Kong 3.13's metrics and 3.14's access_logs at the defaults decK dumps (no endpoint) load without a word", async () => {
  const v = await validateEntities(
    `plugins:
  - name: opentelemetry
    config:
      traces_endpoint: "http://127.0.0.1:4318/v1/traces"
      metrics:
        endpoint: null
        push_interval: 60
        enable_ai_metrics: false
        enable_bandwidth_metrics: false
        enable_consumer_attribute: false
        enable_latency_metrics: false
        enable_request_metrics: false
        enable_upstream_health_metrics: false
      access_logs: { endpoint: null, custom_attributes_by_lua: null }
`,
  );
  assert.equal(v.code, 0, v.out);
  assert.doesNotMatch(v.out, /warning/, v.out);
});

test("an access_logs endpoint loads; custom_attributes_by_lua is refused at its line; 3.13's access_logs_endpoint loads with Kong's deprecation warning", async () => {
  const v = await validateEntities(
    `plugins:
  - name: opentelemetry
    config:
      traces_endpoint: "http://127.0.0.1:4318/v1/traces"
      access_logs:
        endpoint: "http://127.0.0.1:4318/v1/logs"
        custom_attributes_by_lua: { tenant: "return kong.request.get_header('x-tenant')" }
`,
  );
  assert.equal(v.code, 1, v.out);
  assert.match(
    v.out,
    /:8:35 {2}plugins\[0\]\.config\.access_logs\.custom_attributes_by_lua {2}access_logs\.custom_attributes_by_lua runs Lua code, which Tollgate cannot run: remove it .*\n/,
  );
  assert.match(v.out, /invalid \(1 error\)/);
  assert.doesNotMatch(v.out, /access_logs\.endpoint/);

  // Kong Gateway 3.13 named it access_logs_endpoint, which 3.14 deprecated: it loads, with Kong's warning at it.
  const old = (value: string) =>
    validateEntities(
      `plugins:\n  - name: opentelemetry\n    config:\n      traces_endpoint: "http://127.0.0.1:4318/v1/traces"\n      access_logs_endpoint: ${value}\n`,
    );
  const unset = await old('null');
  assert.equal(unset.code, 0, unset.out);
  assert.doesNotMatch(unset.out, /deprecated/);
  const set = await old('"http://127.0.0.1:4318/v1/logs"');
  assert.equal(set.code, 0, set.out);
  assert.match(
    set.out,
    /plugins\[0\]\.config\.access_logs_endpoint {2}warning: plugin 'opentelemetry': opentelemetry: config\.access_logs_endpoint is deprecated, please use config\.access_logs\.endpoint instead/,
  );
});
