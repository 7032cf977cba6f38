// tcp-log on the plugin itself, through the public test kit, against a real TCP receiver;
// test/observability/logging-plugins.test.ts runs every logging plugin through a gateway.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { tcpReceiver } from '../../../test/support/receivers.ts';
import { startPlugin } from '../../testing/index.ts';
import plugin from './index.ts';

test('tcp-log writes one newline-terminated JSON entry per request, in order, on its connection', async () => {
  const tcp = await tcpReceiver();
  const log = await startPlugin(plugin, { host: '127.0.0.1', port: tcp.port }, { consumers: [{ username: 'bob' }] });
  try {
    for (const [i, status] of [200, 429, 503].entries()) {
      await log.run({ path: `/r/${i}`, upstream: { status }, ...(i === 1 ? { consumer: 'bob' } : {}) });
    }
    const entries = [await tcp.next(), await tcp.next(), await tcp.next()].map((l) => JSON.parse(l));
    assert.deepEqual(
      entries.map((e) => [e.request.uri, e.response.status, e.consumer?.username ?? null]),
      [
        ['/r/0', 200, null],
        ['/r/1', 429, 'bob'],
        ['/r/2', 503, null],
      ],
    );
    assert.ok(entries.every((e) => e.service.name === 'under-test' && typeof e.started_at === 'number'));
  } finally {
    await log.close();
    await tcp.close();
  }
});
