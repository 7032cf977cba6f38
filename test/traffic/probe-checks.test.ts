// Active probes (Kong's healthchecks.active) as Kong's healthchecker sends them, against real
// loopback servers: their deadline, their headers, and which targets are probed.
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, test } from 'node:test';
import { probeSettings } from '../../src/upstream/probe.ts';
import { closeBalancers, make, upstream } from '../support/balancer.ts';

after(closeBalancers);

/** A server that answers every probe 200 and keeps the heads it got. */
async function prober(): Promise<{ port: number; heads: IncomingHttpHeaders[]; close(): Promise<void> }> {
  const heads: IncomingHttpHeaders[] = [];
  const server = createServer((req, res) => {
    heads.push(req.headers);
    res.end('ok');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    heads,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

test("`timeout: 0` is OpenResty's default socket timeout (60 s), not a probe without a deadline", async () => {
  // Kong's healthchecker passes 0 to sock:settimeout(), which then uses lua_socket_*_timeout.
  assert.equal(probeSettings({ timeout: 0 }).timeout, 60_000);
  assert.equal(probeSettings({ timeout: 2.5 }).timeout, 2500);
  assert.equal(probeSettings({}).timeout, 1000, "Kong's default, 1 s");
  const s = await prober();
  try {
    for (const type of ['http', 'tcp']) {
      const b = make(
        upstream([[`127.0.0.1:${s.port}`, 100]], {
          healthchecks: { active: { type, timeout: 0, unhealthy: { tcp_failures: 1, timeouts: 1, http_failures: 1 } } },
        }),
      );
      await b.probeAll(true);
      assert.equal(b.health().targets[0]!.healthy, true, `${type}: a target that answers stays healthy`);
    }
  } finally {
    await s.close();
  }
});
