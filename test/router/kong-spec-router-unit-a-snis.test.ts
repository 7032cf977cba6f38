/**
 * Kong's router unit spec, spec/01-unit/08-router_spec.lua at Kong commit 22246ef2, its `select()`
 * cases `[wildcard sni]` (traditional_compatible; its traditional flavor skips them): routes with a
 * leftmost and a rightmost wildcard `snis`, selected by the TLS server name of an https request
 * with `Host: any.test`, on a real gateway's TLS listener. The answer's `Kong-Route-Name`
 * (`Kong-Debug: 1`) names the route; Kong's `nil` is its 404. The gateway presents one
 * certificate whatever the name (routing is under test, not certificate selection, which
 * test/tls/ covers), so the client checks its CA but not the name.
 */

import assert from 'node:assert/strict';
import { request } from 'node:https';
import { after, before, describe, test } from 'node:test';
import type { TollgateInstance } from '../../src/instance.ts';
import { startTlsGateway, TestCa, tool } from '../tls/support.ts';

const skip = tool('openssl');
let ca: TestCa;
let gw: TollgateInstance;

before(async () => {
  if (skip) return;
  ca = new TestCa('Router unit spec CA');
  gw = await startTlsGateway(
    ca,
    `_tollgate: { debug_header: true }
services:
  - name: svc
    url: echo://
    routes:
      - { name: r1, protocols: [https], snis: ["*.sni.test"] }
      - { name: r2, protocols: [https], snis: ["sni.*"] }
`,
  );
});
after(() => gw?.close(0));

/** The route an https GET / with server name `sni` and `Host: any.test` matched, or null for Kong's 404. */
function matched(sni: string): Promise<string | null> {
  const [host, port] = gw.proxyAddresses[0]!.split(':');
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host,
        port,
        path: '/',
        servername: sni,
        ca: ca.cert,
        checkServerIdentity: () => undefined,
        headers: { host: 'any.test', 'kong-debug': '1' },
        agent: false,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => {
          if (res.statusCode === 404) {
            assert.match(body, /no Route matched with those values/);
            resolve(null);
          } else resolve((res.headers['kong-route-name'] as string | undefined) ?? `(status ${res.statusCode})`);
        });
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe('[wildcard sni]', { skip }, () => {
  test('matches leftmost wildcards', async () => {
    for (const sni of ['foo.sni.test', 'foo.bar.sni.test']) assert.equal(await matched(sni), 'r1', sni);
  });

  test('matches rightmost wildcards', async () => {
    for (const sni of ['sni.foo', 'sni.foo.bar']) assert.equal(await matched(sni), 'r2', sni);
  });

  test("doesn't match wildcard", async () => {
    for (const sni of ['bar.sni.foo', 'foo.sni.test.bar']) assert.equal(await matched(sni), null, sni);
  });
});
