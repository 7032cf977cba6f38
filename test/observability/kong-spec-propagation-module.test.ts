// Kong's unit spec of its propagation module, spec/01-unit/26-observability/
// 03-propagation_module_spec.lua at Kong commit 22246ef2, through a real gateway: each of its
// `propagation` configs on a route of its own (an opentelemetry instance), Kong's request headers
// sent, and the headers the upstream gets (the echo upstream answers with them) compared with
// Kong's expected ones. Kong's spec changes the ids in a callback, as a tracing plugin does; here
// the gateway's own span is injected, so its span ids are the gateway's and only the trace id and
// the sampling decision are Kong's values. A header the config does not touch must arrive as sent.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { TestGateway } from '../../src/testing/index.ts';
import { startServiceGateway } from '../support/gateway.ts';

const DEAD = 'http://127.0.0.1:9/v1/traces';
const T16_W3C = '0af7651916cd43dd8448eb211c80319c';
const S_W3C = 'b7ad6b7169203331';
const T16_B3 = 'dc9d1b0ccedf0ecaf4f26ffab84d4f5e';
const T8_B3 = 'f4f26ffab84d4f5e';
const S_B3 = 'b7ad6b7169203332';
const SP_B3 = 'f4f26ffab84d4f5f';
const T16_JAE = 'f744b23fe9aa64f08255043ba51848db';
const S_JAE = 'f4f26ffab84d4f60';
const SP_JAE = 'f4f26ffab84d4f61';

const HEADERS_1: Record<string, string> = {
  traceparent: `00-${T16_W3C}-${S_W3C}-01`,
  'x-b3-traceid': T16_B3,
  'x-b3-spanid': S_B3,
  'x-b3-sampled': '1',
  'x-b3-parentspanid': SP_B3,
  'uber-trace-id': `${T16_JAE}:${S_JAE}:${SP_JAE}:01`,
};
const HEADERS_2: Record<string, string> = {
  'x-b3-traceid': T8_B3,
  'x-b3-spanid': S_B3,
  'x-b3-sampled': '1',
  'x-b3-parentspanid': SP_B3,
};
const TRACING = [
  ...Object.keys(HEADERS_1),
  'b3',
  'x-datadog-trace-id',
  'x-datadog-parent-id',
  'x-datadog-sampling-priority',
  'ot-tracer-traceid',
  'ot-tracer-spanid',
  'ot-tracer-sampled',
];
const SPAN = '[0-9a-f]{16}';
const low64dec = (hex: string) => BigInt(`0x${hex.slice(-16)}`).toString(10);

interface Case {
  name: string;
  propagation: Record<string, unknown>;
  sent?: Record<string, string>;
  /** The tracing headers the upstream must get: a string as is, a RegExp matched; absent ones must be absent. */
  expected: (seen: Record<string, string>) => Record<string, string | RegExp>;
}

/** The trace id of the traceparent the upstream got (a new trace's, where nothing was extracted). */
const tp = (seen: Record<string, string>) => seen.traceparent!.slice(3, 35);

