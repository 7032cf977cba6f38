// Kong's zipkin specs beside the integration one (Kong commit 22246ef2):
// spec/03-plugins/34-zipkin/zipkin_spec.lua's configuration cases (a route's instance sampling
// where the global one does not, local_service_name, http_span_name, failing Zipkin servers),
// zipkin_no_endpoint_spec.lua (propagation without http_endpoint; the most specific instance
// wins), zipkin_queue_spec.lua (spans of several requests batched) and request_tags_spec.lua (the
// Zipkin-Tags grammar, as the spans show it).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { refusedPort } from '../../../test/support/refused-port.ts';
import { until } from '../../../test/support/wait.ts';
import { startGateway, type TestGateway } from '../../testing/index.ts';
import type { ZipkinSpan } from './spans.ts';

async function listen(server: Server) {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return (server.address() as AddressInfo).port;
}

/** A Zipkin receiver on loopback: each POST's spans, in arrival order. */
async function zipkinReceiver() {
  const posts: ZipkinSpan[][] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (c: string) => (body += c));
    req.on('end', () => {
      posts.push(JSON.parse(body) as ZipkinSpan[]);
      res.writeHead(202).end();
    });
  });
  const endpoint = `http://127.0.0.1:${await listen(server)}/api/v2/spans`;
  const spans = () => posts.flat();
  const close = () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return { posts, spans, endpoint, close };
}

/** An upstream that answers with the headers it got, as Kong's mock upstream. */
async function echoUpstream() {
  const server = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ headers: req.headers }));
  });
  const port = await listen(server);
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((r) => server.close(r)) };
}

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

const QUICK = { queue: { max_coalescing_delay: 0.01 } };

async function withGateway(
  services: Record<string, unknown>[],
  plugins: Record<string, unknown>[],
  run: (gw: TestGateway) => Promise<void>,
) {
  const gw = await startGateway({ config: { _format_version: '3.0', services, plugins } });
  try {
    await run(gw);
  } finally {
    await gw.close();
  }
}

test('generates traces when several instances exist and one of them has sample_ratio = 0 but not the other', async () => {
  const zipkin = await zipkinReceiver();
  const upstream = await echoUpstream();
  const z = (config: Record<string, unknown>) => ({
    name: 'zipkin',
    config: { http_endpoint: zipkin.endpoint, default_header_type: 'b3-single', ...QUICK, ...config },
  });
  try {
    await withGateway(
      [
        {
          name: 'svc',
          url: upstream.url,
          routes: [{ hosts: ['http-route'], plugins: [z({ sample_ratio: 1 })] }, { hosts: ['global-only'] }],
        },
      ],
      [z({ sample_ratio: 0 })],
      async (gw) => {
        const { sent } = await get(gw.url, '/', { 'x-b3-sampled': '1', host: 'http-route', 'zipkin-tags': 'foo=bar' });
        const traceId = sent['x-b3-traceid']!;
        await until('3 spans', () => zipkin.spans().filter((s) => s.traceId === traceId).length === 3, 10_000);
        const req = zipkin.spans().find((s) => s.kind === 'SERVER')!;
        assert.deepEqual(req.localEndpoint, { serviceName: 'kong' });
        assert.equal(req.traceId.length, 32);
        // Kong's "Integration tests with instrumentations enabled": the global instance alone, at
        // sample_ratio 0, traces a request whose client says sampled
        const { sent: globalOnly } = await get(gw.url, '/', { 'x-b3-sampled': '1', host: 'global-only' });
        const globalTrace = globalOnly['x-b3-traceid']!;
        await until('3 more spans', () => zipkin.spans().filter((s) => s.traceId === globalTrace).length === 3, 10_000);
      },
    );
  } finally {
    await zipkin.close();
    await upstream.close();
  }
});

