/**
 * Kong's upstream TLS spec, spec/02-integration/05-proxy/18-upstream_tls_spec.lua at Kong commit
 * 22246ef2, over HTTP: a service's and an upstream's `client_certificate` (mutual TLS to the
 * upstream), `tls_verify`, `ca_certificates` and `tls_verify_depth`. Kong's Admin API patches are
 * config reloads here. As in Kong's fixture, the upstream is an nginx-like server that finishes the
 * handshake without a client certificate and answers `400 No required SSL certificate was sent`,
 * and shows the certificate it got as `X-Cert` (nginx's `$ssl_client_escaped_cert`); its
 * certificate is issued by an intermediate CA under the root that `ca_certificates` names.
 * Kong leaves `tls_verify` off by default; Tollgate verifies, so the services name their CA
 * (docs/kong-differences.md). The stream (`tls://`) half of the spec is not ported: stream
 * routes are refused. Kong's `buffered_proxying` variants reach the upstream the same way.
 */

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { TLSSocket } from 'node:tls';
import { startGateway, type TestGateway } from '../../src/testing/index.ts';
import { type Issued, openssl, TestCa, tool } from './support.ts';

const skip = tool('openssl');
const CLIENT = '0d1a5b7e-3c9f-4e2a-8b6d-2f4c6e8a0b13';
const BAD = '1e2b6c8f-4d0a-4f3b-9c7e-3a5d7f9b1c24';
const CA = '6f0c3c2e-58f4-4f0b-9a5e-1d2b0c1e7a11';
const BAD_GATEWAY = 'An invalid response was received from the upstream server';
let root: TestCa;
let clientCa: TestCa;
let client: Issued;
let client2: Issued;
/** Kong's certificate_bad: a pair the upstream does not trust. */
let bad: Issued;
let mtls: Server;
let tls: Server;
let gw: TestGateway;

