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
