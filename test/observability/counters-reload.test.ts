// Counters a plugin instance keeps (entries delivered to a log receiver) start again at 0 in the
// instance a reload makes; the exported Prometheus counter must not go backwards for that.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startGateway } from '../../src/testing/index.ts';
import { parsePrometheus, sumOf } from '../ops/support.ts';
import { tcpReceiver } from '../support/receivers.ts';
import { until } from '../support/wait.ts';

test('tollgate_log_sent_total keeps counting across a reload of the same config', async () => {
  const receiver = await tcpReceiver();
  const config = {
    _format_version: '3.0',
    services: [{ name: 'e', url: 'echo://', routes: [{ name: 'r', paths: ['/r'] }] }],
    plugins: [{ name: 'tcp-log', config: { host: '127.0.0.1', port: receiver.port } }],
  };
  const gw = await startGateway({ config });
  const sent = async (): Promise<number> => {
    const text = await (await fetch(`${gw.adminUrl}/metrics`, { signal: AbortSignal.timeout(10_000) })).text();
    return sumOf(parsePrometheus(text), 'tollgate_log_sent_total', {});
  };
  try {
    for (let i = 0; i < 5; i++) await (await fetch(`${gw.url}/r`)).arrayBuffer();
    await until('5 entries delivered', async () => (await sent()) >= 5);
    const before = await sent();
    assert.equal((await gw.reload(config)).ok, true);
    assert.ok((await sent()) >= before, 'the counter does not go back to 0');
    await (await fetch(`${gw.url}/r`)).arrayBuffer();
    await until('the next entry counted on top', async () => (await sent()) >= before + 1);
  } finally {
    await gw.close();
    await receiver.close();
  }
});
