// A worker whose primary is killed while a question from it waits in the channel.
//
// The worker reads the question before the channel's end, and answers a primary that is gone: the
// write fails with EPIPE, which node reports as an 'error' event on `process`. Unheard, it ended the
// worker at once, cutting the requests it held, where losing the primary is meant to drain them.

import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { eventually, json, spawnGateway } from './support.ts';

const running = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('workers answering a question of a primary killed meanwhile still finish the requests they hold', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tollgate-worker-channel-'));
  const file = join(dir, 'gateway.yaml');
  const slow = createServer((_req, res) => setTimeout(() => res.end('late'), 1500));
  await new Promise<void>((r) => slow.listen(0, '127.0.0.1', r));
  const port = (slow.address() as AddressInfo).port;
  await writeFile(
    file,
    `_format_version: "3.0"\nservices:\n  - name: slow\n    url: http://127.0.0.1:${port}\n    routes: [{ name: a, paths: [/a] }]\n`,
  );
  const gw = await spawnGateway(file, ['--workers', '2', '--no-watch']);
  const workers = (await json(`${gw.admin}/status`)).workers.map((w: any) => w.pid as number) as number[];
  try {
    const pending = fetch(`${gw.proxy}/a`).then(
      (r) => r.status,
      () => 0,
    );
    await sleep(300);
    for (const pid of workers) process.kill(pid, 'SIGSTOP');
    // /status asks each worker for its counts: the questions wait in the stopped workers' channels.
    void fetch(`${gw.admin}/status`).catch(() => undefined);
    await sleep(300);
    process.kill(gw.proc.pid!, 'SIGKILL');
    await gw.exited;
    for (const pid of workers) process.kill(pid, 'SIGCONT');
    assert.equal(await pending, 200, `the request in flight was answered\nstderr: ${gw.stderr()}`);
    await eventually(async () => (workers.some(running) ? undefined : true), 'the workers exited');
    assert.doesNotMatch(gw.stderr(), /EPIPE|Unhandled 'error'/);
  } finally {
    for (const pid of workers) if (running(pid)) process.kill(pid, 'SIGKILL');
    slow.closeAllConnections();
    slow.close();
    await rm(dir, { recursive: true, force: true });
  }
});