test("generates traces with the configured serviceName (local_service_name); http_span_name = 'method_path' names spans by method and path", async () => {
  const zipkin = await zipkinReceiver();
  const upstream = await echoUpstream();
  const z = (config: Record<string, unknown>) => ({
    name: 'zipkin',
    config: { http_endpoint: zipkin.endpoint, sample_ratio: 1, ...QUICK, ...config },
  });
  try {
    await withGateway(
      [
        {
          name: 'svc',
          url: upstream.url,
          routes: [
            { hosts: ['http-route'], plugins: [z({ local_service_name: 'custom-service-name' })] },
            { hosts: ['path-route'], plugins: [z({ http_span_name: 'method_path' })] },
          ],
        },
      ],
      [],
      async (gw) => {
        await get(gw.url, '/', { host: 'http-route' });
        await until('3 spans', () => zipkin.spans().length === 3, 10_000);
        for (const s of zipkin.spans()) assert.deepEqual(s.localEndpoint, { serviceName: 'custom-service-name' });
        await get(gw.url, '/', { host: 'path-route' });
        await until('6 spans', () => zipkin.spans().length === 6, 10_000);
        const names = zipkin
          .spans()
          .slice(3)
          .map((s) => s.name)
          .sort();
        assert.deepEqual(names, ['GET /', 'GET / (balancer try 1)', 'GET / (proxy)']);
      },
    );
  } finally {
    await zipkin.close();
    await upstream.close();
  }
});

test('a Zipkin server that times out or refuses: the request is answered, the failure logged', async () => {
  const upstream = await echoUpstream();
  // accepts, never answers
  const silent = createServer(() => undefined);
  const silentPort = await listen(silent);
  const refused = await refusedPort();
  const z = (endpoint: string, timeouts: Record<string, number>) => ({
    name: 'zipkin',
    config: { http_endpoint: endpoint, sample_ratio: 1, ...QUICK, ...timeouts },
  });
  try {
    await withGateway(
      [
        {
          name: 'svc',
          url: upstream.url,
          routes: [
            {
              hosts: ['zipkin-slow'],
              plugins: [
                z(`http://127.0.0.1:${silentPort}/`, { connect_timeout: 10, send_timeout: 10, read_timeout: 10 }),
              ],
            },
            { hosts: ['zipkin-refused'], plugins: [z(`http://127.0.0.1:${refused}/`, {})] },
          ],
        },
      ],
      [],
      async (gw) => {
        assert.equal((await get(gw.url, '/', { host: 'zipkin-slow' })).status, 200);
        assert.equal((await get(gw.url, '/', { host: 'zipkin-refused' })).status, 200);
        // Kong's reporter's words, in the queue's `handler could not process entries` line
        const lines = () => gw.logs.map((l) => String(l.msg));
        await until(
          'the timeout logged',
          () => lines().some((m) => m.endsWith('zipkin request failed: timeout')),
          10_000,
        );
        await until(
          'the refusal logged',
          () => lines().some((m) => m.endsWith('zipkin request failed: connection refused')),
          10_000,
        );
      },
    );
  } finally {
    silent.closeAllConnections();
    silent.close();
    await upstream.close();
  }
});

// zipkin_no_endpoint_spec.lua: without http_endpoint the trace context still goes upstream.
test('propagates tracing headers without http_endpoint (b3, b3-single, w3c, jaeger, ot)', async () => {
  const upstream = await echoUpstream();
  const t = randomBytes(16).toString('hex');
  const s = randomBytes(8).toString('hex');
  const p = randomBytes(8).toString('hex');
  try {
    await withGateway(
      [{ name: 'svc', url: upstream.url, routes: [{ hosts: ['http-route'] }] }],
      [{ name: 'zipkin', config: { sample_ratio: 1, header_type: 'preserve', default_header_type: 'b3' } }],
      async (gw) => {
        const to = (headers: Record<string, string>) => get(gw.url, '/', { host: 'http-route', ...headers });
        assert.equal((await to({ 'x-b3-sampled': '1', 'x-b3-traceid': t })).sent['x-b3-traceid'], t);
        const hex = '[0-9a-f]+';
        assert.match((await to({ b3: `${t}-${s}-1-${p}` })).sent.b3!, new RegExp(`^${t}-${hex}-1-${s}$`));
        assert.match((await to({ b3: `${t}-${s}-1` })).sent.b3!, new RegExp(`^${t}-${hex}-1-${s}$`));
        assert.match(
          (await to({ traceparent: `00-${t}-${p}-01` })).sent.traceparent!,
          new RegExp(`^00-${t}-${hex}-01$`),
        );
        const jaeger = (await to({ 'uber-trace-id': `${t}:${s}:${p}:1` })).sent['uber-trace-id']!;
        assert.match(jaeger, new RegExp(`^${t}:${hex}:${s}:01$`));
        const ot = await to({ 'ot-tracer-traceid': t, 'ot-tracer-spanid': s, 'ot-tracer-sampled': '1' });
        assert.equal(ot.sent['ot-tracer-traceid'], t);
      },
    );
  } finally {
    await upstream.close();
  }
});

