// statsd on the plugin itself, through the public test kit, against a real UDP receiver;
// test/observability/logging-plugins.test.ts runs every logging plugin through a gateway.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { udpReceiver } from '../../../test/support/receivers.ts';
import { startPlugin } from '../../testing/index.ts';
import plugin from './index.ts';

test("statsd sends Kong's default metrics per service, status and consumer", async () => {
  const udp = await udpReceiver();
  const log = await startPlugin(
    plugin,
    { host: '127.0.0.1', port: udp.port },
    { consumers: [{ username: 'alice', custom_id: 'alice-1' }] },
  );
  try {
    await log.run({ consumer: 'alice', upstream: { status: 201 } });
    const want = [
      'kong.service.under-test.request.count:1|c',
      'kong.service.under-test.status.201:1|c',
      'kong.service.under-test.user.uniques:alice-1|s',
      'kong.service.under-test.user.alice-1.request.count:1|c',
    ];
    const lines: string[] = [];
    // Metrics may share a datagram (newline-separated) or come one per datagram; each wait has a deadline.
    while (!want.every((w) => lines.includes(w))) lines.push(...(await udp.next()).split('\n'));
    assert.ok(
      lines.some((l) => /^kong\.service\.under-test\.latency:\d+\|ms$/.test(l)),
      lines.join('\n'),
    );
  } finally {
    await log.close();
    await udp.close();
  }
});
