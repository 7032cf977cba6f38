// The primary's side of the IPC channel, against a real forked worker that dies under it.
import assert from 'node:assert/strict';
import cluster from 'node:cluster';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { newWorkerState, WorkerPool } from './worker-pool.ts';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tollgate-worker-pool-'));
  const script = join(dir, 'worker.mjs');
  // A worker that listens and never answers: the test decides when it dies.
  await writeFile(script, "process.on('message', () => {});\n");
  cluster.setupPrimary({ exec: script, silent: true });
});
after(() => rm(dir, { recursive: true, force: true }));

/** Blocks this thread: the worker's death happens, but the channel's end is not read yet. */
function hold(ms: number): void {
  const end = Date.now() + ms;
  while (Date.now() < end);
}

test('a message to a worker killed a moment ago fails its question, and this process keeps running', async () => {
  const pool = new WorkerPool();
  const worker = cluster.fork();
  await once(worker, 'online');
  const exited = once(worker, 'exit');
  worker.process.kill('SIGKILL');
  hold(200);
  // Still "connected": the primary has not read the channel's end. The write fails with EPIPE,
  // which used to be an 'error' event on the worker, thrown here as an uncaught exception.
  assert.equal(worker.isConnected(), true);
  pool.send(worker, { t: 'tollgate:shutdown' });
  const asked = pool.ask(newWorkerState(worker), { t: 'tollgate:stats', id: pool.nextId() }, 60_000);
  const started = Date.now();
  await assert.rejects(asked, { code: 'EPIPE' });
  // The failed write answers the question, not its 60 s timeout.
  assert.ok(Date.now() - started < 10_000);
  await exited;
});
