// Active probes over TLS (Kong's healthchecks.active `type: https`, `https_sni`,
// `https_verify_certificate`) against real loopback servers: the probe's protocol is its own, not the
// service's, and `timeout` bounds the handshake as well as the answer.
import assert from 'node:assert/strict';
import { createServer as createHttpsServer, type Server } from 'node:https';
import { type AddressInfo, createServer as createTcpServer, type Socket, type Server as TcpServer } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { TLSSocket } from 'node:tls';
import type { UpstreamModel } from '../../src/config/model.ts';
import { Balancer } from '../../src/upstream/balancer.ts';
import { brief, issuesOf, load, V3 } from '../config/helpers.ts';
import { closeBalancers, make, POOL, upstream } from '../support/balancer.ts';
import { TestCa, tool } from './support.ts';

const skip = tool('openssl');
let ca: TestCa;
let tlsServer: Server;
let tlsPort = 0;
/** The TLS server name of each probe the HTTPS server answered (null: none sent). */
const servernames: (string | null)[] = [];
let silent: TcpServer;
let silentPort = 0;
const silentSockets = new Set<Socket>();

before(async () => {
  if (skip) return;
  ca = new TestCa('Probe CA');
  const leaf = ca.issue('probe', ['probe.test', 'named.test']);
  tlsServer = createHttpsServer({ cert: leaf.cert, key: leaf.key }, (req, res) => {
    const name = (req.socket as TLSSocket).servername;
    servernames.push(typeof name === 'string' ? name : null);
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('ok');
  });
  await new Promise<void>((r) => tlsServer.listen(0, '127.0.0.1', r));
  tlsPort = (tlsServer.address() as AddressInfo).port;
  // Accepts connections and never says a word: a TLS handshake with it never ends.
  silent = createTcpServer((s) => {
    silentSockets.add(s);
    s.on('close', () => silentSockets.delete(s));
  });
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  silentPort = (silent.address() as AddressInfo).port;
});

after(async () => {
  if (skip) return;
  await closeBalancers();
  tlsServer.closeAllConnections();
  for (const s of silentSockets) s.destroy();
  await Promise.all([new Promise((r) => tlsServer.close(r)), new Promise((r) => silent.close(r))]);
});

/** An upstream of one target whose every failed probe marks it down. */
function checked(port: number, active: Record<string, unknown>, extra: Partial<UpstreamModel> = {}): UpstreamModel {
  return upstream([[`127.0.0.1:${port}`, 100]], {
    healthchecks: { active: { unhealthy: { tcp_failures: 1, timeouts: 1, http_failures: 1 }, ...active } },
    ...extra,
  });
}

async function healthyAfterProbe(u: UpstreamModel, pool: Parameters<typeof make>[1] = {}): Promise<boolean> {
  const b = make(u, pool);
  await b.probeAll(true);
  return b.health().targets[0]!.healthy;
}

describe('active probes over TLS', { skip }, () => {
  test('type https probes over TLS when the service speaks plain http', async () => {
    servernames.length = 0;
    const u = checked(tlsPort, { type: 'https', https_sni: 'probe.test' });
    assert.equal(await healthyAfterProbe(u, { scheme: 'http', ca: [ca.cert] }), true);
    assert.deepEqual(servernames, ['probe.test']);
  });

  test("types grpc and grpcs probe as http and https (Kong's healthchecker sends them a GET of http_path)", async () => {
    servernames.length = 0;
    const u = checked(tlsPort, { type: 'grpcs', https_sni: 'probe.test' });
    assert.equal(await healthyAfterProbe(u, { scheme: 'http', ca: [ca.cert] }), true);
    assert.deepEqual(servernames, ['probe.test']);
    assert.equal(
      await healthyAfterProbe(checked(tlsPort, { type: 'grpc' }), { scheme: 'https', ca: [ca.cert] }),
      false,
    );
  });

  test('type http (the default) probes in plain HTTP when the service speaks https, as Kong does', async () => {
    servernames.length = 0;
    const u = checked(tlsPort, {});
    assert.equal(await healthyAfterProbe(u, { scheme: 'https', ca: [ca.cert] }), false);
    assert.deepEqual(servernames, []);
  });

  test('https_verify_certificate is on by default: a certificate the service does not trust fails the probe', async () => {
    const u = checked(tlsPort, { type: 'https', https_sni: 'probe.test' });
    assert.equal(await healthyAfterProbe(u, { scheme: 'https', ca: null }), false);
    const off = checked(tlsPort, { type: 'https', https_sni: 'probe.test', https_verify_certificate: false });
    assert.equal(await healthyAfterProbe(off, { scheme: 'https', ca: null }), true);
  });

  test('a probe refused for its certificate says so in the reason the unhealthy line logs', async () => {
    const reasons: string[] = [];
    const u = checked(tlsPort, { type: 'https', https_sni: 'probe.test' });
    const b = new Balancer(u, { ...POOL, scheme: 'https', ca: null }, (_t, _h, reason) => reasons.push(reason));
    try {
      await b.probeAll(true);
    } finally {
      await b.close();
    }
    assert.deepEqual(reasons, ['active: 1 tcp failures (UNABLE_TO_VERIFY_LEAF_SIGNATURE)']);
  });

  test('https_verify_certificate: true verifies even where the service does not (tls_verify: false)', async () => {
    const u = checked(tlsPort, { type: 'https' });
    assert.equal(await healthyAfterProbe(u, { scheme: 'https', ca: null, tlsVerify: false }), false);
  });

  test('without https_sni the server name is the upstream host_header, as Kong sends it', async () => {
    servernames.length = 0;
    const u = checked(tlsPort, { type: 'https' }, { host_header: 'named.test' });
    assert.equal(await healthyAfterProbe(u, { scheme: 'https', ca: [ca.cert] }), true);
    servernames.length = 0;
    const sni = checked(tlsPort, { type: 'https', https_sni: 'probe.test' }, { host_header: 'named.test' });
    assert.equal(await healthyAfterProbe(sni, { scheme: 'https', ca: [ca.cert] }), true);
    assert.deepEqual(servernames, ['probe.test']);
  });

  test('timeout bounds the TLS handshake, not only the answer (the connect timeout is a minute)', {
    timeout: 10_000,
  }, async () => {
    const u = checked(silentPort, { type: 'https', timeout: 0.3 });
    assert.equal(await healthyAfterProbe(u, { scheme: 'http', connectTimeout: 60_000 }), false);
  });
});

test("https_sni is a host name, as Kong's typedefs.sni says: an IP address, a port or a wildcard is a located error", async () => {
  const upstream = (sni: string): string =>
    `  - name: u${sni.length}\n    healthchecks:\n      active: { type: https, https_sni: "${sni}" }\n`;
  const text = `${V3}upstreams:\n${['10.0.0.1', '[::1]', 'probe.test:443', '*.probe.test'].map(upstream).join('')}`;
  assert.deepEqual(brief(await issuesOf(text)), [
    '5:41 upstreams[0].healthchecks.active.https_sni must not be an IP',
    '8:41 upstreams[1].healthchecks.active.https_sni must not be an IP',
    '11:41 upstreams[2].healthchecks.active.https_sni must not have a port',
    '14:41 upstreams[3].healthchecks.active.https_sni invalid value: *.probe.test',
  ]);
  await load(`${V3}upstreams:\n${upstream('probe.test')}`);
});
