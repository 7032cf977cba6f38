import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, test } from 'node:test';
import { startGateway, type TestGateway } from '../../src/testing/index.ts';
import { parseRaw, type RawResponse } from '../support/raw.ts';

let gw: TestGateway;
before(async () => {
  gw = await startGateway({
    config: {
      _format_version: '3.0',
      _tollgate: { client_header_timeout: 400, client_body_timeout: 400 },
      services: [{ name: 'echo', url: 'echo://', routes: [{ name: 'echo', paths: ['/echo'] }] }],
    },
  });
});
after(() => gw.close());

/** Writes `text`, then stays silent; resolves with what the gateway answered when it closed the connection. */
function stall(text: string): Promise<RawResponse> {
  const { port } = new URL(gw.url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1', () => socket.write(text));
    let data = '';
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => (data += d));
    socket.on('close', () => resolve(parseRaw(data)));
    socket.on('error', (err) => (data === '' ? reject(err) : undefined));
  });
}

test('a client that stops sending its request body gets 408 after client_body_timeout, and the connection is closed', async () => {
  const res = await stall('POST /echo/x HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc');
  assert.equal(res.status, 408);
  assert.equal(JSON.parse(res.body).message, 'Request timeout');
});

test('a client that never finishes its request head is disconnected after client_header_timeout', async () => {
  const res = await stall('GET /echo/x HTTP/1.1\r\nHost: t\r\n');
  assert.ok(res.status === 408 || res.raw === '', `answered ${res.raw.slice(0, 40)}`);
});
