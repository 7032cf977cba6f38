/**
 * Kong's websockets spec, spec/02-integration/05-proxy/09-websockets_spec.lua at Kong commit
 * 22246ef2: the handshake's answer as a client reads it, a text frame echoed, a ping answered with
 * its pong, over ws and wss, with and without Kong's `enable-buffering` fixture (a plugin asking for
 * the upstream's whole body, here `transformBody`: an upgraded connection has no body to buffer, so
 * the tunnel is the same). Kong's cases "without Kong" check its mock upstream alone and are not
 * ported. Client frames are masked and written by hand, as Kong's resty.websocket client does.
 */

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { type AddressInfo, connect as netConnect } from 'node:net';
import type { Duplex } from 'node:stream';
import { after, before, test } from 'node:test';
import { connect as tlsConnect } from 'node:tls';
import { definePlugin } from '../../src/index.ts';
import { TollgateInstance } from '../../src/instance.ts';
import { createLogger } from '../../src/log.ts';
import { builtinPlugins } from '../../src/plugins/index.ts';
import { lineSink } from '../../src/testing/run-plugin.ts';
import { decodeFrames, type EchoWebSocket, echoWebSocket, type Frame } from '../support/websocket.ts';
import { TestCa, tool } from '../tls/support.ts';

const skip = tool('openssl');
let ca: TestCa;
let upstream: Server;
let ws: EchoWebSocket;
let gw: TollgateInstance;

/** Kong's `enable-buffering` fixture: asks for the upstream's whole body in the response phase. */
const enableBuffering = definePlugin({
  name: 'enable-buffering',
  version: '1.0.0',
  priority: 1_000_000,
  schema: { type: 'object', properties: {}, additionalProperties: false },
  create: () => ({
    response(_req, res) {
      res.transformBody((body) => body);
    },
  }),
});

before(async () => {
  if (skip) return;
  ca = new TestCa('WebSocket Spec CA');
  upstream = createServer((_req, res) => res.end('plain'));
  ws = echoWebSocket(upstream);
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const port = (upstream.address() as AddressInfo).port;
  ca.issue('a.test', ['a.test'], { file: 'a' });
  // Kong's spec: service `ws` with path /ws, route /up-ws (strip_path, protocols http); its
  // buffering variant's plugin is global, here on a route of its own.
  const file = `${ca.dir}/gateway.yaml`;
  writeFileSync(
    file,
    `_format_version: "3.0"
certificates:
  - cert: \${file:a.pem}
    key: \${file:a.key}
services:
  - name: ws
    url: http://127.0.0.1:${port}/ws
    routes:
      - name: up-ws
        protocols: [http]
        paths: [/up-ws]
        strip_path: true
      - name: up-ws-buffered
        protocols: [http]
        paths: [/buffered/up-ws]
        strip_path: true
        plugins: [{ name: enable-buffering }]
`,
  );
  gw = await TollgateInstance.start({
    configFile: file,
    env: {},
    proxyListen: ['127.0.0.1:0', '127.0.0.1:0 ssl'],
    adminListen: [],
    log: createLogger({ level: 'info', destination: lineSink([]) as never }),
    plugins: new Map([...builtinPlugins, [enableBuffering.name, enableBuffering]]),
  });
});

after(async () => {
  if (skip) return;
  await gw.close(0);
  for (const s of ws.sockets) s.destroy();
  upstream.close();
});

/** One masked client frame (RFC 6455 section 5.3), final, payload under 126 bytes. */
function clientFrame(opcode: number, payload: Buffer): Buffer {
  const mask = randomBytes(4);
  const masked = Buffer.from(payload);
  for (let i = 0; i < masked.length; i++) masked[i]! ^= mask[i & 3]!;
  return Buffer.concat([Buffer.from([0x80 | opcode, 0x80 | payload.length]), mask, masked]);
}

interface Opened {
  /** The handshake answer's head, as received. */
  head: string;
  socket: Duplex;
  /** The next frame from the gateway. */
  next(): Promise<Frame>;
}

