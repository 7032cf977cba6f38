// The injector half of Kong's spec/01-unit/26-observability/02-propagation_strategies_spec.lua
// (Kong commit 22246ef2) through a real gateway: one route injects every format Kong writes, and
// the headers the upstream gets (the echo upstream answers with them) are checked against Kong's
// "injects tracing context" cases: each format's layout and sampled flag ("base case", "sampled =
// false"), an incoming 8-byte trace id kept at 8 bytes by the formats that take 64 or 128 bits and
// padded by the others ("8-byte trace ID", "8B trace id"), and each injector's size for a trace of
// no incoming size ("default injection size is 16B" or "8B"), and B3's debug flag. Span ids are
// the gateway's own. Kong's "injector context is invalid" cases (a context without a trace or span
// id) have no counterpart: the gateway always injects a span of a trace.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { TestGateway } from '../../src/testing/index.ts';
import { startServiceGateway } from '../support/gateway.ts';

const DEAD = 'http://127.0.0.1:9/v1/traces';
const T16 = '0af7651916cd43dd8448eb211c80319c';
const T8 = '8448eb211c80319c';
const S1 = 'b7ad6b7169203331';
const INJECT = ['w3c', 'b3', 'b3-single', 'jaeger', 'ot', 'datadog', 'aws', 'gcp', 'instana'];
const SPAN = '[0-9a-f]{16}';
const dec = (hex: string) => BigInt(`0x${hex}`).toString(10);

/** Every injected header, as Kong's injectors write it for trace id `t` (hex) and flag `s` ('1' or '0'). */
function expected(t16: string, t32: string, s: '0' | '1'): Record<string, RegExp> {
  return {
    traceparent: new RegExp(`^00-${t32}-${SPAN}-0${s}$`),
    'x-b3-traceid': new RegExp(`^${t16}$`),
    'x-b3-spanid': new RegExp(`^${SPAN}$`),
    'x-b3-parentspanid': new RegExp(`^${SPAN}$`),
    'x-b3-sampled': new RegExp(`^${s}$`),
    b3: new RegExp(`^${t16}-${SPAN}-${s}-${SPAN}$`),
    'uber-trace-id': new RegExp(`^${t16}:${SPAN}:${SPAN}:0${s}$`),
    'x-datadog-trace-id': new RegExp(`^${dec(t32.slice(-16))}$`),
    'x-datadog-parent-id': /^[0-9]{1,20}$/,
    'x-datadog-sampling-priority': new RegExp(`^${s}$`),
    'x-amzn-trace-id': new RegExp(`^Root=1-${t32.slice(0, 8)}-${t32.slice(8)};Parent=${SPAN};Sampled=${s}$`),
    'x-cloud-trace-context': new RegExp(`^${t32}/[0-9]{1,20};o=${s}$`),
    'x-instana-t': new RegExp(`^${t16}$`),
    'x-instana-s': new RegExp(`^${SPAN}$`),
    'x-instana-l': new RegExp(`^${s}$`),
  };
}

describe("Kong's propagation injectors, as the upstream sees them", () => {
  let gw: TestGateway;

  before(async () => {
    gw = await startServiceGateway([
      {
        name: 'all',
        paths: ['/all'],
        plugins: [
          {
            name: 'opentelemetry',
            config: {
              traces_endpoint: DEAD,
              sampling_rate: 1,
              propagation: { extract: ['w3c', 'b3'], inject: INJECT },
            },
          },
        ],
      },
    ]);
  });
  after(() => gw?.close());

  async function upstreamHeaders(sent: Record<string, string>): Promise<Record<string, string>> {
    const res = await fetch(`${gw.url}/all`, { headers: sent });
    assert.equal(res.status, 200);
    return ((await res.json()) as { headers: Record<string, string> }).headers;
  }

  function check(seen: Record<string, string>, want: Record<string, RegExp>, ot: RegExp): void {
    for (const [name, pattern] of Object.entries(want)) assert.match(seen[name] ?? '(absent)', pattern, name);
    assert.match(seen['ot-tracer-traceid'] ?? '(absent)', ot, 'ot-tracer-traceid');
    assert.match(seen['ot-tracer-spanid'] ?? '(absent)', new RegExp(`^${SPAN}$`));
  }

  test('"base case": a 16-byte sampled trace in every format, at 16 bytes (Datadog its low 8, in decimal)', async () => {
    const seen = await upstreamHeaders({ traceparent: `00-${T16}-${S1}-01` });
    check(seen, expected(T16, T16, '1'), new RegExp(`^${T16}$`));
    assert.equal(seen['ot-tracer-sampled'], '1');
  });

  test('"sampled = false" and "8-byte trace ID": 8 bytes kept by b3, jaeger, ot and instana, padded by the others', async () => {
    const seen = await upstreamHeaders({ 'x-b3-traceid': T8, 'x-b3-spanid': S1, 'x-b3-sampled': '0' });
    check(seen, expected(T8, `${'0'.repeat(16)}${T8}`, '0'), new RegExp(`^${T8}$`));
    assert.equal(seen['ot-tracer-sampled'], '0');
  });

  test('"sampled set via flags", "all fields, debug": B3\'s debug flag as Kong writes it in each format', async () => {
    const seen = await upstreamHeaders({ 'x-b3-traceid': T16, 'x-b3-spanid': S1, 'x-b3-flags': '1' });
    // B3 multi: X-B3-Flags instead of X-B3-Sampled; B3 single: `d`; every other format: sampled,
    // Jaeger's flags included ("01": Kong's Jaeger injector writes the sampled bit alone).
    const want = expected(T16, T16, '1');
    delete want['x-b3-sampled'];
    want.b3 = new RegExp(`^${T16}-${SPAN}-d-${SPAN}$`);
    check(seen, want, new RegExp(`^${T16}$`));
    assert.equal(seen['x-b3-flags'], '1');
    assert.equal(seen['x-b3-sampled'], undefined);
  });

  test('"default injection size": a trace the gateway starts is 16 bytes, 8 for OT and Datadog', async () => {
    const seen = await upstreamHeaders({});
    const trace = /^00-([0-9a-f]{32})-/.exec(seen.traceparent ?? '')?.[1];
    assert.ok(trace !== undefined, seen.traceparent);
    check(seen, expected(trace, trace, '1'), new RegExp(`^${trace.slice(16)}$`));
  });
});
