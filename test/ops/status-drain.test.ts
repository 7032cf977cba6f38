// Kong's drain (Kong 3.9): `POST /status/ready` with status=draining, the request `kong drain`
// sends, turns /status/ready to 503 "draining" while the gateway keeps serving, so that a load
// balancer or a readiness probe takes the node out before it is stopped.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { TollgateInstance } from '../../src/instance.ts';
import { tempDir } from '../support/temp.ts';
import { startFromFile } from '../tls/support.ts';

/** One of this machine's own non-loopback IPv4 addresses: a client connecting to it is not on loopback. */
const ownAddress = Object.values(networkInterfaces())
  .flat()
  .find((a) => a !== undefined && !a.internal && a.family === 'IPv4')?.address;

async function gateway(logs: Record<string, unknown>[] = []): Promise<TollgateInstance> {
  const file = join(tempDir('tollgate-drain'), 'gateway.yaml');
  writeFileSync(file, '_format_version: "3.0"\nservices: [{ name: s, url: "echo://", routes: [{ paths: [/s] }] }]\n');
  return startFromFile(file, {
    proxyListen: ['127.0.0.1:0'],
    adminListen: ['127.0.0.1:0'],
    statusListen: ['0.0.0.0:0'],
    logs,
  });
}

const url = (address: string, path: string, host = '127.0.0.1') =>
  `http://${host}:${address.slice(address.lastIndexOf(':') + 1)}${path}`;

test("POST /status/ready {status: draining}: 204, then /status/ready and /ready answer 503 'draining' while requests are still served", async () => {
  const logs: Record<string, unknown>[] = [];
  const inst = await gateway(logs);
  try {
    const status = (p: string) => url(inst.statusAddresses[0]!, p);
    const ready = await fetch(status('/status/ready'));
    assert.deepEqual([ready.status, await ready.json()], [200, { ready: true, message: 'ready' }]);
    const drain = await fetch(status('/status/ready'), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ status: 'draining' }),
    });
    assert.equal(drain.status, 204);
    assert.equal(await drain.text(), '');
    for (const u of [
      status('/status/ready'),
      url(inst.adminAddresses[0]!, '/status/ready'),
      url(inst.adminAddresses[0]!, '/ready'),
    ]) {
      const r = await fetch(u);
      assert.deepEqual([r.status, await r.json()], [503, { ready: false, message: 'draining' }], u);
    }
    // Still serving: the node leaves its load balancer before it stops.
    assert.equal((await fetch(url(inst.proxyAddresses[0]!, '/s'))).status, 200);
    assert.equal((await fetch(status('/status'))).status, 200);
    assert.ok(
      logs.some((l) => l.level === 'warn' && /readiness withdrawn/.test(String(l.msg)) && l.client === '127.0.0.1'),
    );
    // Asked again: the same answer, one log line.
    assert.equal(
      (await fetch(status('/status/ready'), { method: 'POST', body: new URLSearchParams({ status: 'draining' }) }))
        .status,
      204,
    );
    assert.equal(logs.filter((l) => /readiness withdrawn/.test(String(l.msg))).length, 1);
  } finally {
    await inst.close(0);
  }
});

test("the status is read as Kong's params are (a form, the query); anything but 'draining' is a 400 that changes nothing", async () => {
  const inst = await gateway();
  try {
    const at = url(inst.statusAddresses[0]!, '/status/ready');
    const post = (body?: string, type?: string, query = '') =>
      fetch(at + query, { method: 'POST', body, headers: type === undefined ? {} : { 'content-type': type } });
    for (const [body, type] of [
      [undefined, undefined],
      ['{"status":"ready"}', 'application/json'],
      ['{"status":', 'application/json'],
      ['["draining"]', 'application/json'],
      ['status=up', 'application/x-www-form-urlencoded'],
      ['x'.repeat(5000), 'text/plain'],
    ] as const) {
      const r = await post(body, type);
      assert.ok(r.status === 400 || r.status === 413, `${body?.slice(0, 20)}: ${r.status}`);
      assert.equal((await fetch(at)).status, 200, 'still ready');
    }
    assert.equal((await post(undefined, undefined, '?status=draining')).status, 204);
    assert.equal((await fetch(at)).status, 503);
  } finally {
    await inst.close(0);
  }
  const form = await gateway();
  try {
    const at = url(form.statusAddresses[0]!, '/status/ready');
    const r = await fetch(at, { method: 'POST', body: new URLSearchParams({ status: 'draining' }) });
    assert.equal(r.status, 204);
    assert.equal((await fetch(at)).status, 503);
  } finally {
    await form.close(0);
  }
});

test('a drain from off loopback is refused (403) as POST /config is, and readiness stays', {
  skip: ownAddress === undefined ? 'this machine has no non-loopback IPv4 address to connect from' : false,
}, async () => {
  const inst = await gateway();
  try {
    const at = url(inst.statusAddresses[0]!, '/status/ready', ownAddress);
    const r = await fetch(at, { method: 'POST', body: new URLSearchParams({ status: 'draining' }) });
    assert.equal(r.status, 403);
    assert.match(((await r.json()) as { message: string }).message, /admin_post_config/);
    assert.equal((await fetch(at)).status, 200);
  } finally {
    await inst.close(0);
  }
});
