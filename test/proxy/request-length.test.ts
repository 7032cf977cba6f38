// The access line's bytes_received and a log plugin's request.size count a request as nginx's
// $request_length does, which Kong logs: the request line, the headers and the body, as sent.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startGateway, type TestGateway } from '../../src/testing/index.ts';
import { accessLineOf } from '../support/logs.ts';
import { rawRequest } from '../support/raw.ts';

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

/** Sends the request in `parts` and returns the bytes_received its access line counted. */
async function bytesReceived(parts: string[]): Promise<number> {
  const answer = await rawRequest(gw.url, parts);
  assert.equal(answer.status, 200, answer.raw);
  const line = await accessLineOf(gw.logs, answer.headers['x-request-id']!);
  return line.bytes_received as number;
}

const head = (framing: string) => `POST /echo HTTP/1.1\r\nHost: gateway.test\r\nConnection: close\r\n${framing}\r\n`;

test('a body with Content-Length: the head and the body, byte for byte', async () => {
  const request = `${head('Content-Length: 11\r\n')}hello world`;
  assert.equal(await bytesReceived([request]), Buffer.byteLength(request));
});

test('a chunked body arriving after its head: the head and every chunk as framed on the wire', async () => {
  // The head is read and the request handled before the body comes, as with a client that streams.
  const parts = [head('Transfer-Encoding: chunked\r\n'), '5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n'];
  assert.equal(await bytesReceived(parts), Buffer.byteLength(parts.join('')));
});

test('a request without a body: its head', async () => {
  const request = 'GET /echo HTTP/1.1\r\nHost: gateway.test\r\nConnection: close\r\nAccept: */*\r\n\r\n';
  assert.equal(await bytesReceived([request]), Buffer.byteLength(request));
});
