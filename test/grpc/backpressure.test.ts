// A gRPC client slower than its upstream: the gateway pauses the upstream stream, and the answer
// must still reach the client whole, with its status, however long the client takes (within
// send_timeout). undici completed a paused HTTP/2 answer at its trailers and dropped the DATA still
// buffered before them (the answer's tail lost, `grpc-status: 0` relayed), and timed the pause out
// as the upstream's silence at read_timeout.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { type ClientHttp2Stream, createServer, type Http2Server, connect as h2Connect } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { TollgateInstance } from '../../src/instance.ts';
import { tempDir } from '../support/temp.ts';
import { startFromFile } from '../tls/support.ts';

const READ_TIMEOUT = 200;
let upstream: Http2Server;
let inst: TollgateInstance;
/** Resolved when the upstream's answer of a path is all out and the gateway has read past it. */
const done = new Map<string, () => void>();

/** One gRPC message of `size` bytes. */
function message(size: number): Buffer {
  const m = Buffer.alloc(5 + size, 0x61);
  m[0] = 0;
  m.writeUInt32BE(size, 1);
  return m;
}

before(async () => {
  upstream = createServer();
  upstream.on('stream', (stream, headers) => {
    stream.on('error', () => undefined);
    const path = String(headers[':path']);
    const size = Number(headers['x-size']);
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0', 'grpc-message': 'done' }));
    stream.end(message(size));
    stream.resume();
    // The session's PING is answered once the gateway has read every frame sent before it.
    const session = stream.session!;
    stream.once('close', () => session.ping(() => done.get(path)?.()));
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const dir = tempDir('tollgate-grpc-slow');
  writeFileSync(
    join(dir, 'gateway.yaml'),
    `_format_version: "3.0"
services:
  - name: g
    url: grpc://127.0.0.1:${(upstream.address() as AddressInfo).port}
    read_timeout: ${READ_TIMEOUT}
    routes: [{ name: g, protocols: [grpc], paths: [/pkg.Svc/] }]
`,
  );
  inst = await startFromFile(join(dir, 'gateway.yaml'), { proxyListen: ['127.0.0.1:0 http2'] });
});

after(async () => {
  await inst?.close(0);
  upstream?.close();
});

/** A call whose answer the client does not read until `readWhen` resolves; what it finally got. */
async function slowCall(
  path: string,
  size: number,
  readWhen: Promise<void>,
): Promise<{ bytes: number; trailers: Record<string, unknown> | null; rstCode: number }> {
  const session = h2Connect(`http://${inst.proxyAddresses[0]}`);
  session.on('error', () => undefined);
  try {
    const req: ClientHttp2Stream = session.request({
      ':method': 'POST',
      ':path': path,
      'content-type': 'application/grpc',
      te: 'trailers',
      'x-size': String(size),
    });
    req.on('error', () => undefined);
    const closed = new Promise((r) => req.once('close', r));
    req.pause();
    req.end(message(1));
    let bytes = 0;
    let trailers: Record<string, unknown> | null = null;
    req.on('trailers', (t) => (trailers = t));
    await readWhen;
    req.on('data', (c: Buffer) => (bytes += c.length));
    req.resume();
    await closed;
    return { bytes, trailers, rstCode: req.rstCode ?? 0 };
  } finally {
    session.close();
  }
}

test('an answer the upstream finished while the client was not reading arrives whole, then its status', async () => {
  // Within undici's stream window (256 KiB): the upstream sends it all, trailers included, while
  // the gateway is paused by the client.
  const size = 200 * 1024;
  const upstreamDone = new Promise<void>((r) => done.set('/pkg.Svc/Whole', r));
  const r = await slowCall('/pkg.Svc/Whole', size, upstreamDone);
  assert.equal(r.rstCode, 0);
  assert.equal(r.bytes, 5 + size, 'every byte of the answer');
  assert.equal(r.trailers?.['grpc-status'], '0');
  assert.equal(r.trailers?.['grpc-message'], 'done');
});

test('a client that stops reading for longer than read_timeout still gets the whole answer: the upstream was not silent', async () => {
  // Larger than undici's stream window: the upstream waits on the gateway's flow control, the
  // gateway on the client, for several read_timeouts.
  const size = 2 * 1024 * 1024;
  const paused = new Promise<void>((r) => setTimeout(r, READ_TIMEOUT * 5));
  const r = await slowCall('/pkg.Svc/Paused', size, paused);
  assert.equal(r.rstCode, 0, 'not cut');
  assert.equal(r.bytes, 5 + size);
  assert.equal(r.trailers?.['grpc-status'], '0');
});
