// HTTPS listeners with real clients: curl over HTTP/2 and HTTP/1.1, openssl s_client for SNI,
// Kong's https-only routes (426 and redirects), HSTS, and HTTP/2 request bodies through node:http2.

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { type ClientRequest, createServer, request as httpRequest, type Server } from 'node:http';
import { connect } from 'node:http2';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { TollgateInstance } from '../../src/instance.ts';
import { rawRequest } from '../support/raw.ts';
import { curl, type Issued, presented, run, startFromFile, TestCa, tool } from './support.ts';

const skip = tool('curl') || tool('openssl');
let ca: TestCa;
let fallback: Issued;
let exact: Issued;
let wild: Issued;
let inst: TollgateInstance;
let httpPort: number;
let httpsPort: number;
let upstream: Server;
const logs: Record<string, unknown>[] = [];

before(async () => {
  if (skip) return;
  ca = new TestCa();
  fallback = ca.issue('default.test', ['default.test'], { file: 'default' });
  exact = ca.issue('a.test', ['a.test'], { file: 'a' });
  wild = ca.issue('wild.test', ['*.wild.test'], { file: 'wild', rsa: true });
  // A real upstream that reports what it received, body included.
  upstream = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      // The gateway's own Strict-Transport-Security replaces the upstream's.
      res.writeHead(200, {
        'content-type': 'application/json',
        connection: 'keep-alive',
        'keep-alive': 'timeout=5',
        'Strict-Transport-Security': 'max-age=1',
      });
      res.end(JSON.stringify({ method: req.method, headers: req.headers, body: Buffer.concat(chunks).toString() }));
    });
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const up = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  writeFileSync(
    join(ca.dir, 'gateway.yaml'),
    `_format_version: "3.0"
_tollgate:
  hsts: { max_age: 63072000, include_subdomains: true }
certificates:
  - cert: \${file:default.pem}
    key: \${file:default.key}
  - cert: \${file:a.pem}
    key: \${file:a.key}
    snis: [{ name: a.test }]
  - cert: \${file:wild.pem}
    key: \${file:wild.key}
    snis: [{ name: "*.wild.test" }]
services:
  - name: echo
    url: echo://
    routes:
      - { name: both, paths: [/echo] }
      - { name: secure, paths: [/secure], protocols: [https] }
      - { name: moved, paths: [/moved], protocols: [https], https_redirect_status_code: 301 }
      - { name: kept, paths: [/kept], protocols: [https], https_redirect_status_code: 308 }
      - { name: plain, paths: [/plain], protocols: [http] }
  - name: real
    url: ${up}
    routes:
      - { name: real, paths: [/real] }
      - { name: real-transformed, paths: [/transformed], plugins: [{ name: response-transformer, config: { add: { headers: ["x-added:1"] } } }] }
`,
  );
  inst = await startFromFile(join(ca.dir, 'gateway.yaml'), { proxyListen: ['127.0.0.1:0', '127.0.0.1:0 ssl'], logs });
  httpPort = Number(inst.proxyAddresses[0]!.split(':').pop());
  httpsPort = Number(inst.proxyAddresses[1]!.split(':').pop());
});

after(async () => {
  if (skip) return;
  await inst.close(0);
  upstream.close();
});

const resolve = (name: string): string[] => ['--resolve', `${name}:${httpsPort}:127.0.0.1`, '--cacert', ca.certFile];

