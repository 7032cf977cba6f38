// Kong's spec/02-integration/02-cmd/13-signals_spec.lua and 08-quit_spec.lua (Kong commit
// 22246ef2) with `--workers`: nginx's master and its workers each take USR1 (a signal sent to the
// process group, as a terminal or `kill -USR1 -PGID` sends it, reaches every worker), and QUIT to
// the master stops the whole node gracefully. The single-process cases are in kong-spec-cmd.test.ts.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { json, spawnGateway, statusOf } from '../ops/support.ts';
import { tmp } from './helpers.ts';

test('--workers: USR1 to a worker changes nothing; SIGQUIT to the primary drains every worker and exits 0', async () => {
  const file = join(tmp(), 'gateway.yaml');
  await writeFile(
    file,
    '_format_version: "3.0"\nservices:\n- name: echo\n  url: echo://\n  routes:\n  - name: echo\n    paths: [/echo]\n',
  );
  const gw = await spawnGateway(file, ['--workers', '2', '--no-watch']);
  try {
    const st = await json(`${gw.admin}/status`);
    const worker = st.workers[0].pid as number;
    process.kill(worker, 'SIGUSR1');
    await gw.waitForLine((l) => l.signal === 'SIGUSR1' && l.pid === worker, 'the worker logs SIGUSR1');
    // Left to node, USR1 opened the worker's inspector on 127.0.0.1:9229.
    assert.doesNotMatch(gw.stderr(), /Debugger listening/);
    assert.deepEqual(
      (await json(`${gw.admin}/status`)).workers.map((w: { pid: number }) => w.pid),
      st.workers.map((w: { pid: number }) => w.pid),
      'no worker replaced',
    );
    assert.equal(await statusOf(`${gw.admin}/status/ready`), 200);
    gw.proc.kill('SIGQUIT');
    assert.deepEqual(await gw.exited, { code: 0, signal: null });
    assert.ok(gw.lines.some((l) => l.msg === 'stopped'));
  } finally {
    await gw.kill();
  }
});
