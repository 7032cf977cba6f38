import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { type AddressInfo, connect, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { definePlugin } from '../../src/index.ts';
import { startGateway, type TestGateway } from '../../src/testing/index.ts';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
let upstream: Server;
let gw: TestGateway;
const upstreamSaw: Record<string, string | string[] | undefined>[] = [];

before(async () => {
  // A WebSocket upstream: completes the handshake, then echoes every byte back in upper case.
  upstream = createServer((_req, res) => res.end('plain'));
  upstream.on('upgrade', (req, socket: Socket) => {
    upstreamSaw.push(req.headers);
    const accept = createHash('sha1').update(`${req.headers['sec-websocket-key']}${GUID}`).digest('base64');
    socket.write(
      `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`,
    );
    socket.on('data', (d: Buffer) => socket.write(d.toString().toUpperCase()));
    socket.on('end', () => socket.destroy());
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const port = (upstream.address() as AddressInfo).port;
  gw = await startGateway({
    plugins: [
      definePlugin({
        name: 'deny-header',
        version: '1.0.0',
        priority: 1000,
        schema: { type: 'object', additionalProperties: false },
        create: () => ({
          access(req) {
            if (req.headers['x-deny'] === '1') req.exit(401, { message: 'Unauthorized' });
          },
        }),
      }),
    ],
    config: {
      _format_version: '3.0',
      services: [
        {
          name: 'ws',
          url: `http://127.0.0.1:${port}`,
          routes: [{ name: 'ws', paths: ['/ws'], plugins: [{ name: 'deny-header' }] }],
        },
      ],
    },
  });
});

after(async () => {
  await gw.close();
  upstream.close();
});

function handshake(extra = ''): Promise<{ head: string; socket: Socket }> {
  const { port } = new URL(gw.url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1', () => {
      socket.write(
        `GET /ws/chat HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`,
      );
    });
    let buf = '';
    const onData = (d: Buffer): void => {
      buf += d.toString('latin1');
      const end = buf.indexOf('\r\n\r\n');
      if (end >= 0) {
        socket.off('data', onData);
        resolve({ head: buf.slice(0, end), socket });
      }
    };
    socket.on('data', onData);
    socket.on('error', reject);
  });
}

test('a WebSocket upgrade passes through to the upstream, then bytes flow both ways', async () => {
  const { head, socket } = await handshake();
  assert.match(head, /^HTTP\/1\.1 101/);
  assert.match(head, /Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=/);
  const reply = new Promise<string>((r) => socket.once('data', (d: Buffer) => r(d.toString())));
  socket.write('hello');
  assert.equal(await reply, 'HELLO');
  socket.destroy();
  const seen = upstreamSaw.at(-1)!;
  assert.equal(seen.upgrade, 'websocket');
  assert.equal(seen['x-forwarded-for'], '127.0.0.1');
});

test('plugins run on upgrade requests: a denied handshake never reaches the upstream', async () => {
  const before = upstreamSaw.length;
  const { head, socket } = await handshake('X-Deny: 1\r\n');
  socket.destroy();
  assert.match(head, /^HTTP\/1\.1 401/);
  assert.equal(upstreamSaw.length, before);
});
