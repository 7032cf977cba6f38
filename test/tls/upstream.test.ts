// Upstream TLS: certificates verified by default (tls_verify), Kong's ca_certificates (entity ids or
// PEM), and client_certificate for mutual TLS, against a real HTTPS upstream on loopback.

import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { copyFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import type { TLSSocket } from 'node:tls';
import { startGateway, type TestGateway } from '../../src/testing/index.ts';
import { TestCa, tool } from './support.ts';

const skip = tool('openssl');
const CA_ID = '6f0c3c2e-58f4-4f0b-9a5e-1d2b0c1e7a11';
const CLIENT_ID = '0d1a5b7e-3c9f-4e2a-8b6d-2f4c6e8a0b13';
let upstream: Server;
let gw: TestGateway;
let caPem: string;

before(async () => {
  if (skip) return;
  const upCa = new TestCa('Upstream CA');
  caPem = upCa.cert;
  const clientCa = new TestCa('Gateway Client CA');
  const server = upCa.issue('upstream', ['upstream.test'], { file: 'upstream' });
  clientCa.issue('tollgate', [], { file: 'client' });
  // The upstream demands a client certificate from the gateway's client CA.
  upstream = createServer(
    { cert: server.cert, key: server.key, ca: clientCa.cert, requestCert: true, rejectUnauthorized: true },
    (req, res) => {
      const peer = (req.socket as TLSSocket).getPeerCertificate();
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ client: peer.subject?.CN ?? null }));
    },
  );
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const port = (upstream.address() as AddressInfo).port;
  const url = `https://127.0.0.1:${port}`;
  // Everything in the upstream CA's directory: client files are copied there for ${file:...}.
  copyFileSync(`${clientCa.dir}/client.pem`, `${upCa.dir}/client.pem`);
  copyFileSync(`${clientCa.dir}/client.key`, `${upCa.dir}/client.key`);
  gw = await startGateway({
    dir: upCa.dir,
    config: `_format_version: "3.0"
ca_certificates:
  - id: ${CA_ID}
    cert: \${file:ca.pem}
certificates:
  - id: ${CLIENT_ID}
    cert: \${file:client.pem}
    key: \${file:client.key}
services:
  - name: mtls
    url: ${url}
    ca_certificates: [${CA_ID}]
    client_certificate: { id: ${CLIENT_ID} }
    routes: [{ name: mtls, paths: [/mtls] }]
  - name: mtls-pem
    url: ${url}
    ca_certificates: ["\${file:ca.pem}"]
    client_certificate: ${CLIENT_ID}
    routes: [{ name: mtls-pem, paths: [/pem] }]
  - name: no-client-cert
    url: ${url}
    ca_certificates: [${CA_ID}]
    retries: 0
    routes: [{ name: nocert, paths: [/nocert] }]
  - name: unknown-ca
    url: ${url}
    client_certificate: ${CLIENT_ID}
    retries: 0
    routes: [{ name: unknown-ca, paths: [/unverified] }]
  - name: verify-off
    url: ${url}
    tls_verify: false
    client_certificate: ${CLIENT_ID}
    routes: [{ name: verify-off, paths: [/off] }]
  - name: balanced-mtls
    protocol: https
    host: mtls.upstream
    ca_certificates: [${CA_ID}]
    client_certificate: ${CLIENT_ID}
    routes: [{ name: balanced-mtls, paths: [/balanced] }]
  - name: balanced-nocert
    protocol: https
    host: mtls.upstream
    ca_certificates: [${CA_ID}]
    retries: 0
    routes: [{ name: balanced-nocert, paths: [/balanced-nocert] }]
  - name: upstream-cert
    protocol: https
    host: cert.upstream
    ca_certificates: [${CA_ID}]
    routes: [{ name: upstream-cert, paths: [/upstream-cert] }]
upstreams:
  - name: mtls.upstream
    targets: [{ target: "127.0.0.1:${port}" }]
  - name: cert.upstream
    client_certificate: ${CLIENT_ID}
    targets: [{ target: "127.0.0.1:${port}" }]
`,
  });
});

after(async () => {
  if (skip) return;
  await gw.close();
  upstream.close();
});

test('mutual TLS: the service presents its client_certificate and verifies the upstream with its ca_certificates entity', {
  skip,
}, async () => {
  const r = await fetch(`${gw.url}/mtls`);
  assert.equal(r.status, 200);
  assert.deepEqual(await r.json(), { client: 'tollgate' });
});

