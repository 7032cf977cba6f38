// The tracing plugins on one key-auth route with every logging plugin too, each pointed at a real
// receiver on loopback: an OTLP/HTTP collector (protobuf decoded by test/support/otlp.ts), a Zipkin
// v2 receiver, an HTTP log receiver. Three authenticated requests give an OTLP export whose trace
// id is the one in the traceparent the upstream received, and Zipkin spans with the B3 ids the
// upstream received; a refused request's access line names key-auth; collectors that hang delay no
// response, and what they cost shows in /status and /metrics.

import assert from 'node:assert/strict';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { mkdtemp, rm } from 'node:fs/promises';
import type { IncomingHttpHeaders, Server } from 'node:http';
import { createServer as createTcpServer, type Server as TcpServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { TestGateway } from '../../src/testing/index.ts';
import { startServiceGateway } from '../support/gateway.ts';
import { type DecodedSpan, decodeTraceExport } from '../support/otlp.ts';
import { type Listening, listen, type RecordingUpstream, startRecordingUpstream } from '../support/upstream.ts';

/** Resolves when `check` holds, polling every 20 ms; fails after `ms`. */
async function until(what: string, check: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

interface Received {
  body: Buffer;
  headers: IncomingHttpHeaders;
  url: string;
}

function collector(into: Received[]): Promise<Listening> {
  return listen((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      into.push({ body: Buffer.concat(chunks), headers: req.headers, url: req.url ?? '' });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-0([01])$/;

describe('tracing plugins against a real OTLP collector and Zipkin receiver', () => {
  let gw: TestGateway;
  let upstream: RecordingUpstream;
  let otlp: Listening;
  let zipkin: Listening;
  let httpLog: Listening;
  let hanging: Server;
  let tcp: TcpServer;
  let udp: UdpSocket;
  let dir: string;
  const otlpExports: Received[] = [];
  const zipkinPosts: Received[] = [];
  const logEntries: Received[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tollgate-tracing-'));
    upstream = await startRecordingUpstream();
    otlp = await collector(otlpExports);
    zipkin = await collector(zipkinPosts);
    httpLog = await collector(logEntries);
    hanging = (await listen(() => {})).server; // accepts, never answers
    tcp = createTcpServer((s) => s.resume());
    await new Promise<void>((r) => tcp.listen(0, '127.0.0.1', () => r()));
    udp = createSocket('udp4');
    await new Promise<void>((r) => udp.bind(0, '127.0.0.1', () => r()));
    const hangingUrl = `http://127.0.0.1:${(hanging.address() as { port: number }).port}`;
    const tcpPort = (tcp.address() as { port: number }).port;
    const udpPort = udp.address().port;
    gw = await startServiceGateway(
      [
        {
          name: 'api',
          paths: ['/api'],
          plugins: [
            { name: 'key-auth' },
            { name: 'opentelemetry', config: { traces_endpoint: `${otlp.url}/v1/traces`, sampling_rate: 1 } },
            {
              name: 'zipkin',
              config: {
                http_endpoint: `${zipkin.url}/api/v2/spans`,
                sample_ratio: 1,
                static_tags: [{ name: 'env', value: 'test' }],
              },
            },
            { name: 'http-log', config: { http_endpoint: `${httpLog.url}/logs` } },
            { name: 'file-log', config: { path: join(dir, 'access.log') } },
            { name: 'tcp-log', config: { host: '127.0.0.1', port: tcpPort } },
            { name: 'udp-log', config: { host: '127.0.0.1', port: udpPort } },
            { name: 'syslog', config: { host: '127.0.0.1', port: udpPort } },
            { name: 'statsd', config: { host: '127.0.0.1', port: udpPort } },
          ],
        },
        {
          name: 'hanging',
          paths: ['/hanging'],
          plugins: [
            {
              name: 'opentelemetry',
              config: { traces_endpoint: `${hangingUrl}/v1/traces`, sampling_rate: 1, read_timeout: 60_000 },
            },
            { name: 'zipkin', config: { http_endpoint: `${hangingUrl}/api/v2/spans`, sample_ratio: 1 } },
          ],
        },
      ],
      {
        name: 'orders',
        url: upstream.url,
        extra: {
          consumers: [{ username: 'alice', keyauth_credentials: [{ key: 'alice-secret-key' }] }],
        },
      },
    );
  });

  after(async () => {
    await gw?.close();
    hanging?.closeAllConnections();
    await Promise.all([
      upstream?.close(),
      otlp?.close(),
      zipkin?.close(),
      httpLog?.close(),
      new Promise((r) => hanging?.close(r)),
      new Promise((r) => tcp?.close(r)),
    ]);
    udp?.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('three authenticated requests: the upstream gets the trace, OTLP and Zipkin receive its spans', async () => {
    const clientTrace = '4bf92f3577b34da6a3ce929d0e0e4736';
    const clientSpan = '00f067aa0ba902b7';
    for (let i = 0; i < 3; i++) {
      const headers: Record<string, string> = { apikey: 'alice-secret-key' };
      // The first request continues the client's W3C trace; the others start new ones.
      if (i === 0) headers.traceparent = `00-${clientTrace}-${clientSpan}-01`;
      const res = await fetch(`${gw.url}/api/orders/${i}`, { headers, signal: AbortSignal.timeout(10_000) });
      assert.equal(res.status, 200);
      await res.arrayBuffer();
    }
    assert.equal(upstream.requests.length, 3);
    const sent = upstream.requests.map((r) => {
      const m = TRACEPARENT.exec(String(r.headers.traceparent));
      assert.ok(m, `the upstream got a W3C traceparent: ${r.headers.traceparent}`);
      return { traceId: m[1]!, parent: m[2]!, sampled: m[3] === '1', b3: r.headers['x-b3-traceid'] };
    });
    assert.equal(sent[0]!.traceId, clientTrace, "the client's trace is continued");
    assert.notEqual(sent[0]!.parent, clientSpan, "the upstream's parent is the gateway's span, not the client's");
    assert.ok(sent.every((s) => s.sampled));
    assert.notEqual(sent[1]!.traceId, sent[2]!.traceId, 'a request without trace context starts a new trace');
    // Zipkin runs first (Kong's priority) and shares the trace: it answers a W3C client in W3C
    // (header_type preserve) and writes B3 (its default format) when the client sent nothing.
    assert.equal(sent[0]!.b3, undefined);
    for (const s of sent.slice(1)) assert.equal(s.b3, s.traceId);

    await until('the OTLP exports of three requests', () => {
      const spans = otlpExports.flatMap((e) => decodeTraceExport(e.body));
      return new Set(spans.map((s) => s.traceId)).size >= 3;
    });
    const exported = otlpExports[0]!;
    assert.equal(exported.url, '/v1/traces');
    assert.equal(exported.headers['content-type'], 'application/x-protobuf');
    const spans: DecodedSpan[] = otlpExports.flatMap((e) => decodeTraceExport(e.body));
    for (const s of sent) {
      const trace = spans.filter((sp) => sp.traceId === s.traceId);
      const root = trace.find((sp) => sp.name === 'kong');
      const call = trace.find((sp) => sp.name === 'kong.balancer');
      assert.ok(root && call, `the request and upstream-call spans of trace ${s.traceId}`);
      assert.equal(root.kind, 2, 'SERVER');
      assert.equal(call.kind, 3, 'CLIENT');
      assert.equal(call.spanId, s.parent, "the upstream's parent is the exported upstream-call span");
      assert.equal(call.parentSpanId, root.spanId, 'the upstream call is a child of the request span');
      assert.equal(root.attributes['http.method'], 'GET');
      assert.equal(root.attributes['http.status_code'], 200);
      assert.equal(root.attributes['kong.route.name'], 'api');
      assert.equal(root.attributes['kong.consumer'], 'alice');
      assert.equal(root.resource['service.name'], 'kong');
      assert.ok(root.endNs >= root.startNs && call.startNs >= root.startNs - 1_000_000n);
    }
    const first = spans.find((sp) => sp.traceId === clientTrace && sp.name === 'kong')!;
    assert.equal(first.parentSpanId, clientSpan, "the request span's parent is the client's span");

    await until('Zipkin spans of three requests', () => {
      const all = zipkinPosts.flatMap((p) => JSON.parse(p.body.toString()) as Record<string, any>[]);
      return new Set(all.map((s) => s.traceId)).size >= 3;
    });
    assert.equal(zipkinPosts[0]!.url, '/api/v2/spans');
    const zspans = zipkinPosts.flatMap((p) => JSON.parse(p.body.toString()) as Record<string, any>[]);
    for (const [i, s] of sent.entries()) {
      const server = zspans.find((z) => z.traceId === s.traceId && z.kind === 'SERVER')!;
      const client = zspans.find((z) => z.traceId === s.traceId && z.name === 'GET (proxy)')!;
      assert.ok(server && client, `Zipkin spans of trace ${s.traceId}`);
      assert.equal(server.name, 'GET');
      assert.equal(server.localEndpoint.serviceName, 'kong');
      assert.equal(server.tags['http.path'], `/api/orders/${i}`);
      assert.equal(server.tags['http.status_code'], '200');
      assert.equal(server.tags.env, 'test');
      assert.equal(server.tags.lc, 'kong');
      assert.equal(client.parentId, server.id);
      assert.equal(client.id, s.parent, 'the parent span id the upstream got');
      if (i > 0) assert.equal(upstream.requests[i]!.headers['x-b3-spanid'], s.parent);
      if (i > 0) assert.equal(upstream.requests[i]!.headers['x-b3-parentspanid'], server.id);
      assert.equal(typeof server.timestamp, 'number');
      assert.ok(server.duration >= 1);
    }
    // One trace across backends: both plugins share the request's ids.
    assert.equal(zspans.find((z) => z.traceId === clientTrace && z.kind === 'SERVER')!.parentId, clientSpan);
    await until('three http-log entries', () => logEntries.length >= 3);
  });

  test('a request key-auth refuses: the access line names key-auth and the reason, the body carries the request id', async () => {
    const res = await fetch(`${gw.url}/api/orders`, { signal: AbortSignal.timeout(10_000) });
    assert.equal(res.status, 401);
    const body = (await res.json()) as { message: string; request_id: string };
    assert.equal(body.message, 'No API key found in request');
    assert.equal(body.request_id, res.headers.get('x-request-id'));
    await until('the access line', () => gw.logs.some((l) => l.type === 'access' && l.request_id === body.request_id));
    const line = gw.logs.find((l) => l.type === 'access' && l.request_id === body.request_id)!;
    assert.equal(line.source, 'key-auth');
    assert.equal(line.reason, 'NO_CREDENTIALS');
    // The refused request is traced too: its span says who answered.
    await until('the refused request span', () =>
      otlpExports
        .flatMap((e) => decodeTraceExport(e.body))
        .some((s) => s.attributes['kong.request.id'] === body.request_id),
    );
    const span = otlpExports
      .flatMap((e) => decodeTraceExport(e.body))
      .find((s) => s.attributes['kong.request.id'] === body.request_id)!;
    assert.equal(span.attributes['kong.source'], 'key-auth');
    assert.equal(span.attributes['http.status_code'], 401);
  });

  test('collectors that never answer delay no response, and their queues show in /status and /metrics', async () => {
    for (let i = 0; i < 5; i++) {
      const started = Date.now();
      const res = await fetch(`${gw.url}/hanging/x`, { signal: AbortSignal.timeout(10_000) });
      assert.equal(res.status, 200);
      await res.arrayBuffer();
      assert.ok(Date.now() - started < 5_000, 'answered while the collectors hang');
    }
    const status = (await (await fetch(`${gw.adminUrl}/status`, { signal: AbortSignal.timeout(10_000) })).json()) as {
      dependencies: Record<string, any>[];
    };
    const otlpDep = status.dependencies.find(
      (d) => d.kind === 'otlp_traces' && String(d.target).includes('/v1/traces'),
    );
    const zipkinDep = status.dependencies.find((d) => d.kind === 'zipkin');
    assert.ok(otlpDep && zipkinDep, JSON.stringify(status.dependencies));
    assert.equal(typeof otlpDep.queue_depth, 'number');
    assert.equal(typeof otlpDep.dropped, 'number');
    const metrics = await (await fetch(`${gw.adminUrl}/metrics`, { signal: AbortSignal.timeout(10_000) })).text();
    assert.match(metrics, /tollgate_log_queue_depth\{[^}]*plugin="opentelemetry"[^}]*\} \d+/);
    assert.match(metrics, /tollgate_log_dropped_total\{[^}]*plugin="zipkin"[^}]*\} \d+/);
    assert.match(metrics, /tollgate_log_dropped_total\{[^}]*plugin="http-log"[^}]*\} 0/);
  });
});
