/**
 * Kong's SSL proxy spec, spec/02-integration/05-proxy/06-ssl_spec.lua at Kong commit 22246ef2:
 * the certificate each server name gets (exact, `*.` and `.*` SNIs in Kong's order, the default
 * certificate), https-only routes answering plain HTTP, X-Forwarded-Proto from trusted and
 * untrusted peers, the SNI sent upstream (`proxy_ssl_name`) with and without `preserve_host`,
 * upstream verification, and client server names Kong calls invalid. One gateway on a plain and an
 * ssl listener, in front of a real https upstream that reports the SNI it got. Kong's `trusted_ips`
 * restarts are config reloads. Cases covered elsewhere: the SNI `*` (sni-select.test.ts), 301
 * redirects and the 426 bodies (https.test.ts); the `TLS proxy` half is stream routing, refused here.
 */

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { createServer, request as httpsRequest, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { TLSSocket } from 'node:tls';
import type { TollgateInstance } from '../../src/instance.ts';
import { type Issued, presented, startFromFile, TestCa, tool } from './support.ts';

const skip = tool('openssl');
let ca: TestCa;
let inst: TollgateInstance;
let httpPort: number;
let httpsPort: number;
let upstream: Server;
let file: string;
const certs: Record<string, Issued> = {};
const logs: Record<string, unknown>[] = [];

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function answer(resolve: (a: Answer) => void): (res: import('node:http').IncomingMessage) => void {
  return (res) => {
    let body = '';
    res.setEncoding('utf8');
    res.on('data', (c: string) => (body += c));
    res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
  };
}

/** A plain-http GET to the gateway with these headers. */
function get(path: string, headers: Record<string, string>): Promise<Answer> {
  return new Promise((resolve, reject) => {
    httpRequest({ host: '127.0.0.1', port: httpPort, path, headers, agent: false }, answer(resolve))
      .on('error', reject)
      .end();
  });
}

/** An https GET to the gateway with this Host, sending `servername` as SNI (none when null). */
function getTls(path: string, host: string, servername: string | null): Promise<Answer> {
  return new Promise((resolve, reject) => {
    // An empty servername sends none (node would take it from the Host header otherwise).
    const sni = { servername: servername ?? '' };
    httpsRequest(
      { host: '127.0.0.1', port: httpsPort, path, headers: { host }, ca: ca.cert, agent: false, ...sni },
      answer(resolve),
    )
      .on('error', reject)
      .end();
  });
}

function gatewayYaml(trusted: string): string {
  const up = (upstream.address() as AddressInfo).port;
  const trust = `ca_certificates: ["\${file:ca.pem}"]`;
  return `_format_version: "3.0"
_tollgate:${trusted === '' ? ' {}' : `\n  trusted_ips: [${trusted}]`}
certificates:
  - { cert: "\${file:localhost.pem}", key: "\${file:localhost.key}" }
  - cert: \${file:ssl-example.pem}
    key: \${file:ssl-example.key}
    cert_alt: \${file:ssl-example-ec.pem}
    key_alt: \${file:ssl-example-ec.key}
    snis: [{ name: example.com }, { name: ssl1.com }]
  - cert: \${file:ssl-alt.pem}
    key: \${file:ssl-alt.key}
    snis: [{ name: "*.wildcard.com" }, { name: "wildcard.*" }]
  - cert: \${file:ssl-alt-alt.pem}
    key: \${file:ssl-alt-alt.key}
    cert_alt: \${file:ssl-alt-alt-ec.pem}
    key_alt: \${file:ssl-alt-alt-ec.key}
    snis: [{ name: wildcard.org }, { name: "test.wildcard.*" }, { name: "*.www.wildcard.com" }]
services:
  - name: global-cert
    url: echo://
    routes: [{ name: global, protocols: [https], hosts: [global.com] }]
  - name: api-1
    url: echo://
    routes:
      - { name: api-1, protocols: [https], hosts: [example.com, ssl1.com] }
      - { name: sni, protocols: [https], hosts: [sni.example.com], snis: [sni.example.com] }
  - name: api-3
    url: https://localhost:${up}
    ${trust}
    routes: [{ name: ssl3, protocols: [https], hosts: [ssl3.com], preserve_host: true }]
  - name: api-4
    url: https://localhost:${up}
    ${trust}
    routes: [{ name: no-sni, protocols: [https], hosts: [no-sni.com], preserve_host: false }]
  - name: api-5
    url: https://127.0.0.1:${up}
    ${trust}
    routes: [{ name: nil-sni, protocols: [https], hosts: [nil-sni.com], preserve_host: false }]
  - name: service-8
    url: https://localhost:${up}
    ${trust}
    routes:
      - { name: redirect-302, protocols: [https], hosts: [example.com], paths: [/redirect-302], https_redirect_status_code: 302 }
      - { name: clear, protocols: [http], hosts: [example-clear.com], paths: [/] }
  - name: service-example2
    url: https://localhost:${up}
    retries: 0
    routes: [{ name: example2, protocols: [http], hosts: [example2.com], paths: [/] }]
`;
}

before(async () => {
  if (skip) return;
  ca = new TestCa('Kong SSL spec CA');
  certs.localhost = ca.issue('localhost', ['localhost'], { file: 'localhost' });
  const example = ['ssl-example.com', 'example.com', 'ssl1.com'];
  certs.example = ca.issue('ssl-example.com', example, { file: 'ssl-example', rsa: true });
  ca.issue('ssl-example.com', example, { file: 'ssl-example-ec' });
  certs.alt = ca.issue('ssl-alt.com', ['ssl-alt.com'], { file: 'ssl-alt' });
  certs.altAlt = ca.issue('ssl-alt-alt.com', ['ssl-alt-alt.com'], { file: 'ssl-alt-alt', rsa: true });
  ca.issue('ssl-alt-alt.com', ['ssl-alt-alt.com'], { file: 'ssl-alt-alt-ec' });
  const up = ca.issue('upstream', ['localhost', 'ssl3.com'], { file: 'upstream' });
  // The upstream reports the server name the gateway sent (Kong's mock upstream: `vars.ssl_server_name`).
  upstream = createServer({ cert: up.cert, key: up.key }, (req, res) => {
    const sni = (req.socket as TLSSocket).servername;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ ssl_server_name: typeof sni === 'string' ? sni : 'no SNI' }));
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  file = join(ca.dir, 'gateway.yaml');
  writeFileSync(file, gatewayYaml('"127.0.0.1"'));
  inst = await startFromFile(file, { proxyListen: ['127.0.0.1:0', '127.0.0.1:0 ssl'], logs });
  httpPort = Number(inst.proxyAddresses[0]!.split(':').pop());
  httpsPort = Number(inst.proxyAddresses[1]!.split(':').pop());
});

