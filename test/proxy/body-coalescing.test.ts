// A client's request body reaches the upstream in the pieces the gateway read it in, not in the
// client's chunk framing: undici writes each piece of a stream body as one write (and, chunked,
// one upstream chunk), so a body of 1-byte chunks was one syscall and one upstream chunk per byte.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect as h2Connect } from 'node:http2';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { TollgateInstance } from '../../src/instance.ts';
import type { TestGateway } from '../../src/testing/index.ts';
import { startServiceGateway } from '../support/gateway.ts';
import { startFromFile } from '../tls/support.ts';

interface Received {
  chunks: number;
  body: string;
  /** The last chunk came. */
  ended: boolean;
}

/**
 * An HTTP/1.1 upstream that reads a chunked request itself, counting its chunk-size lines, and
 * answers 200 with what it counted. `progress` is told each time more of the body is in.
 */
function chunkCountingUpstream(progress: (r: Received) => void): Server {
  return createServer((socket: Socket) => {
    let data = '';
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      data += d;
      const head = data.indexOf('\r\n\r\n');
      if (head < 0) return;
      const got = dechunk(data.slice(head + 4));
      progress(got);
      if (!got.ended) return;
      const out = JSON.stringify(got);
      socket.end(
        `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${out.length}\r\nConnection: close\r\n\r\n${out}`,
      );
    });
    socket.on('error', () => socket.destroy());
  });
}

/** The chunks of `s` that are complete, and whether the last one is among them. */
function dechunk(s: string): Received {
  let body = '';
  let chunks = 0;
  let i = 0;
  for (;;) {
    const eol = s.indexOf('\r\n', i);
    if (eol < 0) return { chunks, body, ended: false };
    const size = Number.parseInt(s.slice(i, eol), 16);
    if (size === 0) return { chunks, body, ended: s.length >= eol + 4 };
    // A chunk's data is in once its bytes are (undici writes the CRLF after it with the next one).
    if (s.length < eol + 2 + size) return { chunks, body, ended: false };
    body += s.slice(eol + 2, eol + 2 + size);
    chunks++;
    i = eol + 2 + size + 2;
  }
}

let upstream: Server;
let gw: TestGateway;
/** The same route on a plain listener with Kong's http2 flag (h2c). */
let h2gw: TollgateInstance;
let dir: string;
/** Told of the upstream's progress on the body of the request under way. */
let onProgress: (r: Received) => void = () => {};

before(async () => {
  upstream = chunkCountingUpstream((r) => onProgress(r));
  upstream.listen(0, '127.0.0.1');
  await once(upstream, 'listening');
  const { port } = upstream.address() as { port: number };
  gw = await startServiceGateway(
    [
      { name: 'r', paths: ['/'] },
      // A plugin relaying the body itself (RelayedBody): request-size-limiting counts it on the way.
      {
        name: 'counted',
        paths: ['/counted'],
        plugins: [{ name: 'request-size-limiting', config: { allowed_payload_size: 1 } }],
      },
    ],
    { name: 'up', url: `http://127.0.0.1:${port}` },
  );
  dir = mkdtempSync(join(tmpdir(), 'tollgate-coalescing-'));
  const file = join(dir, 'gateway.yaml');
  const yaml = `_format_version: "3.0"\nservices:\n  - name: up\n    url: http://127.0.0.1:${port}\n    routes: [{ name: r, paths: [/] }]\n`;
  writeFileSync(file, yaml);
  h2gw = await startFromFile(file, { proxyListen: ['127.0.0.1:0 http2'] });
});

after(async () => {
  await gw?.close();
  await h2gw?.close(0);
  upstream?.close();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

/** Resolves once the upstream has `length` bytes of the body under way. */
function upstreamHas(length: number): Promise<void> {
  return new Promise((resolve) => {
    onProgress = (r) => {
      if (r.body.length >= length) resolve();
    };
  });
}

/** A raw connection to the gateway: `write` to it; `received()` is what the upstream counted, once the answer is in. */
async function rawClient(): Promise<{ write: (text: string) => void; received: () => Promise<Received> }> {
  const { hostname, port } = new URL(gw.url);
  const client = connect(Number(port), hostname);
  let answer = '';
  client.setEncoding('latin1');
  client.on('data', (d: string) => (answer += d));
  const closed = once(client, 'close');
  await once(client, 'connect');
  return {
    write: (text) => client.write(text),
    received: async () => {
      await closed;
      assert.match(answer, /^HTTP\/1\.1 200 /);
      return JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) as Received;
    },
  };
}

for (const path of ['/up', '/counted'])
  test(`a body of 5,000 one-byte chunks sent in one write reaches the upstream whole, in far fewer chunks (${path})`, async () => {
    const bytes = Array.from({ length: 5000 }, (_, i) => String.fromCharCode(97 + (i % 26))).join('');
    const client = await rawClient();
    // The head alone first: the exchange starts while the body is still to come, so the upstream
    // gets it chunked (a body already whole when the exchange starts goes with a Content-Length).
    const connected = once(upstream, 'connection');
    client.write(`POST ${path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n`);
    await connected;
    const allIn = upstreamHas(bytes.length);
    client.write([...bytes].map((b) => `1\r\n${b}\r\n`).join(''));
    await allIn;
    client.write('0\r\n\r\n');
    const got = await client.received();
    assert.equal(got.body, bytes, 'the body arrives intact and in order');
    assert.ok(got.chunks < 100, `the upstream got ${got.chunks} chunks for 5,000 client chunks`);
  });

// Joining never waits for more: what the client sent reaches the upstream while the rest is still
// to come (a gRPC client-streaming call's messages, one at a time).
test('HTTP/1.1: the first piece of a chunked body reaches the upstream before the client sends the rest', async () => {
  const client = await rawClient();
  const first = upstreamHas(5);
  client.write('POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n');
  await first;
  client.write('6\r\n world\r\n0\r\n\r\n');
  assert.equal((await client.received()).body, 'hello world');
});

test('HTTP/2: the first DATA of a body reaches the upstream before the client sends the rest', async () => {
  const session = h2Connect(`http://${h2gw.proxyAddresses[0]}`);
  try {
    const req = session.request({ ':method': 'POST', ':path': '/up' });
    let out = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => (out += d));
    const ended = once(req, 'end');
    const first = upstreamHas(5);
    req.write('hello');
    await first;
    req.end(' world');
    await ended;
    assert.equal((JSON.parse(out) as Received).body, 'hello world');
  } finally {
    session.close();
  }
});
