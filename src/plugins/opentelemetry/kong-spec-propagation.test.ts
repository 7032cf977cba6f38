// Kong's spec/03-plugins/37-opentelemetry/03-propagation_spec.lua (Kong commit 22246ef2), as the
// upstream sees it (the echo upstream answers with the headers it received): the same routes in
// Kong's legacy spelling (`header_type`) and its `propagation` record, at sampling rate 1 and 0.
// Kong's rate is kong.conf's `tracing_sampling_rate`; Tollgate has no kong.conf, so the plugin's
// `sampling_rate` stands for it. Kong's `tracing_instrumentations = off` runs have no Tollgate
// counterpart (its spans are always made) and are not ported.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { startServiceGateway } from '../../../test/support/gateway.ts';
import { decodeTraceExport } from '../../../test/support/otlp.ts';
import { until } from '../../../test/support/wait.ts';
import type { TestGateway } from '../../testing/index.ts';

const traceId = () => randomBytes(16).toString('hex');
const spanId = () => randomBytes(8).toString('hex');
const ALL = ['b3', 'w3c', 'jaeger', 'ot', 'datadog', 'aws', 'gcp', 'instana'];
const DEAD = 'http://127.0.0.1:9/v1/traces';

/** Kong's setup_otel_old_propagation and setup_otel_new_propagation, by route kind. */
const OLD: Record<string, Record<string, unknown>> = {
  route: {},
  ignore: { header_type: 'ignore' },
  w3c: { header_type: 'w3c' },
  dd: { header_type: 'datadog' },
  b3single: { header_type: 'b3-single' },
  ins: { header_type: 'instana' },
};
const NEW: Record<string, Record<string, unknown>> = {
  route: { propagation: { extract: ALL, inject: ['preserve'], default_format: 'w3c' } },
  ignore: { propagation: { extract: [], inject: ['preserve'], default_format: 'w3c' } },
  w3c: { propagation: { extract: ALL, inject: ['preserve', 'w3c'], default_format: 'w3c' } },
  dd: { propagation: { extract: ALL, inject: ['preserve', 'datadog'], default_format: 'datadog' } },
  b3single: { propagation: { extract: ALL, inject: ['preserve', 'b3-single'], default_format: 'w3c' } },
  ins: { propagation: { extract: ALL, inject: ['preserve', 'instana'], default_format: 'instana' } },
  // the legacy field is ignored once the record is set
  nopreserve: { header_type: 'preserve', propagation: { extract: ['b3'], inject: ['w3c'], default_format: 'w3c' } },
  clear: {
    propagation: {
      extract: ['w3c', 'ot'],
      inject: ['preserve'],
      clear: ['ot-tracer-traceid', 'ot-tracer-spanid', 'ot-tracer-sampled'],
      default_format: 'b3',
    },
  },
};

let gw: TestGateway;
/** A collector on loopback: each export's protobuf body, in arrival order. */
const exports: Buffer[] = [];
const collector = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    exports.push(Buffer.concat(chunks));
    res.end();
  });
});

before(async () => {
  await new Promise<void>((r) => collector.listen(0, '127.0.0.1', () => r()));
  const endpoint = `http://127.0.0.1:${(collector.address() as AddressInfo).port}/v1/traces`;
  const routes: Record<string, unknown>[] = [];
  const otel = (config: Record<string, unknown>) => [
    { name: 'opentelemetry', config: { traces_endpoint: DEAD, ...config } },
  ];
  for (const rate of [1, 0]) {
    for (const [style, kinds] of [
      ['old', OLD],
      ['new', NEW],
    ] as const) {
      for (const [kind, config] of Object.entries(kinds)) {
        const name = `${style}${rate}-${kind}`;
        routes.push({ name, paths: [`/${name}`], plugins: otel({ sampling_rate: rate, ...config }) });
      }
    }
  }
  for (const rate of [1, 0, 0.5]) {
    const name = `dynamic-${String(rate).replace('.', '')}`;
    routes.push({ name, paths: [`/${name}`], plugins: otel({ sampling_rate: rate }) });
  }
  routes.push({
    name: 'exported',
    paths: ['/exported'],
    plugins: [
      {
        name: 'opentelemetry',
        config: { traces_endpoint: endpoint, sampling_rate: 1, queue: { max_coalescing_delay: 0.01 } },
      },
    ],
  });
  gw = await startServiceGateway(routes);
});

after(async () => {
  await gw?.close();
  collector.closeAllConnections();
  await new Promise<void>((r) => collector.close(() => r()));
});

