// Kong's port_maps: behind a port mapping (Docker's `-p 80:8000`, a Kubernetes Service) the port
// clients connect to is not the listener's, and X-Forwarded-Port names the mapped one, as Kong's
// spec 05-proxy/03-upstream_headers ("using port maps configuration") checks; so does the port of
// an https redirect, which the gateway takes from its ssl listener.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { TestGateway } from '../../src/testing/index.ts';
import { issuesOf, V3 } from '../config/helpers.ts';
import { serviceConfig, startServiceGateway } from '../support/gateway.ts';
import { type RecordingUpstream, startRecordingUpstream } from '../support/upstream.ts';
import { startFromFile, TestCa, tool } from '../tls/support.ts';

/** The X-Forwarded-Port the upstream received for a GET with these headers. */
function forwardedPort(url: string, headers: Record<string, string> = {}): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}/plain`, { headers, agent: false, signal: AbortSignal.timeout(10_000) }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () =>
        resolve((JSON.parse(body) as { headers: Record<string, unknown> }).headers['x-forwarded-port']),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

let gw: TestGateway;
let upstream: RecordingUpstream;
let port: string;
const routes = [{ name: 'plain', paths: ['/plain'] }];

before(async () => {
  upstream = await startRecordingUpstream();
  gw = await startServiceGateway(routes, { url: upstream.url });
  port = new URL(gw.url).port;
});
after(async () => {
  await gw.close();
  await upstream.close();
});

/** Reloads with these `_tollgate` settings (the listener's port is known only once it listens). */
async function settings(tollgate: Record<string, unknown>): Promise<void> {
  const r = await gw.reload(serviceConfig(routes, { url: upstream.url, extra: { _tollgate: tollgate } }));
  assert.equal(r.ok, true, JSON.stringify(r));
}

test("the listener's port is mapped to the one clients connect to; a client's X-Forwarded-Port is replaced", async () => {
  await settings({ port_maps: [`80:${port}`, '443:8443'] });
  assert.equal(await forwardedPort(gw.url), '80');
  assert.equal(await forwardedPort(gw.url, { 'x-forwarded-port': '81' }), '80');
  // A mapping for another port changes nothing for this listener.
  await settings({ port_maps: ['443:8443'] });
  assert.equal(await forwardedPort(gw.url), port);
});

test("a trusted proxy's X-Forwarded-Port still wins, as in Kong; without one the mapped port is sent", async () => {
  await settings({ port_maps: [`80:${port}`], trusted_ips: ['127.0.0.1'] });
  assert.equal(await forwardedPort(gw.url, { 'x-forwarded-port': '8080' }), '8080');
  assert.equal(await forwardedPort(gw.url), '80');
});

test("an entry that is not two ports joined by ':' is refused with Kong's message", async () => {
  const issues = await issuesOf(
    `${V3}_tollgate:\n  port_maps: ['80:8000', '8000', 'a:8000', '0:8000', '80:65536', ' 80 : 8000 ']\n`,
  );
  assert.deepEqual(
    issues.filter((i) => i.severity === 'error').map((i) => `${i.path}: ${i.message}`),
    [
      '_tollgate.port_maps[1]: invalid port mapping (`port_maps`): 8000',
      '_tollgate.port_maps[2]: invalid port mapping (`port_maps`): a:8000',
      '_tollgate.port_maps[3]: invalid port mapping (`port_maps`): 0:8000',
      '_tollgate.port_maps[4]: invalid port mapping (`port_maps`): 80:65536',
    ],
  );
});

test('an https redirect names the port the ssl listener is mapped to, none when that is 443', {
  skip: tool('openssl'),
}, async () => {
  const ca = new TestCa();
  ca.issue('a.test', ['a.test'], { file: 'a' });
  const file = join(ca.dir, 'gateway.yaml');
  const write = (tollgate: string): void =>
    writeFileSync(
      file,
      `_format_version: "3.0"\n${tollgate}certificates:\n  - { cert: "\${file:a.pem}", key: "\${file:a.key}" }\nservices:\n  - name: echo\n    url: echo://\n    routes:\n      - { name: moved, paths: [/moved], protocols: [https], https_redirect_status_code: 301 }\n`,
    );
  write('');
  const inst = await startFromFile(file, { proxyListen: ['127.0.0.1:0', '127.0.0.1:0 ssl'] });
  try {
    const plain = `http://${inst.proxyAddresses[0]}`;
    const tls = inst.proxyAddresses[1]!.split(':').pop();
    // node:http, as fetch sends the URL's host whatever Host it is given.
    const location = (): Promise<unknown> =>
      new Promise((resolve, reject) => {
        const req = request(`${plain}/moved/p?x=1`, { headers: { host: 'a.test' }, agent: false }, (res) => {
          res.resume();
          assert.equal(res.statusCode, 301);
          resolve(res.headers.location);
        });
        req.on('error', reject);
        req.end();
      });
    assert.equal(await location(), `https://a.test:${tls}/moved/p?x=1`);
    write(`_tollgate:\n  port_maps: ["443:${tls}"]\n`);
    assert.equal((await inst.reload()).ok, true);
    assert.equal(await location(), 'https://a.test/moved/p?x=1');
    write(`_tollgate:\n  port_maps: ["8443:${tls}"]\n`);
    assert.equal((await inst.reload()).ok, true);
    assert.equal(await location(), 'https://a.test:8443/moved/p?x=1');
  } finally {
    await inst.close(0);
  }
});
