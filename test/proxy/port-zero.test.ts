// A service on port 0: Kong's port type runs from 0, so the file loads (with a warning at the
// port), and its requests fail at connect with 502 while the other routes serve. Before, the
// balancer parsed `host:0` back and refused it, and the whole config failed with an unlocated
// "could not be compiled".
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { TestGateway } from '../../src/testing/index.ts';
import { startServiceGateway } from '../support/gateway.ts';
import { validateEntities } from '../support/validate.ts';

let gw: TestGateway;

before(async () => {
  gw = await startServiceGateway([{ name: 'up', paths: ['/up'] }], {
    services: [
      { name: 'zero', url: 'http://127.0.0.1:0/x', routes: [{ name: 'zero', paths: ['/zero'] }] },
      { name: 'zero-port', host: '127.0.0.1', port: 0, routes: [{ name: 'zero-port', paths: ['/zero-port'] }] },
    ],
  });
});
after(() => gw.close());

test('gateway validate loads a service on port 0, warning at its url or port', async () => {
  const v = await validateEntities(
    'services:\n  - { name: a, url: "http://example.com:0/x" }\n  - { name: b, host: example.com, port: 0 }\n',
  );
  assert.equal(v.code, 0, v.out);
  assert.match(v.out, /:3:\d+ {2}services\[0\]\.url {2}warning: port 0: .*answers 502/);
  assert.match(v.out, /:4:\d+ {2}services\[1\]\.port {2}warning: port 0: .*answers 502/);
  assert.match(v.out, /valid \(2 services, 0 routes, 0 consumers, 0 plugins; 2 warnings\)/);
});

test('a request to a service on port 0 answers 502; the other routes serve', async () => {
  for (const path of ['/zero', '/zero-port']) {
    const r = await fetch(`${gw.url}${path}`, { signal: AbortSignal.timeout(10_000) });
    assert.equal(r.status, 502, path);
    await r.arrayBuffer();
  }
  const ok = await fetch(`${gw.url}/up`, { signal: AbortSignal.timeout(10_000) });
  assert.equal(ok.status, 200);
  await ok.arrayBuffer();
});
