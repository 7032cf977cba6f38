// Kong's port_maps: behind a port mapping (Docker's `-p 80:8000`, a Kubernetes Service) the port
// clients connect to is not the listener's, and X-Forwarded-Port names the mapped one, as Kong's
// spec 05-proxy/03-upstream_headers ("using port maps configuration") checks.
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, test } from 'node:test';
import type { TestGateway } from '../../src/testing/index.ts';
import { issuesOf, V3 } from '../config/helpers.ts';
import { serviceConfig, startServiceGateway } from '../support/gateway.ts';
import { type RecordingUpstream, startRecordingUpstream } from '../support/upstream.ts';

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