test('ca_certificates also takes PEM text (a ${file:} reference), client_certificate a plain id', {
  skip,
}, async () => {
  const r = await fetch(`${gw.url}/pem`);
  assert.equal(r.status, 200);
  assert.deepEqual(await r.json(), { client: 'tollgate' });
});

test('without a client certificate the upstream refuses the handshake: 502', { skip }, async () => {
  const r = await fetch(`${gw.url}/nocert`);
  assert.equal(r.status, 502);
});

test('tls_verify is on by default: an upstream certificate from an unknown CA gets 502', { skip }, async () => {
  const r = await fetch(`${gw.url}/unverified`);
  assert.equal(r.status, 502);
  const line = gw.logs.find((l) => l.type === 'access' && l.path === '/unverified');
  assert.equal(line?.status, 502);
});

test('tls_verify: false accepts the unknown CA (and still presents the client certificate)', { skip }, async () => {
  const r = await fetch(`${gw.url}/off`);
  assert.equal(r.status, 200);
  assert.deepEqual(await r.json(), { client: 'tollgate' });
});

test('a balanced service (host is an upstreams: entry) presents its client_certificate to each target', {
  skip,
}, async () => {
  const r = await fetch(`${gw.url}/balanced`);
  assert.equal(r.status, 200);
  assert.deepEqual(await r.json(), { client: 'tollgate' });
  // The same upstream without the certificate is refused by the target: the certificate made the difference.
  const refused = await fetch(`${gw.url}/balanced-nocert`);
  assert.equal(refused.status, 502);
});

test("an upstream's client_certificate serves a service that names none (Kong's fallback)", { skip }, async () => {
  const r = await fetch(`${gw.url}/upstream-cert`);
  assert.equal(r.status, 200);
  assert.deepEqual(await r.json(), { client: 'tollgate' });
});

test("the admin API shows client_certificate as Kong's foreign key, {id}", { skip }, async () => {
  const service = (await (await fetch(`${gw.adminUrl}/services/mtls-pem`)).json()) as any;
  assert.deepEqual(service.client_certificate, { id: CLIENT_ID });
  const none = (await (await fetch(`${gw.adminUrl}/services/no-client-cert`)).json()) as any;
  assert.equal(none.client_certificate, null);
  const upstream = (await (await fetch(`${gw.adminUrl}/upstreams/cert.upstream`)).json()) as any;
  assert.deepEqual(upstream.client_certificate, { id: CLIENT_ID });
});

test('/services/{s}/client_certificate and /upstreams/{u}/client_certificate answer the certificate, key redacted', {
  skip,
}, async () => {
  for (const path of ['/services/mtls-pem/client_certificate', '/upstreams/cert.upstream/client_certificate']) {
    const res = await fetch(`${gw.adminUrl}${path}`);
    assert.equal(res.status, 200, path);
    const cert = (await res.json()) as any;
    assert.equal(cert.id, CLIENT_ID, path);
    assert.equal(cert.key, '[redacted]', path);
  }
  assert.equal((await fetch(`${gw.adminUrl}/services/no-client-cert/client_certificate`)).status, 404);
});

test("the admin API serves Kong's /ca_certificates, and a service's ca_certificates as the ids it names", {
  skip,
}, async () => {
  const list = (await (await fetch(`${gw.adminUrl}/ca_certificates`)).json()) as any;
  assert.equal(list.data.length, 1);
  const ca = list.data[0];
  assert.equal(ca.id, CA_ID);
  // Kong's cert_digest: the hex SHA-256 of the certificate's DER.
  assert.equal(ca.cert_digest, new X509Certificate(caPem).fingerprint256.replaceAll(':', '').toLowerCase());
  assert.deepEqual(ca.tags, []);
  assert.equal(typeof ca.created_at, 'number');
  const one = await fetch(`${gw.adminUrl}/ca_certificates/${CA_ID}`);
  assert.equal(one.status, 200);
  assert.equal(((await one.json()) as any).cert_digest, ca.cert_digest);
  const service = (await (await fetch(`${gw.adminUrl}/services/mtls`)).json()) as any;
  assert.deepEqual(service.ca_certificates, [CA_ID]);
  const config = (await (await fetch(`${gw.adminUrl}/config`)).json()) as any;
  assert.equal(config.ca_certificates[0].id, CA_ID);
});
