// Clients that misbehave at the socket: a reset right after an upgrade request, pipelined
// requests abandoned mid-way, a client that stops reading. None may crash the gateway, leave a
// request (and its upstream connection) open for good, or hold a connection without a deadline.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { type AddressInfo, connect, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { startGateway, type TestGateway } from '../../src/testing/index.ts';
import { until } from '../support/wait.ts';

let upstream: Server;
let gw: TestGateway;
/** Upstream connections open now, and requests the upstream received. */
const upstreamSockets = new Set<Socket>();
let upstreamRequests = 0;

before(async () => {
  upstream = createServer((req, res) => {
    upstreamRequests++;
    const url = new URL(req.url ?? '/', 'http://x');
    // Never answered: the request ends only when the gateway gives it up.
    if (url.pathname.endsWith('/never')) return;
    if (url.pathname.endsWith('/big')) {
      // 64 MiB, written as fast as the gateway takes it.
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(64 * 1024 * 1024) });
      const chunk = Buffer.alloc(1024 * 1024, 97);
      let left = 64;
      const more = (): void => {
        while (left > 0) {
          left--;
          if (!res.write(chunk)) return void res.once('drain', more);
        }
        res.end();
      };
      return more();
    }
    setTimeout(() => res.end('slow'), Number(url.searchParams.get('ms') ?? 0));
  });
  upstream.on('connection', (s: Socket) => {
    upstreamSockets.add(s);
    s.on('close', () => upstreamSockets.delete(s));
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const port = (upstream.address() as AddressInfo).port;
  gw = await startGateway({
    config: {
      _format_version: '3.0',
      _tollgate: { send_timeout: 500, upstream_keepalive_pool_size: 0 },
      services: [
        {
          name: 'up',
          url: `http://127.0.0.1:${port}`,
          routes: [
            { name: 'up', paths: ['/up'] },
            {
              name: 'rewrite',
              paths: ['/rewrite'],
              plugins: [{ name: 'request-transformer', config: { add: { body: ['from:gateway'] } } }],
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
  await new Promise((r) => upstream.close(r));
});

function open(): Promise<Socket> {
  const { hostname, port } = new URL(gw.url);
  return new Promise((resolve, reject) => {
    const s = connect(Number(port), hostname, () => resolve(s));
    s.on('error', reject);
  });
}

const accessLines = (): Record<string, unknown>[] => gw.logs.filter((l) => l.type === 'access');

test('a connection reset right after an upgrade request (answered or refused) does not take the gateway down', async () => {
  for (const upgrade of ['websocket', 'h2c', 'foo']) {
    for (const path of ['/up/ws', '/nowhere']) {
      const s = await open();
      s.on('error', () => undefined);
      s.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: ${upgrade}\r\n\r\n`);
      // A reset (RST) at once, and one after the first bytes of the answer.
      if (upgrade === 'foo') await new Promise((r) => s.once('data', r));
      s.resetAndDestroy();
    }
  }
  await new Promise((r) => setTimeout(r, 200));
  const res = await fetch(`${gw.url}/up/after?ms=0`);
  assert.equal(res.status, 200);
  assert.equal(await res.text(), 'slow');
});

test('a client that closes its side after an h2c upgrade offer (served over HTTP/1.1) is a 499, and the upstream exchange ends', async () => {
  const before = accessLines().length;
  const seen = upstreamRequests;
  const s = await open();
  s.on('error', () => undefined);
  s.resume();
  s.write(
    'GET /up/never HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n',
  );
  await until('the request upstream', () => upstreamRequests > seen);
  s.end();
  await until('the access line', () => accessLines().length > before);
  assert.equal(accessLines().at(-1)!.status, 499);
  await until('no upstream connection left', () => upstreamSockets.size === 0);
  s.destroy();
});

test('an upgrade pipelined behind a request still being answered closes the connection, not the process', async () => {
  const s = await open();
  s.on('error', () => undefined);
  const closed = new Promise<void>((r) => s.once('close', () => r()));
  s.resume();
  s.write(
    'GET /up/first?ms=200 HTTP/1.1\r\nHost: x\r\n\r\nGET /up/ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n',
  );
  await closed;
  const res = await fetch(`${gw.url}/up/after?ms=0`);
  assert.equal(res.status, 200);
  await res.text();
});

test('pipelined requests are handled one at a time (as nginx does); those a client abandons end and free the upstream', async () => {
  const before = accessLines().length;
  const seen = upstreamRequests;
  const s = await open();
  s.on('error', () => undefined);
  let pipelined = '';
  for (let i = 0; i < 5; i++) pipelined += `GET /up/p${i}?ms=300 HTTP/1.1\r\nHost: x\r\n\r\n`;
  s.write(pipelined);
  await until('the first request upstream', () => upstreamSockets.size > 0);
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(upstreamRequests - seen, 1, 'one upstream exchange per client connection at a time');
  s.destroy();
  await until('the access line of the request in flight', () => accessLines().length > before);
  assert.equal(accessLines().at(-1)!.status, 499);
  await until('no upstream connection left', () => upstreamSockets.size === 0);
  await until('no request left in flight', () => gw.instance.gateway.runtime.inflight === 0);
  // The rest were never begun: nothing went upstream for them.
  assert.equal(upstreamRequests - seen, 1);
});

test('a connection with more than 100 pipelined requests waiting is closed', async () => {
  const s = await open();
  let text = '';
  for (let i = 0; i < 150; i++) text += `GET /up/q${i}?ms=200 HTTP/1.1\r\nHost: x\r\n\r\n`;
  const closed = new Promise<void>((r) => s.once('close', () => r()));
  s.on('error', () => undefined);
  s.on('data', () => undefined);
  s.write(text);
  await closed;
  await until('no request left in flight', () => gw.instance.gateway.runtime.inflight === 0);
});

test('a connection whose pipelined heads waiting pass 128 KiB is closed', { timeout: 20_000 }, async () => {
  const seen = upstreamRequests;
  const s = await open();
  s.on('error', () => undefined);
  s.resume();
  const closed = new Promise<void>((r) => s.once('close', () => r()));
  // 40 heads of 8 KiB (320 KiB, fewer than 100 requests) behind a request the upstream never
  // answers: every one was parsed and held for as long as the first took.
  const pad = 'p'.repeat(8 * 1024);
  let text = 'GET /up/never HTTP/1.1\r\nHost: x\r\n\r\n';
  for (let i = 0; i < 40; i++) text += `GET /up/q${i} HTTP/1.1\r\nHost: x\r\nX-Pad: ${pad}\r\n\r\n`;
  s.write(text);
  await closed;
  await until('no request left in flight', () => gw.instance.gateway.runtime.inflight === 0);
  assert.ok(upstreamRequests - seen <= 1, 'nothing waiting went upstream');
});

test('a pipeline of 30 requests with 2 KiB heads is answered whole', async () => {
  const s = await open();
  s.on('error', () => undefined);
  let got = '';
  s.on('data', (d: Buffer) => {
    got += d.toString('latin1');
  });
  let text = '';
  const pad = 'p'.repeat(2 * 1024);
  for (let i = 0; i < 30; i++) text += `GET /up/r${i}?ms=${i % 3} HTTP/1.1\r\nHost: x\r\nX-Pad: ${pad}\r\n\r\n`;
  s.write(text);
  await until('30 answers', () => got.split('HTTP/1.1 200 OK').length - 1 === 30);
  s.destroy();
});

test('a client that stops reading is closed after send_timeout, and the upstream connection with it', async () => {
  const before = accessLines().length;
  const s = await open();
  s.on('error', () => undefined);
  s.write('GET /up/big HTTP/1.1\r\nHost: x\r\n\r\n');
  // Never read: the socket's buffers fill and the gateway's writes stop draining.
  s.pause();
  await until('the access line of the request the gateway gave up on', () => accessLines().length > before);
  const line = accessLines().at(-1)!;
  assert.equal(line.error, 'CLIENT_SEND_TIMEOUT');
  await until('no upstream connection left', () => upstreamSockets.size === 0);
  s.destroy();
});

test('a client that leaves while a plugin reads its body is an info line, not an error with a stack', async () => {
  const before = gw.logs.length;
  const s = await open();
  s.on('error', () => undefined);
  s.write('POST /rewrite HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"a":');
  await new Promise((r) => setTimeout(r, 200));
  s.resetAndDestroy();
  await until('the access line', () => gw.logs.slice(before).some((l) => l.type === 'access'));
  const lines = gw.logs.slice(before);
  assert.deepEqual(
    lines.filter((l) => l.level === 'error'),
    [],
  );
});
