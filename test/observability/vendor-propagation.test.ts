// Kong's vendor trace formats (aws, datadog, gcp, instana) through a real gateway, a real upstream
// that records the headers it receives and a real OTLP collector: each format read from the client
// continues its trace (the upstream gets the same trace id in every injected format, the exported
// span carries it and the client's span as its parent); malformed values start a new trace; each
// format is written with Kong's exact values (X-Ray's Root split, Datadog's decimal low 64 bits,
// GCP's decimal span id); `preserve` and the legacy `header_type: preserve` answer in kind; Kong's
// documented example config loads.

import assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http';
import { after, before, describe, test } from 'node:test';
import type { TestGateway } from '../../src/testing/index.ts';
import { startServiceGateway } from '../support/gateway.ts';
import { type DecodedSpan, decodeTraceExport } from '../support/otlp.ts';
import { type Listening, listen, type RecordingUpstream, startRecordingUpstream } from '../support/upstream.ts';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN = '00f067aa0ba902b7';
// Kong's spec values: 8448eb211c80319c and b7ad6b7169203331 in decimal.
const TRACE64 = '8448eb211c80319c';
const TRACE64_DEC = '9532127138774266268';
const SPAN_B = 'b7ad6b7169203331';
const SPAN_B_DEC = '13235353014750950193';
const dec = (hex: string) => BigInt(`0x${hex}`).toString(10);
const AWS = /^Root=1-([0-9a-f]{8})-([0-9a-f]{24});Parent=([0-9a-f]{16});Sampled=([01])$/;
const GCP = /^([0-9a-f]{32})\/([0-9]{1,20});o=([01])$/;
const VENDORS = ['aws', 'datadog', 'gcp', 'instana'];

/** What the upstream received, read back in every vendor format. */
interface Seen {
  headers: IncomingHttpHeaders;
  aws: { traceId: string; spanId: string; sampled: string } | null;
  gcp: { traceId: string; spanId: string; sampled: string } | null;
}

function read(headers: IncomingHttpHeaders): Seen {
  const a = AWS.exec(String(headers['x-amzn-trace-id'] ?? ''));
  const g = GCP.exec(String(headers['x-cloud-trace-context'] ?? ''));
  return {
    headers,
    aws: a && { traceId: a[1]! + a[2]!, spanId: a[3]!, sampled: a[4]! },
    gcp: g && { traceId: g[1]!, spanId: BigInt(g[2]!).toString(16).padStart(16, '0'), sampled: g[3]! },
  };
}