/** An intermediate CA signed by `root`: its own TestCa (to issue leaves), and its certificate as root signed it. */
function intermediate(root: TestCa, name: string): { ca: TestCa; cert: string } {
  const ca = new TestCa(name);
  const csr = join(ca.dir, 'inter.csr');
  const ext = join(ca.dir, 'inter.ext');
  const out = join(ca.dir, 'inter.pem');
  writeFileSync(ext, 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n');
  openssl(['req', '-new', '-key', ca.keyFile, '-subj', `/CN=${name}`, '-out', csr]);
  openssl(
    ['x509', '-req', '-in', csr, '-CA', root.certFile, '-CAkey', root.keyFile, '-CAcreateserial'].concat([
      '-days',
      '1',
      '-extfile',
      ext,
      '-out',
      out,
    ]),
  );
  return { ca, cert: openssl(['x509', '-in', out]) };
}

function listen(server: Server): Promise<number> {
  return new Promise((r) => server.listen(0, '127.0.0.1', () => r((server.address() as AddressInfo).port)));
}

/** The gateway's config: Kong's fixture entities, with `extra` in the services and the upstream as given. */
function config(o: {
  clientCert?: Issued;
  serviceCert?: string;
  upstreamServiceCert?: string;
  upstreamCert?: string;
  tlsService?: string;
  caCert?: string;
}): string {
  const c = o.clientCert ?? client;
  const line = (v: string | undefined) => (v === undefined ? '' : `\n    ${v}`);
  const pem = (s: string) => JSON.stringify(s);
  return `_format_version: "3.0"
ca_certificates:
  - id: ${CA}
    cert: ${pem(o.caCert ?? root.cert)}
certificates:
  - id: ${CLIENT}
    cert: ${pem(c.cert)}
    key: ${pem(c.key)}
  - id: ${BAD}
    cert: ${pem(bad.cert)}
    key: ${pem(bad.key)}
services:
  - name: protected-service-mtls
    url: https://127.0.0.1:${(mtls.address() as AddressInfo).port}/
    ca_certificates: [${CA}]${line(o.serviceCert)}
    routes: [{ name: mtls, paths: [/mtls] }]
  - name: protected-service
    url: https://127.0.0.1:${(tls.address() as AddressInfo).port}/${line(o.tlsService ?? `ca_certificates: [${CA}]`)}
    routes: [{ name: tls, paths: [/tls] }]
  - name: protected-service-mtls-upstream
    url: https://backend-mtls/
    ca_certificates: [${CA}]${line(o.upstreamServiceCert)}
    routes: [{ name: mtls-upstream, paths: [/mtls-upstream] }]
upstreams:
  - name: backend-mtls${line(o.upstreamCert)}
    targets: [{ target: "127.0.0.1:${(mtls.address() as AddressInfo).port}" }]
`;
}

async function get(path: string): Promise<{ status: number; body: string; cert: string | null }> {
  const r = await fetch(`${gw.url}${path}`);
  return { status: r.status, body: await r.text(), cert: r.headers.get('x-cert') };
}

before(async () => {
  if (skip) return;
  root = new TestCa('Kong Testing Root CA');
  const inter = intermediate(root, 'Kong Testing Intermediate CA');
  const leaf = inter.ca.issue('example.com', ['example.com']);
  // The upstream sends its chain: its certificate, then the intermediate's (nginx's ssl_certificate file).
  const chain = leaf.cert + inter.cert;
  clientCa = new TestCa('Kong Testing Client CA');
  client = clientCa.issue('client', []);
  client2 = clientCa.issue('client2', []);
  bad = root.issue('ssl-example.com', ['ssl-example.com']);
  mtls = createServer(
    { cert: chain, key: leaf.key, ca: clientCa.cert, requestCert: true, rejectUnauthorized: false },
    (req, res) => {
      const socket = req.socket as TLSSocket;
      if (!socket.authorized) {
        // nginx's answer under `ssl_verify_client on` when the client sent no certificate.
        res.writeHead(400, { 'content-type': 'text/html' });
        res.end('<html>\r\n<head><title>400 No required SSL certificate was sent</title></head>\r\n</html>\r\n');
        return;
      }
      const der = socket.getPeerX509Certificate()!.toString();
      res.writeHead(200, { 'x-cert': encodeURIComponent(der) });
      res.end('it works\n');
    },
  );
  tls = createServer({ cert: chain, key: leaf.key }, (_req, res) => res.end('it works\n'));
  await Promise.all([listen(mtls), listen(tls)]);
  gw = await startGateway({ config: config({}) });
});

after(async () => {
  if (skip) return;
  await gw.close();
  mtls.close();
  tls.close();
  mtls.closeAllConnections();
  tls.closeAllConnections();
});

async function reload(o: Parameters<typeof config>[0]): Promise<void> {
  const r = await gw.reload(config(o));
  assert.equal(r.ok, true, JSON.stringify(r));
}

test("service mutual TLS: no certificate gets the upstream's 400; client_certificate gets through, updated and removed by reloads", {
  skip,
}, async () => {
  await reload({});
  const none = await get('/mtls');
  assert.equal(none.status, 400);
  assert.match(none.body, /400 No required SSL certificate was sent/);

  await reload({ serviceCert: `client_certificate: { id: ${CLIENT} }` });
  const first = await get('/mtls');
  assert.equal(first.status, 200);
  assert.equal(first.body, 'it works\n');
  assert.equal(decodeURIComponent(first.cert!), openssl(['x509'], client.cert));

  // Kong's "send updated client certificate": the same certificate id with a new cert and key.
  await reload({ clientCert: client2, serviceCert: `client_certificate: { id: ${CLIENT} }` });
  const second = await get('/mtls');
  assert.equal(second.status, 200);
  assert.equal(decodeURIComponent(second.cert!), openssl(['x509'], client2.cert));
  assert.notEqual(second.cert, first.cert);

  // "remove client_certificate removes access"
  await reload({});
  const removed = await get('/mtls');
  assert.equal(removed.status, 400);
  assert.match(removed.body, /400 No required SSL certificate was sent/);
});

test("an upstream's client_certificate: none gets 400, one gets through, removing it takes access away", {
  skip,
}, async () => {
  await reload({});
  assert.equal((await get('/mtls-upstream')).status, 400);
  await reload({ upstreamCert: `client_certificate: { id: ${CLIENT} }` });
  const r = await get('/mtls-upstream');
  assert.equal(r.status, 200);
  assert.equal(r.body, 'it works\n');
  await reload({});
  const removed = await get('/mtls-upstream');
  assert.equal(removed.status, 400);
  assert.match(removed.body, /400 No required SSL certificate was sent/);
});

test("the service's client_certificate takes precedence over its upstream's", { skip }, async () => {
  // The upstream's certificate is one the upstream does not trust: only the service's gets through.
  await reload({
    upstreamCert: `client_certificate: { id: ${BAD} }`,
    upstreamServiceCert: `client_certificate: { id: ${CLIENT} }`,
  });
  const r = await get('/mtls-upstream');
  assert.equal(r.status, 200);
  assert.equal(decodeURIComponent(r.cert!), openssl(['x509'], client.cert));
  await reload({ upstreamCert: `client_certificate: { id: ${BAD} }` });
  assert.equal((await get('/mtls-upstream')).status, 400);
});

test("tls_verify: an upstream whose CA is not trusted gets 502 with Kong's message; tls_verify: false lets it through", {
  skip,
}, async () => {
  // Kong's default is off; Tollgate's is on, as `nginx_proxy_proxy_ssl_verify = on` makes Kong's.
  await reload({ tlsService: 'retries: 0' });
  const blocked = await get('/tls');
  assert.equal(blocked.status, 502);
  assert.match(blocked.body, new RegExp(BAD_GATEWAY));
  await reload({ tlsService: 'tls_verify: false' });
  const off = await get('/tls');
  assert.equal(off.status, 200);
  assert.equal(off.body, 'it works\n');
});

test('ca_certificates: the right CA lets the request through, another CA in its place gets 502, the right one back 200', {
  skip,
}, async () => {
  await reload({ tlsService: `tls_verify: true\n    ca_certificates: [${CA}]` });
  assert.equal((await get('/tls')).status, 200);
  const other = new TestCa('Yolo42.1');
  await reload({ tlsService: `tls_verify: true\n    retries: 0\n    ca_certificates: [${CA}]`, caCert: other.cert });
  const refused = await get('/tls');
  assert.equal(refused.status, 502);
  assert.match(refused.body, new RegExp(BAD_GATEWAY));
  await reload({ tlsService: `tls_verify: true\n    ca_certificates: [${CA}]` });
  const back = await get('/tls');
  assert.equal(back.status, 200);
  assert.equal(back.body, 'it works\n');
});

test('tls_verify_depth: 0 refuses a certificate under an intermediate CA (502), 1 accepts it', { skip }, async () => {
  await reload({
    tlsService: `tls_verify: true\n    retries: 0\n    ca_certificates: [${CA}]\n    tls_verify_depth: 0`,
  });
  const deep = await get('/tls');
  assert.equal(deep.status, 502);
  assert.match(deep.body, new RegExp(BAD_GATEWAY));
  const line = gw.logs.findLast((l) => l.type === 'access' && l.path === '/tls') as Record<string, any> | undefined;
  assert.equal(line?.status, 502);
  assert.match(JSON.stringify(line), /CERT_CHAIN_TOO_LONG/);
  await reload({ tlsService: `tls_verify: true\n    ca_certificates: [${CA}]\n    tls_verify_depth: 1` });
  const ok = await get('/tls');
  assert.equal(ok.status, 200);
  assert.equal(ok.body, 'it works\n');
});
