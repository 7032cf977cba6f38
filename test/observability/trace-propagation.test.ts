// Trace-context propagation as the upstream sees it (the echo upstream answers with the headers it
// received): W3C, B3 multi and single, Jaeger and OT read from the client and written upstream per
// Kong's `propagation` record and legacy `header_type`; malformed headers start a new trace; the
// client's sampling decision is kept; a format Kong does not know is refused at load (Kong's vendor
// formats are in vendor-propagation.test.ts). And the debug view (`Kong-Debug: 1`) only where
// `_tollgate.debug_header` allows it.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startGateway, type TestGateway } from '../../src/testing/index.ts';
import { serviceConfig, startServiceGateway } from '../support/gateway.ts';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN = '00f067aa0ba902b7';
const TRACE64 = 'a3ce929d0e0e4736';

async function upstreamHeaders(gw: TestGateway, path: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${gw.url}${path}`, { headers, signal: AbortSignal.timeout(10_000) });
  assert.equal(res.status, 200);
  return ((await res.json()) as { headers: Record<string, string> }).headers;
}

const W3C = /^00-([0-9a-f]{32})-([0-9a-f]{16})-(0[01])$/;

describe('trace context propagation', () => {
  let gw: TestGateway;

  before(async () => {
    const zipkin = (config: Record<string, unknown>) => [{ name: 'zipkin', config: { sample_ratio: 1, ...config } }];
    gw = await startServiceGateway([
      { name: 'default', paths: ['/default'], plugins: zipkin({}) },
      {
        name: 'all',
        paths: ['/all'],
        plugins: zipkin({
          propagation: { extract: ['w3c', 'b3', 'jaeger', 'ot'], inject: ['w3c', 'b3', 'b3-single', 'jaeger', 'ot'] },
        }),
      },
      {
        name: 'cleared',
        paths: ['/cleared'],
        plugins: zipkin({ propagation: { extract: ['b3'], inject: ['w3c'], clear: ['x-b3-traceid', 'x-b3-spanid'] } }),
      },
      { name: 'ignore', paths: ['/ignore'], plugins: zipkin({ header_type: 'ignore', default_header_type: 'w3c' }) },
      { name: 'never', paths: ['/never'], plugins: zipkin({ sample_ratio: 0, default_header_type: 'w3c' }) },
      { name: 'answered', paths: ['/answered'], plugins: zipkin({ http_response_header_for_traceid: 'X-Trace-Id' }) },
      {
        name: 'answered-unsampled',
        paths: ['/answered-unsampled'],
        plugins: zipkin({ sample_ratio: 0, http_response_header_for_traceid: 'X-Trace-Id' }),
      },
      {
        name: 'otel-unsampled',
        paths: ['/otel-unsampled'],
        plugins: [
          {
            name: 'opentelemetry',
            config: {
              traces_endpoint: 'http://127.0.0.1:9/v1/traces',
              sampling_rate: 0,
              http_response_header_for_traceid: 'X-Trace-Id',
            },
          },
        ],
      },
    ]);
  });

  after(() => gw?.close());

  test('B3 multi-header in, every format out, one trace', async () => {
    const h = await upstreamHeaders(gw, '/all/x', {
      'x-b3-traceid': TRACE,
      'x-b3-spanid': SPAN,
      'x-b3-sampled': '1',
    });
    const w3c = W3C.exec(h.traceparent!)!;
    assert.equal(w3c[1], TRACE);
    assert.equal(w3c[3], '01');
    const span = w3c[2]!;
    assert.notEqual(span, SPAN);
    assert.equal(h['x-b3-traceid'], TRACE);
    assert.equal(h['x-b3-spanid'], span);
    assert.equal(h['x-b3-sampled'], '1');
    assert.match(h.b3!, new RegExp(`^${TRACE}-${span}-1-[0-9a-f]{16}$`));
    assert.equal(h['x-b3-parentspanid'], h.b3!.split('-')[3]);
    assert.match(h['uber-trace-id']!, new RegExp(`^${TRACE}:${span}:[0-9a-f]{16}:01$`));
    assert.equal(h['ot-tracer-traceid'], TRACE);
    assert.equal(h['ot-tracer-spanid'], span);
  });

  test("preserve answers in the client's format: W3C, B3 single, Jaeger; a 64-bit id is widened for W3C", async () => {
    let h = await upstreamHeaders(gw, '/default/x', { traceparent: `00-${TRACE}-${SPAN}-01` });
    assert.equal(W3C.exec(h.traceparent!)![1], TRACE);
    assert.equal(h['x-b3-traceid'], undefined, 'zipkin preserves the W3C format it was given');

    h = await upstreamHeaders(gw, '/default/x', { b3: `${TRACE64}-${SPAN}-1` });
    assert.match(h.b3!, new RegExp(`^${TRACE64}-[0-9a-f]{16}-1-[0-9a-f]{16}$`));

    h = await upstreamHeaders(gw, '/default/x', { 'uber-trace-id': `${TRACE64}:${SPAN}:0:1` });
    assert.match(h['uber-trace-id']!, new RegExp(`^${TRACE64}:[0-9a-f]{16}:[0-9a-f]{16}:01$`));

    h = await upstreamHeaders(gw, '/all/x', { 'uber-trace-id': `${TRACE64}%3A${SPAN}%3A0%3A1` });
    assert.equal(W3C.exec(h.traceparent!)![1], `${'0'.repeat(16)}${TRACE64}`, 'W3C needs 128 bits');

    // Nothing from the client: zipkin's default format, B3, with a new trace.
    h = await upstreamHeaders(gw, '/default/x');
    assert.match(h['x-b3-traceid']!, /^[0-9a-f]{32}$/);
  });

  test("malformed or hostile trace headers start a new trace instead of continuing the client's", async () => {
    for (const bad of [
      `ff-${TRACE}-${SPAN}-01`,
      `00-${'0'.repeat(32)}-${SPAN}-01`,
      `00-${TRACE}-${'0'.repeat(16)}-01`,
      `00-${TRACE.toUpperCase()}-${SPAN}-01`,
      `00-${TRACE}-${SPAN}-01-extra`,
      `00-${TRACE}-${SPAN}`,
      `01-${TRACE}-${SPAN}-01-${'a'.repeat(300)}`,
      // A byte 0xA0 (node's U+00A0) is not space around the value, as Kong's patterns read it.
      `00-${TRACE}-${SPAN}-01\u00a0`,
    ]) {
      const h = await upstreamHeaders(gw, '/all/x', { traceparent: bad });
      const m = W3C.exec(h.traceparent!);
      assert.ok(m, `a fresh traceparent for ${JSON.stringify(bad)}`);
      assert.notEqual(m[1], TRACE, JSON.stringify(bad));
    }
    const h = await upstreamHeaders(gw, '/all/x', { b3: `${TRACE}-${SPAN}-x` });
    assert.notEqual(h['x-b3-traceid'], TRACE);
  });

  test("the client's sampling decision is kept; sample_ratio 0 marks new traces unsampled", async () => {
    let h = await upstreamHeaders(gw, '/all/x', { traceparent: `00-${TRACE}-${SPAN}-00` });
    assert.equal(W3C.exec(h.traceparent!)![3], '00');
    assert.equal(h['x-b3-sampled'], '0');
    h = await upstreamHeaders(gw, '/never/x');
    assert.equal(W3C.exec(h.traceparent!)![3], '00');
    h = await upstreamHeaders(gw, '/never/x', { traceparent: `00-${TRACE}-${SPAN}-01` });
    assert.equal(W3C.exec(h.traceparent!)![3], '01', 'a sampled parent wins over the ratio');
  });

  test('clear removes the extracted headers; header_type ignore starts a new trace in default_header_type', async () => {
    let h = await upstreamHeaders(gw, '/cleared/x', { 'x-b3-traceid': TRACE, 'x-b3-spanid': SPAN });
    assert.equal(h['x-b3-traceid'], undefined);
    assert.equal(h['x-b3-spanid'], undefined);
    assert.equal(W3C.exec(h.traceparent!)![1], TRACE);
    h = await upstreamHeaders(gw, '/ignore/x', { traceparent: `00-${TRACE}-${SPAN}-01` });
    assert.notEqual(W3C.exec(h.traceparent!)![1], TRACE);
  });

  test('http_response_header_for_traceid gives the client the trace id', async () => {
    const res = await fetch(`${gw.url}/answered/x`, {
      headers: { traceparent: `00-${TRACE}-${SPAN}-01` },
      signal: AbortSignal.timeout(10_000),
    });
    assert.equal(res.status, 200);
    await res.arrayBuffer();
    assert.equal(res.headers.get('x-trace-id'), TRACE);
  });

  test("http_response_header_for_traceid names the trace of an unsampled request too, as Kong's header_filter", async () => {
    let res = await fetch(`${gw.url}/answered-unsampled/x`, { signal: AbortSignal.timeout(10_000) });
    const b3 = ((await res.json()) as { headers: Record<string, string> }).headers;
    assert.equal(b3['x-b3-sampled'], '0');
    assert.equal(res.headers.get('x-trace-id'), b3['x-b3-traceid']);
    res = await fetch(`${gw.url}/otel-unsampled/x`, { signal: AbortSignal.timeout(10_000) });
    const w3c = W3C.exec(((await res.json()) as { headers: Record<string, string> }).headers.traceparent!)!;
    assert.equal(w3c[3], '00');
    assert.equal(res.headers.get('x-trace-id'), w3c[1]);
  });

  test('a format Kong does not know is refused at load, located', async () => {
    await assert.rejects(
      startGateway({
        config: serviceConfig([
          { paths: ['/x'], plugins: [{ name: 'zipkin', config: { propagation: { inject: ['w3c', 'xray'] } } }] },
        ]),
      }),
      (err: Error & { issues?: { path: string; message: string }[] }) =>
        err.issues?.some((i) => i.path.endsWith('config.propagation.inject[1]')) === true,
    );
    await assert.rejects(
      startGateway({
        config: serviceConfig([{ paths: ['/x'], plugins: [{ name: 'opentelemetry', config: {} }] }]),
      }),
      (err: Error & { issues?: { message: string }[] }) =>
        err.issues?.some((i) => i.message.includes('traces_endpoint')) === true,
    );
  });
});

describe('the debug view (Kong-Debug: 1)', () => {
  let on: TestGateway;
  let off: TestGateway;
  const routes = [
    {
      name: 'keyed',
      paths: ['/keyed'],
      plugins: [
        { name: 'key-auth' },
        { name: 'correlation-id' },
        { name: 'zipkin', config: { sample_ratio: 0 } },
        { name: 'request-transformer', config: { add: { headers: ['x-seen:1'] } } },
      ],
    },
  ];
  const consumers = [{ username: 'alice', keyauth_credentials: [{ key: 'k-alice' }] }];

  before(async () => {
    on = await startServiceGateway(routes, { extra: { _tollgate: { debug_header: true }, consumers } });
    off = await startServiceGateway(routes, { extra: { consumers } });
  });
  after(async () => {
    await on?.close();
    await off?.close();
  });

  test('names the route, the service and the plugins that ran, only when asked and allowed', async () => {
    let res = await fetch(`${on.url}/keyed/x`, { headers: { 'kong-debug': '1', apikey: 'k-alice' } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('kong-route-name'), 'keyed');
    assert.match(res.headers.get('kong-route-id')!, /^[0-9a-f-]{36}$/);
    assert.equal(res.headers.get('kong-service-name'), 'echo');
    assert.match(res.headers.get('kong-service-id')!, /^[0-9a-f-]{36}$/);
    assert.equal(res.headers.get('tollgate-plugins'), 'correlation-id, zipkin, key-auth, request-transformer');

    // A refused request: request-transformer, after key-auth's answer, never ran.
    res = await fetch(`${on.url}/keyed/x`, { headers: { 'kong-debug': '1' } });
    assert.equal(res.status, 401);
    assert.equal(res.headers.get('kong-route-name'), 'keyed');
    assert.equal(res.headers.get('tollgate-plugins'), 'correlation-id, zipkin, key-auth');

    res = await fetch(`${on.url}/keyed/x`, { headers: { apikey: 'k-alice' } });
    assert.equal(res.headers.get('kong-route-name'), null, 'not asked');
    res = await fetch(`${off.url}/keyed/x`, { headers: { 'kong-debug': '1', apikey: 'k-alice' } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('kong-route-name'), null, 'not allowed by default');
    assert.equal(res.headers.get('tollgate-plugins'), null);
  });
});
