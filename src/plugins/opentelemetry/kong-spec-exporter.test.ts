// Kong's spec/03-plugins/37-opentelemetry/04-exporter_spec.lua (Kong commit 22246ef2), what a real
// collector on loopback receives: the request span of a client's W3C trace with Kong's attributes,
// plugin scoping (a route without the plugin is traced only by a global instance), and an endpoint
// and headers given as `{vault://env/...}` references. Kong's other cases are in
// opentelemetry.test.ts (content type, resource attributes, sampling_rate by trace id) and
// logs.test.ts.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, get, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { type DecodedSpan, decodeTraceExport } from '../../../test/support/otlp.ts';
import { until } from '../../../test/support/wait.ts';
import { startGateway } from '../../testing/index.ts';

/** A collector on loopback: each export's protobuf body and headers, in arrival order. */
async function startCollector() {
  const exports: { body: Buffer; headers: IncomingHttpHeaders }[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      exports.push({ body: Buffer.concat(chunks), headers: req.headers });
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces`;
  const spans = (): DecodedSpan[] => exports.flatMap((e) => decodeTraceExport(e.body));
  const close = () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return { exports, spans, endpoint, close };
}

const QUICK = { queue: { max_coalescing_delay: 0.01 } };

async function upstreamHeaders(url: string, headers: Record<string, string> = {}) {
  const res = await fetch(url, { headers, signal: AbortSignal.timeout(10_000) });
  assert.equal(res.status, 200);
  return {
    sent: ((await res.json()) as { headers: Record<string, string | undefined> }).headers,
    // Kong's X-Kong-Request-Id is Tollgate's X-Request-Id (docs/kong-differences.md)
    requestId: res.headers.get('x-request-id'),
  };
}

test("#propagate w3c traceparent: the request span continues the client's trace with Kong's attributes", async () => {
  const collector = await startCollector();
  const gw = await startGateway({
    config: {
      _format_version: '3.0',
      services: [
        {
          name: 'mock-service',
          url: 'echo://',
          routes: [
            {
              paths: ['/'],
              plugins: [{ name: 'opentelemetry', config: { traces_endpoint: collector.endpoint, ...QUICK } }],
            },
            // Kong's http.route is the route's first path, "" for a route matched by host alone
            {
              hosts: ['by-host.test'],
              plugins: [{ name: 'opentelemetry', config: { traces_endpoint: collector.endpoint, ...QUICK } }],
            },
          ],
        },
      ],
    },
  });
  try {
    const traceId = randomBytes(16).toString('hex');
    const parentId = randomBytes(8).toString('hex');
    const { requestId } = await upstreamHeaders(`${gw.url}/`, { traceparent: `00-${traceId}-${parentId}-01` });
    await until('the export', () => collector.spans().some((s) => s.name === 'kong'), 10_000);
    assert.equal(collector.exports[0]!.headers['content-type'], 'application/x-protobuf');
    const span = collector.spans().find((s) => s.name === 'kong')!;
    assert.equal(span.traceId, traceId);
    assert.equal(span.parentSpanId, parentId);
    const host = new URL(gw.url).hostname;
    // Kong's exact set; Tollgate adds kong.source and the route and service ids and names
    const kong = {
      'http.client_ip': '127.0.0.1',
      'http.flavor': '1.1',
      'http.host': host,
      'http.method': 'GET',
      'http.route': '/',
      'http.scheme': 'http',
      'http.status_code': 200,
      'http.url': `http://${host}/`,
      'kong.request.id': requestId,
      'net.peer.ip': '127.0.0.1',
    };
    const got = Object.fromEntries(Object.keys(kong).map((k) => [k, span.attributes[k]]));
    assert.deepEqual(got, kong);

    // fetch cannot set Host: a plain request does
    const status = await new Promise<number | undefined>((resolve, reject) => {
      get(`${gw.url}/`, { headers: { host: 'by-host.test' } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode));
      }).on('error', reject);
    });
    assert.equal(status, 200);
    await until('the second export', () => collector.spans().filter((s) => s.name === 'kong').length === 2, 10_000);
    const second = collector.spans().filter((s) => s.name === 'kong')[1]!;
    assert.equal(second.attributes['http.host'], 'by-host.test');
    assert.equal(second.attributes['http.route'], '');
  } finally {
    await gw.close();
    await collector.close();
  }
});

