// The trailer frame's grpc-message is gRPC's percent-encoded form whatever the service sent: a
// real HTTP/2 upstream (node:http2, which lets a server send obs-text bytes in a trailer) that
// does not encode its message, behind a real gateway; and runPlugin for the values no HTTP/2
// peer can carry (control characters), which must not add lines to the frame's header block.
import assert from 'node:assert/strict';
import { createServer, type Http2Server } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { request } from 'undici';
import { frame } from '../../../test/support/grpc.ts';
import { runPlugin, startGateway, type TestGateway } from '../../testing/index.ts';
import plugin from './index.ts';

let upstream: Http2Server;
let gw: TestGateway;
/** The grpc-message the upstream ends its next answer with. */
let message = '';

before(async () => {
  upstream = createServer();
  upstream.on('stream', (stream) => {
    stream.resume();
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '2', 'grpc-message': message }));
    stream.end(frame(0, 'm'));
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  gw = await startGateway({
    config: {
      _format_version: '3.0',
      services: [
        {
          name: 'raw',
          url: `grpc://127.0.0.1:${(upstream.address() as AddressInfo).port}`,
          routes: [{ name: 'web', paths: ['/a.B/'], strip_path: false, plugins: [{ name: 'grpc-web' }] }],
        },
      ],
    },
  });
});

after(async () => {
  await gw?.close();
  upstream?.close();
});

async function call(): Promise<Buffer> {
  const res = await request(`${gw.url}/a.B/C`, {
    method: 'POST',
    headers: { 'content-type': 'application/grpc-web' },
    body: frame(0, 'x'),
  });
  return Buffer.from(await res.body.arrayBuffer());
}

test("a service's unencoded grpc-message (raw bytes, a stray %) reaches the browser percent-encoded; an encoded one as it came", async () => {
  // "café" in UTF-8, as a server that skips the encoding sends it: two bytes for é.
  message = Buffer.from('caf\u00e9 100% done', 'utf8').toString('latin1');
  assert.deepEqual(
    await call(),
    Buffer.concat([frame(0, 'm'), frame(0x80, 'grpc-status:2\r\ngrpc-message:caf%C3%A9 100%25 done\r\n')]),
  );
  message = 'already%20encoded%3A ok';
  assert.deepEqual(
    await call(),
    Buffer.concat([frame(0, 'm'), frame(0x80, 'grpc-status:2\r\ngrpc-message:already%20encoded%3A ok\r\n')]),
  );
});

test('control characters in grpc-message are encoded, so they cannot add a line to the trailer frame', async () => {
  const r = await runPlugin(
    plugin,
    {},
    {
      method: 'POST',
      path: '/a.B/C',
      headers: { 'content-type': 'application/grpc-web' },
      upstream: {
        headers: { 'content-type': 'application/grpc' },
        body: Buffer.alloc(0),
        trailers: { 'grpc-status': '7', 'grpc-message': 'no\r\ngrpc-status:0\ttab\u2713' },
      },
    },
  );
  assert.deepEqual(r.body, frame(0x80, 'grpc-status:7\r\ngrpc-message:no%0D%0Agrpc-status:0%09tab%E2%9C%93\r\n'));
});