after(async () => {
  if (skip) return;
  await inst.close(0);
  upstream.close();
  upstream.closeAllConnections();
});

test("proxy ssl verify: an upstream whose certificate is not trusted gets 502 with Kong's message; a trusted one 200", {
  skip,
}, async () => {
  const refused = await get('/', { host: 'example2.com' });
  assert.equal(refused.status, 502);
  assert.match(refused.body, /An invalid response was received from the upstream server/);
  assert.equal((await get('/', { host: 'example-clear.com' })).status, 200);
});

test('a client sending no SNI gets the default certificate and its request is routed by Host', { skip }, async () => {
  assert.equal((await presented(httpsPort, null)).serial, certs.localhost!.serial);
  assert.equal((await getTls('/status/200', 'global.com', null)).status, 200);
});

test("each server name gets its certificate in Kong's order: exact, then *.prefix, then suffix.*, else the default", {
  skip,
}, async () => {
  const cases: [string, string][] = [
    ['test.com', 'localhost'], // no SNI matches: the default
    ['ssl1.com', 'ssl-example.com'], // two SNIs of one certificate
    ['example.com', 'ssl-example.com'],
    ['test.wildcard.com', 'ssl-alt.com'], // *.wildcard.com before test.wildcard.*
    ['wildcard.eu', 'ssl-alt.com'], // wildcard.*
    ['wildcard.org', 'ssl-alt-alt.com'], // exact before wildcard.*
    ['test.wildcard.org', 'ssl-alt-alt.com'], // test.wildcard.*: the last label replaced
    ['test.www.wildcard.com', 'ssl-alt-alt.com'], // *.www.wildcard.com, not *.wildcard.com
  ];
  const got = await Promise.all(cases.map(([name]) => presented(httpsPort, name)));
  for (const [i, [name, cn]] of cases.entries()) assert.match(got[i]!.subject, new RegExp(`CN ?= ?${cn}$`), name);
});

