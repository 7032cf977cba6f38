// Tests of the tenant-header plugin, with Tollgate's test kit. Run: gateway plugin test plugins/tenant-header
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runPlugin, startGateway } from 'tollgate/testing';
import plugin from './index.ts';

test('sets the configured header on the upstream request', async () => {
  const r = await runPlugin(plugin, { value: 'hello' });
  assert.equal(r.exited, false);
  assert.equal(r.upstreamHeaders['x-tenant-header'], 'hello');
});

test('refuses a request without the required header, with 400', async () => {
  const r = await runPlugin(plugin, { value: 'hello', require_header: 'X-Tenant' });
  assert.equal(r.status, 400);
  assert.deepEqual(r.body, { message: 'X-Tenant header required' });
  const ok = await runPlugin(
    plugin,
    { value: 'hello', require_header: 'X-Tenant' },
    { headers: { 'x-tenant': 'acme' } },
  );
  assert.equal(ok.exited, false);
});

test('rejects a config its schema does not allow', async () => {
  await assert.rejects(runPlugin(plugin, { value: '' }), /config\.value: length must be at least 1/);
  await assert.rejects(
    runPlugin(plugin, { value: 'hello', header: 'Host' }),
    /config\.header: 'Host' is managed by the gateway/,
  );
});

test('end to end: the upstream receives the header through a running gateway', async () => {
  const gw = await startGateway({
    plugins: [plugin],
    config: {
      _format_version: '3.0',
      services: [{ name: 'echo', url: 'echo://', routes: [{ name: 'api', paths: ['/api'] }] }],
      plugins: [{ name: 'tenant-header', config: { value: 'hello' } }],
    },
  });
  try {
    const res = await fetch(`${gw.url}/api/orders`);
    assert.equal(res.status, 200);
    const echo = (await res.json()) as { headers: Record<string, string> };
    assert.equal(echo.headers['x-tenant-header'], 'hello');
  } finally {
    await gw.close();
  }
});