describe('vendor trace formats: aws, datadog, gcp, instana', () => {
  let gw: TestGateway;
  let upstream: RecordingUpstream;
  let otlp: Listening;
  const exports: Buffer[] = [];

  before(async () => {
    upstream = await startRecordingUpstream();
    otlp = await listen((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        exports.push(Buffer.concat(chunks));
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    const zipkin = (config: Record<string, unknown>) => [{ name: 'zipkin', config: { sample_ratio: 1, ...config } }];
    gw = await startServiceGateway(
      [
        { name: 'all', paths: ['/all'], plugins: zipkin({ propagation: { extract: VENDORS, inject: VENDORS } }) },
        // Kong's legacy default: header_type preserve reads every format and answers in kind.
        { name: 'legacy', paths: ['/legacy'], plugins: zipkin({}) },
        {
          name: 'otel',
          paths: ['/otel'],
          plugins: [
            {
              name: 'opentelemetry',
              config: {
                traces_endpoint: `${otlp.url}/v1/traces`,
                sampling_rate: 1,
                // Kong's documented example.
                propagation: {
                  extract: ['b3', 'w3c', 'jaeger', 'ot', 'aws', 'datadog', 'gcp', 'instana'],
                  inject: ['preserve', 'w3c'],
                  default_format: 'w3c',
                },
              },
            },
          ],
        },
        { name: 'legacy-gcp', paths: ['/legacy-gcp'], plugins: zipkin({ header_type: 'gcp' }) },
        {
          name: 'legacy-ignore',
          paths: ['/legacy-ignore'],
          plugins: zipkin({ header_type: 'ignore', default_header_type: 'instana' }),
        },
        {
          name: 'by-default',
          paths: ['/by-default'],
          plugins: zipkin({ propagation: { extract: [], inject: ['preserve'], default_format: 'datadog' } }),
        },
      ],
      { name: 'orders', url: upstream.url },
    );
  });

  after(async () => {
    await gw?.close();
    await Promise.all([upstream?.close(), otlp?.close()]);
  });

  async function send(path: string, headers: Record<string, string>): Promise<Seen> {
    const before = upstream.requests.length;
    const res = await fetch(`${gw.url}${path}`, { headers, signal: AbortSignal.timeout(10_000) });
    assert.equal(res.status, 200);
    await res.arrayBuffer();
    assert.equal(upstream.requests.length, before + 1);
    return read(upstream.requests[before]!.headers);
  }

  /** Every vendor format the upstream got names one trace and one parent span. */
  function assertOneTrace(s: Seen, traceId: string, sampled: boolean): string {
    const t128 = traceId.padStart(32, '0');
    assert.ok(s.aws && s.gcp, JSON.stringify(s.headers));
    assert.equal(s.aws.traceId, t128);
    assert.equal(s.gcp.traceId, t128);
    const span = s.aws.spanId;
    assert.equal(s.gcp.spanId, span);
    assert.equal(s.headers['x-datadog-trace-id'], dec(traceId.slice(-16)), 'Datadog: the low 64 bits, in decimal');
    assert.equal(s.headers['x-datadog-parent-id'], dec(span));
    assert.equal(s.headers['x-instana-t'], traceId);
    assert.equal(s.headers['x-instana-s'], span);
    const flag = sampled ? '1' : '0';
    assert.deepEqual(
      [s.aws.sampled, s.gcp.sampled, s.headers['x-datadog-sampling-priority'], s.headers['x-instana-l']],
      [flag, flag, flag, flag],
    );
    return span;
  }

  test('X-Amzn-Trace-Id in (fields in any order, spaced, extra keys): the trace goes on in every format', async () => {
    const h = `Self=1-67891234-12456789abcdef012345678;  Parent = ${SPAN} ; Root=1-${TRACE.slice(0, 8)}-${TRACE.slice(8)};Sampled=1`;
    const s = await send('/all/x', { 'x-amzn-trace-id': h });
    const span = assertOneTrace(s, TRACE, true);
    assert.notEqual(span, SPAN, "the upstream's parent is the gateway's span");
    // Upper-case hex is read as Kong's %x reads it.
    const upper = await send('/all/x', {
      'x-amzn-trace-id': `Root=1-${TRACE.slice(0, 8).toUpperCase()}-${TRACE.slice(8)}`,
    });
    assertOneTrace(upper, TRACE, true);
  });

  test('Datadog in: decimal ids, a 64-bit id kept 64-bit, a 128-bit one cut to its low 64 bits for Datadog', async () => {
    let s = await send('/all/x', {
      'x-datadog-trace-id': TRACE64_DEC,
      'x-datadog-parent-id': SPAN_B_DEC,
      'x-datadog-sampling-priority': '2',
    });
    assertOneTrace(s, TRACE64, true);
    assert.equal(s.headers['x-datadog-trace-id'], TRACE64_DEC);
    // Kong's spec value fffffffffffffffffffffffffffffff1 as a decimal 128-bit id.
    const big = 'fffffffffffffffffffffffffffffff1';
    s = await send('/all/x', { 'x-datadog-trace-id': ` ${dec(big)} `, 'x-datadog-sampling-priority': '-1' });
    assertOneTrace(s, big, false);
    // A trace id under 2^56 is not 8 bytes: Kong widens it to 128 bits for the injectors that take both.
    s = await send('/all/x', { 'x-datadog-trace-id': '000012345' });
    assertOneTrace(s, (12345).toString(16).padStart(32, '0'), true);
    assert.equal(s.headers['x-datadog-trace-id'], '12345');
    // A sampling priority alone: a new trace, with the client's decision.
    s = await send('/all/x', { 'x-datadog-parent-id': SPAN_B_DEC, 'x-datadog-sampling-priority': '0' });
    assert.ok(s.aws);
    assertOneTrace(s, s.aws.traceId, false);
  });

  test('X-Cloud-Trace-Context in: hex trace, decimal span; only o=1 says sampled, as Kong', async () => {
    let s = await send('/all/x', { 'x-cloud-trace-context': `${TRACE}/${SPAN_B_DEC};o=1` });
    assert.notEqual(assertOneTrace(s, TRACE, true), SPAN_B);
    s = await send('/all/x', { 'x-cloud-trace-context': `${TRACE}/${SPAN_B_DEC}` });
    assertOneTrace(s, TRACE, false);
  });

  test('X-INSTANA-T/S/L in: a 64-bit trace id stays 64-bit for Instana; no X-INSTANA-L is not sampled, as Kong', async () => {
    let s = await send('/all/x', {
      'x-instana-t': TRACE64,
      'x-instana-s': 'abc',
      'x-instana-l': '1,correlationType=web',
    });
    assertOneTrace(s, TRACE64, true);
    s = await send('/all/x', { 'x-instana-t': TRACE, 'x-instana-s': SPAN });
    assertOneTrace(s, TRACE, false);
  });

  test('malformed vendor headers are ignored: a new trace starts', async () => {
    const root = `1-${TRACE.slice(0, 8)}-${TRACE.slice(8)}`;
    const cases: Record<string, string>[] = [
      // The whole header is discarded, its Sampled=0 with it (the gateway's sample_ratio 1 decides).
      { 'x-amzn-trace-id': `Root=0-${TRACE.slice(0, 8)}-${TRACE.slice(8)};Parent=${SPAN};Sampled=0` },
      { 'x-amzn-trace-id': `Root=1-${TRACE.slice(0, 8)}-${TRACE.slice(8, 30)}` },
      { 'x-amzn-trace-id': `Root=1-${TRACE}` },
      { 'x-amzn-trace-id': `Root=${root};Parent=zzzzzzzzzzzzzzzz` },
      { 'x-amzn-trace-id': `Root=${root};Parent=123` },
      { 'x-amzn-trace-id': `Root=${root};Sampled=2` },
      { 'x-amzn-trace-id': `Root=1-00000000-${'0'.repeat(24)}` },
      { 'x-amzn-trace-id': `Root=${root};${'x'.repeat(300)}` },
      { 'x-datadog-trace-id': TRACE64 },
      { 'x-datadog-trace-id': '0' },
      { 'x-datadog-trace-id': '340282366920938463463374607431768211456' }, // 2^128
      { 'x-datadog-trace-id': '1'.repeat(2_000) },
      { 'x-datadog-trace-id': TRACE64_DEC, 'x-datadog-sampling-priority': 'yes' },
      { 'x-cloud-trace-context': `${TRACE.toUpperCase()}/${SPAN_B_DEC};o=1` },
      { 'x-cloud-trace-context': `${TRACE}/${SPAN_B};o=1` },
      { 'x-cloud-trace-context': `${TRACE}/${SPAN_B_DEC}0;o=1` },
      { 'x-cloud-trace-context': `${TRACE}/18446744073709551616;o=1` }, // 2^64
      { 'x-cloud-trace-context': `${TRACE}/${SPAN_B_DEC};o=01` },
      { 'x-cloud-trace-context': `${TRACE}/0;o=1` },
      { 'x-instana-t': 'abc', 'x-instana-s': SPAN },
      { 'x-instana-t': `${TRACE}ab`, 'x-instana-s': SPAN },
      { 'x-instana-t': TRACE },
      { 'x-instana-t': TRACE, 'x-instana-s': `${SPAN}ab` },
      { 'x-instana-t': TRACE, 'x-instana-s': 'zz' },
    ];
    for (const headers of cases) {
      const s = await send('/all/x', headers);
      assert.ok(s.aws, JSON.stringify(headers));
      const id = s.aws.traceId;
      assert.ok(
        !id.endsWith(TRACE64) && id !== TRACE && id !== '0'.repeat(32),
        `a new trace for ${JSON.stringify(headers)}`,
      );
      assertOneTrace(s, id, true);
    }
  });

  test("preserve answers in the client's vendor format, and only in it (legacy header_type preserve too)", async () => {
    // [the format's first header, the one that carries the span, what the client sends]
    const clients: [string, string, Record<string, string>][] = [
      [
        'x-amzn-trace-id',
        'x-amzn-trace-id',
        { 'x-amzn-trace-id': `Root=1-${TRACE.slice(0, 8)}-${TRACE.slice(8)};Parent=${SPAN}` },
      ],
      [
        'x-datadog-trace-id',
        'x-datadog-parent-id',
        { 'x-datadog-trace-id': TRACE64_DEC, 'x-datadog-parent-id': SPAN_B_DEC },
      ],
      ['x-cloud-trace-context', 'x-cloud-trace-context', { 'x-cloud-trace-context': `${TRACE}/${SPAN_B_DEC};o=1` }],
      ['x-instana-t', 'x-instana-s', { 'x-instana-t': TRACE, 'x-instana-s': SPAN, 'x-instana-l': '1' }],
    ];
    for (const path of ['/legacy/x', '/otel/x']) {
      for (const [header, spanHeader, headers] of clients) {
        const s = await send(path, headers);
        assert.ok(s.headers[spanHeader], `${path}: ${header} in, ${spanHeader} out`);
        assert.notEqual(s.headers[spanHeader], headers[spanHeader], `${path}: the gateway's span, not the client's`);
        if (s.aws) assert.equal(s.aws.traceId, TRACE);
        if (s.gcp) assert.equal(s.gcp.traceId, TRACE);
        if (header === 'x-datadog-trace-id') assert.equal(s.headers['x-datadog-trace-id'], TRACE64_DEC);
        if (header === 'x-instana-t') assert.equal(s.headers['x-instana-t'], TRACE);
        assert.equal(s.headers['x-b3-traceid'], undefined, `${path}: not zipkin's B3 default`);
        for (const other of clients.map(([h]) => h).filter((h) => h !== header)) {
          assert.equal(s.headers[other], undefined, `${path}: ${header} in, no ${other} out`);
        }
      }
    }
    // Nothing from the client: default_format, in a vendor format.
    const s = await send('/by-default/x', {});
    assert.match(String(s.headers['x-datadog-trace-id']), /^[0-9]{1,20}$/);
    assert.match(String(s.headers['x-datadog-parent-id']), /^[0-9]{1,20}$/);
  });

  test("Kong's legacy header_type and default_header_type take the vendor names", async () => {
    // header_type gcp: the client's format (B3) and GCP.
    let s = await send('/legacy-gcp/x', { 'x-b3-traceid': TRACE, 'x-b3-spanid': SPAN, 'x-b3-sampled': '0' });
    assert.equal(s.headers['x-b3-traceid'], TRACE);
    assert.deepEqual(s.gcp, { traceId: TRACE, spanId: s.headers['x-b3-spanid'], sampled: '0' });
    // header_type ignore: a new trace, written in default_header_type.
    s = await send('/legacy-ignore/x', { 'x-instana-t': TRACE, 'x-instana-s': SPAN, 'x-instana-l': '1' });
    assert.match(String(s.headers['x-instana-t']), /^[0-9a-f]{32}$/);
    assert.notEqual(s.headers['x-instana-t'], TRACE);
    assert.notEqual(s.headers['x-instana-s'], SPAN);
  });

  test("the exported OTLP span carries the vendor trace id and the client's span as its parent", async () => {
    const clients: [Record<string, string>, string, string][] = [
      [{ 'x-amzn-trace-id': `Root=1-${TRACE.slice(0, 8)}-${TRACE.slice(8)};Parent=${SPAN};Sampled=1` }, TRACE, SPAN],
      [{ 'x-datadog-trace-id': TRACE64_DEC, 'x-datadog-parent-id': SPAN_B_DEC }, TRACE64.padStart(32, '0'), SPAN_B],
      [{ 'x-cloud-trace-context': `3${TRACE.slice(1)}/${SPAN_B_DEC};o=1` }, `3${TRACE.slice(1)}`, SPAN_B],
      [{ 'x-instana-t': `5${TRACE.slice(1)}`, 'x-instana-s': SPAN, 'x-instana-l': '1' }, `5${TRACE.slice(1)}`, SPAN],
    ];
    for (const [headers] of clients) await send('/otel/x', headers);
    const spans = (): DecodedSpan[] => exports.flatMap((b) => decodeTraceExport(b));
    const deadline = Date.now() + 10_000;
    while (!clients.every(([, t]) => spans().some((sp) => sp.traceId === t && sp.name === 'kong'))) {
      if (Date.now() > deadline) throw new Error(`exported traces: ${[...new Set(spans().map((sp) => sp.traceId))]}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    for (const [headers, traceId, parent] of clients) {
      const root = spans().find((sp) => sp.traceId === traceId && sp.name === 'kong')!;
      assert.equal(root.parentSpanId, parent, `the client's span is the parent: ${JSON.stringify(headers)}`);
    }
  });
});