test('curl --http2 gets HTTP/2 from the ssl listener, with the route, forwarding headers and HSTS', {
  skip,
}, async () => {
  const r = await curl(['--http2', ...resolve('a.test'), `https://a.test:${httpsPort}/echo/x?q=1`]);
  assert.equal(r.status, 200);
  assert.equal(r.version, '2');
  const echo = JSON.parse(r.body) as { url: string; headers: Record<string, string> };
  assert.equal(echo.url, '/x?q=1');
  assert.equal(echo.headers['x-forwarded-proto'], 'https');
  assert.equal(echo.headers['x-forwarded-host'], 'a.test');
  assert.equal(echo.headers['x-forwarded-port'], String(httpsPort));
  // The peer address and local port come from the session (req.socket is a per-stream proxy there).
  assert.equal(echo.headers['x-forwarded-for'], '127.0.0.1');
  assert.equal(echo.headers['x-real-ip'], '127.0.0.1');
  assert.ok(!Object.keys(echo.headers).some((h) => h.startsWith(':')), 'no pseudo-header reaches the upstream');
  assert.equal(r.headers['strict-transport-security'], 'max-age=63072000; includeSubDomains');
});

test('curl --http1.1 on the same ssl listener gets HTTP/1.1 with the same answer and HSTS', { skip }, async () => {
  const r = await curl(['--http1.1', ...resolve('a.test'), `https://a.test:${httpsPort}/echo/x`]);
  assert.equal(r.status, 200);
  assert.equal(r.version, '1.1');
  assert.equal(JSON.parse(r.body).headers['x-forwarded-proto'], 'https');
  assert.equal(r.headers['strict-transport-security'], 'max-age=63072000; includeSubDomains');
});

test('curl --http1.0 (ALPN http/1.0 only, which nginx accepts) gets its answer, not a TLS alert', {
  skip,
}, async () => {
  const r = await curl(['--http1.0', ...resolve('a.test'), `https://a.test:${httpsPort}/echo/x`]);
  assert.equal(r.status, 200);
  assert.equal(JSON.parse(r.body).headers['x-forwarded-proto'], 'https');
});

test("plain http responses carry no Strict-Transport-Security of the gateway's; https ones only the gateway's", {
  skip,
}, async () => {
  const r = await curl([`http://127.0.0.1:${httpPort}/echo/x`]);
  assert.equal(r.status, 200);
  assert.equal(JSON.parse(r.body).headers['x-forwarded-proto'], 'http');
  assert.equal(r.headers['strict-transport-security'], undefined);
  // An upstream's own header passes on plain http, and gives way to the gateway's on https.
  const sts = (raw: string[]) =>
    raw.filter((_, i) => i % 2 === 1 && raw[i - 1]!.toLowerCase() === 'strict-transport-security');
  const plain = await rawHead(httpRequest(`http://127.0.0.1:${httpPort}/real/x`));
  assert.deepEqual(sts(plain), ['max-age=1']);
  const secure = await rawHead(
    httpsRequest({ host: '127.0.0.1', port: httpsPort, path: '/real/x', servername: 'a.test', ca: ca.cert }),
  );
  assert.deepEqual(sts(secure), ['max-age=63072000; includeSubDomains']);
  // Under its usual name on HTTP/1.1, with or without response plugins, proxied or answered here.
  for (const path of ['/real/x', '/transformed/x', '/echo/x', '/nowhere']) {
    const head = await rawHead(
      httpsRequest({ host: '127.0.0.1', port: httpsPort, path, servername: 'a.test', ca: ca.cert }),
    );
    assert.ok(head.includes('Strict-Transport-Security'), `${path}: ${head.join(', ')}`);
    assert.ok(!head.includes('strict-transport-security'), `${path}: ${head.join(', ')}`);
  }
});

/** The raw response head (names and values, in order) of a request sent as is. */
function rawHead(req: ClientRequest): Promise<string[]> {
  return new Promise((resolveHead, reject) => {
    req.setTimeout(10_000, () => req.destroy(new Error('no answer within 10 s')));
    req.on('response', (res) => {
      res.resume();
      resolveHead(res.rawHeaders);
    });
    req.on('error', reject);
    req.end();
  });
}

