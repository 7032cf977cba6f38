// HTTP/2 gets HTTP/1.1's header and idle timeouts: a header block that never completes closes its
// session (GOAWAY) after client_header_timeout while the streams already open finish; a session
// without streams is closed after keepalive_timeout whatever PINGs it sends; a fresh session that
// opens no stream is closed like a connection that sends no request head. The limits of a session
// (concurrent streams, header list size) hold per stream.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import { type ClientHttp2Session, constants } from 'node:http2';
import { type AddressInfo, connect as netConnect } from 'node:net';
import { Duplex } from 'node:stream';
import { after, before, test } from 'node:test';
import { type TLSSocket, connect as tlsConnect } from 'node:tls';
import type { TollgateInstance } from '../../src/instance.ts';
import { H2_MAX_CONCURRENT_STREAMS } from '../../src/proxy/server.ts';
import { within } from '../support/wait.ts';
import {
  ECHO_SERVICE,
  frame,
  getHeaderBlock,
  h2Session,
  readFrames,
  startTlsGateway,
  TestCa,
  tool,
} from './support.ts';

const skip = tool('openssl');
let ca: TestCa;
let inst: TollgateInstance;
// An upstream that answers after 1.5 s: a stream in flight for longer than the header timeout.
const slow = createServer((_req, res) => {
  setTimeout(() => res.end('slow'), 1500);
});

before(async () => {
  if (skip) return;
  await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', resolve));
  ca = new TestCa();
  inst = await startTlsGateway(
    ca,
    `_tollgate:
  client_header_timeout: 700
  keepalive_timeout: 900
services:
${ECHO_SERVICE}  - name: slow
    url: http://127.0.0.1:${(slow.address() as AddressInfo).port}
    routes:
      - name: slow
        paths: [/slow]
`,
  );
});

after(async () => {
  await inst?.close(0);
  slow.close();
  slow.closeAllConnections();
});

const session = (): ClientHttp2Session => h2Session(inst, ca);

function closed(s: ClientHttp2Session, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${what}: the session stayed open`)), 10_000);
    s.once('close', () => {
      clearTimeout(t);
      resolve();
    });
  });
}

function get(s: ClientHttp2Session, path: string, extra: Record<string, string> = {}): Promise<{ status: number }> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no answer on ${path}`)), 10_000);
    const req = s.request({ ':path': path, ':authority': 'a.test', ...extra });
    let status = 0;
    req.on('response', (h) => (status = Number(h[':status'])));
    req.resume();
    const done = (): void => {
      clearTimeout(t);
      resolve({ status });
    };
    req.on('end', done);
    req.on('close', done);
    req.on('error', () => undefined);
    req.end();
  });
}

test('a session without open streams is closed after keepalive_timeout, whatever PINGs it sends', {
  skip,
}, async () => {
  const s = session();
  const gone = closed(s, 'idle session');
  // A stream that outlives keepalive_timeout keeps the session: it is not idle.
  assert.equal((await get(s, '/slow/x')).status, 200);
  assert.equal(s.closed || s.destroyed, false);
  // Then nothing but PINGs: they are no request, the session is idle and goes.
  const pinger = setInterval(() => {
    if (!s.closed && !s.destroyed) s.ping(() => undefined);
  }, 150);
  try {
    await gone;
  } finally {
    clearInterval(pinger);
  }
});

test('a fresh session that opens no stream is closed like a connection that sends no request head', {
  skip,
}, async () => {
  const s = session();
  await closed(s, 'fresh session');
});

test("a TLS handshake that stalls after the ClientHello is closed after client_header_timeout, not node's 120 s", {
  skip,
}, async () => {
  const [host, port] = inst.proxyAddresses[0]!.split(':') as [string, string];
  const raw = netConnect(Number(port), host);
  await once(raw, 'connect');
  // The client's TLS stack writes through to the gateway but never hears its answer: it sends a
  // complete ClientHello and then waits forever, as a stalled client would.
  const oneWay = new Duplex({ read() {}, write: (chunk, _enc, cb) => raw.write(chunk, cb) });
  const client = tlsConnect({ socket: oneWay, servername: 'a.test', ca: ca.cert });
  client.on('error', () => undefined);
  raw.resume();
  try {
    await within(once(raw, 'close'), 8_000, 'the gateway closing a handshake stalled after the ClientHello');
  } finally {
    client.destroy();
    raw.destroy();
  }
});

/** An HTTP/1.1 connection to the ssl listener, its handshake done. */
async function http1Socket(): Promise<TLSSocket> {
  const [host, port] = inst.proxyAddresses[0]!.split(':') as [string, string];
  const socket = tlsConnect({
    host,
    port: Number(port),
    servername: 'a.test',
    ca: ca.cert,
    ALPNProtocols: ['http/1.1'],
  });
  socket.on('error', () => undefined);
  await once(socket, 'secureConnect');
  return socket;
}

test('HTTP/1.1 on the ssl listener: a connection that sends nothing after the handshake is closed after client_header_timeout', {
  skip,
}, async () => {
  const socket = await http1Socket();
  socket.resume();
  try {
    await within(once(socket, 'close'), 8_000, 'the gateway closing a silent HTTP/1.1 connection');
  } finally {
    socket.destroy();
  }
});

