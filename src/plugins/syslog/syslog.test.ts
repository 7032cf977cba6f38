// syslog on the plugin itself, through the public test kit, against a real UDP receiver;
// test/observability/logging-plugins.test.ts runs every logging plugin through a gateway.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { udpReceiver } from '../../../test/support/receivers.ts';
import { startPlugin } from '../../testing/index.ts';
import plugin from './index.ts';

test('syslog sends RFC 5424 messages whose severity follows the status class', async () => {
  const udp = await udpReceiver();
  const log = await startPlugin(plugin, {
    host: '127.0.0.1',
    port: udp.port,
    client_errors_severity: 'warning',
    server_errors_severity: 'err',
  });
  try {
    await log.run({ upstream: { status: 200 } });
    // <PRI>1 TIMESTAMP HOST kong PID - - MSG; user facility (1): info 14, warning 12, err 11.
    const ok = await udp.next();
    assert.match(ok, /^<14>1 \d{4}-\d\d-\d\dT\S+ \S+ kong \d+ - - \{/);
    assert.equal(JSON.parse(ok.slice(ok.indexOf('{'))).response.status, 200);
    await log.run({ upstream: { status: 404 } });
    assert.match(await udp.next(), /^<12>1 /);
    await log.run({ upstream: { status: 502 } });
    assert.match(await udp.next(), /^<11>1 /);
  } finally {
    await log.close();
    await udp.close();
  }
});

test('a message too large for a datagram is dropped alone: the rest of its batch is sent once, not again with every retry', async () => {
  const udp = await udpReceiver();
  const log = await startPlugin(plugin, { host: '127.0.0.1', port: udp.port });
  try {
    // One batch: the requests end in the same turn. The large one's entry carries a 70 KB header,
    // more than a UDP datagram holds (EMSGSIZE).
    await Promise.all([
      ...[1, 2, 3, 4, 5].map((i) => log.run({ path: `/small-${i}` })),
      log.run({ path: '/large', headers: { 'x-large': 'a'.repeat(70_000) } }),
    ]);
    const uri = (m: string): string => String(JSON.parse(m.slice(m.indexOf('{'))).request.uri);
    const first: string[] = [];
    for (let i = 0; i < 5; i++) first.push(uri(await udp.next()));
    assert.deepEqual(first.sort(), ['/small-1', '/small-2', '/small-3', '/small-4', '/small-5']);
    // The first batch is out: the marker goes in the next one, which leaves once the first is done
    // (one batch at a time), so every retry of the first batch comes before it.
    await log.run({ path: '/marker' });
    const between: string[] = [];
    for (let m = uri(await udp.next(30_000)); m !== '/marker'; m = uri(await udp.next(30_000))) between.push(m);
    assert.deepEqual(between, [], 'nothing of the first batch is sent twice');
    assert.ok(
      log.logs.some((l) =>
        /^queue syslog: 1 queue entries were dropped, undeliverable: .*EMSGSIZE/.test(String(l.msg)),
      ),
      JSON.stringify(log.logs.map((l) => l.msg)),
    );
  } finally {
    await log.close();
    await udp.close();
  }
});