test("global plugin doesn't overwrite: the service's instance, and the route's, win", async () => {
  const upstream = await echoUpstream();
  const z = (sample_ratio: number, type: string) => ({
    name: 'zipkin',
    config: { sample_ratio, header_type: type, default_header_type: type },
  });
  try {
    await withGateway(
      [
        {
          name: 'svc',
          url: upstream.url,
          plugins: [z(0, 'w3c')],
          routes: [
            { hosts: ['http-route-with-plugin'], plugins: [z(0, 'b3')] },
            { hosts: ['http-service-with-plugin'] },
          ],
        },
      ],
      [z(1, 'b3-single')],
      async (gw) => {
        const service = (await get(gw.url, '/', { host: 'http-service-with-plugin' })).sent;
        assert.equal(service.b3, undefined);
        assert.match(service.traceparent!, /^00-[0-9a-f]+-[0-9a-f]+-00$/);
        const route = (await get(gw.url, '/', { host: 'http-route-with-plugin' })).sent;
        assert.equal(route.b3, undefined);
        assert.notEqual(route['x-b3-traceid'], undefined);
        assert.equal(route['x-b3-sampled'], '0');
      },
    );
  } finally {
    await upstream.close();
  }
});

// zipkin_queue_spec.lua: spans of 10 requests go in batches of max_batch_size (10) without waiting
// out max_coalescing_delay (10 s).
test('batches spans from multiple requests', async () => {
  const zipkin = await zipkinReceiver();
  const upstream = await echoUpstream();
  try {
    await withGateway(
      [{ name: 'svc', url: upstream.url, routes: [{ hosts: ['http-route'], paths: ['/'] }] }],
      [
        {
          name: 'zipkin',
          config: {
            sample_ratio: 1,
            http_endpoint: zipkin.endpoint,
            static_tags: [{ name: 'static', value: 'ok' }],
            default_header_type: 'b3-single',
            phase_duration_flavor: 'tags',
            queue: { max_batch_size: 10, max_coalescing_delay: 10 },
          },
        },
      ],
      async (gw) => {
        for (let i = 0; i < 10; i++) {
          const { status } = await get(gw.url, '/', {
            'x-b3-sampled': '1',
            host: 'http-route',
            'zipkin-tags': 'foo=bar',
          });
          assert.equal(status, 200);
        }
        await until('30 spans', () => zipkin.spans().length === 30, 10_000);
        assert.deepEqual(
          zipkin.posts.map((b) => b.length),
          [10, 10, 10],
        );
      },
    );
  } finally {
    await zipkin.close();
    await upstream.close();
  }
});

