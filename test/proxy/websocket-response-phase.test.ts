// A WebSocket handshake's answer goes through the route's response phase, as Kong runs
// header_filter on it: the upstream's 101 and an answer declining the upgrade carry the headers
// of the route's response plugins (correlation-id's echo, response-transformer's additions).

import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { type AddressInfo, connect, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { startGateway, type TestGateway } from '../../src/testing/index.ts';

let upstream: Server;
let gw: TestGateway;

before(async () => {
  upstream = createServer((_req, res) => res.end('plain'));
  upstream.on('upgrade', (req, socket: Socket) => {
    socket.on('error', () => undefined);
    if (req.url === '/decline') {
      socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 8\r\n\r\ndeclined');
      return;
    }
    socket.write(
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n',
    );
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const port = (upstream.address() as AddressInfo).port;
  gw = await startGateway({
    config: {
      _format_version: '3.0',
      services: [
        {
          name: 'ws',
          url: `http://127.0.0.1:${port}`,
          routes: [
            {
              name: 'ws',
              paths: ['/'],
              plugins: [
                { name: 'correlation-id', config: { echo_downstream: true } },
                { name: 'response-transformer', config: { add: { headers: ['x-added:1'] } } },
              ],
            },
          ],
        },
      ],
    },
  });
});

after(async () => {
  await gw?.close();
  upstream.closeAllConnections();
  upstream.close();
});

/** The head the gateway answers a handshake on `path` with, names lower-cased. */
function handshakeHead(path: string): Promise<{ status: number; headers: Map<string, string> }> {
  const { port } = new URL(gw.url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1', () =>
      socket.write(
        `GET ${path} HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      ),
    );
    let buf = '';
    socket.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      socket.destroy();
      const [status, ...lines] = buf.slice(0, end).split('\r\n');
      const headers = new Map<string, string>();
      for (const l of lines) headers.set(l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim());
      resolve({ status: Number(status!.split(' ')[1]), headers });
    });
    socket.on('error', reject);
  });
}

test("the upstream's 101 carries the route's response headers, its Upgrade kept, the gateway's Connection", async () => {
  const { status, headers } = await handshakeHead('/chat');
  assert.equal(status, 101);
  assert.equal(headers.get('upgrade'), 'websocket');
  // The upstream said `Connection: Upgrade`; nginx (so Kong) writes its own `Connection: upgrade`.
  assert.equal(headers.get('connection'), 'upgrade');
  assert.equal(headers.get('sec-websocket-accept'), 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
  assert.equal(headers.get('x-added'), '1');
  assert.match(headers.get('kong-request-id') ?? '', /#\d+$/);
});

test('an answer declining the upgrade carries them too, and still closes its connection', async () => {
  const { status, headers } = await handshakeHead('/decline');
  assert.equal(status, 403);
  assert.equal(headers.get('x-added'), '1');
  assert.match(headers.get('kong-request-id') ?? '', /#\d+$/);
  assert.equal(headers.get('connection'), 'close');
});