test('SNI picks the exact certificate, the *. wildcard one, and the default for unknown names or no SNI', {
  skip,
}, async () => {
  assert.equal((await presented(httpsPort, 'a.test')).serial, exact.serial);
  assert.equal((await presented(httpsPort, 'API.wild.test')).serial, wild.serial);
  assert.equal((await presented(httpsPort, 'deep.api.wild.test')).serial, fallback.serial, '*. covers one label only');
  assert.equal((await presented(httpsPort, 'other.test')).serial, fallback.serial);
  assert.equal((await presented(httpsPort, null)).serial, fallback.serial);
});

test('curl verifies the wildcard certificate for a name under it (h2 over an RSA certificate)', { skip }, async () => {
  const r = await curl(['--http2', ...resolve('api.wild.test'), `https://api.wild.test:${httpsPort}/echo`]);
  assert.equal(r.status, 200);
  assert.equal(r.version, '2');
});

test('an https-only route answers plain http with 426 and Kong’s message, and serves https', { skip }, async () => {
  const r = await curl([`http://127.0.0.1:${httpPort}/secure`]);
  assert.equal(r.status, 426);
  // kong.response.error's body: the message and the request id, as every gateway error.
  assert.deepEqual(JSON.parse(r.body), { message: 'Please use HTTPS protocol', request_id: r.headers['x-request-id'] });
  assert.equal(r.headers.upgrade, 'TLS/1.2, HTTP/1.1');
  const html = await curl(['-H', 'Accept: text/html', `http://127.0.0.1:${httpPort}/secure`]);
  assert.equal(html.status, 426);
  assert.match(html.headers['content-type'] ?? '', /^text\/html/);
  assert.match(html.body, /Please use HTTPS protocol/);
  const s = await curl(['--http2', ...resolve('a.test'), `https://a.test:${httpsPort}/secure`]);
  assert.equal(s.status, 200);
});

test('plain http sent to the ssl port gets 400 with nginx’s message, logged; the listener goes on', {
  skip,
}, async () => {
  const r = await curl([`http://127.0.0.1:${httpsPort}/echo/x`]);
  assert.equal(r.status, 400);
  assert.equal(JSON.parse(r.body).message, 'The plain HTTP request was sent to HTTPS port');
  assert.equal(r.headers.connection, 'close');
  assert.match(r.headers.date ?? '', / GMT$/);
  assert.ok(
    logs.some(
      (l) => l.type === 'access' && l.path === '/echo/x' && l.status === 400 && l.error === 'PLAIN_HTTP_ON_TLS',
    ),
  );
  const s = await curl(['--http2', ...resolve('a.test'), `https://a.test:${httpsPort}/echo/x`]);
  assert.equal(s.status, 200);
});

test('https_redirect_status_code 301/308 redirects to https on the same host and the ssl listener’s port', {
  skip,
}, async () => {
  const r = await curl(['-H', `Host: a.test:${httpPort}`, `http://127.0.0.1:${httpPort}/moved/p?x=1`]);
  assert.equal(r.status, 301);
  assert.equal(r.headers.location, `https://a.test:${httpsPort}/moved/p?x=1`);
  // The host as Kong names it (nginx's $host): lower-case, without a fully qualified name's dot.
  const fqdn = await curl(['-H', `Host: A.Test.:${httpPort}`, `http://127.0.0.1:${httpPort}/moved/p`]);
  assert.equal(fqdn.headers.location, `https://a.test:${httpsPort}/moved/p`);
  const k = await curl(['-X', 'POST', '-H', 'Host: a.test', `http://127.0.0.1:${httpPort}/kept`]);
  assert.equal(k.status, 308);
  assert.equal(k.headers.location, `https://a.test:${httpsPort}/kept`);
  // Following it with curl lands on the https route.
  const f = await curl(['-L', ...resolve('a.test'), '-H', 'Host: a.test', `http://127.0.0.1:${httpPort}/moved/p`]);
  assert.equal(f.status, 200);
});