const CASES: Case[] = [
  {
    name: 'extract empty, inject empty (propagation disabled)',
    propagation: { extract: [], inject: [] },
    expected: () => HEADERS_1,
  },
  {
    name: 'extract = ignore, inject single header',
    propagation: { extract: [], inject: ['w3c'] },
    expected: () => ({ ...HEADERS_1, traceparent: new RegExp(`^00-(?!${T16_W3C})[0-9a-f]{32}-${SPAN}-01$`) }),
  },
  {
    name: 'extract = ignore, inject multiple headers',
    propagation: { extract: [], inject: ['w3c', 'b3-single'] },
    expected: (seen) => ({
      ...HEADERS_1,
      traceparent: new RegExp(`^00-(?!${T16_W3C})[0-9a-f]{32}-${SPAN}-01$`),
      b3: new RegExp(`^${tp(seen)}-${SPAN}-1(-${SPAN})?$`),
    }),
  },
  {
    name: 'extract = ignore, inject = preserve, no default setting',
    propagation: { extract: [], inject: ['preserve'] },
    expected: () => ({ ...HEADERS_1, traceparent: new RegExp(`^00-(?!${T16_W3C})[0-9a-f]{32}-${SPAN}-01$`) }),
  },
  {
    name: 'extract = ignore, inject = preserve, uses default format',
    propagation: { extract: [], inject: ['preserve'], default_format: 'datadog' },
    expected: () => ({
      ...HEADERS_1,
      'x-datadog-trace-id': /^[0-9]+$/,
      'x-datadog-parent-id': /^[0-9]+$/,
      'x-datadog-sampling-priority': '1',
    }),
  },
  {
    // Kong's OT injector writes a trace id of no known size in 8 bytes.
    name: 'extract configured with header not found in request, inject = preserve, uses default format',
    propagation: { extract: ['datadog'], inject: ['preserve'], default_format: 'ot' },
    expected: () => ({
      ...HEADERS_1,
      'ot-tracer-sampled': '1',
      'ot-tracer-spanid': new RegExp(`^${SPAN}$`),
      'ot-tracer-traceid': new RegExp(`^${SPAN}$`),
    }),
  },
  {
    name: 'extract configured with header found in request, inject = preserve + other formats',
    propagation: { extract: ['b3', 'w3c', 'jaeger'], inject: ['w3c', 'preserve', 'b3-single'] },
    expected: () => ({
      ...HEADERS_1,
      traceparent: new RegExp(`^00-${T16_B3}-${SPAN}-01$`),
      'x-b3-traceid': T16_B3,
      'x-b3-spanid': new RegExp(`^${SPAN}$`),
      'x-b3-sampled': '1',
      'x-b3-parentspanid': new RegExp(`^${SPAN}$`),
      b3: new RegExp(`^${T16_B3}-${SPAN}-1-${SPAN}$`),
    }),
  },
  {
    name: 'extract configured with header formats, injection disabled',
    propagation: { extract: ['gcp', 'aws', 'ot', 'datadog', 'b3', 'w3c', 'jaeger'], inject: [] },
    expected: () => HEADERS_1,
  },
  {
    name: 'extract configured with header formats, b3 first',
    propagation: { extract: ['b3', 'w3c', 'jaeger'], inject: ['w3c'] },
    expected: () => ({ ...HEADERS_1, traceparent: new RegExp(`^00-${T16_B3}-${SPAN}-01$`) }),
  },
  {
    name: 'extract configured with header formats, w3c first',
    propagation: { extract: ['w3c', 'b3', 'jaeger'], inject: ['w3c'] },
    expected: () => ({ ...HEADERS_1, traceparent: new RegExp(`^00-${T16_W3C}-${SPAN}-01$`) }),
  },
  {
    name: 'extract configured with header formats, missing first header',
    propagation: { extract: ['datadog', 'jaeger', 'b3'], inject: ['w3c'] },
    expected: () => ({ ...HEADERS_1, traceparent: new RegExp(`^00-${T16_JAE}-${SPAN}-01$`) }),
  },
  {
    name: 'extract configured with header formats, multiple injection',
    propagation: { extract: ['w3c', 'b3', 'jaeger'], inject: ['datadog', 'w3c'] },
    expected: () => ({
      ...HEADERS_1,
      traceparent: new RegExp(`^00-${T16_W3C}-${SPAN}-01$`),
      'x-datadog-trace-id': low64dec(T16_W3C),
      'x-datadog-parent-id': /^[0-9]+$/,
      'x-datadog-sampling-priority': '1',
    }),
  },
  {
    name: 'extract = b3, 64b id, inject = b3 and w3c',
    propagation: { extract: ['b3'], inject: ['w3c', 'b3'] },
    sent: HEADERS_2,
    expected: () => ({
      traceparent: new RegExp(`^00-0{16}${T8_B3}-${SPAN}-01$`),
      'x-b3-traceid': T8_B3, // 64 bits, as it came
      'x-b3-spanid': new RegExp(`^${SPAN}$`),
      'x-b3-sampled': '1',
      'x-b3-parentspanid': new RegExp(`^${SPAN}$`),
    }),
  },
  {
    name: 'extract = b3, 128b id, inject = b3 and w3c',
    propagation: { extract: ['b3'], inject: ['w3c', 'b3'] },
    expected: () => ({
      ...HEADERS_1,
      traceparent: new RegExp(`^00-${T16_B3}-${SPAN}-01$`),
      'x-b3-traceid': T16_B3,
      'x-b3-spanid': new RegExp(`^${SPAN}$`),
      'x-b3-sampled': '1',
      'x-b3-parentspanid': new RegExp(`^${SPAN}$`),
    }),
  },
  {
    name: 'extract configured with header formats, inject = preserve (matches jaeger)',
    propagation: { extract: ['datadog', 'jaeger', 'b3'], inject: ['preserve'] },
    expected: () => ({
      ...HEADERS_1,
      'uber-trace-id': new RegExp(`^${T16_JAE}:${SPAN}:${SPAN}:1$|^${T16_JAE}:${SPAN}:${SPAN}:01$`),
    }),
  },
  {
    name: 'clear = b3 and w3c',
    propagation: {
      extract: ['datadog', 'jaeger', 'b3', 'w3c'],
      inject: ['preserve'],
      clear: ['x-b3-traceid', 'x-b3-spanid', 'x-b3-sampled', 'x-b3-parentspanid', 'traceparent'],
    },
    expected: () => ({ 'uber-trace-id': new RegExp(`^${T16_JAE}:${SPAN}:${SPAN}:0?1$`) }),
  },
];

describe("Kong's propagation module, as the upstream sees it", () => {
  let gw: TestGateway;

  before(async () => {
    gw = await startServiceGateway(
      CASES.map((c, i) => ({
        name: `p${i}`,
        paths: [`/p${i}`],
        plugins: [
          { name: 'opentelemetry', config: { traces_endpoint: DEAD, sampling_rate: 1, propagation: c.propagation } },
        ],
      })),
    );
  });
  after(() => gw?.close());

  CASES.forEach((c, i) => {
    test(`"${c.name}" updates headers correctly`, async () => {
      const res = await fetch(`${gw.url}/p${i}`, { headers: c.sent ?? HEADERS_1 });
      assert.equal(res.status, 200);
      const { headers } = (await res.json()) as { headers: Record<string, string> };
      const seen = Object.fromEntries(TRACING.filter((h) => headers[h] !== undefined).map((h) => [h, headers[h]!]));
      const expected = c.expected(seen);
      assert.deepEqual(Object.keys(seen).sort(), Object.keys(expected).sort());
      for (const [name, want] of Object.entries(expected)) {
        if (typeof want === 'string') assert.equal(seen[name], want, name);
        else assert.match(seen[name]!, want, name);
      }
    });
  });
});
