/**
 * Kong's upstream keepalive spec, spec/02-integration/05-proxy/25-upstream_keepalive_spec.lua at
 * Kong commit 22246ef2, through what a user observes. Kong's cases read nginx's debug log (the pool
 * name `host|port|sni|verify|depth|ca|cert`, "keepalive saving/reusing connection"); here the https
 * upstream says which connection (`X-Conn`, one number per TLS connection) and which SNI or client
 * certificate each request came with: a connection is reused only for the same SNI and client
 * certificate, `upstream_keepalive_pool_size: 0` and `upstream_keepalive_max_requests: 1` open a
 * connection per request. Kong's `kong restart`s with other kong.conf values are config reloads.
 * The upstream's certificate is not checked (`tls_verify: false`, as in Kong's spec).
 */

import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import type { TLSSocket } from 'node:tls';
import { startGateway, type TestGateway } from '../../src/testing/index.ts';
import { send } from '../support/kong-mock.ts';
import { type Issued, TestCa, tool } from '../tls/support.ts';

const skip = tool('openssl');
const CA = '6f0c3c2e-58f4-4f0b-9a5e-1d2b0c1e7a11';
const CERT1 = '0d1a5b7e-3c9f-4e2a-8b6d-2f4c6e8a0b13';
const CERT2 = '1e2b6c8f-4d0a-4f3b-9c7e-3a5d7f9b1c24';
let ca: TestCa;
let client1: Issued;
let client2: Issued;
let upstream: Server;
let gw: TestGateway;

/** Kong's fixture entities; `settings` is the kong.conf of the case (`_tollgate` here). */
function config(settings: Record<string, number> = {}): Record<string, unknown> {
  const port = (upstream.address() as AddressInfo).port;
  // Kong's mock upstream over TLS, with the spec's verify settings (never checked: tls_verify false).
  const mock = { url: `https://127.0.0.1:${port}`, tls_verify: false, tls_verify_depth: 3, ca_certificates: [CA] };
  const preserving = (name: string, host: string, extra = {}) => ({
    name,
    ...mock,
    ...extra,
    routes: [{ name, hosts: [host], preserve_host: true }],
  });
  return {
    _format_version: '3.0',
    _tollgate: settings,
    ca_certificates: [{ id: CA, cert: ca.cert }],
    certificates: [
      { id: CERT1, cert: client1.cert, key: client1.key },
      { id: CERT2, cert: client2.cert, key: client2.key },
    ],
    services: [
      preserving('one', 'one.test'),
      preserving('two', 'two.test'),
      // Two server names whose pool names have the same crc32 in Kong's nginx (its pools are keyed
      // by it). Kong's spec leaves tls_verify unset, which in Kong is off; Tollgate verifies by
      // default (docs/kong-differences.md), and the upstream's certificate names neither.
      { name: 'plumless', ...mock, routes: [{ name: 'plumless', hosts: ['plumless.xxx'], preserve_host: true }] },
      { name: 'buckeroo', ...mock, routes: [{ name: 'buckeroo', hosts: ['buckeroo.xxx'], preserve_host: true }] },
      {
        name: 'mtls1',
        ...mock,
        client_certificate: { id: CERT1 },
        routes: [{ name: 'mtls1', hosts: ['example.test'] }],
      },
      {
        name: 'mtls2',
        ...mock,
        client_certificate: { id: CERT2 },
        routes: [{ name: 'mtls2', hosts: ['example2.test'] }],
      },
    ],
  };
}

interface Seen {
  status: number;
  body: string;
  /** The upstream's number of the TLS connection the request came on. */
  conn: string | null;
}

async function get(path: string, host: string): Promise<Seen> {
  const r = await send(gw.url, 'GET', path, { host });
  return { status: r.status, body: r.body, conn: r.headers['x-conn'] ?? null };
}

async function reload(settings: Record<string, number>): Promise<void> {
  const r = await gw.reload(config(settings));
  assert.equal(r.ok, true, JSON.stringify(r));
}