test('an absolute-form request line is redirected to its path, not to its whole URL', { skip }, async () => {
  const r = await new Promise<{ status: number; location: string | undefined }>((resolve, reject) => {
    // `path` as an absolute URL: node sends it as the request target (absolute-form, RFC 9112 3.2.2).
    const req = httpRequest(
      { host: '127.0.0.1', port: httpPort, path: 'http://a.test/moved/p?x=1', headers: { host: 'a.test' } },
      (res) => {
        res.resume();
        resolve({ status: res.statusCode ?? 0, location: res.headers.location });
      },
    );
    req.on('error', reject);
    req.end();
  });
  assert.equal(r.status, 301);
  assert.equal(r.location, `https://a.test:${httpsPort}/moved/p?x=1`);
});

test('without a host to redirect to (HTTP/1.0 without Host) the answer is 426, never `https:///path`; an empty Host is a 400', {
  skip,
}, async () => {
  // Browsers read `https:///evil.example/x` as `https://evil.example/x`: a redirect with an empty
  // host would send them to whatever host the path names.
  const r = await rawRequest(`http://127.0.0.1:${httpPort}`, 'GET /moved/evil.example/x HTTP/1.0\r\n\r\n', 500);
  assert.equal(r.status, 426);
  assert.equal(r.headers.location, undefined);
  assert.equal(JSON.parse(r.body).message, 'Please use HTTPS protocol');
  // An empty Host names no host at all: refused before routing, as nginx refuses it.
  const empty = await rawRequest(
    `http://127.0.0.1:${httpPort}`,
    'GET /moved/evil.example/x HTTP/1.1\r\nHost: \r\n\r\n',
    500,
  );
  assert.equal(empty.status, 400);
  assert.equal(empty.headers.location, undefined);
});

test('a 20 KiB request head passes on the ssl listener over HTTP/1.1 as over HTTP/2 and plain http', {
  skip,
}, async () => {
  const big = ['-H', `x-big: ${'a'.repeat(20 * 1024)}`];
  for (const version of ['--http1.1', '--http2']) {
    const r = await curl([version, ...big, ...resolve('a.test'), `https://a.test:${httpsPort}/echo/x`]);
    assert.equal(r.status, 200, version);
  }
  assert.equal((await curl([...big, `http://127.0.0.1:${httpPort}/echo/x`])).status, 200);
});

test('HTTP/1.1 without Host is refused on the ssl listener too (RFC 9112 3.2)', { skip }, async () => {
  // `-H Host:` makes curl leave the header out.
  const r = await curl(['--http1.1', '-H', 'Host:', ...resolve('a.test'), `https://a.test:${httpsPort}/echo/x`]);
  assert.equal(r.status, 400);
  assert.equal(JSON.parse(r.body).message, 'Bad request: missing Host');
});

test('an http-only route also serves https requests, as in Kong', { skip }, async () => {
  const r = await curl(['--http2', ...resolve('a.test'), `https://a.test:${httpsPort}/plain`]);
  assert.equal(r.status, 200);
});

test('HTTP/2: a request body without content-length reaches the upstream; hop-by-hop answers are cleaned', {
  skip,
}, async () => {
  const client = connect(`https://127.0.0.1:${httpsPort}`, { ca: ca.cert, servername: 'a.test' });
  try {
    const res = await new Promise<{ headers: Record<string, unknown>; body: string }>((resolveRes, reject) => {
      const req = client.request({
        ':method': 'POST',
        ':path': '/real/in',
        ':authority': 'a.test',
        'content-type': 'text/plain',
      });
      req.on('response', (headers) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => resolveRes({ headers, body: Buffer.concat(chunks).toString() }));
      });
      req.on('error', reject);
      req.write('part one, ');
      setImmediate(() => req.end('part two'));
    });
    assert.equal(res.headers[':status'], 200);
    assert.equal(res.headers.connection, undefined);
    assert.equal(res.headers['keep-alive'], undefined);
    assert.equal(res.headers['strict-transport-security'], 'max-age=63072000; includeSubDomains');
    const seen = JSON.parse(res.body) as { method: string; headers: Record<string, string>; body: string };
    assert.equal(seen.method, 'POST');
    assert.equal(seen.body, 'part one, part two');
    assert.equal(seen.headers.host, `127.0.0.1:${(upstream.address() as AddressInfo).port}`);
    assert.equal(seen.headers['x-forwarded-host'], 'a.test');
  } finally {
    client.close();
  }
});

