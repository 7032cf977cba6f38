// file-log on the plugin itself, through the public test kit, writing a real file;
// test/observability/logging-plugins.test.ts runs every logging plugin through a gateway.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { listen } from '../../../test/support/upstream.ts';
import { until } from '../../../test/support/wait.ts';
import { ConfigError } from '../../index.ts';
import { runPlugin, startGateway, startPlugin } from '../../testing/index.ts';
import plugin from './index.ts';

test('file-log appends one JSON line per request, written by the time the instance closes', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tollgate-file-log-'));
  const path = join(dir, 'access.log');
  const log = await startPlugin(plugin, { path, custom_fields: { static: 'yes' } });
  try {
    await log.run({ path: '/a' });
    await log.run({ path: '/b', upstream: { status: 500 } });
  } finally {
    await log.close();
  }
  try {
    const lines = (await readFile(path, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.deepEqual(
      lines.map((e) => [e.request.uri, e.response.status, e.static]),
      [
        ['/a', 200, 'yes'],
        ['/b', 500, 'yes'],
      ],
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a FIFO nobody reads is a failing receiver, not four stuck threads: other files, name lookups and shutdown go on', {
  timeout: 30_000,
}, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tollgate-file-log-'));
  const fifo = join(dir, 'nobody-reads.fifo');
  const made = spawnSync('mkfifo', [fifo]);
  if (made.error !== undefined || made.status !== 0) {
    if (process.env.CI) throw new Error('mkfifo is missing');
    t.skip('mkfifo is not installed');
    return;
  }
  const file = join(dir, 'access.log');
  const upstream = await listen((_req, res) => res.end('named'));
  // libuv has four threads: one blocking open per instance would take them all.
  const stuck = [1, 2, 3, 4].map((i) => ({
    name: `fifo-${i}`,
    paths: [`/fifo-${i}`],
    plugins: [{ name: 'file-log', config: { path: fifo } }],
  }));
  const gw = await startGateway({
    config: {
      _format_version: '3.0',
      services: [
        {
          name: 'echo',
          url: 'echo://',
          routes: [
            ...stuck,
            { name: 'file', paths: ['/file'], plugins: [{ name: 'file-log', config: { path: file } }] },
          ],
        },
        // A name the system resolver answers (getaddrinfo runs on those threads too).
        { name: 'named', url: `http://localhost:${upstream.port}`, routes: [{ name: 'named', paths: ['/named'] }] },
      ],
    },
  });
  try {
    for (let round = 0; round < 3; round++)
      for (const r of stuck) assert.equal((await fetch(`${gw.url}${r.paths[0]}`)).status, 200);
    await new Promise((r) => setTimeout(r, 300));
    const named = await fetch(`${gw.url}/named`, { signal: AbortSignal.timeout(5_000) });
    assert.equal(await named.text(), 'named');
    assert.equal((await fetch(`${gw.url}/file`)).status, 200);
    await until('the regular file gets its line', async () =>
      (await readFile(file, 'utf8').catch(() => '')).includes('"/file"'),
    );
    const status = (await (await fetch(`${gw.adminUrl}/status`)).json()) as { dependencies: Record<string, unknown>[] };
    const fifoHealth = status.dependencies.find((d) => d.kind === 'file-log' && d.target === fifo);
    assert.equal(fifoHealth?.healthy, false, JSON.stringify(status.dependencies));
  } finally {
    await gw.close();
    await upstream.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test("a path with a stray space at either end or one of * & % \\ ` is refused in Kong's words; a space inside is a name", async () => {
  for (const path of ['/ovo*', '/ovo`', 'test&thing', 'test%thing', 'test\\thing', ' /ovo', '/ovo  ', '/tmp/x.log\n']) {
    await assert.rejects(
      runPlugin(plugin, { path }),
      (e: unknown) => e instanceof ConfigError && /path: not a valid filename/.test(e.message),
      JSON.stringify(path),
    );
  }
  const dir = await mkdtemp(join(tmpdir(), 'tollgate-file-log-'));
  try {
    const path = join(dir, 'o vo.log');
    const log = await startPlugin(plugin, { path });
    await log.run({ path: '/spaced' });
    await log.close();
    assert.match(await readFile(path, 'utf8'), /"uri":"\/spaced"/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
