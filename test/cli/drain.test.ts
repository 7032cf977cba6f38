// `gateway drain`, Kong's `kong drain` (its 17-drain spec): the running gateway's /status/ready
// answers 503 "draining" from then on while it keeps serving. The command finds the listener as
// start does: the flags, Kong's variables, else the config file.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { spawnGateway } from '../ops/support.ts';
import { freePort } from '../support/upstream.ts';
import { cleanEnv, gateway, tmp, write } from './helpers.ts';

const SERVICE =
  '_format_version: "3.0"\nservices:\n  - name: echo\n    url: echo://\n    routes: [{ name: all, paths: [/] }]\n';

async function readyStatus(url: string): Promise<[number, unknown]> {
  const r = await fetch(url);
  return [r.status, await r.json()];
}

test("the status listener named in the config file: drained, answers 503 'draining', the proxy still serves", async () => {
  const dir = tmp();
  const status = await freePort();
  const file = write(dir, 'gateway.yaml', `${SERVICE}_tollgate:\n  status_listen: ["127.0.0.1:${status}"]\n`);
  const gw = await spawnGateway(file, ['--no-watch']);
  try {
    const drain = await gateway(['drain', '--config', file], { cwd: dir });
    assert.equal(drain.code, 0, drain.out + drain.err);
    assert.match(drain.out, /status changed to 'draining'/);
    assert.deepEqual(await readyStatus(`http://127.0.0.1:${status}/status/ready`), [
      503,
      { ready: false, message: 'draining' },
    ]);
    assert.equal((await fetch(`${gw.proxy}/`)).status, 200);
    assert.ok(gw.lines.some((l) => /readiness withdrawn/.test(String(l.msg))));
  } finally {
    await gw.kill();
  }
});

test('KONG_STATUS_LISTEN, on a wildcard address, is asked on loopback', async () => {
  const dir = tmp();
  const file = write(dir, 'kong.yml', SERVICE);
  const status = await freePort();
  const env = { KONG_STATUS_LISTEN: `0.0.0.0:${status}` };
  const gw = await spawnGateway(file, ['--no-watch'], env);
  try {
    const drain = await gateway(['drain'], { cwd: dir, env: cleanEnv({ ...env, KONG_DECLARATIVE_CONFIG: file }) });
    assert.equal(drain.code, 0, drain.out + drain.err);
    assert.match(drain.out, new RegExp(`http://127\\.0\\.0\\.1:${status}/status/ready`));
    assert.deepEqual(await readyStatus(`${gw.admin}/ready`), [503, { ready: false, message: 'draining' }]);
  } finally {
    await gw.kill();
  }
});

test('without a status listener the admin listener is asked; with neither, or nobody listening, it fails (exit 1)', async () => {
  const dir = tmp();
  const admin = await freePort();
  const file = write(dir, 'gateway.yaml', `${SERVICE}_tollgate:\n  admin_listen: ["127.0.0.1:${admin}"]\n`);
  // Nobody listening yet.
  const early = await gateway(['drain', '--config', file], { cwd: dir });
  assert.equal(early.code, 1, early.out + early.err);
  assert.match(early.err, new RegExp(`cannot reach http://127\\.0\\.0\\.1:${admin}/status/ready`));
  const gw = await spawnGateway(file, ['--no-watch', '--admin-listen', `127.0.0.1:${admin}`]);
  try {
    const drain = await gateway(['drain', '--config', file], { cwd: dir });
    assert.equal(drain.code, 0, drain.out + drain.err);
    assert.equal((await fetch(`${gw.admin}/status/ready`)).status, 503);
  } finally {
    await gw.kill();
  }
  const none = await gateway(['drain', '--admin-listen', 'off', '--status-listen', 'off'], { cwd: dir });
  assert.equal(none.code, 1, none.out + none.err);
  assert.match(none.err, /no status or admin listener/);
  const usage = await gateway(['drain', '--workers', '2'], { cwd: dir });
  assert.equal(usage.code, 2);
});
