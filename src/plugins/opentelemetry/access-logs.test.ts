// opentelemetry's access_logs.endpoint (Kong Gateway 3.14; 3.13's access_logs_endpoint): one OTLP
// LogRecord per request, as a real collector on loopback decodes it (test/support/otlp.ts).
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { type DecodedLogRecord, decodeLogsExport } from '../../../test/support/otlp.ts';
import { assertStuckAndDeadCollectors } from '../../../test/support/otlp-health.ts';
import { until } from '../../../test/support/wait.ts';
import { startGateway } from '../../testing/index.ts';

/** A collector on loopback: each export's records and headers; `hold` keeps answers back (a stuck collector). */
async function startCollector(opts: { hold?: boolean; traces?: boolean } = {}) {
  const records: DecodedLogRecord[] = [];
  const headers: IncomingHttpHeaders[] = [];
  const held: ServerResponse[] = [];
  const bodies: Buffer[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      bodies.push(Buffer.concat(chunks));
      if (opts.traces !== true) records.push(...decodeLogsExport(Buffer.concat(chunks)));
      headers.push(req.headers);
      if (opts.hold === true) held.push(res);
      else res.end();
    });
  });
  const url = await listen(server);
  const close = () =>
    new Promise<void>((r) => {
      for (const res of held) res.destroy();
      server.closeAllConnections();
      server.close(() => r());
    });
  /** Whether `text` is anywhere in what the collector received, decoded or not. */
  const received = (text: string) => Buffer.concat(bodies).includes(text);
  return { records, headers, received, endpoint: `${url}/v1/logs`, close };
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** An upstream answering 201 with a 5-byte body, a session cookie and repeated `x-multi` headers. */
async function startUpstream() {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(201, { 'set-cookie': 'session=upstream-secret', 'x-multi': ['a', 'b'], 'content-length': '5' });
      res.end('hello');
    });
  });
  const url = await listen(server);
  return {
    url,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

function gateway(upstream: string, otel: Record<string, unknown>, routePlugins: Record<string, unknown>[] = []) {
  return startGateway({
    config: {
      _format_version: '3.0',
      services: [
        {
          name: 'orders',
          url: `${upstream}/base`,
          tags: ['team-a'],
          routes: [{ name: 'orders-route', paths: ['/orders'], tags: ['public'], plugins: routePlugins }],
        },
      ],
      consumers: [{ username: 'alice', custom_id: 'c-1', keyauth_credentials: [{ key: 'the-key-value' }] }],
      plugins: [{ name: 'opentelemetry', config: { queue: { max_coalescing_delay: 0.01 }, ...otel } }],
    },
  });
}

test("a request is one record with Kong's access log attributes, typed, and the request's trace and span ids", async (t) => {
  const upstream = await startUpstream();
  t.after(upstream.close);
  const collector = await startCollector();
  t.after(collector.close);
  const traces = await startCollector({ traces: true });
  t.after(traces.close);
  const trace = '4bf92f3577b34da6a3ce929d0e0e4736';
  const gw = await gateway(upstream.url, {
    traces_endpoint: traces.endpoint.replace('/v1/logs', '/v1/traces'),
    access_logs: { endpoint: collector.endpoint },
    headers: { 'x-collector-token': 'collector-secret' },
  });
  try {
    const res = await fetch(`${gw.url}/orders/7?page=2&sort=asc`, {
      method: 'POST',
      body: 'abc',
      headers: {
        traceparent: `00-${trace}-00f067aa0ba902b7-01`,
        'user-agent': 'probe/1.0',
        authorization: 'Bearer client-secret',
        cookie: 'sid=client-cookie',
        'x-long': 'v'.repeat(5000),
      },
    });
    assert.equal(res.status, 201);
    assert.equal(await res.text(), 'hello');
    const requestId = res.headers.get('x-request-id');
    await until('the access log record', () => collector.records.length === 1, 10_000);
    const [r] = collector.records;
    const a = r!.attributes;
    // No severity and no body (Kong: access logs typically don't have one); the trace ids.
    assert.equal(r!.severityNumber, 0);
    assert.equal(r!.severityText, '');
    assert.equal(r!.body, '');
    assert.equal(r!.traceId, trace);
    assert.match(r!.spanId, /^[0-9a-f]{16}$/);
    assert.equal(r!.flags, 1);
    assert.equal(r!.resource['service.name'], 'kong');
    assert.equal(r!.timeNs / 1_000_000n, BigInt(a['kong.request.started_at'] as number));

    const port = new URL(gw.url).port;
    for (const [name, value] of [
      ['client.address', '127.0.0.1'],
      ['url.full', `http://127.0.0.1:${port}/orders/7?page=2&sort=asc`],
      ['url.path', '/orders/7'],
      ['url.query', 'page=2&sort=asc'],
      ['user_agent.original', 'probe/1.0'],
      ['http.request.method', 'POST'],
      ['http.request.size', null],
      ['http.response.status_code', 201],
      ['http.response.size', null],
      ['kong.request.id', requestId],
      ['kong.response.source', 'upstream'],
      ['kong.workspace.id', '0dc6f45b-8f8d-40d2-a504-473544ee190b'],
      ['kong.workspace.name', 'default'],
      ['kong.route.name', 'orders-route'],
      ['kong.route.paths', ['/orders']],
      ['kong.route.tags', ['public']],
      ['kong.service.name', 'orders'],
      ['kong.service.host', '127.0.0.1'],
      ['kong.service.port', Number(new URL(upstream.url).port)],
      ['kong.service.protocol', 'http'],
      ['kong.service.tags', ['team-a']],
      ['kong.upstream.status_code', 201],
      ['kong.upstream.uri', '/base/7?page=2&sort=asc'],
      ['http.response.header.x-multi', ['a', 'b']],
      ['http.request.header.user-agent', ['probe/1.0']],
    ] as const) {
      if (value === null) assert.ok(Number.isInteger(a[name]) && (a[name] as number) > 0, `${name}: ${a[name]}`);
      else assert.deepEqual(a[name], value, name);
    }
    assert.match(a['kong.route.id'] as string, /^[0-9a-f-]{36}$/);
    assert.equal(a['kong.route.service.id'], a['kong.service.id']);
    for (const name of [
      'kong.latency.total',
      'kong.latency.internal',
      'kong.latency.upstream',
      'kong.latency.receive',
    ]) {
      assert.ok(Number.isInteger(a[name]) && (a[name] as number) >= 0, `${name}: ${a[name]}`);
    }
    // A long value is cut at 1024 characters.
    assert.deepEqual(a['http.request.header.x-long'], ['v'.repeat(1024)]);

    // Credentials are redacted, as http-log's entry has them; the collector's headers are the plugin's own.
    assert.deepEqual(a['http.request.header.authorization'], ['REDACTED']);
    assert.deepEqual(a['http.request.header.cookie'], ['REDACTED']);
    assert.deepEqual(a['http.response.header.set-cookie'], ['REDACTED']);
    assert.equal(collector.headers[0]!['x-collector-token'], 'collector-secret');
    for (const secret of ['client-secret', 'client-cookie', 'upstream-secret', 'collector-secret']) {
      assert.ok(!collector.received(secret), `${secret} in a record`);
    }
    assert.equal(collector.headers[0]!['content-type'], 'application/x-protobuf');
  } finally {
    await gw.close();
  }
});

test("an authenticated request names its consumer and credential; the key-auth key header is not in clear; a plugin's answer is Kong's", async (t) => {
  const upstream = await startUpstream();
  t.after(upstream.close);
  const collector = await startCollector();
  t.after(collector.close);
  const gw = await gateway(upstream.url, { access_logs: { endpoint: collector.endpoint } }, [
    { name: 'key-auth', config: { key_names: ['x-key'] } },
  ]);
  try {
    const ok = await fetch(`${gw.url}/orders`, { headers: { 'x-key': 'the-key-value' } });
    assert.equal(ok.status, 201);
    await ok.text();
    const denied = await fetch(`${gw.url}/orders`, { headers: { 'x-key': 'wrong-key-value' } });
    assert.equal(denied.status, 401);
    await denied.text();
    await until('two records', () => collector.records.length === 2, 10_000);
    const [good, bad] = collector.records.map((r) => r.attributes);
    assert.equal(good!['kong.auth.type'], 'key-auth');
    assert.equal(good!['kong.auth.consumer.username'], 'alice');
    assert.equal(good!['kong.auth.consumer.custom_id'], 'c-1');
    assert.match(good!['kong.auth.consumer.id'] as string, /^[0-9a-f-]{36}$/);
    assert.equal(good!['kong.auth.authenticated_entity.consumer_id'], good!['kong.auth.consumer.id']);
    assert.deepEqual(good!['http.request.header.x-key'], ['REDACTED']);
    // The 401 came from the gateway: no upstream status, uri or latency.
    assert.equal(bad!['http.response.status_code'], 401);
    assert.equal(bad!['kong.response.source'], 'kong');
    assert.equal(bad!['kong.upstream.status_code'], undefined);
    assert.equal(bad!['kong.latency.upstream'], undefined);
    assert.equal(bad!['kong.auth.type'], undefined);
    assert.deepEqual(bad!['http.request.header.x-key'], ['REDACTED']);
    assert.ok(!collector.received('the-key-value') && !collector.received('wrong-key-value'));
    // An access-logs-only instance does not trace: no trace id on its records.
    assert.equal(collector.records[0]!.traceId, '');
  } finally {
    await gw.close();
  }
});

test("Kong Gateway 3.13's access_logs_endpoint alone loads with Kong's deprecation warning and exports the same records", async (t) => {
  const upstream = await startUpstream();
  t.after(upstream.close);
  const collector = await startCollector();
  t.after(collector.close);
  const gw = await gateway(upstream.url, { access_logs_endpoint: collector.endpoint });
  try {
    const res = await fetch(`${gw.url}/orders`);
    assert.equal(res.status, 201);
    await res.text();
    await until('the record', () => collector.records.length === 1, 10_000);
    assert.equal(collector.records[0]!.attributes['kong.route.name'], 'orders-route');
    assert.ok(
      gw.logs.some((l) =>
        String(l.msg).includes(
          'opentelemetry: config.access_logs_endpoint is deprecated, please use config.access_logs.endpoint instead',
        ),
      ),
      JSON.stringify(gw.logs),
    );
  } finally {
    await gw.close();
  }
});

test('a collector that never answers, or a dead one, holds no request; /status shows the access logs queue', async (t) => {
  const upstream = await startUpstream();
  t.after(upstream.close);
  const stuck = await startCollector({ hold: true });
  t.after(stuck.close);
  const gw = await gateway(upstream.url, {
    access_logs: { endpoint: stuck.endpoint },
    send_timeout: 60_000,
    read_timeout: 60_000,
  });
  const dead = await gateway(upstream.url, {
    access_logs: { endpoint: 'http://127.0.0.1:9/v1/logs' },
    connect_timeout: 60_000,
  });
  try {
    await assertStuckAndDeadCollectors({
      stuck: gw,
      dead,
      stuckEndpoint: stuck.endpoint,
      stuckReached: () => stuck.headers.length > 0,
      kind: 'otlp_access_logs',
      path: '/orders',
      status: 201,
    });
  } finally {
    await gw.close();
    await dead.close();
  }
});
