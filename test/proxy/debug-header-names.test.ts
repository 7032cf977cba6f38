// Kong-Debug's Kong-Service-Name and Kong-Route-Name carry the names as the file has them. Kong
// (nginx) sends a name past ASCII as its UTF-8 bytes; node throws on a header char past U+00FF, and
// a throw there, while the error answer was being written, took the whole gateway down.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { startGateway } from '../../src/testing/index.ts';

test('a service or route named past ASCII is sent in the debug headers as its UTF-8 bytes, as Kong sends it', async () => {
  const gw = await startGateway({
    config: {
      _format_version: '3.0',
      _tollgate: { debug_header: true },
      services: [{ name: 'café-日本', url: 'echo://', routes: [{ name: '路由', paths: ['/x'] }] }],
    },
  });
  after(() => gw.close());
  const utf8 = (v: string | null) => (v === null ? null : Buffer.from(v, 'latin1').toString('utf8'));
  for (let i = 0; i < 2; i++) {
    const res = await fetch(`${gw.url}/x`, { headers: { 'kong-debug': '1' }, signal: AbortSignal.timeout(10_000) });
    assert.equal(res.status, 200);
    assert.equal(utf8(res.headers.get('kong-service-name')), 'café-日本');
    assert.equal(utf8(res.headers.get('kong-route-name')), '路由');
    await res.arrayBuffer();
  }
});
