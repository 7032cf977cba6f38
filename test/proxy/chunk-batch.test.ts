// An upstream's chunked answer reaches the client in the pieces the upstream's socket delivered,
// not one write per chunk: a megabyte of one-byte chunks cost the gateway seconds of event loop
// when each went out on its own. Batching only joins what has arrived; it never waits for more.

import assert from 'node:assert/strict';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import type { TestGateway } from '../../src/testing/index.ts';
import { startServiceGateway } from '../support/gateway.ts';

const TINY_CHUNKS = 5000;

/** What the upstream does with each request, by its path. */
const answers: Record<string, (socket: Socket) => void> = {
  '/tiny': (socket) =>
    socket.write(`HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n${'1\r\nx\r\n'.repeat(TINY_CHUNKS)}0\r\n\r\n`),
  '/stepped': (socket) => {
    socket.write('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n1\r\na\r\n');
    stepped = socket;
  },
};
/** The stepped answer's socket, written to as the test reads. */
let stepped: Socket | null = null;

let upstream: Server;
let gw: TestGateway;

before(async () => {
  upstream = createServer((socket) => {
    let head = '';
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      head += d;
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      const path = head.split(' ', 2)[1]!;
      head = head.slice(end + 4);
      answers[path]!(socket);
    });
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  const { port } = upstream.address() as { port: number };
  gw = await startServiceGateway([{ name: 'r', paths: ['/'] }], { name: 'up', url: `http://127.0.0.1:${port}` });
});

after(async () => {
  await gw?.close();
  stepped?.destroy();
  await new Promise((resolve) => upstream?.close(resolve));
});

/** The raw answer to `GET path` on a fresh connection, read to its close. */
function rawAnswer(path: string): Promise<string> {
  const { hostname, port } = new URL(gw.url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () =>
      socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`),
    );
    let data = '';
    socket.setEncoding('latin1');
    socket.setTimeout(20_000, () => socket.destroy(new Error(`no end; read ${data.length} bytes`)));
    socket.on('data', (d: string) => (data += d));
    socket.on('end', () => resolve(data));
    socket.on('error', reject);
  });
}

/** The chunks of a chunked body, as the client's parser sees them. */
function chunksOf(body: string): string[] {
  const chunks: string[] = [];
  let at = 0;
  for (;;) {
    const eol = body.indexOf('\r\n', at);
    const size = Number.parseInt(body.slice(at, eol), 16);
    if (size === 0) return chunks;
    chunks.push(body.slice(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
}

test('one-byte chunks that arrive together go to the client as a few chunks, the body intact', async () => {
  const raw = await rawAnswer('/tiny');
  const [head, body] = [raw.slice(0, raw.indexOf('\r\n\r\n')), raw.slice(raw.indexOf('\r\n\r\n') + 4)];
  assert.match(head, /^HTTP\/1\.1 200 /);
  assert.match(head, /\r\ntransfer-encoding: chunked/i);
  const chunks = chunksOf(body);
  assert.equal(chunks.join(''), 'x'.repeat(TINY_CHUNKS));
  assert.ok(chunks.length < 100, `${chunks.length} chunks went out for ${TINY_CHUNKS} received`);
});

test('each chunk reaches the client before the upstream sends the next: nothing waits for more', async () => {
  const res = await fetch(`${gw.url}/stepped`, { signal: AbortSignal.timeout(10_000) });
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  const next = async () => decoder.decode((await reader.read()).value);
  assert.equal(await next(), 'a', 'the first chunk');
  stepped!.write('1\r\nb\r\n');
  assert.equal(await next(), 'b', 'a later chunk, alone in its turn');
  stepped!.write('1\r\nc\r\n');
  assert.equal(await next(), 'c');
  stepped!.write('0\r\n\r\n');
  assert.equal((await reader.read()).done, true);
});
