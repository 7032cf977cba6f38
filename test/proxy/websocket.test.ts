import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { type AddressInfo, connect, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { definePlugin } from '../../src/index.ts';
import { startGateway, type TestGateway } from '../../src/testing/index.ts';
import { within } from '../support/wait.ts';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
let upstream: Server;
let gw: TestGateway;
const upstreamSaw: Record<string, string | string[] | undefined>[] = [];
const upstreamMethods: (string | undefined)[] = [];
/** Upstream sockets of handshakes left unanswered (/hang), to see when the gateway closes them. */
const hanging: Socket[] = [];

before(async () => {
  // A WebSocket upstream: completes the handshake, then echoes every byte back in upper case.
  upstream = createServer((_req, res) => res.end('plain'));
  upstream.on('upgrade', (req, socket: Socket) => {
    upstreamSaw.push(req.headers);
    upstreamMethods.push(req.method);
    socket.on('error', () => undefined);
    if (req.url === '/decline') {
      // Declines the upgrade and keeps its connection open.
      socket.write('HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\nno');
      return;
    }
    if (req.url === '/hang') {
      hanging.push(socket);
      socket.resume(); // read, so that the gateway's closing is seen
      return;
    }
    if (req.url === '/late') {
      // Answers after a while: the client's early bytes must wait for the 101, then go through.
      setTimeout(() => upgradeAndEcho(req.headers, socket), 300);
      return;
    }
    if (req.url === '/flood') {
      const hint = 'HTTP/1.1 103 Early Hints\r\nLink: </a.js>; rel=preload\r\n\r\n';
      const flood = (): void => {
        while (!socket.destroyed && socket.write(hint));
        if (!socket.destroyed) socket.once('drain', flood);
      };
      return flood();
    }
    upgradeAndEcho(req.headers, socket);
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
          routes: [
            { name: 'ws', paths: ['/ws'], methods: ['GET'], plugins: [{ name: 'deny-header' }] },
            // Another route on the same path for POST only, without the plugin.
            { name: 'ws-post', paths: ['/ws'], methods: ['POST'] },
          ],
        },
        {
          name: 'ws-idle',
          url: `http://127.0.0.1:${port}`,
          read_timeout: 400,
          routes: [{ name: 'ws-idle', paths: ['/idle'] }],
        },
      ],
    },
  });
});

after(async () => {
  await gw.close();
  upstream.close();
});

function handshake(extra = '', path = '/ws/chat', method = 'GET'): Promise<{ head: string; socket: Socket }> {
  const { port } = new URL(gw.url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1', () => {
      socket.write(
        `${method} ${path} HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`,
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

test('a handshake reaches the upstream with the method the route matched, not always GET', async () => {
  // A POST handshake matches the POST-only route, which has no deny-header plugin: the upstream must
  // see the POST its route allowed, not a GET the GET route would have denied.
  const { head, socket } = await handshake('X-Deny: 1\r\n', '/ws/chat', 'POST');
  socket.destroy();
  assert.match(head, /^HTTP\/1\.1 101/);
  assert.equal(upstreamMethods.at(-1), 'POST');
  const get = await handshake();
  get.socket.destroy();
  assert.equal(upstreamMethods.at(-1), 'GET');
});

function upgradeAndEcho(headers: Record<string, string | string[] | undefined>, socket: Socket): void {
  const accept = createHash('sha1').update(`${headers['sec-websocket-key']}${GUID}`).digest('base64');
  socket.write(
    `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`,
  );
  socket.on('data', (d: Buffer) => socket.write(d.toString().toUpperCase()));
  socket.on('end', () => socket.destroy());
}

test('a client that leaves while its handshake waits on the upstream ends the upstream side at once, logged 499', async () => {
  const { port } = new URL(gw.url);
  const client = connect(Number(port), '127.0.0.1');
  client.on('error', () => undefined);
  const from = gw.logs.length;
  client.write(
    'GET /ws/hang HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
  );
  for (let i = 0; i < 200 && hanging.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
  const upstreamSide = hanging.at(-1)!;
  client.end();
  // The service's read_timeout is 60 s: the upstream side must close long before it.
  // 'end': the upstream server's sockets are half-open capable, so the gateway's FIN alone is no 'close'.
  await within(once(upstreamSide, 'end'), 3_000, 'the upstream side of the abandoned handshake closing');
  let line: Record<string, unknown> | undefined;
  for (let i = 0; i < 200 && line === undefined; i++) {
    line = gw.logs.slice(from).find((l) => l.type === 'access' && l.path === '/ws/hang');
    if (line === undefined) await new Promise((r) => setTimeout(r, 10));
  }
  assert.equal(line?.status, 499);
  assert.equal(line?.error, 'CLIENT_CLOSED');
});

test('bytes a client sends before its 101 arrives reach the upstream after it, in order', async () => {
  const { port } = new URL(gw.url);
  const client = connect(Number(port), '127.0.0.1');
  client.on('error', () => undefined);
  let text = '';
  client.on('data', (d: Buffer) => (text += d.toString('latin1')));
  client.write(
    'GET /ws/late HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\nfirst-',
  );
  await new Promise((r) => setTimeout(r, 100));
  client.write('second');
  try {
    for (let i = 0; i < 300 && !text.includes('SECOND'); i++) await new Promise((r) => setTimeout(r, 10));
    assert.match(text, /^HTTP\/1\.1 101/);
    assert.match(text, /\r\n\r\nFIRST-SECOND$/);
  } finally {
    client.destroy();
  }
});

/** Resolves once the gateway has closed `socket` (its data read and dropped meanwhile). */
function closedByGateway(socket: Socket, what: string): Promise<unknown> {
  socket.resume();
  return within(once(socket, 'close'), 5_000, what);
}

test('a handshake answered with anything but 101 ends its connection once the answer is out', async () => {
  const declined = await handshake('', '/ws/decline');
  assert.match(declined.head, /^HTTP\/1\.1 404/);
  await closedByGateway(declined.socket, 'the connection of a handshake the upstream declined');
  const denied = await handshake('X-Deny: 1\r\n');
  assert.match(denied.head, /^HTTP\/1\.1 401/);
  await closedByGateway(denied.socket, 'the connection of a handshake a plugin denied');
});

test('a handshake the upstream answers with interim (1xx) responses only gets 502 and is closed', async () => {
  const { head, socket } = await within(handshake('', '/ws/flood'), 10_000, 'an answer to the handshake');
  assert.match(head, /^HTTP\/1\.1 502/);
  await closedByGateway(socket, 'the connection after the 502');
});

test('a tunnel silent both ways for read_timeout is closed; one in use stays open', async () => {
  const busy = await handshake('', '/idle');
  const idle = await handshake('', '/idle');
  assert.match(busy.head, /^HTTP\/1\.1 101/);
  assert.match(idle.head, /^HTTP\/1\.1 101/);
  let echoed = '';
  busy.socket.on('data', (d: Buffer) => (echoed += d.toString()));
  const ping = setInterval(() => busy.socket.write('ping'), 100);
  try {
    await closedByGateway(idle.socket, 'the idle tunnel');
    // The busy one outlived the idle one and more than twice read_timeout.
    await new Promise((r) => setTimeout(r, 900));
    assert.equal(busy.socket.destroyed, false);
    assert.match(echoed, /PING/);
  } finally {
    clearInterval(ping);
    busy.socket.destroy();
  }
  const line = gw.logs.findLast((l) => l.type === 'access' && l.path === '/idle' && l.error !== undefined)!;
  assert.equal(line.status, 101);
  assert.equal(line.error, 'UPSTREAM_TIMEOUT');
});
