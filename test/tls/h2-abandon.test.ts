// An HTTP/2 client that goes away ends what the gateway does for it upstream, as an HTTP/1.1 client
// that closes its connection does: nginx finalizes every stream of a closed connection and, with
// proxy_ignore_client_abort off (its default, and Kong's), closes the upstream connection at once.
// The access line says 499 CLIENT_CLOSED, as for HTTP/1.1.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage } from 'node:http';
import { constants } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { connect as tlsConnect } from 'node:tls';
import type { TollgateInstance } from '../../src/instance.ts';
import { within } from '../support/wait.ts';
import { frame, getHeaderBlock, h2Session, readFrames, startFromFile, TestCa, tool } from './support.ts';

const skip = tool('openssl');
let ca: TestCa;
let inst: TollgateInstance;
const logs: Record<string, unknown>[] = [];
// An upstream that never answers /hold: each request it holds is open until the gateway lets go.
const held = new Set<IncomingMessage>();
let arrived: () => void = () => undefined;
let upstreamConnections = 0;
const upstream = createServer((req, res) => {
  // Answers at once, without reading the body.
  if (req.url === '/early') return void res.end('early');
  held.add(req);
  req.socket.once('close', () => held.delete(req));
  arrived();
});

before(async () => {
  if (skip) return;
  upstream.on('connection', () => upstreamConnections++);
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  ca = new TestCa();
  ca.issue('a.test', ['a.test'], { file: 'a' });
  const file = join(ca.dir, 'gateway.yaml');
  writeFileSync(
    file,
    `_format_version: "3.0"
certificates:
  - cert: \${file:a.pem}
    key: \${file:a.key}
services:
  - name: hold
    url: http://127.0.0.1:${(upstream.address() as AddressInfo).port}
    routes:
      - name: hold
        paths: [/hold]
      - name: early
        paths: [/early]
        strip_path: false
`,
  );
  inst = await startFromFile(file, { logs });
});

after(async () => {
  await inst?.close(0);
  upstream.closeAllConnections();
  upstream.close();
});

/** Resolves once the upstream holds `n` requests. */
function holding(n: number): Promise<void> {
  return within(
    new Promise<void>((resolve) => {
      arrived = () => {
        if (held.size >= n) resolve();
      };
      arrived();
    }),
    10_000,
    `${n} requests at the upstream`,
  );
}

/** Resolves once the upstream holds no request (its sockets closed by the gateway). */
async function released(what: string): Promise<void> {
  const end = Date.now() + 5_000;
  while (held.size > 0) {
    if (Date.now() > end) throw new Error(`${what}: ${held.size} upstream requests still held`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function accessLines(path: string): Record<string, any>[] {
  return logs.filter((l) => l.type === 'access' && l.path === path) as Record<string, any>[];
}

test('HTTP/2: a closed connection ends every exchange it had upstream at once, logged 499 CLIENT_CLOSED', {
  skip,
}, async () => {
  const s = h2Session(inst, ca);
  for (let i = 0; i < 3; i++) s.request({ ':path': '/hold/c', ':authority': 'a.test' }).on('error', () => undefined);
  await holding(3);
  s.destroy();
  await released('after the connection closed');
  await within(
    (async () => {
      while (accessLines('/hold/c').length < 3) await new Promise((r) => setTimeout(r, 20));
    })(),
    5_000,
    'three access lines',
  );
  for (const line of accessLines('/hold/c')) {
    assert.equal(line.status, 499, JSON.stringify(line));
    assert.equal(line.error, 'CLIENT_CLOSED', JSON.stringify(line));
  }
});

test('HTTP/2: a stream the client resets ends its exchange upstream; the other streams go on', { skip }, async () => {
  const s = h2Session(inst, ca);
  try {
    const kept = s.request({ ':path': '/hold/kept', ':authority': 'a.test' });
    kept.on('error', () => undefined);
    await holding(1);
    const cancelled = s.request({ ':path': '/hold/reset', ':authority': 'a.test' });
    cancelled.on('error', () => undefined);
    await holding(2);
    cancelled.close(constants.NGHTTP2_CANCEL);
    const end = Date.now() + 5_000;
    while (held.size > 1) {
      if (Date.now() > end) throw new Error('the reset stream is still held upstream');
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal([...held][0]?.url, '/kept', 'the upstream path (strip_path) of the stream left open');
    assert.equal(kept.closed, false);
  } finally {
    s.destroy();
    await released('after the session closed');
  }
});

test('HTTP/2: an answer that comes before the request body is in ends the stream, and the session goes on', {
  skip,
}, async () => {
  const s = h2Session(inst, ca);
  try {
    const req = s.request({ ':path': '/early', ':authority': 'a.test', ':method': 'POST' });
    req.on('error', () => undefined);
    // Far more than the stream's flow-control window: the client cannot send it all unless read.
    req.write(Buffer.alloc(1024 * 1024, 120));
    let status = 0;
    let body = '';
    req.on('response', (h) => (status = Number(h[':status'])));
    req.setEncoding('utf8');
    req.on('data', (d: string) => (body += d));
    await within(once(req, 'close'), 5_000, 'the stream closed after the early answer');
    assert.equal(status, 200);
    assert.equal(body, 'early');
    assert.equal(req.rstCode, constants.NGHTTP2_NO_ERROR);
    const again = s.request({ ':path': '/early', ':authority': 'a.test' });
    again.resume();
    await within(once(again, 'close'), 5_000, 'a second stream on the same session');
  } finally {
    s.destroy();
  }
});

test('HTTP/2 rapid reset: streams reset in the packet that opened them cost no upstream connection', {
  skip,
}, async () => {
  const [host, port] = inst.proxyAddresses[0]!.split(':') as [string, string];
  const before = upstreamConnections;
  const sock = tlsConnect({ host, port: Number(port), ca: ca.cert, servername: 'a.test', ALPNProtocols: ['h2'] });
  sock.on('error', () => undefined);
  const frames: number[] = [];
  readFrames(sock, (type) => frames.push(type));
  try {
    await once(sock, 'secureConnect');
    // 50 streams, each a complete GET followed by its RST_STREAM CANCEL, all in one write.
    const burst: Buffer[] = [Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), frame(4, 0, 0, Buffer.alloc(0))];
    const cancel = Buffer.alloc(4);
    cancel.writeUInt32BE(constants.NGHTTP2_CANCEL);
    for (let id = 1; id < 100; id += 2)
      burst.push(frame(1, 0x1 | 0x4, id, getHeaderBlock('/hold/rr')), frame(3, 0, id, cancel));
    sock.write(Buffer.concat(burst));
    // A stream opened afterwards on the same connection is served: the burst has been read by then.
    sock.write(frame(1, 0x1 | 0x4, 101, getHeaderBlock('/early')));
    await within(
      (async () => {
        while (!frames.includes(1)) await new Promise((r) => setTimeout(r, 20));
      })(),
      5_000,
      'the answer to the stream after the burst',
    );
    // At most the later stream's own (it may reuse a kept-alive one); 51 before streams waited a turn.
    assert.ok(upstreamConnections - before <= 1, `${upstreamConnections - before} upstream connections`);
  } finally {
    sock.destroy();
  }
});
