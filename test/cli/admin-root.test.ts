import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { spawnGateway } from '../ops/support.ts';
import { ROOT } from './helpers.ts';

test('GET / on the admin listener shows node info like Kong (tagline, version, node, plugins, configuration)', async () => {
  const gw = await spawnGateway(join(ROOT, 'gateway.yaml'), ['--no-watch']);
  try {
    const res = await fetch(`${gw.admin}/`, { signal: AbortSignal.timeout(10_000) });
    assert.equal(res.status, 200);
    const info = (await res.json()) as Record<string, any>;
    assert.equal(info.tagline, 'Welcome to tollgate');
    assert.match(info.version, /^\d+\.\d+\.\d+/);
    assert.match(info.node_id, /^[0-9a-f-]{36}$/);
    assert.equal(typeof info.hostname, 'string');
    assert.ok(info.plugins.available_on_server.jwt.priority > 0);
    assert.deepEqual(info.plugins.enabled_in_cluster, []);
    assert.equal(info.configuration.database, 'off');
    assert.deepEqual(info.configuration.proxy_listeners, [gw.proxy.replace('http://', '')]);
  } finally {
    await gw.kill();
  }
});
