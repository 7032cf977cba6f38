// The opentelemetry plugin's spans of a retried request, as a real collector on loopback decodes
// them (test/support/otlp.ts): Kong's one `kong.balancer` span per try.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { decodeTraceExport } from '../../../test/support/otlp.ts';
import { retryPair } from '../../../test/support/retry-pair.ts';
import { until } from '../../../test/support/wait.ts';
import { startGateway } from '../../testing/index.ts';

test("a retried request has one kong.balancer span per try, with the target's address, the failed one an error", async () => {
  const pair = await retryPair((req, res) => res.end(String(req.headers.traceparent)));
  const { live, dead } = pair;
  // Protobuf: the body is kept as bytes.
  const exports: Buffer[] = [];
  const collector = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      exports.push(Buffer.concat(chunks));
      res.end();
    });
  });
  await new Promise<void>((r) => collector.listen(0, '127.0.0.1', () => r()));
  const collectorPort = (collector.address() as AddressInfo).port;
  const gw = await startGateway({
    config: {
      _format_version: '3.0',
      upstreams: [pair.upstream],
      services: [{ name: 'svc', host: 'pair', retries: 3, routes: [{ name: 'r', paths: ['/r'] }] }],
      plugins: [
        {
          name: 'opentelemetry',
          config: {
            traces_endpoint: `http://127.0.0.1:${collectorPort}/v1/traces`,
            queue: { max_coalescing_delay: 0.01 },
          },
        },
      ],
    },
  });
  try {
    const res = await fetch(`${gw.url}/r`);
    const traceparent = await res.text();
    const upstreamParent = traceparent.split('-')[2];
    await until('the export', () => exports.length > 0, 10_000);
    const spans = decodeTraceExport(exports[0]!);
    const balancer = spans.filter((s) => s.name === 'kong.balancer').sort((a, b) => Number(a.startNs - b.startNs));
    assert.equal(balancer.length, 2, JSON.stringify(spans.map((s) => s.name)));
    const [failed, served] = balancer;
    assert.deepEqual(failed!.attributes, {
      try_count: 1,
      'net.peer.ip': '127.0.0.1',
      'net.peer.port': dead,
      'net.peer.name': 'pair',
      'http.status_code': 502,
    });
    assert.equal(failed!.statusCode, 2, 'error');
    assert.equal(served!.attributes.try_count, 2);
    assert.equal(served!.attributes['net.peer.port'], live);
    assert.equal(served!.statusCode, 0);
    assert.equal(served!.spanId, upstreamParent, "the last try's span is the upstream's parent");
    const root = spans.find((s) => s.name === 'kong')!;
    for (const s of balancer) assert.equal(s.parentSpanId, root.spanId);
  } finally {
    await gw.close();
    await new Promise((r) => collector.close(r));
    await pair.close();
  }
});
