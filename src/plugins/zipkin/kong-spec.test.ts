// Kong's spec/03-plugins/34-zipkin/zipkin_spec.lua (Kong commit 22246ef2): what a Zipkin receiver
// on loopback gets and the upstream receives, for traceid_byte_count 8 and 16 and the legacy
// (`header_type`) and `propagation` spellings. Kong's spec reads spans back from a Zipkin server,
// which lower-cases span names (`get (proxy)`); the receiver here gets them as Kong sends them
// (`GET (proxy)`). Not ported: the phase annotations and `phase_duration_flavor: tags` phase tags
// (Tollgate annotates plugin steps instead, docs/kong-compatibility.md), the stream (TCP) case, and
// the gRPC case (the same spans over a grpc route).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { until } from '../../../test/support/wait.ts';
import { startGateway, type TestGateway } from '../../testing/index.ts';
import type { ZipkinSpan } from './spans.ts';

const ALL = ['b3', 'w3c', 'jaeger', 'ot', 'datadog', 'aws', 'gcp', 'instana'];
const spanId = () => randomBytes(8).toString('hex');

/** A Zipkin receiver on loopback: every span posted, in arrival order. */
async function zipkinReceiver() {
  const spans: ZipkinSpan[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (c: string) => (body += c));
    req.on('end', () => {
      spans.push(...(JSON.parse(body) as ZipkinSpan[]));
      res.writeHead(202).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v2/spans`;
  const close = () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  /** The spans of one trace, once `count` have come. */
  const trace = async (traceId: string, count: number) => {
    await until(
      `${count} spans of ${traceId}`,
      () => spans.filter((s) => s.traceId === traceId).length >= count,
      10_000,
    );
    return spans.filter((s) => s.traceId === traceId);
  };
  return { spans, endpoint, close, trace };
}

/** An upstream that answers with the headers it got, as Kong's mock upstream. */
async function echoUpstream() {
  const server = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ headers: req.headers }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { port: (server.address() as AddressInfo).port, close: () => new Promise((r) => server.close(r)) };
}

/** A GET with any Host header (fetch cannot set one): its status and, for a 200, the headers the upstream got. */
function get(base: string, path: string, headers: Record<string, string>) {
  const { hostname, port } = new URL(base);
  return new Promise<{ status: number; sent: Record<string, string | undefined> }>((resolve, reject) => {
    request({ host: hostname, port, path, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c));
      res.on('end', () => {
        const sent = res.statusCode === 200 ? (JSON.parse(body) as { headers: Record<string, string> }).headers : {};
        resolve({ status: res.statusCode ?? 0, sent });
      });
    })
      .on('error', reject)
      .end();
  });
}

const byName = (spans: ZipkinSpan[], name: string) => {
  const s = spans.find((x) => x.name === name);
  assert.ok(s, `${name} in ${JSON.stringify(spans.map((x) => x.name))}`);
  return s;
};

/** Kong's assert_span_invariants, but the phase annotations. */
function assertInvariants(request: ZipkinSpan, proxy: ZipkinSpan, traceIdLength: number, service = 'kong') {
  assert.equal(request.kind, 'SERVER');
  assert.equal(proxy.parentId, request.id);
  assert.equal(request.traceId.length, traceIdLength, request.traceId);
  assert.ok(Number.isInteger(request.timestamp) && Number.isInteger(proxy.timestamp));
  assert.ok(request.duration >= proxy.duration, `${request.duration} >= ${proxy.duration}`);
  assert.deepEqual(request.localEndpoint, { serviceName: service });
  assert.equal(proxy.name, `${request.name} (proxy)`);
  assert.equal(proxy.kind, 'CLIENT');
  assert.equal(proxy.traceId, request.traceId);
  assert.ok(proxy.duration >= 0);
}

/** Kong's request span tags: only those a Kong user reads; Tollgate adds kong.source, kong.reason and the route and service tags. */
function kongRequestTags(tags: Record<string, string> | undefined, ...extra: string[]) {
  assert.match(tags!['kong.node.id']!, /^[0-9a-f-]+$/);
  const keys = ['http.method', 'http.path', 'http.status_code', 'http.protocol', 'http.host', 'lc', 'static', ...extra];
  return Object.fromEntries(keys.map((k) => [k, tags![k]]));
}

function routesFor(style: 'old' | 'new', endpoint: string) {
  const zipkin = (config: Record<string, unknown>) => [
    {
      name: 'zipkin',
      config: { sample_ratio: 1, http_endpoint: endpoint, queue: { max_coalescing_delay: 0.01 }, ...config },
    },
  ];
  const byHost = (host: string, config: Record<string, unknown>) => ({ hosts: [host], plugins: zipkin(config) });
  if (style === 'old') {
    return [
      byHost('http-route-ignore', { header_type: 'ignore', default_header_type: 'w3c' }),
      byHost('http-route-w3c', { header_type: 'w3c', default_header_type: 'b3-single' }),
      byHost('http-route-dd', { header_type: 'datadog', default_header_type: 'datadog' }),
      byHost('http-route-ins', { header_type: 'instana', default_header_type: 'instana' }),
    ];
  }
  const record = (inject: string[], default_format: string, extract = ALL) => ({
    propagation: { extract, inject, default_format },
  });
  return [
    byHost('http-route-ignore', record(['preserve'], 'w3c', [])),
    byHost('http-route-w3c', record(['preserve', 'w3c'], 'b3-single')),
    byHost('http-route-dd', record(['preserve', 'datadog'], 'datadog')),
    byHost('http-route-ins', record(['preserve', 'instana'], 'instana')),
    byHost('http-no-preserve-route', record(['w3c'], 'w3c', ['b3'])),
    byHost('http-clear-route', {
      propagation: {
        extract: ['w3c', 'ot'],
        inject: ['preserve'],
        clear: ['ot-tracer-traceid', 'ot-tracer-spanid', 'ot-tracer-sampled'],
        default_format: 'b3',
      },
    }),
  ];
}

for (const bytes of [8, 16]) {
  for (const style of ['old', 'new'] as const) {
    describe(`http integration tests with zipkin server traceid_byte_count: ${bytes} propagation: ${style}`, () => {
      let gw: TestGateway;
      let zipkin: Awaited<ReturnType<typeof zipkinReceiver>>;
      let upstream: Awaited<ReturnType<typeof echoUpstream>>;
      const traceId = () => randomBytes(bytes).toString('hex');
      const len = bytes * 2;

      before(async () => {
        zipkin = await zipkinReceiver();
        upstream = await echoUpstream();
        const global =
          style === 'old'
            ? { default_header_type: 'b3-single' }
            : { propagation: { extract: ALL, inject: ['preserve'], default_format: 'b3-single' } };
        gw = await startGateway({
          config: {
            _format_version: '3.0',
            services: [
              {
                name: 'http-service',
                url: `http://127.0.0.1:${upstream.port}`,
                routes: [
                  { name: 'route-http', hosts: ['http-route'], preserve_host: true },
                  ...routesFor(style, zipkin.endpoint),
                ],
              },
            ],
            plugins: [
              {
                name: 'zipkin',
                config: {
                  sample_ratio: 1,
                  http_endpoint: zipkin.endpoint,
                  traceid_byte_count: bytes,
                  static_tags: [{ name: 'static', value: 'ok' }],
                  queue: { max_coalescing_delay: 0.01 },
                  ...global,
                },
              },
            ],
          },
        });
      });

      after(async () => {
        await gw?.close();
        await zipkin?.close();
        await upstream?.close();
      });

      test('generates spans and tags for regular requests', async () => {
        const { status, sent } = await get(gw.url, '/', {
          'x-b3-sampled': '1',
          host: 'http-route',
          'zipkin-tags': 'foo=bar; baz=qux',
        });
        assert.equal(status, 200);
        // an incoming X-B3-Sampled makes the format B3 (multi-header), which preserve answers in
        const id = sent['x-b3-traceid']!;
        const spans = await zipkin.trace(id, 3);
        const balancer = byName(spans, 'GET (balancer try 1)');
        const req = byName(spans, 'GET');
        const proxy = byName(spans, 'GET (proxy)');
        assertInvariants(req, proxy, len);
        assert.deepEqual(kongRequestTags(req.tags, 'foo', 'baz'), {
          'http.method': 'GET',
          'http.path': '/',
          'http.status_code': '200',
          'http.protocol': 'HTTP/1.1',
          'http.host': 'http-route',
          lc: 'kong',
          static: 'ok',
          foo: 'bar',
          baz: 'qux',
        });
        assert.ok(Number.isInteger(req.remoteEndpoint!.port));
        assert.deepEqual(req.remoteEndpoint, { ipv4: '127.0.0.1', port: req.remoteEndpoint!.port });
        const routeTags = {
          'kong.route': balancer.tags!['kong.route'],
          'kong.route_name': 'route-http',
          'kong.service': balancer.tags!['kong.service'],
          'kong.service_name': 'http-service',
        };
        assert.deepEqual(proxy.tags, { 'peer.hostname': '127.0.0.1', ...routeTags });
        const remote = { serviceName: 'http-service', ipv4: '127.0.0.1', port: upstream.port };
        assert.deepEqual(proxy.remoteEndpoint, remote);
        assert.equal(balancer.parentId, req.id);
        assert.equal(typeof balancer.timestamp, 'number');
        assert.equal(typeof balancer.duration, 'number');
        assert.deepEqual(balancer.remoteEndpoint, remote);
        assert.deepEqual(balancer.localEndpoint, { serviceName: 'kong' });
        assert.deepEqual(balancer.tags, { 'kong.balancer.try': '1', ...routeTags });
      });

      test('generates spans and tags for non-matched requests: the request span and a proxy span', async () => {
        const t = traceId();
        const { status } = await get(gw.url, '/foobar', {
          host: 'unknown.test',
          'x-b3-traceid': t,
          'x-b3-sampled': '1',
          'zipkin-tags': 'error = true',
        });
        assert.equal(status, 404);
        const spans = await zipkin.trace(t, 2);
        assert.equal(spans.length, 2);
        const req = byName(spans, 'GET');
        const proxy = byName(spans, 'GET (proxy)');
        assertInvariants(req, proxy, t.length);
        assert.deepEqual(kongRequestTags(req.tags, 'error'), {
          'http.method': 'GET',
          'http.path': '/foobar',
          'http.status_code': '404',
          'http.protocol': 'HTTP/1.1',
          'http.host': 'unknown.test',
          lc: 'kong',
          static: 'ok',
          error: 'true',
        });
        assert.deepEqual(req.remoteEndpoint, { ipv4: '127.0.0.1', port: req.remoteEndpoint!.port });
        assert.equal(proxy.tags, undefined);
        assert.equal(proxy.remoteEndpoint, undefined);
        assert.deepEqual(proxy.localEndpoint, { serviceName: 'kong' });
      });

      test('propagates b3 headers for non-matched requests', async () => {
        const t = traceId();
        const { status } = await get(gw.url, '/foobar', { 'x-b3-traceid': t, 'x-b3-sampled': '1' });
        assert.equal(status, 404);
        const spans = await zipkin.trace(t, 2);
        assert.ok(!spans.some((s) => s.name.includes('balancer')));
        assert.equal(byName(spans, 'GET (proxy)').traceId, t);
        assert.equal(byName(spans, 'GET').traceId, t);
      });

      /** Kong's checks of a trace that shares the client's span (B3, Jaeger). */
      async function sharedSpan(t: string, s: string, parent: string | undefined, count = 3) {
        const spans = await zipkin.trace(t, count);
        const req = byName(spans, 'GET');
        assert.equal(req.id, s);
        assert.equal(req.parentId, parent);
        for (const child of spans.filter((x) => x !== req)) {
          assert.equal(child.traceId, t);
          assert.notEqual(child.id, s);
          assert.equal(child.parentId, s);
        }
        assert.equal(spans.filter((x) => x.name.includes('balancer')).length, count - 2);
      }

      describe('b3 single header propagation', () => {
        test('works on regular calls', async () => {
          const [t, s, p] = [traceId(), spanId(), spanId()];
          const { sent } = await get(gw.url, '/', { b3: `${t}-${s}-1-${p}`, host: 'http-route' });
          assert.match(sent.b3!, new RegExp(`^${t}-[0-9a-f]+-1-[0-9a-f]+$`));
          await sharedSpan(t, s, p);
        });
        test('works without parent_id', async () => {
          const [t, s] = [traceId(), spanId()];
          const { sent } = await get(gw.url, '/', { b3: `${t}-${s}-1`, host: 'http-route' });
          assert.match(sent.b3!, new RegExp(`^${t}-[0-9a-f]+-1-[0-9a-f]+$`));
          await sharedSpan(t, s, undefined);
        });
        test('works with only trace_id and span_id', async () => {
          const [t, s] = [traceId(), spanId()];
          const { sent } = await get(gw.url, '/', { b3: `${t}-${s}`, 'x-b3-sampled': '1', host: 'http-route' });
          assert.match(sent.b3!, new RegExp(`^${t}-[0-9a-f]+-1-[0-9a-f]+$`));
          await sharedSpan(t, s, undefined);
        });
        test('works on non-matched requests', async () => {
          const [t, s] = [traceId(), spanId()];
          assert.equal((await get(gw.url, '/foobar', { b3: `${t}-${s}-1` })).status, 404);
          await sharedSpan(t, s, undefined, 2);
        });
      });

      describe('w3c traceparent header propagation', () => {
        // W3C admits 16-byte trace ids only
        const t = randomBytes(16).toString('hex');
        test('works on regular calls', async () => {
          const p = spanId();
          const { sent } = await get(gw.url, '/', { traceparent: `00-${t}-${p}-01`, host: 'http-route' });
          assert.match(sent.traceparent!, new RegExp(`^00-${t}-[0-9a-f]+-01$`));
          const spans = await zipkin.trace(t, 3);
          assert.equal(byName(spans, 'GET').parentId, p);
          assert.equal(spans.filter((x) => x.name.includes('balancer')).length, 1);
        });
        test('works on non-matched requests', async () => {
          const t2 = randomBytes(16).toString('hex');
          const p = spanId();
          assert.equal((await get(gw.url, '/foobar', { traceparent: `00-${t2}-${p}-01` })).status, 404);
          const spans = await zipkin.trace(t2, 2);
          assert.equal(byName(spans, 'GET').parentId, p);
          assert.equal(byName(spans, 'GET (proxy)').traceId, t2);
        });
      });

      describe('jaeger uber-trace-id header propagation', () => {
        test('works on regular calls', async () => {
          const [t, s, p] = [traceId(), spanId(), spanId()];
          const { sent } = await get(gw.url, '/', { 'uber-trace-id': `${t}:${s}:${p}:1`, host: 'http-route' });
          assert.match(sent['uber-trace-id']!, new RegExp(`^${t.padStart(len, '0')}:[0-9a-f]+:${s}:01$`));
          await sharedSpan(t, s, p);
        });
        test('works on non-matched requests', async () => {
          const [t, s, p] = [traceId(), spanId(), spanId()];
          assert.equal((await get(gw.url, '/foobar', { 'uber-trace-id': `${t}:${s}:${p}:1` })).status, 404);
          await sharedSpan(t, s, p, 2);
        });
      });

      describe('ot header propagation', () => {
        const ot = (t: string) => ({ 'ot-tracer-traceid': t, 'ot-tracer-spanid': spanId(), 'ot-tracer-sampled': '1' });
        test('works on regular calls', async () => {
          const t = traceId();
          const { sent } = await get(gw.url, '/', { ...ot(t), host: 'http-route' });
          assert.equal(sent['ot-tracer-traceid'], t.padStart(len, '0').slice(-len));
          const spans = await zipkin.trace(t, 3);
          assert.equal(spans.length, 3);
        });
        test('works on non-matched requests', async () => {
          const t = traceId();
          assert.equal((await get(gw.url, '/foobar', ot(t))).status, 404);
          const spans = await zipkin.trace(t, 2);
          assert.deepEqual(spans.map((s) => s.name).sort(), ['GET', 'GET (proxy)']);
        });
      });

      test("header type with 'preserve' config and no inbound headers: the default format (b3-single)", async () => {
        const { sent } = await get(gw.url, '/', { host: 'http-route' });
        assert.notEqual(sent.b3, undefined);
      });

      describe('propagation configuration', () => {
        test('ignores incoming headers and uses default type', async () => {
          const t = randomBytes(16).toString('hex');
          const { sent } = await get(gw.url, '/', {
            'x-b3-sampled': '1',
            'x-b3-traceid': t,
            host: 'http-route-ignore',
          });
          assert.match(sent.traceparent!, /^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/);
          assert.notEqual(sent.traceparent!.split('-')[1], t);
        });
        test('propagates w3c tracing headers + incoming format (preserve + w3c)', async () => {
          const t = randomBytes(16).toString('hex');
          const b3 = `${t}-${spanId()}-1-${spanId()}`;
          const { sent } = await get(gw.url, '/', { b3, host: 'http-route-w3c' });
          assert.match(sent.traceparent!, new RegExp(`^00-${t}-[0-9a-f]+-01$`));
          assert.notEqual(sent.b3, b3);
          assert.match(sent.b3!, new RegExp(`^${t}-[0-9a-f]+-1-[0-9a-f]+$`));
        });
        test('propagates datadog tracing headers, with datadog headers in client request', async () => {
          const { sent } = await get(gw.url, '/', { 'x-datadog-trace-id': '1234567890', host: 'http-route' });
          assert.equal(sent['x-datadog-trace-id'], '1234567890');
          assert.match(sent['x-datadog-parent-id']!, /^\d+$/);
        });
        test('propagates datadog tracing headers, without datadog headers in client request', async () => {
          const { sent } = await get(gw.url, '/', { host: 'http-route-dd' });
          assert.match(sent['x-datadog-trace-id']!, /^\d+$/);
          assert.match(sent['x-datadog-parent-id']!, /^\d+$/);
        });
        test('propagates instana tracing headers, with instana headers in client request', async () => {
          const t = traceId();
          const { sent } = await get(gw.url, '/', { 'x-instana-t': t, 'x-instana-s': spanId(), host: 'http-route' });
          assert.equal(sent['x-instana-t'], t);
        });
        test('propagates instana tracing headers, without instana headers in client request', async () => {
          const { sent } = await get(gw.url, '/', { host: 'http-route-ins' });
          assert.notEqual(sent['x-instana-t'], undefined);
          assert.notEqual(sent['x-instana-s'], undefined);
        });
        if (style === 'new') {
          test('clears non-propagated headers when configured to do so', async () => {
            const t = randomBytes(16).toString('hex');
            const p = spanId();
            const { sent } = await get(gw.url, '/', {
              traceparent: `00-${t}-${p}-01`,
              'ot-tracer-traceid': t,
              'ot-tracer-spanid': p,
              'ot-tracer-sampled': '1',
              host: 'http-clear-route',
            });
            assert.match(sent.traceparent!, new RegExp(`^00-${t}-[0-9a-f]+-01$`));
            assert.equal(sent['ot-tracer-traceid'], undefined);
            assert.equal(sent['ot-tracer-spanid'], undefined);
            assert.equal(sent['ot-tracer-sampled'], undefined);
          });
          test('does not preserve incoming header type if preserve is not specified', async () => {
            const t = randomBytes(16).toString('hex');
            const b3 = `${t}-${spanId()}-1-${spanId()}`;
            const { sent } = await get(gw.url, '/', { b3, host: 'http-no-preserve-route' });
            assert.equal(sent.b3, b3);
            assert.match(sent.traceparent!, new RegExp(`^00-${t}-[0-9a-f]+-01$`));
          });
        }
      });
    });
  }
}
