// Active probe rounds longer than their interval: the next round waits for the running one, so
// `concurrency` bounds the probes open at once (a round is not started again on top of itself).
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { createServer, type Socket } from 'node:net';
import { after, test } from 'node:test';
import { closeBalancers, make, upstream } from '../support/balancer.ts';

after(closeBalancers);

test('a probe round slower than the interval is not doubled: `concurrency` bounds the probes open at once', async () => {
  // Accepts and never answers: every probe lasts its whole timeout.
  let opened = 0;
  const sockets = new Set<Socket>();
  const silent = createServer((sock) => {
    sockets.add(sock);
    opened++;
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => undefined);
    sock.resume();
  });
  await new Promise<void>((r) => silent.listen(0, '0.0.0.0', () => r()));
  const port = (silent.address() as AddressInfo).port;
  try {
    // Ten targets, two probes at a time, 300 ms each: a round lasts 1.5 s, and one is due every 100 ms.
    const targets = Array.from({ length: 10 }, (_, i): [string, number] => [`127.0.0.${i + 1}:${port}`, 100]);
    const b = make(
      upstream(targets, { healthchecks: { active: { concurrency: 2, timeout: 0.3, healthy: { interval: 0.1 } } } }),
    );
    await new Promise((r) => setTimeout(r, 1200));
    // Two at a time, 300 ms each: about 8 probes in 1.2 s (rounds piled up on each other opened about 50).
    assert.ok(opened >= 2 && opened <= 10, `probes opened: ${opened}`);
    await b.close();
  } finally {
    for (const s of sockets) s.destroy();
    await new Promise((r) => silent.close(r));
  }
});
