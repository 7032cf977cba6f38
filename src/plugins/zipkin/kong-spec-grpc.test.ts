// Kong's spec/03-plugins/34-zipkin/zipkin_spec.lua, "generates spans, tags and annotations for
// regular requests (#grpc)" (Kong commit 22246ef2): a SayHello call through a grpc route, as a
// Zipkin receiver on loopback gets its spans (Kong's phase annotations aside: see
// docs/kong-compatibility.md).
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { helloClient, sayHello, startHelloGateway } from '../../../test/support/hello-grpc.ts';
import { until } from '../../../test/support/wait.ts';
import type { ZipkinSpan } from './spans.ts';

test('generates spans and tags for regular requests (#grpc)', async () => {
  const spans: ZipkinSpan[] = [];
  const receiver = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (c: string) => (body += c));
    req.on('end', () => {
      spans.push(...(JSON.parse(body) as ZipkinSpan[]));
      res.writeHead(202).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', () => r()));
  const endpoint = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/api/v2/spans`;
  const hello = await startHelloGateway(
    (port) => `_format_version: "3.0"
services:
  - name: grpc-service
    url: grpc://127.0.0.1:${port}
    routes:
      - name: grpc-route-name
        protocols: [grpc]
        hosts: [grpc-route]
plugins:
  - name: zipkin
    config:
      sample_ratio: 1
      http_endpoint: ${endpoint}
      static_tags: [{ name: static, value: ok }]
      default_header_type: b3-single
      queue: { max_coalescing_delay: 0.01 }
`,
  );
  const client = helloClient(hello.gw.proxyAddresses[0]!, 'grpc-route');
  try {
    const metadata = new grpc.Metadata();
    metadata.set('x-b3-sampled', '1');
    const result = await sayHello(client, 'world!', metadata);
    assert.equal(result.err, null);
    await until('3 spans', () => spans.length >= 3, 10_000);
    const byName = (name: string) => {
      const s = spans.find((x) => x.name === name);
      assert.ok(s, `${name} in ${JSON.stringify(spans.map((x) => x.name))}`);
      return s;
    };
    const balancer = byName('POST (balancer try 1)');
    const req = byName('POST');
    const proxy = byName('POST (proxy)');
    assert.equal(req.kind, 'SERVER');
    assert.equal(proxy.parentId, req.id);
    assert.equal(req.traceId.length, 32);
    assert.deepEqual(req.localEndpoint, { serviceName: 'kong' });
    const tags = req.tags!;
    assert.match(tags['kong.node.id']!, /^[0-9a-f-]+$/);
    // Kong's set; Tollgate adds kong.source and the route and service tags
    const kong = ['http.method', 'http.path', 'http.status_code', 'http.protocol', 'http.host', 'lc', 'static'];
    assert.deepEqual(Object.fromEntries(kong.map((k) => [k, tags[k]])), {
      'http.method': 'POST',
      'http.path': '/hello.HelloService/SayHello',
      'http.status_code': '200',
      'http.protocol': 'HTTP/2',
      'http.host': 'grpc-route',
      lc: 'kong',
      static: 'ok',
    });
    // The client's address and port, as Kong's (read in access: the stream is gone by the log phase).
    assert.equal(req.remoteEndpoint!.ipv4, '127.0.0.1');
    assert.ok(Number.isInteger(req.remoteEndpoint!.port) && req.remoteEndpoint!.port! > 0, JSON.stringify(req));
    assert.equal(proxy.tags!['kong.route_name'], 'grpc-route-name');
    assert.equal(proxy.tags!['peer.hostname'], '127.0.0.1');
    const remote = { ipv4: '127.0.0.1', port: hello.server.port, serviceName: 'grpc-service' };
    assert.deepEqual(proxy.remoteEndpoint, remote);
    assert.equal(balancer.parentId, req.id);
    assert.ok(Number.isInteger(balancer.duration));
    assert.deepEqual(balancer.remoteEndpoint, remote);
    assert.deepEqual(balancer.localEndpoint, { serviceName: 'kong' });
    assert.deepEqual(balancer.tags, {
      'kong.balancer.try': '1',
      'kong.service': proxy.tags!['kong.service'],
      'kong.service_name': 'grpc-service',
      'kong.route': proxy.tags!['kong.route'],
      'kong.route_name': 'grpc-route-name',
    });
  } finally {
    client.close();
    await hello.close();
    receiver.closeAllConnections();
    await new Promise<void>((r) => receiver.close(() => r()));
  }
});