test("HTTP/1.1 on the ssl listener: a head still arriving after client_header_timeout gets 408 then, not at node's 30 s check", {
  skip,
}, async () => {
  const socket = await http1Socket();
  socket.write('GET /echo/x HTTP/1.1\r\nHost: a.test\r\n');
  // A header line every 200 ms: the connection is never silent, its head never complete.
  const drip = setInterval(() => socket.write('x-drip: 1\r\n'), 200);
  let answer = '';
  socket.on('data', (d: Buffer) => (answer += d.toString('latin1')));
  try {
    await within(once(socket, 'close'), 5_000, 'the gateway answering a head that never completes');
  } finally {
    clearInterval(drip);
    socket.destroy();
  }
  assert.match(answer, /^HTTP\/1\.1 408 /);
});

test('a header block that never completes closes its session after client_header_timeout; a stream already open on it finishes', {
  skip,
}, async () => {
  const [host, port] = inst.proxyAddresses[0]!.split(':') as [string, string];
  const events: string[] = [];
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`the connection stayed open: ${events.join(', ')}`)), 10_000);
    const sock = tlsConnect({ host, port: Number(port), ca: ca.cert, servername: 'a.test', ALPNProtocols: ['h2'] });
    sock.on('error', () => undefined);
    sock.on('secureConnect', () => {
      sock.write('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
      sock.write(frame(4, 0, 0, Buffer.alloc(0)));
    });
    // Once the server's SETTINGS are acknowledged (no frame may follow an open header block, that ACK included):
    const send = (): void => {
      // Stream 1: a complete GET whose answer takes longer than client_header_timeout.
      sock.write(frame(1, 0x1 | 0x4, 1, getHeaderBlock('/slow/x')));
      // Stream 3: a header block begun (no END_HEADERS) and never continued.
      sock.write(frame(1, 0x1, 3, Buffer.from([0x82, 0x87])));
    };
    readFrames(sock, (type, flags, id, payload) => {
      if (type === 4 && (flags & 1) === 0) send();
      // :status 200 is the static table's index 8 (0x88) in the response's header block.
      if (type === 1 && id === 1) events.push(payload[0] === 0x88 ? 'stream 1: 200' : 'stream 1: other status');
      if (type === 0 && id === 1 && (flags & 1) === 1) events.push('stream 1: end');
      if (type === 3) events.push(`reset ${id}`);
      if (type === 7) events.push(`goaway ${payload.readUInt32BE(4)}`);
    });
    sock.on('close', () => {
      clearTimeout(t);
      events.push('closed');
      resolve();
    });
  });
  const goaway = events.findIndex((e) => e.startsWith('goaway'));
  assert.ok(goaway >= 0, events.join(', '));
  assert.equal(events[goaway], `goaway ${constants.NGHTTP2_NO_ERROR}`);
  // The GOAWAY came while stream 1 waited for its answer, which then arrived whole.
  assert.ok(events.indexOf('stream 1: 200') > goaway, events.join(', '));
  assert.ok(events.indexOf('stream 1: end') > goaway, events.join(', '));
  assert.equal(events.at(-1), 'closed');
});

test('streams past the concurrency limit are refused on their own; the session and its other streams go on', {
  skip,
}, async () => {
  const s = session();
  try {
    const n = H2_MAX_CONCURRENT_STREAMS + 20;
    const answers = await Promise.all(
      Array.from(
        { length: n },
        (_, i) =>
          new Promise<number>((resolve, reject) => {
            const t = setTimeout(() => reject(new Error('no answer')), 15_000);
            const req = s.request({ ':path': `/echo/${i}?delay=300`, ':authority': 'a.test' });
            let status = 0;
            req.on('response', (h) => (status = Number(h[':status'])));
            req.resume();
            req.on('error', () => undefined);
            req.on('close', () => {
              clearTimeout(t);
              resolve(status === 200 ? 200 : -(req.rstCode ?? 0));
            });
            req.end();
          }),
      ),
    );
    const ok = answers.filter((a) => a === 200).length;
    assert.ok(ok >= H2_MAX_CONCURRENT_STREAMS - 1 && ok <= n, `served ${ok} of ${n}`);
    // The client holds streams back at the server's advertised limit, or the server refuses them: never served past it at once.
    assert.ok(
      answers.every((a) => a === 200 || a === -constants.NGHTTP2_REFUSED_STREAM),
      answers.join(','),
    );
    assert.equal((await get(s, '/echo/after')).status, 200);
  } finally {
    s.close();
  }
});

test('a header list past 32 KiB is refused on its stream only (431, or a reset once the client knows the limit)', {
  skip,
}, async () => {
  const s = session();
  try {
    const big = get(s, '/echo/big', { 'x-big': 'a'.repeat(40 * 1024) });
    const small = await get(s, '/echo/small');
    assert.equal(small.status, 200);
    const b = await big;
    assert.ok(b.status === 431 || b.status === 0, `status ${b.status}`);
    // Sent once the session is settled (SETTINGS acknowledged): still refused.
    const again = await get(s, '/echo/big2', { 'x-big': 'a'.repeat(40 * 1024) });
    assert.ok(again.status === 431 || again.status === 0, `status ${again.status}`);
    assert.equal((await get(s, '/echo/after')).status, 200);
  } finally {
    s.close();
  }
});
