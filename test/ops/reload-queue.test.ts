// Reloads asked for while one runs: those that come before the queued one starts share it, so a
// burst of POST /reload is two reloads, not one per ask, and every ask still sees the file as it
// was when it asked.

import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { json, parsePrometheus, spawnGateway, statusOf, sumOf } from './support.ts';

/** Enough routes that a reload takes a while, so the burst arrives while the first one runs. */
const config = (extra: string): string =>
  `_format_version: "3.0"\nservices:\n  - name: echo\n    url: echo://\n    routes:\n${Array.from(
    { length: 3000 },
    (_, i) => `      - { name: r${i}, paths: [/r${i}] }\n`,
  ).join('')}${extra}`;

test('a burst of POST /reload runs as two reloads, each answered ok, the last file serving', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tollgate-reload-queue-'));
  const file = join(dir, 'gateway.yaml');
  await writeFile(file, config(''));
  const gw = await spawnGateway(file, ['--no-watch']);
  try {
    await writeFile(file, config('      - { name: late, paths: [/late] }\n'));
    const answers = await Promise.all(
      Array.from({ length: 40 }, () => fetch(`${gw.admin}/reload`, { method: 'POST' })),
    );
    for (const a of answers) {
      assert.equal(a.status, 200);
      assert.equal(((await a.json()) as { ok: boolean }).ok, true);
    }
    const m = parsePrometheus(await (await fetch(`${gw.admin}/metrics`)).text());
    const reloads = sumOf(m, 'tollgate_config_reloads_total', { result: 'success' });
    assert.ok(reloads >= 1 && reloads <= 3, `${reloads} reloads for 40 asks`);
    assert.equal(await statusOf(`${gw.proxy}/late`), 200);
    assert.equal((await json(`${gw.admin}/status`)).last_reload.ok, true);
  } finally {
    await gw.kill();
    await rm(dir, { recursive: true, force: true });
  }
});
