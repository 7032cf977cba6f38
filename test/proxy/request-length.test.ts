// The access line's bytes_received and a log plugin's request.size count a request as nginx's
// $request_length does, which Kong logs: the request line, the headers and the body, as sent.
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startGateway, type TestGateway } from '../../src/testing/index.ts';
import { until } from '../support/wait.ts';

let gw: TestGateway;

before(async () => {
  gw = await startGateway({
    config: {
      _format_version: '3.0',
      services: [{ name: 'echo', url: 'echo://', routes: [{ name: 'echo', paths: ['/echo'] }] }],
    },
  });
});
after(() => gw.close());

/** Sends `parts` on one connection, `pauseMs` apart, and resolves once the answer has ended (`connection: close`). */
async function send(parts: string[], pauseMs: number): Promise<string> {
  const socket: Socket = connect(Number(new URL(gw.url).port), '127.0.0.1');
  await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  let answer = '';
  socket.setEncoding('latin1').on('data', (d: string) => (answer += d));
  const ended = new Promise((resolve) => socket.once('close', resolve));
  for (const [i, part] of parts.entries()) {
    if (i > 0) await sleep(pauseMs);
    socket.write(part);
  }
  const deadline = setTimeout(() => socket.destroy(), 5_000);
  await ended;
  clearTimeout(deadline);
  return answer;
}

async function bytesReceived(id: string): Promise<number> {
  const line = () => gw.logs.find((l) => l.type === 'access' && l.path === `/echo/${id}`);
  await until('the access line', () => line() !== undefined, 5_000);
  return line()!.bytes_received as number;
}

const head = (id: string, framing: string) =>
  `POST /echo/${id} HTTP/1.1\r\nHost: gateway.test\r\nConnection: close\r\n${framing}\r\n`;

test('a body with Content-Length: the head and the body, byte for byte', async () => {
  const request = `${head('sized', 'Content-Length: 11\r\n')}hello world`;
  assert.match(await send([request], 0), /^HTTP\/1\.1 200 /);
  assert.equal(await bytesReceived('sized'), Buffer.byteLength(request));
});

test('a chunked body arriving after its head: the head and every chunk as framed on the wire', async () => {
  const h = head('chunked', 'Transfer-Encoding: chunked\r\n');
  const body = '5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n';
  // The head is read and the request handled before the body comes, as with a client that streams.
  assert.match(await send([h, body], 200), /^HTTP\/1\.1 200 /);
  assert.equal(await bytesReceived('chunked'), Buffer.byteLength(h) + Buffer.byteLength(body));
});

test('a request without a body: its head', async () => {
  const request = `GET /echo/bodiless HTTP/1.1\r\nHost: gateway.test\r\nConnection: close\r\nAccept: */*\r\n\r\n`;
  assert.match(await send([request], 0), /^HTTP\/1\.1 200 /);
  assert.equal(await bytesReceived('bodiless'), Buffer.byteLength(request));
});