test('HTTP/2: gateway errors (400, 404) arrive without connection headers and the session stays usable', {
  skip,
}, async () => {
  const bad = await curl(['--http2', ...resolve('a.test'), `https://a.test:${httpsPort}/echo/a%2Fb`]);
  assert.equal(bad.status, 400);
  assert.equal(bad.version, '2');
  assert.equal(bad.headers.connection, undefined);
  assert.match(JSON.parse(bad.body).message, /^Bad request/);
  // Same HTTP/2 connection: a 404 does not end it, the next request is served.
  const client = connect(`https://127.0.0.1:${httpsPort}`, { ca: ca.cert, servername: 'a.test' });
  try {
    const status = (path: string): Promise<unknown> =>
      new Promise((res, rej) => {
        const s = client.request({ ':path': path, ':authority': 'a.test' });
        s.on('response', (h) => {
          s.resume();
          s.on('end', () => res(h[':status']));
        });
        s.on('error', rej);
        s.end();
      });
    assert.equal(await status('/nothing'), 404);
    assert.equal(await status('/echo'), 200);
  } finally {
    client.close();
  }
});

test('TLS 1.1 is refused even to a client that allows it; TLS 1.2 gets a forward-secret AEAD cipher', {
  skip,
}, async () => {
  const old = await run('openssl', [
    's_client',
    '-connect',
    `127.0.0.1:${httpsPort}`,
    '-servername',
    'a.test',
    '-tls1_1',
    '-cipher',
    'DEFAULT@SECLEVEL=0',
  ]);
  assert.doesNotMatch(old.stdout, /BEGIN CERTIFICATE/);
  const r = await run('openssl', [
    's_client',
    '-connect',
    `127.0.0.1:${httpsPort}`,
    '-servername',
    'a.test',
    '-tls1_2',
  ]);
  assert.match(r.stdout, /Protocol\s*:\s*TLSv1\.2/);
  assert.match(r.stdout, /Cipher\s*:\s*ECDHE-(ECDSA|RSA)-(AES\d+-GCM-SHA\d+|CHACHA20-POLY1305)/);
});

test("Kong's intermediate suites: the client's preference wins, DHE-RSA is served (ffdhe2048)", { skip }, async () => {
  const handshake = (args: string[]) =>
    run('openssl', ['s_client', '-connect', `127.0.0.1:${httpsPort}`, '-servername', 'x.wild.test', ...args]);
  // Kong's `intermediate` sets prefer_server_ciphers off: a client without AES hardware that puts
  // ChaCha20 first gets it, over TLS 1.2 and 1.3.
  const tls12 = await handshake(['-tls1_2', '-cipher', 'ECDHE-RSA-CHACHA20-POLY1305:ECDHE-RSA-AES128-GCM-SHA256']);
  assert.match(tls12.stdout, /Cipher is ECDHE-RSA-CHACHA20-POLY1305/);
  const tls13 = await handshake(['-tls1_3', '-ciphersuites', 'TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256']);
  assert.match(tls13.stdout, /Cipher is TLS_CHACHA20_POLY1305_SHA256/);
  // A TLS 1.2 client with DHE only (no ECDHE) is served, as by Kong's intermediate list.
  const dhe = await handshake(['-tls1_2', '-cipher', 'DHE-RSA-AES128-GCM-SHA256']);
  assert.match(dhe.stdout, /Cipher is DHE-RSA-AES128-GCM-SHA256/);
  assert.match(dhe.stdout, /Server Temp Key: DH, 2048 bits/);
});
