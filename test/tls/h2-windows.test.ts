// HTTP/2 flow control of request bodies: the gateway lets a client send a stream's first 512 KiB,
// and 2 MiB over the session, before any WINDOW_UPDATE, so that an upload is not held to HTTP/2's
// default 64 KiB per round trip.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { connect as tlsConnect } from 'node:tls';
import type { TollgateInstance } from '../../src/instance.ts';
import { H2_SESSION_WINDOW, H2_STREAM_WINDOW } from '../../src/proxy/server.ts';
import { type Listening, listen } from '../support/upstream.ts';
import { within } from '../support/wait.ts';
import { frame, literal, readFrames, startTlsGateway, TestCa, tool } from './support.ts';

const skip = tool('openssl');
let ca: TestCa;
let inst: TollgateInstance;
let counter: Listening;

before(async () => {
  if (skip) return;
  ca = new TestCa();
  // Answers the number of body bytes it received.
  counter = await listen((req, res) => {
    let n = 0;
    req.on('data', (d: Buffer) => (n += d.length));
    req.on('end', () => res.end(String(n)));
  });
  inst = await startTlsGateway(
    ca,
    `services:
  - name: count
    url: ${counter.url}
    routes:
      - name: count
        paths: [/count]
`,
  );
});

after(async () => {
  await inst?.close(0);
  await counter?.close();
});

test('a client may send a stream its first 512 KiB, and the session 2 MiB, before any WINDOW_UPDATE', {
  skip,
}, async () => {
  assert.equal(H2_STREAM_WINDOW, 512 * 1024);
  assert.equal(H2_SESSION_WINDOW, 2 * 1024 * 1024);
  const socket = tlsConnect({
    host: '127.0.0.1',
    port: Number(inst.proxyAddresses[0]!.split(':').pop()),
    servername: 'a.test',
    ca: ca.cert,
    ALPNProtocols: ['h2'],
  });
  socket.on('error', () => undefined);
  const bodies = new Map<number, string>();
  const failures: string[] = [];
  let windowOpened!: () => void;
  const opened = new Promise<void>((resolve) => (windowOpened = resolve));
  let answered!: () => void;
  const allAnswered = new Promise<void>((resolve) => (answered = resolve));
  readFrames(socket, (type, flags, stream, payload) => {
    // The session's window is opened beyond HTTP/2's initial 64 KiB once the session starts.
    if (type === 8 && stream === 0) windowOpened();
    if (type === 0) {
      bodies.set(stream, (bodies.get(stream) ?? '') + payload.toString());
      if ((flags & 1) === 1 && [...bodies.values()].filter((b) => b !== '').length === 4) answered();
    }
    if (type === 3) failures.push(`RST_STREAM ${payload.readUInt32BE(0)} on ${stream}`);
    if (type === 7) failures.push(`GOAWAY ${payload.readUInt32BE(4)}`);
  });
  socket.write(Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), frame(4, 0, 0, Buffer.alloc(0))]));
  await within(opened, 10_000, "the session's WINDOW_UPDATE");
  // Four streams of 512 KiB each, 2 MiB in all, sent at once without waiting for the gateway.
  const chunk = Buffer.alloc(16 * 1024, 0x61);
  const frames: Buffer[] = [];
  for (const id of [1, 3, 5, 7]) {
    const head = Buffer.concat([Buffer.from([0x83, 0x87]), literal(4, '/count'), literal(1, 'a.test')]);
    frames.push(frame(1, 4, id, head));
    for (let i = 0; i < 32; i++) frames.push(frame(0, i === 31 ? 1 : 0, id, chunk));
  }
  socket.write(Buffer.concat(frames));
  await within(
    Promise.race([allAnswered, new Promise((resolve) => socket.once('close', resolve))]),
    10_000,
    'the four answers',
  );
  socket.destroy();
  assert.deepEqual(failures, []);
  assert.deepEqual(
    [1, 3, 5, 7].map((id) => bodies.get(id)),
    ['524288', '524288', '524288', '524288'],
  );
});
