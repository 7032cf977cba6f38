// A connection that never sends a request head is closed after client_header_timeout, as nginx
// closes it: node's own head deadline starts only at a request's first byte. Once a request has
// come, the connection is the keep-alive timeout's, not this deadline's.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { startGateway, type TestGateway } from '../../src/testing/index.ts';
import { within } from '../support/wait.ts';

let gw: TestGateway;

before(async () => {
  gw = await startGateway({
    config: {
      _format_version: '3.0',
      _tollgate: { client_header_timeout: 300, keepalive_timeout: 60_000 },
      services: [{ name: 'echo', url: 'echo://', routes: [{ name: 'echo', paths: ['/echo'] }] }],
    },
  });
});

after(async () => {
  await gw?.close();
});

async function open(): Promise<Socket> {
  const { hostname, port } = new URL(gw.url);
  const s = connect(Number(port), hostname);
  s.on('error', () => undefined);
  // Read what comes: a paused socket may never see the gateway's FIN (no 'end', so no 'close').
  s.resume();
  await once(s, 'connect');
  return s;
}

test('a connection that sends nothing is closed after client_header_timeout', async () => {
  const s = await open();
  try {
    await within(once(s, 'close'), 10_000, 'the gateway closing a connection that never sent a byte');
  } finally {
    s.destroy();
  }
});

test('a connection that has been answered stays open past client_header_timeout, for the keep-alive timeout', async () => {
  const s = await open();
  let answer = '';
  s.on('data', (d: Buffer) => (answer += d.toString('latin1')));
  s.write('GET /echo HTTP/1.1\r\nHost: a\r\n\r\n');
  let closed = false;
  s.once('close', () => (closed = true));
  // Three times the head deadline: a second request then is still served on the same connection.
  await new Promise((r) => setTimeout(r, 900));
  assert.equal(closed, false, 'the answered connection is still open');
  s.write('GET /echo HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
  await within(once(s, 'close'), 10_000, 'the second answer');
  assert.equal(answer.match(/HTTP\/1\.1 200 /g)?.length, 2, answer.slice(0, 300));
});