// Kong's #scoping cases: the plugin on a route, on a service, with or without a global instance;
// a request to another service's route is traced by the global one alone.
for (const [onRoute, onService, global] of [
  [true, true, true],
  [true, true, false],
  [true, false, true],
  [true, false, false],
  [false, true, true],
  [false, true, false],
] as const) {
  const name = `${onRoute ? ' route' : ''}${onService ? ' service' : ''}${global ? ' with global' : ''}`;
  test(`#scoping for${name}: a route of another service is traced only by a global instance`, async () => {
    const collector = await startCollector();
    const plugin = () => ({ name: 'opentelemetry', config: { traces_endpoint: collector.endpoint, ...QUICK } });
    const gw = await startGateway({
      config: {
        _format_version: '3.0',
        services: [
          {
            name: 'mock-service',
            url: 'echo://',
            routes: [{ name: 'traced', paths: ['/traced'], ...(onRoute ? { plugins: [plugin()] } : {}) }],
            ...(onService ? { plugins: [plugin()] } : {}),
          },
          { name: 'mock-service2', url: 'echo://', routes: [{ name: 'no-plugin', paths: ['/no_plugin'] }] },
        ],
        ...(global ? { plugins: [plugin()] } : {}),
      },
    });
    try {
      const { sent } = await upstreamHeaders(`${gw.url}/no_plugin`);
      if (global) {
        const traceId = sent.traceparent!.split('-')[1];
        await until('the export', () => collector.spans().some((s) => s.traceId === traceId), 10_000);
      } else {
        assert.equal(sent.traceparent, undefined, 'no instance ran for the request');
        // the traced route's spans reach the collector; the untraced request's had none to send
        const { sent: traced } = await upstreamHeaders(`${gw.url}/traced`);
        const traceId = traced.traceparent!.split('-')[1];
        await until('the export', () => collector.spans().some((s) => s.traceId === traceId), 10_000);
        assert.equal(new Set(collector.spans().map((s) => s.traceId)).size, 1);
      }
    } finally {
      await gw.close();
      await collector.close();
    }
  });
}

test('#referenceable fields: traces_endpoint and headers from {vault://env/...} references', async () => {
  const collector = await startCollector();
  const gw = await startGateway({
    config: {
      _format_version: '3.0',
      services: [{ name: 'mock-service', url: 'echo://', routes: [{ paths: ['/'] }] }],
      plugins: [
        {
          name: 'opentelemetry',
          config: {
            traces_endpoint: '{vault://env/test_otel_endpoint}',
            headers: {
              'X-Access-Key': '{vault://env/test_otel_access_key}',
              'X-Access-Secret': '{vault://env/test_otel_access_secret}',
            },
            ...QUICK,
          },
        },
      ],
    },
    env: {
      TEST_OTEL_ENDPOINT: collector.endpoint,
      TEST_OTEL_ACCESS_KEY: 'secret-1',
      TEST_OTEL_ACCESS_SECRET: 'secret-2',
    },
  });
  try {
    await upstreamHeaders(`${gw.url}/`);
    await until('the export', () => collector.exports.length > 0, 10_000);
    const { headers } = collector.exports[0]!;
    assert.equal(headers['content-type'], 'application/x-protobuf');
    assert.equal(headers['x-access-key'], 'secret-1');
    assert.equal(headers['x-access-secret'], 'secret-2');
  } finally {
    await gw.close();
    await collector.close();
  }
});

// Kong's 06-regression_spec.lua (#KAG-1061), which Kong runs with a database only: a reconfigured
// traces_endpoint takes effect; here by a reload of the declarative file.
test('a reload that changes traces_endpoint sends the next traces to the new collector', async () => {
  const first = await startCollector();
  const second = await startCollector();
  const config = (endpoint: string) => ({
    _format_version: '3.0',
    services: [
      {
        name: 'mock-service',
        url: 'echo://',
        routes: [{ paths: ['/'] }],
        plugins: [{ name: 'opentelemetry', instance_name: 'test1', config: { traces_endpoint: endpoint, ...QUICK } }],
      },
    ],
  });
  const gw = await startGateway({ config: config(first.endpoint) });
  try {
    await upstreamHeaders(`${gw.url}/`);
    await until('the first export', () => first.exports.length > 0, 10_000);
    await gw.reload(config(second.endpoint));
    const { sent } = await upstreamHeaders(`${gw.url}/`);
    const traceId = sent.traceparent!.split('-')[1];
    await until('the export after the reload', () => second.spans().some((s) => s.traceId === traceId), 10_000);
    assert.ok(!first.spans().some((s) => s.traceId === traceId));
  } finally {
    await gw.close();
    await first.close();
    await second.close();
  }
});
