// A gRPC upstream that resets its stream after the response head: the client's stream is reset
// too (INTERNAL_ERROR) and the access line says UPSTREAM_ABORTED. undici reports such a reset as a
// clean end without trailers; relayed as one, a client would take a cut stream for a complete one.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { constants, createServer, type Http2Server, connect as h2Connect } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { TollgateInstance } from '../../src/instance.ts';
import { accessLineOf } from '../support/logs.ts';
import { tempDir } from '../support/temp.ts';
import { startFromFile } from '../tls/support.ts';

const MESSAGE = Buffer.from([0, 0, 0, 0, 1, 65]);
let upstream: Http2Server;
let inst: TollgateInstance;
const logs: Record<string, unknown>[] = [];

before(async () => {
  upstream = createServer();
  upstream.on('stream', (stream, headers) => {
    stream.on('error', () => undefined);
    if (String(headers[':path']).endsWith('/Reset')) {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' });
      stream.write(MESSAGE);
      setTimeout(() => stream.close(constants.NGHTTP2_INTERNAL_ERROR), 50);
      return;
    }
    if (String(headers[':path']).endsWith('/Graceful')) {
      // A graceful stop: GOAWAY (NO_ERROR) naming this stream as processed, then the stream's end.
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      stream.write(MESSAGE);
      stream.session?.close();
      stream.end(MESSAGE);
      stream.resume();
      return;
    }
    if (String(headers[':path']).endsWith('/Early')) {
      // Answers at once, without waiting for the end of the client's messages.
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '3', 'grpc-message': 'bad first message' }));
      stream.end(MESSAGE);
      stream.resume();
      return;
    }
    if (String(headers[':path']).endsWith('/Unavailable')) {
      // Not gRPC's Trailers-Only (no grpc-status): a bare HTTP error, complete with its head.
      stream.respond({ ':status': 503, 'content-type': 'application/grpc' }, { endStream: true });
      return;
    }
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
    stream.end(MESSAGE);
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const dir = tempDir('tollgate-grpc-reset');
  writeFileSync(
    join(dir, 'gateway.yaml'),
    `_format_version: "3.0"
services:
  - name: g
    url: grpc://127.0.0.1:${(upstream.address() as AddressInfo).port}
    routes: [{ name: g, protocols: [grpc], paths: [/pkg.Svc/] }]
`,
  );
  inst = await startFromFile(join(dir, 'gateway.yaml'), { proxyListen: ['127.0.0.1:0 http2'], logs });
});

after(async () => {
  await inst?.close(0);
  upstream?.close();
});

async function call(
  path: string,
  endRequest = true,
): Promise<{ rstCode: number; trailers: Record<string, unknown> | null; id: string; status: number }> {
  const session = h2Connect(`http://${inst.proxyAddresses[0]}`);
  session.on('error', () => undefined);
  try {
    const req = session.request({
      ':method': 'POST',
      ':path': path,
      'content-type': 'application/grpc',
      te: 'trailers',
    });
    req.on('error', () => undefined);
    // A call still streaming its messages (bidi or client-streaming) does not end its request.
    if (endRequest) req.end(Buffer.alloc(5));
    else req.write(Buffer.alloc(5));
    let trailers: Record<string, unknown> | null = null;
    let id = '';
    let status = 0;
    req.on('response', (h) => {
      id = String(h['x-request-id']);
      status = Number(h[':status']);
    });
    req.on('trailers', (t) => (trailers = t));
    req.resume();
    // Not events.once: it rejects on the stream's 'error', which a reset stream emits.
    await new Promise((r) => req.once('close', r));
    return { rstCode: req.rstCode ?? 0, trailers, id, status };
  } finally {
    session.close();
  }
}

test('an upstream stream reset mid-answer resets the client stream and is logged UPSTREAM_ABORTED', async () => {
  const r = await call('/pkg.Svc/Reset');
  assert.equal(r.trailers, null);
  assert.equal(r.rstCode, constants.NGHTTP2_INTERNAL_ERROR);
  assert.equal((await accessLineOf(logs, r.id)).error, 'UPSTREAM_ABORTED');
});

test('an answer that ends with its status in the trailers ends cleanly', async () => {
  const r = await call('/pkg.Svc/Ok');
  assert.equal(r.rstCode, constants.NGHTTP2_NO_ERROR);
  assert.equal(r.trailers?.['grpc-status'], '0');
  assert.equal((await accessLineOf(logs, r.id)).error, undefined);
});

test("an upstream's HTTP error without a grpc-status reaches the client as it ended, for the client to map", async () => {
  // gRPC clients map a non-200 answer without grpc-status from its HTTP status (503: UNAVAILABLE,
  // which they may retry); a reset would turn it into INTERNAL.
  const r = await call('/pkg.Svc/Unavailable');
  assert.equal(r.status, 503);
  assert.equal(r.rstCode, constants.NGHTTP2_NO_ERROR);
  assert.equal((await accessLineOf(logs, r.id)).error, undefined);
});

test('an answer that ends while the client is still sending keeps its status: the stream is reset after the trailers', async () => {
  const r = await call('/pkg.Svc/Early', false);
  assert.equal(r.status, 200);
  assert.equal(r.trailers?.['grpc-status'], '3');
  assert.equal(r.trailers?.['grpc-message'], 'bad first message');
});

test("an upstream's graceful GOAWAY lets the call in flight finish, and the next call gets a new connection", async () => {
  const r = await call('/pkg.Svc/Graceful');
  assert.equal(r.rstCode, constants.NGHTTP2_NO_ERROR);
  assert.equal(r.trailers?.['grpc-status'], '0');
  assert.equal((await accessLineOf(logs, r.id)).error, undefined);
  const next = await call('/pkg.Svc/Ok');
  assert.equal(next.trailers?.['grpc-status'], '0');
});
