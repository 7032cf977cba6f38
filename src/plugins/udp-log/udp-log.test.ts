// udp-log on the plugin itself, through the public test kit, against a real UDP receiver;
// test/observability/logging-plugins.test.ts runs every logging plugin through a gateway.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { udpReceiver } from '../../../test/support/receivers.ts';
import { startPlugin } from '../../testing/index.ts';
import plugin from './index.ts';

test('udp-log sends one datagram per request: the Kong log entry, credentials redacted, custom fields added', async () => {
  const udp = await udpReceiver();
  const log = await startPlugin(
    plugin,
    { host: '127.0.0.1', port: udp.port, custom_fields: { 'app.tenant': 'acme' } },
    { consumers: [{ username: 'alice', custom_id: 'a-1' }] },
  );
  try {
    await log.run({
      method: 'POST',
      path: '/orders/7',
      query: 'page=2',
      headers: { authorization: 'Bearer secret-token', 'x-client': 'web' },
      consumer: 'alice',
      upstream: { status: 201 },
    });
    const e = JSON.parse(await udp.next());
    assert.equal(e.request.method, 'POST');
    assert.equal(e.request.uri, '/orders/7?page=2');
    assert.deepEqual(e.request.querystring, { page: '2' });
    assert.equal(e.request.headers['x-client'], 'web');
    assert.doesNotMatch(JSON.stringify(e), /secret-token/);
    assert.equal(e.response.status, 201);
    assert.equal(e.consumer.username, 'alice');
    assert.equal(e.source, 'upstream');
    assert.deepEqual(e.app, { tenant: 'acme' });
  } finally {
    await log.close();
    await udp.close();
  }
});

test("timeout is a number of milliseconds as in Kong's schema: a fraction loads and entries are sent", async () => {
  const udp = await udpReceiver();
  try {
    const log = await startPlugin(plugin, { host: '127.0.0.1', port: udp.port, timeout: 2500.5 });
    try {
      await log.run({ path: '/fraction' });
      assert.equal(JSON.parse(await udp.next()).request.uri, '/fraction');
    } finally {
      await log.close();
    }
  } finally {
    await udp.close();
  }
});
