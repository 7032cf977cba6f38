// WebSocket through every kind of service: a plain service and an `upstreams:` entry, over HTTP and
// HTTPS upstreams (with mutual TLS), against a real RFC 6455 echo server on loopback, with undici's
// WebSocket as the client. The handshake takes the target's pool: its TLS and client certificate.
import assert from 'node:assert/strict';
import { copyFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { WebSocket } from 'undici';
import { startGateway, type TestGateway } from '../../src/testing/index.ts';
import { rawRequest } from '../support/raw.ts';
import { type EchoWebSocket, echoWebSocket } from '../support/websocket.ts';
import { TestCa, tool } from '../tls/support.ts';

const skip = tool('openssl');
const CA_ID = '2b7c1a3e-4d5f-4a6b-9c8d-0e1f2a3b4c5d';
const CLIENT_ID = '7e6d5c4b-3a29-4187-8695-a4b3c2d1e0f9';

let plain: Server;
let tls: Server;
let plainWs: EchoWebSocket;
let tlsWs: EchoWebSocket;
let gw: TestGateway;

function listen(s: Server): Promise<number> {
  return new Promise((r) => s.listen(0, '127.0.0.1', () => r((s.address() as AddressInfo).port)));
}

before(async () => {
  if (skip) return;
  const ca = new TestCa('WebSocket Upstream CA');
  const clientCa = new TestCa('WebSocket Client CA');
  const server = ca.issue('ws-upstream', ['ws.test']);
  clientCa.issue('tollgate-ws', [], { file: 'client' });
  copyFileSync(`${clientCa.dir}/client.pem`, `${ca.dir}/client.pem`);
  copyFileSync(`${clientCa.dir}/client.key`, `${ca.dir}/client.key`);
  plain = createHttpServer((_req, res) => res.end('plain'));
  plainWs = echoWebSocket(plain);
  // The HTTPS upstream demands a client certificate from the gateway's client CA.
  tls = createHttpsServer(
    { cert: server.cert, key: server.key, ca: clientCa.cert, requestCert: true, rejectUnauthorized: true },
    (_req, res) => res.end('tls'),
  );
  tlsWs = echoWebSocket(tls);
  const plainPort = await listen(plain);
  const tlsPort = await listen(tls);
  // A port nothing listens on: a target that refuses connections.
  const gone = createHttpServer();
  const deadPort = await listen(gone);
  await new Promise((r) => gone.close(r));
  gw = await startGateway({
    dir: ca.dir,
    config: `_format_version: "3.0"
ca_certificates:
  - id: ${CA_ID}
    cert: \${file:ca.pem}
certificates:
  - id: ${CLIENT_ID}
    cert: \${file:client.pem}
    key: \${file:client.key}
services:
  - name: ws-direct
    url: http://127.0.0.1:${plainPort}
    routes: [{ name: ws-direct, paths: [/direct] }]
  - name: ws-balanced
    host: ws.upstream
    port: 80
    routes: [{ name: ws-balanced, paths: [/balanced] }]
  - name: ws-failover
    host: ws-failover.upstream
    port: 80
    routes: [{ name: ws-failover, paths: [/failover] }]
  - name: ws-sticky
    host: ws-sticky.upstream
    port: 80
    routes: [{ name: ws-sticky, paths: [/sticky] }]
  - name: wss-direct
    url: https://127.0.0.1:${tlsPort}
    ca_certificates: [${CA_ID}]
    client_certificate: ${CLIENT_ID}
    routes: [{ name: wss-direct, paths: [/tls-direct] }]
  - name: wss-balanced
    protocol: https
    host: wss.upstream
    ca_certificates: [${CA_ID}]
    client_certificate: ${CLIENT_ID}
    routes: [{ name: wss-balanced, paths: [/tls-balanced] }]
  - name: wss-no-client-cert
    protocol: https
    host: wss.upstream
    ca_certificates: [${CA_ID}]
    retries: 0
    routes: [{ name: wss-nocert, paths: [/tls-nocert] }]
  - name: wss-unverified
    protocol: https
    host: wss.upstream
    client_certificate: ${CLIENT_ID}
    retries: 0
    routes: [{ name: wss-unverified, paths: [/tls-unverified] }]
upstreams:
  - name: ws.upstream
    targets: [{ target: "127.0.0.1:${plainPort}" }]
  - name: ws-failover.upstream
    targets: [{ target: "127.0.0.1:${deadPort}" }, { target: "127.0.0.1:${plainPort}" }]
  - name: ws-sticky.upstream
    algorithm: consistent-hashing
    hash_on: cookie
    hash_on_cookie: lb
    targets: [{ target: "127.0.0.1:${plainPort}" }]
  - name: wss.upstream
    targets: [{ target: "127.0.0.1:${tlsPort}" }]
`,
  });
});

after(async () => {
  if (skip) return;
  await gw.close();
  for (const s of [...plainWs.sockets, ...tlsWs.sockets]) s.destroy();
  plain.closeAllConnections();
  tls.closeAllConnections();
  plain.close();
  tls.close();
});

function within<T>(p: Promise<T>, what: string, ms = 10_000): Promise<T> {
  return Promise.race([
    p,
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`timed out: ${what}`)), ms).unref()),
  ]);
}