/** Opens `path` on the plain (`ws`) or the ssl (`wss`) listener and reads the handshake's answer. */
function open(scheme: 'ws' | 'wss', path: string): Promise<Opened> {
  const [host, port] = gw.proxyAddresses[scheme === 'ws' ? 0 : 1]!.split(':') as [string, string];
  const key = randomBytes(16).toString('base64');
  const request = `GET ${path} HTTP/1.1\r\nUpgrade: websocket\r\nHost: ${host}:${port}\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\nConnection: Upgrade\r\n\r\n`;
  return new Promise((resolve, reject) => {
    const socket: Duplex =
      scheme === 'ws'
        ? netConnect(Number(port), host, () => socket.write(request))
        : tlsConnect({ host, port: Number(port), ca: ca.cert, servername: 'a.test' }, () => socket.write(request));
    let buf: Buffer = Buffer.alloc(0);
    let head: string | null = null;
    const frames: Frame[] = [];
    let waiting: ((f: Frame) => void) | null = null;
    socket.on('error', reject);
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      if (head === null) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        head = buf.subarray(0, end).toString('latin1');
        buf = buf.subarray(end + 4);
        resolve({
          head,
          socket,
          next: () =>
            new Promise<Frame>((r) => {
              const f = frames.shift();
              if (f !== undefined) r(f);
              else waiting = r;
            }),
        });
      }
      const decoded = decodeFrames(buf);
      if (decoded === null) return void socket.destroy();
      buf = decoded.rest;
      for (const f of decoded.frames) {
        if (waiting !== null) {
          const w = waiting;
          waiting = null;
          w(f);
        } else frames.push(f);
      }
    });
  });
}

/** Sends a close frame and waits for the gateway to end the connection. */
async function close(o: Opened): Promise<void> {
  const closed = new Promise((r) => o.socket.once('close', r));
  o.socket.write(clientFrame(8, Buffer.from([0x03, 0xe8])));
  assert.equal((await o.next()).opcode, 8);
  o.socket.end();
  await closed;
}

for (const prefix of ['', '/buffered']) {
  const variant = prefix === '' ? '' : ' (with buffering on)';

  test(`the handshake's answer through the gateway: 101, Connection: upgrade, Upgrade: websocket${variant}`, {
    skip,
  }, async () => {
    const o = await open('ws', `${prefix}/up-ws`);
    o.socket.destroy();
    assert.match(o.head, /^HTTP\/1\.1 101 Switching Protocols\r\n/);
    // nginx writes its own `Connection: upgrade` on a 101 (this upstream says `Connection: Upgrade`).
    assert.ok(o.head.includes('\r\nConnection: upgrade\r\n'), o.head);
    assert.ok(o.head.includes('\r\nUpgrade: websocket\r\n'), o.head);
    // Kong adds `Via: 1.1 kong/<version>`; Tollgate adds no gateway header to answers
    // (docs/kong-differences.md, "No gateway headers on answers").
    assert.doesNotMatch(o.head, /\r\nVia:/i);
    assert.equal(ws.handshakes.at(-1)?.upgrade, 'websocket');
  });

  for (const scheme of ['ws', 'wss'] as const) {
    test(`sends and gets text over ${scheme}${variant}`, { skip }, async () => {
      const o = await open(scheme, `${prefix}/up-ws`);
      const payload = JSON.stringify({ message: 'hello websocket' });
      o.socket.write(clientFrame(1, Buffer.from(payload)));
      const frame = await o.next();
      assert.equal(frame.opcode, 1);
      assert.deepEqual(JSON.parse(frame.payload.toString()), { message: 'hello websocket' });
      await close(o);
    });

    test(`plays ping-pong over ${scheme}${variant}`, { skip }, async () => {
      const o = await open(scheme, `${prefix}/up-ws`);
      const payload = JSON.stringify({ message: 'give me a pong' });
      o.socket.write(clientFrame(9, Buffer.from(payload)));
      const frame = await o.next();
      assert.equal(frame.opcode, 10);
      assert.deepEqual(JSON.parse(frame.payload.toString()), { message: 'give me a pong' });
      await close(o);
    });
  }
}
