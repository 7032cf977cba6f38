// On HTTP/1.1 an upstream's header names go out as the upstream spelled them, as nginx relays them,
// whether or not response plugins ran on the route; the plugins still see them in lower case.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { rawRequest } from '../../test/support/raw.ts';
import { definePlugin } from '../index.ts';
import { startGateway, type TestGateway } from '../testing/index.ts';

/** The names the last response handler of `seer` saw. */
let seen: string[] = [];

const seer = definePlugin({
  name: 'seer',
  version: '1.0.0',
  priority: 500,
  schema: { type: 'object', properties: { rewrite: { type: 'boolean' } }, additionalProperties: false },
  create(config: { rewrite?: boolean }) {
    return {
      response(_req, res) {
        seen = Object.keys(res.headers);
        res.setHeader('x-set', 'by-plugin');
        if (config.rewrite) res.transformBody((b) => b.toString().toUpperCase());
      },
    };
  },
});

const UPSTREAM_HEAD = ['X-Custom-Thing', 'a', 'Content-Type', 'text/plain', 'ETag', '"v1"', 'Content-Length', '5'];

let upstream: Server;
let gw: TestGateway;

before(async () => {
  upstream = createServer((_req, res) => {
    res.writeHead(200, UPSTREAM_HEAD as unknown as Record<string, string>);
    res.end('hello');
  });
  upstream.on('upgrade', (_req, socket: Socket) => {
    socket.on('error', () => undefined);
    socket.end('HTTP/1.1 403 Forbidden\r\nX-Custom-Thing: a\r\nContent-Length: 8\r\n\r\ndeclined');
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const port = (upstream.address() as AddressInfo).port;
  gw = await startGateway({
    plugins: [seer],
    config: {
      _format_version: '3.0',
      services: [
        {
          name: 'up',
          url: `http://127.0.0.1:${port}`,
          routes: [
            { name: 'plain', paths: ['/plain'] },
            {
              name: 'rt',
              paths: ['/rt'],
              plugins: [{ name: 'response-transformer', config: { add: { headers: ['x-added:1'] } } }],
            },
            { name: 'cors', paths: ['/cors'], plugins: [{ name: 'cors' }] },
            { name: 'seer', paths: ['/seer'], plugins: [{ name: 'seer', config: {} }] },
            { name: 'rewrite', paths: ['/rewrite'], plugins: [{ name: 'seer', config: { rewrite: true } }] },
          ],
        },
      ],
    },
  });
});

after(async () => {
  await gw?.close();
  upstream?.closeAllConnections();
  upstream?.close();
});

/** The header names of the head the gateway answers `path` with, as they came on the wire. */
async function namesOnTheWire(path: string, extra = ''): Promise<string[]> {
  const host = new URL(gw.url).host;
  const close = extra.includes('Connection:') ? '' : 'Connection: close\r\n';
  const res = await rawRequest(gw.url, `GET ${path} HTTP/1.1\r\nHost: ${host}\r\n${extra}${close}\r\n`);
  const head = res.raw.slice(0, res.raw.indexOf('\r\n\r\n')).split('\r\n').slice(1);
  return head.map((line) => line.slice(0, line.indexOf(':')));
}

test('the upstream spelling of its header names reaches the client, response plugins or not', async () => {
  for (const path of ['/plain', '/rt', '/cors', '/seer', '/rewrite']) {
    const names = await namesOnTheWire(path, path === '/cors' ? 'Origin: https://a.test\r\n' : '');
    for (const name of ['X-Custom-Thing', 'Content-Type', 'ETag', 'Content-Length'])
      assert.ok(names.includes(name), `${path}: ${name} in ${names.join(', ')}`);
  }
});

test('response plugins see the upstream header names in lower case', async () => {
  await namesOnTheWire('/seer');
  assert.deepEqual(seen.slice(0, 4), ['x-custom-thing', 'content-type', 'etag', 'content-length']);
  const names = await namesOnTheWire('/seer');
  assert.ok(names.includes('x-set'), 'a name a plugin set goes out as it is held');
});

test('an answer declining a WebSocket handshake keeps the upstream spelling too', async () => {
  const names = await namesOnTheWire(
    '/rt',
    'Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n',
  );
  assert.ok(names.includes('X-Custom-Thing'), names.join(', '));
  assert.ok(names.includes('x-added'), names.join(', '));
});