test('an https-only route answers plain http 426 with Upgrade, a route with snis too; 302 keeps the query', {
  skip,
}, async () => {
  for (const host of ['example.com', 'sni.example.com']) {
    const r = await get('/', { host });
    assert.equal(r.status, 426, host);
    assert.equal(JSON.parse(r.body).message, 'Please use HTTPS protocol');
    assert.match(String(r.headers.connection), /\bUpgrade\b/);
    assert.equal(r.headers.upgrade, 'TLS/1.2, HTTP/1.1');
  }
  const moved = await get('/redirect-302?foo=bar', { host: 'example.com' });
  assert.equal(moved.status, 302);
  // Without a port, as Kong's: the peer is a trusted proxy (trusted_ips), whose public port is 443.
  assert.equal(moved.headers.location, 'https://example.com/redirect-302?foo=bar');
});

test('X-Forwarded-Proto https is believed from a trusted peer only, and only when it says https', {
  skip,
}, async () => {
  assert.equal((await get('/status/200', { host: 'example.com', 'x-forwarded-proto': 'https' })).status, 200);
  assert.equal((await get('/status/200', { host: 'example.com', 'x-forwarded-proto': 'httpsa' })).status, 426);
  // Kong's restarts with trusted_ips naming another address, then none: a config reload each.
  for (const trusted of ['"1.2.3.4"', '']) {
    writeFileSync(file, gatewayYaml(trusted));
    const r = await inst.reload();
    assert.equal(r.ok, true, JSON.stringify(r));
    assert.equal((await get('/status/200', { host: 'ssl1.com', 'x-forwarded-proto': 'https' })).status, 426, trusted);
  }
  writeFileSync(file, gatewayYaml('"127.0.0.1"'));
  assert.equal((await inst.reload()).ok, true);
});

test("the SNI sent upstream: the client's Host under preserve_host, else the service host, none for an IP", {
  skip,
}, async () => {
  const sni = async (host: string) => {
    const r = await getTls('/', host, 'example.com');
    assert.equal(r.status, 200, `${host}: ${r.body}`);
    return JSON.parse(r.body).ssl_server_name;
  };
  assert.equal(await sni('ssl3.com'), 'ssl3.com');
  assert.equal(await sni('no-sni.com'), 'localhost');
  assert.equal(await sni('nil-sni.com'), 'no SNI');
});

test('server names Kong calls invalid SNIs get the default certificate, and log no error', { skip }, async () => {
  const before = logs.length;
  const names = [
    'a.example.com',
    'a.example.com:600',
    'a.example.com:88888',
    '127.0.0.1',
    '127.0.0.1:443',
    '256.256.256.256',
    '*.exam*le.com',
    'a.exam*le.com',
  ];
  const got = await Promise.all(names.map((name) => presented(httpsPort, name)));
  for (const [i, name] of names.entries()) assert.equal(got[i]!.serial, certs.localhost!.serial, name);
  const errors = logs.slice(before).filter((l) => l.level === 'error' || l.level === 'fatal');
  assert.deepEqual(errors, []);
  assert.equal((await getTls('/', 'global.com', 'example.com')).status, 200);
});