async function upstream(path: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${gw.url}${path}`, { headers, signal: AbortSignal.timeout(10_000) });
  assert.equal(res.status, 200);
  return ((await res.json()) as { headers: Record<string, string | undefined> }).headers;
}

const hex = '[0-9a-f]+';

for (const rate of [1, 0]) {
  for (const style of ['old', 'new'] as const) {
    const w3cFlag = rate === 1 ? '01' : '00';
    const b3Flag = rate === 1 ? '1' : '0';
    const at = (kind: string) => `/${style}${rate}-${kind}`;
    describe(`propagation sampling_rate: ${rate} propagation config: ${style}`, () => {
      test('default propagation headers (w3c)', async () => {
        const h = await upstream(at('route'));
        assert.match(h.traceparent!, new RegExp(`^00-${hex}-${hex}-${w3cFlag}$`));
      });

      test('propagates tracing headers (b3 request)', async () => {
        const t = traceId();
        const h = await upstream(at('route'), { 'x-b3-sampled': '1', 'x-b3-traceid': t });
        assert.equal(h['x-b3-traceid'], t);
      });

      test('b3-single request with parent_id', async () => {
        const t = traceId();
        const h = await upstream(at('route'), { b3: `${t}-${spanId()}-1-${spanId()}` });
        assert.match(h.b3!, new RegExp(`^${t}-${hex}-${b3Flag}-${hex}$`));
      });

      test('b3-single request without parent_id', async () => {
        const t = traceId();
        const h = await upstream(at('route'), { b3: `${t}-${spanId()}-1` });
        assert.match(h.b3!, new RegExp(`^${t}-${hex}-${b3Flag}`));
      });

      test('reflects the disabled sampled flag of the incoming tracing header', async () => {
        const t = traceId();
        const h = await upstream(at('route'), { b3: `${t}-${spanId()}-0` });
        assert.match(h.b3!, new RegExp(`^${t}-${hex}-0`));
      });

      test('propagates w3c tracing headers', async () => {
        const t = traceId();
        const h = await upstream(at('route'), { traceparent: `00-${t}-${spanId()}-01` });
        assert.match(h.traceparent!, new RegExp(`^00-${t}-${hex}-${w3cFlag}$`));
      });

      test('defaults to w3c without propagating when header_type set to ignore and w3c headers sent', async () => {
        const t = traceId();
        const h = await upstream(at('ignore'), { traceparent: `00-${t}-${spanId()}-01` });
        assert.match(h.traceparent!, W3C);
        assert.notEqual(h.traceparent!.split('-')[1], t);
      });

      test('defaults to w3c without propagating when header_type set to ignore and b3 headers sent', async () => {
        const t = traceId();
        const h = await upstream(at('ignore'), { 'x-b3-sampled': '1', 'x-b3-traceid': t });
        assert.match(h.traceparent!, W3C);
        assert.notEqual(h.traceparent!.split('-')[1], t);
      });

      test('propagates w3c tracing headers when header_type set to w3c', async () => {
        const t = traceId();
        const h = await upstream(at('w3c'), { traceparent: `00-${t}-${spanId()}-01` });
        assert.match(h.traceparent!, new RegExp(`^00-${t}-${hex}-${w3cFlag}$`));
      });

      test('propagates w3c tracing headers + incoming format (preserve + w3c)', async () => {
        const t = traceId();
        const sent = `${t}-${spanId()}-${b3Flag}-${spanId()}`;
        const h = await upstream(at('w3c'), { b3: sent });
        assert.match(h.traceparent!, new RegExp(`^00-${t}-${hex}-${w3cFlag}$`));
        assert.notEqual(h.b3, sent);
        assert.match(h.b3!, new RegExp(`^${t}-${hex}-${b3Flag}-${hex}$`));
      });

      test('propagates b3-single tracing headers when header_type set to b3-single', async () => {
        const t = traceId();
        const sent = `${t}-${spanId()}-${b3Flag}-${spanId()}`;
        const h = await upstream(at('b3single'), { b3: sent });
        assert.notEqual(h.b3, sent);
        assert.match(h.b3!, new RegExp(`^${t}-${hex}-${b3Flag}-${hex}$`));
      });

      test('propagates jaeger tracing headers', async () => {
        const t = traceId();
        const h = await upstream(at('route'), { 'uber-trace-id': `${t}:${spanId()}:${spanId()}:1` });
        assert.match(h['uber-trace-id']!, new RegExp(`^${t}:${hex}:${hex}:${w3cFlag}$`));
      });

      test('propagates ot headers', async () => {
        const t = traceId();
        const h = await upstream(at('route'), {
          'ot-tracer-traceid': t,
          'ot-tracer-spanid': spanId(),
          'ot-tracer-sampled': '1',
        });
        assert.equal(h['ot-tracer-traceid'], t);
      });

      test('propagates instana headers', async () => {
        const t = traceId();
        const h = await upstream(at('ins'), { 'x-instana-t': t, 'x-instana-s': spanId() });
        assert.equal(h['x-instana-t'], t);
      });

      test('propagates datadog tracing headers, with datadog headers in client request', async () => {
        const h = await upstream(at('route'), { 'x-datadog-trace-id': '1234567890' });
        assert.equal(h['x-datadog-trace-id'], '1234567890');
        assert.match(h['x-datadog-parent-id']!, /^\d+$/);
      });

      test('propagates datadog tracing headers, without datadog headers in client request', async () => {
        const h = await upstream(at('dd'));
        assert.match(h['x-datadog-trace-id']!, /^\d+$/);
        assert.match(h['x-datadog-parent-id']!, /^\d+$/);
      });

      test('propagate spawned span with ot headers', async () => {
        const h = await upstream(at('route'));
        const m = W3C.exec(h.traceparent!);
        assert.ok(m, h.traceparent);
        assert.equal(m[3], w3cFlag);
      });

      if (style === 'new') {
        test('clears non-propagated headers when configured to do so', async () => {
          const t = traceId();
          const p = spanId();
          const h = await upstream(at('clear'), {
            traceparent: `00-${t}-${p}-01`,
            'ot-tracer-traceid': t,
            'ot-tracer-spanid': p,
            'ot-tracer-sampled': '1',
          });
          assert.match(h.traceparent!, new RegExp(`^00-${t}-${hex}-${w3cFlag}$`));
          assert.equal(h['ot-tracer-traceid'], undefined);
          assert.equal(h['ot-tracer-spanid'], undefined);
          assert.equal(h['ot-tracer-sampled'], undefined);
        });

        test('does not preserve incoming header type if preserve is not specified', async () => {
          const t = traceId();
          const sent = `${t}-${spanId()}-${b3Flag}-${spanId()}`;
          const h = await upstream(at('nopreserve'), { b3: sent });
          assert.equal(h.b3, sent, 'b3 was not injected, only passed on as it came');
          assert.match(h.traceparent!, new RegExp(`^00-${t}-${hex}-${w3cFlag}$`));
        });
      }
    });
  }
}

const W3C = /^00-([0-9a-f]{32})-([0-9a-f]{16})-(0[01])$/;

for (const rate of ['1', '0', '05']) {
  describe(`propagation dynamic sampling_rate: ${rate}`, () => {
    const at = `/dynamic-${rate}`;
    test('propagates tracing headers (b3 request)', async () => {
      const t = traceId();
      const h = await upstream(at, { 'x-b3-sampled': '1', 'x-b3-traceid': t });
      assert.equal(h['x-b3-traceid'], t);
    });
    test('b3-single request with parent_id', async () => {
      const t = traceId();
      const h = await upstream(at, { b3: `${t}-${spanId()}-1-${spanId()}` });
      assert.match(h.b3!, new RegExp(`^${t}-${hex}-${hex}-${hex}$`));
    });
    test('propagates w3c tracing headers', async () => {
      const t = traceId();
      const h = await upstream(at, { traceparent: `00-${t}-${spanId()}-01` });
      assert.match(h.traceparent!, new RegExp(`^00-${t}-${hex}-${hex}$`));
    });
    test('propagates jaeger tracing headers', async () => {
      const t = traceId();
      const h = await upstream(at, { 'uber-trace-id': `${t}:${spanId()}:${spanId()}:1` });
      assert.match(h['uber-trace-id']!, new RegExp(`^${t}:${hex}:${hex}:${hex}$`));
    });
    test('propagates ot headers', async () => {
      const t = traceId();
      const h = await upstream(at, { 'ot-tracer-traceid': t, 'ot-tracer-spanid': spanId(), 'ot-tracer-sampled': '1' });
      assert.equal(h['ot-tracer-traceid'], t);
    });
    for (const t of ['7532726115487256575', '1234567890']) {
      test(`propagates datadog tracing headers (trace id ${t})`, async () => {
        const h = await upstream(at, { 'x-datadog-trace-id': t });
        assert.equal(h['x-datadog-trace-id'], t);
        assert.match(h['x-datadog-parent-id']!, /^\d+$/);
      });
    }
  });
}

describe('propagation with the request and balancer spans', () => {
  test("sets the outgoing parent span's id: the balancer span, under the kong span, under the client's", async () => {
    const t = traceId();
    const incoming = spanId();
    const h = await upstream('/exported', { traceparent: `00-${t}-${incoming}-01` });
    await until('the export', () => exports.length > 0, 10_000);
    const spans = decodeTraceExport(exports.shift()!);
    const balancer = spans.find((s) => s.name === 'kong.balancer');
    assert.ok(balancer, JSON.stringify(spans.map((s) => s.name)));
    assert.equal(h.traceparent, `00-${t}-${balancer.spanId}-01`);
    const ids = new Set(spans.map((s) => s.spanId));
    for (const s of spans) {
      if (s.name === 'kong') assert.equal(s.parentSpanId, incoming);
      else {
        assert.notEqual(s.parentSpanId, incoming);
        assert.ok(ids.has(s.parentSpanId), `${s.name}'s parent is a local span`);
      }
    }
  });

  test('disables sampling when incoming header has sampled disabled', async () => {
    const t = traceId();
    await upstream('/exported', { traceparent: `00-${t}-${spanId()}-00` });
    // a sampled request after it: the queue keeps order, so once its spans are in, the unsampled
    // request's would have been too
    const later = traceId();
    await upstream('/exported', { traceparent: `00-${later}-${spanId()}-01` });
    await until(
      'the sampled trace',
      () => exports.some((m) => decodeTraceExport(m).some((s) => s.traceId === later)),
      10_000,
    );
    const traces = exports.flatMap((m) => decodeTraceExport(m).map((s) => s.traceId));
    assert.ok(traces.includes(later));
    assert.ok(!traces.includes(t));
  });
});
