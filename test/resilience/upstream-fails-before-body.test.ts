// An upstream that fails after its head but before any of its body reached the client: node holds
// an HTTP/1.1 head until the first body bytes, so the client gets the gateway's 502 (logged as the
// gateway's answer) instead of a connection closed with nothing. Once body bytes are out, the
// answer is cut as before: a clean end would pass a truncated body off as complete.

import assert from 'node:assert/strict';
import { Agent, request } from 'node:http';
import { type AddressInfo, createServer, type Server } from 'node:net';
import { after, before, test } from 'node:test';
import type { TestGateway } from '../../src/testing/index.ts';
import { startServiceGateway } from '../support/gateway.ts';

let upstream: Server;
let gw: TestGateway;

before(async () => {
  upstream = createServer((sock) => {
    sock.once('data', (d) => {
      const path = d.toString('latin1').split(' ')[1] ?? '';
      if (path.startsWith('/bad-chunk')) {
        // The head and a malformed first chunk in one packet.
        sock.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\nZZZ\r\nhello\r\n');
      } else if (path.startsWith('/reset-after-head')) {
        sock.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n');
        setTimeout(() => sock.resetAndDestroy(), 50);
      } else if (path.startsWith('/reset-mid-body')) {
        sock.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc');
        setTimeout(() => sock.resetAndDestroy(), 50);
      } else sock.end('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello');
    });
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const port = (upstream.address() as AddressInfo).port;
  gw = await startServiceGateway([{ name: 'r', paths: ['/'] }], { name: 'raw', url: `http://127.0.0.1:${port}` });
});

after(async () => {
  await gw?.close();
  upstream?.close();
});

function get(path: string, agent?: Agent): Promise<{ status: number; body: string; error?: string }> {
  return new Promise((resolve) => {
    const req = request(`${gw.url}${path}`, { agent }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c));
      res.once('end', () => resolve({ status: res.statusCode!, body }));
      res.once('error', (e) => resolve({ status: res.statusCode!, body, error: e.message }));
    });
    req.once('error', (e) => resolve({ status: 0, body: '', error: e.message }));
    req.end();
  });
}

test('a malformed first chunk or a reset right after the head: the client gets a 502 and its connection stays usable', async () => {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    for (const path of ['/bad-chunk', '/reset-after-head']) {
      const r = await get(path, agent);
      assert.equal(r.status, 502, `${path}: ${JSON.stringify(r)}`);
      assert.match(r.body, /An invalid response was received from the upstream server/);
      // The same kept-alive connection serves the next request.
      const next = await get('/ok', agent);
      assert.deepEqual([next.status, next.body], [200, 'hello']);
    }
  } finally {
    agent.destroy();
  }
});

test('a reset after body bytes went out still cuts the answer: never a clean end of a truncated body', async () => {
  const r = await get('/reset-mid-body');
  assert.equal(r.status, 200);
  assert.ok(r.error !== undefined || r.body.length < 100, JSON.stringify(r));
});
