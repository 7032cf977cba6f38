// Routes with `snis`, as Kong matches them: on a TLS connection a route naming server names
// matches only a client that sent one of them (HTTP/1.1 and HTTP/2 alike); on cleartext they are
// not considered. A route whose service is disabled is not routed at all.

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { TollgateInstance } from '../../src/instance.ts';
import { curl, startFromFile, TestCa, tool } from './support.ts';

const skip = tool('curl') || tool('openssl');
let ca: TestCa;
let inst: TollgateInstance;
let httpPort: number;
let httpsPort: number;

const answer = (route: string): string => `
        plugins:
          - name: request-termination
            config: { status_code: 200, message: ${route} }`;

before(async () => {
  if (skip) return;
  ca = new TestCa();
  ca.issue('a.test', ['a.test', 'b.test', 'c.test', 'x.wild.test'], { file: 'multi' });
  writeFileSync(
    join(ca.dir, 'gateway.yaml'),
    `_format_version: "3.0"
certificates:
  - cert: \${file:multi.pem}
    key: \${file:multi.key}
services:
  - name: svc
    url: echo://
    routes:
      - name: route-a
        paths: [/]
        protocols: [http, https]
        snis: [a.test]${answer('route-a')}
      - name: route-b
        paths: [/]
        protocols: [https]
        snis: [B.test]${answer('route-b')}
      - name: route-wild
        snis: ["*.wild.test"]
        protocols: [https]${answer('route-wild')}
  - name: off
    url: echo://
    enabled: false
    routes:
      - name: route-off
        paths: [/off]${answer('route-off')}
`,
  );
  inst = await startFromFile(join(ca.dir, 'gateway.yaml'), { proxyListen: ['127.0.0.1:0', '127.0.0.1:0 ssl'] });
  httpPort = Number(inst.proxyAddresses[0]!.split(':').pop());
  httpsPort = Number(inst.proxyAddresses[1]!.split(':').pop());
});

after(async () => {
  if (skip) return;
  await inst.close(0);
});

async function get(
  version: '--http2' | '--http1.1',
  name: string,
  path = '/x',
): Promise<{ status: number; body: string }> {
  return curl([
    version,
    '--resolve',
    `${name}:${httpsPort}:127.0.0.1`,
    '--cacert',
    ca.certFile,
    `https://${name}:${httpsPort}${path}`,
  ]);
}

test('each TLS server name reaches the route naming it, over HTTP/2 and HTTP/1.1', { skip }, async () => {
  for (const version of ['--http2', '--http1.1'] as const) {
    assert.deepEqual(await get(version, 'a.test').then((r) => [r.status, JSON.parse(r.body).message]), [
      200,
      'route-a',
    ]);
    assert.deepEqual(await get(version, 'b.test').then((r) => [r.status, JSON.parse(r.body).message]), [
      200,
      'route-b',
    ]);
    const wild = await get(version, 'x.wild.test');
    assert.equal(JSON.parse(wild.body).message, 'route-wild', 'a wildcard sni matches, even without paths');
  }
});

test('a server name no route names gets 404; the Host header does not stand in for it', { skip }, async () => {
  const r = await get('--http1.1', 'c.test');
  assert.equal(r.status, 404);
  assert.equal(JSON.parse(r.body).message, 'no Route matched with those values');
  const spoofed = await curl([
    '--resolve',
    `c.test:${httpsPort}:127.0.0.1`,
    '--cacert',
    ca.certFile,
    '-H',
    'Host: b.test',
    `https://c.test:${httpsPort}/x`,
  ]);
  assert.equal(spoofed.status, 404);
});

test('on cleartext a route with snis matches by its other fields, as in Kong', { skip }, async () => {
  const r = await curl([`http://127.0.0.1:${httpPort}/x`]);
  assert.equal(r.status, 200);
  assert.equal(JSON.parse(r.body).message, 'route-a');
});

test("a disabled service's routes are not routed: Kong's 404", { skip }, async () => {
  const r = await curl([`http://127.0.0.1:${httpPort}/off`]);
  assert.equal(r.status, 200, 'route-a (paths [/]) answers instead');
  assert.equal(JSON.parse(r.body).message, 'route-a');
  const tls = await get('--http1.1', 'c.test', '/off');
  assert.equal(tls.status, 404);
});