before(async () => {
  if (skip) return;
  ca = new TestCa('Kong Testing Root CA');
  const server = ca.issue('localhost', ['localhost']);
  client1 = ca.issue('client', []);
  client2 = ca.issue('client2', []);
  let connections = 0;
  const ids = new WeakMap<TLSSocket, number>();
  upstream = createServer({
    cert: server.cert,
    key: server.key,
    ca: ca.cert,
    requestCert: true,
    rejectUnauthorized: false,
  });
  upstream.on('secureConnection', (socket: TLSSocket) => ids.set(socket, ++connections));
  upstream.on('request', (req, res) => {
    const socket = req.socket as TLSSocket;
    res.setHeader('x-conn', String(ids.get(socket)));
    if (req.url === '/echo_sni') {
      res.end(`SNI=${socket.servername === false ? '' : socket.servername}`);
      return;
    }
    // nginx's $ssl_client_fingerprint: the client certificate's SHA-1, empty without one.
    res.end(socket.getPeerX509Certificate()?.fingerprint ?? '');
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  gw = await startGateway({ config: config() });
});

after(async () => {
  if (skip) return;
  await gw.close();
  upstream.close();
  upstream.closeAllConnections();
});

test('pools by host, port and SNI when the upstream is https: each server name its own connection, reused for it', {
  skip,
}, async () => {
  const one = await get('/echo_sni', 'one.test');
  assert.equal(one.status, 200);
  assert.equal(one.body, 'SNI=one.test');
  const two = await get('/echo_sni', 'two.test');
  assert.equal(two.body, 'SNI=two.test');
  // Kong: "keepalive no free connection" for each name, then "saving connection" for each.
  assert.notEqual(two.conn, one.conn);
  // Kong's "reuse upstream keepalive pool": the same name again takes the connection it saved.
  const again = await get('/echo_sni', 'one.test');
  assert.equal(again.body, 'SNI=one.test');
  assert.equal(again.conn, one.conn);
  const twoAgain = await get('/echo_sni', 'two.test');
  assert.equal(twoAgain.body, 'SNI=two.test');
  assert.equal(twoAgain.conn, two.conn);
});

test('pools by client certificate when the upstream requires mTLS: each service presents its own', {
  skip,
}, async () => {
  const first = await get('/', 'example.test');
  assert.equal(first.status, 200);
  assert.notEqual(first.body, '');
  const second = await get('/', 'example2.test');
  assert.equal(second.status, 200);
  assert.notEqual(second.body, '');
  assert.notEqual(first.body, second.body);
  assert.equal(first.body, new X509Certificate(client1.cert).fingerprint);
  assert.equal(second.body, new X509Certificate(client2.cert).fingerprint);
  // Each certificate's connection is kept for it.
  const firstAgain = await get('/', 'example.test');
  assert.equal(firstAgain.body, first.body);
  assert.equal(firstAgain.conn, first.conn);
});

test('names whose pool names collide in crc32 (plumless.xxx, buckeroo.xxx) get separate connections', {
  skip,
}, async () => {
  const a = await get('/echo_sni', 'plumless.xxx');
  assert.equal(a.body, 'SNI=plumless.xxx');
  const b = await get('/echo_sni', 'buckeroo.xxx');
  assert.equal(b.body, 'SNI=buckeroo.xxx');
  assert.notEqual(a.conn, b.conn);
  assert.equal((await get('/echo_sni', 'plumless.xxx')).conn, a.conn);
});

test('upstream_keepalive_pool_size: 0 disables connection pooling', { skip }, async () => {
  await reload({ upstream_keepalive_pool_size: 0 });
  try {
    const conns = new Set<string | null>();
    for (const host of ['one.test', 'two.test', 'one.test', 'one.test']) {
      const r = await get('/echo_sni', host);
      assert.equal(r.body, `SNI=${host}`);
      conns.add(r.conn);
    }
    assert.equal(conns.size, 4);
  } finally {
    await reload({});
  }
});

test('upstream_keepalive_max_requests: 1 frees the connection after its request', { skip }, async () => {
  await reload({ upstream_keepalive_max_requests: 1 });
  try {
    const first = await get('/echo_sni', 'one.test');
    const second = await get('/echo_sni', 'one.test');
    assert.equal(first.body, 'SNI=one.test');
    assert.equal(second.body, 'SNI=one.test');
    assert.notEqual(first.conn, second.conn);
    // As nginx's keepalive_requests: exactly N requests on a connection, the next on a new one.
    await reload({ upstream_keepalive_max_requests: 2 });
    const conns = [];
    for (let i = 0; i < 3; i++) conns.push((await get('/echo_sni', 'one.test')).conn);
    assert.equal(conns[1], conns[0]);
    assert.notEqual(conns[2], conns[1]);
  } finally {
    await reload({});
  }
});
