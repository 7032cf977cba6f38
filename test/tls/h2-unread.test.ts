// An HTTP/2 client that reads nothing (its TCP window shut, the gateway's socket buffer full) holds
// its connection no longer than one that reads: its stream is reset after send_timeout, and the
// session, closing without streams, is cut even though what it still had to write never left.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type TLSSocket, connect as tlsConnect } from 'node:tls';
import type { TollgateInstance } from '../../src/instance.ts';
import { type Listening, listen } from '../support/upstream.ts';
import { until, within } from '../support/wait.ts';
import { frame, getHeaderBlock, h2Session, startTlsGateway, TestCa, tool } from './support.ts';

const skip = tool('openssl');
let ca: TestCa;
let inst: TollgateInstance;
let big: Listening;
let upstreamOpen = 0;
// An upstream that takes requests and never answers: a stream waiting on it stays open.
let hang: Listening;
let hanging = 0;

before(async () => {
  if (skip) return;
  ca = new TestCa();
  // 256 MiB, written as fast as the gateway takes it: far more than the sockets between can hold.
  big = await listen((_req, res) => {
    upstreamOpen++;
    res.on('close', () => upstreamOpen--);
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    let left = 4096;
    const pump = (): void => {
      while (left-- > 0) if (!res.write(chunk)) return void res.once('drain', pump);
      res.end();
    };
    pump();
  });
  hang = await listen((_req, res) => {
    hanging++;
    res.on('close', () => hanging--);
  });
  inst = await startTlsGateway(
    ca,
    `_tollgate:
  send_timeout: 500
  keepalive_timeout: 800
  client_header_timeout: 800
services:
  - name: big
    url: ${big.url}
    routes:
      - name: big
        paths: [/big]
        strip_path: false
  - name: hang
    url: ${hang.url}
    read_timeout: 60000
    routes:
      - name: hang
        paths: [/hang]
`,
  );
});

after(async () => {
  await inst?.close(0);
  await big?.close();
  await hang?.close();
});

/**
 * A raw HTTP/2 connection that opens every flow-control window HTTP/2 has, asks for /big, and then
 * never reads a byte: only TCP holds the answer back.
 */
async function unreadingClient(extra: Buffer[] = []): Promise<TLSSocket> {
  const socket = tlsConnect({
    host: '127.0.0.1',
    port: Number(inst.proxyAddresses[0]!.split(':').pop()),
    servername: 'a.test',
    ca: ca.cert,
    ALPNProtocols: ['h2'],
  });
  socket.on('error', () => undefined);
  await within(new Promise((resolve) => socket.once('secureConnect', resolve)), 10_000, 'the TLS handshake');
  socket.pause();
  const window = Buffer.alloc(4);
  window.writeUInt32BE(0x7fffffff - 65535);
  socket.write(
    Buffer.concat([
      Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'),
      frame(4, 0, 0, Buffer.from([0, 4, 0x7f, 0xff, 0xff, 0xff])), // SETTINGS_INITIAL_WINDOW_SIZE: the maximum
      frame(8, 0, 0, window), // the connection's window up to the maximum
      frame(1, 5, 1, getHeaderBlock('/big')),
      ...extra,
    ]),
  );
  return socket;
}

const active = async (): Promise<number> => (await inst.connections()).active;

test('a client that reads nothing loses its stream after send_timeout and its connection once idle', {
  skip,
}, async () => {
  const client = await unreadingClient();
  await until('the upstream to start its answer', () => upstreamOpen === 1);
  await until('the stream to be reset and its upstream exchange ended', () => upstreamOpen === 0);
  // The session is idle now; keepalive_timeout ends it, and the GOAWAY it cannot send holds nothing.
  await until('the gateway to let go of the connection', async () => (await active()) === 0);
  client.destroy();
  // The gateway serves the next client as before.
  const s = h2Session(inst, ca);
  const status = await within(
    new Promise<number>((resolve) => {
      const req = s.request({ ':path': '/big', ':authority': 'a.test', ':method': 'HEAD' });
      req.on('response', (h) => resolve(Number(h[':status'])));
      req.on('error', () => resolve(0));
    }),
    10_000,
    'an answer to a client that reads',
  );
  s.close();
  assert.equal(status, 200);
});

test('a connection that takes nothing for send_timeout is cut, though a stream of it still waits on its upstream', {
  skip,
}, async () => {
  // nginx closes an HTTP/2 connection whose writes make no progress for send_timeout, whatever its
  // streams are doing; the stream waiting on the silent upstream would otherwise hold it until
  // read_timeout (60 s here).
  const client = await unreadingClient([frame(1, 5, 3, getHeaderBlock('/hang'))]);
  await until('the upstreams to get both requests', () => upstreamOpen === 1 && hanging === 1);
  await until('the gateway to let go of the connection', async () => (await active()) === 0, 5_000);
  // Both exchanges ended with it.
  await until('the upstream exchanges to end', () => upstreamOpen === 0 && hanging === 0, 5_000);
  client.destroy();
});

test('one that sends GOAWAY itself and reads nothing is let go of too', { skip }, async () => {
  // GOAWAY (last stream 0, NO_ERROR): node closes the session gracefully once the stream is done.
  const client = await unreadingClient([frame(7, 0, 0, Buffer.alloc(8))]);
  await until('the upstream to start its answer', () => upstreamOpen === 1);
  await until('the gateway to let go of the connection', async () => (await active()) === 0);
  client.destroy();
});

test('a client that floods PINGs and reads none of the answers is let go of once its session is idle', {
  skip,
}, async () => {
  const socket = tlsConnect({
    host: '127.0.0.1',
    port: Number(inst.proxyAddresses[0]!.split(':').pop()),
    servername: 'a.test',
    ca: ca.cert,
    ALPNProtocols: ['h2'],
  });
  socket.on('error', () => undefined);
  await within(new Promise((resolve) => socket.once('secureConnect', resolve)), 10_000, 'the TLS handshake');
  socket.pause();
  socket.write(Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), frame(4, 0, 0, Buffer.alloc(0))]));
  // 16 MiB of PINGs, written until the gateway stops taking them (its answers fill the buffers).
  const pings = Buffer.concat(Array.from({ length: 4096 }, () => frame(6, 0, 0, Buffer.alloc(8))));
  for (let i = 0; i < 240 && !socket.destroyed; i++) {
    if (!socket.write(pings)) await new Promise((resolve) => setTimeout(resolve, 20));
  }
  await until('the gateway to let go of the connection', async () => (await active()) === 0);
  socket.destroy();
});