/** Opens a WebSocket through the gateway; rejects if the handshake fails. */
function open(path: string): Promise<WebSocket> {
  const ws = new WebSocket(`${gw.url.replace('http:', 'ws:')}${path}`);
  ws.binaryType = 'arraybuffer';
  return within(
    new Promise<WebSocket>((resolve, reject) => {
      ws.addEventListener('open', () => resolve(ws), { once: true });
      ws.addEventListener('error', () => reject(new Error(`handshake to ${path} failed`)), { once: true });
    }),
    `handshake to ${path}`,
  );
}

function next(ws: WebSocket): Promise<string | ArrayBuffer> {
  return within(
    new Promise((resolve) =>
      ws.addEventListener('message', (e) => resolve(e.data as string | ArrayBuffer), { once: true }),
    ),
    'echoed frame',
  );
}

function closed(ws: WebSocket): Promise<number> {
  return within(
    new Promise((resolve) => ws.addEventListener('close', (e) => resolve(e.code), { once: true })),
    'close',
  );
}

async function echoes(path: string, upstream: EchoWebSocket): Promise<void> {
  const before = upstream.handshakes.length;
  const ws = await open(path);
  assert.equal(upstream.handshakes.length, before + 1, 'the handshake reached the upstream');
  const seen = upstream.handshakes.at(-1)!;
  assert.equal(seen['x-forwarded-for'], '127.0.0.1');
  assert.equal(seen['x-forwarded-proto'], 'http');
  let reply = next(ws);
  ws.send('hello through the gateway');
  assert.equal(await reply, 'hello through the gateway');
  // A frame over 64 KiB (64-bit length) and binary data come back intact.
  const big = Buffer.alloc(70_000, 7);
  big[69_999] = 42;
  reply = next(ws);
  ws.send(big);
  assert.deepEqual(Buffer.from((await reply) as ArrayBuffer), big);
  const done = closed(ws);
  ws.close(1000);
  assert.equal(await done, 1000);
}

test('WebSocket through a plain service over HTTP: 101, frames echoed both ways, clean close', { skip }, () =>
  echoes('/direct', plainWs),
);

test('WebSocket through a service whose host is an upstreams: entry, over HTTP', { skip }, () =>
  echoes('/balanced', plainWs),
);

test(
  'WebSocket through a plain service to an HTTPS upstream: verified with ca_certificates, client certificate presented',
  {
    skip,
  },
  () => echoes('/tls-direct', tlsWs),
);

test(
  'WebSocket through an upstreams: entry over HTTPS with mutual TLS (client_certificate of a balanced service)',
  {
    skip,
  },
  () => echoes('/tls-balanced', tlsWs),
);

test('the handshake takes the target pool TLS settings: no client certificate or an unverified upstream gets 502', {
  skip,
}, async () => {
  const before = tlsWs.handshakes.length;
  for (const path of ['/tls-nocert', '/tls-unverified']) {
    const r = await within(
      rawRequest(
        gw.url,
        `GET ${path} HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      ),
      `refused handshake to ${path}`,
    );
    assert.equal(r.status, 502, path);
  }
  assert.equal(tlsWs.handshakes.length, before, 'no handshake reached the upstream');
});

test('a handshake whose target refuses the connection is retried on the next target, as a request is', {
  skip,
}, async () => {
  // Round-robin over a dead and a live target, no health checks: every other pick is the dead one.
  for (let i = 0; i < 4; i++) {
    const ws = await open('/failover');
    const done = closed(ws);
    ws.close(1000);
    assert.equal(await done, 1000);
  }
});

test('a handshake hashed on a cookie the client lacks gets the cookie with its 101 (Kong sets it on any answer)', {
  skip,
}, async () => {
  const r = await within(
    rawRequest(
      gw.url,
      `GET /sticky HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      300,
    ),
    'sticky handshake',
  );
  assert.equal(r.status, 101);
  assert.match(r.headers['set-cookie'] ?? '', /^lb=[0-9a-f-]{36}; Path=\/; SameSite=Lax; HttpOnly$/);
});
