// Kong's 426 answers name `Connection: Upgrade` (an https-only route on plain http, gRPC over
// HTTP/1.1). A client that asked to close (RFC 9112 9.6: `Connection: close`, or HTTP/1.0 without
// keep-alive) still has its connection closed after the answer, as nginx closes it.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { TestGateway } from '../../src/testing/index.ts';
import { startServiceGateway } from '../support/gateway.ts';
import { rawRequest } from '../support/raw.ts';

let gw: TestGateway;

before(async () => {
  gw = await startServiceGateway([{ name: 'secure', paths: ['/secure'], protocols: ['https'] }], {
    services: [
      { name: 'g', url: 'grpc://127.0.0.1:9', routes: [{ name: 'rpc', paths: ['/pkg.Svc/'], protocols: ['grpc'] }] },
    ],
  });
});
after(() => gw.close());

for (const [name, head, upgrade] of [
  [
    'https-only, Connection: close',
    'GET /secure HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n',
    'TLS/1.2, HTTP/1.1',
  ],
  ['https-only, HTTP/1.0', 'GET /secure HTTP/1.0\r\nHost: a\r\n\r\n', 'TLS/1.2, HTTP/1.1'],
  [
    'gRPC over HTTP/1.1, Connection: close',
    'POST /pkg.Svc/M HTTP/1.1\r\nHost: a\r\nContent-Type: application/grpc\r\nContent-Length: 0\r\nConnection: close\r\n\r\n',
    'HTTP/2',
  ],
] as const) {
  test(`a 426 (${name}) says Upgrade and closes the connection the client asked to close`, async () => {
    const started = Date.now();
    // The idle wait is far longer than a close takes: only a connection left open reaches it.
    const r = await rawRequest(gw.url, head, 5000);
    assert.equal(r.status, 426);
    assert.equal(r.headers.upgrade, upgrade);
    assert.match(r.headers.connection ?? '', /^Upgrade, close$/);
    assert.ok(Date.now() - started < 4000, 'the gateway closed the connection');
  });
}

test('a 426 on a keep-alive connection says Upgrade and keeps it open, as Kong', async () => {
  const r = await rawRequest(
    gw.url,
    'GET /secure HTTP/1.1\r\nHost: a\r\n\r\nGET /secure HTTP/1.1\r\nHost: a\r\n\r\n',
    500,
  );
  assert.equal(r.status, 426);
  assert.equal(r.headers.connection, 'Upgrade');
  assert.equal(r.raw.split('HTTP/1.1 426').length - 1, 2, 'both requests answered on the connection');
});