// request_tags_spec.lua's parse cases, as the request span's tags show them.
test('Zipkin-Tags: spaces swallowed around names and values, invalid pairs skipped, empty ones silently', async () => {
  const zipkin = await zipkinReceiver();
  const upstream = await echoUpstream();
  const cases: [string | string[], Record<string, string>][] = [
    ['foo=bar', { foo: 'bar' }],
    ['foo=  bar', { foo: 'bar' }],
    ['foo =bar', { foo: 'bar' }],
    ['   foo =  bar', { foo: 'bar' }],
    ['  foo = bar   ', { foo: 'bar' }],
    ['foobar;foo=;=bar;keep=true;=', { keep: 'true' }],
    ['foo=bar baz', { foo: 'bar baz' }],
    ['foo bar=baz', {}],
    ['foo=bar;baz=qux', { foo: 'bar', baz: 'qux' }],
    ['  foo  =  bar  ;baz  =  qux', { foo: 'bar', baz: 'qux' }],
    [';;foo=bar;;;;baz=qux;;', { foo: 'bar', baz: 'qux' }],
    [['foo=bar;baz=qux', 'quux=quuz'], { foo: 'bar', baz: 'qux', quux: 'quuz' }],
  ];
  const base = new Set(['lc', 'http.method', 'http.host', 'http.path', 'http.protocol', 'http.status_code']);
  try {
    await withGateway(
      [{ name: 'svc', url: upstream.url, routes: [{ paths: ['/'] }] }],
      [{ name: 'zipkin', config: { sample_ratio: 1, http_endpoint: zipkin.endpoint, ...QUICK } }],
      async (gw) => {
        for (const [header, want] of cases) {
          const { hostname, port } = new URL(gw.url);
          const traceId = randomBytes(16).toString('hex');
          await new Promise<void>((resolve, reject) => {
            request(
              {
                host: hostname,
                port,
                path: '/',
                headers: { 'x-b3-traceid': traceId, 'x-b3-sampled': '1', 'zipkin-tags': header },
              },
              (res) => res.resume().on('end', resolve),
            )
              .on('error', reject)
              .end();
          });
          await until(
            'the request span',
            () => zipkin.spans().some((s) => s.traceId === traceId && s.kind === 'SERVER'),
            10_000,
          );
          const tags = zipkin.spans().find((s) => s.traceId === traceId && s.kind === 'SERVER')!.tags!;
          const client = Object.fromEntries(
            Object.entries(tags).filter(([k]) => !base.has(k) && !k.startsWith('kong.')),
          );
          assert.deepEqual(client, want, JSON.stringify(header));
        }
      },
    );
  } finally {
    await zipkin.close();
    await upstream.close();
  }
});

// request_tags_spec.lua's "rejects invalid tags, keeping valid ones" and "allows spaces on values,
// but not on keys": Kong's parse returns the error its handler logs as a warning.
test("Zipkin-Tags: the pairs skipped are named in Kong's warning, at most once a second; empty ones silently", async () => {
  const zipkin = await zipkinReceiver();
  const upstream = await echoUpstream();
  const warning = (gw: TestGateway) =>
    gw.logs.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('Could not parse the following Zipkin tags'));
  try {
    await withGateway(
      [{ name: 'svc', url: upstream.url, routes: [{ paths: ['/'] }] }],
      [{ name: 'zipkin', config: { sample_ratio: 1, http_endpoint: zipkin.endpoint, ...QUICK } }],
      async (gw) => {
        await get(gw.url, '/', { 'zipkin-tags': ';;foo=bar;;;;baz=qux;;' });
        await until('the SERVER span', () => zipkin.spans().filter((s) => s.kind === 'SERVER').length === 1, 10_000);
        assert.deepEqual(warning(gw), [], 'empty tags between semicolons are swallowed silently');
        await get(gw.url, '/', { 'zipkin-tags': 'foobar;foo=;=bar;keep=true;=' });
        await until('the warning', () => warning(gw).length === 1, 10_000);
        assert.equal(warning(gw)[0]!.msg, 'Could not parse the following Zipkin tags: foobar, foo=, =bar, =');
        assert.equal(warning(gw)[0]!.level, 'warn');
        // A second one within the second is held back and counted with the next line.
        await get(gw.url, '/', { 'zipkin-tags': 'foo bar=baz' });
        await until('3 SERVER spans', () => zipkin.spans().filter((s) => s.kind === 'SERVER').length === 3, 10_000);
        assert.equal(warning(gw).length, 1);
      },
    );
  } finally {
    await zipkin.close();
    await upstream.close();
  }
});
